"""The routing contract, run over both cores (``core`` fixture: reference and compiled)."""

from __future__ import annotations

from typing import Any

import pytest

from routing import (
    AgentState,
    InvalidCommand,
    InvalidTransition,
    UnknownAgent,
    UnknownCall,
    UnknownName,
    UnknownQueue,
)
from routing.commands import (
    AbandonCall,
    AcceptOffer,
    AgentLogin,
    AgentLogout,
    AgentSetState,
    EndCall,
    EndpointLost,
    EndpointRestored,
    EnqueueCall,
    FinishWrapUp,
    RejectOffer,
    ReloadConfig,
    SkillsChanged,
)
from routing.decisions import (
    AgentAutoPaused,
    CallConnected,
    CallOverflowed,
    CallQueued,
    CallRejected,
    CallTimedOut,
    CallWidened,
    OfferCall,
    OfferRevoked,
    WaitEstimateUpdated,
    WrapUpEnded,
)
from tests.routing.conftest import make_config


def offers(decisions: list[Any]) -> list[tuple[str, str]]:
    return [(d.call_id, d.agent_id) for d in decisions if isinstance(d, OfferCall)]


def queue(**fields: Any) -> dict[str, Any]:
    return {"id": "billing", "expression": "billing >= 5", "groups": ["main"], **fields}


def test_offer_goes_to_longest_idle_eligible_agent(core: Any) -> None:
    r = core(make_config())
    r.handle(AgentLogin("bob"), 0)  # billing 4: not eligible
    r.handle(AgentLogin("ann"), 1)
    r.handle(AgentLogin("cat"), 2)  # backup group: not eligible
    out = r.handle(EnqueueCall("c1", "billing"), 3)
    assert out == [OfferCall("c1", "ann", 1, 23.0, "longest_idle")]
    assert r.agent("ann").state is AgentState.RESERVED
    assert r.explain("c1").candidates[0].agent_id == "ann"


def test_call_waits_then_goes_to_the_agent_who_becomes_ready(core: Any) -> None:
    r = core(make_config())
    out = r.handle(EnqueueCall("c1", "billing"), 0)
    assert out == [CallQueued("c1", "billing", 1), WaitEstimateUpdated("c1", "billing", 180.0)]
    assert r.explain("c1").rule == "no_agent"
    out = r.handle(AgentLogin("ann"), 5)
    assert out == [OfferCall("c1", "ann", 1, 25.0, "agent_available")]


def test_accept_connect_end_and_timed_wrap_up(core: Any) -> None:
    r = core(make_config(wrap_up=10))
    r.handle(AgentLogin("ann"), 0)
    r.handle(EnqueueCall("c1", "billing"), 1)
    assert r.handle(AcceptOffer("c1", "ann"), 2) == [CallConnected("c1", "ann", "billing", 1.0)]
    assert r.agent("ann").state is AgentState.ON_CALL
    assert r.handle(EndCall("c1"), 32) == []
    assert r.agent("ann").state is AgentState.WRAP_UP
    assert r.next_deadline() == 42.0
    assert r.tick(41) == []
    assert r.tick(42) == [WrapUpEnded("ann", "ready")]
    view = r.agent("ann")
    assert (view.calls_today, view.talk_time) == (1, 30.0)


def test_rejected_offer_goes_at_once_to_the_next_candidate(core: Any) -> None:
    cfg = make_config(queues=[queue(expression="billing")])
    r = core(cfg)
    r.handle(AgentLogin("ann"), 0)
    r.handle(AgentLogin("bob"), 1)
    assert offers(r.handle(EnqueueCall("c1", "billing"), 2)) == [("c1", "ann")]
    out = r.handle(RejectOffer("c1", "ann"), 3)
    assert offers(out) == [("c1", "bob")]
    assert r.agent("ann").state is AgentState.READY  # excluded from c1, still ready


