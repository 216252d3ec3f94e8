"""Per-stream quality: jitter and loss as RFC 3550 computes them, and a MOS estimate from a
simplified ITU-T G.107 E-model.

Theory of operation
-------------------
:class:`ReceiveStats` watches the packets of one received stream (the relay feeds it the
sequence number, RTP timestamp and arrival time of each packet; a few integer and float
operations, cheap enough for the hot path):

* loss (RFC 3550 §6.4.1 and Appendix A.3): expected = extended highest sequence - first + 1,
  lost = expected - received; the extended sequence counts wraps (A.1);
* interarrival jitter (A.8): J += (|D| - J) / 16, where D is the difference of transit times
  of consecutive packets, in timestamp units.

The far end's view of *our* stream comes from RTCP receiver reports (:meth:`ReceiveStats.
remote_report`); a leg's quality is the worse of the two.

MOS (:func:`mos`): R = 93.2 - Id - Ie,eff (G.107 §7 with default values), with Ie,eff =
Ie + (95 - Ie) * Ppl / (Ppl + Bpl) for G.711 (Ie = 0, Bpl = 25.1 with packet-loss
concealment, G.113 Appendix I), a one-way delay estimated as packetisation plus a jitter
buffer of twice the jitter, Id after Cole and Rosenbluth's fit of G.107, and G.107 Annex B's
R -> MOS mapping. It estimates, it does not measure: good enough to raise an alarm when a leg
degrades, which is all the node uses it for.

:class:`QualityMonitor` turns estimates into threshold crossings with hysteresis, so a leg
hovering at the threshold raises one event, not one per second.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QualityMonitor", "ReceiveStats", "mos", "r_factor"]

_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000  # A.1: a jump larger than this is a restart, not loss
MAX_MISORDER = 100


def r_factor(loss_fraction: float, delay_ms: float, bpl: float = 25.1, ie: float = 0.0) -> float:
    """G.107 transmission rating for a codec (G.711 defaults) under random loss and delay."""
    ppl = max(0.0, min(1.0, loss_fraction)) * 100.0
    ie_eff = ie + (95.0 - ie) * ppl / (ppl + bpl)
    idd = 0.024 * delay_ms + (0.11 * (delay_ms - 177.3) if delay_ms > 177.3 else 0.0)
    return max(0.0, min(100.0, 93.2 - idd - ie_eff))


def mos(loss_fraction: float, jitter_ms: float, rtt_ms: float = 0.0,
        ptime_ms: float = 20.0) -> float:
    """Estimated MOS (1.0-4.5) of a G.711 leg (G.107 Annex B mapping of R)."""
    delay = ptime_ms + 2.0 * jitter_ms + rtt_ms / 2.0 + 10.0  # 10 ms for processing
    r = r_factor(loss_fraction, delay)
    if r <= 0:
        return 1.0
    return round(min(4.5, 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)), 2)


class ReceiveStats:
    """Loss and jitter of one received RTP stream (RFC 3550 A.1, A.3, A.8)."""

    __slots__ = ("_base", "_cycles", "_jitter", "_max_seq", "_received", "_transit",
                 "clock_rate", "remote_jitter", "remote_loss")

    def __init__(self, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self._base: int | None = None
        self._max_seq = 0
        self._cycles = 0
        self._received = 0
        self._transit: float | None = None
        self._jitter = 0.0
        self.remote_loss = 0.0  # fraction the far end reported (RTCP RR), 0-1
        self.remote_jitter = 0.0  # ms, as the far end reported

    def update(self, sequence: int, timestamp: int, arrival: float) -> None:
        """One packet: ``arrival`` in seconds on the engine's monotonic clock."""
        if self._base is None:
            self._base = self._max_seq = sequence
        else:
            delta = (sequence - self._max_seq) % _SEQ_MOD
            if delta < MAX_DROPOUT:
                if sequence < self._max_seq:
                    self._cycles += _SEQ_MOD  # A.1: the sequence number wrapped
                self._max_seq = sequence
            elif delta <= _SEQ_MOD - MAX_MISORDER:
                # A.1: a big jump is a new sequence (the source restarted): rebase
                self._base, self._max_seq, self._cycles, self._received = sequence, sequence, 0, 0
        self._received += 1
        transit = arrival * self.clock_rate - timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d < self.clock_rate * 10:  # ignore timestamp jumps (a new talk spurt source)
                self._jitter += (d - self._jitter) / 16.0  # A.8
        self._transit = transit

    @property
    def received(self) -> int:
        return self._received

    @property
    def expected(self) -> int:
        if self._base is None:
            return 0
        return self._cycles + self._max_seq - self._base + 1

    @property
    def lost(self) -> int:
        """Cumulative lost packets (A.3); negative with duplicates, as the RFC allows."""
        return self.expected - self._received

    @property
    def loss_fraction(self) -> float:
        expected = self.expected
        return max(0.0, self.lost / expected) if expected else 0.0

    @property
    def jitter_units(self) -> int:
        """Jitter in timestamp units, as an RTCP report block carries it."""
        return int(self._jitter)

    @property
    def jitter_ms(self) -> float:
        return self._jitter * 1000.0 / self.clock_rate

    def remote_report(self, fraction_lost: int, jitter_units: int) -> None:
        """What the far end says of the stream we send it (RTCP report block, §6.4.1)."""
        self.remote_loss = fraction_lost / 256.0
        self.remote_jitter = jitter_units * 1000.0 / self.clock_rate

    def mos(self) -> float:
        """The worse of our view and the far end's."""
        loss = max(self.loss_fraction, self.remote_loss)
        return mos(loss, max(self.jitter_ms, self.remote_jitter))

    def snapshot(self) -> dict[str, float | int]:
        return {"packets": self._received, "lost": max(0, self.lost),
                "loss": round(self.loss_fraction, 4), "jitter_ms": round(self.jitter_ms, 2),
                "remote_loss": round(self.remote_loss, 4),
                "remote_jitter_ms": round(self.remote_jitter, 2), "mos": self.mos()}


@dataclass(slots=True)
class QualityMonitor:
    """Raise ``"degraded"`` when MOS falls below ``threshold`` and ``"recovered"`` when it is
    back above ``threshold + hysteresis``; nothing in between."""

    threshold: float = 3.5
    hysteresis: float = 0.2
    degraded: bool = False

    def check(self, value: float) -> str | None:
        if not self.degraded and value < self.threshold:
            self.degraded = True
            return "degraded"
        if self.degraded and value >= self.threshold + self.hysteresis:
            self.degraded = False
            return "recovered"
        return None
