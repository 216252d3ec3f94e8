"""The call recorder's mixing: two mono streams onto a stereo timeline (pure; the engine
writes what :meth:`StereoRecorder.drain` returns to a WAV file).

Theory of operation
-------------------
Channel 0 (left) is what the caller says; channel 1 (right) is what the caller hears (the
other party through the relay, or the engine's prompts on an IVR leg), so a listener can tell
the parties apart and speech analytics get each speaker clean.

Packets do not arrive on a perfect 20 ms grid, and a silent party may send nothing (DTX, hold,
a lost stream), so each frame is placed by its arrival time: a channel that fell more than
60 ms behind the wall clock is padded with silence up to "now" before the frame is appended;
one that runs slightly ahead (a burst after jitter) just appends. :meth:`drain` hands out the
samples older than 200 ms (both channels padded to the same length), so late frames still land
in place, and everything at the end.

Pause (RFC-less, but PCI DSS: card numbers must not be recorded) stops the timeline: frames
during a pause are dropped and the paused time is left out of the file, which therefore joins
the parts before and after.
"""

from __future__ import annotations

from array import array

__all__ = ["StereoRecorder"]

RATE = 8000
_LATE = RATE * 60 // 1000  # pad when a channel is more than 60 ms behind
_HOLD = RATE * 200 // 1000  # drain only samples at least 200 ms old


class StereoRecorder:
    """Two channels of 16-bit linear PCM at 8 kHz on one timeline."""

    def __init__(self, now: float) -> None:
        self._origin = now
        self._paused_at: float | None = None
        self._paused_total = 0.0
        self._channels = (array("h"), array("h"))
        self._drained = 0  # samples already handed out (the buffers start there)
        self.samples_written = 0

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def _position(self, now: float) -> int:
        """Samples of recorded (unpaused) time since the start, at ``now``."""
        return int((now - self._origin - self._paused_total) * RATE)

    def add(self, channel: int, pcm: bytes, now: float) -> None:
        if self._paused_at is not None:
            return
        buffer = self._channels[channel]
        frame = array("h")
        frame.frombytes(pcm)
        expected = self._position(now) - len(frame) - self._drained
        if expected - len(buffer) > _LATE:
            buffer.extend(array("h", bytes(2 * (expected - len(buffer)))))
        buffer.extend(frame)

    def pause(self, now: float) -> None:
        if self._paused_at is None:
            self._paused_at = now

    def resume(self, now: float) -> None:
        if self._paused_at is not None:
            self._paused_total += now - self._paused_at
            self._paused_at = None

    def drain(self, now: float, final: bool = False) -> bytes:
        """Interleaved stereo PCM ready to be written (all of it when ``final``)."""
        left, right = self._channels
        at = now if self._paused_at is None else self._paused_at
        if final:  # the timeline runs to the end, silence included (a quiet voicemail)
            ready = max(len(left), len(right), self._position(at) - self._drained)
        else:
            ready = min(max(len(left), len(right)), self._position(at) - self._drained - _HOLD)
        if ready <= 0:
            return b""
        for buffer in (left, right):
            if len(buffer) < ready:
                buffer.extend(array("h", bytes(2 * (ready - len(buffer)))))
        out = array("h", bytes(4 * ready))
        out[0::2] = left[:ready]
        out[1::2] = right[:ready]
        del left[:ready]
        del right[:ready]
        self._drained += ready
        self.samples_written += ready
        return out.tobytes()

    @property
    def duration(self) -> float:
        return self.samples_written / RATE