def test_expired_offer_is_revoked_and_reoffered(core: Any) -> None:
    r = core(make_config(queues=[queue(expression="billing")]))
    r.handle(AgentLogin("ann"), 0)
    r.handle(AgentLogin("bob"), 1)
    r.handle(EnqueueCall("c1", "billing"), 2)
    assert r.next_deadline() == 22.0
    out = r.tick(22)
    assert out[0] == OfferRevoked("c1", "ann", 1, "expired")
    assert offers(out) == [("c1", "bob")]


def test_missed_offers_auto_pause_the_agent(core: Any) -> None:
    r = core(make_config(max_missed_offers=2))
    r.handle(AgentLogin("ann"), 0)
    r.handle(EnqueueCall("c1", "billing"), 1)
    r.handle(RejectOffer("c1", "ann"), 2)
    r.handle(EnqueueCall("c2", "billing"), 3)
    out = r.handle(RejectOffer("c2", "ann"), 4)
    assert AgentAutoPaused("ann", "missed_offers", 2) in out
    view = r.agent("ann")
    assert (view.state, view.reason) == (AgentState.NOT_READY, "missed_offers")


def test_ring_all_first_accept_wins_others_revoked(core: Any) -> None:
    r = core(make_config(queues=[queue(expression="billing", strategy="ring_all")]))
    r.handle(AgentLogin("ann"), 0)
    r.handle(AgentLogin("bob"), 0)
    assert sorted(offers(r.handle(EnqueueCall("c1", "billing"), 1))) == [
        ("c1", "ann"), ("c1", "bob")]
    out = r.handle(AcceptOffer("c1", "bob"), 2)
    assert out == [CallConnected("c1", "bob", "billing", 1.0),
                   OfferRevoked("c1", "ann", 1, "answered_elsewhere")]


def test_widening_relaxes_level_then_adds_backup_then_overflows(core: Any) -> None:
    steps = [{"after": 10, "relax": 1}, {"after": 20, "add_group": "backup"},
             {"after": 30, "overflow_to": "callback"}]
    r = core(make_config(queues=[queue(expression="billing >= 8", widening=steps)]))
    r.handle(AgentLogin("cat"), 0)  # backup group, billing 9
    r.handle(AgentLogin("ann"), 0)  # main, billing 7
    r.handle(AgentSetState("ann", "not_ready", "lunch"), 0)
    r.handle(EnqueueCall("c1", "billing"), 1)
    assert r.tick(11) == [CallWidened("c1", "billing", 1)]  # ann fits but is at lunch
    out = r.tick(21)
    assert out[0] == CallWidened("c1", "billing", 2) and offers(out) == [("c1", "cat")]
    r.handle(RejectOffer("c1", "cat"), 22)
    assert r.tick(31) == [CallOverflowed("c1", "billing", "callback", "widening")]
    assert r.call("c1") is None


def test_vip_tier_jumps_the_queue_and_needs_a_senior(core: Any) -> None:
    r = core(make_config(queues=[queue(expression="billing")]))
    r.handle(EnqueueCall("c1", "billing"), 0)
    r.handle(EnqueueCall("v1", "billing", tier="vip"), 1)
    assert offers(r.handle(AgentLogin("bob"), 2)) == [("c1", "bob")]  # junior: not for vip
    assert offers(r.handle(AgentLogin("ann"), 3)) == [("v1", "ann")]


def test_priority_then_fifo_across_calls(core: Any) -> None:
    r = core(make_config(queues=[queue(expression="billing")]))
    for i in range(3):
        r.handle(EnqueueCall(f"c{i}", "billing", tier="vip" if i == 2 else None), i)
    r.handle(AgentLogin("ann"), 5)
    assert r.call("c2").agents == ("ann",)  # vip first
    r.handle(AgentLogin("bob"), 6)
    assert r.call("c0").agents == ("bob",)  # then the oldest


