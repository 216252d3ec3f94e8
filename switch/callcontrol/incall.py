"""What can happen to a call once an agent answered it (a part of :class:`Delivery`):

- **hold and resume**: the agent's phone re-offers ``sendonly``/``inactive`` and back; it is
  answered in kind (``mirrored``) and the caller hears music on hold meanwhile;
- **failover**: the agent's media stops (its network dropped): the agent is released and
  unreachable, the caller hears a notice and music and waits again first in line, with its
  wait, for the next or a backup agent;
- **blind transfer** (REFER, RFC 3515) to a queue's number: the agent is released to wrap-up
  and the caller waits first in that queue; other targets are refused in the NOTIFY.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote

from routing import commands as rc
from routing import decisions as rd

from . import vocabulary as v
from .agentdial import Destination
from .deliverystate import (
    AgentHeld,
    AgentLost,
    CallTransferred,
    LegPlacer,
    Queued,
    Ring,
    RingStage,
    Stage,
    TransferFailed,
)
from .outbound import OutboundLeg

log = logging.getLogger(__name__)

TRANSFERRING = "Please hold while we transfer your call."
NOT_TAKEN = "We are sorry, the transfer could not be completed. Please hold for the next agent."
TRANSFER_RING = 30.0  # seconds a transfer's target may ring before the caller comes back
RECONNECTING = "We are sorry, your agent was disconnected. Please hold for the next agent."


class InCallMixin:
    if TYPE_CHECKING:  # provided by Delivery
        from .deliverystate import AgentMedia

        calls: dict[str, Queued]
        legs: LegPlacer
        media: AgentMedia
        hold_music: object
        publish: Callable[[object], None]
        clock: Callable[[], float]
        resolve_transfer: Callable[[str], tuple[str, str] | None]
        consults: Callable[[str], tuple[str, str, OutboundLeg] | None]
        end_consult: Callable[[str], None]
        agent_lost_after: float | None
        _by_leg: dict[str, Ring]
        _direct: int
        destinations: Callable[[str], list[Destination]]
        mobile_destination: Callable[[str], Destination]

        def submit(self, command: rc.Command) -> list[rd.Decision]: ...
        def agent_unreachable(self, agent_id: str) -> None: ...
        def _spawn(self, work: Awaitable[None]) -> None: ...
        async def _music(self, queued: Queued) -> None: ...
        async def _ring(self, queued: Queued, ring: Ring,
                        places: list[Destination]) -> None: ...
        def _cancel(self, ring: Ring) -> None: ...

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
        if ring.held:
            return  # a phone that holds may send nothing (inactive): not a lost network
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
        """The agent transfers its caller (REFER): blind to a queue's number, the caller
        waits there first in line; attended (``Replaces``: the agent's own consult call to
        another agent), the other agent takes the caller over; anything else is refused in
        the NOTIFY and the call goes on."""
        queued = self.calls.get(ring.call_id)
        if queued is None or queued.agent is not ring:
            leg.notify_refer(481, "Call Does Not Exist")
            return
        replaces = _replaces(refer_to)
        if replaces is not None:
            self._attended(queued, ring, leg, refer_to, replaces)
            return
        target = self.resolve_transfer(refer_to)
        if target is None:
            leg.notify_refer(404, "Not Found")
            self.publish(TransferFailed(ring.call_id, ring.agent_id, refer_to, "unknown target"))
            return
        kind, name = target
        if kind not in ("queue", "agent", "number"):
            leg.notify_refer(488, "Not Acceptable Here")
            self.publish(TransferFailed(ring.call_id, ring.agent_id, refer_to,
                                        f"transfers to {kind} are not supported"))
            return
        try:
            places = self._transfer_places(kind, name)
        except ValueError as exc:
            leg.notify_refer(480, "Temporarily Unavailable")
            self.publish(TransferFailed(ring.call_id, ring.agent_id, refer_to, str(exc)))
            return
        leg.notify_refer(200, "OK")  # before the BYE that releases the agent
        self._transfer(queued, kind, name, places)

    def transfer(self, call_id: str, kind: str, name: str) -> dict[str, str]:
        """Blind transfer of a connected call (REFER, or the API): to a queue (the caller
        waits there first), an agent (its phones ring) or a number (through the trunk). A
        ring that is not answered within ``TRANSFER_RING`` seconds, or refused, brings the
        caller back to its queue. ValueError when the call cannot be transferred."""
        queued = self.calls.get(call_id)
        if queued is None or queued.stage is not Stage.CONNECTED or queued.agent is None:
            raise ValueError(f"call {call_id} is not connected to an agent")
        self._transfer(queued, kind, name, self._transfer_places(kind, name))
        return {"call": call_id, "target": f"{kind}:{name}"}

    def _transfer_places(self, kind: str, name: str) -> list[Destination]:
        """Where a transfer's target is rung (none for a queue); ValueError if nowhere."""
        if kind == "agent":
            places = self.destinations(name)
            if not places:
                raise ValueError(f"agent {name} has no phone to ring")
            return places
        if kind == "number":
            return [self.mobile_destination(name)]  # ValueError without a trunk
        if kind == "queue":
            return []
        raise ValueError(f"cannot transfer to {kind}")

    def _transfer(self, queued: Queued, kind: str, name: str,
                  places: list[Destination]) -> None:
        call_id = queued.call.call_id
        assert queued.agent is not None
        self.publish(CallTransferred(call_id, queued.agent.agent_id, f"{kind}:{name}"))
        self._release_agent(queued, "transferred")
        if kind == "queue":
            self._requeue(queued, name, 0.0, TRANSFERRING)
        else:
            self._direct_ring(queued, name if kind == "agent" else f"number:{name}", places)

    def _direct_ring(self, queued: Queued, who: str, places: list[Destination]) -> None:
        """Ring ``who``'s phones for a transfer: no router reservation (a negative id), the
        caller on music meanwhile, and a timeout of its own."""
        self._direct += 1
        ring = Ring(queued.call.call_id, who, -self._direct, self.clock())
        queued.rings[ring.reservation_id] = ring
        self._spawn(self._back_to_queue(queued, TRANSFERRING))
        self._spawn(self._ring(queued, ring, places))
        asyncio.get_running_loop().call_later(TRANSFER_RING, self._transfer_timeout, ring)

    def _transfer_timeout(self, ring: Ring) -> None:
        if ring.stage in (RingStage.PREPARING, RingStage.RINGING):
            self._cancel(ring)
            self.legs.flush()

    def _attended(self, queued: Queued, ring: Ring, leg: OutboundLeg, refer_to: str,
                  replaces: str) -> None:
        """RFC 3891: the agent consulted a colleague in a call of its own and now hands its
        caller over. The colleague's phone leaves the consult call and joins this one (a
        re-INVITE toward this call's media); the referring agent's two calls end."""
        consult = self.consults(replaces)
        if consult is None:
            leg.notify_refer(481, "Call/Transaction Does Not Exist")
            self.publish(TransferFailed(ring.call_id, ring.agent_id, refer_to,
                                        "no such consult call"))
            return
        consult_id, colleague, colleague_leg = consult
        leg.notify_refer(200, "OK")
        self.publish(CallTransferred(ring.call_id, ring.agent_id, f"agent:{colleague}"))
        self._release_agent(queued, "transferred")
        self.end_consult(consult_id)  # BYE to the referring agent's consult leg
        now = self.clock()
        taken = Ring(queued.call.call_id, colleague, -1, now, stage=RingStage.ANSWERED,
                     answered=colleague_leg, answered_at=now)
        taken.legs[colleague_leg.leg_id] = colleague_leg
        self._by_leg[colleague_leg.leg_id] = taken
        queued.stage, queued.agent = Stage.CONNECTED, taken
        # The router did not route this one: keep queue calls off the colleague meanwhile.
        self.submit(rc.AgentSetState(colleague, "not_ready", "transfer"))
        self._spawn(self._move_to(queued, taken, colleague_leg))
        self.legs.flush()

    async def _move_to(self, queued: Queued, ring: Ring, leg: OutboundLeg) -> None:
        """Offer the colleague's phone this call's far side; ``_reoffered`` completes it."""
        call = queued.call
        try:
            async with call.media_lock:
                call.reoffer(await self.media.disconnect_far_side(call.call_id,
                                                                  call.caller_tag))
                leg.reoffer(await self.media.offer_far_side(call.call_id, call.caller_tag))
            self.legs.flush()
        except Exception as exc:
            log.warning("call %s: transfer media not moved: %s", call.call_id, exc)
            leg.hangup("transfer failed")
            self.legs.flush()

    def _reoffered(self, ring: Ring, event: v.LegReoffered) -> None:
        queued = self.calls.get(ring.call_id)
        if queued is None or queued.agent is not ring or ring.answered is None:
            return
        if not 200 <= event.status < 300 or not event.sdp:
            ring.answered.hangup("transfer refused")  # the caller is released with it
            return
        self._spawn(self._connect_moved(queued, event.sdp))

    async def _connect_moved(self, queued: Queued, sdp: str) -> None:
        call = queued.call
        try:
            async with call.media_lock:
                call.reoffer(await self.media.connect_far_side(
                    call.call_id, call.caller_tag, sdp, lost_after=self.agent_lost_after))
        except Exception as exc:
            log.warning("call %s: transferred media not connected: %s", call.call_id, exc)

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



_DIRECTION = re.compile(r"(?m)^a=(sendrecv|sendonly|recvonly|inactive)\r?$")
_MIRROR = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}
_VERSION = re.compile(r"(?m)^(o=\S+ \S+ )\d+( )")


def _replaces(refer_to: str) -> str | None:
    """The Replaces header of a Refer-To URI (``<sip:b@x?Replaces=id%3Bto-tag%3D1...>``),
    unescaped: ``id;to-tag=1;from-tag=2``; None for a blind transfer."""
    text = refer_to.strip().strip("<>")
    _, _, headers = text.partition("?")
    for header in headers.split("&"):
        name, _, value = header.partition("=")
        if name.strip().lower() == "replaces" and value:
            return unquote(value)
    return None


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
