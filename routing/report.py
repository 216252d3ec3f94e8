"""Replications of a scenario, their KPIs with confidence intervals, and text tables.

``run_scenario(scenario)`` runs ``scenario.replications`` independent replications (seeds
``seed, seed+1, ...``) and returns a :class:`SimulationReport`: for each queue and agent group,
each KPI's mean over replications with its 95 % Student-t interval (routing/estimates.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from routing.arrivals import Arrival, generate_arrivals
from routing.config import RoutingConfig
from routing.estimates import Estimate, estimate
from routing.scenario import Scenario
from routing.simulator import RunResult, Simulation

__all__ = [
    "GROUP_KPIS", "QUEUE_KPIS", "SimulationReport", "format_report", "router_factory",
    "run_replications", "run_scenario",
]

# name -> (label, scale, digits, unit) for printing
QUEUE_KPIS: dict[str, tuple[str, float, int, str]] = {
    "offered": ("offered", 1.0, 1, ""),
    "answered": ("answered", 1.0, 1, ""),
    "abandoned": ("abandoned", 1.0, 1, ""),
    "service_level": ("service level", 100.0, 2, " %"),
    "asa": ("ASA", 1.0, 2, " s"),
    "p_wait": ("P(wait)", 100.0, 2, " %"),
    "abandon_rate": ("abandonment", 100.0, 2, " %"),
}
GROUP_KPIS: dict[str, tuple[str, float, int, str]] = {
    "answered": ("answered", 1.0, 1, ""),
    "occupancy": ("occupancy", 100.0, 2, " %"),
}


def router_factory(core: str = "selected") -> Callable[..., Any]:
    """``selected`` (compiled when built, ``ROUTING_PURE=1`` forces the reference),
    ``reference`` or ``compiled`` (ImportError-free: raises ValueError when not built)."""
    from routing import _select

    if core == "selected":
        return _select.Router
    if core == "reference":
        return _select.ReferenceRouter
    if core == "compiled":
        if _select.CompiledRouter is None:
            raise ValueError("the compiled router core is not built (run `make build`)")
        return _select.CompiledRouter
    raise ValueError(f"unknown router core {core!r}; expected selected, reference or compiled")


def queue_value(stats: Any, kpi: str) -> float:
    return float(getattr(stats, kpi))


@dataclass(frozen=True, slots=True)
class SimulationReport:
    """KPIs over replications: ``queues[queue][kpi]`` and ``groups[group][kpi]``."""

    name: str
    runs: tuple[RunResult, ...]
    queues: dict[str, dict[str, Estimate]]
    groups: dict[str, dict[str, Estimate]]

    @classmethod
    def from_runs(cls, name: str, runs: Sequence[RunResult]) -> SimulationReport:
        first = runs[0]
        queues = {q: {k: estimate([queue_value(r.queues[q], k) for r in runs])
                      for k in QUEUE_KPIS} for q in first.queues}
        groups = {g: {k: estimate([queue_value(r.groups[g], k) for r in runs])
                      for k in GROUP_KPIS} for g in first.groups}
        return cls(name, tuple(runs), queues, groups)

    def to_json(self) -> dict[str, Any]:
        def enc(e: Estimate) -> dict[str, float | int | None]:
            return {"mean": None if math.isnan(e.mean) else e.mean,
                    "half_width": None if math.isnan(e.half_width) else e.half_width,
                    "n": e.n}
        return {"name": self.name, "replications": len(self.runs),
                "queues": {q: {k: enc(e) for k, e in kpis.items()}
                           for q, kpis in self.queues.items()},
                "groups": {g: {k: enc(e) for k, e in kpis.items()}
                           for g, kpis in self.groups.items()}}


def run_replications(config: RoutingConfig, arrival_sets: Iterable[tuple[int, Iterable[Arrival]]],
                     scenario: Scenario, *, core: str = "selected",
                     on_progress: Callable[[float], None] | None = None,
                     total: int | None = None) -> list[RunResult]:
    """One :class:`Simulation` per ``(seed, arrivals)``; progress is reported over all runs."""
    factory = router_factory(core)
    shifts = scenario.agent_shifts()
    runs: list[RunResult] = []
    count = total if total is not None else scenario.replications
    for index, (seed, arrivals) in enumerate(arrival_sets):
        def progress(fraction: float, index: int = index) -> None:
            if on_progress is not None:
                on_progress((index + fraction) / count)

        sim = Simulation(config, arrivals, factory, duration=scenario.duration,
                         warmup=scenario.warmup, seed=seed, shifts=shifts,
                         auto_pause_recovery=scenario.auto_pause_recovery,
                         on_progress=progress)
        runs.append(sim.run())
        if on_progress is not None:
            on_progress((index + 1) / count)
    return runs


def run_scenario(scenario: Scenario, *, core: str = "selected", base_dir: Path | None = None,
                 config: RoutingConfig | None = None, replications: int | None = None,
                 on_progress: Callable[[float], None] | None = None,
                 record: Callable[[int, Arrival], None] | None = None) -> SimulationReport:
    """Run the scenario's replications; ``record(seed, arrival)`` sees every generated call."""
    cfg = scenario.routing_config(base_dir, override=config)
    count = replications if replications is not None else scenario.replications

    def arrivals(seed: int) -> Iterable[Arrival]:
        for arrival in generate_arrivals(scenario, seed):
            if record is not None:
                record(seed, arrival)
            yield arrival

    sets = ((scenario.seed + i, arrivals(scenario.seed + i)) for i in range(count))
    runs = run_replications(cfg, sets, scenario, core=core, on_progress=on_progress,
                            total=count)
    return SimulationReport.from_runs(scenario.name, runs)


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_report(report: SimulationReport) -> str:
    """Per-queue and per-group KPI tables (mean ± 95 % half-width over replications)."""
    out = [f"{report.name or 'scenario'}: {len(report.runs)} replication(s); "
           "mean ± 95 % confidence half-width (Student t over replications)", ""]
    header = ["queue"] + [label for label, *_ in QUEUE_KPIS.values()]
    rows = [header]
    for q, kpis in report.queues.items():
        rows.append([q] + [kpis[k].format(scale, digits, unit)
                           for k, (_, scale, digits, unit) in QUEUE_KPIS.items()])
    out.append(text_table(rows))
    out.append("")
    header = ["agent group"] + [label for label, *_ in GROUP_KPIS.values()]
    rows = [header]
    for g, kpis in report.groups.items():
        rows.append([g] + [kpis[k].format(scale, digits, unit)
                           for k, (_, scale, digits, unit) in GROUP_KPIS.items()])
    out.append(text_table(rows))
    return "\n".join(out)
