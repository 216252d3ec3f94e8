"""A registered TCP contact pins its connection; unregistering releases the pin (in-process
node, real TCP socket, real digest)."""

from __future__ import annotations

import asyncio
import time

from switch.app import Node
from switch.config import SwitchConfig
from switch.demo import demo_data
from switch.sip.address import Listener
from switch.sip.auth import DigestClient
from switch.sip.message import Response, parse_message

from .sipkit import request_text


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    data: bytes) -> Response:
    writer.write(data)
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    body = await reader.readexactly(length) if length else b""
    response = parse_message(head + body)
    assert isinstance(response, Response)
    return response


def _register(port: int, cseq: int, expires: int, authorization: str | None) -> bytes:
    extra = [f"Authorization: {authorization}"] if authorization else []
    return request_text("REGISTER", "sip:switchboard.local", call_id="pin-1", cseq=cseq,
                        branch=f"z9hG4bK-pin-{cseq}", transport="TCP",
                        via_host=f"127.0.0.1:{port}",
                        contacts=[f"<sip:1001@127.0.0.1:{port};transport=tcp>"],
                        expires=expires, extra=extra)


async def _scenario() -> None:
    config = demo_data()
    config["registrar"] = {"qualify_interval": 3600.0}
    node = Node(SwitchConfig.model_validate(config), version="test", http="127.0.0.1:0")
    await node.start([Listener("tcp", "127.0.0.1", 0)])
    [tcp] = node.listeners
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp.port)
        port = writer.get_extra_info("sockname")[1]
        client = DigestClient("1001", "demo1001")
        challenge = await _exchange(reader, writer, _register(port, 1, 600, None))
        assert challenge.status == 401
        auth = client.authorize(challenge.headers.getall("WWW-Authenticate"), "REGISTER",
                                "sip:switchboard.local")
        ok = await _exchange(reader, writer, _register(port, 2, 600, auth))
        assert ok.status == 200
        [binding] = node.locations.lookup("sip:1001@switchboard.local", time.time())
        conn_id = binding.peer.conn_id
        assert conn_id is not None
        conn = node.transports.connection(conn_id)
        assert conn is not None and conn.pinned_until > time.time() + 500

        auth = client.reauthorize("REGISTER", "sip:switchboard.local")
        gone = await _exchange(reader, writer, _register(port, 3, 0, auth))
        assert gone.status == 200
        assert node.locations.lookup("sip:1001@switchboard.local", time.time()) == []
        assert conn.pinned_until == 0.0  # idle rules apply to the connection again
        assert node.transports.connection(conn_id) is conn  # still open, just not pinned
        writer.close()
    finally:
        await node.stop_now()


def test_unregister_releases_the_connection_pin() -> None:
    asyncio.run(_scenario())
