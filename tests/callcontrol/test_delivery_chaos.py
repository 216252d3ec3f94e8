"""Random failures through call delivery: no reservation, agent or caller is ever left stuck.

The real router (both cores) and the real delivery edge, on a real event loop, with the
phones and the media engine replaced by small fakes that do what the driver says: ring,
answer, refuse busy, fail unreachable, hang up, go silent mid-call. Callers arrive and give up
at random; time jumps (offers expire, wrap-ups end). After every step the router and the
delivery edge must agree (an offer is a ring, a connected call has its agent's leg), and at
the end, when every caller is gone, no agent may be reserved or on a call and nothing may be
left in either table.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from routing.commands import AgentLogin
from routing.compiled import CompiledRouter
from routing.reference import ReferenceRouter
from switch.callcontrol import vocabulary as v
from switch.callcontrol.agentdial import Destination
from switch.callcontrol.delivery import Delivery, QueueSession
from switch.callcontrol.deliverystate import RingStage, Stage
from switch.callcontrol.outbound import OutState
from switch.sip.address import Listener, Peer

AGENTS = [f"a{n}" for n in range(5)]
ROUTING = {
    "skills": ["support"],
    "agents": [{"id": agent, "skills": {"support": 5}} for agent in AGENTS],
    "queues": [{"id": "support", "expression": "support >= 1", "offer_timeout": 5,
                "wrap_up": 3}],
    "max_missed_offers": 0,
}
SDP = "v=0\r\nm=audio 4000 RTP/AVP 0\r\n"


class FakeLeg:
    """An agent's phone as the delivery edge sees it (an OutboundLeg)."""

    def __init__(self, phones: Phones, leg_id: str) -> None:
        self.phones = phones
        self.leg_id = leg_id
        self.state = OutState.CALLING
        self.remote_sdp = ""

    def hangup(self, reason: str = v.BY_LOCAL) -> None:
        if self.state is OutState.ENDED:
            return
        answered = self.state is OutState.CONFIRMED
        self.state = OutState.ENDED
        self.phones.emit(v.LegEnded(self.leg_id, reason, None if answered else 487))

    def give_up(self) -> None:
        if self.state is OutState.CALLING:
            self.state = OutState.ENDED
            self.phones.emit(v.LegEnded(self.leg_id, v.TRANSPORT, None))


class Phones:
    """The LegPlacer: places fake legs; the driver decides what each phone does."""

    def __init__(self) -> None:
        self.legs: dict[str, FakeLeg] = {}
        self.pending: list[v.LegEvent] = []
        self.delivery: Delivery | None = None
        self.count = 0

    def place(self, invite: Any, peer: Peer, *, via: str) -> FakeLeg:
        self.count += 1
        leg = FakeLeg(self, f"leg{self.count}")
        self.legs[leg.leg_id] = leg
        return leg

    def emit(self, event: v.LegEvent) -> None:
        self.pending.append(event)

    def flush(self) -> None:
        while self.pending and self.delivery is not None:
            self.delivery.on_leg_event(self.pending.pop(0))

    def live(self, *states: OutState) -> list[FakeLeg]:
        return [leg for leg in self.legs.values() if leg.state in states]


class FakeMedia:
    async def offer_far_side(self, call_id: str, caller_tag: str) -> str:
        return SDP

    async def connect_far_side(self, call_id: str, caller_tag: str, agent_sdp: str, *,
                               lost_after: float | None = None) -> str | None:
        return None

    async def disconnect_far_side(self, call_id: str, caller_tag: str) -> str | None:
        return None

    async def play(self, call_id: str, caller_tag: str, path: Any, *,
                   loop: bool = False) -> float:
        return 0.0

    async def play_far_side(self, call_id: str, path: Any, *, loop: bool = False) -> float:
        return 0.0

    async def stop(self, call_id: str, caller_tag: str) -> None:
        pass

    async def stop_far_side(self, call_id: str) -> None:
        pass

    async def tts(self, text: str, voice: str | None = None) -> Any:
        return "prompt.wav"


class FakeCall:
    """The caller's call: hanging up stops its queue session, as call control does."""

    def __init__(self, call_id: str, calls: dict[str, tuple[FakeCall, QueueSession]]) -> None:
        self.call_id = call_id
        self.caller = "+15550000"
        self.caller_tag = f"tag-{call_id}"
        self.media_lock = asyncio.Lock()
        self.calls = calls
        self.ended = False

    def hang_up(self, reason: str) -> None:
        if not self.ended:
            self.ended = True
            _, session = self.calls.pop(self.call_id)
            session.stop()

    def reoffer(self, sdp: str | None) -> None:
        pass


