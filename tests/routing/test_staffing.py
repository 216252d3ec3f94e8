"""Staffing: published worked examples, the search itself, and bad input (API and command)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from routing.cli import parse_service_level, parse_shrinkage
from routing.erlang import StaffingError, erlang_a, erlang_c_metrics, staffing

ROOT = Path(__file__).resolve().parents[2]


def test_reproduces_the_call_centre_helper_erlang_c_worked_example() -> None:
    """Call Centre Helper, "Erlang C Formula – Made Simple With an Easy Worked Example"
    (https://www.callcentrehelper.com/erlang-c-formula-example-121281.htm): 100 calls per
    30 minutes, AHT 180 s, 80 % of calls answered within 20 s, 30 % shrinkage. Its answer:
    14 agents on the phones (traffic 10 Erlangs), 20 to schedule after shrinkage. The figures
    for 14 agents as published in the pyworkforce README (github.com/rodrigo-arenas/
    pyworkforce), which reproduces the same example: service level 0.8883500191794669, P(wait)
    0.1741319335950498, occupancy 0.7142857142857143."""
    result = staffing(200, 180, 0.80, 20, shrinkage=0.30)
    assert result.model == "erlang_c"
    assert result.metrics.offered_load == pytest.approx(10.0)
    assert (result.agents, result.scheduled) == (14, 20)
    assert round(result.metrics.service_level, 4) == 0.8884
    assert round(result.metrics.p_wait, 4) == 0.1741
    assert round(result.metrics.occupancy, 4) == 0.7143


def test_reproduces_a_published_erlang_a_example() -> None:
    """pyworkforce README, "Erlang A (modeling abandonment)": the same 100 calls per 30 min of
    3 min, 20 s target, mean patience 5 min, 30 % shrinkage -> 13 positions raw, 19 with
    shrinkage; service level 0.858..., occupancy 0.750..., abandonment 0.025..., P(wait)
    0.226..., mean wait 0.125... min (printed truncated to three decimals)."""
    result = staffing(200, 180, 0.80, 20, patience=300, shrinkage=0.30)
    assert (result.model, result.agents, result.scheduled) == ("erlang_a", 13, 19)
    m = result.metrics
    # The README prints three decimals and "..."; they are rounded digits (its occupancy
    # 0.750... = 10 x (1 - abandonment) / 13 rules out an abandonment of 0.025 or more).
    assert [round(v, 3) for v in (m.service_level, m.occupancy, m.p_abandon, m.p_wait,
                                  m.mean_wait / 60)] == [0.858, 0.750, 0.025, 0.226, 0.125]


def test_the_answer_is_the_smallest_agent_count_that_meets_the_target() -> None:
    rate, aht = 600 / 3600, 240.0
    for patience in (None, 120.0):
        r = staffing(600, aht, 0.8, 20, patience=patience)
        sl = [erlang_c_metrics(n, rate, aht, 20).service_level if patience is None
              else erlang_a(n, rate, aht, patience, 20).service_level
              for n in (r.agents - 1, r.agents)]
        assert sl[0] < 0.8 <= sl[1]
    # Callers who abandon relieve the queue: Erlang A never needs more agents than Erlang C.
    assert staffing(600, aht, 0.8, 20, patience=120).agents <= staffing(600, aht, 0.8, 20).agents


def test_large_centres_are_staffed_quickly_and_sensibly() -> None:
    r = staffing(90_000, 300, 0.8, 20)  # 7,500 Erlangs
    assert 7_500 < r.agents < 7_700
    assert r.metrics.occupancy > 0.97


def test_bad_inputs_and_impossible_targets_say_what_is_wrong() -> None:
    with pytest.raises(StaffingError, match="100 % is never guaranteed"):
        staffing(600, 240, 1.0, 20)
    with pytest.raises(StaffingError, match="calls per hour"):
        staffing(0, 240, 0.8, 20)
    with pytest.raises(StaffingError, match="shrinkage"):
        staffing(600, 240, 0.8, 20, shrinkage=1.0)
    with pytest.raises(StaffingError, match="patience"):
        staffing(600, 240, 0.8, 20, patience=-5)
    with pytest.raises(StaffingError, match=r"cannot be reached with up to 30 agents.*120 s "
                                            r"patience"):
        staffing(600, 240, 0.99, 1, patience=120, max_agents=30)


@pytest.mark.parametrize("text", ["80-20", "80/", "0/20", "100/20", "eighty/20", "80/20/5"])
def test_service_level_argument_format(text: str) -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        parse_service_level(text)


def test_service_level_and_shrinkage_parsing() -> None:
    assert parse_service_level("80/20") == (0.8, 20.0)
    assert parse_service_level("90%/15s") == (0.9, 15.0)
    assert parse_shrinkage("0.3") == 0.3 and parse_shrinkage("30%") == 0.3


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "routing", "staffing", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_staffing_command_prints_erlang_c_and_erlang_a() -> None:
    done = _run("--calls-per-hour", "600", "--aht", "240", "--sl", "80/20", "--patience", "120",
                "--shrinkage", "0.3", "--json")
    assert done.returncode == 0, done.stderr
    c, a = json.loads(done.stdout)
    assert (c["model"], a["model"]) == ("erlang_c", "erlang_a")
    assert c["agents"] == staffing(600, 240, 0.8, 20).agents
    assert a["scheduled"] == staffing(600, 240, 0.8, 20, patience=120, shrinkage=0.3).scheduled
    table = _run("--calls-per-hour", "200", "--aht", "180", "--sl", "80/20", "--shrinkage", "30%")
    assert table.returncode == 0
    assert "agents on the phones   14" in table.stdout
    assert "agents to schedule     20" in table.stdout


def test_the_staffing_command_rejects_bad_arguments_with_exit_2() -> None:
    bad_format = _run("--calls-per-hour", "600", "--aht", "240", "--sl", "80-20")
    assert bad_format.returncode == 2
    assert "PERCENT/SECONDS" in bad_format.stderr
    impossible = _run("--calls-per-hour", "600", "--aht", "240", "--sl", "99/1", "--patience",
                      "120", "--max-agents", "30")
    assert impossible.returncode == 2
    assert "cannot be reached" in impossible.stderr and "Traceback" not in impossible.stderr
