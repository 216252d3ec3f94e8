"""Command-line tools of the routing package: ``simulate``, ``staffing`` and ``replay``.

``switchboard`` (switch/cli.py) picks these up from :data:`COMMANDS` (name -> (configure a
subparser, run it)); ``python -m routing`` runs them stand-alone::

    switchboard simulate examples/scenarios/erlang-single-skill.yaml [--replications 10]
    switchboard staffing --calls-per-hour 600 --aht 240 --sl 80/20 [--patience 120]
                         [--shrinkage 0.3]
    switchboard replay run.jsonl --config what-if.yaml

Exit codes: 0 done, 2 bad input (the message on stderr says which argument or field).
Warnings (an overloaded queue, too few replications, a staffing figure that relies on heavy
abandonment) go to stderr as ``switchboard <command>: warning: ...`` and, with ``--json``, into
the JSON too; they never change the exit code.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

from routing.erlang import QueueMetrics, StaffingError, StaffingResult, staffing
from routing.model import ConfigError
from routing.progress import ProgressBar
from routing.replay import (
    LogError,
    LogWriter,
    compare,
    format_comparison,
    json_rows,
    load_what_if,
    read_log,
    unused_scenario_fields,
)
from routing.report import MIN_REPLICATIONS, format_report, run_scenario
from routing.scenario import load_scenario

__all__ = [
    "COMMANDS", "HEAVY_ABANDONMENT", "abandonment_warning", "add_replay_parser",
    "add_simulate_parser", "add_staffing_parser", "main", "parse_service_level",
    "parse_shrinkage", "run_replay", "run_simulate", "run_staffing",
]

_CORES = ("selected", "reference", "compiled")


def _fail(command: str, message: str) -> int:
    print(f"switchboard {command}: error: {message}", file=sys.stderr)
    return 2


def _warn(command: str, messages: Sequence[str], kind: str = "warning") -> None:
    for message in messages:
        print(f"switchboard {command}: {kind}: {message}", file=sys.stderr)


# Erlang A staffing that loses more callers than this relies on abandonment to meet the target:
# commonly quoted abandonment targets are 2-5 % of offered calls.
HEAVY_ABANDONMENT = 0.05


# -- staffing -------------------------------------------------------------------------------
def parse_service_level(text: str) -> tuple[float, float]:
    """``"80/20"`` -> (0.8, 20.0): percent answered within seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*/\s*(\d+(?:\.\d+)?)\s*s?\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not PERCENT/SECONDS, e.g. 80/20 for 80 % answered within 20 s")
    percent, seconds = float(match.group(1)), float(match.group(2))
    if not 0 < percent < 100:
        raise argparse.ArgumentTypeError(
            f"service level percent must be above 0 and below 100, got {percent:g}")
    return percent / 100.0, seconds


