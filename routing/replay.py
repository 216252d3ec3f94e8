"""Record the calls of a simulation as an event log, and replay them against another config.

The log is JSON lines, one object a line::

    {"type": "header", "version": 1, "scenario": {...the scenario, routing inline...}}
    {"type": "replication", "seed": 1}
    {"type": "arrival", "t": 0.53, "call": "billing-1", "queue": "billing", "handle": 212.4,
     "patience": 95.1, "ring": 0.0, "tier": null, "simple": false, "caller": "billing-caller-1"}
    ...

Arrivals carry everything the run needs from chance (handle time, patience, ring delay), so a
replay is deterministic and a *what-if* compares two routing configs on exactly the same calls
(common random numbers): the table shows each config's KPIs and the paired difference, whose
confidence interval is the one that says whether the change matters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from routing.arrivals import Arrival
from routing.config import RoutingConfig, load_config
from routing.estimates import Estimate, estimate
from routing.model import ConfigError
from routing.report import (
    GROUP_KPIS,
    QUEUE_KPIS,
    SimulationReport,
    queue_value,
    replication_warning,
    run_replications,
    text_table,
)
from routing.scenario import AgentGroupSpec, Scenario, ScenarioError, load_scenario

__all__ = ["WHAT_IF_EXPECTED", "Comparison", "LogError", "LogWriter", "WhatIf", "compare",
           "format_comparison", "load_what_if", "read_log", "replay", "unused_scenario_fields"]

LOG_VERSION = 1


class LogError(ValueError):
    """The event log is malformed; the message names the line."""


def _inline(scenario: Scenario) -> Scenario:
    """The scenario with its routing config embedded, so the log stands alone."""
    if scenario.routing is not None:
        return scenario
    assert scenario.routing_file is not None
    base = load_config(Path(scenario.routing_file)).model_dump(mode="json")
    return scenario.model_copy(update={"routing": base, "routing_file": None})


class LogWriter:
    """Writes a header, then ``record(seed, arrival)`` for every call as it is generated."""

    def __init__(self, stream: IO[str], scenario: Scenario) -> None:
        self.stream = stream
        self._seed: int | None = None
        header = {"type": "header", "version": LOG_VERSION,
                  "scenario": _inline(scenario).model_dump(mode="json")}
        stream.write(json.dumps(header) + "\n")

    def record(self, seed: int, arrival: Arrival) -> None:
        if seed != self._seed:
            self._seed = seed
            self.stream.write(json.dumps({"type": "replication", "seed": seed}) + "\n")
        self.stream.write(json.dumps({"type": "arrival", **arrival.to_json()}) + "\n")


@dataclass(frozen=True, slots=True)
class EventLog:
    scenario: Scenario
    replications: list[tuple[int, list[Arrival]]]


def read_log(path: str | Path) -> EventLog:
    """Parse a log written by :class:`LogWriter`; errors name the line number."""
    scenario: Scenario | None = None
    reps: list[tuple[int, list[Arrival]]] = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise LogError(f"cannot read event log {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            kind = item["type"]
            if kind == "header":
                if item.get("version") != LOG_VERSION:
                    raise LogError(f"{path}:{number}: log version {item.get('version')!r}; "
                                   f"this build reads version {LOG_VERSION}")
                scenario = load_scenario(item["scenario"])
            elif kind == "replication":
                reps.append((int(item["seed"]), []))
            elif kind == "arrival":
                if scenario is None or not reps:
                    raise LogError(f"{path}:{number}: arrival before header/replication")
                reps[-1][1].append(Arrival.from_json(item))
            else:
                raise LogError(f"{path}:{number}: unknown record type {kind!r}")
        except (ValueError, KeyError, TypeError, ScenarioError) as exc:
            if isinstance(exc, LogError):
                raise
            if isinstance(exc, ScenarioError):
                raise LogError(f"{path}:{number}: scenario: {exc}") from None
            raise LogError(f"{path}:{number}: bad record: {exc!r}") from None
    if scenario is None:
        raise LogError(f"{path}: no header line")
    if not reps:
        raise LogError(f"{path}: no replications recorded")
    return EventLog(scenario, reps)


def replay(log: EventLog, config: RoutingConfig | None = None, *, core: str = "selected",
           agent_groups: Sequence[AgentGroupSpec] | None = None) -> SimulationReport:
    """Run every recorded replication with ``config`` (default: the recorded config) and
    ``agent_groups`` (default: the recorded ones; their generated agents join the config)."""
    scenario = log.scenario
    if agent_groups is not None:
        scenario = scenario.model_copy(update={"agent_groups": list(agent_groups)})
    cfg = scenario.routing_config(override=config)
    sets: Iterator[tuple[int, list[Arrival]]] = iter(log.replications)
    runs = run_replications(cfg, sets, scenario, core=core, total=len(log.replications))
    return SimulationReport.from_runs(scenario.name, runs, config=cfg, scenario=scenario)


# -- the what-if config ------------------------------------------------------------------------
WHAT_IF_EXPECTED = (
    "a routing config (top-level skills:, queues:, agents:, ...), a simulation scenario "
    "(arrivals:, agent_groups:, and routing: or routing_file:) or a node config (switchboard "
    "YAML) with a top-level routing: section")
_SCENARIO_KEYS = frozenset({"arrivals", "agent_groups", "routing_file", "duration", "warmup",
                            "replications", "ring_delay"})


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The config a replay tries: ``kind`` is ``routing config``, ``scenario`` or ``node
    config``; a scenario's ``agent_groups`` replace the recorded ones."""

    config: RoutingConfig
    kind: str
    scenario: Scenario | None = None

    @property
    def agent_groups(self) -> list[AgentGroupSpec] | None:
        return None if self.scenario is None else list(self.scenario.agent_groups)


