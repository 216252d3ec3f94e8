"""Command-line tools of the routing package: ``simulate``, ``staffing`` and ``replay``.

``switchboard`` (switch/cli.py) picks these up from :data:`COMMANDS` (name -> (configure a
subparser, run it)); ``python -m routing`` runs them stand-alone::

    switchboard simulate examples/scenarios/erlang-single-skill.yaml [--replications 10]
    switchboard staffing --calls-per-hour 600 --aht 240 --sl 80/20 [--patience 120]
                         [--shrinkage 0.3]
    switchboard replay run.jsonl --config what-if.yaml

Exit codes: 0 done, 2 bad input (the message on stderr says which argument or field).
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
from routing.replay import LogError, LogWriter, compare, format_comparison, json_rows, read_log
from routing.report import format_report, run_scenario
from routing.scenario import load_scenario

__all__ = [
    "COMMANDS", "add_replay_parser", "add_simulate_parser", "add_staffing_parser", "main",
    "parse_service_level", "parse_shrinkage", "run_replay", "run_simulate", "run_staffing",
]

_CORES = ("selected", "reference", "compiled")


def _fail(command: str, message: str) -> int:
    print(f"switchboard {command}: error: {message}", file=sys.stderr)
    return 2


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
                          "forever) and, with --patience, Erlang A (callers abandon).")
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
    return {"agents": m.agents, "offered_load": m.offered_load, "p_wait": m.p_wait,
            "p_abandon": m.p_abandon, "asa": m.asa, "mean_wait": m.mean_wait,
            "service_level": m.service_level, "occupancy": m.occupancy}


def _staffing_lines(r: StaffingResult) -> list[str]:
    m = r.metrics
    title = "Erlang C (no abandonment)" if r.patience is None else \
        f"Erlang A (mean patience {r.patience:g} s)"
    lines = [f"{title}:",
             f"  agents on the phones   {r.agents}",
             f"  agents to schedule     {r.scheduled}   (shrinkage {r.shrinkage * 100:g} %)",
             f"  service level          {m.service_level * 100:.2f} % within "
             f"{r.target_seconds:g} s",
             f"  P(wait)                {m.p_wait * 100:.2f} %",
             f"  ASA                    {m.asa:.1f} s"]
    if r.patience is not None:
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
    if args.json:
        print(json.dumps([{"model": r.model, "agents": r.agents, "scheduled": r.scheduled,
                           **_metrics_json(r.metrics)} for r in results]))
        return 0
    load = results[0].metrics.offered_load
    print(f"{args.calls_per_hour:g} calls/h x {args.aht:g} s = {load:.2f} Erlangs; target "
          f"{level * 100:g} % within {seconds:g} s")
    for r in results:
        print("\n".join(_staffing_lines(r)))
    return 0


# -- simulate -------------------------------------------------------------------------------
def add_simulate_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Run a discrete-event simulation of a scenario against the router "
                          "and report KPIs per queue and agent group with 95 % intervals.")
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
    return 0


# -- replay ---------------------------------------------------------------------------------
def add_replay_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Replay a recorded event log against another routing config and "
                          "compare KPIs (what-if), paired on the same calls.")
    parser.add_argument("log", metavar="LOG")
    parser.add_argument("--config", required=True, metavar="NEW.yaml",
                        help="the routing config to try")
    parser.add_argument("--core", choices=_CORES, default="selected")
    parser.add_argument("--json", action="store_true")


def run_replay(args: argparse.Namespace) -> int:
    from routing.config import load_config
    from routing.replay import replay

    try:
        log = read_log(args.log)
        new_config = load_config(args.config)
        baseline = replay(log, core=args.core)
        what_if = replay(log, new_config, core=args.core)
    except LogError as exc:
        return _fail("replay", str(exc))
    except ConfigError as exc:
        return _fail("replay", f"{args.config}: {exc}")
    comparison = compare(baseline, what_if)
    print(json.dumps(json_rows(comparison)) if args.json else format_comparison(comparison))
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
