"""What the engine sends on its own toward a party: prompts, music on hold, DTMF events (pure;
the engine's 20 ms timer asks each active :class:`Outbound` for its next packet).

Theory of operation
-------------------
An :class:`Outbound` is one RTP source of the engine's (its own SSRC, sequence numbers and
timestamps, RFC 3550 §5.1, with the marker bit on the first packet of a talk spurt, RFC 3551
§4.1) and two queues: audio frames (a file's 20 ms frames, ``repeat`` times, then it is done)
and telephone events (RFC 4733 packet sequences from :func:`switch.media.dtmf.generate`).
Events go first: while a digit plays, audio pauses and the RTP clock keeps running, so the
event's timestamp lines up with the audio around it (RFC 4733 §2.5.1.1).

``repeat=None`` plays once; MOH loops with a large count (rtpengine's ``repeat-times``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .dtmf import generate
from .rtp import HEADER

__all__ = ["Outbound"]

SAMPLES_PER_TICK = 160


@dataclass(slots=True)
class _Event:
    payload: bytes
    marker: bool
    offset: int  # samples after the event start


class Outbound:
    """One engine-generated RTP stream toward one party."""

    __slots__ = ("_event_start", "_events", "_frame", "_frames", "_marker", "_repeats",
                 "file", "pt", "sequence", "ssrc", "te_pt", "timestamp")

    def __init__(self, ssrc: int, pt: int, te_pt: int | None, sequence: int = 0,
                 timestamp: int = 0) -> None:
        self.ssrc = ssrc
        self.pt = pt
        self.te_pt = te_pt
        self.sequence = sequence & 0xFFFF
        self.timestamp = timestamp & 0xFFFFFFFF
        self._frames: list[bytes] = []
        self._frame = 0
        self._repeats = 0
        self._marker = True
        self._events: deque[deque[_Event]] = deque()
        self._event_start: int | None = None
        self.file: str | None = None

    @property
    def playing_audio(self) -> bool:
        return self._repeats > 0

    @property
    def idle(self) -> bool:
        return self._repeats == 0 and not self._events

    def play(self, frames: list[bytes], repeat: int | None = None, name: str = "") -> None:
        self._frames = frames
        self._frame = 0
        self._repeats = max(1, repeat or 1) if frames else 0
        self._marker = True
        self.file = name

    def stop(self) -> None:
        self._repeats = 0
        self._frames = []

    def queue_digit(self, digit: str | int, duration_ms: int, volume: int = 10) -> None:
        if self.te_pt is None:
            raise ValueError("the party has no telephone-event payload type")
        packets = deque(_Event(p.payload, p.marker, p.offset)
                        for p in generate(digit, duration_ms, volume=volume))
        self._events.append(packets)

    def next_packet(self) -> tuple[bytes | None, bytes | None, bool]:
        """One tick: (packet to send or None, the audio frame it carries or None, finished)
        where ``finished`` says the audio part just ended (for the ``playback`` event)."""
        ts = self.timestamp
        self.timestamp = (ts + SAMPLES_PER_TICK) & 0xFFFFFFFF
        if self._events:
            packets = self._events[0]
            event = packets.popleft()
            if event.marker:
                self._event_start = ts
            start = self._event_start if self._event_start is not None else ts
            packet = self._header(self.te_pt or 0, start, event.marker) + event.payload
            if not packets:
                self._events.popleft()
                self._event_start = None
                self._marker = True
            return packet, None, False
        if self._repeats <= 0:
            return None, None, False
        frame = self._frames[self._frame]
        packet = self._header(self.pt, ts, self._marker) + frame
        self._marker = False
        self._frame += 1
        finished = False
        if self._frame >= len(self._frames):
            self._frame = 0
            self._repeats -= 1
            finished = self._repeats == 0
        return packet, frame, finished

    def frame_packet(self, payload: bytes) -> bytes:
        """One 20 ms frame the engine made (a supervised call's mix) on this stream."""
        ts = self.timestamp
        self.timestamp = (ts + SAMPLES_PER_TICK) & 0xFFFFFFFF
        packet = self._header(self.pt, ts, self._marker) + payload
        self._marker = False
        return packet

    def _header(self, pt: int, timestamp: int, marker: bool) -> bytes:
        self.sequence = (self.sequence + 1) & 0xFFFF
        return HEADER.pack(0x80, (0x80 if marker else 0) | pt, self.sequence, timestamp,
                           self.ssrc)