def parse_shrinkage(text: str) -> float:
    """``"0.3"`` or ``"30%"`` -> 0.3; must be in [0, 1)."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction like 0.3 or 30%") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"shrinkage must be in [0, 1) (or 0%..99%), got {text}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_staffing_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Agents needed to meet a service level, by Erlang C (callers wait "
                          "forever) and, with --patience, Erlang A (callers abandon). Warns "
                          "when Erlang A meets the target only because more than "
                          f"{HEAVY_ABANDONMENT * 100:g} % of callers abandon.")
    parser.add_argument("--calls-per-hour", type=_positive, required=True, metavar="N")
    parser.add_argument("--aht", type=_positive, required=True, metavar="SECONDS",
                        help="average handle time (talk plus wrap-up)")
    parser.add_argument("--sl", type=parse_service_level, required=True, metavar="PCT/SECONDS",
                        help="service level target, e.g. 80/20")
    parser.add_argument("--patience", type=_positive, metavar="SECONDS",
                        help="mean caller patience (exponential) for Erlang A")
    parser.add_argument("--shrinkage", type=parse_shrinkage, default=0.0, metavar="FRACTION",
                        help="share of paid time off the phones, e.g. 0.3 or 30%%")
    parser.add_argument("--max-agents", type=int, metavar="N",
                        help="give up above this many agents")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _metrics_json(m: QueueMetrics) -> dict[str, float]:
    answered = 1.0 - m.p_abandon
    return {"agents": m.agents, "offered_load": m.offered_load, "p_wait": m.p_wait,
            "p_abandon": m.p_abandon, "asa": m.asa, "mean_wait": m.mean_wait,
            "service_level": m.service_level,
            "service_level_answered": m.service_level / answered if answered > 0 else math.nan,
            "occupancy": m.occupancy}


def abandonment_warning(erlang_a: StaffingResult, erlang_c: StaffingResult) -> str | None:
    """A sentence when Erlang A meets the target only because many callers hang up: its
    abandonment is above :data:`HEAVY_ABANDONMENT`, or it staffs fewer agents than the load."""
    m = erlang_a.metrics
    short = erlang_a.agents <= m.offered_load
    if m.p_abandon <= HEAVY_ABANDONMENT and not short:
        return None
    text = (f"Erlang A meets {erlang_a.target_level * 100:g} % within "
            f"{erlang_a.target_seconds:g} s with {erlang_a.agents} agents only because "
            f"{m.p_abandon * 100:.1f} % of callers abandon (more than "
            f"{HEAVY_ABANDONMENT * 100:g} % is heavy); Erlang C, where nobody abandons, needs "
            f"{erlang_c.agents}")
    if short:
        text += (f"; {erlang_a.agents} agents are not even the offered load of "
                 f"{m.offered_load:.2f} Erlangs, so the queue is kept finite only by callers "
                 "hanging up")
    return text + ". Plan for that abandonment, or staff toward the Erlang C figure"


def _staffing_lines(r: StaffingResult) -> list[str]:
    m = r.metrics
    title = "Erlang C (no abandonment)" if r.patience is None else \
        f"Erlang A (mean patience {r.patience:g} s)"
    within = f"answered within {r.target_seconds:g} s"
    lines = [f"{title}:",
             f"  agents on the phones   {r.agents}",
             f"  agents to schedule     {r.scheduled}   (shrinkage {r.shrinkage * 100:g} %)",
             f"  service level          {m.service_level * 100:.2f} % of offered calls {within}"]
    if r.patience is not None and m.p_abandon < 1:
        lines.append(f"                         {m.service_level / (1 - m.p_abandon) * 100:.2f} "
                     f"% of answered calls {within}")
    lines += [f"  P(wait)                {m.p_wait * 100:.2f} %",
              f"  ASA                    {m.asa:.1f} s   (mean wait of answered calls)"]
    if r.patience is not None:
        lines.append(f"  mean wait              {m.mean_wait:.1f} s   (all calls, abandoned ones "
                     "until they hang up)")
        lines.append(f"  abandonment            {m.p_abandon * 100:.2f} %")
    lines.append(f"  occupancy              {m.occupancy * 100:.1f} %")
    return lines


def run_staffing(args: argparse.Namespace) -> int:
    level, seconds = args.sl
    models: list[float | None] = [None] if args.patience is None else [None, args.patience]
    results = []
    for patience in models:
        try:
            results.append(staffing(args.calls_per_hour, args.aht, level, seconds,
                                    patience=patience, shrinkage=args.shrinkage,
                                    max_agents=args.max_agents))
        except StaffingError as exc:
            return _fail("staffing", str(exc))
    warning = abandonment_warning(results[1], results[0]) if len(results) == 2 else None
    if args.json:
        print(json.dumps([{"model": r.model, "agents": r.agents, "scheduled": r.scheduled,
                           "service_level_threshold_s": seconds,
                           "service_level_target_pct": round(level * 100, 9),
                           **_metrics_json(r.metrics),
                           "warnings": [warning] if warning and r.patience else []}
                          for r in results]))
    else:
        load = results[0].metrics.offered_load
        print(f"{args.calls_per_hour:g} calls/h x {args.aht:g} s = {load:.2f} Erlangs; target "
              f"{level * 100:g} % of offered calls answered within {seconds:g} s")
        for r in results:
            print("\n".join(_staffing_lines(r)))
    sys.stdout.flush()  # the warning comes last, under the figures it is about
    _warn("staffing", [warning] if warning else [])
    return 0


# -- simulate -------------------------------------------------------------------------------
def add_simulate_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run a discrete-event simulation of a scenario against the router and report KPIs per "
        "queue and agent group: per-replication averages with 95 % intervals. Warns on stderr "
        "when a queue's offered load reaches what its agents can carry, and when fewer than "
        f"{MIN_REPLICATIONS} replications make the intervals meaningless.")
    parser.add_argument("scenario", metavar="SCENARIO.yaml")
    parser.add_argument("--replications", type=int, metavar="N",
                        help="override the scenario's replication count")
    parser.add_argument("--core", choices=_CORES, default="selected",
                        help="router core (selected: compiled when built)")
    parser.add_argument("--record", metavar="LOG", help="write the calls as a JSON-lines log")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="show a progress bar on stderr (default: when a terminal)")
    progress.add_argument("--no-progress", dest="progress", action="store_false")


def run_simulate(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario)
    except ConfigError as exc:
        return _fail("simulate", f"{args.scenario}: {exc}")
    if args.replications is not None and args.replications < 1:
        return _fail("simulate", "--replications must be at least 1")
    try:
        with ExitStack() as stack:
            writer = None
            if args.record:
                writer = LogWriter(stack.enter_context(Path(args.record).open("w")), scenario)
            bar = stack.enter_context(ProgressBar("simulate", enabled=args.progress))
            report = run_scenario(scenario, core=args.core, replications=args.replications,
                                  on_progress=bar, record=writer.record if writer else None)
    except (ValueError, OSError) as exc:
        return _fail("simulate", str(exc))
    print(json.dumps(report.to_json()) if args.json else format_report(report))
    sys.stdout.flush()  # warnings come last, under the figures they are about
    _warn("simulate", report.warnings)
    return 0


# -- replay ---------------------------------------------------------------------------------
def add_replay_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Replay a recorded event log against another routing config and "
                          "compare KPIs (what-if), paired on the same calls.")
    parser.add_argument("log", metavar="LOG")
    parser.add_argument(
        "--config", required=True, metavar="NEW.yaml",
        help="the routing to try: a routing config (skills:, queues:, ...); a scenario, whose "
             "routing and agent_groups are used (the calls come from the log); or a node "
             "config (switchboard YAML), whose top-level routing: section is used")
    parser.add_argument("--core", choices=_CORES, default="selected")
    parser.add_argument("--json", action="store_true")


def run_replay(args: argparse.Namespace) -> int:
    from routing.replay import replay

    try:
        log = read_log(args.log)
        what_if = load_what_if(args.config)
    except (LogError, ConfigError) as exc:  # the message starts with the file name
        return _fail("replay", str(exc))
    try:
        baseline = replay(log, core=args.core)
        tried = replay(log, what_if.config, core=args.core, agent_groups=what_if.agent_groups)
    except ConfigError as exc:  # e.g. the recorded calls go to a queue the new config lacks
        return _fail("replay", f"{args.config}: does not fit the recorded run: {exc}")
    unused = unused_scenario_fields(what_if, log.scenario)
    if unused:
        _warn("replay", [f"{args.config} is a scenario: its routing and agent_groups are "
                         "used; these fields differ from the recording and are not used, "
                         f"because the calls come from the log: {', '.join(unused)}"],
              kind="note")
    comparison = compare(baseline, tried)
    print(json.dumps(json_rows(comparison)) if args.json else format_comparison(comparison))
    sys.stdout.flush()
    _warn("replay", comparison.warnings)
    return 0


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int]]] = {
    "simulate": (add_simulate_parser, run_simulate),
    "staffing": (add_staffing_parser, run_staffing),
    "replay": (add_replay_parser, run_replay),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m routing",
                                     description="Router simulation and staffing tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (configure, run) in COMMANDS.items():
        sub_parser = sub.add_parser(name)
        configure(sub_parser)
        sub_parser.set_defaults(func=run)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)
