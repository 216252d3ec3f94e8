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

Every step is an event on the bus (``deliverystate.py``, and the router's own decisions as
they are). What happens once an agent answered (hold, failover, transfer) is in
``incall.py``, mobile login in ``mobile.py``: parts of the same :class:`Delivery`. Presence:
which agents are logged in and reachable follows their registrations (``presence.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from routing import commands as rc
from routing import decisions as rd
from routing.model import RoutingError
from routing.service import RouterService

from ..sip.address import Listener, Peer
from . import vocabulary as v
from .agentdial import CallerShown, Destination, agent_invite, caller_shown, via_of
from .deliverystate import (
    AgentAnswered,
    AgentCallEnded,
    AgentMedia,
    AgentMissed,
    AgentOffered,
    AgentRinging,
    CallAbandoned,
    CallPort,
    LegPlacer,
    Queued,
    Ring,
    RingStage,
    Stage,
    WaitingPolicy,
)
from .incall import NOT_TAKEN, InCallMixin
from .mobile import MobileMixin
from .outbound import OutboundLeg, OutState
from .waiting import WaitingMixin

log = logging.getLogger(__name__)

# Answers that mean "this phone is there but will not take it" (re-offer, count a miss);
# anything else that is not an answer means the phone did not answer at all.
BUSY = frozenset({486, 600, 603})
UNREACHABLE = frozenset({408, 480, 503})
# A phone that sends nothing at all, not even 100 Trying (due within 200 ms, RFC 3261
# §17.2.1), this long after our INVITE is taken for unreachable: the call moves on at once
# instead of after Timer B (32 s) or the ring timeout.
NO_RESPONSE = 1.0
# ... but only when the node itself is on time: a timer that fires this late means the loop
# is behind (overload), and the phone's 100 Trying may be waiting unread; judge again later.
LATE = 0.2
# A phone that stayed silent is offered calls again after this (not calls.unreachable_retry,
# meant for phones that answered 408/480/503): a hiccup must not bench an agent for long.
SILENT_RETRY = 5.0
# What the caller hears before the node hangs up, by the router's reason.
GOODBYES = {
    "queue_full": "All our agents are busy and the queue is full. Please call again later.",
    "max_wait": "We are sorry, no agent could take your call. Please call again later.",
    "callback": "All our agents are busy. We will call you back as soon as possible.",
}


class Delivery(InCallMixin, MobileMixin, WaitingMixin):
    def __init__(self, router_config: Any, legs: LegPlacer, media: AgentMedia, *,
                 destinations: Callable[[str], list[Destination]],
                 mobile_destination: Callable[[str], Destination] | None = None,
                 resolve_transfer: Callable[[str], tuple[str, str] | None] = lambda uri: None,
                 consults: Callable[[str], tuple[str, str, OutboundLeg] | None] = (
                     lambda replaces: None),
                 end_consult: Callable[[str], None] = lambda call_id: None,
                 local_for: Callable[[Peer], Listener | None],
                 publish: Callable[[object], None], domain: str, server: str,
                 hold_music: Any, beep: Any = None,
                 policies: dict[str, WaitingPolicy] | None = None,
                 show_caller_number: bool = False,
                 unreachable_retry: float = 30.0, agent_lost_after: float | None = 1.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.legs = legs
        self.media = media
        self.destinations = destinations
        self.mobile_destination = mobile_destination or _no_trunk
        self.resolve_transfer = resolve_transfer
        self.consults = consults
        self.end_consult = end_consult
        self.mobile: dict[str, str] = {}  # agent -> the number it takes calls on
        self.local_for = local_for
        self.publish = publish
        self.domain = domain
        self.server = server
        self.hold_music = hold_music
        self.beep = beep
        self.policies = policies or {}
        self.show_caller_number = show_caller_number
        self.unreachable_retry = unreachable_retry
        self.agent_lost_after = agent_lost_after
        self.clock = clock
        self.router = RouterService(router_config, self._on_decisions, clock=clock)
        self.calls: dict[str, Queued] = {}
        self._direct = 0  # transfers' rings (negative reservation ids)
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
            elif isinstance(decision, rd.WaitEstimateUpdated):
                queued = self.calls.get(decision.call_id)
                if queued is not None:
                    queued.estimate = decision.estimated_wait
            elif isinstance(decision, rd.CallOverflowed) and decision.to == "callback":
                self._goodbye(decision.call_id, "callback")

    # -- callers ------------------------------------------------------------------------------

    def enqueue(self, call: CallPort, queue: str, tier: str | None = None,
                after_agent: Callable[[], bool] | None = None) -> None:
        """The caller waits in ``queue`` (music on hold) until an agent answers.
        ``after_agent``: when the agent hangs up, the caller stays if it returns True (a
        post-call survey); else the call ends with the agent's."""
        queued = Queued(call, queue, tier, self.clock(), after_agent=after_agent)
        self.calls[call.call_id] = queued
        self._spawn(self._music(queued))
        self._spawn(self._announcements(queued))
        self.submit(rc.EnqueueCall(call.call_id, queue, tier=tier, caller_id=call.caller))

    def caller_left(self, call_id: str) -> None:
        """The caller's call is over (it hung up, or the node ended it)."""
        queued = self.calls.pop(call_id, None)
        if queued is None or queued.stage is Stage.ENDED:
            return
        was, queued.stage = queued.stage, Stage.ENDED
        now = self.clock()
        if was is Stage.LEAVING:  # voicemail or callback: the router forgot it already
            self._spawn(self._stop_recording(queued))  # keep what the caller said
        elif was is Stage.CONNECTED and queued.agent is not None:
            ring = queued.agent
            if ring.answered is not None:
                ring.answered.hangup("caller hung up")
            self.publish(AgentCallEnded(call_id, ring.agent_id, "caller",
                                        round(now - ring.answered_at, 3)))
            self.submit(rc.EndCall(call_id))
            self._transferred_done(ring)
        else:
            self.publish(CallAbandoned(call_id, queued.queue,
                                       round(now - queued.enqueued_at, 3)))
            self.submit(rc.AbandonCall(call_id))  # revokes live offers: rings cancelled
            for ring in queued.rings.values():
                self._cancel(ring)
        self.legs.flush()

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
            self._judge_silence(ring, NO_RESPONSE)
        self.legs.flush()

    def _judge_silence(self, ring: Ring, after: float, tries: int = 3) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(after, self._no_response, ring, loop.time() + after, tries)

    def _no_response(self, ring: Ring, due: float, tries: int) -> None:
        if asyncio.get_running_loop().time() - due > LATE and tries > 1:
            self._judge_silence(ring, NO_RESPONSE, tries - 1)  # we are late, not the phone
            return
        silent = [leg for leg in ring.legs.values() if leg.state is OutState.CALLING]
        if silent:
            ring.silent = True
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
        elif isinstance(event, v.LegReoffered):
            self._reoffered(ring, event)
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
                if not ring.legs and queued is not None and (
                        not ring.revoked or ring.reservation_id < 0):  # a transfer timed out
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
        if ring.reservation_id >= 0:
            self.submit(rc.AcceptOffer(ring.call_id, ring.agent_id))
        elif self.agent_state(ring.agent_id) == "ready":  # a transfer's target: no offers
            self.submit(rc.AgentSetState(ring.agent_id, "not_ready", "transfer"))
        self._spawn(self._bridge(queued, ring, leg))

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
                await self._record_if_asked(queued)
        except Exception as exc:
            log.warning("call %s: media not connected to agent %s: %s", call.call_id,
                        ring.agent_id, exc)
            call.hang_up("media not connected to the agent")

    def _missed(self, queued: Queued, ring: Ring, outcome: str, status: int | None) -> None:
        ring.stage = RingStage.ENDED
        queued.rings.pop(ring.reservation_id, None)
        self.publish(AgentMissed(ring.call_id, ring.agent_id, outcome, status))
        if ring.reservation_id < 0:  # a transfer's ring, not the router's: back to the queue
            self._requeue(queued, queued.queue, 0.0, NOT_TAKEN)
        elif outcome in ("unreachable", "no-contact"):
            self.agent_unreachable(ring.agent_id,
                                   SILENT_RETRY if ring.silent else self.unreachable_retry)
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
        self._transferred_done(ring)
        self.publish(AgentCallEnded(ring.call_id, ring.agent_id, "agent",
                                    round(self.clock() - ring.answered_at, 3)))
        self.submit(rc.EndCall(ring.call_id))
        why = "agent hung up" if reason == v.BY_REMOTE else f"agent: {reason}"
        if queued.after_agent is not None:
            self._spawn(self._after_agent(queued, queued.after_agent, why))
        else:
            queued.call.hang_up(why)

    async def _after_agent(self, queued: Queued, after: Callable[[], bool], why: str) -> None:
        """The far side back to the engine, then whoever asked keeps the caller (a survey)."""
        call = queued.call
        try:
            async with call.media_lock:
                call.reoffer(await self.media.disconnect_far_side(call.call_id,
                                                                  call.caller_tag))
            if after():
                return
        except Exception as exc:
            log.warning("call %s: nothing after the agent: %s", call.call_id, exc)
        call.hang_up(why)

    def _transferred_done(self, ring: Ring) -> None:
        """A colleague who took a call over by transfer (no reservation: the router did not
        route it) is ready again when it ends."""
        if ring.reservation_id < 0 and self.agent_state(ring.agent_id) == "not_ready":
            self.submit(rc.AgentSetState(ring.agent_id, "ready"))

    # -- agents' reachability -----------------------------------------------------------------

    def agent_unreachable(self, agent_id: str, retry: float | None = None) -> None:
        """No phone of the agent answers: offered nothing until it registers again or
        ``retry`` (default ``unreachable_retry``) seconds pass."""
        self.submit(rc.EndpointLost(agent_id))
        previous = self._retry.pop(agent_id, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        self._retry[agent_id] = loop.call_later(
            self.unreachable_retry if retry is None else retry, self.agent_reachable, agent_id)

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
                 tier: str | None = None,
                 after_agent: Callable[[], bool] | None = None) -> None:
        self.delivery = delivery
        self.call = call
        self.queue = queue
        self.tier = tier
        self.after_agent = after_agent

    def start(self, now: float) -> None:
        self.delivery.enqueue(self.call, self.queue, self.tier, self.after_agent)

    def digit(self, digit: str, now: float) -> None:
        self.delivery.caller_key(self.call.call_id, digit)

    def stop(self) -> None:
        self.delivery.caller_left(self.call.call_id)

    def next_deadline(self) -> float | None:
        return None

    def on_timer(self, now: float) -> None:
        pass


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
