"""Operating a running node: the security log through fail2ban, config reload (``ctl`` and
SIGHUP), ``ctl`` registrations and transactions, and the offline API docs page."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from switch.demo import demo_data
from tests.integration.conftest import ROOT_DIR, RunningNode, require
from tests.integration.ctl import ctl, ctl_json
from tests.integration.sipclient import (
    SipConnection,
    SipUser,
    digest_authorization,
    pick_challenge,
    wait_for,
)

pytestmark = pytest.mark.integration


# -- the security log and fail2ban ------------------------------------------------------------

def _fail2ban_filter(tmp_path: Path) -> Path:
    """The filter exactly as docs/security.md shows it (so the docs cannot drift)."""
    text = (ROOT_DIR / "docs" / "security.md").read_text()
    match = re.search(r"```ini\n(\[Definition\]\n.*?)```", text, re.S)
    assert match, "docs/security.md lost its fail2ban filter"
    path = tmp_path / "switchboard-filter.conf"
    path.write_text(match.group(1))
    return path


def _crafted_register(conn: SipConnection) -> None:
    """A username trying to smuggle in another source address (log injection)."""
    user = SipUser(conn, "1003")
    uri = user.registrar_uri()
    first = conn.request(user.build("REGISTER", uri, headers=["Expires: 60"]))
    assert first is not None and first.status == 401
    auth = digest_authorization(pick_challenge(first), "REGISTER", uri,
                                'x\\" source=10.9.9.9 user=\\"y', "guess")
    final = conn.request(user.build("REGISTER", uri, headers=["Expires: 60",
                                                               f"Authorization: {auth}"]))
    assert final is not None and final.status == 401


def test_fail2ban_matches_failed_logins_and_nothing_else(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    fail2ban_regex = require("fail2ban-regex", "fail2ban")
    node = start_node({"security": {"nonce_ttl": 1,
                                    "auth_ban": {"user_threshold": 3, "window": 60}}})
    with SipConnection("udp", node.addr("udp"), source_ip="127.0.0.5") as conn:
        for attempt in range(3):  # wrong password; the third blocks 1001 here
            SipUser(conn, "1001").register(f"wrong{attempt}")
        SipUser(conn, "4242").register("whatever")  # unknown user
        _crafted_register(conn)
    with SipConnection("udp", node.addr("udp"), source_ip="127.0.0.6") as conn:
        user = SipUser(conn, "1002")
        _, final = user.register("demo1002")  # a registration: INFO, not a failure
        assert final is not None and final.status == 200
        # A stale nonce: the right password over a nonce older than nonce_ttl.
        uri = user.registrar_uri()
        first = conn.request(user.build("REGISTER", uri, headers=["Expires: 600"]))
        assert first is not None and first.status == 401
        time.sleep(1.3)
        auth = digest_authorization(pick_challenge(first), "REGISTER", uri, "1002", "demo1002")
        stale = conn.request(user.build("REGISTER", uri, headers=[
            "Expires: 600", f"Authorization: {auth}"]))
        assert stale is not None and stale.status == 401 and "stale=true" in stale.raw.decode()
    assert wait_for(lambda: "reason=stale-nonce" in node.stderr(), timeout=5)
    log_lines = node.stderr().splitlines()
    failed = [line for line in log_lines if " auth failed: " in line]
    reasons = [re.search(r"reason=(\S+)", line).group(1) for line in failed]  # type: ignore[union-attr]
    assert reasons == ["wrong-password"] * 3 + ["unknown-user", "unknown-user", "stale-nonce"]
    assert any("ban started: source=127.0.0.5 scope=user" in line for line in log_lines)
    assert any('registered: source=127.0.0.6 user="1002"' in line for line in log_lines)
    crafted = next(line for line in failed if "10.9.9.9" in line)
    assert crafted.count("source=") == 2 and 'user="x\\x22 source=10.9.9.9' in crafted
    for secret in ("demo1002", "wrong0", "Authorization", "response="):
        assert secret not in node.stderr()

    result = subprocess.run([fail2ban_regex, "-o", "ip", str(node.stderr_path),
                             str(_fail2ban_filter(tmp_path))],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    ips = result.stdout.split()
    # One hit per failed login, each with the real source: never the smuggled 10.9.9.9.
    assert sorted(ips) == sorted(["127.0.0.5"] * 5 + ["127.0.0.6"]), result.stdout
    summary = subprocess.run([fail2ban_regex, str(node.stderr_path),
                              str(_fail2ban_filter(tmp_path))],
                             capture_output=True, text=True, timeout=60).stdout
    assert re.search(rf"Lines: {len(log_lines)} lines, 0 ignored, {len(failed)} matched",
                     summary), summary


# -- config reload ----------------------------------------------------------------------------

def _config(**changes: Any) -> dict[str, Any]:
    data = demo_data()
    data.update(changes)
    return data


def _registered(node: RunningNode, user: str) -> bool:
    rows = ctl_json(node, "registrations")
    return any(row["aor"].startswith(f"sip:{user}@") and row["contacts"] for row in rows)


def test_reload_applies_a_valid_config_and_refuses_a_broken_one(
        start_node: Callable[..., RunningNode]) -> None:
    node = start_node(config=_config())
    with SipConnection("udp", node.addr("udp")) as conn:
        _, final = SipUser(conn, "1001").register("demo1001")
        assert final is not None and final.status == 200
    assert _registered(node, "1001")

    # A valid change: a new agent account and a number for it.
    accounts = [*demo_data()["accounts"], {"username": "1099", "password": "newcomer-1099"}]
    numbers = {**demo_data()["numbers"], "299": "agent:1099"}
    node.config_path.write_text(yaml.safe_dump(_config(accounts=accounts, numbers=numbers)))
    result = ctl(node, "reload")
    assert result.returncode == 0, result.stderr
    assert "configuration reloaded" in result.stdout
    assert _registered(node, "1001"), "a reload dropped a registration"
    with SipConnection("udp", node.addr("udp")) as conn:
        _, final = SipUser(conn, "1099").register("newcomer-1099")
        assert final is not None and final.status == 200, final

    # A broken one is refused with the field path; the node keeps the running config.
    broken = _config(accounts=accounts, numbers=numbers)
    broken["routing"]["queues"][0]["strategy"] = "longest_idel"
    node.config_path.write_text(yaml.safe_dump(broken))
    result = ctl(node, "reload")
    assert result.returncode == 1
    assert "reload refused" in result.stderr
    assert "routing.queues[0].strategy: unknown strategy 'longest_idel'" in result.stderr
    assert node.alive() and _registered(node, "1001") and _registered(node, "1099")
    with SipConnection("udp", node.addr("udp")) as conn:
        _, final = SipUser(conn, "1099").register("newcomer-1099")
        assert final is not None and final.status == 200  # still the applied config

    # SIGHUP does the same: the account removed, its registration goes, the rest stays; a
    # domain change waits for a restart (and says so).
    changed = _config()
    changed["node"]["domain"] = "elsewhere.example"
    node.config_path.write_text(yaml.safe_dump(changed))
    os.kill(node.pid, signal.SIGHUP)
    assert wait_for(lambda: "configuration reloaded" in node.stderr()
                    and "waiting for a restart: node.domain" in node.stderr(), timeout=5), \
        node.stderr()[-2000:]
    assert _registered(node, "1001") and not _registered(node, "1099")
    with SipConnection("udp", node.addr("udp")) as conn:
        _, final = SipUser(conn, "1099").register("newcomer-1099")
        assert final is not None and final.status == 401
    assert node.healthz()["status"] == "ok"


def test_reload_of_the_demo_says_there_is_nothing_to_reload(node: RunningNode) -> None:
    result = ctl(node, "reload")
    assert result.returncode == 1 and "built-in demo" in result.stderr


# -- inspection -------------------------------------------------------------------------------

def test_ctl_lists_registrations_and_transactions(node: RunningNode) -> None:
    with SipConnection("tcp", node.addr("tcp")) as conn:
        _, final = SipUser(conn, "1005").register("demo1005")
        assert final is not None and final.status == 200
        listing = ctl(node, "registrations")
        assert listing.returncode == 0, listing.stderr
        assert "sip:1005@switchboard.local" in listing.stdout and " tcp " in listing.stdout
        [row] = [r for r in ctl_json(node, "registrations") if "1005" in r["aor"]]
        contact = row["contacts"][0]
        assert contact["transport"] == "tcp" and 500 < contact["expires_in"] <= 600
    # An INVITE left without its ACK keeps its server transaction (Timer H, RFC 3261
    # §17.2.1) in flight.
    with SipConnection("udp", node.addr("udp")) as conn:
        user = SipUser(conn, "1006")
        answer = conn.request(user.build("INVITE", f"sip:100@{node.hostport('udp')}"))
        assert answer is not None and answer.status >= 300
        rows = ctl_json(node, "transactions")
        invites = [r for r in rows if r["method"] == "INVITE" and r["side"] == "server"]
        assert invites and invites[0]["state"] == "Completed", rows
        assert invites[0]["next_timer_in"] is not None
        assert "INVITE" in ctl(node, "transactions").stdout


def test_ctl_is_local_only(start_node: Callable[..., RunningNode]) -> None:
    node = start_node({"http": {"control_from": ["10.0.0.0/8"]}})
    response = httpx.get(node.http + "/ctl/bans", timeout=5)
    assert response.status_code == 403 and "control_from" in response.text
    assert httpx.get(node.http + "/healthz", timeout=5).status_code == 200


def test_api_docs_page_needs_no_internet(node: RunningNode) -> None:
    page = httpx.get(node.http + "/docs", timeout=5)
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    scripts = re.findall(r'src="([^"]+)"', page.text)
    assert scripts and all(src.startswith("/docs/assets/") for src in scripts), scripts
    for src in scripts:
        asset = httpx.get(node.http + src, timeout=5)
        assert asset.status_code == 200 and len(asset.content) > 10_000
    assert httpx.get(node.http + "/openapi.json", timeout=5).json()["paths"]["/ctl/bans"]
