"""Routing configuration: pydantic v2 models validated at load, errors name the field path.

``load_config(dict | path)`` accepts a mapping or a YAML/JSON file. Every problem is reported
as ``<path>: <what is wrong>``, e.g. ``queues[3].strategy: unknown strategy 'longest_idel';
expected one of best_skill_match, fewest_calls_today, ...``. Cross references (skills in
expressions, agent groups and tiers, overflow targets) are checked too: a typo never falls back
to a silent default. Runtime state (who is ready, who is on which call) is never config.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from routing.expressions import ExpressionError, check_skills, parse
from routing.model import ConfigError
from routing.strategies import STRATEGIES

CALLBACK = "callback"  # overflow target meaning "leave the router, call the customer back"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerTier(_Model):
    """A class of customer (e.g. VIP): raises call priority, may require an agent tier."""

    name: str = Field(min_length=1)
    priority_boost: int = Field(default=0, ge=0, le=1000)
    min_agent_tier: str | None = None


class Agent(_Model):
    id: str = Field(min_length=1)
    name: str = ""
    group: str | None = None
    tier: str | None = None
    skills: dict[str, int] = Field(default_factory=dict)
    capacity: int = Field(default=1, ge=1, le=100)
    trainee: bool = False

    @field_validator("skills")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        for skill, level in value.items():
            if not 1 <= level <= 10:
                raise ValueError(f"skill {skill!r} has level {level}; proficiency is 1..10")
        return value


class ServiceLevel(_Model):
    """``percent`` of calls answered within ``seconds`` (80/20 by default)."""

    percent: float = Field(default=80.0, gt=0, le=100)
    seconds: float = Field(default=20.0, gt=0)


class WideningStep(_Model):
    """After ``after`` seconds in the queue: relax ``>=``/``>`` thresholds by ``relax`` levels,
    add agent group ``add_group``, or overflow to ``overflow_to`` (a queue or ``callback``)."""

    after: float = Field(gt=0)
    relax: int = Field(default=0, ge=0, le=10)
    add_group: str | None = None
    overflow_to: str | None = None


class Queue(_Model):
    id: str = Field(min_length=1)
    expression: str
    priority: int = Field(default=0, ge=0, le=1000)
    strategy: str = "longest_idle"
    groups: list[str] = Field(default_factory=list)  # empty: agents of any group
    service_level: ServiceLevel = ServiceLevel()
    max_size: int | None = Field(default=None, ge=0)
    max_wait: float | None = Field(default=None, gt=0)
    overflow_to: str | None = None
    widening: list[WideningStep] = Field(default_factory=list)
    practice_share: float = Field(default=0.0, ge=0.0, le=1.0)
    offer_timeout: float | None = Field(default=None, gt=0)
    wrap_up: float | None = Field(default=None, ge=0)
    expected_handle_time: float = Field(default=180.0, gt=0)

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; expected one of "
                             + ", ".join(sorted(STRATEGIES)))
        return value

    @field_validator("expression")
    @classmethod
    def _expression(cls, value: str) -> str:
        try:
            parse(value)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("widening")
    @classmethod
    def _ascending(cls, value: list[WideningStep]) -> list[WideningStep]:
        times = [step.after for step in value]
        if times != sorted(times) or len(set(times)) != len(times):
            raise ValueError(f"widening steps must have strictly increasing 'after': {times}")
        return value


class RoutingConfig(_Model):
    skills: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    agent_tiers: list[str] = Field(default_factory=list)  # lowest first: junior, senior, expert
    customer_tiers: list[CustomerTier] = Field(default_factory=list)
    agents: list[Agent] = Field(default_factory=list)
    queues: list[Queue] = Field(default_factory=list)
    offer_timeout: float = Field(default=20.0, gt=0)
    max_missed_offers: int = Field(default=3, ge=0)  # 0: never auto-pause
    wrap_up: float = Field(default=0.0, ge=0)
    sticky_window: float = Field(default=0.0, ge=0)  # 0: sticky routing off

    @model_validator(mode="after")
    def _references(self) -> RoutingConfig:
        problems = list(_reference_problems(self))
        if problems:
            raise ConfigError("; ".join(problems), problems)
        return self

    def queue_index(self) -> dict[str, int]:
        return {q.id: i for i, q in enumerate(self.queues)}


def _duplicates(names: list[str]) -> list[str]:
    seen: set[str] = set()
    return [n for n in names if n in seen or seen.add(n)]  # type: ignore[func-returns-value]


def _reference_problems(cfg: RoutingConfig) -> list[str]:
    out: list[str] = []
    for label, names in (("skills", cfg.skills), ("groups", cfg.groups),
                         ("agent_tiers", cfg.agent_tiers),
                         ("customer_tiers", [t.name for t in cfg.customer_tiers]),
                         ("agents", [a.id for a in cfg.agents]),
                         ("queues", [q.id for q in cfg.queues])):
        for dup in _duplicates(names):
            out.append(f"{label}: duplicate {dup!r}")
    skills, groups, tiers = set(cfg.skills), set(cfg.groups), set(cfg.agent_tiers)
    queues = {q.id for q in cfg.queues}
    for i, ct in enumerate(cfg.customer_tiers):
        if ct.min_agent_tier is not None and ct.min_agent_tier not in tiers:
            out.append(f"customer_tiers[{i}].min_agent_tier: unknown agent tier "
                       f"{ct.min_agent_tier!r}; expected one of {sorted(tiers)}")
    for i, agent in enumerate(cfg.agents):
        if agent.group is not None and agent.group not in groups:
            out.append(f"agents[{i}].group: unknown group {agent.group!r}")
        if agent.tier is not None and agent.tier not in tiers:
            out.append(f"agents[{i}].tier: unknown agent tier {agent.tier!r}")
        for skill in agent.skills:
            if skill not in skills:
                out.append(f"agents[{i}].skills: unknown skill {skill!r}")
    for i, queue in enumerate(cfg.queues):
        for skill in check_skills(parse(queue.expression), skills):
            out.append(f"queues[{i}].expression: unknown skill {skill!r} in "
                       f"{queue.expression!r}")
        for group in queue.groups:
            if group not in groups:
                out.append(f"queues[{i}].groups: unknown group {group!r}")
        targets = [("overflow_to", queue.overflow_to)]
        for j, step in enumerate(queue.widening):
            targets.append((f"widening[{j}].overflow_to", step.overflow_to))
            if step.add_group is not None and step.add_group not in groups:
                out.append(f"queues[{i}].widening[{j}].add_group: unknown group "
                           f"{step.add_group!r}")
        for field, target in targets:
            if target is not None and target != CALLBACK and target not in queues:
                out.append(f"queues[{i}].{field}: unknown queue {target!r} "
                           f"(a queue id or {CALLBACK!r})")
            if target == queue.id:
                out.append(f"queues[{i}].{field}: a queue cannot overflow to itself")
    return out


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "config"


def load_config(source: Mapping[str, Any] | str | Path | RoutingConfig) -> RoutingConfig:
    """Validate ``source`` (a mapping, or a ``.yaml``/``.yml``/``.json`` file path)."""
    if isinstance(source, RoutingConfig):
        return source
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read routing config {path}: {exc.strerror}") from None
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: the top level must be a mapping")
        source = data
    try:
        return RoutingConfig.model_validate(dict(source))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{_path(tuple(err['loc']))}: {msg}")
        raise ConfigError("; ".join(lines), lines) from None