def load_what_if(path: str | Path) -> WhatIf:
    """Read a routing config, a scenario (its routing and agent groups) or a node config (its
    ``routing:`` section; the node's other sections are not checked here).

    Raises :class:`ConfigError` whose message starts with the file name, then names the field
    or what was expected.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    import yaml

    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                          f"{exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: the top level is {type(data).__name__}, not a mapping; "
                          f"expected {WHAT_IF_EXPECTED}")
    if _SCENARIO_KEYS & set(data):
        try:  # errors name the field; a relative routing_file is resolved next to the file
            scenario = load_scenario(path)
        except ScenarioError as exc:
            raise ConfigError(f"{path}: scenario: {exc}") from None
        if scenario.routing is not None:
            raw = load_config(scenario.routing)
        else:
            assert scenario.routing_file is not None
            raw = load_config(Path(scenario.routing_file))
        return WhatIf(raw, "scenario", scenario)
    if "routing" in data:
        section = data["routing"]
        if not isinstance(section, Mapping):
            found = "empty" if section is None else f"a {type(section).__name__}"
            raise ConfigError(f"{path}: the routing: section is {found}; a node config needs a "
                              "routing: mapping (skills:, queues:, ...) to replay against")
        try:
            return WhatIf(load_config(section), "node config")
        except ConfigError as exc:
            raise ConfigError(f"{path}: routing: {exc}") from None
    if not set(RoutingConfig.model_fields) & set(data):
        keys = ", ".join(sorted(map(str, data))) or "none"
        raise ConfigError(f"{path}: neither a routing config, a scenario nor a node config with "
                          f"a routing: section (top-level keys: {keys}); expected "
                          f"{WHAT_IF_EXPECTED}")
    try:
        return WhatIf(load_config(data), "routing config")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def unused_scenario_fields(what_if: WhatIf, recorded: Scenario) -> list[str]:
    """Fields of a what-if scenario that differ from the recording and are therefore not used
    (the calls, the run length and the ring delays come from the log)."""
    if what_if.scenario is None:
        return []
    return [name for name in ("arrivals", "duration", "warmup", "ring_delay")
            if getattr(what_if.scenario, name) != getattr(recorded, name)]


@dataclass(frozen=True, slots=True)
class Comparison:
    """Baseline vs what-if: ``rows[(scope, name, kpi)] = (baseline, what_if, difference)``."""

    rows: dict[tuple[str, str, str], tuple[Estimate, Estimate, Estimate]]
    replications: int
    warnings: tuple[str, ...] = ()


def compare(baseline: SimulationReport, what_if: SimulationReport) -> Comparison:
    """Per-KPI estimates of both and of the paired difference (what-if minus baseline)."""
    rows: dict[tuple[str, str, str], tuple[Estimate, Estimate, Estimate]] = {}
    pairs = list(zip(baseline.runs, what_if.runs, strict=True))
    for scope, kpis in (("queue", QUEUE_KPIS), ("group", GROUP_KPIS)):
        # Agent groups only the what-if has (e.g. a node config's own agents) are shown too.
        names = list(baseline.queues) if scope == "queue" else \
            [*baseline.groups, *(g for g in what_if.groups if g not in baseline.groups)]
        for name in names:
            for kpi in kpis:
                a, b = [], []
                for ra, rb in pairs:
                    stats_a = ra.queues[name] if scope == "queue" else ra.groups.get(name)
                    stats_b = rb.queues[name] if scope == "queue" else rb.groups.get(name)
                    a.append(queue_value(stats_a, kpi) if stats_a else float("nan"))
                    b.append(queue_value(stats_b, kpi) if stats_b else float("nan"))
                rows[(scope, name, kpi)] = (estimate(a), estimate(b),
                                            estimate([y - x for x, y in zip(a, b, strict=True)]))
    warnings = [f"{label}: {w}" for label, report in (("baseline", baseline),
                                                      ("what-if", what_if))
                for w in report.warnings if w != replication_warning(len(report.runs))]
    few = replication_warning(len(pairs))
    return Comparison(rows, len(pairs), tuple(warnings + ([few] if few else [])))


def format_comparison(comparison: Comparison) -> str:
    """A KPI table: baseline, what-if and the paired difference with 95 % intervals."""
    rows = [["KPI", "baseline", "what-if", "difference"]]
    for (scope, name, kpi), (a, b, diff) in comparison.rows.items():
        k = (QUEUE_KPIS if scope == "queue" else GROUP_KPIS)[kpi]
        rows.append([f"{scope} {name}: {k.label}", a.format(k.scale, k.digits, k.unit),
                     b.format(k.scale, k.digits, k.unit), diff.format(k.scale, k.digits, k.unit)])
    head = (f"what-if over {comparison.replications} recorded replication(s); per-replication "
            "averages: mean ± 95 % half-width; difference = what-if − baseline, paired on the "
            "same calls")
    return head + "\n\n" + text_table(rows)


def json_rows(comparison: Comparison) -> list[dict[str, Any]]:
    out = []
    for (scope, name, kpi), (a, b, diff) in comparison.rows.items():
        out.append({"scope": scope, "name": name, "kpi": kpi, "baseline": a.mean,
                    "what_if": b.mean, "difference": diff.mean,
                    "difference_half_width": diff.half_width})
    return out