def test_a_call_back_from_a_lost_agent_goes_first_with_its_wait(core: Any) -> None:
    steps = [{"after": 10, "add_group": "backup"}]
    r = core(make_config(queues=[queue(expression="billing", widening=steps)]))
    r.handle(EnqueueCall("c1", "billing"), 0)
    r.handle(EnqueueCall("c2", "billing"), 1)
    # c9 lost its agent after 12 s in the queue: it waits again, ahead of c1 and c2, and its
    # wait already reaches the backup step.
    out = r.handle(EnqueueCall("c9", "billing", waited=12.0, ahead=True), 20)
    assert r.call("c9").enqueued_at == 8.0
    assert r.next_deadline() <= 20.0  # the backup step is due at once (c1's and c2's too)
    assert CallWidened("c9", "billing", 1) in r.tick(20) + out
    assert offers(r.handle(AgentLogin("cat"), 21)) == [("c9", "cat")]  # backup, first
    connected = r.handle(AcceptOffer("c9", "cat"), 22)
    assert [d.waited for d in connected if isinstance(d, CallConnected)] == [14.0]
    r.handle(EnqueueCall("c8", "billing", waited=1.0, ahead=True), 23)
    assert offers(r.handle(AgentLogin("ann"), 24)) == [("c8", "ann")]  # ahead beats c1


def test_sticky_routing_prefers_last_agent_within_window(core: Any) -> None:
    r = core(make_config(queues=[queue(expression="billing")], sticky_window=100))
    r.handle(AgentLogin("ann"), 0)
    r.handle(EnqueueCall("c1", "billing", caller_id="+1"), 1)
    r.handle(AcceptOffer("c1", "ann"), 2)
    r.handle(AgentLogin("bob"), 3)
    r.handle(EndCall("c1"), 4)
    # bob has been idle longer than ann now? ann became free at 4, bob at 3: bob would win.
    out = r.handle(EnqueueCall("c2", "billing", caller_id="+1"), 5)
    assert out == [OfferCall("c2", "ann", 2, 25.0, "sticky")]
    r.handle(RejectOffer("c2", "ann"), 6)
    r.handle(EnqueueCall("c3", "billing", caller_id="+1"), 200)  # window over
    assert r.explain("c3").rule == "longest_idle"


def test_practice_share_sends_simple_calls_to_trainees(core: Any) -> None:
    agents = [{"id": "t", "skills": {"billing": 5}, "trainee": True, "group": "main"},
              {"id": "p", "skills": {"billing": 5}, "group": "main"}]
    r = core(make_config(agents=agents, queues=[queue(practice_share=0.5)]))
    r.handle(AgentLogin("p"), 0)
    r.handle(AgentLogin("t"), 1)
    rules = []
    for i in range(4):
        r.handle(EnqueueCall(f"c{i}", "billing", simple=True), 2 + i)
        rules.append(r.explain(f"c{i}").rule)
        r.handle(AbandonCall(f"c{i}"), 2.5 + i)
    assert rules == ["longest_idle", "practice", "longest_idle", "practice"]


def test_queue_full_rejects_or_overflows(core: Any) -> None:
    qs = [queue(max_size=1, overflow_to="spill"), {"id": "spill", "expression": "sales",
                                                   "max_size": 0}]
    r = core(make_config(queues=qs))
    r.handle(EnqueueCall("c1", "billing"), 0)
    out = r.handle(EnqueueCall("c2", "billing"), 1)
    assert out == [CallOverflowed("c2", "billing", "spill", "queue_full"),
                   CallRejected("c2", "spill", "queue_full")]


def test_max_wait_times_out(core: Any) -> None:
    r = core(make_config(queues=[queue(max_wait=30)]))
    r.handle(EnqueueCall("c1", "billing"), 0)
    assert r.tick(30) == [CallTimedOut("c1", "billing")]


def test_capacity_two_takes_two_calls(core: Any) -> None:
    agents = [{"id": "ann", "skills": {"billing": 5}, "capacity": 2, "group": "main"}]
    r = core(make_config(agents=agents))
    r.handle(AgentLogin("ann"), 0)
    assert offers(r.handle(EnqueueCall("c1", "billing"), 1)) == [("c1", "ann")]
    assert offers(r.handle(EnqueueCall("c2", "billing"), 2)) == [("c2", "ann")]
    assert offers(r.handle(EnqueueCall("c3", "billing"), 3)) == []
    assert r.agent("ann").reservations == 2


