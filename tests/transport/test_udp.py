"""UDP through the TransportManager with real sockets on loopback (IPv4 and IPv6)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from switch.sip.address import Peer

from .support import LOOP_IDS, LOOPS, WAIT, request, response, running

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture(params=LOOPS, ids=LOOP_IDS)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


def _client(family: int = socket.AF_INET, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.settimeout(WAIT)  # read in a worker thread: uvloop has no sock_recvfrom
    return sock


async def _recvfrom(sock: socket.socket) -> tuple[bytes, tuple[str, int]]:
    data, source = await asyncio.to_thread(sock.recvfrom, 70000)
    return data, source


async def _recv(sock: socket.socket) -> bytes:
    return (await _recvfrom(sock))[0]


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


async def test_datagram_delivered_with_its_peer_and_listener() -> None:
    async with running(["udp:127.0.0.1:0"]) as (manager, got, bound):
        assert bound[0].port != 0
        assert manager.listener_for("udp") == bound[0]
        with _client() as sock:
            sock.sendto(request(), ("127.0.0.1", bound[0].port))
            item = await got.next()
            assert item.data == request()
            assert item.peer == Peer("udp", "127.0.0.1", sock.getsockname()[1])
            assert item.local == bound[0]
        assert manager.stats()["messages_in"]["udp"] == 1


async def test_send_goes_out_from_the_listening_socket() -> None:
    async with running(["udp:127.0.0.1:0"]) as (manager, got, bound):
        with _client() as sock:
            sock.sendto(request(), ("127.0.0.1", bound[0].port))
            item = await got.next()
            manager.send(response(), item.peer)
            data, source = await _recvfrom(sock)
            assert data == response()
            # Same source address the request went to (RFC 3261 §18.2.2, NAT friendliness).
            assert source[1] == bound[0].port
        assert manager.stats()["messages_out"]["udp"] == 1


async def test_oversize_datagram_is_dropped_and_counted() -> None:
    async with running(["udp:127.0.0.1:0"], max_message=1500) as (manager, got, bound):
        big = request(body=b"x" * 3000)
        small = request(branch="z9hG4bKsmall")
        with _client() as sock:
            sock.sendto(big, ("127.0.0.1", bound[0].port))
            sock.sendto(small, ("127.0.0.1", bound[0].port))
            item = await got.next()  # loopback keeps order: the big one came first
        assert item.data == small
        assert manager.stats()["drops"]["oversize"] == 1
        assert got.messages.empty()


async def test_admit_false_drops_the_datagram_before_delivery() -> None:
    with _client() as banned, _client() as welcome:
        banned_port = banned.getsockname()[1]

        def admit(peer: Peer) -> bool:
            return peer.port != banned_port

        async with running(["udp:127.0.0.1:0"], admit=admit) as (manager, got, bound):
            banned.sendto(request(branch="z9hG4bKbanned"), ("127.0.0.1", bound[0].port))
            welcome.sendto(request(branch="z9hG4bKwelcome"), ("127.0.0.1", bound[0].port))
            item = await got.next()
            assert item.peer.port == welcome.getsockname()[1]
            assert manager.stats()["drops"]["admit"] == 1
            assert got.messages.empty()


async def test_crlf_keepalive_datagram_is_not_delivered() -> None:
    async with running(["udp:127.0.0.1:0"]) as (_, got, bound):
        with _client() as sock:
            sock.sendto(b"\r\n\r\n", ("127.0.0.1", bound[0].port))
            sock.sendto(request(), ("127.0.0.1", bound[0].port))
            item = await got.next()
        assert item.data == request()
        assert got.messages.empty()


async def test_send_to_a_hostname_resolves_it() -> None:
    async with running(["udp:127.0.0.1:0"]) as (manager, _, _bound):
        with _client() as sock:
            manager.send(response(), Peer("udp", "localhost", sock.getsockname()[1]))
            assert await _recv(sock) == response()


async def test_send_without_a_listener_of_that_family_is_reported() -> None:
    async with running(["udp:127.0.0.1:0"]) as (manager, got, _):
        peer = Peer("udp", "::1", 5060)
        manager.send(response(), peer)
        assert await got.next_failed() == peer
        assert manager.stats()["drops"]["no_listener"] == 1


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback here")
async def test_ipv6_listener_receives_and_answers() -> None:
    async with running(["udp:[::1]:0", "udp:127.0.0.1:0"]) as (manager, got, bound):
        assert bound[0].host == "::1"
        assert manager.listener_for("udp", "::1") == bound[0]
        assert manager.listener_for("udp", "10.0.0.1") == bound[1]
        with _client(socket.AF_INET6, "::1") as sock:
            sock.sendto(request(), ("::1", bound[0].port))
            item = await got.next()
            assert item.peer.host == "::1"
            assert item.local == bound[0]
            manager.send(response(), item.peer)
            assert await _recv(sock) == response()
