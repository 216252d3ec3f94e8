"""The node's listener for media-engine events: JSON datagrams, one event each.

Theory of operation
-------------------
Both engines send here: rtpengine its DTMF log (``--dtmf-log-dest``, daemon/dtmf.c's JSON:
``callid``, ``source_tag``, ``tags``, ``type: "DTMF"``, ``timestamp``, ``source_ip``,
``event`` 0-15, ``duration`` in ms, ``volume``), and the builtin engine the same DTMF shape plus
its own types (``media_lost``, ``media_restored``, ``quality``, ``playback``, ``recording``;
see docs/media.md). :class:`MediaEvents` decodes each datagram and hands the dictionary to a
callback; it adds ``digit`` to DTMF events (``"5"``, ``"*"``...) so consumers need not know
RFC 4733's numbering. A datagram that is not a JSON object is logged and dropped; a callback
that raises is logged and the listener keeps going.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .dtmf import DIGITS

__all__ = ["MediaEvent", "MediaEvents", "parse_event"]

log = logging.getLogger(__name__)


def parse_event(data: bytes) -> dict[str, Any] | None:
    """One event datagram as a dictionary (None if it is not a JSON object)."""
    try:
        event = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(event, dict):
        return None
    if event.get("type") == "DTMF" and isinstance(event.get("event"), int):
        code = event["event"]
        event.setdefault("digit", DIGITS[code] if 0 <= code < 16 else None)
    return event


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: MediaEvents) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        event = parse_event(data)
        if event is None:
            log.warning("dropped a media event from %s that is not a JSON object", addr)
            return
        try:
            self.owner.callback(event)
        except Exception:
            log.exception("media event callback failed on %r", event.get("type"))


class MediaEvents:
    """An asyncio UDP listener for the events stream; ``callback(dict)`` per event."""

    def __init__(self, callback: Callable[[dict[str, Any]], None],
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.callback = callback
        self.host = host
        self.port = port
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound address (after :meth:`start`): give it to ``--events`` or
        rtpengine's ``--dtmf-log-dest``."""
        return self.host, self.port

    async def start(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(self.host, self.port))
        self._transport = transport
        self.host, self.port = transport.get_extra_info("sockname")[:2]
        return self.address

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


@dataclass(frozen=True, slots=True)
class MediaEvent:
    """What a media engine reported about a call (for the bus and the metrics layer)."""

    call_id: str
    kind: str
    received_at: float
    raw: dict[str, Any] = field(hash=False, compare=False)
