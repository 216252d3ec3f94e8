"""Bans that stop crackers and scanners without locking out the innocent, against real peers.

- baresip (Debian ``baresip-core``) with a wrong password gets its username blocked at its
  address, while another baresip account at the same address registers;
- SIPVicious's ``svcrack`` (Debian ``sipvicious``), a real password cracker, is stopped within
  10 guesses and never finds a password that is in its dictionary after them;
- guessing over many usernames from one address bans the address;
- a trusted address is never banned;
- ``switchboard ctl`` lists and lifts bans, and the phone then registers.

svcrack 0.3.3 ignores its ``--bindingip``, so it always comes from 127.0.0.1; the nodes that
face it (and baresip, bound there too) do not trust 127.0.0.1 (``trusted_sources: []``).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import RunningNode, require
from tests.integration.ctl import ctl, ctl_json
from tests.integration.peers.baresip import Baresip
from tests.integration.sipclient import SipConnection, SipUser, wait_for

pytestmark = pytest.mark.integration

UNTRUSTING = {"security": {"trusted_sources": []}}


def _account(node: RunningNode, user: str, password: str) -> str:
    host, port = node.addr("udp")
    return f"<sip:{user}@{host}:{port};transport=udp>;auth_pass={password};regint=600"


def _failures(node: RunningNode, user: str) -> list[str]:
    return [line for line in node.stderr().splitlines()
            if "auth failed:" in line and f'user="{user}"' in line]


def test_baresip_wrong_password_blocks_only_its_own_account(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    require("baresip", "baresip-core")
    node = start_node(UNTRUSTING)
    with Baresip(tmp_path / "wrong", [_account(node, "1006", "wrong")]) as wrong:
        assert wait_for(lambda: 'scope=user user="1006"' in node.stderr(), timeout=20), \
            node.stderr()[-2000:]
        assert not re.search(r"sip:1006@\S+\s+OK", wrong.reginfo())
    assert len(_failures(node, "1006")) <= 10
    # Another account from the same address (a second phone behind the same NAT) registers.
    with Baresip(tmp_path / "neighbour", [_account(node, "1007", "demo1007")]) as neighbour:
        assert neighbour.wait_registration(timeout=15) == "OK", neighbour.log()[-2000:]
    [ban] = ctl_json(node, "bans")
    assert (ban["source"], ban["scope"], ban["username"]) == ("127.0.0.1", "user", "1006")
    assert "failures for this username" in ban["reason"]
    # While blocked, even the right password from that address gets nothing.
    with SipConnection("udp", node.addr("udp")) as conn:
        first, _ = SipUser(conn, "1006").register("demo1006", timeout=1.5)
        assert first is not None and first.status == 401  # no credentials yet: challenged
        _, final = SipUser(conn, "1006").register("demo1006", timeout=1.5)
        assert final is None
    # The operator lifts it; the phone (now with the right password) registers.
    lifted = ctl(node, "unban", "127.0.0.1", "--user", "1006")
    assert lifted.returncode == 0, lifted.stderr
    assert "lifted: 127.0.0.1 user 1006" in lifted.stdout
    assert ctl_json(node, "bans") == []
    with Baresip(tmp_path / "fixed", [_account(node, "1006", "demo1006")]) as fixed:
        assert fixed.wait_registration(timeout=15) == "OK", fixed.log()[-2000:]
    assert wait_for(lambda: 'ban ended: source=127.0.0.1 scope=user user="1006" why=lifted'
                    in node.stderr(), timeout=5)
    again = ctl(node, "unban", "127.0.0.1")
    assert again.returncode == 1 and "no active ban" in again.stderr


def test_svcrack_is_stopped_within_ten_guesses(start_node: Callable[..., RunningNode],
                                               tmp_path: Path) -> None:
    svcrack = require("svcrack", "sipvicious")
    node = start_node(UNTRUSTING)
    dictionary = tmp_path / "passwords.txt"
    # The right password is the 13th guess: a cracker stopped within 10 never gets there.
    dictionary.write_text("\n".join([*(f"guess{i}" for i in range(12)), "demo1001"]) + "\n")
    host, port = node.addr("udp")
    result = subprocess.run([svcrack, "-u", "1001", "-d", str(dictionary), "-p", str(port),
                             "--maximumtime", "2", host], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert "demo1001" not in output, output
    assert "found nothing" in output, output
    assert 1 <= len(_failures(node, "1001")) <= 10, _failures(node, "1001")
    assert 'ban started: source=127.0.0.1 scope=user user="1001"' in node.stderr()


def test_guessing_over_many_usernames_bans_the_address(
        start_node: Callable[..., RunningNode]) -> None:
    node = start_node()
    with SipConnection("udp", node.addr("udp"), source_ip="127.0.0.3") as conn:
        for user in ("2001", "2002", "2003", "2004", "2005"):  # max_users: 5 by default
            first, final = SipUser(conn, user).register("password123")
            assert first is not None and final is not None and final.status == 401, user
        # Banned now: even an OPTIONS, which needs no credentials, is dropped unanswered.
        assert SipUser(conn, "1014").options(timeout=1.5) is None
    with SipConnection("tcp", node.addr("tcp"), source_ip="127.0.0.3") as conn:
        assert SipUser(conn, "1014").options(timeout=1.5) is None
    with SipConnection("udp", node.addr("udp")) as conn:  # other sources are served
        _, final = SipUser(conn, "1014").register("demo1014")
        assert final is not None and final.status == 200, final
    bans = ctl_json(node, "bans")
    assert [(b["source"], b["scope"]) for b in bans] == [("127.0.0.3", "address")]
    assert "different usernames" in bans[0]["reason"]
    listing = ctl(node, "bans")
    assert "127.0.0.3" in listing.stdout and "1 active bans" in listing.stdout
    assert ctl(node, "unban", "127.0.0.3").returncode == 0
    with SipConnection("udp", node.addr("udp"), source_ip="127.0.0.3") as conn:
        _, final = SipUser(conn, "1015").register("demo1015")
        assert final is not None and final.status == 200


def test_a_trusted_address_is_never_banned(node: RunningNode) -> None:
    # The demo trusts 127.0.0.1 (its carrier trunk): failures are logged, never banned.
    with SipConnection("udp", node.addr("udp")) as conn:
        for attempt in range(15):
            user = f"20{attempt % 6:02d}"
            _, final = SipUser(conn, user).register(f"wrong{attempt}")
            assert final is not None and final.status == 401, (attempt, final)
        ok = SipUser(conn, "1016").options()
        assert ok is not None and ok.status == 200
    assert ctl_json(node, "bans") == []
    assert len([line for line in node.stderr().splitlines() if "auth failed:" in line]) == 15
    assert "ban started" not in node.stderr()
