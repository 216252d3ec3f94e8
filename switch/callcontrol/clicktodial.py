"""Click to dial: an agent-first outbound call, started through the API.

The node rings the agent's phones first (as for a queue call: every registered contact and
the static one, forked); when the agent answers it hears ringback while the node dials the
customer through the trunk, from the company's number (the trunk's ``caller_id``: the
caller-ID policy). When the customer answers, agent and customer are bridged through the
media engine; either hanging up ends both. A customer who is busy or does not answer ends the
agent's call with a short notice.

Media: the engine originates the call (``EngineMedia.originate``: its own sink offers to the
agent), then the customer takes the engine's place behind that party (the same far-side swap
as call delivery uses). While it lasts the agent is ``not_ready`` (reason ``outbound``) for
the router, so no queue call is offered on top; its state before comes back after.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from routing import commands as rc

from ..sip.address import Listener, Peer
from . import vocabulary as v
from .agentdial import CallerShown, Destination, agent_invite, mask_number, via_of
from .deliverystate import LegPlacer
from .outbound import OutboundLeg

log = logging.getLogger(__name__)

RINGBACK_NOTICE = "Calling your customer."
FAILED_NOTICE = "The customer could not be reached."


class DialMedia(Protocol):
    async def originate(self, call_id: str) -> str: ...
    async def first_answered(self, call_id: str, party_tag: str, sdp: str) -> None: ...
    async def offer_far_side(self, call_id: str, caller_tag: str) -> str: ...
    async def connect_far_side(self, call_id: str, caller_tag: str, agent_sdp: str, *,
                               lost_after: float | None = None) -> str | None: ...
    async def play(self, call_id: str, caller_tag: str, path: Any, *,
                   loop: bool = False) -> float: ...
    async def stop(self, call_id: str, caller_tag: str) -> None: ...
    async def tts(self, text: str, voice: str | None = None) -> Any: ...
    async def release(self, call_id: str) -> None: ...


class Router(Protocol):
    def submit(self, command: rc.Command) -> object: ...
    def agent_state(self, agent_id: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class OutboundStarted:
    call_id: str
    agent_id: str
    number: str  # masked


@dataclass(frozen=True, slots=True)
class OutboundConnected:
    call_id: str
    agent_id: str
    setup_seconds: float


@dataclass(frozen=True, slots=True)
class OutboundEnded:
    call_id: str
    agent_id: str
    reason: str
    talk_seconds: float


class Step(Enum):
    RINGING_AGENT = "ringing agent"
    DIALING = "dialing customer"
    TALKING = "talking"
    ENDED = "ended"


@dataclass(eq=False)
class Dial:
    call_id: str
    agent_id: str
    number: str
    started_at: float
    previous_state: str
    step: Step = Step.RINGING_AGENT
    agent_legs: dict[str, OutboundLeg] = field(default_factory=dict)
    agent: OutboundLeg | None = None
    customer: OutboundLeg | None = None
    connected_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ClickToDial:
    def __init__(self, legs: LegPlacer, media: DialMedia, router: Router, *,
                 destinations: Callable[[str], list[Destination]],
                 customer_destination: Callable[[str], Destination],
                 local_for: Callable[[Peer], Listener | None], caller_id: Callable[[], str],
                 publish: Callable[[object], None], domain: str, server: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.legs = legs
        self.media = media
        self.router = router
        self.destinations = destinations
        self.customer_destination = customer_destination
        self.local_for = local_for
        self.caller_id = caller_id
        self.publish = publish
        self.domain = domain
        self.server = server
        self.clock = clock
        self.dials: dict[str, Dial] = {}
        self._by_leg: dict[str, Dial] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def dial(self, agent_id: str, number: str) -> str:
        """Start a call from ``agent_id`` to ``number``; ValueError when it cannot start."""
        state = self.router.agent_state(agent_id)
        if state is None:
            raise ValueError(f"unknown agent {agent_id!r}")
        if state not in ("ready", "not_ready"):
            raise ValueError(f"agent {agent_id} is {state}: it can dial when ready or not ready")
        self.customer_destination(number)  # raises without a trunk
        places = self.destinations(agent_id)
        if not places:
            raise ValueError(f"agent {agent_id} has no phone to ring")
        dial = Dial(f"dial-{secrets.token_hex(8)}", agent_id, number, self.clock(), state)
        self.dials[dial.call_id] = dial
        self.router.submit(rc.AgentSetState(agent_id, "not_ready", "outbound"))
        self.publish(OutboundStarted(dial.call_id, agent_id, mask_number(number)))
        self._spawn(self._ring_agent(dial, places))
        return dial.call_id

    async def _ring_agent(self, dial: Dial, places: list[Destination]) -> None:
        try:
            async with dial.lock:
                sdp = await self.media.originate(dial.call_id)
        except Exception as exc:
            log.warning("dial %s: no media: %s", dial.call_id, exc)
            self._end(dial, "media engine")
            return
        shown = CallerShown(mask_number(dial.number), "outbound call")
        for place in places:
            local = self.local_for(place.peer)
            if local is None:
                continue
            invite = agent_invite(place, agent=dial.agent_id, domain=self.domain, local=local,
                                  shown=shown, sdp=sdp, server=self.server)
            leg = self.legs.place(invite, place.peer, via=via_of(invite))
            dial.agent_legs[leg.leg_id] = leg
            self._by_leg[leg.leg_id] = dial
        if not dial.agent_legs:
            self._end(dial, "agent unreachable")
        self.legs.flush()

    async def _dial_customer(self, dial: Dial, agent: OutboundLeg) -> None:
        try:
            async with dial.lock:
                await self.media.first_answered(dial.call_id, agent.leg_id, agent.remote_sdp)
                ringback = await self.media.tts(RINGBACK_NOTICE)
                await self.media.play(dial.call_id, agent.leg_id, ringback)
                sdp = await self.media.offer_far_side(dial.call_id, agent.leg_id)
            if dial.step is not Step.DIALING:
                return
            place = self.customer_destination(dial.number)
            local = self.local_for(place.peer)
            if local is None:
                raise RuntimeError(f"no {place.peer.transport} listener for the trunk")
            invite = agent_invite(place, agent=dial.number, domain=self.domain, local=local,
                                  shown=CallerShown(self.caller_id(), ""), sdp=sdp,
                                  server=self.server)
            leg = self.legs.place(invite, place.peer, via=via_of(invite))
        except Exception as exc:
            log.warning("dial %s: customer not dialled: %s", dial.call_id, exc)
            self._end(dial, "trunk")
            return
        dial.customer = leg
        self._by_leg[leg.leg_id] = dial
        self.legs.flush()

    async def _connect(self, dial: Dial, customer: OutboundLeg) -> None:
        assert dial.agent is not None
        try:
            async with dial.lock:
                try:
                    await self.media.stop(dial.call_id, dial.agent.leg_id)
                except Exception as exc:  # the notice had ended: fine
                    log.debug("dial %s: stop notice: %s", dial.call_id, exc)
                await self.media.connect_far_side(dial.call_id, dial.agent.leg_id,
                                                  customer.remote_sdp)
        except Exception as exc:
            log.warning("dial %s: media not connected: %s", dial.call_id, exc)
            self._end(dial, "media engine")
            return
        dial.step, dial.connected_at = Step.TALKING, self.clock()
        self.publish(OutboundConnected(dial.call_id, dial.agent_id,
                                       round(dial.connected_at - dial.started_at, 3)))

    # -- legs ---------------------------------------------------------------------------------

    def on_leg_event(self, event: v.LegEvent) -> bool:
        dial = self._by_leg.get(event.leg_id)
        if dial is None:
            return False
        if isinstance(event, v.LegAnswered):
            if event.leg_id in dial.agent_legs and dial.step is Step.RINGING_AGENT:
                dial.agent = dial.agent_legs[event.leg_id]
                for other in dial.agent_legs.values():
                    if other is not dial.agent:
                        other.hangup("answered elsewhere")
                dial.step = Step.DIALING
                self._spawn(self._dial_customer(dial, dial.agent))
            elif dial.customer is not None and event.leg_id == dial.customer.leg_id \
                    and dial.step is Step.DIALING:
                self._spawn(self._connect(dial, dial.customer))
        elif isinstance(event, v.LegEnded):
            self._by_leg.pop(event.leg_id, None)
            dial.agent_legs.pop(event.leg_id, None)
            if dial.step is Step.RINGING_AGENT:
                if not dial.agent_legs:
                    self._end(dial, "agent did not answer")
            elif dial.customer is not None and event.leg_id == dial.customer.leg_id:
                if dial.step is Step.DIALING:
                    self._spawn(self._customer_failed(dial, event.status))
                else:
                    self._end(dial, "customer hung up")
            elif dial.agent is not None and event.leg_id == dial.agent.leg_id:
                self._end(dial, "agent hung up")
        self.legs.flush()
        return True

    async def _customer_failed(self, dial: Dial, status: int | None) -> None:
        """The agent hears why, then the call ends."""
        seconds = 0.0
        try:
            async with dial.lock:
                if dial.agent is not None:
                    notice = await self.media.tts(FAILED_NOTICE)
                    seconds = await self.media.play(dial.call_id, dial.agent.leg_id, notice)
        except Exception as exc:
            log.debug("dial %s: notice: %s", dial.call_id, exc)
        await asyncio.sleep(seconds)
        self._end(dial, f"customer: {status or 'no answer'}")
        self.legs.flush()

    def _end(self, dial: Dial, reason: str) -> None:
        if dial.step is Step.ENDED:
            return
        dial.step = Step.ENDED
        for leg in [*dial.agent_legs.values(), dial.customer]:
            if leg is not None:
                leg.hangup(reason)
        talk = self.clock() - dial.connected_at if dial.connected_at else 0.0
        self.publish(OutboundEnded(dial.call_id, dial.agent_id, reason, round(talk, 3)))
        self.dials.pop(dial.call_id, None)
        if self.router.agent_state(dial.agent_id) == "not_ready":
            back = "ready" if dial.previous_state == "ready" else "not_ready"
            if back == "ready":
                self.router.submit(rc.AgentSetState(dial.agent_id, "ready"))
        self._spawn(self._release(dial))

    async def _release(self, dial: Dial) -> None:
        try:
            async with dial.lock:
                await self.media.release(dial.call_id)
        except Exception as exc:
            log.debug("dial %s: release: %s", dial.call_id, exc)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
