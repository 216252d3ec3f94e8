"""DTMF as RFC 4733 telephone events: the receiver (detector) and the generator.

Theory of operation
-------------------
An event is carried by a run of RTP packets that all share the RTP timestamp of the event's
start (RFC 4733 §2.5.1.1); each says how long the event has lasted so far (§2.5.1.2), the
first has the marker bit, and the last one, with the E bit, is sent three times (§2.5.1.4)
so that losing one or two of them loses nothing. A receiver therefore identifies an event by
its timestamp, not by the marker or sequence number (§2.5.2.1), and that is what makes
detection exact over a lossy, duplicating, reordering network:

* every packet of an event is enough to know the event (a lost start packet changes nothing);
* an event is reported once, at its first end packet; a duplicate, a late update and the
  redundant end packets of an event already reported are ignored, because the receiver
  remembers the timestamp of the last event it closed and ignores anything not newer
  (serial-number comparison, the timestamp wraps at 2^32);
* if all three end packets are lost, the event is closed by the next event (a new timestamp)
  or by :meth:`DtmfReceiver.poll` after ``timeout`` seconds without a packet of it (§2.5.2.2
  leaves the exact rule to the receiver).

The generator produces the packet sequence a sender emits for one digit (§2.5.1): updates
every packet interval, then three end packets, all with the start timestamp.

Pure: times are passed in (``now``, seconds on any monotonic clock).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["DIGITS", "DtmfEvent", "DtmfReceiver", "digit_to_event", "event_payload",
           "generate", "parse_event"]

DIGITS = "0123456789*#ABCD"  # RFC 4733 §3.2, Table 3: events 0-15
_PAYLOAD = struct.Struct("!BBH")  # event, E|R|volume, duration (§2.3)
END_REPEATS = 3  # §2.5.1.4: the final packet is sent three times


def digit_to_event(digit: str | int) -> int:
    """'5' -> 5, '*' -> 10, '#' -> 11, 'A'..'D' -> 12..15; an int 0-15 passes through."""
    if isinstance(digit, int):
        if 0 <= digit <= 15:
            return digit
    elif len(digit) == 1 and digit.upper() in DIGITS:
        return DIGITS.index(digit.upper())
    raise ValueError(f"not a DTMF digit: {digit!r}")


def event_payload(event: int, duration: int, end: bool = False, volume: int = 10) -> bytes:
    """The four-octet telephone-event payload (§2.3); ``volume`` in -dBm0, 0-63."""
    return _PAYLOAD.pack(event, (0x80 if end else 0) | (volume & 0x3F),
                         min(duration, 0xFFFF))


def parse_event(payload: bytes) -> tuple[int, bool, int, int]:
    """(event, end, volume, duration) of a telephone-event payload; ValueError if short."""
    if len(payload) < 4:
        raise ValueError("telephone-event payload shorter than 4 octets")
    event, flags, duration = _PAYLOAD.unpack_from(payload)
    return event, bool(flags & 0x80), flags & 0x3F, duration


def _newer(a: int, b: int) -> bool:
    """RTP timestamp ``a`` is after ``b`` (serial arithmetic modulo 2^32)."""
    return a != b and (a - b) & 0xFFFFFFFF < 0x80000000


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """One detected event. ``duration`` in timestamp units; ``ended`` says how it was closed:
    ``"end"`` (an E-bit packet), ``"next"`` (a newer event began) or ``"timeout"``."""

    event: int
    timestamp: int
    duration: int
    volume: int
    ended: str

    @property
    def digit(self) -> str:
        return DIGITS[self.event] if self.event < 16 else f"event-{self.event}"

    def duration_ms(self, clock_rate: int = 8000) -> int:
        return self.duration * 1000 // clock_rate


class DtmfReceiver:
    """Detects events in one stream's telephone-event packets (§2.5.2)."""

    __slots__ = ("_closed", "_current", "_last_seen", "_timeout")

    def __init__(self, timeout: float = 0.25) -> None:
        self._timeout = timeout
        self._current: list[int] | None = None  # [timestamp, event, duration, volume]
        self._closed: int | None = None  # timestamp of the last event reported
        self._last_seen = 0.0

    @property
    def active(self) -> bool:
        return self._current is not None

    def receive(self, timestamp: int, payload: bytes, now: float) -> list[DtmfEvent]:
        """Feed one telephone-event packet; returns the events it completes (zero to two)."""
        try:
            event, end, volume, duration = parse_event(payload)
        except ValueError:
            return []
        if self._closed is not None and not _newer(timestamp, self._closed):
            return []  # an event already reported: duplicate, late update or redundant end
        done: list[DtmfEvent] = []
        current = self._current
        if current is not None and current[0] != timestamp:
            if _newer(timestamp, current[0]):
                done.append(self._close("next"))
                current = None
            else:
                return []  # a late packet of an event older than the open one
        if current is None:
            current = self._current = [timestamp, event, duration, volume]
        elif duration > current[2]:
            current[2] = duration
        self._last_seen = now
        if end:
            current[2] = max(current[2], duration)
            done.append(self._close("end"))
        return done

    def poll(self, now: float) -> list[DtmfEvent]:
        """Close an open event whose packets stopped ``timeout`` ago (all end packets lost)."""
        if self._current is not None and now - self._last_seen >= self._timeout:
            return [self._close("timeout")]
        return []

    def _close(self, how: str) -> DtmfEvent:
        assert self._current is not None
        timestamp, event, duration, volume = self._current
        self._current = None
        self._closed = timestamp
        return DtmfEvent(event, timestamp, duration, volume, how)


@dataclass(frozen=True, slots=True)
class EventPacket:
    """One packet of a generated event: send at ``offset`` samples after the start."""

    offset: int
    payload: bytes
    marker: bool


def generate(digit: str | int, duration_ms: int = 100, clock_rate: int = 8000,
             ptime_ms: int = 20, volume: int = 10) -> list[EventPacket]:
    """The packets of one event (§2.5.1): the first with the marker bit, an update every
    ``ptime_ms`` carrying the duration so far, then :data:`END_REPEATS` end packets with the
    final duration. Every packet uses the event's start timestamp; the caller assigns
    sequence numbers in order and sends each at its ``offset``."""
    event = digit_to_event(digit)
    step = clock_rate * ptime_ms // 1000
    total = max(step, clock_rate * duration_ms // 1000)
    packets: list[EventPacket] = []
    elapsed = step
    while elapsed < total:
        packets.append(EventPacket(elapsed - step, event_payload(event, elapsed, False, volume),
                                   not packets))
        elapsed += step
    for repeat in range(END_REPEATS):  # one packet interval apart
        packets.append(EventPacket(total - step + repeat * step,
                                   event_payload(event, total, True, volume), not packets))
    return packets
