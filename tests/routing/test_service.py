"""The router on a real asyncio loop: decisions dispatched in order, the reservation timer
fires through tick, commands from inside the dispatcher run after the batch, errors reach
the caller and change nothing; both cores."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from routing.commands import AcceptOffer, AgentLogin, EndCall, EnqueueCall
from routing.decisions import CallConnected, CallQueued, Decision, OfferCall, OfferRevoked
from routing.model import RoutingError
from routing.service import RouterService

CONFIG: dict[str, Any] = {
    "skills": ["support"],
    "agents": [{"id": "a1", "skills": {"support": 5}}, {"id": "a2", "skills": {"support": 3}}],
    "queues": [{"id": "q", "expression": "support >= 1", "strategy": "best_skill_match"}],
    "offer_timeout": 0.15,
    "max_missed_offers": 0,
}


def cores() -> list[Any]:
    from routing._select import CompiledRouter, ReferenceRouter

    return [ReferenceRouter] + ([CompiledRouter] if CompiledRouter is not None else [])


@pytest.mark.parametrize("core", cores(), ids=lambda c: c.__name__)
def test_offer_expires_on_the_loop_and_goes_to_the_next_agent(core: Any) -> None:
    seen: list[Decision] = []

    async def scenario() -> None:
        service = RouterService(CONFIG, seen.extend, core=core)
        service.submit(AgentLogin("a1"))
        service.submit(AgentLogin("a2"))
        [offer] = [d for d in service.submit(EnqueueCall("c1", "q")) if isinstance(d, OfferCall)]
        assert offer.agent_id == "a1"  # the best match first
        for _ in range(50):  # bounded: the 0.15 s reservation lapses on the loop's timer
            await asyncio.sleep(0.02)
            if any(isinstance(d, OfferRevoked) for d in seen):
                break
        service.close()

    asyncio.run(scenario())
    revoked = [d for d in seen if isinstance(d, OfferRevoked)]
    assert revoked and revoked[0].agent_id == "a1" and revoked[0].reason == "expired"
    again = [d for d in seen if isinstance(d, OfferCall)]
    assert [o.agent_id for o in again][:2] == ["a1", "a2"]


@pytest.mark.parametrize("core", cores(), ids=lambda c: c.__name__)
def test_commands_from_the_dispatcher_run_after_the_batch(core: Any) -> None:
    batches: list[list[Decision]] = []

    async def scenario() -> None:
        service: RouterService

        def dispatch(decisions: list[Decision]) -> None:
            batches.append(decisions)
            for d in decisions:
                if isinstance(d, OfferCall):  # the agent answers at once
                    assert service.submit(AcceptOffer(d.call_id, d.agent_id)) == []

        service = RouterService(CONFIG, dispatch, core=core)
        service.submit(AgentLogin("a1"))
        service.submit(EnqueueCall("c1", "q"))
        assert service.call("c1") is not None and service.commands == 3
        service.submit(EndCall("c1"))
        service.close()

    asyncio.run(scenario())
    kinds = [type(d) for batch in batches for d in batch]
    assert kinds.index(OfferCall) < kinds.index(CallConnected)


@pytest.mark.parametrize("core", cores(), ids=lambda c: c.__name__)
def test_a_refused_command_raises_to_the_caller_and_changes_nothing(core: Any) -> None:
    seen: list[Decision] = []

    async def scenario() -> None:
        service = RouterService(CONFIG, seen.extend, core=core)
        with pytest.raises(RoutingError):
            service.submit(EnqueueCall("c1", "no-such-queue"))
        assert service.call("c1") is None
        service.submit(EnqueueCall("c1", "q"))  # nobody logged in: it waits
        assert service.queue_length("q") == 1
        service.close()
        with pytest.raises(RuntimeError):
            service.submit(EnqueueCall("c2", "q"))

    asyncio.run(scenario())
    assert any(isinstance(d, CallQueued) for d in seen)


def test_a_failing_dispatcher_never_stops_the_router() -> None:
    def broken(decisions: list[Decision]) -> None:
        raise ValueError("dispatcher bug")

    async def scenario() -> None:
        service = RouterService(CONFIG, broken)
        service.submit(AgentLogin("a1"))
        service.submit(EnqueueCall("c1", "q"))
        assert service.call("c1") is not None
        service.close()

    asyncio.run(scenario())
