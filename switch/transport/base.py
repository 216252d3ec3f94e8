"""What every transport shares: callback types, counters, and the connection interface.

The transports are the only code that touches SIP sockets. They do no SIP parsing beyond
framing: a complete message (a datagram, a Content-Length-framed chunk of a stream, or one
WebSocket message) goes to the ``on_message`` callback with the :class:`Peer` it came from.
"""

from __future__ import annotations

import ipaddress
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from switch.sip.address import Listener, Peer

MessageHandler = Callable[[bytes, Peer, Listener], None]
"""``on_message(data, peer, local)``: one complete SIP message."""

PeerCallback = Callable[[Peer], None]
"""``admit``-less peer notifications: connection lost, send failed."""

AdmitCallback = Callable[[Peer], bool]
"""``admit(peer)``: called before any parsing; False drops the datagram / refuses the stream."""

# Reasons a message or a connection is dropped; every one is a counter (see Counters).
DROP_REASONS = (
    "admit",            # admit(peer) said no (rate limit, ban)
    "oversize",         # datagram or stream message over max_message
    "framing",          # stream framing error (no/bad Content-Length): connection closed
    "no_listener",      # send on a transport we do not listen on
    "no_connection",    # ws/wss send after the connection closed (cannot dial a browser)
    "connect_failed",   # outbound TCP/TLS connect failed or timed out
    "write_buffer",     # peer does not read: per-connection write buffer over its cap
    "pending_overflow",  # too many messages queued while an outbound connect is under way
    "handler_error",    # on_message raised (a bug upstream; logged with its traceback)
    "send_error",       # the OS refused a datagram (e.g. unreachable network)
)


class Counters:
    """Messages in/out per transport and drops by reason, as a plain dict for /healthz.

    Kept as flat dicts of ints so the hot path is one dict increment.
    """

    __slots__ = ("connections_closed", "connections_opened", "drops", "keepalives",
                 "messages_in", "messages_out")

    def __init__(self) -> None:
        transports = ("udp", "tcp", "tls", "ws", "wss")
        self.messages_in: dict[str, int] = dict.fromkeys(transports, 0)
        self.messages_out: dict[str, int] = dict.fromkeys(transports, 0)
        self.drops: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self.connections_opened: dict[str, int] = dict.fromkeys(transports[1:], 0)
        self.connections_closed: dict[str, int] = dict.fromkeys(transports[1:], 0)
        self.keepalives = 0  # CRLFCRLF pings answered with CRLF (RFC 5626 §4.4.1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages_in": dict(self.messages_in),
            "messages_out": dict(self.messages_out),
            "drops": dict(self.drops),
            "connections_opened": dict(self.connections_opened),
            "connections_closed": dict(self.connections_closed),
            "keepalives_answered": self.keepalives,
        }


class Connection(ABC):
    """A live stream connection (TCP, TLS, WS, WSS) as the manager sees it.

    ``peer`` carries the ``conn_id`` so a message received on the connection can be answered
    on it (RFC 3261 §18.2.2; RFC 7118 §5: a browser cannot accept connections).
    """

    conn_id: int
    transport_name: str
    peer: Peer
    listener: Listener
    last_activity: float
    pinned_until: float
    # The (transport, host, port) an outbound connection was dialled to when it differs from
    # the address it reached (a host name): indexed too, so the next send reuses it.
    dial_key: tuple[str, str, int] | None = None

    @property
    def addr_key(self) -> tuple[str, str, int]:
        return (self.transport_name, self.peer.host, self.peer.port)

    @abstractmethod
    def write(self, data: bytes) -> bool:
        """Queue one message; False if it was dropped (closed, or the write buffer is full)."""

    @abstractmethod
    def close(self) -> None:
        """Close gracefully (idempotent)."""

    @abstractmethod
    def abort(self) -> None:
        """Close at once, discarding buffered data (idempotent)."""

    @property
    @abstractmethod
    def closing(self) -> bool: ...


def normalize_host(host: str) -> str:
    """IPv4-mapped IPv6 (``::ffff:1.2.3.4`` from a dual-stack socket) -> ``1.2.3.4``.

    Peers are compared and indexed by host; one spelling per address keeps connection reuse
    and rate limiting keyed on the same string. Scope ids (``fe80::1%eth0``) are kept.
    """
    if host.startswith("::ffff:") and "." in host:
        return host[7:]
    return host


def is_ipv6(host: str) -> bool:
    return ":" in host


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return True


class Hub(Protocol):
    """The part of the manager a connection talks to (keeps the protocols free of it)."""

    counters: Counters
    max_message: int
    write_buffer_limit: int
    tls_handshake_timeout: float

    def clock(self) -> float: ...

    def admit_peer(self, peer: Peer) -> bool: ...

    def register(self, conn: Connection) -> Peer: ...

    def unregister(self, conn: Connection) -> None: ...

    def deliver(self, data: bytes, peer: Peer, local: Listener) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...


def source_address(host: str) -> str:
    """The local address the kernel would send from to reach ``host`` (a connected UDP
    socket sends nothing): what a wildcard listener advertises in Via and Contact."""
    family = socket.AF_INET6 if is_ipv6(host) else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return "::1" if family == socket.AF_INET6 else "127.0.0.1"
