"""SIP over WebSocket (RFC 7118) with a real ``websockets`` client: subprotocol "sip",
one SIP message per frame, digest REGISTER and OPTIONS."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.conftest import RunningNode
from tests.integration.sipclient import SipConnection, SipUser

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_websocket_register_with_digest(start_node: Callable[..., RunningNode],
                                        algorithm: str) -> None:
    # the demo offers MD5 only (see switch/demo.py); a production config offers both
    node = start_node({"security": {"digest_algorithms": ["SHA-256", "MD5"]}})
    with SipConnection("ws", node.addr("ws")) as conn:
        assert conn.subprotocol == "sip"
        user = SipUser(conn, "1007")
        first, final = user.register("demo1007", algorithm=algorithm)
        assert first is not None and first.status == 401, first
        assert final is not None and final.status == 200, final
        contacts = final.all("contact")
        assert any("invalid.invalid" in c and "transport=ws" in c.lower() for c in contacts), \
            contacts


def test_websocket_wrong_password_gets_401(node: RunningNode) -> None:
    with SipConnection("ws", node.addr("ws")) as conn:
        _, final = SipUser(conn, "1008").register("nope")
        assert final is not None and final.status == 401, final


def test_websocket_options(node: RunningNode) -> None:
    with SipConnection("ws", node.addr("ws")) as conn:
        response = SipUser(conn, "1009").options()
        assert response is not None and response.status == 200, response
        assert response.get("call-id") is not None


def test_websocket_message_without_content_length_is_served(node: RunningNode) -> None:
    # The WebSocket message is the frame (RFC 7118 §5): unlike TCP, no Content-Length needed.
    with SipConnection("ws", node.addr("ws")) as conn:
        user = SipUser(conn, "1010")
        request = user.build("OPTIONS", user.registrar_uri())
        assert b"Content-Length: 0\r\n" in request
        response = conn.request(request.replace(b"Content-Length: 0\r\n", b""))
        assert response is not None and response.status == 200, response
