"""SIPp (Debian ``sip-tester``) against the real node: digest REGISTER, unregister, OPTIONS.

SIPp answers only the first WWW-Authenticate it receives and computes MD5 only, so these nodes
run with ``security.digest_algorithms: [MD5]`` (a supported setting for SIPp-driven loads;
the demo's default offers SHA-256 first, as RFC 7616 §3.7 recommends).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from loadtest.sipp import SCENARIOS, SippResult, SippRun, run_sipp
from loadtest.users import User, numbered_users, write_users_csv
from tests.integration.conftest import RunningNode, require
from tests.integration.sipclient import SipConnection, SipUser

pytestmark = pytest.mark.integration

MD5_FIRST = {"security": {"digest_algorithms": ["MD5"]}}
DOMAIN = "switchboard.local"


@pytest.fixture(autouse=True)
def _sipp_installed() -> None:
    require("sipp", "sip-tester")


def _sipp(node: RunningNode, tmp_path: Path, scenario: str, transport: str, calls: int,
          rate: float, users: list[User] | None = None, name: str = "run") -> SippResult:
    injection = None
    if users is not None:
        injection = write_users_csv(tmp_path / f"{name}-users.csv", users, DOMAIN)
    return run_sipp(SippRun(target=node.hostport(transport), scenario=SCENARIOS / scenario,
                            calls=calls, rate=rate, transport=transport, injection=injection,
                            time_limit=30), workdir=tmp_path / f"sipp-{name}")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_registers_20_users_then_unregisters_them(
        start_node: Callable[..., RunningNode], tmp_path: Path, transport: str) -> None:
    node = start_node(MD5_FIRST)
    users = numbered_users(20)

    result = _sipp(node, tmp_path, "register_auth.xml", transport, 20, 20, users, "register")
    assert result.ok, result.describe()
    assert (result.successful, result.failed) == (20, 0)

    # The node really holds the bindings: a binding query (RFC 3261 §10.2.3) as 1001 and 1020.
    with SipConnection("udp", node.addr("udp")) as conn:
        for user in (users[0], users[-1]):
            contacts = SipUser(conn, user.username).bindings(user.password)
            assert any(f"sip:{user.username}@127.0.0.1" in c for c in contacts), contacts
            assert any(f"transport={transport}" in c.lower() for c in contacts), contacts

    result = _sipp(node, tmp_path, "unregister.xml", transport, 20, 20, users, "unregister")
    assert result.ok, result.describe()
    assert (result.successful, result.failed) == (20, 0)
    with SipConnection("udp", node.addr("udp")) as conn:
        assert SipUser(conn, users[0].username).bindings(users[0].password) == []


def test_sipp_wrong_passwords_all_fail(start_node: Callable[..., RunningNode],
                                       tmp_path: Path) -> None:
    """The control: the same scenario with wrong passwords gets no 200 at all."""
    node = start_node(MD5_FIRST)
    users = numbered_users(5, password_prefix="wrong")
    result = _sipp(node, tmp_path, "register_auth.xml", "udp", 5, 20, users, "wrong")
    assert result.successful == 0, result.describe()
    assert result.failed == 5, result.describe()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_200_options_all_answered(node: RunningNode, tmp_path: Path,
                                       transport: str) -> None:
    result = _sipp(node, tmp_path, "options.xml", transport, 200, 100, name="options")
    assert result.ok, result.describe()
    assert (result.successful, result.failed) == (200, 0)
    assert node.alive()
