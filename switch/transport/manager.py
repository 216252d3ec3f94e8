"""The transport manager: every SIP socket of the node behind one ``send``/``on_message`` pair.

Listeners are opened by :meth:`TransportManager.start`; received messages go to ``on_message``
with a :class:`Peer` (stream peers carry ``conn_id``). :meth:`TransportManager.send` picks the
way out:

- UDP: from the UDP listener of the same address family (the socket the peer talks to).
- Streams: the connection ``peer.conn_id`` if it is open, else any open connection of that
  transport to ``(host, port)`` (RFC 3261 §18.2.2 reuse), else, for TCP/TLS only, a new
  connection dialled in the background (bounded concurrency; messages wait in a small queue).
  A browser on WS/WSS cannot be dialled (RFC 7118 §5): the message is dropped and logged.

The connection table is keyed by ``conn_id`` with a ``(transport, host, port)`` index. Idle
connections are closed after ``idle_timeout`` unless the registrar pinned them (:meth:`pin`):
a registered contact's connection is its only way in (RFC 5626 §5).

Time for idleness and pins comes from ``clock`` (default ``time.time``, the clock the node
passes to the registrar, so ``pin(conn_id, binding_expiry)`` needs no conversion).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from typing import Any

from switch.sip.address import Listener, Peer

from .base import (
    AdmitCallback,
    Connection,
    Counters,
    MessageHandler,
    PeerCallback,
    is_ip_literal,
    is_ipv6,
)
from .stream import StreamConnection
from .table import AddrKey, ConnectionTable
from .tls import TlsAcceptor
from .udp import UdpEndpoint
from .ws import WsListener

log = logging.getLogger(__name__)

def _os_reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return f"the address cannot be resolved ({exc.strerror})"
    return exc.strerror or str(exc)


class TransportManager:
    def __init__(self, on_message: MessageHandler, *, admit: AdmitCallback | None = None,
                 on_connection_lost: PeerCallback | None = None,
                 tls_context: ssl.SSLContext | None = None, max_message: int = 65535,
                 on_send_failed: PeerCallback | None = None,
                 tls_client_context: ssl.SSLContext | None = None,
                 idle_timeout: float = 600.0,
                 connect_timeout: float = 5.0,
                 max_connecting: int = 32,
                 max_pending_per_peer: int = 64,
                 write_buffer_limit: int = 1 << 20,
                 tls_handshake_timeout: float = 10.0,
                 udp_buffer: int = 4 << 20,
                 clock: Callable[[], float] = time.time) -> None:
        self.on_message = on_message
        self.admit = admit
        self.on_connection_lost = on_connection_lost
        self.on_send_failed = on_send_failed
        self.tls_context = tls_context
        # Outbound TLS verifies the server against the system CAs unless told otherwise.
        self.tls_client_context = tls_client_context
        self.max_message = max_message
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.max_pending_per_peer = max_pending_per_peer
        self.write_buffer_limit = write_buffer_limit
        self.tls_handshake_timeout = tls_handshake_timeout
        # Kernel buffer of each UDP socket: the default (~200 KiB, a few hundred datagrams)
        # overflows during any short pause of the loop at thousands of messages a second.
        self.udp_buffer = udp_buffer
        self.clock = clock
        self.counters = Counters()
        self.listeners: list[Listener] = []
        self._udp: list[UdpEndpoint] = []
        self._udp_v4: UdpEndpoint | None = None  # the first UDP listener of each family
        self._udp_v6: UdpEndpoint | None = None
        self._literal_hosts: dict[str, bool] = {}
        self._servers: list[asyncio.Server] = []
        self._tls: list[TlsAcceptor] = []
        self._ws: list[WsListener] = []
        self._stream_listeners: dict[str, Listener] = {}
        self._conns = ConnectionTable()
        self._pending: dict[AddrKey, list[bytes]] = {}
        self._connecting = asyncio.Semaphore(max_connecting)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, listeners: list[Listener]) -> list[Listener]:
        """Bind every listener; returns them with real ports (port 0 resolved), in order."""
        loop = asyncio.get_running_loop()
        bound: list[Listener] = []
        try:
            for item in listeners:
                try:
                    bound.append(await self._bind(loop, item))
                except OSError as exc:
                    # Name the listener: "Address already in use" alone does not say which.
                    raise OSError(exc.errno, f"cannot listen on {item}: "
                                             f"{_os_reason(exc)}") from exc
        except BaseException:
            await self.stop()
            raise
        self.listeners.extend(bound)
        if self._sweeper is None and self.idle_timeout > 0:
            self._sweeper = asyncio.create_task(self._sweep_idle())
        for item in bound:
            log.info("listening on %s", item)
        return bound

    async def _bind(self, loop: asyncio.AbstractEventLoop, item: Listener) -> Listener:
        family = socket.AF_INET6 if is_ipv6(item.host) else socket.AF_INET
        if item.transport == "udp":
            sock = _udp_socket(family, item.host, item.port, self.udp_buffer)
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: UdpEndpoint(item, self.on_message, self.admit, self.counters,
                                    self.max_message),
                sock=sock)
            real = Listener("udp", item.host, transport.get_extra_info("sockname")[1])
            protocol.listener = real
            self._udp.append(protocol)
            if family == socket.AF_INET6:
                self._udp_v6 = self._udp_v6 or protocol
            else:
                self._udp_v4 = self._udp_v4 or protocol
            return real
        if item.transport == "tcp":
            # The factory reads the listener through the list so that it sees the real port.
            holder: list[Listener] = [item]
            server = await loop.create_server(
                lambda: StreamConnection(self, "tcp", holder[0]), item.host, item.port,
                family=family, reuse_address=True, backlog=1024)
            real = Listener("tcp", item.host, server.sockets[0].getsockname()[1])
            holder[0] = real
            self._servers.append(server)
            self._stream_listeners.setdefault("tcp", real)
            return real
        if item.transport == "tls":
            acceptor = TlsAcceptor(self, item, self._server_context(item))
            real = acceptor.listen(family)
            self._tls.append(acceptor)
            self._stream_listeners.setdefault("tls", real)
            return real
        if item.transport in ("ws", "wss"):
            ws_context = self._server_context(item) if item.transport == "wss" else None
            ws = WsListener(self, item, ws_context)
            real = await ws.start()
            self._ws.append(ws)
            return real
        raise ValueError(f"unknown transport {item.transport!r} in {item}")

    def _server_context(self, item: Listener) -> ssl.SSLContext:
        if self.tls_context is None:
            raise ValueError(f"{item} needs a TLS certificate: pass tls_context "
                             "(switch.transport.certs can make a development one)")
        return self.tls_context

    async def stop(self) -> None:
        """Close listeners and connections; no on_connection_lost callbacks while stopping."""
        self._stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for task in list(self._tasks):
            task.cancel()
        for udp in self._udp:
            udp.close()
        for server in self._servers:
            server.close()
        for acceptor in self._tls:
            acceptor.close()
        for conn in self._conns.all():
            conn.close()
        for ws in self._ws:
            await ws.stop()
        for server in self._servers:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout=1.0)
        # Let graceful closes flush, then cut whatever is left.
        for _ in range(20):
            if not self._conns:
                break
            await asyncio.sleep(0.01)
        for conn in self._conns.all():
            conn.abort()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._udp.clear()
        self._udp_v4 = self._udp_v6 = None
        self._servers.clear()
        self._tls.clear()
        self._ws.clear()
        self.listeners.clear()
        self._stream_listeners.clear()
        self._pending.clear()

    # -- queries --------------------------------------------------------------------------------

    def listener_for(self, transport: str, host: str | None = None) -> Listener | None:
        """A listener of ``transport`` (for Via/Contact/Record-Route); with ``host``, prefer
        one of the same address family."""
        candidates = [item for item in self.listeners if item.transport == transport]
        if host is not None:
            family = is_ipv6(host)
            same = [item for item in candidates if is_ipv6(item.host) == family]
            candidates = same or candidates
        return candidates[0] if candidates else None

    @property
    def connections(self) -> int:
        return len(self._conns)

    def stats(self) -> dict[str, Any]:
        """Counters for /healthz and metrics: messages in/out per transport, drops by reason."""
        record = self.counters.as_dict()
        record["connections"] = len(self._conns)
        record["connecting"] = len(self._pending)
        return record

    def connection(self, conn_id: int) -> Connection | None:
        return self._conns.get(conn_id)

    def touch(self, conn_id: int) -> bool:
        """Mark a connection active now (e.g. a REGISTER refresh on it); False if it is gone."""
        conn = self._conns.get(conn_id)
        if conn is None:
            return False
        conn.last_activity = self.clock()
        return True

    def pin(self, conn_id: int, until: float) -> bool:
        """Keep a connection open while idle until ``until`` (clock time, e.g. the binding's
        expiry); ``pin(conn_id, 0)`` unpins. False if the connection is gone."""
        conn = self._conns.get(conn_id)
        if conn is None:
            return False
        conn.pinned_until = until
        return True

    def close_connection(self, conn_id: int) -> bool:
        conn = self._conns.get(conn_id)
        if conn is None:
            return False
        conn.close()
        return True

    # -- sending --------------------------------------------------------------------------------

    def send(self, data: bytes, peer: Peer) -> None:
        """Send one message without blocking; losses are logged, counted and reported."""
        name = peer.transport
        if name == "udp":
            self._send_udp(data, peer)
            return
        conn = self._conns.get(peer.conn_id) if peer.conn_id is not None else None
        if conn is None or conn.closing:
            conn = self._conns.find(name, peer.host, peer.port)
        if conn is not None:
            if conn.write(data):
                self.counters.messages_out[name] += 1
                conn.last_activity = self.clock()
            else:
                self._send_failed(peer)
            return
        if name in ("tcp", "tls"):
            self._connect_and_send(data, peer)
            return
        self.counters.drops["no_connection"] += 1
        log.info("dropped a message to %s: the connection is gone and %s cannot be dialled",
                 peer, name)
        self._send_failed(peer)

    def _send_udp(self, data: bytes, peer: Peer) -> None:
        host = peer.host
        literal = self._literal_hosts.get(host)
        if literal is None:
            # Parsing an address costs microseconds: remember the answer (bounded).
            if len(self._literal_hosts) >= 4096:
                self._literal_hosts.clear()
            literal = self._literal_hosts[host] = is_ip_literal(host)
        if not literal:
            self.spawn(self._resolve_and_send(data, peer))
            return
        endpoint = self._udp_v6 if ":" in host else self._udp_v4
        if endpoint is None:
            self.counters.drops["no_listener"] += 1
            log.warning("no UDP listener for %s: dropped a message", peer)
            self._send_failed(peer)
            return
        try:
            sent = endpoint.send(data, peer.host, peer.port)
        except OSError as exc:
            sent = False
            log.info("UDP send to %s failed: %s", peer, exc)
        if sent:
            self.counters.messages_out["udp"] += 1
        else:
            self.counters.drops["send_error"] += 1
            self._send_failed(peer)

    async def _resolve_and_send(self, data: bytes, peer: Peer) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(peer.host, peer.port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            self.counters.drops["send_error"] += 1
            log.info("cannot resolve %s: %s", peer, exc)
            self._send_failed(peer)
            return
        families = {item.listener.host.count(":") > 0 for item in self._udp}
        for info in infos:
            host = str(info[4][0])
            if is_ipv6(host) in families:
                self._send_udp(data, Peer("udp", host, peer.port))
                return
        self.counters.drops["no_listener"] += 1
        self._send_failed(peer)

    def _send_failed(self, peer: Peer) -> None:
        if self.on_send_failed is not None:
            try:
                self.on_send_failed(peer)
            except Exception:
                log.exception("on_send_failed failed for %s", peer)

    # -- outbound connections (TCP/TLS) ---------------------------------------------------------

    def _connect_and_send(self, data: bytes, peer: Peer) -> None:
        key = (peer.transport, peer.host, peer.port)
        queue = self._pending.get(key)
        if queue is not None:
            if len(queue) >= self.max_pending_per_peer:
                self.counters.drops["pending_overflow"] += 1
                log.warning("dropped a message to %s: %d already wait for the connection",
                            peer, len(queue))
                self._send_failed(peer)
            else:
                queue.append(data)
            return
        if self._stopping:
            return
        self._pending[key] = [data]
        self.spawn(self._connect(key))

    async def _connect(self, key: AddrKey) -> None:
        name, host, port = key
        peer = Peer(name, host, port)
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        if name == "tls":
            context = self.tls_client_context or ssl.create_default_context()
        local = self._stream_listeners.get(name)
        try:
            async with self._connecting:
                _, conn = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: StreamConnection(self, name, local, outbound=True), host, port,
                        ssl=context, server_hostname=host if context is not None else None),
                    timeout=self.connect_timeout)
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            queued = self._pending.pop(key, [])
            self.counters.drops["connect_failed"] += len(queued)
            log.warning("could not connect to %s (%s): dropped %d message(s)", peer,
                        exc or "timed out", len(queued))
            self._send_failed(peer)
            return
        self._conns.alias(conn, key)
        queued = self._pending.pop(key, [])
        for data in queued:
            if conn.write(data):
                self.counters.messages_out[name] += 1
            else:
                self._send_failed(peer)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a background task owned by the manager (cancelled by :meth:`stop`)."""
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the Hub interface used by connections --------------------------------------------------

    def admit_peer(self, peer: Peer) -> bool:
        if self.admit is None:
            return True
        try:
            return self.admit(peer)
        except Exception:
            log.exception("admit failed for %s; refusing", peer)
            return False

    def register(self, conn: Connection) -> Peer:
        conn.last_activity = self.clock()
        peer = self._conns.add(conn)
        self.counters.connections_opened[conn.transport_name] += 1
        log.debug("connection %s open", peer)
        return peer

    def unregister(self, conn: Connection) -> None:
        if not self._conns.remove(conn):
            return
        self.counters.connections_closed[conn.transport_name] += 1
        log.debug("connection %s closed", conn.peer)
        if self.on_connection_lost is not None and not self._stopping:
            try:
                self.on_connection_lost(conn.peer)
            except Exception:
                log.exception("on_connection_lost failed for %s", conn.peer)

    def deliver(self, data: bytes, peer: Peer, local: Listener) -> None:
        self.counters.messages_in[peer.transport] += 1
        try:
            self.on_message(data, peer, local)
        except Exception:  # an upstream bug must not take the connection down
            self.counters.drops["handler_error"] += 1
            log.exception("on_message failed for a message from %s", peer)

    # -- idle connections -----------------------------------------------------------------------

    async def _sweep_idle(self) -> None:
        interval = max(0.05, min(self.idle_timeout / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            self.close_idle()

    def close_idle(self, now: float | None = None) -> int:
        """Close connections idle for ``idle_timeout`` and not pinned; returns how many."""
        now = self.clock() if now is None else now
        idle = self._conns.idle(now, self.idle_timeout)
        for conn in idle:
            log.debug("closing idle connection %s", conn.peer)
            conn.close()
        return len(idle)


def _udp_socket(family: int, host: str, port: int, buffer: int) -> socket.socket:
    """A bound non-blocking UDP socket with ``buffer`` octets of kernel buffer each way (the
    kernel caps it at net.core.rmem_max/wmem_max; a smaller grant is logged, not fatal)."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if buffer > 0:
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, option, buffer)
            granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            if granted < buffer:  # Linux reports twice the value it accepted
                log.info("UDP receive buffer on %s:%s is %d octets (asked %d; raise "
                         "net.core.rmem_max for more)", host, port, granted, buffer)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
