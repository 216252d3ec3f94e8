"""SIP transaction timers, derived from T1, T2 and T4 in one place (RFC 3261 §17, Table 4).

Every duration the transaction machines use comes from :class:`TimerValues`, so a deployment
that changes T1 (a long-haul trunk, RFC 3261 §17.1.1.1 allows it) changes every dependent timer
consistently. Durations are seconds; the machines add them to ``now`` to get absolute deadlines.

Reliable transports (TCP, TLS, WS, WSS) need no retransmissions and no "wait for stray
retransmissions" states, which is why Timer A/E/G only run over UDP and D/I/J/K are zero there.
"""

from __future__ import annotations

from dataclasses import dataclass

# RFC 3261 §17.1.1.1: T1 is an estimate of the round-trip time, 500 ms by default.
DEFAULT_T1 = 0.5
# RFC 3261 §17.1.2.2: T2 is the maximum retransmit interval for non-INVITE requests and
# INVITE responses, 4 s.
DEFAULT_T2 = 4.0
# RFC 3261 §17.1.2.2: T4 is the maximum time a message remains in the network, 5 s.
DEFAULT_T4 = 5.0
# RFC 3261 §17.2.1: a server transaction sends 100 Trying unless the TU answers within 200 ms.
TRYING_DELAY = 0.2
# RFC 3261 Table 4: Timer D is "> 32 s for UDP".
TIMER_D_MINIMUM = 32.0


@dataclass(frozen=True, slots=True)
class TimerValues:
    """T1/T2/T4 and the timers A–M computed from them (RFC 3261 Table 4, RFC 6026 §8.11)."""

    t1: float = DEFAULT_T1
    t2: float = DEFAULT_T2
    t4: float = DEFAULT_T4

    def __post_init__(self) -> None:
        if not (self.t1 > 0 and self.t2 >= self.t1 and self.t4 >= 0):
            raise ValueError(f"timers need T1 > 0, T2 >= T1, T4 >= 0; got T1={self.t1}"
                             f" T2={self.t2} T4={self.t4}")

    # -- INVITE client transaction (§17.1.1.2) --------------------------------------------

    @property
    def a(self) -> float:
        """Timer A: first INVITE retransmission interval (T1), doubled each time, UDP only."""
        return self.t1

    @property
    def b(self) -> float:
        """Timer B: INVITE transaction timeout while Calling (64*T1)."""
        return 64 * self.t1

    def d(self, reliable: bool) -> float:
        """Timer D: wait for response retransmissions in Completed (>32 s UDP, 0 reliable).

        64*T1 when T1 was raised, so D still outlasts the server's Timer H retransmissions.
        """
        return 0.0 if reliable else max(TIMER_D_MINIMUM, 64 * self.t1)

    @property
    def m(self) -> float:
        """Timer M (RFC 6026 §8.4): wait for 2xx retransmissions in Accepted (64*T1)."""
        return 64 * self.t1

    # -- non-INVITE client transaction (§17.1.2.2) ----------------------------------------

    @property
    def e(self) -> float:
        """Timer E: first non-INVITE retransmission interval (T1), UDP only."""
        return self.t1

    @property
    def f(self) -> float:
        """Timer F: non-INVITE transaction timeout (64*T1)."""
        return 64 * self.t1

    def k(self, reliable: bool) -> float:
        """Timer K: wait for response retransmissions in Completed (T4 UDP, 0 reliable)."""
        return 0.0 if reliable else self.t4

    # -- INVITE server transaction (§17.2.1) ----------------------------------------------

    @property
    def g(self) -> float:
        """Timer G: first final-response retransmission interval (T1), UDP only."""
        return self.t1

    @property
    def h(self) -> float:
        """Timer H: wait for ACK in Completed (64*T1)."""
        return 64 * self.t1

    def i(self, reliable: bool) -> float:
        """Timer I: absorb ACK retransmissions in Confirmed (T4 UDP, 0 reliable)."""
        return 0.0 if reliable else self.t4

    @property
    def l(self) -> float:  # noqa: E743 - the RFC 6026 name of the timer
        """Timer L (RFC 6026 §8.7): absorb INVITE retransmissions in Accepted (64*T1).

        It also bounds the core's 2xx retransmissions: §13.3.1.4 gives up after 64*T1.
        """
        return 64 * self.t1

    @property
    def trying(self) -> float:
        """Delay before the IST answers 100 Trying by itself (§17.2.1: 200 ms)."""
        return TRYING_DELAY

    # -- non-INVITE server transaction (§17.2.2) ------------------------------------------

    def j(self, reliable: bool) -> float:
        """Timer J: absorb request retransmissions in Completed (64*T1 UDP, 0 reliable)."""
        return 0.0 if reliable else 64 * self.t1

    # -- back-off rules -------------------------------------------------------------------

    @staticmethod
    def double(interval: float) -> float:
        """Timer A back-off: 2*T1, 4*T1... with no cap (§17.1.1.2)."""
        return 2 * interval

    def double_capped(self, interval: float) -> float:
        """Timer E/G and 2xx back-off: doubling capped at T2 (§17.1.2.2, §17.2.1, §13.3.1.4)."""
        return min(2 * interval, self.t2)
