"""report.md and the plots, from the run.json of a real (small) run: the numbers in the
tables are the run's, the plots are PNG files, ``python -m loadtest report`` rewrites them."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadtest.report import PLOTS, REPORT_FILE, fmt_ms, per_second, write_report
from loadtest.runner import PERCENTILES, LoadOptions

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def tables(markdown: str) -> dict[str, list[list[str]]]:
    """Rows (cells) of the first table under each ``## `` heading."""
    out: dict[str, list[list[str]]] = {}
    section = ""
    for line in markdown.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out.setdefault(section, []).append(cells)
    return out


def rows_by_label(rows: list[list[str]]) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in rows[1:]}  # rows[0] is the header


@pytest.fixture
def report(direct_run: tuple[LoadOptions, dict[str, Any]]) -> tuple[dict[str, Any], str]:
    options, run = direct_run
    path = write_report(options.out)
    return run, path.read_text()


def test_totals_table_is_the_runs(report: tuple[dict[str, Any], str]) -> None:
    run, text = report
    totals = run["totals"]
    rows = rows_by_label(tables(text)["Totals"])
    assert rows["calls attempted"] == [str(totals["calls_attempted"])]
    assert rows["calls successful"] == [str(totals["calls_successful"])]
    assert rows["calls failed"] == [str(totals["calls_failed"])]
    assert rows["callers who hung up themselves (no BYE within max wait)"] == [
        str(totals["caller_hangups"])]
    assert rows["calls offered to agents"] == [str(totals["agent_calls"])]
    assert rows["agent calls successful"] == [str(totals["agent_calls_successful"])]
    rate = totals["calls_attempted"] / run["parameters"]["duration"]
    assert rows["attempted per second (over the duration)"] == [f"{rate:.1f}"]
    assert text.startswith("# Load test report\n\n**OK**")
    assert "Failures by reason\n\nNone." in text


def test_timing_tables_are_the_runs(report: tuple[dict[str, Any], str]) -> None:
    run, text = report
    found = tables(text)
    header = found["Response times (ms)"][0]
    assert header == ["measure", "count", "mean", "min", *[f"p{q}" for q in PERCENTILES],
                      "max"]
    keys = ["count", "mean", "min", *[f"p{q}" for q in PERCENTILES], "max"]
    rows = found["Response times (ms)"][1:]
    answer = next(r for r in rows if r[0].startswith("INVITE"))
    stats = run["response_times"]["answer"]
    assert answer[1] == str(stats["count"])
    assert answer[2:] == [fmt_ms(stats[k]) for k in keys[1:]]
    assert float(answer[keys.index("p95") + 1]) == round(stats["p95"], 1)
    bye = next(r for r in rows if r[0].startswith("caller's BYE"))
    assert bye[1] == "0" and set(bye[2:]) == {"–"}
    wait = rows_by_label(found["Queue wait (ms, approximation)"])["queue wait"]
    assert wait == [str(run["queue_wait"]["count"])] + [
        fmt_ms(run["queue_wait"][k]) for k in keys[1:]]
    assert "approximation" in text and "minus the agent's talk time" in text


def test_node_and_process_tables_are_the_runs(report: tuple[dict[str, Any], str]) -> None:
    run, text = report
    node = run["node"]
    assert node["source"] == "proc"
    rows = rows_by_label(tables(text)["Node"])
    assert rows["CPU % of one core, mean"] == [f"{node['cpu_percent']['mean']:.1f}"]
    assert rows["CPU % of one core, max"] == [f"{node['cpu_percent']['max']:.1f}"]
    assert rows["RSS max (MB)"] == [f"{node['rss_bytes']['max'] / 1e6:.1f}"]
    assert node["rss_bytes"]["max"] > 0
    processes = rows_by_label(tables(text)["SIPp processes"])
    for name in ("agents", "callers"):
        assert processes[name][0] == str(run["processes"][name]["returncode"])
        assert processes[name][1] == str(run["processes"][name]["totals"]["successful"])


def test_series_rates_add_up(direct_run: tuple[LoadOptions, dict[str, Any]]) -> None:
    _, run = direct_run
    series = [e for e in run["series"] if "callers" in e]
    times, rates = per_second(series, "callers", "created")
    deltas = [b["t"] - a["t"] for a, b in itertools.pairwise(series)]
    total = sum(r * d for r, d in zip(rates, deltas, strict=True))
    assert total == pytest.approx(series[-1]["callers"]["created"]
                                  - series[0]["callers"]["created"])
    assert len(times) == len(series) - 1


def test_plots_are_pngs_and_the_cli_rewrites_them(
        direct_run: tuple[LoadOptions, dict[str, Any]]) -> None:
    options, _ = direct_run
    write_report(options.out)
    for key, name in PLOTS.items():
        path = options.out / name
        assert path.exists(), key
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, key
        assert f"]({name})" in (options.out / REPORT_FILE).read_text()
    before = (options.out / REPORT_FILE).read_text()
    for name in (REPORT_FILE, *PLOTS.values()):
        (options.out / name).unlink()
    done = subprocess.run([sys.executable, "-m", "loadtest", "report", str(options.out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (options.out / REPORT_FILE).read_text() == before
    assert all((options.out / name).exists() for name in PLOTS.values())
    # run.json is left as it was.
    assert json.loads((options.out / "run.json").read_text())["format"] == 1
