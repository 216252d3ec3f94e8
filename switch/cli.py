"""The ``switchboard`` command.

``switchboard run [--config FILE] [--sip URI ...] [--http HOST:PORT] [--data-dir DIR]``
    Start the node (the built-in demo tenant without ``--config``). Human-readable URLs go to
    stderr; stdout gets exactly one JSON line once every listener is bound, with real ports::

        {"event": "ready", "sip": ["udp:127.0.0.1:5060", ...], "http": "http://...", ...}

``switchboard check-config FILE``  exit 0 when valid, 2 with one line per problem.
``switchboard ctl ACTION``         inspect and control a running node (switch/ctl.py).
``switchboard media [--listen-ng HOST:PORT ...]``  a media engine on its own (docs/media.md).
``switchboard version``            print the version.

SIGHUP (or ``switchboard ctl reload``) re-reads ``--config FILE``: applied when valid, refused
with the field paths otherwise, and the node keeps running either way.

Exit codes: 0 clean stop, 1 could not start (e.g. port in use), 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from . import ctl
from .config import ConfigError, SwitchConfig, listener_clashes, load_config, parse_hostport
from .demo import DEMO_AGENTS, DEMO_NUMBERS, demo_password
from .sip.address import Listener

log = logging.getLogger("switch.cli")

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def version() -> str:
    try:
        return metadata.version("switchboard")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "0.1.0"


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), format=LOG_FORMAT,
                        datefmt="%Y-%m-%dT%H:%M:%S", stream=sys.stderr)


def _error(lines: Sequence[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def _effective_config(args: argparse.Namespace) -> tuple[SwitchConfig, bool]:
    """The config to run, with command-line overrides applied; ConfigError on any problem."""
    from .demo import demo_config

    config = load_config(args.config) if args.config else demo_config()
    updates: dict[str, object] = {}
    if args.sip:
        problems = []
        for item in args.sip:
            try:
                Listener.parse(item)
            except ValueError as exc:
                problems.append(f"--sip: {exc}")
        problems += [f"--sip: {line}" for line in listener_clashes(list(args.sip))]
        if problems:
            raise ConfigError(problems)
        updates["listeners"] = list(args.sip)
    if args.http:
        try:
            parse_hostport(args.http)
        except ValueError as exc:
            raise ConfigError([f"--http: {exc}"]) from None
        updates["http"] = config.http.model_copy(update={"listen": args.http})
    if args.data_dir:
        updates["node"] = config.node.model_copy(update={"data_dir": Path(args.data_dir)})
    if updates:
        config = config.model_copy(update=updates)
    return config, not args.config


def _print_banner(ready: dict[str, object], demo: bool, config: SwitchConfig) -> None:
    out = sys.stderr
    print(f"switchboard {ready['version']} is running (Ctrl-C to stop)", file=out)
    sip = ready["sip"]
    assert isinstance(sip, list)
    for item in sip:
        print(f"  SIP      {item}", file=out)
    print(f"  HTTP     {ready['http']}   (health: {ready['http']}/healthz,"
          f" API docs: {ready['http']}/docs)", file=out)
    print(f"  domain   {config.node.domain} (digest realm {config.node.effective_realm})",
          file=out)
    print(f"  media    {ready.get('media')}" + ("" if ready.get("media") != "unavailable"
                                                 else " (calls are refused with 503)"),
          file=out)
    if demo:
        first, last = DEMO_AGENTS[0], DEMO_AGENTS[-1]
        print(f"  demo agents {first}-{last}: user = number, password = demo<number>"
              f" (e.g. {first} / {demo_password(first)})", file=out)
        numbers = ", ".join(f"{n} -> {t}" for n, t in DEMO_NUMBERS.items())
        print(f"  demo numbers: {numbers}", file=out)
        print("  call 100 from a softphone (or SIPp from 127.0.0.1) to hear the demo IVR",
              file=out)
        print("  a demo agent whose phone registers is ready: call 200 from another phone to"
              " reach it (switchboard ctl agents)", file=out)
        print("  trusted trunk: 127.0.0.1 and ::1 (their INVITEs to these numbers need no"
              " auth)", file=out)
    out.flush()


async def _serve(config: SwitchConfig, demo: bool, args: argparse.Namespace) -> int:
    from .app import Node, tune_gc

    def reread() -> SwitchConfig:
        return _effective_config(args)[0]

    node = Node(config, version=version(), config_source=None if demo else reread)
    try:
        ready = await node.start(config.parsed_listeners)
        await node.start_media()  # calls get 503 (and a log line) when no engine can start
        tune_gc()
    except (OSError, ValueError) as exc:  # port in use, bad address, unusable certificate
        # strerror names the listener (switch/transport/manager.py); "[Errno 98]" is noise.
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        log.error("could not start: %s", why)
        await node.stop_now()
        return 1
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, node.request_stop)
    loop.add_signal_handler(signal.SIGHUP, node.reload)  # it logs what it did or refused
    media = node.status()["media"]
    ready["media"] = media.get("engine") if media.get("ready") else "unavailable"
    _print_banner(ready, demo, config)
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    await node.wait_stopped()
    await node.stop()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    try:
        config, demo = _effective_config(args)
    except ConfigError as exc:
        _error(exc.lines)
        return 2
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; keep running without
        return asyncio.run(_serve(config, demo, args))
    result: int = uvloop.run(_serve(config, demo, args))
    return result


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        _error(exc.lines)
        return 2
    routing = config.routing or {}
    print(f"{args.file}: OK ({len(config.accounts)} accounts, {len(config.numbers)} numbers,"
          f" {len(config.ivr)} IVR flows, {len(routing.get('queues', []))} queues,"
          f" {len(routing.get('agents', []))} routed agents;"
          f" listeners: {', '.join(config.listeners)})")
    return 0


def cmd_media(args: argparse.Namespace) -> int:
    """A standalone media engine: one engine can serve several nodes, or a Kamailio."""
    from .media.__main__ import main as engine_main

    return engine_main(list(getattr(args, "engine_args", [])))


def cmd_version(args: argparse.Namespace) -> int:
    print(version())
    return 0


def _routing_commands() -> dict[str, tuple[Callable[[argparse.ArgumentParser], None],
                                          Callable[[argparse.Namespace], int]]]:
    """Subcommands contributed by the routing package (simulate, staffing, replay), if any."""
    try:
        routing_cli = importlib.import_module("routing.cli")
    except ImportError:
        return {}
    commands = getattr(routing_cli, "COMMANDS", None)
    return dict(commands) if isinstance(commands, dict) else {}


_ROUTING_HELP = {
    "simulate": "simulate a contact center scenario and report service level, ASA, abandonment",
    "staffing": "agents needed for a call volume (Erlang C and Erlang A)",
    "replay": "replay a recorded event log with another routing config and compare KPIs",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard",
                                     description="Contact-center softswitch and router.")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the node (the built-in demo without --config)")
    run.add_argument("--config", metavar="FILE", help="YAML configuration file")
    run.add_argument("--sip", metavar="URI", action="append",
                     help="SIP listener like udp:127.0.0.1:5060 (tcp, tls, ws, wss too);"
                          " repeat it; replaces the config's listeners; port 0 = any free")
    run.add_argument("--http", metavar="HOST:PORT", help="HTTP listener (health, API)")
    run.add_argument("--data-dir", metavar="DIR", help="where the node keeps its files")
    run.add_argument("--log-level", dest="run_log_level", default=None,
                     choices=["debug", "info", "warning", "error"], help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=cmd_check_config)

    ctl.add_parser(sub)

    media = sub.add_parser("media", help="run a media engine on its own (ng control, as"
                                         " rtpengine's --listen-ng); --help for its flags",
                           add_help=False)
    media.set_defaults(func=cmd_media)  # main() hands its arguments over untouched

    ver = sub.add_parser("version", help="print the version")
    ver.set_defaults(func=cmd_version)

    for name, (configure, func) in _routing_commands().items():
        summary = (func.__doc__ or "").strip().splitlines()
        help_text = summary[0].rstrip(".") if summary else _ROUTING_HELP.get(name)
        sub_parser = sub.add_parser(name, help=help_text)
        configure(sub_parser)
        sub_parser.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["media"]:  # the engine parses its own flags (python -m switch.media)
        return cmd_media(argparse.Namespace(engine_args=words[1:]))
    args = build_parser().parse_args(words)
    _setup_logging(getattr(args, "run_log_level", None) or args.log_level)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
