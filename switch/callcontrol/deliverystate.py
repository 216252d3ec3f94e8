"""Call delivery's vocabulary: the ports it drives, the events it publishes, its state.

Ports are what ``delivery.py`` needs from the rest of the node (the caller's call, the media
engine, the placing of legs); events go to the bus (past tense, frozen); ``Queued`` and
``Ring`` are the edge's record of each queued call and of each offer being rung.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from ..sip.address import Peer
from .outbound import OutboundLeg


class CallPort(Protocol):
    """The caller's call, as call control shows it (``service.ActiveCall``)."""

    @property
    def call_id(self) -> str: ...
    @property
    def caller(self) -> str: ...
    @property
    def caller_tag(self) -> str: ...
    @property
    def media_lock(self) -> asyncio.Lock: ...

    def hang_up(self, reason: str) -> None: ...
    def reoffer(self, sdp: str | None) -> None: ...


class AgentMedia(Protocol):
    async def record(self, call_id: str) -> None: ...
    async def stop_recording(self, call_id: str) -> None: ...
    async def offer_far_side(self, call_id: str, caller_tag: str) -> str: ...
    async def connect_far_side(self, call_id: str, caller_tag: str, agent_sdp: str, *,
                               lost_after: float | None = None) -> str | None: ...
    async def disconnect_far_side(self, call_id: str, caller_tag: str) -> str | None: ...
    async def play_far_side(self, call_id: str, path: Any, *, loop: bool = False) -> float: ...
    async def stop_far_side(self, call_id: str) -> None: ...
    async def play(self, call_id: str, caller_tag: str, path: Any, *,
                   loop: bool = False) -> float: ...
    async def stop(self, call_id: str, caller_tag: str) -> None: ...
    async def tts(self, text: str, voice: str | None = None) -> Any: ...


class LegPlacer(Protocol):
    def place(self, invite: Any, peer: Peer, *, via: str) -> OutboundLeg: ...
    def flush(self) -> None: ...


# -- events for the bus (past tense) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentOffered:
    """The router offered the call to an agent: its phone is being rung."""

    call_id: str
    agent_id: str
    reservation_id: int
    ring_seconds: float  # until the reservation lapses
    rule: str  # why this agent (the strategy, sticky, agent_available...)
    explanation: str  # the router's ranked candidates


@dataclass(frozen=True, slots=True)
class AgentRinging:
    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentMissed:
    """The agent's phone did not take the offer: ``outcome`` busy, unreachable, rejected or
    no-contact (nothing to ring); ``status`` the SIP answer when there was one."""

    call_id: str
    agent_id: str
    outcome: str
    status: int | None


@dataclass(frozen=True, slots=True)
class AgentAnswered:
    call_id: str
    agent_id: str
    ring_seconds: float
    waited_seconds: float  # the caller's time in the queue


@dataclass(frozen=True, slots=True)
class CallTransferred:
    """The agent handed its caller on (``target``: "queue:sales")."""

    call_id: str
    agent_id: str
    target: str


@dataclass(frozen=True, slots=True)
class TransferFailed:
    call_id: str
    agent_id: str
    refer_to: str
    reason: str


@dataclass(frozen=True, slots=True)
class AgentHeld:
    """The agent put the caller on hold (``held``: the caller hears music) or resumed."""

    call_id: str
    agent_id: str
    held: bool


@dataclass(frozen=True, slots=True)
class AgentMobile:
    """The agent takes its calls on a phone number through the trunk (mobile login)."""

    agent_id: str
    number: str


@dataclass(frozen=True, slots=True)
class AgentLost:
    """The agent's phone went silent mid-call (its network dropped): the agent is released
    and the caller goes back to the queue, first, with its wait."""

    call_id: str
    agent_id: str
    reason: str
    talk_seconds: float


@dataclass(frozen=True, slots=True)
class QueueAnnounced:
    """The waiting caller was told its place and expected wait (in minutes)."""

    call_id: str
    position: int
    minutes: int


@dataclass(frozen=True, slots=True)
class QueueLeft:
    """The caller left the queue by a key: ``choice`` "voicemail" or "callback" (to
    ``number``, the number it calls from)."""

    call_id: str
    queue: str
    choice: str
    number: str
    waited_seconds: float


@dataclass(frozen=True, slots=True)
class CallAbandoned:
    call_id: str
    queue: str
    waited_seconds: float


@dataclass(frozen=True, slots=True)
class AgentCallEnded:
    """The call with the agent ended; ``by`` "agent", "caller" or "node"."""

    call_id: str
    agent_id: str
    by: str
    talk_seconds: float


# -- state ------------------------------------------------------------------------------------


class Stage(Enum):
    WAITING = "waiting"      # music on hold, maybe rings under way
    CONNECTED = "connected"  # an agent answered
    LEAVING = "leaving"      # the caller chose voicemail or a callback: out of the queue
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class WaitingPolicy:
    """A queue's ``queue_policies`` entry (switch/config.py), as delivery uses it."""

    announce_every: float = 30.0
    keys: tuple[tuple[str, str], ...] = ()  # (digit, "voicemail" | "callback")
    voicemail_seconds: int = 120
    record: bool = False

    def action(self, digit: str) -> str | None:
        return dict(self.keys).get(digit)


class RingStage(Enum):
    PREPARING = "preparing"  # the engine's offer for the agent is on its way
    RINGING = "ringing"
    CONFIRMING = "confirming"  # a mobile answered: "press 1 to accept" until it does
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass(eq=False)
class Ring:
    """One offer (reservation) to one agent, forked to every place the agent is reachable."""

    call_id: str
    agent_id: str
    reservation_id: int
    started_at: float
    stage: RingStage = RingStage.PREPARING
    legs: dict[str, OutboundLeg] = field(default_factory=dict)
    answered: OutboundLeg | None = None
    answered_at: float = 0.0
    revoked: bool = False
    ringing_told: bool = False
    confirm: bool = False  # a mobile: the agent must press 1 (a voicemail never does)
    silent: bool = False  # a phone sent nothing at all (not even 100 Trying) in time
    whispered: bool = False  # the engine played "press 1 to accept" to it
    held: bool = False  # the agent put the caller on hold
    holds: int = 0  # re-offers answered (our SDP's origin version follows)
    statuses: list[int | None] = field(default_factory=list)


@dataclass(eq=False)
class Queued:
    call: CallPort
    queue: str
    tier: str | None
    enqueued_at: float
    stage: Stage = Stage.WAITING
    rings: dict[int, Ring] = field(default_factory=dict)  # by reservation
    agent: Ring | None = None
    after_agent: Callable[[], bool] | None = None  # e.g. a post-call survey takes the call on
    estimate: float = 0.0  # the router's expected wait when the call was queued
    recording: bool = False  # the engine records (the queue's policy, or a voicemail)
