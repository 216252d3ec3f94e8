"""baresip (Debian ``baresip-core``) registers with the node over UDP and TCP.

baresip's own view comes from its ``reginfo`` command over ``ctrl_tcp``; the node's view from a
binding query (REGISTER without Contact, RFC 3261 §10.2.3) made by this test as the same user.

baresip 1.0 (Debian 12) fails with ENOSYS ("Register: Function not implemented") when the first
WWW-Authenticate is SHA-256 instead of skipping to the MD5 one (RFC 8760 §2.4 says a UAC uses
the first challenge it supports), so these nodes offer MD5 first (``digest_algorithms: [MD5]``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import RunningNode, require
from tests.integration.peers.baresip import Baresip
from tests.integration.sipclient import SipConnection, SipUser

pytestmark = pytest.mark.integration

MD5_FIRST = {"security": {"digest_algorithms": ["MD5"]}}


@pytest.fixture(autouse=True)
def _baresip_installed() -> None:
    require("baresip", "baresip-core")


def _account(node: RunningNode, transport: str, user: str, password: str) -> str:
    host, port = node.addr(transport)
    return (f"<sip:{user}@{host}:{port};transport={transport}>;auth_pass={password};"
            "regint=600")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_baresip_registers(start_node: Callable[..., RunningNode], tmp_path: Path,
                           transport: str) -> None:
    node = start_node(MD5_FIRST)
    with Baresip(tmp_path / "baresip", [_account(node, transport, "1005", "demo1005")]) as ua:
        assert ua.wait_registration(timeout=15) == "OK", ua.log()[-2000:]
        with SipConnection("udp", node.addr("udp")) as conn:
            contacts = SipUser(conn, "1005").bindings("demo1005")
        mine = [c for c in contacts if f":{ua.sip_port}" in c]
        assert mine, (contacts, ua.sip_port)
        if transport == "tcp":
            assert "transport=tcp" in mine[0].lower(), mine


def test_baresip_registers_with_the_default_digest_algorithms(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    """A config file that leaves ``digest_algorithms`` out must still let baresip in."""
    from switch.demo import demo_data

    config = demo_data()
    del config["security"]["digest_algorithms"]
    node = start_node(config=config)
    with Baresip(tmp_path / "baresip", [_account(node, "udp", "1004", "demo1004")]) as ua:
        assert ua.wait_registration(timeout=15) == "OK", ua.log()[-2000:]
