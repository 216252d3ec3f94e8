"""Mobile login (a part of :class:`Delivery`): an agent takes its calls on a phone number
through the carrier trunk. Offers go to the number; when it answers, the agent hears "press 1
to accept" (the caller keeps its music) and the call is connected only on 1, so a voicemail
that picks up is never taken for the agent: it loses the offer when the reservation lapses.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from routing import commands as rc
from routing import decisions as rd

from .agentdial import Destination
from .deliverystate import AgentMobile, LegPlacer, Queued, Ring, RingStage
from .outbound import OutboundLeg

log = logging.getLogger(__name__)

WHISPER = "A call from the queue. Press 1 to accept."
MOBILE_NUMBER = re.compile(r"^\+?[0-9]{7,15}$")


class MobileMixin:
    if TYPE_CHECKING:  # provided by Delivery
        from routing.service import RouterService

        from .deliverystate import AgentMedia

        calls: dict[str, Queued]
        legs: LegPlacer
        media: AgentMedia
        router: RouterService
        mobile: dict[str, str]
        mobile_destination: Callable[[str], Destination]
        destinations: Callable[[str], list[Destination]]
        publish: Callable[[object], None]
        clock: Callable[[], float]

        def submit(self, command: rc.Command) -> list[rd.Decision]: ...
        def agent_state(self, agent_id: str) -> str | None: ...
        def agent_reachable(self, agent_id: str) -> None: ...
        def _answered(self, queued: Queued, ring: Ring, leg: OutboundLeg) -> None: ...
        def _spawn(self, work: Awaitable[None]) -> None: ...

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
