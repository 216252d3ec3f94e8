"""Simulation scenarios: pydantic models validated at load; errors name the field path.

A scenario says who calls (Poisson arrivals per queue, customer tiers, handle-time and patience
distributions), who answers (agent groups with counts, skills, tiers and shifts, generated into
the routing config, plus any agents the routing config lists itself, on duty all run), how the
router is configured (inline mapping or a path), and how long and how often to run::

    duration: 28800          # seconds of arrivals per replication
    warmup: 1800             # calls arriving earlier are not counted
    replications: 10         # independent runs, seeds seed, seed+1, ...
    seed: 1
    ring_delay: 2            # seconds from offer to answer (a number or a distribution)
    routing: {skills: [billing], queues: [{id: billing, expression: billing}]}
    arrivals:
      - queue: billing
        calls_per_hour: 600
        handle_time: {distribution: lognormal, mean: 240, sd: 120}
        patience: {distribution: exponential, mean: 120}   # omit or "none": never abandon
        tiers: {vip: 0.1}                                    # share of calls per customer tier
    agent_groups:
      - {name: senior, count: 12, tier: senior, skills: {billing: 8},
         shifts: [[0, 14400], [16200, 28800]]}

``load_scenario(path | mapping)`` returns a :class:`Scenario` whose ``routing_config()`` is the
validated :class:`routing.config.RoutingConfig` with the generated agents in it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from routing.config import RoutingConfig, load_config
from routing.model import ConfigError

__all__ = [
    "AgentGroupSpec", "ArrivalSpec", "Distribution", "Scenario", "ScenarioError",
    "load_scenario",
]


class ScenarioError(ConfigError):
    """The scenario is invalid; the message names the field path (``arrivals[0].queue: ...``)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(_Model):
    """A positive random duration in seconds.

    ``exponential`` (mean), ``lognormal`` (mean and sd of the duration itself, not of its log)
    or ``fixed`` (always ``mean``).
    """

    distribution: Literal["exponential", "lognormal", "fixed"]
    mean: float = Field(gt=0)
    sd: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _sd_only_for_lognormal(self) -> Distribution:
        if self.distribution == "lognormal" and self.sd is None:
            raise ValueError("lognormal needs 'sd' (standard deviation in seconds)")
        if self.distribution != "lognormal" and self.sd is not None:
            raise ValueError(f"'sd' applies to lognormal only, not {self.distribution}")
        return self


def _duration_spec(value: Any) -> Any:
    """A bare number means ``fixed``; ``"none"``/null means no such delay."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"distribution": "fixed", "mean": value} if value > 0 else None
    if isinstance(value, str) and value.strip().lower() == "none":
        return None
    return value


class ArrivalSpec(_Model):
    """Poisson arrivals to one queue."""

    queue: str = Field(min_length=1)
    calls_per_hour: float = Field(gt=0)
    handle_time: Distribution
    patience: Distribution | None = None  # None: callers never abandon
    tiers: dict[str, float] = Field(default_factory=dict)  # customer tier -> share of calls
    simple_share: float = Field(default=0.0, ge=0, le=1)  # calls marked simple (practice)
    repeat_share: float = Field(default=0.0, ge=0, le=1)  # calls from a returning caller

    _spec = field_validator("patience", mode="before")(_duration_spec)

    @field_validator("tiers")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        if any(share < 0 for share in value.values()) or sum(value.values()) > 1 + 1e-9:
            raise ValueError(f"tier shares must be >= 0 and sum to at most 1, got {value}")
        return value


class AgentGroupSpec(_Model):
    """``count`` identical agents ``<name>-001``... in routing group ``name``."""

    name: str = Field(min_length=1)
    count: int = Field(ge=1, le=100_000)
    tier: str | None = None
    skills: dict[str, int] = Field(default_factory=dict)
    capacity: int = Field(default=1, ge=1, le=100)
    trainee: bool = False
    shifts: list[tuple[float, float]] | None = None  # [start, end) seconds; None: whole run

    @field_validator("shifts")
    @classmethod
    def _ordered(cls, value: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if value is None:
            return None
        last_end = float("-inf")
        for i, (start, end) in enumerate(value):
            if not 0 <= start < end:
                raise ValueError(f"shift {i} [{start}, {end}] must have 0 <= start < end")
            if start < last_end:
                raise ValueError(f"shift {i} starts at {start}, before the previous one ends")
            last_end = end
        return value


class Scenario(_Model):
    name: str = ""
    duration: float = Field(gt=0)
    warmup: float = Field(default=0.0, ge=0)
    replications: int = Field(default=5, ge=1, le=10_000)
    seed: int = Field(default=1, ge=0)
    ring_delay: Distribution | None = None  # None: agents answer at once
    auto_pause_recovery: float = Field(default=60.0, gt=0)  # auto-paused agent is ready again
    routing: dict[str, Any] | None = None
    routing_file: str | None = None
    arrivals: list[ArrivalSpec] = Field(min_length=1)
    agent_groups: list[AgentGroupSpec] = Field(default_factory=list)

    _ring = field_validator("ring_delay", mode="before")(_duration_spec)

    @model_validator(mode="after")
    def _window(self) -> Scenario:
        if self.warmup >= self.duration:
            raise ValueError(f"warmup ({self.warmup} s) must be shorter than duration "
                             f"({self.duration} s)")
        if (self.routing is None) == (self.routing_file is None):
            raise ValueError("give exactly one of 'routing' (inline) or 'routing_file' (a path)")
        queues = [a.queue for a in self.arrivals]
        repeated = sorted({q for q in queues if queues.count(q) > 1})
        if repeated:
            raise ValueError(f"one arrivals entry per queue; repeated: {repeated}")
        return self

    def routing_config(self, base_dir: Path | None = None,
                       override: RoutingConfig | None = None) -> RoutingConfig:
        """The routing config with the scenario's generated agents added and checked."""
        if override is not None:
            data = override.model_dump()
        elif self.routing is not None:
            data = dict(self.routing)
        else:
            assert self.routing_file is not None
            path = Path(self.routing_file)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            data = load_config(path).model_dump()
        return _with_agents(self, data)

    def agent_shifts(self) -> dict[str, list[tuple[float, float]]]:
        """Generated agent id -> shifts (whole run when the group has none)."""
        out: dict[str, list[tuple[float, float]]] = {}
        for group in self.agent_groups:
            shifts = group.shifts if group.shifts is not None else [(0.0, float("inf"))]
            for i in range(group.count):
                out[agent_id(group.name, i)] = list(shifts)
        return out


