"""SIP over WebSocket (RFC 7118) through the TransportManager, with the ``websockets`` client
(the same handshake JsSIP makes: subprotocol "sip"), plain and secure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from switch.sip.address import Peer
from switch.transport.certs import make_self_signed
from switch.transport.tls import client_context, server_context

from .support import LOOP_IDS, LOOPS, WAIT, request, response, running

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture(params=LOOPS, ids=LOOP_IDS)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    yield make_self_signed(tmp_path_factory.mktemp("certs"))


async def _recv(ws: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), WAIT)


async def test_ws_text_message_delivered_and_answered_as_text() -> None:
    async with running(["ws:127.0.0.1:0"]) as (manager, got, bound):
        async with connect(f"ws://127.0.0.1:{bound[0].port}", subprotocols=["sip"]) as ws:
            assert ws.subprotocol == "sip"
            await ws.send(request().decode())
            item = await got.next()
            assert item.data == request()
            local_port = ws.local_address[1]
            assert (item.peer.transport, item.peer.host, item.peer.port) == (
                "ws", "127.0.0.1", local_port)
            assert item.peer.conn_id is not None
            assert item.local == bound[0]
            manager.send(response(), item.peer)
            assert await _recv(ws) == response().decode()
        assert await got.next_lost() == item.peer
        assert manager.connections == 0


async def test_ws_binary_message_and_one_message_per_frame() -> None:
    async with running(["ws:127.0.0.1:0"]) as (manager, got, bound), \
            connect(f"ws://127.0.0.1:{bound[0].port}", subprotocols=["sip"]) as ws:
        await ws.send(request(call_id="bin"))
        await ws.send(request(call_id="text").decode())
        first, second = await got.next(), await got.next()
        assert first.data == request(call_id="bin")
        assert second.data == request(call_id="text")
        # Reuse by (host, port) without conn_id, as for TCP.
        manager.send(response(), Peer("ws", first.peer.host, first.peer.port))
        assert await _recv(ws) == response().decode()
        manager.send(b"\xffbinary", first.peer)  # not UTF-8: goes out as a binary frame
        assert await _recv(ws) == b"\xffbinary"


async def test_ws_handshake_without_sip_subprotocol_is_refused_with_400() -> None:
    async with running(["ws:127.0.0.1:0"]) as (manager, got, bound):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{bound[0].port}"):
                pass
        assert refused.value.response.status_code == 400
        assert b"sip" in refused.value.response.body
        with pytest.raises(InvalidStatus) as wrong:
            async with connect(f"ws://127.0.0.1:{bound[0].port}", subprotocols=["chat"]):
                pass
        assert wrong.value.response.status_code == 400
        assert manager.connections == 0
        assert got.messages.empty()


async def test_ws_admit_false_refuses_before_the_handshake() -> None:
    async with running(["ws:127.0.0.1:0"], admit=lambda peer: False) as (manager, got, bound):
        # The TCP connection is cut before any HTTP response: "no valid HTTP response".
        with pytest.raises((InvalidHandshake, OSError)):
            async with connect(f"ws://127.0.0.1:{bound[0].port}", subprotocols=["sip"],
                               open_timeout=WAIT):
                pass
        assert manager.stats()["drops"]["admit"] == 1
        assert manager.connections == 0
        assert got.messages.empty()


async def test_ws_oversize_message_closes_with_1009() -> None:
    async with running(["ws:127.0.0.1:0"], max_message=2000) as (manager, got, bound):
        async with connect(f"ws://127.0.0.1:{bound[0].port}", subprotocols=["sip"]) as ws:
            await ws.send(request(body=b"x" * 5000))
            with pytest.raises(ConnectionClosed) as closed:
                await _recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        await got.next_lost()
        assert manager.stats()["drops"]["oversize"] == 1
        assert got.messages.empty()


async def test_ws_send_after_the_browser_left_is_dropped_and_reported() -> None:
    async with running(["ws:127.0.0.1:0"]) as (manager, got, bound):
        async with connect(f"ws://127.0.0.1:{bound[0].port}", subprotocols=["sip"]) as ws:
            await ws.send(request())
            item = await got.next()
        await got.next_lost()
        manager.send(response(), item.peer)
        assert await got.next_failed() == item.peer
        assert manager.stats()["drops"]["no_connection"] == 1


async def test_ws_crlf_ping_from_the_registrar_becomes_a_websocket_ping() -> None:
    async with running(["ws:127.0.0.1:0"]) as (manager, got, bound), \
            connect(f"ws://127.0.0.1:{bound[0].port}", subprotocols=["sip"]) as ws:
        await ws.send(request())
        item = await got.next()
        manager.send(b"\r\n\r\n", item.peer)  # must not arrive as a text message
        manager.send(response(), item.peer)
        assert await _recv(ws) == response().decode()


async def test_wss_with_the_generated_certificate(cert_files: tuple[Path, Path]) -> None:
    cert, key = cert_files
    async with running(["wss:127.0.0.1:0"], tls_context=server_context(cert, key)) as (
            manager, got, bound):
        async with connect(f"wss://127.0.0.1:{bound[0].port}", subprotocols=["sip"],
                           ssl=client_context(cert)) as ws:
            assert ws.subprotocol == "sip"
            await ws.send(request().decode())
            item = await got.next()
            assert item.peer.transport == "wss"
            assert item.data == request()
            manager.send(response(), item.peer)
            assert await _recv(ws) == response().decode()
        assert (await got.next_lost()).transport == "wss"


async def test_ws_idle_connection_is_closed_cleanly_unless_pinned() -> None:
    async with running(["ws:127.0.0.1:0"]) as (manager, got, bound):
        url = f"ws://127.0.0.1:{bound[0].port}"
        async with connect(url, subprotocols=["sip"]) as idle, \
                connect(url, subprotocols=["sip"]) as registered:
            await idle.send(request(call_id="idle"))
            await registered.send(request(call_id="registered"))
            arrivals = [await got.next(), await got.next()]
            by_call = {b"registered" in item.data: item.peer for item in arrivals}
            far_future = time.time() + 10 * manager.idle_timeout
            assert manager.pin(by_call[True].conn_id or 0, far_future + 1)
            assert manager.close_idle(now=far_future) == 1
            with pytest.raises(ConnectionClosed) as closed:
                await _recv(idle)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
            assert await got.next_lost() == by_call[False]
            manager.send(response(), by_call[True])
            assert await _recv(registered) == response().decode()
