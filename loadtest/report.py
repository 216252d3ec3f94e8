"""``report.md`` and PNG plots from a load test's ``run.json`` (written by loadtest.runner).

``python -m loadtest report DIR`` (re)writes ``DIR/report.md`` and ``DIR/*.png`` from
``DIR/run.json``: totals, failures by reason, response-time percentiles, the queue wait
(the caller's connected time minus the talk time: an approximation), the node's CPU and
memory, and plots of the call rate, failures, response-time distribution, queue wait and node
resources over time. Plots need matplotlib (the ``dev`` extra); without it the report says so
and has the tables only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .runner import PERCENTILES, RUN_FILE

REPORT_FILE = "report.md"
PLOTS = {
    "rate": "rate.png",
    "failures": "failures.png",
    "response_times": "response_times.png",
    "queue_wait": "queue_wait.png",
    "node": "node.png",
}
RTD_LABELS = {
    "answer": "INVITE → 200 (node answers the caller)",
    "connected": "200 → node's BYE (caller connected)",
    "bye": "caller's BYE → 200 (callers who gave up)",
}


def load_run(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / RUN_FILE).read_text())
    return data


def per_second(series: list[dict[str, Any]], group: str, key: str) -> tuple[list[float],
                                                                            list[float]]:
    """Per-second rate of a cumulative counter of the series (``callers``/``created``...):
    (times, increments divided by the time between samples)."""
    times: list[float] = []
    rates: list[float] = []
    previous: dict[str, Any] | None = None
    for entry in series:
        if group not in entry:
            continue
        if previous is not None and entry["t"] > previous["t"]:
            delta = entry[group].get(key, 0) - previous[group].get(key, 0)
            times.append(float(entry["t"]))
            rates.append(delta / (entry["t"] - previous["t"]))
        previous = entry
    return times, rates


def fmt_ms(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{float(value):.1f}"


def fmt_int(value: Any) -> str:
    return "–" if value is None else str(int(value))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _timing_row(label: str, stats: dict[str, Any]) -> list[str]:
    if not stats.get("count"):
        return [label, "0"] + ["–"] * (3 + len(PERCENTILES))
    return ([label, fmt_int(stats["count"]), fmt_ms(stats["mean"]), fmt_ms(stats["min"])]
            + [fmt_ms(stats[f"p{q}"]) for q in PERCENTILES] + [fmt_ms(stats["max"])])


def _agents_how(p: dict[str, Any]) -> str:
    if not p["register"]:
        return "on static contacts"
    if p.get("register_from_agent_port"):
        return "registered from the agent port"
    return "registered"


def markdown(run: dict[str, Any], plots: dict[str, str], plot_note: str = "") -> str:
    p = run["parameters"]
    totals = run["totals"]
    lines = ["# Load test report", ""]
    verdict = "**OK**: every call succeeded" if run.get("ok") else "**NOT OK**"
    if run.get("error"):
        verdict += f": {run['error']}"
    elif run.get("interrupted"):
        verdict += ": interrupted"
    elif not run.get("ok"):
        verdict += (f": {totals['calls_failed']} calls failed, callers' SIPp exit code "
                    f"{run.get('exit_codes', {}).get('callers')}")
    lines += [verdict, ""]
    lines += [f"Target `{p['target']}` ({p['transport']}), number `{p['number']}`: "
              f"{p['cps']:g} calls/s for {p['duration']:g} s ({p['calls']} calls), "
              f"{p['agents']} agents (answer after {p['answer_delay']:g} s, talk "
              f"{p['talk_time']:g} s), callers give up after {p['max_wait']:g} s, media "
              f"{'on' if p['media'] else 'off'}, agents "
              f"{_agents_how(p)}. "
              f"Started {run['started_at']}, ended {run['ended_at']} "
              f"({run['elapsed']:.0f} s).", ""]
    for note in run.get("notes", []):
        lines += [f"> {note}", ""]

    duration = float(p["duration"]) or 1.0
    lines += ["## Totals", ""]
    lines += _table(["", "calls"], [
        ["calls attempted", fmt_int(totals["calls_attempted"])],
        ["calls successful", fmt_int(totals["calls_successful"])],
        ["calls failed", fmt_int(totals["calls_failed"])],
        ["callers who hung up themselves (no BYE within max wait)",
         fmt_int(totals["caller_hangups"])],
        ["attempted per second (over the duration)",
         f"{totals['calls_attempted'] / duration:.1f}"],
        ["calls offered to agents", fmt_int(totals["agent_calls"])],
        ["agent calls successful", fmt_int(totals["agent_calls_successful"])],
        ["agent calls failed", fmt_int(totals["agent_calls_failed"])],
        ["offers cancelled by the node before the answer", fmt_int(totals["agent_cancelled"])],
        ["agent calls hung up by the node", fmt_int(totals["agent_remote_bye"])],
        ["keepalive OPTIONS answered by the agents", fmt_int(totals["agent_pings"])],
    ])

    lines += ["## Failures by reason", ""]
    failure_rows = [[f"callers: {name}", fmt_int(n)] for name, n in totals["failures"].items()]
    failure_rows += [[f"callers: unexpected {code} response", fmt_int(n)]
                     for code, n in totals.get("unexpected_status_codes", {}).items()]
    failure_rows += [[f"agents: {name}", fmt_int(n)]
                     for name, n in totals.get("agent_failures", {}).items()]
    if failure_rows:
        lines += _table(["reason (SIPp counter)", "calls"], failure_rows)
    else:
        lines += ["None.", ""]

    header = (["measure", "count", "mean", "min"] + [f"p{q}" for q in PERCENTILES]
              + ["max"])
    lines += ["## Response times (ms)", ""]
    lines += _table(header, [_timing_row(label, run["response_times"].get(name, {}))
                             for name, label in RTD_LABELS.items()])
    lines += ["SIPp 3.6 reads CLOCK_MONOTONIC_COARSE: its times move in steps of the kernel "
              "tick (typically 4 ms), so values below a few ms are 0 or one tick.", ""]
    wait = run["queue_wait"]
    lines += ["## Queue wait (ms, approximation)", "",
              f"Approximated as the caller's time from the node's 200 to the node's BYE minus "
              f"the agent's talk time ({p['talk_time']:g} s): it includes the agent's ringing "
              f"({p['answer_delay']:g} s) and the node's bridging. Callers who gave up are "
              f"not in it (see the totals).", ""]
    lines += _table(header, [_timing_row("queue wait", wait)])

    node = run.get("node", {})
    lines += ["## Node", ""]
    if node.get("source") is None or ("cpu_percent" not in node and "rss_bytes" not in node):
        lines += ["Not measured (give `--node-pid`, or `--node-http` of a node whose /healthz "
                  "reports `process`).", ""]
    else:
        where = ("/proc of the node and its child processes" if node["source"] == "proc"
                 else "the node's /healthz")
        rows = []
        if "cpu_percent" in node:
            rows += [["CPU % of one core, mean", f"{node['cpu_percent']['mean']:.1f}"],
                     ["CPU % of one core, max", f"{node['cpu_percent']['max']:.1f}"]]
        if "rss_bytes" in node:
            rss = node["rss_bytes"]
            rows += [["RSS at start (MB)", f"{rss['first'] / 1e6:.1f}"],
                     ["RSS max (MB)", f"{rss['max'] / 1e6:.1f}"],
                     ["RSS at end (MB)", f"{rss['last'] / 1e6:.1f}"]]
        lines += [f"Sampled each second from {where}.", ""]
        lines += _table(["", "value"], rows)

    lines += ["## SIPp processes", ""]
    rows = []
    for name, proc in run.get("processes", {}).items():
        got = proc.get("totals", proc)
        rows.append([name, str(proc.get("returncode")), fmt_int(got.get("successful")),
                     fmt_int(got.get("failed")), f"`{proc.get('workdir', '')}`"])
    lines += _table(["process", "exit code", "successful", "failed", "files"], rows)

    lines += ["## Plots", ""]
    if plot_note:
        lines += [plot_note, ""]
    titles = {"rate": "Calls per second", "failures": "Failed calls per second",
              "response_times": "Response time distribution", "queue_wait": "Queue wait",
              "node": "Node CPU and memory"}
    for key, file in plots.items():
        lines += [f"### {titles[key]}", "", f"![{titles[key]}]({file})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _plots(run: dict[str, Any], directory: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: dict[str, str] = {}
    series = run.get("series", [])

    def save(fig: Any, key: str) -> None:
        fig.tight_layout()
        fig.savefig(directory / PLOTS[key], dpi=100)
        plt.close(fig)
        written[key] = PLOTS[key]

    fig, ax = plt.subplots(figsize=(9, 4))
    for key, label in (("created", "attempted"), ("successful", "succeeded")):
        t, r = per_second(series, "callers", key)
        ax.plot(t, r, label=label)
    ax.axhline(run["parameters"]["cps"], color="grey", linestyle=":", label="target")
    ax.set(xlabel="seconds since start", ylabel="calls per second", title="Callers")
    ax.legend()
    save(fig, "rate")

    fig, ax = plt.subplots(figsize=(9, 4))
    for group, label in (("callers", "callers"), ("agents", "agents")):
        t, r = per_second(series, group, "failed")
        ax.plot(t, r, label=label)
    ax.set(xlabel="seconds since start", ylabel="failed calls per second",
           title="Failed calls")
    ax.legend()
    save(fig, "failures")

    fig, ax = plt.subplots(figsize=(9, 4))
    for name in ("answer", "bye"):
        stats = run["response_times"].get(name, {})
        samples = stats.get("samples") or []
        if samples:
            ax.hist(samples, bins=50, alpha=0.6,
                    label=f"{RTD_LABELS[name]} (p95 {stats['p95']:.1f} ms)")
    ax.set(xlabel="ms", ylabel="calls", title="Response times")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    save(fig, "response_times")

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    wait = run["queue_wait"]
    if wait.get("samples"):
        left.hist([v / 1000.0 for v in wait["samples"]], bins=50)
    left.set(xlabel="seconds", ylabel="callers", title="Queue wait (approximation)")
    points = run.get("response_time_series", {}).get("queue_wait", [])
    if points:
        right.plot([x["t"] for x in points], [x["mean"] / 1000.0 for x in points], label="mean")
        right.plot([x["t"] for x in points], [x["p95"] / 1000.0 for x in points], label="p95")
        right.legend()
    right.set(xlabel="seconds since start (when connected ended)", ylabel="seconds",
              title="Queue wait over time")
    save(fig, "queue_wait")

    nodes = [(e["t"], e["node"]) for e in series if "node" in e]
    if any("cpu_percent" in n or "rss_bytes" in n for _, n in nodes):
        fig, (cpu_ax, rss_ax) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
        cpu = [(t, n["cpu_percent"]) for t, n in nodes if "cpu_percent" in n]
        if cpu:
            cpu_ax.plot([t for t, _ in cpu], [v for _, v in cpu], label="node (total)")
        main = [(t, n["main_cpu_percent"]) for t, n in nodes if "main_cpu_percent" in n]
        if main:
            cpu_ax.plot([t for t, _ in main], [v for _, v in main], label="main process")
        cpu_ax.set(ylabel="CPU % of one core", title="Node")
        cpu_ax.set_ylim(bottom=0)
        if cpu_ax.get_legend_handles_labels()[0]:
            cpu_ax.legend()
        rss = [(t, n["rss_bytes"] / 1e6) for t, n in nodes if "rss_bytes" in n]
        if rss:
            rss_ax.plot([t for t, _ in rss], [v for _, v in rss])
        rss_ax.set(xlabel="seconds since start", ylabel="RSS (MB)")
        rss_ax.set_ylim(bottom=0)
        save(fig, "node")
    return written


def write_report(directory: Path) -> Path:
    """Write ``report.md`` (and the plots) in ``directory`` from its ``run.json``."""
    run = load_run(directory)
    note = ""
    try:
        plots = _plots(run, directory)
    except ImportError:
        plots, note = {}, "matplotlib is not installed (pip install matplotlib): no plots."
    if "node" not in plots:
        stale = directory / PLOTS["node"]
        if stale.exists():
            stale.unlink()
    path = directory / REPORT_FILE
    path.write_text(markdown(run, plots, note))
    return path
