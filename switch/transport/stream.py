"""SIP over TCP and TLS (RFC 3261 §18.3): messages framed by Content-Length on a byte stream.

One :class:`StreamConnection` (an :class:`asyncio.Protocol`) per connection, accepted or dialled.
TLS is the same protocol under ``ssl=``: asyncio/uvloop run the TLS layer and call
``connection_made`` once the handshake is done.

Keepalive (RFC 5626 §4.4.1): a "CRLFCRLF" ping between messages is answered with a "CRLF"
pong; a lone CRLF is ignored.

A framing error (no, several or a bad Content-Length; a header block or body over the limit)
leaves no way to find the next message, so the connection is closed (RFC 4475 §3.1.2.3,
§3.3.9) and counted. Before that the stream answers as a datagram would: the messages framed
ahead of the error are delivered (RFC 4475 §3.1.1.8 dblreq), and the header block that could
not be framed goes to the SIP core like any message, where the stream parser refuses it for
the same reason and answers 400 when the head names somewhere to answer (RFC 3261 §18.3:
Content-Length is mandatory on streams; RFC 4475 §3.4.1 inv2543 lacks it). The answer is
written before a graceful close, so it is flushed; anything the peer sends afterwards is
ignored.

Backpressure: the transport's write buffer is capped at ``hub.write_buffer_limit``. A peer that
does not read loses further messages (logged once per episode, each one counted) instead of
growing our memory without bound; SIP over a reliable transport has no retransmissions, so the
transaction layer sees a timeout as it would on a dead peer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from switch.sip.address import Listener, Peer
from switch.sip.framing import FramingError, StreamFramer

from .base import Connection, Hub, normalize_host

log = logging.getLogger(__name__)

PONG = b"\r\n"


class StreamConnection(asyncio.Protocol, Connection):
    """A TCP or TLS connection carrying SIP (``transport_name`` is "tcp" or "tls")."""

    def __init__(self, hub: Hub, transport_name: str, listener: Listener | None, *,
                 outbound: bool = False, admitted: bool = False) -> None:
        self.hub = hub
        self.transport_name = transport_name
        # Outbound connections of a node without a listener of this transport report their
        # own local address (known once connected).
        self.listener = listener or Listener(transport_name, "", 0)
        self.outbound = outbound
        self.admitted = admitted  # admit() already ran (TLS accepts check before the handshake)
        self.conn_id = -1
        self.peer = Peer(transport_name, "", 0)
        self.last_activity = hub.clock()
        self.pinned_until = 0.0
        self.refused = False
        self._transport: asyncio.Transport | None = None
        self._framer = StreamFramer(hub.max_message)
        self._pings = 0
        self._closed = False
        self._failed = False  # framing broke: the stream is answered and closing
        self._over_limit = False  # inside a "peer does not read" episode (log once)

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = stream = cast(asyncio.Transport, transport)
        peername = stream.get_extra_info("peername")
        if not peername:
            self.refused = True
            stream.abort()
            return
        peer = Peer(self.transport_name, normalize_host(peername[0]), peername[1])
        if not self.listener.host:
            sockname = stream.get_extra_info("sockname")
            self.listener = Listener(self.transport_name, normalize_host(sockname[0]),
                                     sockname[1])
        if not (self.outbound or self.admitted) and not self.hub.admit_peer(peer):
            # Refused before a single octet is parsed (rate limit, ban).
            self.refused = True
            self.hub.counters.drops["admit"] += 1
            stream.abort()
            return
        self.peer = peer
        self.hub.register(self)

    def data_received(self, data: bytes) -> None:
        if self._closed or self.refused or self._failed:
            return
        self.last_activity = self.hub.clock()
        failure: FramingError | None = None
        try:
            messages = self._framer.feed(data)
        except FramingError as error:
            messages, failure = error.framed, error
        self._answer_pings()
        for message in messages:
            self.hub.deliver(message, self.peer, self.listener)
            if self._closed:
                return
        if failure is not None:
            self._framing_failed(failure)

    def _answer_pings(self) -> None:
        """RFC 5626 §4.4.1: each CRLFCRLF ping gets one CRLF pong."""
        pings = self._framer.pings_seen
        if pings != self._pings:
            answered = pings - self._pings
            self._pings = pings
            self.hub.counters.keepalives += answered
            assert self._transport is not None
            self._transport.write(PONG * answered)

    def _framing_failed(self, error: FramingError) -> None:
        """Answer what can be answered, then close: the stream cannot be resynchronised."""
        self._failed = True
        self.hub.counters.drops["oversize" if error.status == 413 else "framing"] += 1
        log.warning("closing %s: stream framing failed (%s)", self.peer, error.reason)
        if error.head is not None and not self._closed:
            # The core parses the head as a stream message, refuses it for the same missing
            # or bad Content-Length and answers 400 on this connection, as it answers a
            # malformed datagram (no Via: nothing to answer, it only logs).
            self.hub.deliver(error.head, self.peer, self.listener)
        # close(), not abort(): the answers just written are flushed before the FIN.
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.refused:
            return
        self._closed = True
        if exc is not None:
            log.debug("%s lost: %s", self.peer, exc)
        self.hub.unregister(self)

    def eof_received(self) -> bool | None:
        # The peer half-closed: SIP has no use for a half-open stream; close our side too
        # (returning None lets the transport close itself, also under TLS).
        return None

    # -- Connection -----------------------------------------------------------------------------

    def write(self, data: bytes) -> bool:
        transport = self._transport
        if transport is None or self._closed or transport.is_closing():
            return False
        if transport.get_write_buffer_size() + len(data) > self.hub.write_buffer_limit:
            self.hub.counters.drops["write_buffer"] += 1
            if not self._over_limit:
                self._over_limit = True
                log.warning("%s does not read: write buffer over %d octets, dropping messages",
                            self.peer, self.hub.write_buffer_limit)
            return False
        self._over_limit = False
        transport.write(data)
        return True

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    @property
    def closing(self) -> bool:
        return self._closed or self._transport is None or self._transport.is_closing()