def test_endpoint_lost_revokes_and_restored_returns(core: Any) -> None:
    r = core(make_config())
    r.handle(AgentLogin("ann"), 0)
    r.handle(EnqueueCall("c1", "billing"), 1)
    out = r.handle(EndpointLost("ann"), 2)
    assert out[0] == OfferRevoked("c1", "ann", 1, "agent_unreachable")
    assert r.agent("ann").state is AgentState.UNREACHABLE
    assert offers(r.handle(EndpointRestored("ann"), 3)) == [("c1", "ann")]


def test_skills_change_makes_agent_eligible(core: Any) -> None:
    r = core(make_config())
    r.handle(AgentLogin("bob"), 0)
    r.handle(EnqueueCall("c1", "billing"), 1)
    assert offers(r.handle(SkillsChanged("bob", (("billing", 6),)), 2)) == [("c1", "bob")]


def test_reload_keeps_state_and_routes(core: Any) -> None:
    r = core(make_config())
    r.handle(AgentLogin("bob"), 0)
    r.handle(EnqueueCall("c1", "billing"), 1)
    out = r.handle(ReloadConfig(make_config(queues=[queue(expression="billing >= 3")])), 2)
    assert offers(out) == [("c1", "bob")]


IMPOSSIBLE = [
    (AgentLogin("nobody"), UnknownAgent),
    (AgentLogout("ann"), InvalidTransition),
    (AgentSetState("ann", "ready"), InvalidTransition),
    (AgentSetState("ann", "sleepy"), InvalidCommand),  # type: ignore[arg-type]
    (EndpointRestored("ann"), InvalidTransition),
    (SkillsChanged("ann", (("piano", 3),)), UnknownName),
    (SkillsChanged("ann", (("billing", 11),)), InvalidCommand),
    (EnqueueCall("c9", "nowhere"), UnknownQueue),
    (EnqueueCall("c9", "billing", tier="platinum"), UnknownName),
    (EnqueueCall("c9", "billing", waited=-1.0), InvalidCommand),
    (EnqueueCall("c9", "billing", waited=float("nan")), InvalidCommand),
    (AcceptOffer("c9", "ann"), UnknownCall),
    (EndCall("c9"), UnknownCall),
    (FinishWrapUp("ann"), InvalidTransition),
    (ReloadConfig(make_config(queues=[])), InvalidTransition),
]


@pytest.mark.parametrize(("command", "error"), IMPOSSIBLE, ids=lambda x: type(x).__name__)
def test_impossible_commands_raise_and_change_nothing(core: Any, command: Any,
                                                      error: type) -> None:
    r = core(make_config())
    r.handle(EnqueueCall("c1", "billing"), 0)
    before = (r.call("c1"), [r.agent(a) for a in r.agent_ids()], r.next_deadline())
    with pytest.raises(error) as info:
        r.handle(command, 1)
    assert str(info.value)
    assert (r.call("c1"), [r.agent(a) for a in r.agent_ids()], r.next_deadline()) == before


def test_login_twice_and_accept_missing_offer(core: Any) -> None:
    r = core(make_config())
    r.handle(AgentLogin("ann"), 0)
    with pytest.raises(InvalidTransition, match="already logged in"):
        r.handle(AgentLogin("ann"), 1)
    r.handle(EnqueueCall("c1", "billing"), 2)
    with pytest.raises(InvalidTransition, match="no live offer"):
        r.handle(AcceptOffer("c1", "bob"), 3)
    r.handle(AcceptOffer("c1", "ann"), 4)
    with pytest.raises(InvalidTransition, match="end the call"):
        r.handle(AgentLogout("ann"), 5)
    with pytest.raises(InvalidTransition, match="send EndCall"):
        r.handle(AbandonCall("c1"), 6)
