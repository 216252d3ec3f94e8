"""The simulator driving the real router, checked against queueing theory and for bookkeeping.

Erlang checks. One skill, one queue, longest-idle, agents who answer at once, exponential
handle times with mean 1 (time is in units of the AHT): the M/M/n queue, and M/M/n+M with
exponential patience. Each parameter set runs R = 20 independent replications (seeds 1..20)
with a warm-up; the 95 % Student-t interval over replications must contain the Erlang value
for every KPI checked. The seeds are fixed, so the test is deterministic; the intervals are
the honest ones the simulator reports (no widening, no fudge factor). Run lengths are sized
so the whole file stays well under 90 s on a loaded 2-core machine with the compiled core.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from routing import CompiledRouter, ReferenceRouter
from routing.arrivals import generate_arrivals
from routing.erlang import QueueMetrics, metrics
from routing.progress import ProgressBar
from routing.report import SimulationReport, format_report, run_scenario
from routing.scenario import Scenario, ScenarioError, load_scenario
from routing.simulator import Simulation

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "scenarios"
REPLICATIONS = 20


def single_skill(agents: int, load: float, *, patience: float | None = None,
                 target: float = 0.1, calls: int = 5000, replications: int = REPLICATIONS,
                 seed: int = 1) -> Scenario:
    """An M/M/n(+M) scenario with AHT 1 and about ``calls`` counted calls per replication."""
    window = calls / load
    # Replications start empty and idle; 20 AHT is several relaxation times of every set
    # below (about 2 / (mu beta^2) with beta = (1 - rho) sqrt(n): 8 AHT at n=100, rho=0.95).
    warmup = min(20.0, 0.2 * window)
    arrival: dict[str, Any] = {
        "queue": "q", "calls_per_hour": 3600 * load,
        "handle_time": {"distribution": "exponential", "mean": 1.0}}
    if patience is not None:
        arrival["patience"] = {"distribution": "exponential", "mean": patience}
    return load_scenario({
        "name": f"M/M/{agents}" + ("+M" if patience else ""),
        "duration": warmup + window, "warmup": warmup, "replications": replications,
        "seed": seed,
        "routing": {"skills": ["s"], "offer_timeout": 1e9, "max_missed_offers": 0,
                    "queues": [{"id": "q", "expression": "s", "strategy": "longest_idle",
                                "service_level": {"percent": 80, "seconds": target}}]},
        "arrivals": [arrival],
        "agent_groups": [{"name": "agents", "count": agents, "skills": {"s": 5}}],
    })


def erlang_misses(report: SimulationReport, expected: QueueMetrics,
                  kpis: tuple[str, ...]) -> list[str]:
    """KPIs whose 95 % interval does not contain the Erlang value (empty when all agree)."""
    queue, group = report.queues["q"], report.groups["agents"]
    values = {"p_wait": expected.p_wait, "asa": expected.asa,
              "service_level": expected.service_level, "abandon_rate": expected.p_abandon,
              "mean_wait": expected.mean_wait,
              "service_level_answered": expected.service_level / (1 - expected.p_abandon)}
    misses = []
    for kpi in kpis:
        est = group["occupancy"] if kpi == "occupancy" else queue[kpi]
        value = expected.occupancy if kpi == "occupancy" else values[kpi]
        assert est.n == REPLICATIONS and est.half_width > 0
        if not est.contains(value):
            misses.append(f"{kpi}: Erlang {value:.5f} outside {est.mean:.5f} ± "
                          f"{est.half_width:.5f}")
    return misses


# agents, offered load (Erlangs), SL threshold (AHT units), counted calls per replication
ERLANG_C_SETS = [
    (5, 2.0, 0.1, 1500),  # light: 40 % occupancy
    (10, 6.0, 0.1, 2000),  # 60 %
    (20, 15.0, 0.1, 2500),  # 75 %
    (30, 25.5, 0.05, 3000),  # 85 %
    (50, 45.0, 0.05, 3000),  # 90 %
    (100, 95.0, 0.02, 3000),  # 95 %
]
# agents, offered load, mean patience (AHT units), SL threshold, calls per replication
ERLANG_A_SETS = [
    (10, 10.0, 1.0, 0.1, 2500),  # fully loaded, patience = AHT: ~12 % abandon
    (20, 22.0, 0.5, 0.05, 2500),  # overloaded by 10 %: ~15 % abandon
    (50, 48.0, 2.0, 0.05, 2500),  # 96 % load, patient callers: ~3 % abandon
]
CORE_KPIS = ("p_wait", "asa", "service_level", "occupancy")


@pytest.mark.parametrize(("agents", "load", "target", "calls"), ERLANG_C_SETS,
                         ids=[f"n{n}-rho{load / n:.2f}" for n, load, _, _ in ERLANG_C_SETS])
def test_single_skill_longest_idle_agrees_with_erlang_c(agents: int, load: float, target: float,
                                                        calls: int) -> None:
    report = run_scenario(single_skill(agents, load, target=target, calls=calls))
    expected = metrics(agents, load, 1.0, target)
    assert report.queues["q"]["abandon_rate"].mean == 0.0
    assert erlang_misses(report, expected, CORE_KPIS) == []


@pytest.mark.parametrize(("agents", "load", "patience", "target", "calls"), ERLANG_A_SETS,
                         ids=[f"n{n}-A{a:g}-patience{p:g}" for n, a, p, _, _ in ERLANG_A_SETS])
def test_abandonment_agrees_with_erlang_a(agents: int, load: float, patience: float,
                                          target: float, calls: int) -> None:
    report = run_scenario(single_skill(agents, load, patience=patience, target=target,
                                       calls=calls))
    expected = metrics(agents, load, 1.0, target, patience)
    # The mean wait of all calls (abandoned ones until they hang up) and the service level over
    # answered calls only are checked too: Erlang A has both.
    assert erlang_misses(report, expected, ("abandon_rate", "mean_wait",
                                            "service_level_answered", *CORE_KPIS)) == []


CORES = [pytest.param("reference", id="reference")]
if CompiledRouter is not None:
    CORES.append(pytest.param("compiled", id="compiled"))


@pytest.mark.parametrize("core", CORES)
def test_each_core_agrees_with_erlang_c_on_a_light_case(core: str) -> None:
    report = run_scenario(single_skill(8, 4.0, target=0.1, calls=800), core=core)
    assert erlang_misses(report, metrics(8, 4.0, 1.0, 0.1), CORE_KPIS) == []


def test_the_simulation_can_tell_a_wrong_model_apart() -> None:
    """The same runs are far from Erlang C for one agent fewer: the intervals have teeth."""
    report = run_scenario(single_skill(20, 15.0, calls=1000))
    assert len(erlang_misses(report, metrics(19, 15.0, 1.0, 0.1), CORE_KPIS)) == 4


@pytest.mark.skipif(CompiledRouter is None, reason="cext._router not built")
def test_both_cores_produce_identical_runs_of_a_rich_scenario() -> None:
    scenario = load_scenario(EXAMPLES / "multi-skill-tiers.yaml")
    scenario = scenario.model_copy(update={"duration": 7200.0, "warmup": 600.0})
    config = scenario.routing_config()
    results = []
    for factory in (ReferenceRouter, CompiledRouter):
        sim = Simulation(config, generate_arrivals(scenario, 3), factory, duration=7200,
                         warmup=600, seed=3, shifts=scenario.agent_shifts())
        results.append(sim.run())
    assert results[0].queues == results[1].queues
    assert results[0].groups == results[1].groups
    assert results[0].events == results[1].events


def test_every_counted_call_is_accounted_for_and_shifts_bound_staffed_time() -> None:
    scenario = load_scenario(EXAMPLES / "multi-skill-tiers.yaml")
    report = run_scenario(scenario, replications=2)
    window = scenario.duration - scenario.warmup
    for run in report.runs:
        for stats in run.queues.values():
            outcomes = (stats.answered + stats.abandoned + stats.overflowed_out
                        + stats.rejected + stats.timed_out)
            assert stats.offered > 0 and outcomes == stats.offered
            assert stats.delayed <= stats.offered
        juniors = run.groups["juniors"]
        # 16 juniors on [0, 14400) and [16200, 28800): the lunch gap is not staffed time,
        # but a junior on a call at a shift end stays logged in until the call ends.
        scheduled = 16 * (window - 1800)
        assert scheduled <= juniors.staffed <= scheduled + 16 * 2 * 3600
        seniors = run.groups["seniors"]
        assert seniors.staffed == pytest.approx(15 * window)
        assert 0 < juniors.occupancy < 1 and 0 < seniors.occupancy < 1


def test_no_agent_on_duty_means_every_caller_abandons() -> None:
    data = single_skill(2, 1.0, patience=0.5, calls=200, replications=1).model_dump()
    data["agent_groups"][0]["shifts"] = [(10_000.0, 10_001.0)]  # after the run
    report = run_scenario(load_scenario(data))
    queue = report.runs[0].queues["q"]
    assert queue.offered > 150 and queue.abandoned == queue.offered and queue.answered == 0
    assert report.runs[0].groups["agents"].staffed == 0


def test_slow_answers_expire_and_auto_pause_without_losing_calls() -> None:
    data = single_skill(3, 1.5, patience=5.0, calls=300, replications=1).model_dump()
    data["ring_delay"] = {"distribution": "fixed", "mean": 2.0}  # longer than the timeout
    data["routing"]["offer_timeout"] = 1.0
    data["routing"]["max_missed_offers"] = 2
    report = run_scenario(load_scenario(data))
    queue = report.runs[0].queues["q"]
    assert queue.answered == 0 and queue.abandoned == queue.offered > 0


def test_same_seed_same_run_other_seed_other_run() -> None:
    scenario = single_skill(5, 3.0, calls=500, replications=1)
    first, again = run_scenario(scenario).runs[0], run_scenario(scenario).runs[0]
    other = run_scenario(scenario.model_copy(update={"seed": 2})).runs[0]
    assert first.queues == again.queues and first.groups == again.groups
    assert first.queues != other.queues


# -- scenario validation -----------------------------------------------------------------------
BASE: dict[str, Any] = {
    "duration": 100, "routing": {"skills": ["s"], "queues": [{"id": "q", "expression": "s"}]},
    "arrivals": [{"queue": "q", "calls_per_hour": 60,
                  "handle_time": {"distribution": "exponential", "mean": 10}}],
    "agent_groups": [{"name": "g", "count": 1, "skills": {"s": 1}}],
}


def _with(path: str, value: Any) -> dict[str, Any]:
    import copy

    data = copy.deepcopy(BASE)
    node: Any = data
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return data


@pytest.mark.parametrize(("path", "value", "message"), [
    ("arrivals.0.handle_time.distribution", "gamma",
     "arrivals[0].handle_time.distribution: Input should be"),
    ("arrivals.0.handle_time", {"distribution": "lognormal", "mean": 3},
     "arrivals[0].handle_time: lognormal needs 'sd'"),
    ("arrivals.0.queue", "nope", "arrivals[0].queue: unknown queue 'nope'"),
    ("arrivals.0.calls_per_hour", -1, "arrivals[0].calls_per_hour: Input should be greater"),
    ("arrivals.0.tiers", {"gold": 0.5}, "arrivals[0].tiers: unknown customer tier 'gold'"),
    ("agent_groups.0.shifts", [[0, 50], [40, 90]], "agent_groups[0].shifts: shift 1 starts"),
    ("agent_groups.0.skills", {"s": 11}, "routing: agents[0].skills: skill 's' has level 11"),
    ("warmup", 100, "warmup (100.0 s) must be shorter than duration"),
    ("routing.queues.0.strategy", "longest_idel", "routing: queues[0].strategy: unknown"),
    ("duraton", 5, "duraton: Extra inputs are not permitted"),
])
def test_invalid_scenarios_refuse_to_load_and_name_the_field(path: str, value: Any,
                                                             message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_with(path, value))
    assert message in str(info.value)


def test_scenario_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("duration: [1,\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml: not valid YAML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "missing.yaml")


def test_routing_file_is_resolved_next_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "routing.yaml").write_text("skills: [s]\nqueues: [{id: q, expression: s}]\n")
    data = {k: v for k, v in BASE.items() if k != "routing"}
    data["routing_file"] = "routing.yaml"
    import yaml

    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(data))
    scenario = load_scenario(tmp_path / "scenario.yaml")
    assert [a.id for a in scenario.routing_config().agents] == ["g-001"]


# -- command and progress bar ------------------------------------------------------------------
def test_simulate_command_prints_tables_and_rejects_bad_scenarios(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "routing", "simulate"]
    done = subprocess.run([*cmd, str(EXAMPLES / "erlang-single-skill.yaml"), "--replications",
                           "2", "--no-progress"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "support" in done.stdout and "service level" in done.stdout
    # Two replications are too few for a useful interval: the one warning on stderr says so.
    assert done.stderr.splitlines() == [
        "switchboard simulate: warning: only 2 replications: the 95 % interval uses t = 12.71 "
        "(1.96 with many) on a spread estimated from 2 values, so it is very wide and itself "
        "unreliable; run 5 or more replications"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("duration: 10\narrivals: []\nrouting: {}\n")
    failed = subprocess.run([*cmd, str(bad)], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=False)
    assert failed.returncode == 2
    assert "arrivals: List should have at least 1 item" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_report_formatting_shows_intervals() -> None:
    text = format_report(run_scenario(single_skill(3, 1.0, calls=200, replications=3)))
    assert "±" in text and "occupancy" in text and "3 replication(s)" in text


def test_progress_bar_only_when_asked_or_on_a_terminal() -> None:
    quiet = io.StringIO()
    bar = ProgressBar("sim", stream=quiet)  # StringIO is not a TTY
    bar(0.5)
    bar.close()
    assert quiet.getvalue() == ""
    shown = io.StringIO()
    with ProgressBar("sim", stream=shown, enabled=True, min_interval=0) as bar:
        bar(0.25)
        bar(0.1)  # never goes backwards
    assert " 25.0%" in shown.getvalue() and "100.0%" not in shown.getvalue()
    assert shown.getvalue().endswith("\n")
