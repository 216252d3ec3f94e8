"""Reload planning and the operator views, pure."""

from __future__ import annotations

from switch.config import parse_config
from switch.control import ban_row, plan_reload, registrations_view
from switch.demo import demo_data
from switch.registrar.bans import Ban
from switch.registrar.locations import ContactUpdate, LocationService
from switch.registrar.qualify import Qualifier
from switch.sip.address import Peer
from switch.sip.uri import parse_uri


def _config(edit: object = None) -> object:
    data = demo_data()
    if edit is not None:
        edit(data)  # type: ignore[operator]
    return parse_config(data)


def test_policy_changes_apply_and_socket_bound_ones_wait_for_a_restart() -> None:
    old = _config()

    def edit(data: dict) -> None:  # type: ignore[type-arg]
        data["listeners"] = ["udp:127.0.0.1:5999"]
        data["node"]["domain"] = "elsewhere.example"
        data["security"]["auth_ban"] = {"user_threshold": 3}
        data["accounts"] = data["accounts"][:18]
        data["numbers"]["299"] = "agent:1001"

    plan = plan_reload(old, _config(edit))  # type: ignore[arg-type]
    assert plan.needs_restart == ["listeners", "node.domain"]
    assert plan.config.listeners == old.listeners  # type: ignore[attr-defined]
    assert plan.config.node.domain == "switchboard.local"
    assert plan.config.node.accept_any_domain  # the rest of the section is the new one
    assert plan.config.security.auth_ban.user_threshold == 3
    assert plan.config.numbers["299"] == "agent:1001"
    assert plan.removed_accounts == ["1019", "1020"]


def test_same_config_changes_nothing() -> None:
    old = _config()
    plan = plan_reload(old, _config())  # type: ignore[arg-type]
    assert plan.needs_restart == [] and plan.removed_accounts == []
    assert plan.config == old


def test_registrations_view() -> None:
    locations = LocationService(5)
    qualifier = Qualifier(30, 5, 2)
    peer = Peer("tcp", "192.0.2.5", 40000, conn_id=7)
    events = locations.apply(
        "sip:1001@switchboard.local",
        [ContactUpdate(uri=parse_uri("sip:1001@192.0.2.5:40000;transport=tcp"),  # type: ignore[arg-type]
                       expires=600)],
        call_id="c", cseq=1, peer=peer, now=1000.0, user_agent="baresip")
    for event in events:
        qualifier.observe(event, 1000.0)
    [row] = registrations_view(locations, qualifier, 1100.0)
    assert row["aor"] == "sip:1001@switchboard.local"
    [contact] = row["contacts"]
    assert contact == {"contact": "sip:1001@192.0.2.5:40000;transport=tcp", "transport": "tcp",
                       "source": "192.0.2.5:40000", "expires_in": 500, "reachable": True,
                       "user_agent": "baresip", "q": None}
    assert registrations_view(locations, qualifier, 1601.0) == []


def test_ban_row_counts_down() -> None:
    row = ban_row(Ban("192.0.2.7", "1001", "10 failures", 100.0, 400.0), 250.4)
    assert row["remaining"] == 150 and row["scope"] == "user" and row["username"] == "1001"