def check_agreement(delivery: Delivery) -> None:
    """Router and delivery edge tell the same story."""
    router = delivery.router
    for agent_id in AGENTS:
        view = router.agent(agent_id)
        assert view.calls + view.reservations <= 1, view
    for call_id, queued in delivery.calls.items():
        view = router.call(call_id)
        if queued.stage is Stage.CONNECTED:
            assert view is not None and view.state == "connected", (call_id, view)
            assert queued.agent is not None and view.agents == (queued.agent.agent_id,)
        elif view is not None and view.state == "offered":
            rings = [r.agent_id for r in queued.rings.values()
                     if r.stage not in (RingStage.ENDED,) and not r.revoked]
            assert set(view.agents) <= set(rings), (call_id, view, queued.rings)
    for call_id in [c for c in delivery.calls if delivery.calls[c].stage is Stage.WAITING]:
        view = router.call(call_id)
        assert view is None or view.state != "connected", view


async def chaos(seed: int, core: type) -> None:
    rng = random.Random(seed)
    now = [0.0]
    phones = Phones()
    delivery = Delivery(
        ROUTING, phones, FakeMedia(),
        destinations=lambda agent: [Destination(f"sip:{agent}@192.0.2.1",
                                                Peer("udp", "192.0.2.1", 5060), "static")],
        local_for=lambda peer: Listener("udp", "127.0.0.1", 5060),
        publish=lambda event: None, domain="example.com", server="test",
        hold_music="music.wav", unreachable_retry=1e6, clock=lambda: now[0])
    delivery.router.core = core(ROUTING, seed=seed)
    phones.delivery = delivery
    for agent in AGENTS:
        delivery.submit(AgentLogin(agent, ready=True))
    calls: dict[str, tuple[FakeCall, QueueSession]] = {}

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0)
        phones.flush()

    for step in range(250):
        action = rng.random()
        if action < 0.2:  # a caller arrives
            call = FakeCall(f"c{step}", calls)
            session = QueueSession(delivery, call, "support")
            calls[call.call_id] = (call, session)
            session.start(now[0])
        elif action < 0.5 and phones.live(OutState.CALLING):  # a ringing phone decides
            leg = rng.choice(phones.live(OutState.CALLING))
            fate = rng.choice(["answer", "answer", "busy", "unreachable", "silent", "ring"])
            if fate == "answer":
                leg.state, leg.remote_sdp = OutState.CONFIRMED, SDP
                phones.emit(v.LegAnswered(leg.leg_id))
            elif fate in ("busy", "unreachable"):
                leg.state = OutState.ENDED
                phones.emit(v.LegEnded(leg.leg_id, v.REJECTED, 486 if fate == "busy" else 408))
            elif fate == "silent":
                leg.give_up()
            else:
                phones.emit(v.LegRinging(leg.leg_id, 180))
        elif action < 0.6 and calls:  # a caller gives up or hangs up
            call, _ = calls[rng.choice(sorted(calls))]
            call.hang_up("caller hung up")
        elif action < 0.7 and phones.live(OutState.CONFIRMED):  # an agent hangs up
            leg = rng.choice(phones.live(OutState.CONFIRMED))
            leg.state = OutState.ENDED
            phones.emit(v.LegEnded(leg.leg_id, v.BY_REMOTE, None))
        elif action < 0.75:  # an agent's network drops mid-call
            connected = [c for c, q in delivery.calls.items() if q.stage is Stage.CONNECTED]
            if connected:
                delivery.agent_lost(rng.choice(connected), "media lost")
        elif action < 0.8:  # an agent's phone goes away, or comes back
            agent = rng.choice(AGENTS)
            if rng.random() < 0.5:
                delivery.agent_unreachable(agent)
            else:
                delivery.agent_reachable(agent)
        else:  # time passes: offers lapse, wrap-ups end
            now[0] += rng.choice([0.5, 2.0, 6.0])
            delivery.router._on_timer()
        await settle()
        check_agreement(delivery)

    # Everybody leaves; phones come back; time passes.
    for call_id in sorted(calls):
        calls[call_id][0].hang_up("end of test")
    await settle()
    for agent in AGENTS:
        delivery.agent_reachable(agent)
    now[0] += 1000.0
    delivery.router._on_timer()
    await settle()
    check_agreement(delivery)
    assert not delivery.calls, delivery.calls
    assert not [leg for leg in phones.legs.values()
                if leg.state not in (OutState.ENDED,)], "a phone still rings or talks"
    for agent in AGENTS:
        view = delivery.router.agent(agent)
        assert view.calls == 0 and view.reservations == 0, view
        assert str(view.state) in ("ready", "not_ready"), view
    assert all(delivery.router.call(f"c{n}") is None for n in range(250))
    delivery.close()


@pytest.mark.parametrize("core", [ReferenceRouter, CompiledRouter], ids=["reference", "compiled"])
@pytest.mark.parametrize("seed", range(12))
def test_random_failures_leave_nothing_stuck(seed: int, core: type) -> None:
    asyncio.run(asyncio.wait_for(chaos(seed, core), 30))
