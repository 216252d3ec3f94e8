"""SIP over UDP (RFC 3261 §18): one datagram is one message.

A :class:`asyncio.DatagramProtocol` (uvloop runs it in C up to ``datagram_received``). The
receive path is deliberately flat: admit, size check, hand over. Parsing, ``received``/``rport``
and retransmissions are the endpoint's business.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from switch.sip.address import Listener, Peer

from .base import AdmitCallback, Counters, MessageHandler, normalize_host

log = logging.getLogger(__name__)

_WHITESPACE = b"\r\n\t \x00"


class UdpEndpoint(asyncio.DatagramProtocol):
    """One bound UDP socket: receives for ``listener`` and sends from the same address.

    Sending from the socket the request arrived on matters: NATs and many UAs accept responses
    only from the address they sent to (RFC 3261 §18.2.2, RFC 3581 §4).
    """

    def __init__(self, listener: Listener, on_message: MessageHandler,
                 admit: AdmitCallback | None, counters: Counters, max_message: int) -> None:
        self.listener = listener
        self._on_message = on_message
        self._admit = admit
        self._counters = counters
        self._max_message = max_message
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        host: str = addr[0]
        if host.startswith("::ffff:"):
            host = normalize_host(host)
        peer = Peer("udp", host, addr[1])
        counters = self._counters
        if self._admit is not None and not self._admit(peer):
            counters.drops["admit"] += 1
            return
        if len(data) > self._max_message:
            # RFC 3261 §18.1.1 lets a UA fall back to TCP past the MTU; an over-limit datagram
            # is a hostile or broken sender: no answer, just a count.
            counters.drops["oversize"] += 1
            log.debug("dropped %d-octet datagram from %s (limit %d)", len(data), peer,
                      self._max_message)
            return
        if not data or (data[0] in _WHITESPACE and not data.strip(_WHITESPACE)):
            # CRLF / NUL keepalives some UAs send over UDP (RFC 5626 §4.4.2 prefers STUN):
            # nothing to parse, nothing to answer.
            return
        counters.messages_in["udp"] += 1
        try:
            self._on_message(data, peer, self.listener)
        except Exception:  # an upstream bug must not kill the socket
            counters.drops["handler_error"] += 1
            log.exception("on_message failed for a datagram from %s", peer)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from an earlier sendto surfaces here on Linux; the transaction
        # layer notices the silence (Timer B/F), so this is only worth a count and a debug line.
        self._counters.drops["send_error"] += 1
        log.debug("UDP error on %s: %s", self.listener, exc)

    def send(self, data: bytes, host: str, port: int) -> bool:
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        transport.sendto(data, (host, port))
        return True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
