"""A node configuration for a load-test tenant: one queue, N agents, the generator trusted.

``python -m loadtest tenant --agents 200 --queue-number 200 -o node.yaml`` writes a complete
config for ``switchboard run --config node.yaml``:

- ``accounts``: the agents, named as :mod:`loadtest.users` names them (``--start`` 1001 on,
  password ``--password-prefix`` + number), so ``python -m loadtest run`` with the same
  ``--user-start``/``--password-prefix`` registers them;
- ``numbers``: ``{"200": "queue:load"}``; ``routing``: one skill ``load``, every agent at
  level 5, queue ``load`` (``load >= 1``, longest idle first);
- ``calls.auto_ready``: an agent that registers is logged in and ready at once (and, with
  ``--agent-media-timeout``, ``calls.agent_media_timeout``: how long a connected agent may
  send no RTP; raise it for signalling-only runs without ``--media``);
- ``security``: the load generator's addresses (``--generator``, 127.0.0.1 by default) are
  trusted sources (its INVITEs need no digest challenge: queue_caller.xml has no
  credentials), the rate limit is lifted, digests are MD5 only (SIPp computes MD5 only);
- with ``--agent-contact HOST:PORT`` every account gets a static contact
  ``sip:USERNAME@HOST:PORT``: the node rings that URI without a registration, so one SIPp
  running agent_answer.xml on HOST:PORT answers for all agents (``run --no-register``).
"""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path
from typing import Any

import yaml

from .users import numbered_users

DEFAULT_QUEUE = "load"
DEFAULT_SKILL = "load"
DEFAULT_LISTENERS = ("udp:127.0.0.1:5060", "tcp:127.0.0.1:5060")
DEFAULT_HTTP = "127.0.0.1:8080"
DEFAULT_DOMAIN = "switchboard.local"
DEFAULT_PASSWORD_PREFIX = "load"
DEFAULT_USER_START = 1001


def _network(text: str) -> str:
    """An address or CIDR network as the node's ``trusted_sources`` wants it (``/32`` added)."""
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an IP address or CIDR network") from exc


def _hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def tenant_config(*, agents: int, queue_number: str = "200", queue: str = DEFAULT_QUEUE,
                  skill: str = DEFAULT_SKILL, start: int = DEFAULT_USER_START,
                  password_prefix: str = DEFAULT_PASSWORD_PREFIX,
                  agent_contact: str | None = None, agent_transport: str | None = None,
                  generators: tuple[str, ...] = ("127.0.0.1",),
                  listeners: tuple[str, ...] = DEFAULT_LISTENERS, http_listen: str = DEFAULT_HTTP,
                  domain: str = DEFAULT_DOMAIN, name: str = "loadtest",
                  auto_ready: bool = True,
                  agent_media_timeout: float | None = None) -> dict[str, Any]:
    """The tenant as plain data (what the YAML file holds)."""
    users = numbered_users(agents, start=start, password_prefix=password_prefix)
    if queue_number in {u.username for u in users}:
        raise ValueError(f"queue number {queue_number!r} is also an agent's username; choose "
                         "another --queue-number or --start")
    contact_host: str | None = None
    contact_port = 0
    if agent_contact is not None:
        contact_host, contact_port = _hostport(agent_contact)
    accounts: list[dict[str, Any]] = []
    for user in users:
        account: dict[str, Any] = {"username": user.username, "password": user.password}
        if contact_host is not None:
            host = f"[{contact_host}]" if ":" in contact_host else contact_host
            uri = f"sip:{user.username}@{host}:{contact_port}"
            if agent_transport is not None and agent_transport != "udp":
                uri += f";transport={agent_transport}"
            account["contact"] = uri
        accounts.append(account)
    calls: dict[str, Any] = {"auto_ready": auto_ready}
    if agent_media_timeout is not None:
        calls["agent_media_timeout"] = agent_media_timeout
    return {
        "node": {"name": name, "domain": domain, "accept_any_domain": True},
        "listeners": list(listeners),
        "http": {"listen": http_listen},
        "security": {
            "trusted_sources": [_network(g) for g in generators],
            "rate_limit": {"rate": 100000, "burst": 100000},
            "digest_algorithms": ["MD5"],
        },
        "calls": calls,
        "accounts": accounts,
        "numbers": {str(queue_number): f"queue:{queue}"},
        "routing": {
            "skills": [skill],
            "agents": [{"id": u.username, "skills": {skill: 5}} for u in users],
            "queues": [{"id": queue, "expression": f"{skill} >= 1",
                        "strategy": "longest_idle"}],
        },
    }


def tenant_yaml(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agents", type=int, required=True, help="number of agent accounts")
    parser.add_argument("--queue-number", default="200", help="the number callers dial")
    parser.add_argument("--queue", default=DEFAULT_QUEUE, help="the queue's id")
    parser.add_argument("--start", type=int, default=DEFAULT_USER_START,
                        help="first agent username (numbers count up from it)")
    parser.add_argument("--password-prefix", default=DEFAULT_PASSWORD_PREFIX,
                        help="password = prefix + username")
    parser.add_argument("--agent-contact", default=None, metavar="HOST:PORT",
                        help="static contact of every agent: sip:USERNAME@HOST:PORT (the "
                             "agent_answer SIPp); without it agents must register")
    parser.add_argument("--agent-transport", choices=("udp", "tcp"), default=None,
                        help="add ;transport= to the static contacts (udp: none)")
    parser.add_argument("--agent-media-timeout", type=float, default=None, metavar="SECONDS",
                        help="calls.agent_media_timeout: the node drops a connected agent "
                             "whose phone sends no RTP for this long (node default 1.5 s); "
                             "raise it (e.g. 300) for load runs without --media")
    parser.add_argument("--generator", action="append", default=None, metavar="ADDRESS",
                        help="load generator address or network, trusted by the node "
                             "(repeatable; default 127.0.0.1)")
    parser.add_argument("--listen", action="append", default=None, metavar="LISTENER",
                        help="node SIP listener, e.g. udp:0.0.0.0:5060 (repeatable; default "
                             + ", ".join(DEFAULT_LISTENERS) + ")")
    parser.add_argument("--http", default=DEFAULT_HTTP, help="node HTTP listen address")
    parser.add_argument("--domain", default=DEFAULT_DOMAIN)
    parser.add_argument("-o", "--output", type=Path, default=Path("node.yaml"))


def main(args: argparse.Namespace) -> int:
    config = tenant_config(
        agents=args.agents, queue_number=args.queue_number, queue=args.queue, start=args.start,
        password_prefix=args.password_prefix, agent_contact=args.agent_contact,
        agent_transport=args.agent_transport,
        generators=tuple(args.generator or ("127.0.0.1",)),
        listeners=tuple(args.listen or DEFAULT_LISTENERS), http_listen=args.http,
        domain=args.domain, agent_media_timeout=args.agent_media_timeout)
    args.output.write_text(tenant_yaml(config))
    print(f"wrote {args.output}: {args.agents} agents, number {args.queue_number} -> "
          f"queue:{args.queue}")
    return 0
