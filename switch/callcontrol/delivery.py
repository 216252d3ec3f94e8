"""Call delivery: from a queue to an agent's phone, through the router (the B2BUA's B side).

A queued caller is answered already (music on hold, by the engine on the far side of its
media, see ``enginemedia.py``). The router decides who takes it; this edge carries the
decisions out and tells the router what happened, through one :class:`RouterService`:

- ``OfferCall`` rings the agent: an SDP offer from the engine (the far side's address, the
  caller's agreed codecs), an INVITE to every place the agent can be reached (forked; the
  first to answer wins, the others are cancelled). The offer's reservation and the router's
  explanation go out with the ``AgentOffered`` event;
- the agent answers: ``AcceptOffer`` at once (the reservation cannot lapse under an answered
  phone), the music stops and the far side becomes the agent's phone: caller and agent hear
  each other, recorded per queue policy;
- busy or declined (486, 600, 603, other 4xx-6xx): ``RejectOffer``, re-offered at once; no
  answer at all (408, 480, 503, a transport error): the agent is *unreachable*
  (``EndpointLost``) and the call goes to the next eligible or backup agent at once; the
  agent is offered calls again when it registers or after ``calls.unreachable_retry``;
- the ring timeout is the reservation's: ``OfferRevoked`` (expired, abandoned, answered
  elsewhere...) cancels the ring;
- the caller hangs up while waiting: ``AbandonCall`` with the wait; during the call: BYE to
  the agent and ``EndCall`` (wrap-up); the agent hangs up: ``EndCall`` and the caller is
  released;
- a queue that rejects or times the call out, or sends it to a callback: the caller hears why,
  then the node hangs up.

Every step is an event on the bus (below, and the router's own decisions as they are).
Presence: which agents are logged in and reachable follows their registrations
(``presence.py``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from routing import commands as rc
from routing import decisions as rd
from routing.model import RoutingError
from routing.service import RouterService

from ..sip.address import Listener, Peer
from . import vocabulary as v
from .agentdial import CallerShown, Destination, agent_invite, caller_shown, via_of
from .outbound import OutboundLeg, OutState

log = logging.getLogger(__name__)

# Answers that mean "this phone is there but will not take it" (re-offer, count a miss);
# anything else that is not an answer means the phone did not answer at all.
BUSY = frozenset({486, 600, 603})
UNREACHABLE = frozenset({408, 480, 503})
# A phone that sends nothing at all, not even 100 Trying (due within 200 ms, RFC 3261
# §17.2.1), this long after our INVITE is taken for unreachable: the call moves on at once
# instead of after Timer B (32 s) or the ring timeout.
NO_RESPONSE = 1.0
WHISPER = "A call from the queue. Press 1 to accept."
MOBILE_NUMBER = re.compile(r"^\+?[0-9]{7,15}$")
TRANSFERRING = "Please hold while we transfer your call."
RECONNECTING = "We are sorry, your agent was disconnected. Please hold for the next agent."
# What the caller hears before the node hangs up, by the router's reason.
GOODBYES = {
    "queue_full": "All our agents are busy and the queue is full. Please call again later.",
    "max_wait": "We are sorry, no agent could take your call. Please call again later.",
    "callback": "All our agents are busy. We will call you back as soon as possible.",
}


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
    ENDED = "ended"


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


class Delivery:
    def __init__(self, router_config: Any, legs: LegPlacer, media: AgentMedia, *,
                 destinations: Callable[[str], list[Destination]],
                 mobile_destination: Callable[[str], Destination] | None = None,
                 resolve_transfer: Callable[[str], tuple[str, str] | None] = lambda uri: None,
                 local_for: Callable[[Peer], Listener | None],
                 publish: Callable[[object], None], domain: str, server: str,
                 hold_music: Any, show_caller_number: bool = False,
                 unreachable_retry: float = 30.0, agent_lost_after: float | None = 1.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.legs = legs
        self.media = media
        self.destinations = destinations
        self.mobile_destination = mobile_destination or _no_trunk
        self.resolve_transfer = resolve_transfer
        self.mobile: dict[str, str] = {}  # agent -> the number it takes calls on
        self.local_for = local_for
        self.publish = publish
        self.domain = domain
        self.server = server
        self.hold_music = hold_music
        self.show_caller_number = show_caller_number
        self.unreachable_retry = unreachable_retry
        self.agent_lost_after = agent_lost_after
        self.clock = clock
        self.router = RouterService(router_config, self._on_decisions, clock=clock)
        self.calls: dict[str, Queued] = {}
        self._by_leg: dict[str, Ring] = {}
        self._retry: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the router ---------------------------------------------------------------------------

    def submit(self, command: rc.Command) -> list[rd.Decision]:
        """A command for the router; one that no longer applies (the router forgot the call,
        the agent is not in that state) is logged and changes nothing."""
        try:
            return self.router.submit(command)
        except RoutingError as exc:
            log.debug("router: %r not applied: %s", command, exc)
            return []

    def _on_decisions(self, decisions: list[rd.Decision]) -> None:
        for decision in decisions:
            self.publish(decision)
            if isinstance(decision, rd.OfferCall):
                self._offer(decision)
            elif isinstance(decision, rd.OfferRevoked):
                self._revoked(decision)
            elif isinstance(decision, rd.CallRejected):
                self._goodbye(decision.call_id, "queue_full")
            elif isinstance(decision, rd.CallTimedOut):
                self._goodbye(decision.call_id, "max_wait")
            elif isinstance(decision, rd.CallOverflowed) and decision.to == "callback":
                self._goodbye(decision.call_id, "callback")

    # -- callers ------------------------------------------------------------------------------

    def enqueue(self, call: CallPort, queue: str, tier: str | None = None) -> None:
        """The caller waits in ``queue`` (music on hold) until an agent answers."""
        queued = Queued(call, queue, tier, self.clock())
        self.calls[call.call_id] = queued
        self._spawn(self._music(queued))
        self.submit(rc.EnqueueCall(call.call_id, queue, tier=tier, caller_id=call.caller))

    def caller_left(self, call_id: str) -> None:
        """The caller's call is over (it hung up, or the node ended it)."""
        queued = self.calls.pop(call_id, None)
        if queued is None or queued.stage is Stage.ENDED:
            return
        was, queued.stage = queued.stage, Stage.ENDED
        now = self.clock()
        if was is Stage.CONNECTED and queued.agent is not None:
            ring = queued.agent
            if ring.answered is not None:
                ring.answered.hangup("caller hung up")
            self.publish(AgentCallEnded(call_id, ring.agent_id, "caller",
                                        round(now - ring.answered_at, 3)))
            self.submit(rc.EndCall(call_id))
        else:
            self.publish(CallAbandoned(call_id, queued.queue,
                                       round(now - queued.enqueued_at, 3)))
            self.submit(rc.AbandonCall(call_id))  # revokes live offers: rings cancelled
            for ring in queued.rings.values():
                self._cancel(ring)
        self.legs.flush()

    async def _music(self, queued: Queued) -> None:
        call = queued.call
        try:
            async with call.media_lock:
                if queued.stage is Stage.WAITING:
                    await self.media.play(call.call_id, call.caller_tag, self.hold_music,
                                          loop=True)
        except Exception as exc:
            log.warning("call %s: hold music not played: %s", call.call_id, exc)

    def _goodbye(self, call_id: str, why: str) -> None:
        queued = self.calls.get(call_id)
        if queued is not None and queued.stage is Stage.WAITING:
            self._spawn(self._say_goodbye(queued, why))

    async def _say_goodbye(self, queued: Queued, why: str) -> None:
        call = queued.call
        try:
            async with call.media_lock:
                prompt = await self.media.tts(GOODBYES[why])
                seconds = await self.media.play(call.call_id, call.caller_tag, prompt)
            await asyncio.sleep(seconds)
        except Exception as exc:
            log.warning("call %s: goodbye not played: %s", call.call_id, exc)
        call.hang_up(f"queue {queued.queue}: {why}")

    # -- offers -------------------------------------------------------------------------------

    def _offer(self, offer: rd.OfferCall) -> None:
        queued = self.calls.get(offer.call_id)
        if queued is None or queued.stage is not Stage.WAITING:
            self.submit(rc.RejectOffer(offer.call_id, offer.agent_id))
            return
        places = self._places(offer.agent_id)
        now = self.clock()
        ring = Ring(offer.call_id, offer.agent_id, offer.reservation_id, now,
                    confirm=offer.agent_id in self.mobile)
        queued.rings[offer.reservation_id] = ring
        self.publish(AgentOffered(offer.call_id, offer.agent_id, offer.reservation_id,
                                  round(offer.expires_at - now, 3), offer.reason,
                                  self._explain(offer.call_id)))
        if not places:
            self._missed(queued, ring, "no-contact", None)
            return
        self._spawn(self._ring(queued, ring, places))

    def _places(self, agent_id: str) -> list[Destination]:
        number = self.mobile.get(agent_id)
        if number is not None:
            return [self.mobile_destination(number)]
        return self.destinations(agent_id)

    def _explain(self, call_id: str) -> str:
        try:
            return str(self.router.explain(call_id).render())
        except Exception:
            return ""

    async def _ring(self, queued: Queued, ring: Ring, places: list[Destination]) -> None:
        call = queued.call
        try:
            async with call.media_lock:
                sdp = await self.media.offer_far_side(call.call_id, call.caller_tag)
        except Exception as exc:
            log.warning("call %s: no media offer for agent %s: %s", call.call_id,
                        ring.agent_id, exc)
            ring.stage = RingStage.ENDED
            if not ring.revoked:
                self.submit(rc.ExpireOffer(ring.call_id, ring.agent_id))
            return
        if ring.revoked or queued.stage is not Stage.WAITING:
            ring.stage = RingStage.ENDED
            return
        shown = caller_shown(call.caller, queued.queue, show_number=self.show_caller_number)
        for place in places:
            self._place(ring, place, shown, sdp)
        if ring.stage is RingStage.PREPARING:
            ring.stage = RingStage.RINGING
        if not ring.legs and ring.stage is RingStage.RINGING:
            self._missed(queued, ring, "unreachable", None)
        elif ring.legs:
            asyncio.get_running_loop().call_later(NO_RESPONSE, self._no_response, ring)
        self.legs.flush()

    def _no_response(self, ring: Ring) -> None:
        silent = [leg for leg in ring.legs.values() if leg.state is OutState.CALLING]
        for leg in silent:
            leg.give_up()
        if silent:
            self.legs.flush()

    def _place(self, ring: Ring, place: Destination, shown: CallerShown, sdp: str) -> None:
        local = self.local_for(place.peer)
        if local is None:
            log.warning("agent %s: no %s listener to reach %s", ring.agent_id,
                        place.peer.transport, place.uri)
            ring.statuses.append(None)
            return
        invite = agent_invite(place, agent=ring.agent_id, domain=self.domain, local=local,
                              shown=shown, sdp=sdp, server=self.server)
        try:
            leg = self.legs.place(invite, place.peer, via=via_of(invite))
        except Exception as exc:
            log.warning("agent %s: INVITE to %s not sent: %s", ring.agent_id, place.uri, exc)
            ring.statuses.append(None)
            return
        ring.legs[leg.leg_id] = leg
        self._by_leg[leg.leg_id] = ring

    def _revoked(self, revoked: rd.OfferRevoked) -> None:
        queued = self.calls.get(revoked.call_id)
        ring = queued.rings.get(revoked.reservation_id) if queued else None
        if ring is not None and ring.stage in (RingStage.PREPARING, RingStage.RINGING,
                                               RingStage.CONFIRMING):
            self._cancel(ring)

    def _cancel(self, ring: Ring) -> None:
        ring.revoked = True
        if ring.stage is RingStage.ANSWERED:
            return
        if ring.stage is RingStage.CONFIRMING:  # the mobile never pressed 1
            queued = self.calls.get(ring.call_id)
            if queued is not None:
                self._spawn(self._far_back_to_engine(queued))
        for leg in list(ring.legs.values()):
            leg.hangup("offer withdrawn")

    async def _far_back_to_engine(self, queued: Queued) -> None:
        call = queued.call
        try:
            async with call.media_lock:
                call.reoffer(await self.media.disconnect_far_side(call.call_id,
                                                                  call.caller_tag))
        except Exception as exc:
            log.warning("call %s: far side not returned to the engine: %s", call.call_id, exc)

    # -- the agents' legs ---------------------------------------------------------------------

    def on_leg_event(self, event: v.LegEvent) -> bool:
        """An event of a leg we placed; False when the leg is not one of ours."""
        ring = self._by_leg.get(event.leg_id)
        if ring is None:
            return False
        queued = self.calls.get(ring.call_id)
        if isinstance(event, v.LegRinging):
            if not ring.ringing_told and not ring.revoked:
                ring.ringing_told = True
                self.publish(AgentRinging(ring.call_id, ring.agent_id))
        elif isinstance(event, v.DigitReceived):  # SIP INFO from the agent's phone
            self.agent_digit(ring.call_id, event.digit)
        elif isinstance(event, v.LegUpdateOffered):
            self._agent_offer(ring, ring.legs[event.leg_id], event)
        elif isinstance(event, v.LegReferred):
            self._referred(ring, ring.legs[event.leg_id], event.refer_to)
        elif isinstance(event, v.LegAnswered):
            leg = ring.legs[event.leg_id]
            if queued is None or ring.revoked or queued.stage is not Stage.WAITING \
                    or ring.stage is not RingStage.RINGING:
                leg.hangup("answered elsewhere")
                return True
            self._answered(queued, ring, leg)
        elif isinstance(event, v.LegEnded):
            ended = ring.legs.pop(event.leg_id, None)
            self._by_leg.pop(event.leg_id, None)
            if ended is not None and ended is ring.answered \
                    and ring.stage is RingStage.ANSWERED:
                self._agent_gone(ring, event.reason)
            elif ring.stage is RingStage.CONFIRMING:  # hung up without pressing 1
                ring.stage = RingStage.RINGING
                ring.statuses.append(603)
                if not ring.legs and queued is not None and not ring.revoked:
                    self._spawn(self._far_back_to_engine(queued))
                    self._missed(queued, ring, "rejected", None)
            elif ring.stage in (RingStage.PREPARING, RingStage.RINGING):
                ring.statuses.append(event.status)
                if not ring.legs and queued is not None and not ring.revoked:
                    self._missed(queued, ring, _outcome(ring.statuses), _status(ring.statuses))
        self.legs.flush()
        return True

    def _answered(self, queued: Queued, ring: Ring, leg: OutboundLeg) -> None:
        if ring.confirm:
            self._confirming(queued, ring, leg)
            return
        now = self.clock()
        ring.stage, ring.answered, ring.answered_at = RingStage.ANSWERED, leg, now
        queued.stage, queued.agent = Stage.CONNECTED, ring
        for other in [x for x in ring.legs.values() if x is not leg]:
            other.hangup("answered elsewhere")
        for other_ring in queued.rings.values():
            if other_ring is not ring:
                self._cancel(other_ring)
        self.publish(AgentAnswered(ring.call_id, ring.agent_id,
                                   round(now - ring.started_at, 3),
                                   round(now - queued.enqueued_at, 3)))
        self.submit(rc.AcceptOffer(ring.call_id, ring.agent_id))
        self._spawn(self._bridge(queued, ring, leg))

    # -- hold and resume by the agent ---------------------------------------------------------

    def _agent_offer(self, ring: Ring, leg: OutboundLeg, offer: v.LegUpdateOffered) -> None:
        """The agent's phone holds (sendonly, inactive) or resumes: answer it in kind; the
        caller hears music on hold meanwhile."""
        ring.holds += 1
        leg.answer_update(mirrored(leg.local_sdp, offer.sdp, ring.holds + 1))
        queued = self.calls.get(ring.call_id)
        if queued is None or queued.agent is not ring or offer.held == ring.held:
            return
        ring.held = offer.held
        self.publish(AgentHeld(ring.call_id, ring.agent_id, offer.held))
        self._spawn(self._hold_music(queued, offer.held))

    async def _hold_music(self, queued: Queued, on: bool) -> None:
        call = queued.call
        try:
            async with call.media_lock:
                if on:
                    await self.media.play(call.call_id, call.caller_tag, self.hold_music,
                                          loop=True)
                else:
                    await self.media.stop(call.call_id, call.caller_tag)
        except Exception as exc:
            log.warning("call %s: hold music %s: %s", call.call_id, "on" if on else "off", exc)

    # -- mobile agents: "press 1 to accept" -------------------------------------------------

    def set_mobile(self, agent_id: str, number: str | None) -> None:
        """Offers to ``agent_id`` go to ``number`` through the trunk (None: its phones)."""
        if number is None:
            self.mobile.pop(agent_id, None)
        else:
            self.mobile[agent_id] = number

    def _confirming(self, queued: Queued, ring: Ring, leg: OutboundLeg) -> None:
        """The mobile answered: it may be the agent or its voicemail. The agent hears
        "press 1 to accept" (the caller keeps its music) until it presses 1 or the
        reservation lapses."""
        ring.stage, ring.answered, ring.answered_at = RingStage.CONFIRMING, leg, self.clock()
        for other in [x for x in ring.legs.values() if x is not leg]:
            other.hangup("answered elsewhere")
        self._spawn(self._whisper(queued, ring, leg))

    async def _whisper(self, queued: Queued, ring: Ring, leg: OutboundLeg) -> None:
        call = queued.call
        try:
            async with call.media_lock:
                call.reoffer(await self.media.connect_far_side(call.call_id, call.caller_tag,
                                                               leg.remote_sdp))
                prompt = await self.media.tts(WHISPER)
                if ring.stage is RingStage.CONFIRMING:
                    await self.media.play_far_side(call.call_id, prompt, loop=True)
                    ring.whispered = True
        except Exception as exc:
            log.warning("call %s: no whisper to agent %s: %s", call.call_id, ring.agent_id,
                        exc)
            leg.hangup("whisper failed")

    def agent_digit(self, call_id: str, digit: str) -> None:
        """A key pressed on the agent's side of the call (a mobile accepting with 1)."""
        queued = self.calls.get(call_id)
        ring = next((r for r in queued.rings.values() if r.stage is RingStage.CONFIRMING),
                    None) if queued is not None else None
        if queued is None or ring is None or ring.answered is None or digit != "1":
            return
        leg = ring.answered
        ring.stage = RingStage.RINGING  # _answered takes it from here, as for a desk phone
        ring.confirm = False
        self._answered(queued, ring, leg)
        self.legs.flush()

    async def _bridge(self, queued: Queued, ring: Ring, leg: OutboundLeg) -> None:
        call = queued.call
        try:
            async with call.media_lock:
                try:
                    await self.media.stop(call.call_id, call.caller_tag)
                except Exception as exc:  # nothing was playing: fine
                    log.debug("call %s: stop music: %s", call.call_id, exc)
                if ring.whispered:
                    try:
                        await self.media.stop_far_side(call.call_id)  # "press 1 to accept"
                    except Exception as exc:
                        log.debug("call %s: stop whisper: %s", call.call_id, exc)
                call.reoffer(await self.media.connect_far_side(
                    call.call_id, call.caller_tag, leg.remote_sdp,
                    lost_after=self.agent_lost_after))
        except Exception as exc:
            log.warning("call %s: media not connected to agent %s: %s", call.call_id,
                        ring.agent_id, exc)
            call.hang_up("media not connected to the agent")

    def _missed(self, queued: Queued, ring: Ring, outcome: str, status: int | None) -> None:
        ring.stage = RingStage.ENDED
        queued.rings.pop(ring.reservation_id, None)
        self.publish(AgentMissed(ring.call_id, ring.agent_id, outcome, status))
        if outcome in ("unreachable", "no-contact"):
            self.agent_unreachable(ring.agent_id)
        else:
            self.submit(rc.RejectOffer(ring.call_id, ring.agent_id))

    def _agent_gone(self, ring: Ring, reason: str) -> None:
        """The agent's phone ended the call (BYE), or the node ended it after the caller."""
        ring.stage = RingStage.ENDED
        queued = self.calls.get(ring.call_id)
        if queued is None or queued.stage is not Stage.CONNECTED or queued.agent is not ring:
            return  # the caller hung up first: already counted
        del self.calls[ring.call_id]
        queued.stage = Stage.ENDED
        self.publish(AgentCallEnded(ring.call_id, ring.agent_id, "agent",
                                    round(self.clock() - ring.answered_at, 3)))
        self.submit(rc.EndCall(ring.call_id))
        queued.call.hang_up("agent hung up" if reason == v.BY_REMOTE else f"agent: {reason}")

    # -- failover -----------------------------------------------------------------------------

    def agent_lost(self, call_id: str, reason: str) -> None:
        """The connected agent is gone (its media stopped: its network dropped, its phone
        died). The caller never drops: it hears a short notice and music, and waits again,
        first in its queue with the wait it had, for the next or a backup agent; the lost
        agent is released and unreachable until its phone is back."""
        queued = self.calls.get(call_id)
        if queued is None or queued.stage is not Stage.CONNECTED or queued.agent is None:
            return
        ring = queued.agent
        talk = round(self.clock() - ring.answered_at, 3)
        waited = self._release_agent(queued, "agent lost")
        self.publish(AgentLost(call_id, ring.agent_id, reason, talk))
        self.agent_unreachable(ring.agent_id)
        self._requeue(queued, queued.queue, waited, RECONNECTING)

    def _release_agent(self, queued: Queued, why: str) -> float:
        """End the agent's part of a connected call (BYE, ``EndCall``: wrap-up); the caller
        waits again. Returns the wait the caller had before that agent answered."""
        ring = queued.agent
        assert ring is not None
        waited = max(0.0, ring.answered_at - queued.enqueued_at)
        leg, ring.answered = ring.answered, None
        ring.stage = RingStage.ENDED
        if leg is not None:
            self._by_leg.pop(leg.leg_id, None)
            leg.hangup(why)  # a BYE, should the phone still hear us
        queued.stage, queued.agent = Stage.WAITING, None
        queued.rings.clear()
        self.submit(rc.EndCall(queued.call.call_id))
        return waited

    def _requeue(self, queued: Queued, queue: str, waited: float, notice: str) -> None:
        """The caller waits (again) in ``queue``, first, with ``waited`` seconds behind it."""
        queued.queue = queue
        queued.enqueued_at = self.clock() - waited
        self._spawn(self._back_to_queue(queued, notice))
        self.submit(rc.EnqueueCall(queued.call.call_id, queue, tier=queued.tier,
                                   caller_id=queued.call.caller, waited=waited, ahead=True))
        self.legs.flush()

    # -- transfers ----------------------------------------------------------------------------

    def _referred(self, ring: Ring, leg: OutboundLeg, refer_to: str) -> None:
        """The agent transfers its caller (blind, REFER): to a queue's number, the caller
        waits there first in line; anything else is refused in the NOTIFY and the call goes
        on."""
        queued = self.calls.get(ring.call_id)
        if queued is None or queued.agent is not ring:
            leg.notify_refer(481, "Call Does Not Exist")
            return
        target = self.resolve_transfer(refer_to)
        if target is None:
            leg.notify_refer(404, "Not Found")
            self.publish(TransferFailed(ring.call_id, ring.agent_id, refer_to, "unknown target"))
            return
        kind, name = target
        if kind != "queue":
            leg.notify_refer(488, "Not Acceptable Here")
            self.publish(TransferFailed(ring.call_id, ring.agent_id, refer_to,
                                        f"transfers to {kind} are not supported"))
            return
        leg.notify_refer(200, "OK")
        self.publish(CallTransferred(ring.call_id, ring.agent_id, f"queue:{name}"))
        self._release_agent(queued, "transferred")
        self._requeue(queued, name, 0.0, TRANSFERRING)

    async def _back_to_queue(self, queued: Queued, notice: str) -> None:
        """The far side is the engine again: a short notice, then music until an agent."""
        call = queued.call
        seconds = 0.0
        try:
            async with call.media_lock:
                call.reoffer(await self.media.disconnect_far_side(call.call_id,
                                                                  call.caller_tag))
                if queued.stage is Stage.WAITING:
                    prompt = await self.media.tts(notice)
                    seconds = await self.media.play(call.call_id, call.caller_tag, prompt)
        except Exception as exc:
            log.warning("call %s: back to the queue without the notice: %s", call.call_id, exc)
        await asyncio.sleep(seconds)
        await self._music(queued)

    # -- agents' reachability -----------------------------------------------------------------

    def agent_unreachable(self, agent_id: str) -> None:
        """No phone of the agent answers: offered nothing until it registers again or
        ``unreachable_retry`` seconds pass."""
        self.submit(rc.EndpointLost(agent_id))
        previous = self._retry.pop(agent_id, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        self._retry[agent_id] = loop.call_later(self.unreachable_retry,
                                                self.agent_reachable, agent_id)

    def agent_reachable(self, agent_id: str) -> None:
        handle = self._retry.pop(agent_id, None)
        if handle is not None:
            handle.cancel()
        if self.agent_state(agent_id) == "unreachable":
            self.submit(rc.EndpointRestored(agent_id))

    def agent_state(self, agent_id: str) -> str | None:
        """The router's state of the agent ("ready", "on_call"...); None if unknown."""
        try:
            return str(self.router.agent(agent_id).state)
        except RoutingError:
            return None

    # -- operators ----------------------------------------------------------------------------

    def connected_agent(self, call_id: str) -> str | None:
        queued = self.calls.get(call_id)
        if queued is None or queued.stage is not Stage.CONNECTED or queued.agent is None:
            return None
        return queued.agent.agent_id

    def media_lock(self, call_id: str) -> asyncio.Lock | None:
        queued = self.calls.get(call_id)
        return queued.call.media_lock if queued is not None else None

    def calls_view(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [{"call": call_id, "queue": q.queue, "stage": q.stage.value,
                 "agent": q.agent.agent_id if q.agent is not None else None,
                 "seconds": round(now - (q.agent.answered_at if q.agent is not None
                                         else q.enqueued_at), 1)}
                for call_id, q in self.calls.items()]

    def agents_view(self) -> list[dict[str, Any]]:
        out = []
        for agent_id in self.router.agent_ids():
            view = self.router.agent(agent_id)
            out.append({"agent": agent_id, "state": str(view.state), "reason": view.reason,
                        "calls": view.calls, "offers": view.reservations,
                        "calls_today": view.calls_today, "missed": view.missed_offers,
                        "phones": len(self.destinations(agent_id)),
                        "mobile": self.mobile.get(agent_id)})
        return out

    def agent_command(self, agent_id: str, action: str, reason: str = "",
                      number: str | None = None) -> dict[str, Any]:
        """``login``, ``logout``, ``ready``, ``not_ready``, ``mobile`` (take calls on
        ``number`` through the trunk, logged in and ready) or ``phones`` (back to the agent's
        phones); ValueError when refused."""
        action = action.replace("-", "_")
        if action in ("mobile", "phones"):
            return self._mobile_command(agent_id, number if action == "mobile" else None)
        commands: dict[str, rc.Command] = {
            "login": rc.AgentLogin(agent_id, ready=True),
            "logout": rc.AgentLogout(agent_id),
            "ready": rc.AgentSetState(agent_id, "ready"),
            "not_ready": rc.AgentSetState(agent_id, "not_ready", reason or "busy"),
        }
        command = commands.get(action)
        if command is None:
            raise ValueError(f"unknown action {action!r}; expected one of "
                             + ", ".join([*commands, "mobile", "phones"]))
        try:
            self.router.submit(command)
        except RoutingError as exc:
            raise ValueError(str(exc)) from None
        view = self.router.agent(agent_id)
        return {"agent": agent_id, "state": str(view.state), "reason": view.reason}

    def _mobile_command(self, agent_id: str, number: str | None) -> dict[str, Any]:
        state = self.agent_state(agent_id)
        if state is None:
            raise ValueError(f"unknown agent {agent_id!r}")
        if number is not None:
            if not MOBILE_NUMBER.match(number):
                raise ValueError(f"{number!r} is not a phone number (+ and 7 to 15 digits)")
            self.mobile_destination(number)  # raises without a trunk
        self.set_mobile(agent_id, number)
        if number is not None:
            self.publish(AgentMobile(agent_id, number))
            if state == "logged_out":
                self.submit(rc.AgentLogin(agent_id, ready=True))
            elif state == "unreachable":
                self.agent_reachable(agent_id)
        elif not self.destinations(agent_id) and state not in ("logged_out", "unreachable"):
            self.submit(rc.EndpointLost(agent_id))  # no phone to go back to
        view = self.router.agent(agent_id)
        return {"agent": agent_id, "state": str(view.state), "reason": view.reason,
                "mobile": self.mobile.get(agent_id)}

    # -- plumbing -----------------------------------------------------------------------------

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        for handle in self._retry.values():
            handle.cancel()
        self._retry.clear()
        self.router.close()


class QueueSession:
    """A queued call's service (call control's ServiceSession): enqueued when it starts,
    abandoned or ended when the call stops."""

    def __init__(self, delivery: Delivery, call: CallPort, queue: str,
                 tier: str | None = None) -> None:
        self.delivery = delivery
        self.call = call
        self.queue = queue
        self.tier = tier

    def start(self, now: float) -> None:
        self.delivery.enqueue(self.call, self.queue, self.tier)

    def digit(self, digit: str, now: float) -> None:
        pass  # keys while queued (voicemail, callback) arrive with the queue menu

    def stop(self) -> None:
        self.delivery.caller_left(self.call.call_id)

    def next_deadline(self) -> float | None:
        return None

    def on_timer(self, now: float) -> None:
        pass


_DIRECTION = re.compile(r"(?m)^a=(sendrecv|sendonly|recvonly|inactive)\r?$")
_MIRROR = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}
_VERSION = re.compile(r"(?m)^(o=\S+ \S+ )\d+( )")


def mirrored(ours: str, theirs: str, version: int) -> str:
    """Our SDP again as the answer to ``theirs`` (RFC 3264 §6.1, §8.4): the direction
    mirrored (their sendonly, a hold, gets our recvonly; inactive stays inactive; c=0.0.0.0
    is the old way to say inactive) and the origin's version set to ``version``."""
    found = _DIRECTION.findall(theirs)
    held_old_way = re.search(r"(?m)^c=IN IP4 0\.0\.0\.0\r?$", theirs) is not None
    direction = "inactive" if held_old_way else _MIRROR.get(found[-1] if found else "",
                                                            "sendrecv")
    lines = [line for line in ours.replace("\r\n", "\n").split("\n")
             if line and not _DIRECTION.match(line)]
    lines.append(f"a={direction}")
    return _VERSION.sub(rf"\g<1>{version}\g<2>", "\r\n".join(lines) + "\r\n", count=1)


def _no_trunk(number: str) -> Destination:
    raise ValueError("mobile login needs a trunk (trunks: in the config)")


def _outcome(statuses: list[int | None]) -> str:
    """What the forks' answers mean together: one busy phone makes the agent busy; if every
    fork failed to answer at all, the agent is unreachable."""
    if any(s in BUSY for s in statuses):
        return "busy"
    if all(s is None or s in UNREACHABLE for s in statuses):
        return "unreachable"
    if any(s == 487 for s in statuses):
        return "cancelled"
    return "rejected"


def _status(statuses: list[int | None]) -> int | None:
    known = [s for s in statuses if s is not None]
    return min(known, key=lambda s: (s not in BUSY, s)) if known else None
