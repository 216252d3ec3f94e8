"""Event log record and replay: exact reproduction, what-if comparison, and bad logs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from routing.arrivals import generate_arrivals
from routing.config import load_config
from routing.replay import LogError, LogWriter, compare, format_comparison, read_log, replay
from routing.report import run_scenario
from routing.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "scenarios" / "multi-skill-tiers.yaml"


def short_day() -> Scenario:
    scenario = load_scenario(SCENARIO)
    return scenario.model_copy(update={"duration": 5400.0, "warmup": 300.0, "replications": 3})


def record(scenario: Scenario, path: Path) -> None:
    with path.open("w") as stream:
        writer = LogWriter(stream, scenario)
        run_scenario(scenario, record=writer.record)


def test_replaying_a_log_with_its_own_config_reproduces_the_run(tmp_path: Path) -> None:
    scenario = short_day()
    log_path = tmp_path / "run.jsonl"
    with log_path.open("w") as stream:
        writer = LogWriter(stream, scenario)
        original = run_scenario(scenario, record=writer.record)
    log = read_log(log_path)
    assert [seed for seed, _ in log.replications] == [7, 8, 9]
    assert log.replications[0][1] == list(generate_arrivals(scenario, 7))
    replayed = replay(log)
    for a, b in zip(original.runs, replayed.runs, strict=True):
        assert a.queues == b.queues and a.groups == b.groups
    same = compare(original, replayed)
    assert all(diff.mean == 0 and diff.half_width == 0 for _, _, diff in same.rows.values())


def test_what_if_shows_the_paired_effect_of_a_config_change(tmp_path: Path) -> None:
    # Five replications: with three the paired t interval (t = 4.30) is too wide to show it.
    scenario = short_day().model_copy(update={"replications": 5})
    log_path = tmp_path / "run.jsonl"
    record(scenario, log_path)
    log = read_log(log_path)
    # What if seniors could take billing calls at once instead of after 30 s of widening?
    data = log.scenario.model_dump()["routing"]
    data["queues"][0]["groups"] = []
    data["queues"][0]["widening"] = []
    baseline, what_if = replay(log), replay(log, load_config(data))
    comparison = compare(baseline, what_if)
    sl = comparison.rows[("queue", "billing", "service_level")]
    offered = comparison.rows[("queue", "billing", "offered")]
    assert offered[2].mean == 0 and offered[2].half_width == 0  # the same calls
    assert sl[2].low > 0  # billing service level improves, beyond the paired interval
    assert comparison.rows[("queue", "billing", "asa")][2].high < 0  # and callers wait less
    assert comparison.warnings == ()  # five replications are enough; nothing is overloaded
    text = format_comparison(comparison)
    assert "queue billing: service level" in text and "difference" in text


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_malformed_logs_name_the_line(tmp_path: Path) -> None:
    scenario = short_day()
    stream = io.StringIO()
    LogWriter(stream, scenario)
    header = json.loads(stream.getvalue())
    arrival = {"type": "arrival", "t": 1.0, "call": "c", "queue": "billing", "handle": 5.0}
    cases = [
        ([arrival], ":1: arrival before header/replication"),
        ([header, {"type": "replication", "seed": 1}, {"type": "arrival", "t": 1}],
         ":3: bad record"),
        ([header, {"type": "nope"}], ":2: unknown record type 'nope'"),
        ([{**header, "version": 99}], ":1: log version 99"),
        ([header], "no replications recorded"),
        ([{**header, "scenario": {**header["scenario"], "duration": -1}}],
         ":1: scenario: duration: Input should be greater than 0"),
    ]
    for lines, message in cases:
        with pytest.raises(LogError) as info:
            read_log(_write(tmp_path / "log.jsonl", lines))
        assert message in str(info.value)
    (tmp_path / "garbage.jsonl").write_text("{not json\n")
    with pytest.raises(LogError, match=r"garbage\.jsonl:1: bad record"):
        read_log(tmp_path / "garbage.jsonl")
    with pytest.raises(LogError, match="cannot read event log"):
        read_log(tmp_path / "missing.jsonl")


def test_record_and_replay_commands(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    data = yaml.safe_load(SCENARIO.read_text())
    data.update({"duration": 3600, "warmup": 300, "replications": 2})
    scenario.write_text(yaml.safe_dump(data))
    log_path = tmp_path / "run.jsonl"
    cmd = [sys.executable, "-m", "routing"]
    simulate = subprocess.run([*cmd, "simulate", str(scenario), "--record", str(log_path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert simulate.returncode == 0, simulate.stderr
    assert log_path.read_text().count('"type": "replication"') == 2
    new = tmp_path / "what-if.yaml"
    routing = data["routing"]
    routing["queues"][0]["strategy"] = "fewest_calls_today"
    new.write_text(yaml.safe_dump(routing))
    done = subprocess.run([*cmd, "replay", str(log_path), "--config", str(new)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "what-if over 2 recorded replication(s)" in done.stdout
    assert "queue billing: service level" in done.stdout
    routing["queues"][0]["strategy"] = "fewest_calls"
    new.write_text(yaml.safe_dump(routing))
    bad = subprocess.run([*cmd, "replay", str(log_path), "--config", str(new)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2
    assert "queues[0].strategy: unknown strategy 'fewest_calls'" in bad.stderr
