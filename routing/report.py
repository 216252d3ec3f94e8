"""Replications of a scenario, their KPIs with confidence intervals, and text tables.

``run_scenario(scenario)`` runs ``scenario.replications`` independent replications (seeds
``seed, seed+1, ...``) and returns a :class:`SimulationReport`: for each queue and agent group,
each KPI's mean over replications with its 95 % Student-t interval (routing/estimates.py), the
queues' service-level thresholds and targets, their offered load against the agents who can
take them (routing/capacity.py), and warnings (overload, too few replications).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routing.arrivals import Arrival, generate_arrivals
from routing.capacity import load_warnings, queue_capacity, queue_loads
from routing.config import RoutingConfig
from routing.estimates import Estimate, estimate, t_quantile
from routing.scenario import Scenario
from routing.simulator import RunResult, Simulation

__all__ = [
    "GROUP_KPIS", "MIN_REPLICATIONS", "QUEUE_KPIS", "WAIT_DEFINITION", "Kpi", "SimulationReport",
    "format_report", "replication_warning", "router_factory", "run_replications", "run_scenario",
]

# Below this many replications the 95 % interval is too wide and too unsure to mean much: its
# t factor is 12.71, 4.30, 3.18 for 2..4 replications (1.96 for many) and the spread behind it
# rests on 1..3 degrees of freedom (relative standard error of the half-width about
# 1/sqrt(2 ): 71 %, 50 %, 41 %). From 5 (the scenario default) t is 2.78 and falling.
MIN_REPLICATIONS = 5

WAIT_DEFINITION = (
    "wait = time in the queue, from arrival until the call is offered to the agent who answers "
    "it; ring time (offer to answer) is reported apart, as in Erlang C, which has none. "
    "P(wait) = share of offered calls with a wait above 0 (calls never answered count as having "
    "waited)")


@dataclass(frozen=True, slots=True)
class Kpi:
    """How to print a KPI: ``label``, value x ``scale`` to ``digits`` places, ``unit`` suffix;
    ``json_unit`` says what the unscaled JSON value measures."""

    label: str
    scale: float
    digits: int
    unit: str
    json_unit: str


_PER_REP = "calls per replication"
QUEUE_KPIS: dict[str, Kpi] = {
    "offered": Kpi("offered calls", 1.0, 1, "", _PER_REP),
    "answered": Kpi("answered calls", 1.0, 1, "", _PER_REP),
    "abandoned": Kpi("abandoned calls", 1.0, 1, "", _PER_REP),
    "service_level": Kpi("service level, of offered calls", 100.0, 2, " %",
                         "fraction of offered calls answered within the threshold"),
    "service_level_answered": Kpi("service level, of answered calls", 100.0, 2, " %",
                                  "fraction of answered calls answered within the threshold"),
    "asa": Kpi("ASA (mean wait of answered calls)", 1.0, 2, " s", "seconds"),
    "mean_wait": Kpi("mean wait of all calls", 1.0, 2, " s", "seconds"),
    "p_wait": Kpi("P(wait)", 100.0, 2, " %", "fraction of offered calls"),
    "abandon_rate": Kpi("abandonment", 100.0, 2, " %", "fraction of offered calls"),
    "ring_time": Kpi("ring time of answered calls", 1.0, 2, " s", "seconds"),
}
GROUP_KPIS: dict[str, Kpi] = {
    "answered": Kpi("answered calls", 1.0, 1, "", _PER_REP),
    "occupancy": Kpi("occupancy", 100.0, 2, " %",
                     "fraction of logged-in time talking or in wrap-up"),
}


def replication_warning(replications: int) -> str | None:
    """Why ``replications`` are too few for a meaningful interval, or None when enough."""
    if replications >= MIN_REPLICATIONS:
        return None
    if replications == 1:
        return ("1 replication: no confidence interval at all (that needs 2 or more), so the "
                "figures are one run's values of unknown precision; run "
                f"{MIN_REPLICATIONS} or more replications")
    t = t_quantile(0.95, replications - 1)
    return (f"only {replications} replications: the 95 % interval uses t = {t:.2f} (1.96 with "
            f"many) on a spread estimated from {replications} values, so it is very wide and "
            f"itself unreliable; run {MIN_REPLICATIONS} or more replications")


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
    """KPIs over replications: ``queues[queue][kpi]`` and ``groups[group][kpi]``.

    ``service_levels[queue] = (target percent, threshold seconds)``; ``loads`` and
    ``capacity`` are the offered load (Erlangs) and the on-duty agents able to take each
    queue's calls, when the scenario is known; ``warnings`` are sentences for the user.
    """

    name: str
    runs: tuple[RunResult, ...]
    queues: dict[str, dict[str, Estimate]]
    groups: dict[str, dict[str, Estimate]]
    service_levels: dict[str, tuple[float, float]] = field(default_factory=dict)
    loads: dict[str, float] = field(default_factory=dict)
    capacity: dict[str, float] = field(default_factory=dict)
    duration: float | None = None
    warmup: float | None = None
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_runs(cls, name: str, runs: Sequence[RunResult], *,
                  config: RoutingConfig | None = None,
                  scenario: Scenario | None = None) -> SimulationReport:
        """Estimates over ``runs``; with the ``config`` and ``scenario`` they ran, also the
        service-level targets, offered load and overload warnings."""
        first = runs[0]
        queues = {q: {k: estimate([queue_value(r.queues[q], k) for r in runs])
                      for k in QUEUE_KPIS} for q in first.queues}
        groups = {g: {k: estimate([queue_value(r.groups[g], k) for r in runs])
                      for k in GROUP_KPIS} for g in first.groups}
        levels: dict[str, tuple[float, float]] = {}
        loads: dict[str, float] = {}
        capacity: dict[str, float] = {}
        warnings: list[str] = []
        if config is not None:
            levels = {q.id: (q.service_level.percent, q.service_level.seconds)
                      for q in config.queues}
            if scenario is not None:
                loads, capacity = queue_loads(scenario, config), queue_capacity(scenario, config)
                warnings += load_warnings(scenario, config)
        few = replication_warning(len(runs))
        if few is not None:
            warnings.append(few)
        return cls(name, tuple(runs), queues, groups, levels, loads, capacity,
                   scenario.duration if scenario else None,
                   scenario.warmup if scenario else None, tuple(warnings))

    def to_json(self) -> dict[str, Any]:
        def num(value: float) -> float | None:
            return None if math.isnan(value) else value

        def enc(e: Estimate, kpi: Kpi) -> dict[str, Any]:
            return {"mean": num(e.mean), "half_width": num(e.half_width), "n": e.n,
                    "unit": kpi.json_unit}

        def queue(q: str, kpis: dict[str, Estimate]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            if q in self.service_levels:
                percent, seconds = self.service_levels[q]
                out.update(service_level_threshold_s=seconds, service_level_target_pct=percent)
            if q in self.loads:
                out.update(offered_load_erlangs=self.loads[q],
                           agents_able_on_duty=self.capacity.get(q, 0.0))
            out["kpis"] = {k: enc(e, QUEUE_KPIS[k]) for k, e in kpis.items()}
            return out

        window = None if self.duration is None else self.duration - (self.warmup or 0.0)
        return {
            "name": self.name, "replications": len(self.runs),
            "duration_s": self.duration, "warmup_s": self.warmup, "measured_window_s": window,
            "figures": ("per-replication averages: mean = mean over replications of each "
                        "replication's value (counts are calls per replication); half_width = "
                        "half-width of the 95 % Student t confidence interval over "
                        "replications (null with one replication); n = replications in which "
                        "the KPI is defined"),
            "confidence_level": 0.95,
            "wait_definition": WAIT_DEFINITION,
            "warnings": list(self.warnings),
            "queues": {q: queue(q, kpis) for q, kpis in self.queues.items()},
            "groups": {g: {"kpis": {k: enc(e, GROUP_KPIS[k]) for k, e in kpis.items()}}
                       for g, kpis in self.groups.items()},
        }


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
    return SimulationReport.from_runs(scenario.name, runs, config=cfg, scenario=scenario)


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
    """Header (what the figures are), service level per queue, then the KPI tables."""
    n = len(report.runs)
    head = f"{report.name or 'scenario'}: {n} replication(s)"
    if report.duration is not None:
        head += f" of {report.duration:g} s of arrivals"
        if report.warmup:
            head += f"; calls arriving in the first {report.warmup:g} s (warm-up) are not counted"
    out = [head]
    if n == 1:
        out.append("Every figure is the value of the single replication: there is no "
                   "confidence interval (that needs 2 or more replications).")
    else:
        out.append(f"Every figure is a per-replication average: the mean over the {n} "
                   "replications ± the half-width of its 95 % confidence interval (Student t); "
                   "counts are calls per replication.")
    few = replication_warning(n)
    if few is not None:
        out.append(f"Warning: {few}.")
    out.append(WAIT_DEFINITION[0].upper() + WAIT_DEFINITION[1:] + ".")
    out.append("")
    for q, kpis in report.queues.items():
        line = f"{q}:"
        if q in report.loads:
            able = report.capacity.get(q, 0.0)
            line += (f" offered load {report.loads[q]:.2f} Erlangs; {able:.1f} agents (on-duty "
                     "average) can take its calls")
        out.append(line)
        if q in report.service_levels:
            percent, seconds = report.service_levels[q]
            sl, answered = kpis["service_level"], kpis["service_level_answered"]
            out.append(f"  service level (answered within {seconds:g} s, target {percent:g} %): "
                       f"{sl.format(100.0, 2, ' %')} of offered calls (abandoned ones count "
                       f"against), {answered.format(100.0, 2, ' %')} of answered calls")
    out.append("")
    rows = [["per queue", *report.queues]]
    for k, kpi in QUEUE_KPIS.items():
        rows.append([kpi.label] + [kpis[k].format(kpi.scale, kpi.digits, kpi.unit)
                                   for kpis in report.queues.values()])
    out.append(text_table(rows))
    out.append("")
    rows = [["agent group"] + [kpi.label for kpi in GROUP_KPIS.values()]]
    for g, kpis in report.groups.items():
        rows.append([g] + [kpis[k].format(kpi.scale, kpi.digits, kpi.unit)
                           for k, kpi in GROUP_KPIS.items()])
    out.append(text_table(rows))
    return "\n".join(out)
