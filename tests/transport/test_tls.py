"""TLS through the TransportManager with a certificate made by switch.transport.certs.

The client is the stdlib ``ssl`` module verifying the server against that certificate (host
name checked against the IP in subjectAltName), so a wrong certificate fails the test.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from switch.sip.address import Peer
from switch.transport.certs import ensure_dev_certificate, make_self_signed
from switch.transport.tls import client_context, server_context

from .support import LOOP_IDS, LOOPS, WAIT, read_exactly, request, response, running

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture(params=LOOPS, ids=LOOP_IDS)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    yield make_self_signed(tmp_path_factory.mktemp("certs"))


async def _connect(port: int, cafile: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(
        "127.0.0.1", port, ssl=client_context(cafile), server_hostname="127.0.0.1"), WAIT)


def test_certificate_files_and_reuse(tmp_path: Path) -> None:
    cert, key = ensure_dev_certificate(tmp_path)
    assert key.stat().st_mode & 0o077 == 0  # the private key is not world-readable
    assert b"BEGIN CERTIFICATE" in cert.read_bytes()
    before = cert.read_bytes()
    assert ensure_dev_certificate(tmp_path) == (cert, key)
    assert cert.read_bytes() == before  # made once, then reused


async def test_tls_delivers_and_answers_on_the_connection(cert_files: tuple[Path, Path]) -> None:
    cert, key = cert_files
    async with running(["tls:127.0.0.1:0"], tls_context=server_context(cert, key)) as (
            manager, got, bound):
        reader, writer = await _connect(bound[0].port, cert)
        writer.write(request(call_id="a") + request(call_id="b"))
        first, second = await got.next(), await got.next()
        assert (first.data, second.data) == (request(call_id="a"), request(call_id="b"))
        assert first.peer.transport == "tls"
        assert first.peer.conn_id is not None and first.peer == second.peer
        assert first.local == bound[0]
        manager.send(response(), first.peer)
        assert await read_exactly(reader, len(response())) == response()
        writer.write(b"\r\n\r\n")
        assert await read_exactly(reader, 2) == b"\r\n"
        writer.close()
        assert await got.next_lost() == first.peer


async def test_tls_client_that_distrusts_the_certificate_fails(
        cert_files: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = cert_files
    other_cert, _ = make_self_signed(tmp_path / "other")
    async with running(["tls:127.0.0.1:0"], tls_context=server_context(cert, key)) as (
            manager, got, bound):
        with pytest.raises(ssl.SSLCertVerificationError):
            await _connect(bound[0].port, other_cert)
        assert got.messages.empty()
        assert manager.connections == 0


async def test_tls_admit_false_refuses_before_the_handshake(
        cert_files: tuple[Path, Path]) -> None:
    cert, key = cert_files
    async with running(["tls:127.0.0.1:0"], tls_context=server_context(cert, key),
                       admit=lambda peer: False) as (manager, got, bound):
        # The TCP connection is cut before the server says anything: the handshake fails.
        with pytest.raises((ConnectionError, ssl.SSLError)):
            await _connect(bound[0].port, cert)
        assert manager.stats()["drops"]["admit"] == 1
        assert got.messages.empty()


async def test_tls_client_that_never_speaks_is_not_registered(
        cert_files: tuple[Path, Path]) -> None:
    cert, key = cert_files
    async with running(["tls:127.0.0.1:0"], tls_context=server_context(cert, key)) as (
            manager, got, bound):
        _, silent = await asyncio.open_connection("127.0.0.1", bound[0].port)  # no TLS
        reader, writer = await _connect(bound[0].port, cert)  # a real client still served
        writer.write(request())
        item = await got.next()
        assert manager.connections == 1  # the silent one is mid-handshake, not a connection
        manager.send(response(), item.peer)
        assert await read_exactly(reader, len(response())) == response()
        silent.close()
        writer.close()


async def test_tls_send_dials_and_verifies_the_peer(cert_files: tuple[Path, Path]) -> None:
    cert, key = cert_files
    async with running(["tls:127.0.0.1:0"], tls_context=server_context(cert, key)) as (
            server, server_got, server_bound), \
            running(["tls:127.0.0.1:0"], tls_context=server_context(cert, key),
                    tls_client_context=client_context(cert)) as (client, client_got, _):
        target = Peer("tls", "127.0.0.1", server_bound[0].port)
        client.send(request(call_id="dialled"), target)
        arrived = await server_got.next()
        assert arrived.data == request(call_id="dialled")
        server.send(response(call_id="dialled"), arrived.peer)
        answer = await client_got.next()
        assert answer.data == response(call_id="dialled")
        assert (answer.peer.host, answer.peer.port) == ("127.0.0.1", server_bound[0].port)
        assert client.stats()["connections_opened"]["tls"] == 1


async def test_tls_dial_to_an_untrusted_peer_is_reported(cert_files: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    cert, key = cert_files
    other_cert, _ = make_self_signed(tmp_path / "other")
    async with running(["tls:127.0.0.1:0"], tls_context=server_context(cert, key)) as (
            _, server_got, server_bound), \
            running(["tcp:127.0.0.1:0"], tls_client_context=client_context(other_cert)) as (
            client, client_got, _):
        target = Peer("tls", "127.0.0.1", server_bound[0].port)
        client.send(request(), target)
        assert await client_got.next_failed() == target
        assert client.stats()["drops"]["connect_failed"] == 1
        assert server_got.messages.empty()


async def test_tls_listener_without_a_context_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="needs a TLS certificate"):
        async with running(["tls:127.0.0.1:0"]):
            pass
