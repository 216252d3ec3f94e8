"""SIP over WebSocket and secure WebSocket (RFC 7118), the way JsSIP connects.

Built on the ``websockets`` asyncio server. The rules of RFC 7118 that live here:

- §4 (handshake): the client offers the "sip" subprotocol and the server selects it. A
  handshake without it is refused with HTTP 400 and a body that says why, rather than
  accepted as a WebSocket that would then carry something else.
- §5 (framing): one SIP message per WebSocket message, text or binary; no Content-Length
  framing is needed (the message boundary is the frame boundary). We answer in text when the
  message is valid UTF-8 (what browsers expect), else in binary.
- §5 / RFC 5626: a browser cannot accept connections, so a message to a WS peer whose
  connection is gone is dropped (the manager counts it and reports ``on_send_failed``).

Liveness uses WebSocket ping/pong (RFC 6455 §5.5.2, ``websockets``' keepalive); a CRLFCRLF
"ping" sent to a WS peer by the registrar is turned into a WebSocket ping.

``admit(peer)`` runs in ``connection_made``, before the HTTP upgrade is read.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
from collections.abc import Sequence
from typing import cast

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.typing import Subprotocol

from switch.sip.address import Listener, Peer

from .base import Connection, Hub, normalize_host

log = logging.getLogger(__name__)

SIP_SUBPROTOCOL = Subprotocol("sip")
_CLOSE_TOO_BIG = 1009  # RFC 6455 §7.4.1: message too big to process


def select_sip_subprotocol(connection: ServerConnection,
                           offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """RFC 7118 §4: select "sip" when offered; refuse the handshake (HTTP 400) otherwise."""
    if SIP_SUBPROTOCOL in offered:
        return SIP_SUBPROTOCOL
    raise NegotiationError("SIP over WebSocket requires the 'sip' subprotocol "
                           "(Sec-WebSocket-Protocol: sip, RFC 7118 §4)")


class _AdmittingConnection(ServerConnection):
    """Runs ``admit(peer)`` as soon as the TCP (or TLS) connection exists."""

    hub: Hub
    transport_name: str

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        stream = cast(asyncio.Transport, transport)
        peername = stream.get_extra_info("peername")
        if not peername:
            stream.abort()
            return
        peer = Peer(self.transport_name, normalize_host(peername[0]), peername[1])
        if not self.hub.admit_peer(peer):
            self.hub.counters.drops["admit"] += 1
            # The handshake then fails on a closed transport; websockets cleans up quietly.
            stream.abort()


class WsConnection(Connection):
    """One accepted WebSocket carrying SIP; sends go through a bounded writer task."""

    def __init__(self, hub: Hub, transport_name: str, listener: Listener,
                 ws: ServerConnection, peer: Peer) -> None:
        self.hub = hub
        self.transport_name = transport_name
        self.listener = listener
        self.ws = ws
        self.peer = peer
        self.conn_id = -1
        self.last_activity = hub.clock()
        self.pinned_until = 0.0
        self._queue: collections.deque[bytes | None] = collections.deque()
        self._queued_octets = 0
        self._wakeup = asyncio.Event()
        self._closed = False
        self._over_limit = False
        self._closer: asyncio.Future[None] | None = None
        self._writer = asyncio.create_task(self._write_loop())

    def write(self, data: bytes) -> bool:
        if self._closed:
            return False
        if self._queued_octets + len(data) > self.hub.write_buffer_limit:
            self.hub.counters.drops["write_buffer"] += 1
            if not self._over_limit:
                self._over_limit = True
                log.warning("%s does not read: over %d octets queued, dropping messages",
                            self.peer, self.hub.write_buffer_limit)
            return False
        self._over_limit = False
        self._queue.append(data)
        self._queued_octets += len(data)
        self._wakeup.set()
        return True

    async def _write_loop(self) -> None:
        ws = self.ws
        try:
            while True:
                while not self._queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                data = self._queue.popleft()
                if data is None:
                    return
                self._queued_octets -= len(data)
                if not data.strip(b"\r\n"):
                    # A CRLF keepalive has no place inside WebSocket: use a WS ping.
                    await ws.ping()
                    continue
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    await ws.send(data)
                else:
                    await ws.send(text)
        except ConnectionClosed:
            pass

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.append(None)  # flush what is queued, then close
            self._wakeup.set()
            self._writer.add_done_callback(self._close_socket)

    def _close_socket(self, _: object) -> None:
        # Keep a reference: the loop holds tasks only weakly.
        self._closer = asyncio.ensure_future(self.ws.close())

    def abort(self) -> None:
        self._closed = True
        self._writer.cancel()
        if self.ws.transport is not None:
            self.ws.transport.abort()

    @property
    def closing(self) -> bool:
        return self._closed

    async def finish(self) -> None:
        self._closed = True
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


class WsListener:
    """A ws: or wss: listener (one ``websockets`` server)."""

    def __init__(self, hub: Hub, listener: Listener, ssl_context: ssl.SSLContext | None) -> None:
        self.hub = hub
        self.listener = listener
        self.ssl_context = ssl_context
        self.server: Server | None = None

    async def start(self) -> Listener:
        name = self.listener.transport
        connection_class = cast(type[ServerConnection], type(
            f"SipConnection_{name}", (_AdmittingConnection,),
            {"hub": self.hub, "transport_name": name}))
        self.server = await serve(
            self._handle, self.listener.host, self.listener.port,
            ssl=self.ssl_context,
            subprotocols=[SIP_SUBPROTOCOL],
            select_subprotocol=select_sip_subprotocol,
            create_connection=connection_class,
            max_size=self.hub.max_message,
            server_header="switchboard",
            # A browser tab can stall; keepalive pings find it (RFC 6455 §5.5.2).
            ping_interval=20, ping_timeout=20,
        )
        port = self.server.sockets[0].getsockname()[1]
        self.listener = Listener(name, self.listener.host, port)
        return self.listener

    async def _handle(self, ws: ServerConnection) -> None:
        host, port = ws.remote_address[0], ws.remote_address[1]
        name = self.listener.transport
        conn = WsConnection(self.hub, name, self.listener, ws,
                            Peer(name, normalize_host(host), port))
        self.hub.register(conn)
        try:
            async for message in ws:
                data = message.encode("utf-8") if isinstance(message, str) else message
                conn.last_activity = self.hub.clock()
                if not data.strip(b"\r\n"):
                    continue  # stray keepalive text; nothing to parse
                self.hub.deliver(data, conn.peer, self.listener)
        except ConnectionClosed as exc:
            if (exc.rcvd is not None and exc.rcvd.code == _CLOSE_TOO_BIG) or (
                    exc.sent is not None and exc.sent.code == _CLOSE_TOO_BIG):
                self.hub.counters.drops["oversize"] += 1
                log.info("closed %s: message over %d octets", conn.peer, self.hub.max_message)
        finally:
            await conn.finish()
            self.hub.unregister(conn)

    async def stop(self) -> None:
        if self.server is None:
            return
        self.server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), timeout=2.0)

