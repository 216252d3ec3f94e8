"""TLS: contexts for the listeners (TLS, WSS) and outbound connections; the TLS acceptor.

The manager takes ready :class:`ssl.SSLContext` objects; these helpers build the usual ones.
TLS 1.2 is the floor (RFC 8996 retired 1.0 and 1.1; RFC 5630 for SIPS).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from pathlib import Path

from switch.sip.address import Listener, Peer

from .base import Hub, normalize_host
from .stream import StreamConnection

log = logging.getLogger(__name__)


def server_context(cert: Path | str, key: Path | str) -> ssl.SSLContext:
    """A server context for TLS/WSS listeners from PEM files."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


def client_context(cafile: Path | str | None = None) -> ssl.SSLContext:
    """A client context that verifies the server: system CAs, or only ``cafile`` if given
    (e.g. the development certificate, to dial another node in tests)."""
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(cafile) if cafile is not None else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class TlsAcceptor:
    """A TLS listener that runs ``admit(peer)`` BEFORE the handshake.

    ``loop.create_server(ssl=...)`` calls the protocol only after the handshake, so a banned or
    flooding source would still cost one handshake per connection. Here the bare socket is
    accepted (``loop.sock_accept``), admitted, and only then handed to
    ``loop.connect_accepted_socket(ssl=...)``; a handshake that stalls is cut after
    ``hub.tls_handshake_timeout``.
    """

    def __init__(self, hub: Hub, listener: Listener, context: ssl.SSLContext) -> None:
        self.hub = hub
        self.listener = listener
        self.context = context
        self.sock: socket.socket | None = None

    def listen(self, family: int) -> Listener:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((self.listener.host, self.listener.port))
            sock.listen(1024)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.listener = Listener("tls", self.listener.host, sock.getsockname()[1])
        self.hub.spawn(self._accept_loop(sock))
        return self.listener

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, addr = await loop.sock_accept(sock)
            except OSError as exc:  # EMFILE and friends: back off instead of spinning
                log.warning("accept on %s failed: %s", self.listener, exc)
                await asyncio.sleep(0.1)
                continue
            peer = Peer("tls", normalize_host(addr[0]), addr[1])
            if not self.hub.admit_peer(peer):
                self.hub.counters.drops["admit"] += 1
                conn.close()
                continue
            self.hub.spawn(self._handshake(conn, peer))

    async def _handshake(self, conn: socket.socket, peer: Peer) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(
                lambda: StreamConnection(self.hub, "tls", self.listener, admitted=True), conn,
                ssl=self.context, ssl_handshake_timeout=self.hub.tls_handshake_timeout)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            log.info("TLS handshake with %s failed: %s", peer, exc)
            conn.close()
        except asyncio.CancelledError:
            conn.close()  # the manager stops during the handshake
            raise

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