def agent_id(group: str, index: int) -> str:
    return f"{group}-{index + 1:03d}"


def _with_agents(scenario: Scenario, data: dict[str, Any]) -> RoutingConfig:
    data = dict(data)
    groups = list(data.get("groups") or [])
    agents = list(data.get("agents") or [])
    for g in scenario.agent_groups:
        if g.name not in groups:
            groups.append(g.name)
        for i in range(g.count):
            agents.append({"id": agent_id(g.name, i), "group": g.name, "tier": g.tier,
                           "skills": dict(g.skills), "capacity": g.capacity,
                           "trainee": g.trainee})
    data["groups"], data["agents"] = groups, agents
    try:
        config = load_config(data)
    except ConfigError as exc:
        raise ScenarioError(f"routing: {exc}") from None
    problems = []
    queues = {q.id for q in config.queues}
    tiers = {t.name for t in config.customer_tiers}
    for i, arrival in enumerate(scenario.arrivals):
        if arrival.queue not in queues:
            problems.append(f"arrivals[{i}].queue: unknown queue {arrival.queue!r}; "
                            f"expected one of {sorted(queues)}")
        for tier in arrival.tiers:
            if tier not in tiers:
                problems.append(f"arrivals[{i}].tiers: unknown customer tier {tier!r}")
    if not config.agents:
        problems.append("agent_groups: no agents (add agent_groups or agents in routing)")
    if problems:
        raise ScenarioError("; ".join(problems))
    return config


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "scenario"


def load_scenario(source: Mapping[str, Any] | str | Path) -> Scenario:
    """Validate a scenario mapping or a ``.yaml``/``.yml``/``.json`` file.

    A relative ``routing_file`` is resolved against the scenario file's directory.
    """
    base: Path | None = None
    if isinstance(source, str | Path):
        path = Path(source)
        base = path.parent
        try:
            text = path.read_text()
        except OSError as exc:
            raise ScenarioError(f"cannot read scenario {path}: {exc.strerror}") from None
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, Mapping):
            raise ScenarioError(f"{path}: the top level must be a mapping")
        source = data
    try:
        scenario = Scenario.model_validate(dict(source))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{_path(tuple(err['loc']))}: {msg}")
        raise ScenarioError("; ".join(lines)) from None
    if scenario.routing_file is not None and base is not None:
        resolved = Path(scenario.routing_file)
        if not resolved.is_absolute():
            scenario = scenario.model_copy(update={"routing_file": str(base / resolved)})
    scenario.routing_config()  # cross references fail here, at load
    return scenario
