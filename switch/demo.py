"""The built-in demo tenant: what ``switchboard run`` serves without ``--config``.

Documented in README.md; keep the two in step.

- Domain ``switchboard.local`` (the digest realm), but REGISTER is accepted for any domain,
  because a newcomer's softphone will say 127.0.0.1, localhost or the machine's IP.
- Agents ``1001``-``1020``, password ``demo`` + the number (``demo1001``...).
- ``100`` -> main IVR, ``200`` -> queue support, ``201`` -> queue sales, ``202`` -> queue vip.
- 127.0.0.1 and ::1 are the carrier trunk: their INVITEs to those numbers need no challenge.
  Registrations, and INVITEs from anywhere else, always need digest auth.

The ``routing:`` section is plain data in the shape the routing core's config expects
(skills, queues, agents with skill levels); it is validated by the routing core, not here.
"""

from __future__ import annotations

from typing import Any

from .config import SwitchConfig, parse_config
from .ivr.demo import demo_flows

DEMO_DOMAIN = "switchboard.local"
DEMO_AGENTS = [str(n) for n in range(1001, 1021)]
DEMO_NUMBERS = {
    "100": "ivr:main",
    "200": "queue:support",
    "201": "queue:sales",
    "202": "queue:vip",
}
DEFAULT_LISTENERS = ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060", "ws:127.0.0.1:5066"]
DEFAULT_HTTP = "127.0.0.1:8080"


def demo_password(username: str) -> str:
    """The documented demo password of an agent account (never use the demo in production)."""
    return f"demo{username}"


def _agent_skills(index: int) -> dict[str, int]:
    """Skills spread so every queue has agents at several levels, and some agents overlap."""
    skills = {"english": 5 + index % 5}
    if index < 10:
        skills["support"] = 4 + index % 6
    if index >= 8:
        skills["sales"] = 3 + index % 7
    if index % 4 == 0:
        skills["vip"] = 7 + index % 3
    if index % 3 == 0:
        skills["spanish"] = 6
    return skills


def demo_routing() -> dict[str, Any]:
    agents = []
    for index, username in enumerate(DEMO_AGENTS):
        agents.append({
            "id": username,
            "name": f"Agent {username}",
            "group": "backup" if index >= 16 else "frontline",
            "tier": "senior" if index % 4 == 0 else "junior",
            "skills": _agent_skills(index),
        })
    return {
        "skills": ["english", "spanish", "support", "sales", "vip"],
        "groups": ["frontline", "backup"],
        "agent_tiers": ["junior", "senior"],
        "customer_tiers": [{"name": "vip", "priority_boost": 50, "min_agent_tier": "senior"}],
        "agents": agents,
        "queues": [
            {"id": "support", "expression": "support >= 5", "strategy": "longest_idle",
             "groups": ["frontline"], "service_level": {"percent": 80, "seconds": 20},
             "widening": [{"after": 30, "relax": 2}, {"after": 60, "add_group": "backup"}]},
            {"id": "sales", "expression": "sales >= 4", "strategy": "longest_idle",
             "groups": ["frontline"], "service_level": {"percent": 80, "seconds": 30},
             "widening": [{"after": 45, "add_group": "backup"},
                          {"after": 300, "overflow_to": "callback"}]},
            {"id": "vip", "expression": "vip >= 7 or support >= 8", "priority": 10,
             "strategy": "best_skill_match", "service_level": {"percent": 90, "seconds": 10},
             "widening": [{"after": 20, "relax": 1}, {"after": 60, "overflow_to": "support"}]},
        ],
    }


def demo_data() -> dict[str, Any]:
    """The demo as the plain data a YAML file would hold (examples/ and tests use it)."""
    return {
        "node": {"name": "switchboard-demo", "domain": DEMO_DOMAIN, "accept_any_domain": True},
        "listeners": list(DEFAULT_LISTENERS),
        "http": {"listen": DEFAULT_HTTP},
        # MD5 only: JsSIP (our webphone), SIPp and baresip abort on a SHA-256 challenge even
        # when an MD5 one follows, so a demo meant for any softphone must not offer it.
        # Production configs choose (examples/switchboard.yaml offers SHA-256 first).
        "security": {"trusted_sources": ["127.0.0.1/32", "::1/128"],
                     "digest_algorithms": ["MD5"]},
        "accounts": [
            {"username": u, "password": demo_password(u), "display_name": f"Agent {u}"}
            for u in DEMO_AGENTS
        ],
        "numbers": dict(DEMO_NUMBERS),
        # A demo agent whose phone registers is logged in and ready on its skills' queues.
        "calls": {"auto_ready": True},
        # The flow behind 100: greeting, business hours, VIP look-up, menu, self-service.
        "ivr": demo_flows(),
        "routing": demo_routing(),
    }


def demo_config() -> SwitchConfig:
    return parse_config(demo_data(), "built-in demo")
