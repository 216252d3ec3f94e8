"""What simulate, staffing and replay tell the user: wait and ring time, service level with its
threshold and target, per-replication averages, and the warnings (overload, too few
replications, staffing that relies on abandonment, what a replay config must be)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from routing.capacity import load_warnings, overloads, queue_capacity, queue_loads
from routing.cli import main
from routing.replay import WHAT_IF_EXPECTED, LogWriter
from routing.report import format_report, run_scenario
from routing.scenario import Scenario, load_scenario


def scenario_data(agents: int, calls_per_hour: float, handle: float, *,
                  patience: float | None = None, ring: float | None = None,
                  threshold: float = 20.0, replications: int = 5, duration: float = 3600.0,
                  warmup: float = 300.0, **routing: Any) -> dict[str, Any]:
    """One queue ``q`` on skill ``s``, exponential handle times of mean ``handle`` seconds."""
    arrival: dict[str, Any] = {"queue": "q", "calls_per_hour": calls_per_hour,
                               "handle_time": {"distribution": "exponential", "mean": handle}}
    if patience is not None:
        arrival["patience"] = {"distribution": "exponential", "mean": patience}
    data: dict[str, Any] = {
        "name": "small", "duration": duration, "warmup": warmup, "replications": replications,
        "seed": 1,
        "routing": {"skills": ["s"], "offer_timeout": 60, "max_missed_offers": 0,
                    "queues": [{"id": "q", "expression": "s",
                                "service_level": {"percent": 80, "seconds": threshold}}],
                    **routing},
        "arrivals": [arrival],
        "agent_groups": [{"name": "agents", "count": agents, "skills": {"s": 5}}],
    }
    if ring is not None:
        data["ring_delay"] = {"distribution": "fixed", "mean": ring}
    return data


def write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, list[str]]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


# -- wait and ring time ------------------------------------------------------------------------
def test_a_call_offered_on_arrival_did_not_wait_and_its_ring_time_is_not_wait() -> None:
    # 20 agents for half an Erlang: every call is offered on arrival and rings 3 s, longer
    # than the 2 s service-level threshold. It did not wait, so it is answered in time.
    report = run_scenario(load_scenario(scenario_data(20, 60, 30, ring=3.0, threshold=2.0)))
    for run in report.runs:
        q = run.queues["q"]
        assert q.offered > 30 and q.answered == q.offered
        assert q.delayed == 0 and q.wait_answered == 0.0 and q.answered_in_target == q.answered
        assert q.ring_answered == pytest.approx(3.0 * q.answered)
    kpis = report.queues["q"]
    assert (kpis["p_wait"].mean, kpis["asa"].mean, kpis["service_level"].mean) == (0, 0, 1)
    assert kpis["ring_time"].mean == pytest.approx(3.0)


def test_p_wait_asa_and_service_level_agree_on_who_waited() -> None:
    # Loaded, with a 5 s ring and a 4 s threshold: a call answered by the agent it was offered
    # to on arrival has wait 0, so it is in the service level; every other call waited.
    report = run_scenario(load_scenario(scenario_data(3, 150, 60, patience=120, ring=5.0,
                                                      threshold=4.0)))
    for run in report.runs:
        q = run.queues["q"]
        at_once = q.offered - q.delayed
        unanswered = q.offered - q.answered
        assert 0 < at_once < q.answered and unanswered > 0
        assert q.answered_in_target >= at_once  # was 0 when ring time counted as wait
        assert q.delayed >= unanswered
        # Mean wait covers every call; abandoned callers waited until they hung up.
        assert q.mean_wait * q.offered > q.asa * q.answered
        assert q.ring_answered == pytest.approx(5.0 * q.answered)
        assert q.service_level_answered == q.answered_in_target / q.answered
        assert q.service_level_answered > q.service_level


# -- offered load against capacity ---------------------------------------------------------------
def test_offered_load_counts_handle_time_wrap_up_and_ring() -> None:
    data = scenario_data(10, 120, 100, ring=10.0, wrap_up=20)
    scenario = load_scenario(data)
    config = scenario.routing_config()
    assert queue_loads(scenario, config) == {"q": pytest.approx(120 / 3600 * 130)}
    assert queue_capacity(scenario, config) == {"q": 10.0}


def test_a_load_equal_to_the_agents_is_already_an_overload() -> None:
    just_under = load_scenario(scenario_data(4, 3.9 * 36, 100))  # 3.9 Erlangs
    assert overloads(just_under, just_under.routing_config()) == []
    full = load_scenario(scenario_data(4, 4 * 36, 100))  # 4 Erlangs on 4 agents
    [over] = overloads(full, full.routing_config())
    assert over.queues == ("q",) and over.load == pytest.approx(4.0) and over.capacity == 4.0
    assert not over.sheds
    impatient = load_scenario(scenario_data(4, 4 * 36, 100, patience=60))
    assert overloads(impatient, impatient.routing_config())[0].sheds


def test_shifts_count_by_their_share_of_the_measured_window() -> None:
    data = scenario_data(6, 4 * 36, 100, warmup=0)
    data["agent_groups"][0]["shifts"] = [[0, 1800]]  # half of the hour
    scenario = load_scenario(data)
    assert queue_capacity(scenario, scenario.routing_config()) == {"q": 3.0}
    [over] = overloads(scenario, scenario.routing_config())
    assert (over.load, over.capacity) == (pytest.approx(4.0), 3.0)


def _two_queues_sharing_agents() -> Scenario:
    arrival = {"calls_per_hour": 108, "handle_time": {"distribution": "exponential",
                                                      "mean": 100}}  # 3 Erlangs each
    return load_scenario({
        "duration": 3600,
        "routing": {"skills": ["a", "b", "c"],
                    "queues": [{"id": "a", "expression": "a"}, {"id": "b", "expression": "b"},
                               {"id": "c", "expression": "c >= 8",
                                "widening": [{"after": 30, "relax": 3}]}]},
        "arrivals": [{"queue": q, **arrival} for q in ("a", "b", "c")],
        "agent_groups": [{"name": "both", "count": 5, "skills": {"a": 5, "b": 5}},
                         {"name": "cees", "count": 4, "skills": {"c": 5}}],
    })


def test_queues_that_share_agents_are_judged_together() -> None:
    # a and b: 3 Erlangs each, 5 agents each could take, but the same 5 agents: 6 >= 5.
    # c: its agents reach the bar only after widening (c >= 8 relaxed to c >= 5): 3 < 4.
    scenario = _two_queues_sharing_agents()
    config = scenario.routing_config()
    assert queue_capacity(scenario, config) == {"a": 5.0, "b": 5.0, "c": 4.0}
    [over] = overloads(scenario, config)
    assert over.queues == ("a", "b") and over.load == pytest.approx(6.0)
    assert over.capacity == 5.0
    [text] = load_warnings(scenario, config)
    assert text.startswith("queues a, b: offered load 6.0 Erlangs (a 3.0 + b 3.0) is at least "
                           "the 5.0 agents on duty who can take them; callers never abandon, "
                           "so the queue is unstable")


def test_the_examples_are_not_overloaded() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
    for path in sorted(examples.glob("*.yaml")):
        scenario = load_scenario(path)
        assert load_warnings(scenario, scenario.routing_config()) == [], path.name


def test_simulate_warns_when_offered_load_exceeds_capacity(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "over.yaml", scenario_data(2, 108, 100, duration=1800))  # 3 > 2
    code, out, err = run_cli(capsys, "simulate", str(path), "--json", "--no-progress")
    assert code == 0
    report = json.loads(out)
    assert report["warnings"] == [
        "queue q: offered load 3.0 Erlangs (108 calls/h x 100 s of handle time, wrap-up and "
        "ring) is at least the 2.0 agents on duty who can take it; callers never abandon, so "
        "the queue is unstable: it grows for as long as the run lasts, and the results depend "
        "on the run length, not on a steady state"]
    assert err == [f"switchboard simulate: warning: {report['warnings'][0]}"]
    assert report["queues"]["q"]["offered_load_erlangs"] == pytest.approx(3.0)
    assert report["queues"]["q"]["agents_able_on_duty"] == 2.0
    impatient = write(tmp_path, "impatient.yaml",
                      scenario_data(2, 108, 100, patience=60, duration=1800))
    code, out, err = run_cli(capsys, "simulate", str(impatient), "--no-progress")
    assert code == 0 and len(err) == 1
    assert "keeps the queue finite, but only by losing calls: expect heavy abandonment" in err[0]


# -- replications ------------------------------------------------------------------------------
def test_one_replication_has_no_interval_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "s.yaml", scenario_data(3, 72, 100))
    code, out, err = run_cli(capsys, "simulate", str(path), "--replications", "1", "--json")
    assert code == 0
    report = json.loads(out)
    sl = report["queues"]["q"]["kpis"]["service_level"]
    assert sl["n"] == 1 and sl["half_width"] is None and 0 < sl["mean"] <= 1
    assert report["warnings"] == [
        "1 replication: no confidence interval at all (that needs 2 or more), so the figures "
        "are one run's values of unknown precision; run 5 or more replications"]
    assert err == [f"switchboard simulate: warning: {report['warnings'][0]}"]
    code, out, err = run_cli(capsys, "simulate", str(path), "--replications", "1")
    assert "Every figure is the value of the single replication: there is no confidence " \
           "interval" in out
    assert "±" not in out


@pytest.mark.parametrize(("replications", "t"), [(2, "12.71"), (3, "4.30"), (4, "3.18")])
def test_too_few_replications_warn_with_the_t_factor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], replications: int, t: str) -> None:
    path = write(tmp_path, "s.yaml", scenario_data(3, 72, 100, duration=1200))
    code, out, err = run_cli(capsys, "simulate", str(path), "--replications",
                             str(replications))
    assert code == 0
    warning = (f"only {replications} replications: the 95 % interval uses t = {t} (1.96 with "
               f"many) on a spread estimated from {replications} values, so it is very wide "
               "and itself unreliable; run 5 or more replications")
    assert err == [f"switchboard simulate: warning: {warning}"]
    assert f"Warning: {warning}." in out


def test_five_replications_of_a_stable_scenario_warn_of_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "s.yaml", scenario_data(3, 72, 100, duration=1200))
    code, out, err = run_cli(capsys, "simulate", str(path), "--replications", "5")
    assert code == 0 and err == [] and "Warning" not in out


# -- service level, units, averages ---------------------------------------------------------------
def test_simulate_names_the_service_level_threshold_target_and_units(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "s.yaml", scenario_data(3, 90, 100, patience=60, threshold=15))
    code, out, err = run_cli(capsys, "simulate", str(path), "--json")
    assert code == 0 and err == []
    report = json.loads(out)
    assert report["figures"].startswith("per-replication averages: mean = mean over "
                                        "replications of each replication's value")
    assert report["wait_definition"].startswith("wait = time in the queue, from arrival until "
                                                "the call is offered to the agent who answers")
    assert (report["duration_s"], report["warmup_s"], report["measured_window_s"]) == \
        (3600, 300, 3300)
    q = report["queues"]["q"]
    assert (q["service_level_threshold_s"], q["service_level_target_pct"]) == (15, 80)
    kpis = q["kpis"]
    assert kpis["service_level"]["unit"] == \
        "fraction of offered calls answered within the threshold"
    assert kpis["service_level_answered"]["unit"] == \
        "fraction of answered calls answered within the threshold"
    assert kpis["asa"]["unit"] == kpis["mean_wait"]["unit"] == "seconds"
    assert kpis["offered"]["unit"] == "calls per replication"
    # Abandoned calls count against the first and not at all in the second.
    assert kpis["abandon_rate"]["mean"] > 0.02
    assert kpis["service_level_answered"]["mean"] > kpis["service_level"]["mean"]
    assert report["groups"]["agents"]["kpis"]["occupancy"]["unit"] == \
        "fraction of logged-in time talking or in wrap-up"

    text = format_report(run_scenario(load_scenario(path)))
    sl = run_scenario(load_scenario(path)).queues["q"]
    assert ("  service level (answered within 15 s, target 80 %): "
            f"{sl['service_level'].format(100, 2, ' %')} of offered calls (abandoned ones count "
            f"against), {sl['service_level_answered'].format(100, 2, ' %')} of answered calls"
            ) in text
    assert "Every figure is a per-replication average: the mean over the 5 replications" in text
    assert "Wait = time in the queue" in text
    for label in ("ASA (mean wait of answered calls)", "mean wait of all calls",
                  "ring time of answered calls", "service level, of answered calls"):
        assert label in text


# -- staffing ----------------------------------------------------------------------------------
def test_staffing_warns_when_erlang_a_meets_the_target_through_heavy_abandonment(
        capsys: pytest.CaptureFixture[str]) -> None:
    args = ["staffing", "--calls-per-hour", "600", "--aht", "240", "--sl", "80/20"]
    code, out, err = run_cli(capsys, *args, "--patience", "120")
    assert code == 0
    assert err == [
        "switchboard staffing: warning: Erlang A meets 80 % within 20 s with 41 agents only "
        "because 6.2 % of callers abandon (more than 5 % is heavy); Erlang C, where nobody "
        "abandons, needs 46. Plan for that abandonment, or staff toward the Erlang C figure"]
    assert "% of answered calls answered within 20 s" in out
    code, out, err = run_cli(capsys, *args, "--patience", "120", "--json")
    c, a = json.loads(out)
    assert c["warnings"] == [] and a["warnings"] == [err[0].split("warning: ", 1)[1]]
    assert (a["service_level_threshold_s"], a["service_level_target_pct"]) == (20, 80)
    assert a["service_level_answered"] == pytest.approx(a["service_level"]
                                                        / (1 - a["p_abandon"]))


def test_staffing_says_when_erlang_a_staffs_below_the_offered_load(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "staffing", "--calls-per-hour", "600", "--aht", "240",
                           "--sl", "80/20", "--patience", "30")
    assert err == [
        "switchboard staffing: warning: Erlang A meets 80 % within 20 s with 37 agents only "
        "because 13.8 % of callers abandon (more than 5 % is heavy); Erlang C, where nobody "
        "abandons, needs 46; 37 agents are not even the offered load of 40.00 Erlangs, so the "
        "queue is kept finite only by callers hanging up. Plan for that abandonment, or staff "
        "toward the Erlang C figure"]
    code, _, err = run_cli(capsys, "staffing", "--calls-per-hour", "600", "--aht", "240",
                           "--sl", "50/60", "--patience", "20")
    assert code == 0 and len(err) == 1
    assert "with 21 agents only because 48.3 % of callers abandon" in err[0]
    assert "Erlang C, where nobody abandons, needs 42" in err[0]


def test_staffing_with_light_abandonment_does_not_warn(
        capsys: pytest.CaptureFixture[str]) -> None:
    # The pyworkforce example: 2.5 % abandonment, 13 agents against Erlang C's 14.
    code, _, err = run_cli(capsys, "staffing", "--calls-per-hour", "200", "--aht", "180",
                           "--sl", "80/20", "--patience", "300")
    assert code == 0 and err == []


# -- replay --config ---------------------------------------------------------------------------
@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    data = scenario_data(3, 90, 100, patience=120, duration=1800)
    scenario = load_scenario(data)
    log = tmp_path / "run.jsonl"
    with log.open("w") as stream:
        run_scenario(scenario, record=LogWriter(stream, scenario).record)
    return log, data


def test_replay_accepts_a_node_config_and_uses_its_routing_section(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        recorded: tuple[Path, dict[str, Any]]) -> None:
    log, data = recorded
    routing = copy.deepcopy(data["routing"])
    routing["queues"][0]["strategy"] = "round_robin"
    routing["agents"] = [{"id": "1001", "skills": {"s": 7}}]  # the node's own agent, no group
    node = write(tmp_path, "node.yaml", {"node": {"name": "n1", "domain": "example.org"},
                                         "listeners": ["udp:127.0.0.1:5060"],
                                         "routing": routing})
    code, out, err = run_cli(capsys, "replay", str(log), "--config", str(node))
    assert code == 0 and err == []
    assert "what-if over 5 recorded replication(s)" in out
    # The node's agent joins the recorded ones and shows up as a group of its own.
    none = next(line for line in out.splitlines() if line.startswith("group (none): answered"))
    assert none.split()[4] == "n/a" and float(none.split()[5]) > 0

    routing["queues"][0]["strategy"] = "fewest_calls"
    write(tmp_path, "node.yaml", {"node": {"name": "n1"}, "routing": routing})
    code, _, err = run_cli(capsys, "replay", str(log), "--config", str(node))
    assert code == 2
    assert len(err) == 1
    assert err[0].startswith(f"switchboard replay: error: {node}: routing: queues[0].strategy: "
                             "unknown strategy 'fewest_calls'; expected one of")

    write(tmp_path, "node.yaml", {"node": {"name": "n1"}, "routing": None})
    code, _, err = run_cli(capsys, "replay", str(log), "--config", str(node))
    assert code == 2
    assert err == [f"switchboard replay: error: {node}: the routing: section is empty; a node "
                   "config needs a routing: mapping (skills:, queues:, ...) to replay against"]


def test_replay_accepts_a_scenario_and_uses_its_agent_groups(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        recorded: tuple[Path, dict[str, Any]]) -> None:
    log, data = recorded
    more = copy.deepcopy(data)
    more["agent_groups"][0]["count"] = 6  # twice the agents on the same calls
    path = write(tmp_path, "more.yaml", more)
    code, out, err = run_cli(capsys, "replay", str(log), "--config", str(path), "--json")
    assert code == 0 and err == []
    rows = {(r["scope"], r["name"], r["kpi"]): r for r in json.loads(out)}
    assert rows[("queue", "q", "offered")]["difference"] == 0
    asa = rows[("queue", "q", "asa")]
    assert asa["difference"] + asa["difference_half_width"] < 0  # callers wait less, for sure

    more["duration"] = 7200  # not used: the calls come from the log, and the note says so
    write(tmp_path, "more.yaml", more)
    code, _, err = run_cli(capsys, "replay", str(log), "--config", str(path))
    assert code == 0
    assert err == [f"switchboard replay: note: {path} is a scenario: its routing and "
                   "agent_groups are used; these fields differ from the recording and are not "
                   "used, because the calls come from the log: duration"]


def test_replay_config_that_is_none_of_the_three_says_what_is_expected(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        recorded: tuple[Path, dict[str, Any]]) -> None:
    log, _ = recorded
    other = write(tmp_path, "other.yaml", {"foo": 1, "bar": [2]})
    code, out, err = run_cli(capsys, "replay", str(log), "--config", str(other))
    assert code == 2 and out == ""
    assert err == [f"switchboard replay: error: {other}: neither a routing config, a scenario "
                   "nor a node config with a routing: section (top-level keys: bar, foo); "
                   f"expected {WHAT_IF_EXPECTED}"]
    listed = write(tmp_path, "list.yaml", [1, 2])
    code, _, err = run_cli(capsys, "replay", str(log), "--config", str(listed))
    assert code == 2
    assert err == [f"switchboard replay: error: {listed}: the top level is list, not a "
                   f"mapping; expected {WHAT_IF_EXPECTED}"]
    other_queue = write(tmp_path, "q2.yaml", {"skills": ["s"],
                                              "queues": [{"id": "q2", "expression": "s"}]})
    code, _, err = run_cli(capsys, "replay", str(log), "--config", str(other_queue))
    assert code == 2
    assert err[0].startswith(f"switchboard replay: error: {other_queue}: does not fit the "
                             "recorded run: arrivals[0].queue: unknown queue 'q'")
