"""``switchboard ctl``: inspect and steer a running node over its HTTP listener.

    switchboard ctl registrations          AORs, contacts, transport, expiry, reachability
    switchboard ctl bans                   active bans with their reasons
    switchboard ctl unban ADDRESS [--user NAME]   lift a ban (all of an address by default)
    switchboard ctl transactions           SIP transactions in flight
    switchboard ctl media                  calls and the media engine's counters
    switchboard ctl reload                 re-read the config file (as SIGHUP does)

The node is found at ``--url``, else at the ``http.listen`` of ``--config FILE``, else at
http://127.0.0.1:8080 (the default). The node only answers these from ``http.control_from``
(this host by default). ``--json`` prints the node's answer as it is, for scripts.

Exit codes: 0 done, 1 the node said no (no such ban, reload refused) or cannot be reached,
2 bad usage or config.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from .config import ConfigError, load_config, parse_hostport

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = 10.0


def add_parser(sub: Any) -> None:
    ctl = sub.add_parser("ctl", help="inspect and control a running node (registrations, bans,"
                                     " transactions, reload)")
    ctl.add_argument("--url", help=f"the node's HTTP address (default {DEFAULT_URL})")
    ctl.add_argument("--config", metavar="FILE", help="find the node by this config's"
                                                      " http.listen")
    ctl.add_argument("--json", action="store_true", help="print the raw JSON answer")
    actions = ctl.add_subparsers(dest="action", required=True)
    actions.add_parser("registrations", help="registered AORs and their contacts")
    actions.add_parser("bans", help="active bans")
    unban = actions.add_parser("unban", help="lift the bans of an address")
    unban.add_argument("source", metavar="ADDRESS")
    unban.add_argument("--user", help="lift only the block of this username")
    actions.add_parser("transactions", help="SIP transactions in flight")
    actions.add_parser("media", help="calls and the media engine's counters")
    actions.add_parser("reload", help="re-read and apply the config file")
    actions.add_parser("agents", help="agents: state, calls, reachable phones")
    actions.add_parser("calls", help="queued and connected calls")
    sup = actions.add_parser("supervise", help="listen to, whisper into or barge into a call")
    sup.add_argument("call_id", metavar="CALL")
    sup.add_argument("supervisor", nargs="?", help="the supervisor's account (to join)")
    sup.add_argument("mode", nargs="?", choices=["listen", "whisper", "barge"])
    sup.add_argument("--stop", action="store_true", help="the supervisor leaves")
    transfer = actions.add_parser("transfer", help="blind transfer of a connected call")
    transfer.add_argument("call_id", metavar="CALL")
    transfer.add_argument("target", help="queue:NAME, agent:ID or number:NUMBER")
    agent = actions.add_parser("agent", help="log an agent in or out, set it ready or not")
    agent.add_argument("agent_id", metavar="AGENT")
    agent.add_argument("agent_action", choices=["login", "logout", "ready", "not-ready",
                                                "mobile", "phones", "dial"])
    agent.add_argument("number", nargs="?", help="with mobile: the phone number calls go to;"
                                                 " with dial: the customer's number")
    agent.add_argument("--reason", default="", help="why not ready (a reason code)")
    ctl.set_defaults(func=run)


def node_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url).rstrip("/")
    if args.config:
        host, port = parse_hostport(load_config(args.config).http.listen)
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return DEFAULT_URL


def call(url: str, method: str, path: str) -> tuple[int, Any]:
    request = urllib.request.Request(url + path, method=method,
                                     headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, {"detail": body.decode(errors="replace")}


def run(args: argparse.Namespace) -> int:
    try:
        url = node_url(args)
    except (ConfigError, ValueError) as exc:
        lines = exc.lines if isinstance(exc, ConfigError) else [str(exc)]
        print("\n".join(lines), file=sys.stderr)
        return 2
    method, path = {
        "registrations": ("GET", "/ctl/registrations"),
        "bans": ("GET", "/ctl/bans"),
        "transactions": ("GET", "/ctl/transactions"),
        "media": ("GET", "/ctl/media"),
        "reload": ("POST", "/ctl/reload"),
        "agents": ("GET", "/ctl/agents"),
        "calls": ("GET", "/ctl/calls"),
    }.get(args.action, ("DELETE", ""))
    if args.action == "transfer":
        method = "POST"
        path = (f"/ctl/calls/{urllib.parse.quote(args.call_id, safe='')}/transfer?"
                + urllib.parse.urlencode({"to": args.target}))
    if args.action == "supervise":
        path = f"/ctl/calls/{urllib.parse.quote(args.call_id, safe='')}/supervise"
        if args.stop:
            method = "DELETE"
        else:
            method = "POST"
            # "supervise CALL whisper" changes the mode; "supervise CALL 1005 [MODE]" joins
            if args.supervisor in ("listen", "whisper", "barge") and args.mode is None:
                args.supervisor, args.mode = None, args.supervisor
            query = {k: v for k, v in (("supervisor", args.supervisor), ("mode", args.mode))
                     if v}
            path += "?" + urllib.parse.urlencode(query)
    if args.action == "agent":
        method = "POST"
        path = (f"/ctl/agents/{urllib.parse.quote(args.agent_id, safe='')}/"
                f"{args.agent_action.replace('-', '_')}")
        query = {key: value for key, value in (("reason", args.reason),
                                                ("number", args.number)) if value}
        if query:
            path += "?" + urllib.parse.urlencode(query)
    if args.action == "unban":
        path = "/ctl/bans/" + urllib.parse.quote(args.source, safe="")
        if args.user is not None:
            path += "?username=" + urllib.parse.quote(args.user, safe="")
    try:
        status, body = call(url, method, path)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"switchboard ctl: cannot reach the node at {url}: {reason}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(body, indent=2))
        return 0 if status < 400 else 1
    if status >= 400:
        _print_refusal(status, body)
        return 1
    PRINTERS[args.action](body)
    return 0


def _print_refusal(status: int, body: Any) -> None:
    if isinstance(body, dict) and body.get("problems"):
        print("reload refused; the node keeps its running configuration:", file=sys.stderr)
        for line in body["problems"]:
            print(f"  {line}", file=sys.stderr)
        return
    detail = body.get("detail") if isinstance(body, dict) else body
    print(f"switchboard ctl: the node answered {status}: {detail}", file=sys.stderr)


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths,
                                                                      strict=True)).rstrip())


def _print_registrations(body: list[dict[str, Any]]) -> None:
    rows = []
    for entry in body:
        for contact in entry["contacts"]:
            reachable = {True: "yes", False: "NO", None: "-"}[contact["reachable"]]
            rows.append([entry["aor"], contact["contact"], contact["transport"],
                         contact["source"], f"{contact['expires_in']}s", reachable,
                         contact.get("user_agent") or ""])
    _table(rows, ["AOR", "CONTACT", "TRANSPORT", "SOURCE", "EXPIRES", "REACHABLE",
                  "USER AGENT"])
    print(f"{len(body)} AORs, {len(rows)} contacts")


def _print_bans(body: list[dict[str, Any]]) -> None:
    rows = [[ban["source"], ban["scope"], ban["username"] or "*", f"{ban['remaining']}s",
             ban["reason"]] for ban in body]
    _table(rows, ["SOURCE", "SCOPE", "USERNAME", "LEFT", "REASON"])
    print(f"{len(rows)} active bans")


def _print_unban(body: dict[str, Any]) -> None:
    for ban in body["lifted"]:
        who = f" user {ban['username']}" if ban["username"] is not None else ""
        print(f"lifted: {ban['source']}{who} ({ban['scope']} ban: {ban['reason']})")


def _print_transactions(body: list[dict[str, Any]]) -> None:
    rows = []
    for tx in body:
        left_s = tx.get("next_timer_in")
        left = f"{left_s:.1f}s" if isinstance(left_s, int | float) else "-"
        rows.append([tx["side"], tx["method"], tx["state"], tx["peer"], left,
                     tx.get("call_id") or "", tx["key"]])
    _table(rows, ["SIDE", "METHOD", "STATE", "PEER", "NEXT TIMER", "CALL-ID", "KEY"])
    print(f"{len(rows)} transactions")


def _print_reload(body: dict[str, Any]) -> None:
    print("configuration reloaded")
    if body.get("removed_registrations"):
        print(f"  {body['removed_registrations']} registrations of removed accounts dropped")
    for name in body.get("needs_restart", []):
        print(f"  {name} changed: takes effect at the next restart")


def _print_media(body: dict[str, Any]) -> None:
    print(json.dumps(body, indent=2))


def _print_agents(body: list[dict[str, Any]]) -> None:
    rows = [[a["agent"], a["state"], a["reason"] or "", str(a["calls"]), str(a["offers"]),
             str(a["calls_today"]), str(a["phones"])] for a in body]
    _table(rows, ["AGENT", "STATE", "REASON", "CALLS", "OFFERS", "TODAY", "PHONES"])
    ready = sum(a["state"] == "ready" for a in body)
    print(f"{len(body)} agents, {ready} ready")


def _print_calls(body: list[dict[str, Any]]) -> None:
    rows = [[c["call"], c["queue"], c["stage"], c["agent"] or "-", f"{c['seconds']}s"]
            for c in body]
    _table(rows, ["CALL", "QUEUE", "STAGE", "AGENT", "FOR"])
    print(f"{len(rows)} calls")


def _print_transfer(body: dict[str, Any]) -> None:
    print(f"call {body['call']}: transferred to {body['target']}")


def _print_supervise(body: dict[str, Any]) -> None:
    mode = f" ({body['mode']})" if body.get("mode") else ""
    print(f"call {body['call']}: supervisor {body['supervisor']} {body['state']}{mode}")


def _print_agent(body: dict[str, Any]) -> None:
    reason = f" ({body['reason']})" if body.get("reason") else ""
    mobile = f", calls to {body['mobile']}" if body.get("mobile") else ""
    call = f", call {body['call']} (ringing the agent first)" if body.get("call") else ""
    print(f"agent {body['agent']}: {body['state']}{reason}{mobile}{call}")


PRINTERS: dict[str, Callable[[Any], None]] = {
    "agents": _print_agents, "agent": _print_agent, "calls": _print_calls,
    "supervise": _print_supervise, "transfer": _print_transfer,
    "media": _print_media,
    "registrations": _print_registrations, "bans": _print_bans, "unban": _print_unban,
    "transactions": _print_transactions, "reload": _print_reload,
}
