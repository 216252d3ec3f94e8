"""Decisions: what the router tells the outside world (one frozen dataclass each).

``Router.handle`` and ``Router.tick`` return a list of decisions in the order they were made.
Both cores produce equal lists (dataclass equality) for every command sequence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OfferCall:
    """Ring ``agent_id`` with ``call_id``; the reservation lapses at ``expires_at``.

    ``reason`` names the rule that picked the agent: the strategy name (``"longest_idle"``...),
    ``"sticky"``, ``"practice"``, ``"ring_all"`` or ``"agent_available"`` (an agent became free
    and this was the best waiting call they can take).
    """

    call_id: str
    agent_id: str
    reservation_id: int
    expires_at: float
    reason: str


@dataclass(frozen=True, slots=True)
class OfferRevoked:
    """Stop ringing: the offer is void (``answered_elsewhere``, ``expired``, ``rejected``,
    ``abandoned``, ``agent_logged_out``, ``agent_unreachable``, ``overflowed``, ``timed_out``,
    ``capacity_reduced``, ``strategy_changed``)."""

    call_id: str
    agent_id: str
    reservation_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class CallConnected:
    """The offer was accepted: the call is with the agent; ``waited`` is seconds since enqueue."""

    call_id: str
    agent_id: str
    queue_id: str
    waited: float


@dataclass(frozen=True, slots=True)
class CallQueued:
    """The call waits in ``queue_id`` (no eligible agent free); ``queue_length`` counts the
    calls of that queue not yet connected, this one included."""

    call_id: str
    queue_id: str
    queue_length: int


@dataclass(frozen=True, slots=True)
class WaitEstimateUpdated:
    """Expected wait for a queued call, for announcements:
    ``queue_length * expected_handle_time / max(1, calls connected from the queue)``."""

    call_id: str
    queue_id: str
    estimated_wait: float


@dataclass(frozen=True, slots=True)
class CallWidened:
    """A widening step applied: ``step`` counts from 1; eligibility grew for this call."""

    call_id: str
    queue_id: str
    step: int


@dataclass(frozen=True, slots=True)
class CallOverflowed:
    """The call left ``from_queue`` for ``to`` (a queue id, or ``"callback"`` when it leaves
    the router); ``reason`` is ``queue_full``, ``max_wait`` or ``widening``."""

    call_id: str
    from_queue: str
    to: str
    reason: str


@dataclass(frozen=True, slots=True)
class CallRejected:
    """The call could not be queued (``queue_full`` with no overflow target); it is forgotten."""

    call_id: str
    queue_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class CallTimedOut:
    """The call waited ``max_wait`` with no overflow target; it is forgotten."""

    call_id: str
    queue_id: str


@dataclass(frozen=True, slots=True)
class AgentAutoPaused:
    """The agent missed ``missed`` offers in a row and is now ``not_ready`` with ``reason``."""

    agent_id: str
    reason: str
    missed: int


@dataclass(frozen=True, slots=True)
class WrapUpEnded:
    """The agent's timed wrap-up ran out; ``state`` is what they are now."""

    agent_id: str
    state: str


Decision = (
    OfferCall | OfferRevoked | CallConnected | CallQueued | WaitEstimateUpdated | CallWidened
    | CallOverflowed | CallRejected | CallTimedOut | AgentAutoPaused | WrapUpEnded
)

__all__ = [
    "AgentAutoPaused", "CallConnected", "CallOverflowed", "CallQueued", "CallRejected",
    "CallTimedOut", "CallWidened", "Decision", "OfferCall", "OfferRevoked",
    "WaitEstimateUpdated", "WrapUpEnded",
]
