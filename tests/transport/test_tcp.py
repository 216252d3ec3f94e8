"""TCP through the TransportManager: framing, keepalive, reuse, dialling, idleness, backpressure.

Clients are real sockets (asyncio streams on the client side); the server side is the manager,
alone (a collector stands for the SIP core) or, where the answer matters, driving the real
sans-I/O endpoint as the node does.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from switch.sip.address import Listener, Peer
from switch.sip.endpoint import Endpoint
from switch.sip.message import Response, parse_message
from switch.transport import TransportManager
from switch.transport.certs import make_self_signed
from switch.transport.driver import Driver
from switch.transport.tls import client_context, server_context

from .support import LOOP_IDS, LOOPS, WAIT, read_eof, read_exactly, request, response, running

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture(params=LOOPS, ids=LOOP_IDS)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


async def _connect(port: int, host: str = "127.0.0.1") -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(host, port), WAIT)


async def test_message_delivered_with_a_connection_peer() -> None:
    async with running(["tcp:127.0.0.1:0"]) as (manager, got, bound):
        _reader, writer = await _connect(bound[0].port)
        writer.write(request())
        item = await got.next()
        assert item.data == request()
        local_port = writer.get_extra_info("sockname")[1]
        assert (item.peer.transport, item.peer.host, item.peer.port) == (
            "tcp", "127.0.0.1", local_port)
        assert item.peer.conn_id is not None
        assert item.local == bound[0]
        assert manager.connections == 1
        writer.close()


async def test_response_goes_back_on_the_same_connection() -> None:
    async with running(["tcp:127.0.0.1:0"]) as (manager, got, bound):
        first_reader, first = await _connect(bound[0].port)
        second_reader, second = await _connect(bound[0].port)
        first.write(request(call_id="one"))
        second.write(request(call_id="two"))
        received = [await got.next(), await got.next()]
        assert manager.connections == 2
        for item in received:
            call_id = "one" if b"Call-ID: one" in item.data else "two"
            manager.send(response(call_id=call_id), item.peer)
        assert await read_exactly(first_reader, len(response(call_id="one"))) == \
            response(call_id="one")
        assert await read_exactly(second_reader, len(response(call_id="two"))) == \
            response(call_id="two")
        first.close()
        second.close()


async def test_message_split_across_many_segments_is_reassembled() -> None:
    message = request(body=b"v=0\r\n" * 40)
    async with running(["tcp:127.0.0.1:0"]) as (_, got, bound):
        _, writer = await _connect(bound[0].port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(message), 7):
            writer.write(message[start:start + 7])
            await writer.drain()
            await asyncio.sleep(0.001)  # give each piece its own segment (not guaranteed)
        item = await got.next()
        assert item.data == message
        assert got.messages.empty()
        writer.close()


async def test_several_messages_in_one_segment_are_cut_apart() -> None:
    messages = [request(call_id=f"m{i}", body=b"x" * i) for i in range(3)]
    async with running(["tcp:127.0.0.1:0"]) as (_, got, bound):
        _, writer = await _connect(bound[0].port)
        writer.write(b"".join(messages))
        assert [(await got.next()).data for _ in messages] == messages
        writer.close()


async def test_crlfcrlf_ping_gets_a_crlf_pong_and_single_crlf_is_ignored() -> None:
    async with running(["tcp:127.0.0.1:0"]) as (manager, got, bound):
        reader, writer = await _connect(bound[0].port)
        writer.write(b"\r\n\r\n")
        assert await read_exactly(reader, 2) == b"\r\n"
        # A single CRLF between messages is skipped without a pong: the next bytes the client
        # reads are exactly the response.
        writer.write(request(call_id="a") + b"\r\n" + request(call_id="b"))
        first, second = await got.next(), await got.next()
        assert (first.data, second.data) == (request(call_id="a"), request(call_id="b"))
        manager.send(response(), second.peer)
        assert await read_exactly(reader, len(response())) == response()
        assert manager.stats()["keepalives_answered"] == 1
        writer.close()


async def test_oversize_message_closes_the_connection() -> None:
    async with running(["tcp:127.0.0.1:0"], max_message=2000) as (manager, got, bound):
        reader, writer = await _connect(bound[0].port)
        writer.write(request(body=b"x" * 5000))
        assert await read_eof(reader) == b""
        assert manager.stats()["drops"]["oversize"] == 1
        assert got.messages.empty()
        lost = await got.next_lost()
        assert lost.transport == "tcp"
        writer.close()


async def test_missing_content_length_hands_the_head_over_then_closes() -> None:
    """RFC 3261 §18.3: no Content-Length, no framing. The head goes to the core (which answers
    it as a malformed message: see the tests below), then the connection closes."""
    head = b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nCall-ID: z\r\n\r\n"
    async with running(["tcp:127.0.0.1:0"]) as (manager, got, bound):
        reader, writer = await _connect(bound[0].port)
        writer.write(head + b"v=0\r\n")
        assert (await got.next()).data == head
        assert await read_eof(reader) == b""
        assert manager.stats()["drops"]["framing"] == 1
        assert got.messages.empty()
        await got.next_lost()
        writer.close()


async def test_messages_framed_before_a_framing_error_are_delivered() -> None:
    """RFC 4475 §3.1.1.8 (dblreq): what was framed before junk in the same read is kept."""
    junk = b"C\r\n\r\n"
    async with running(["tcp:127.0.0.1:0"]) as (manager, got, bound):
        reader, writer = await _connect(bound[0].port)
        writer.write(request(call_id="a") + request(call_id="b") + junk)
        assert [(await got.next()).data for _ in range(3)] == [
            request(call_id="a"), request(call_id="b"), junk]
        assert await read_eof(reader) == b""
        assert manager.stats()["drops"]["framing"] == 1
        writer.close()


# -- framing errors answered by the real SIP core ------------------------------------------------


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed(tmp_path_factory.mktemp("certs"))


@asynccontextmanager
async def _answering(transport: str, cert_files: tuple[Path, Path]) -> AsyncIterator[
        tuple[TransportManager, Listener]]:
    """A TransportManager driving the sans-I/O endpoint, wired as ``switch/app.py`` does."""
    drivers: list[Driver] = []
    options: dict[str, Any] = {}
    if transport == "tls":
        options["tls_context"] = server_context(*cert_files)
    manager = TransportManager(lambda data, peer, local: drivers[0].receive(data, peer, local),
                               on_connection_lost=lambda p: drivers[0].connection_lost(p),
                               **options)
    drivers.append(Driver(Endpoint(), manager))
    (bound,) = await manager.start([Listener(transport, "127.0.0.1", 0)])
    try:
        yield manager, bound
    finally:
        drivers[0].close()
        await manager.stop()


async def _dial(transport: str, port: int, cert_files: tuple[Path, Path]) -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter]:
    if transport == "tcp":
        return await _connect(port)
    context: ssl.SSLContext = client_context(cert_files[0])
    return await asyncio.wait_for(asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"), WAIT)


def _answers(stream: bytes) -> list[Response]:
    """The responses in everything the server sent before it closed."""
    out: list[Response] = []
    while stream:
        head_end = stream.index(b"\r\n\r\n") + 4
        message = parse_message(stream[:head_end], datagram=False)
        length = int(message.headers.get("Content-Length") or 0)
        message = parse_message(stream[:head_end + length], datagram=False)
        assert isinstance(message, Response), message
        out.append(message)
        stream = stream[head_end + length:]
    return out


STREAMS = pytest.mark.parametrize("transport", ["tcp", "tls"])


@STREAMS
async def test_request_without_content_length_gets_400_then_eof(
        transport: str, cert_files: tuple[Path, Path]) -> None:
    """RFC 3261 §18.3 (Content-Length MUST be used on streams), RFC 4475 §3.4.1 (inv2543)."""
    unframed = request(call_id="nocl").replace(b"Content-Length: 0\r\n", b"") + b"v=0\r\n"
    async with _answering(transport, cert_files) as (manager, bound):
        reader, writer = await _dial(transport, bound.port, cert_files)
        writer.write(unframed)
        (answer,) = _answers(await read_eof(reader))
        assert answer.status == 400
        assert "Content-Length" in answer.reason, answer.reason
        assert answer.call_id == "nocl" and answer.cseq.method == "OPTIONS"
        assert manager.stats()["drops"]["framing"] == 1
        writer.close()


@pytest.mark.parametrize(("length", "reason"), [
    (b"Content-Length: -999\r\n", "bad Content-Length"),  # RFC 4475 §3.1.2.3 (ncl)
    (b"Content-Length: 3\r\nl: 5\r\n", "more than one Content-Length"),  # §3.3.9 (mcl01)
])
async def test_unusable_content_length_gets_400_then_eof(
        length: bytes, reason: str, cert_files: tuple[Path, Path]) -> None:
    unframed = request().replace(b"Content-Length: 0\r\n", length) + b"hello"
    async with _answering("tcp", cert_files) as (_, bound):
        reader, writer = await _connect(bound.port)
        writer.write(unframed)
        (answer,) = _answers(await read_eof(reader))
        assert answer.status == 400 and reason in answer.reason, answer.reason
        writer.close()


async def test_request_framed_before_junk_keeps_its_answer(
        cert_files: tuple[Path, Path]) -> None:
    """RFC 4475 §3.1.1.8 (dblreq) on a stream: the request framed ahead of junk in the same
    read is answered (here by the core itself: its CSeq method does not match, RFC 4475
    §3.1.2.17); the junk has no Via, so nothing answers it; then the connection closes."""
    mismatched = request("OPTIONS").replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE")
    async with _answering("tcp", cert_files) as (manager, bound):
        reader, writer = await _connect(bound.port)
        writer.write(mismatched + b"C\r\n\r\n")
        (answer,) = _answers(await read_eof(reader))
        assert answer.status == 400 and "CSeq method" in answer.reason, answer.reason
        assert manager.stats()["drops"]["framing"] == 1
        writer.close()


async def test_send_without_conn_id_reuses_the_open_connection() -> None:
    async with running(["tcp:127.0.0.1:0"]) as (manager, got, bound):
        reader, writer = await _connect(bound[0].port)
        writer.write(request())
        item = await got.next()
        manager.send(request(call_id="from-server"),
                     Peer("tcp", item.peer.host, item.peer.port))
        expected = request(call_id="from-server")
        assert await read_exactly(reader, len(expected)) == expected
        assert manager.connections == 1
        assert manager.stats()["connections_opened"]["tcp"] == 1
        writer.close()


async def test_client_close_reports_connection_lost() -> None:
    async with running(["tcp:127.0.0.1:0"]) as (manager, got, bound):
        _, writer = await _connect(bound[0].port)
        writer.write(request())
        item = await got.next()
        writer.close()
        assert await got.next_lost() == item.peer
        assert manager.connections == 0


async def test_admit_false_refuses_the_connection() -> None:
    async with running(["tcp:127.0.0.1:0"], admit=lambda peer: False) as (manager, got, bound):
        reader, writer = await _connect(bound[0].port)
        writer.write(request())
        assert await read_eof(reader) == b""
        assert manager.stats()["drops"]["admit"] == 1
        assert manager.connections == 0
        assert got.messages.empty()
        assert got.lost.empty()
        writer.close()


async def test_send_dials_a_new_connection_and_reads_the_answer() -> None:
    accepted: list[asyncio.StreamWriter] = []
    requests: asyncio.Queue[bytes] = asyncio.Queue()

    async def peer_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the manager closed the connection when it stopped
            await requests.put(head)  # Content-Length: 0 in these requests
            writer.write(response(call_id=f"r{requests.qsize()}"))

    server = await asyncio.start_server(peer_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with running(["tcp:127.0.0.1:0"]) as (manager, got, _):
            target = Peer("tcp", "127.0.0.1", port)
            manager.send(request(call_id="q1"), target)
            manager.send(request(call_id="q2"), target)  # queued behind the connect
            assert await asyncio.wait_for(requests.get(), WAIT) == request(call_id="q1")
            assert await asyncio.wait_for(requests.get(), WAIT) == request(call_id="q2")
            answer = await got.next()
            assert answer.peer.conn_id is not None
            assert (answer.peer.host, answer.peer.port) == ("127.0.0.1", port)
            manager.send(request(call_id="q3"), target)  # reuses the dialled connection
            assert await asyncio.wait_for(requests.get(), WAIT) == request(call_id="q3")
            assert len(accepted) == 1
            assert manager.connections == 1
    finally:
        for writer in accepted:
            writer.close()
        server.close()


async def test_failed_dial_is_counted_and_reported() -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    async with running(["tcp:127.0.0.1:0"]) as (manager, got, _):
        target = Peer("tcp", "127.0.0.1", dead_port)
        manager.send(request(), target)
        assert await got.next_failed() == target
        assert manager.stats()["drops"]["connect_failed"] == 1
        assert manager.connections == 0


async def test_idle_connections_close_unless_pinned() -> None:
    async with running(["tcp:127.0.0.1:0"]) as (manager, got, bound):
        reader_a, writer_a = await _connect(bound[0].port)
        reader_b, writer_b = await _connect(bound[0].port)
        writer_a.write(request(call_id="a"))
        writer_b.write(request(call_id="b"))
        arrivals = [await got.next(), await got.next()]
        conn_ids = {item.peer.port: item.peer.conn_id for item in arrivals}
        pinned = conn_ids[writer_b.get_extra_info("sockname")[1]]
        assert pinned is not None
        far_future = time.time() + 10 * manager.idle_timeout
        assert manager.pin(pinned, far_future + 1)
        assert manager.close_idle(now=far_future) == 1
        assert await read_eof(reader_a) == b""
        assert (await got.next_lost()).conn_id != pinned
        assert manager.connection(pinned) is not None
        assert manager.touch(pinned)
        writer_a.close()
        writer_b.close()
        assert reader_b is not None


async def test_peer_that_does_not_read_loses_messages_not_memory() -> None:
    limit = 64 * 1024
    async with running(["tcp:127.0.0.1:0"], write_buffer_limit=limit) as (manager, got, bound):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", bound[0].port))
        sock.sendall(request())
        item = await got.next()
        chunk = request(body=b"y" * 16000)
        for _ in range(2000):  # bounded: the kernel buffers fill long before this
            manager.send(chunk, item.peer)
            if manager.stats()["drops"]["write_buffer"]:
                break
            await asyncio.sleep(0)
        assert manager.stats()["drops"]["write_buffer"] >= 1
        conn = manager.connection(item.peer.conn_id or 0)
        assert conn is not None
        sock.close()


async def test_dial_by_host_name_is_reused_for_the_next_send() -> None:
    accepted: list[asyncio.StreamWriter] = []
    arrived: asyncio.Queue[bytes] = asyncio.Queue()

    async def peer_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        while True:
            try:
                await arrived.put(await reader.readuntil(b"\r\n\r\n"))
            except asyncio.IncompleteReadError:
                return

    server = await asyncio.start_server(peer_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with running(["tcp:127.0.0.1:0"]) as (manager, _, _):
            target = Peer("tcp", "localhost", port)
            manager.send(request(call_id="n1"), target)
            assert await asyncio.wait_for(arrived.get(), WAIT) == request(call_id="n1")
            manager.send(request(call_id="n2"), target)
            assert await asyncio.wait_for(arrived.get(), WAIT) == request(call_id="n2")
            assert len(accepted) == 1
            assert manager.stats()["connections_opened"]["tcp"] == 1
    finally:
        for writer in accepted:
            writer.close()
        server.close()


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback here")
async def test_ipv6_tcp_listener() -> None:
    async with running(["tcp:[::1]:0"]) as (manager, got, bound):
        assert bound[0].host == "::1"
        reader, writer = await _connect(bound[0].port, "::1")
        writer.write(request())
        item = await got.next()
        assert item.peer.host == "::1" and item.peer.transport == "tcp"
        manager.send(response(), Peer("tcp", "::1", item.peer.port))
        assert await read_exactly(reader, len(response())) == response()
        writer.close()
