"""``python -m loadtest run|report|tenant``: the load-test kit's command line.

  run     drive a load test against a node (agents, their registration, callers) and write
          run.json, report.md and plots in --out
  report  rewrite report.md and the plots of a run directory from its run.json
  tenant  write a node config for a load tenant (agents, a queue, the generator trusted)

(``python -m loadtest.users`` writes a users CSV for SIPp's -inf on its own.)
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from . import tenant
from .runner import LoadOptions, RunError, run_load


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _add_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, metavar="HOST:PORT",
                        help="the node's SIP address")
    parser.add_argument("--cps", type=_positive_float, required=True,
                        help="new callers per second")
    parser.add_argument("--agents", type=int, required=True, help="agents to register")
    parser.add_argument("--duration", type=_positive_float, required=True,
                        help="seconds of new calls (calls = cps x duration)")
    parser.add_argument("--number", default="200", help="the number callers dial (the queue)")
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    parser.add_argument("--answer-delay", type=float, default=1.0,
                        help="seconds an agent rings before answering")
    parser.add_argument("--talk-time", type=float, default=5.0,
                        help="seconds an agent talks before hanging up")
    parser.add_argument("--max-wait", type=_positive_float, default=120.0,
                        help="a caller not hung up by the node after this many seconds "
                             "hangs up itself (counted, not a failure)")
    users = parser.add_mutually_exclusive_group()
    users.add_argument("--users", type=Path, default=None,
                       help="users CSV (python -m loadtest.users); default: numbered users "
                            "from --user-start with --password-prefix")
    users.add_argument("--password-prefix", default="load",
                       help="password = prefix + username (the tenant's rule)")
    parser.add_argument("--user-start", type=int, default=1001, help="first agent username")
    parser.add_argument("--domain", default="switchboard.local",
                        help="SIP domain of the agents' AORs")
    parser.add_argument("--local-ip", default="127.0.0.1",
                        help="address SIPp binds and advertises (SIP and media)")
    parser.add_argument("--agent-port", type=int, default=None,
                        help="port of the agent_answer SIPp (the agents' contact); default: "
                             "a free one. Fix it for static contacts (tenant --agent-contact)")
    parser.add_argument("--no-register", dest="register", action="store_false",
                        help="do not register the agents: for agents on static contacts "
                             "(tenant --agent-contact HOST:PORT, with --agent-port PORT)")
    parser.add_argument("--register-from-agent-port", action="store_true",
                        help="register from the agent port before the agent_answer SIPp "
                             "starts on it (UDP): for nodes that ring a registered agent at "
                             "the REGISTER's source address, not at its Contact")
    parser.add_argument("--register-rate", type=_positive_float, default=100.0,
                        help="registrations per second")
    parser.add_argument("--expires", type=int, default=3600,
                        help="registration lifetime asked for (runs must be shorter)")
    parser.add_argument("--node-pid", type=int, default=None,
                        help="sample this process's CPU and RSS from /proc (same machine)")
    parser.add_argument("--node-http", default=None, metavar="URL",
                        help="the node's HTTP base URL (e.g. http://127.0.0.1:8080): active "
                             "calls and contacts from /healthz, and CPU/RSS when it reports "
                             "them and --node-pid is not given")
    parser.add_argument("--media", action="store_true",
                        help="send RTP (g711a.pcap) from callers and agents")
    parser.add_argument("--out", type=Path, default=Path("loadtest-out"),
                        help="directory for run.json, report.md, plots and SIPp's files")
    parser.add_argument("--quiet", action="store_true", help="no progress line on stderr")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _run(args: argparse.Namespace) -> int:
    from .report import write_report

    # SIGTERM stops a run like Ctrl-C: the SIPp processes are stopped, run.json is written.
    signal.signal(signal.SIGTERM, _interrupt)

    try:
        options = LoadOptions(
            target=args.target, cps=args.cps, agents=args.agents, duration=args.duration,
            out=args.out, number=args.number, transport=args.transport,
            answer_delay=args.answer_delay, talk_time=args.talk_time, max_wait=args.max_wait,
            users=args.users, user_start=args.user_start,
            password_prefix=args.password_prefix, domain=args.domain,
            local_ip=args.local_ip, agent_port=args.agent_port, register=args.register,
            register_from_agent_port=args.register_from_agent_port,
            register_rate=args.register_rate, expires=args.expires, node_pid=args.node_pid,
            node_http=args.node_http, media=args.media, progress=not args.quiet)
        data = run_load(options)
    except (ValueError, RunError) as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 2
    report = write_report(options.out)
    totals = data["totals"]
    print(f"{totals['calls_attempted']} calls: {totals['calls_successful']} successful, "
          f"{totals['calls_failed']} failed, {totals['caller_hangups']} callers hung up "
          f"themselves. Report: {report}")
    return 0 if data["ok"] else 1


def _report(args: argparse.Namespace) -> int:
    from .report import write_report

    path = write_report(args.directory)
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest",
                                     description="Contact-center load tests with SIPp.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub.add_parser("run", help="run a load test"))
    report = sub.add_parser("report", help="rewrite report.md and plots from run.json")
    report.add_argument("directory", type=Path)
    tenant.add_arguments(sub.add_parser("tenant", help="write a load tenant's node config"))
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "report":
        return _report(args)
    try:
        return tenant.main(args)
    except ValueError as exc:
        parser.error(str(exc))
    return 2


if __name__ == "__main__":
    sys.exit(main())
