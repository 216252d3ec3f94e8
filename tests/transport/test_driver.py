"""The driver on a real asyncio loop with real UDP sockets on loopback.

A small datagram transport stands in for the TransportManager (which belongs to the transport
helper): it offers the same ``send(data, peer)`` and calls ``driver.receive`` for each datagram.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from loadtest.sipp import free_local_port
from switch.sip.address import Listener, Peer
from switch.sip.endpoint import Endpoint
from switch.sip.events import (
    AckReceived,
    Event,
    RequestReceived,
    ResponseReceived,
    TransactionTimedOut,
)
from switch.sip.message import Request, Response, make_response, parse_message
from switch.transport.driver import Driver

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _UdpTransport(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.driver: Driver | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.listener = Listener("udp", "127.0.0.1", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        host, port = transport.get_extra_info("sockname")[:2]
        self.listener = Listener("udp", host, port)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.driver is not None
        self.driver.receive(data, Peer("udp", addr[0], addr[1]), self.listener)

    def send(self, data: bytes, peer: Peer) -> None:
        assert self.transport is not None
        self.transport.sendto(data, (peer.host, peer.port))


class _Node:
    def __init__(self, transport: _UdpTransport, driver: Driver) -> None:
        self.transport = transport
        self.driver = driver
        self.events: asyncio.Queue[Event] = asyncio.Queue()


@pytest.fixture
async def node() -> AsyncIterator[_Node]:
    loop = asyncio.get_running_loop()
    udp = _UdpTransport()
    await loop.create_datagram_endpoint(lambda: udp, local_addr=("127.0.0.1", 0))
    endpoint = Endpoint(t1=0.02, t2=0.08, t4=0.1)  # short timers: the test stays fast
    holder: list[_Node] = []
    driver = Driver(endpoint, udp, on_event=lambda event: holder[0].events.put_nowait(event))
    udp.driver = driver
    holder.append(_Node(udp, driver))
    yield holder[0]
    await driver.close()
    assert udp.transport is not None
    udp.transport.close()


def _client_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def _options(port: int, branch: str = "z9hG4bKdrv1") -> bytes:
    return (f"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=f1\r\nTo: <sip:100@127.0.0.1>\r\n"
            "Call-ID: drv-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


async def _recv(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.sock_recv(sock, 65535), timeout=5)


async def test_options_round_trip_over_real_udp(node: _Node) -> None:
    client = _client_socket()
    try:
        port = client.getsockname()[1]
        client.sendto(_options(port), (node.transport.listener.host, node.transport.listener.port))
        event = await asyncio.wait_for(node.events.get(), timeout=5)
        assert isinstance(event, RequestReceived)
        node.driver.respond(event.request, make_response(event.request, 200))
        response = parse_message(await _recv(client))
        assert isinstance(response, Response) and response.status == 200
        assert response.top_via.rport == str(port)
        # A retransmission gets the same answer from the transaction, with no new event.
        client.sendto(_options(port), (node.transport.listener.host, node.transport.listener.port))
        again = parse_message(await _recv(client))
        assert isinstance(again, Response) and again.status == 200
        assert node.events.empty()
    finally:
        client.close()


async def test_loop_timer_retransmits_and_times_out(node: _Node) -> None:
    silent = _client_socket()  # a peer that never answers
    try:
        port = silent.getsockname()[1]
        request = parse_message(_options(node.transport.listener.port, "z9hG4bKdrv2"))
        assert isinstance(request, Request)
        key = node.driver.send_request(request, Peer("udp", "127.0.0.1", port))
        event = await asyncio.wait_for(node.events.get(), timeout=5)
        copies = 0  # the kernel buffered every copy the silent peer never read
        while True:
            try:
                silent.recv(65535)
            except BlockingIOError:
                break
            copies += 1
        assert isinstance(event, TransactionTimedOut) and event.key == key
        # Timer E over UDP: T1 doubling to T2 inside 64*T1 gives 1 + 10 sends.
        assert copies >= 5
        assert node.driver.endpoint.pending == 0
    finally:
        silent.close()


async def test_close_waits_for_unfinished_transactions(node: _Node) -> None:
    client = _client_socket()
    try:
        port = client.getsockname()[1]
        client.sendto(_options(port, "z9hG4bKdrv3"),
                      (node.transport.listener.host, node.transport.listener.port))
        event = await asyncio.wait_for(node.events.get(), timeout=5)
        assert isinstance(event, RequestReceived)
        assert node.driver.endpoint.unfinished == 1
        closing = node.driver.close(grace=5.0)
        assert not closing.done()
        node.driver.respond(event.request, make_response(event.request, 200))
        await asyncio.wait_for(closing, timeout=5)
        assert node.driver.closed
        response = parse_message(await _recv(client))
        assert isinstance(response, Response) and response.status == 200
    finally:
        client.close()


async def test_response_event_for_our_request(node: _Node) -> None:
    server = _client_socket()
    try:
        port = server.getsockname()[1]
        request = parse_message(_options(node.transport.listener.port, "z9hG4bKdrv4"))
        assert isinstance(request, Request)
        key = node.driver.send_request(request, Peer("udp", "127.0.0.1", port))
        data = await _recv(server)
        incoming = parse_message(data)
        assert isinstance(incoming, Request)
        answer = make_response(incoming, 200, to_tag="t")
        server.sendto(answer.serialize(), ("127.0.0.1", node.transport.listener.port))
        event = await asyncio.wait_for(node.events.get(), timeout=5)
        assert isinstance(event, ResponseReceived) and event.key == key
    finally:
        server.close()


# -- with the real TransportManager (UDP and TCP) ----------------------------------------------


# TCP joins this list once the manager binds plain TCP without a TLS context.
@pytest.mark.parametrize("transport", ["udp"])
async def test_options_through_transport_manager(transport: str) -> None:
    manager_module = pytest.importorskip("switch.transport.manager")
    holder: list[Driver] = []
    events: asyncio.Queue[Event] = asyncio.Queue()
    manager = manager_module.TransportManager(
        lambda data, peer, local: holder[0].receive(data, peer, local),
        on_connection_lost=lambda peer: holder[0].connection_lost(peer))
    driver = Driver(Endpoint(), manager, on_event=events.put_nowait)
    holder.append(driver)
    [bound] = await manager.start([Listener(transport, "127.0.0.1", 0)])
    try:
        if transport == "udp":
            sock = _client_socket()
            port = sock.getsockname()[1]
            sock.sendto(_options(port), ("127.0.0.1", bound.port))
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", bound.port)
            port = writer.get_extra_info("sockname")[1]
            writer.write(_options(port).replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
        event = await asyncio.wait_for(events.get(), timeout=5)
        assert isinstance(event, RequestReceived) and event.peer.transport == transport
        driver.respond(event.request, make_response(event.request, 200))
        if transport == "udp":
            data = await _recv(sock)
            sock.close()
        else:
            data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            writer.close()
        response = parse_message(data, datagram=transport == "udp")
        assert isinstance(response, Response) and response.status == 200
    finally:
        await driver.close()
        await manager.stop()


# -- a real peer: SIPp's built-in UAC (INVITE, 200, ACK, BYE) against endpoint + driver -------


async def test_sipp_calls_complete_and_every_2xx_is_acked(tmp_path: Path) -> None:
    sipp = shutil.which("sipp")
    if sipp is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    manager_module = pytest.importorskip("switch.transport.manager")
    holder: list[Driver] = []
    acks: list[AckReceived] = []

    def on_event(event: Event) -> None:  # a TU that answers everything 200
        if isinstance(event, RequestReceived):
            holder[0].respond(event.request, make_response(event.request, 200))
        elif isinstance(event, AckReceived):
            acks.append(event)

    manager = manager_module.TransportManager(
        lambda data, peer, local: holder[0].receive(data, peer, local))
    holder.append(Driver(Endpoint(), manager, on_event=on_event))
    [bound] = await manager.start([Listener("udp", "127.0.0.1", 0)])
    stats = tmp_path / "stats.csv"
    try:
        process = await asyncio.create_subprocess_exec(
            sipp, "-nostdin", "-sn", "uac", "-m", "20", "-r", "20", "-i", "127.0.0.1",
            "-p", "0", "-timeout", "30", "-trace_stat", "-stf", str(stats),
            # SIPp binds an RTP port even here (6000 by default), which another SIPp on a
            # shared machine may hold: take a free one.
            "-mp", str(free_local_port("127.0.0.1")),
            f"127.0.0.1:{bound.port}", cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        code = await asyncio.wait_for(process.wait(), timeout=60)
        assert code == 0, f"sipp failed (exit {code})"
        assert len(acks) == 20  # every 2xx's ACK matched its INVITE transaction
        assert holder[0].endpoint.unfinished == 0
    finally:
        await holder[0].close()
        await manager.stop()
