"""Hypothesis: random command sequences give identical decisions from both cores, and the
routing invariants hold after every step (capacity, one live offer unless ring-all, no idle
eligible agent while a call waits, FIFO within equal priority)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing import CompiledRouter, ReferenceRouter, RoutingError, load_config
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
    ExpireOffer,
    FinishWrapUp,
    RejectOffer,
    ReloadConfig,
    SkillsChanged,
)
from routing.decisions import OfferCall
from routing.state import free
from routing.strategies import STRATEGIES

pytestmark = pytest.mark.skipif(CompiledRouter is None, reason="cext._router not built")

AGENTS = [f"a{i}" for i in range(6)]
CALLS = [f"c{i}" for i in range(10)]
SKILLS = ["x", "y", "z"]


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    agents = []
    for i, aid in enumerate(AGENTS):
        skills = draw(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), max_size=3))
        agents.append({"id": aid, "skills": skills, "group": draw(st.sampled_from(["g", "b"])),
                       "tier": draw(st.sampled_from(["lo", "hi"])),
                       "capacity": draw(st.sampled_from([1, 1, 1, 2])),
                       "trainee": i == 5 and draw(st.booleans())})
    exprs = ["x", "x >= 5", "x >= 3 and (y or z)", "not z", "y > 2 or z = 4", "x or y or z"]
    queues = []
    for i in range(3):
        steps = []
        if draw(st.booleans()):
            steps.append({"after": 10, "relax": draw(st.integers(0, 4)),
                          "add_group": draw(st.sampled_from([None, "b"]))})
        if draw(st.booleans()):
            steps.append({"after": 25, "overflow_to": draw(st.sampled_from(
                [f"q{(i + 1) % 3}", "callback"]))})
        queues.append({
            "id": f"q{i}", "expression": draw(st.sampled_from(exprs)),
            "priority": draw(st.integers(0, 2)), "strategy": draw(st.sampled_from(
                list(STRATEGIES))),
            "groups": draw(st.sampled_from([[], ["g"]])), "widening": steps,
            "max_size": draw(st.sampled_from([None, 2, 4])),
            "max_wait": draw(st.sampled_from([None, 40.0])),
            "overflow_to": draw(st.sampled_from([None, f"q{(i + 2) % 3}", "callback"])),
            "practice_share": draw(st.sampled_from([0.0, 0.5])),
            "wrap_up": draw(st.sampled_from([None, 0.0, 5.0])),
        })
    return {"skills": SKILLS, "groups": ["g", "b"], "agent_tiers": ["lo", "hi"],
            "customer_tiers": [{"name": "vip", "priority_boost": 3, "min_agent_tier": "hi"},
                               {"name": "gold", "priority_boost": 1}],
            "agents": agents, "queues": queues, "offer_timeout": 8.0,
            "max_missed_offers": draw(st.integers(0, 3)), "wrap_up": 3.0,
            "sticky_window": draw(st.sampled_from([0.0, 60.0]))}


agent_ids = st.sampled_from([*AGENTS, "ghost"])
call_ids = st.sampled_from(CALLS)
commands = st.one_of(
    st.builds(AgentLogin, agent_ids, st.booleans()),
    st.builds(AgentLogout, agent_ids),
    st.builds(AgentSetState, agent_ids, st.sampled_from(["ready", "not_ready"]),
              st.sampled_from(["", "lunch"])),
    st.builds(EndpointLost, agent_ids), st.builds(EndpointRestored, agent_ids),
    st.builds(SkillsChanged, agent_ids, st.lists(st.tuples(st.sampled_from([*SKILLS, "w"]),
                                                           st.integers(0, 10)),
                                                 max_size=2).map(tuple)),
    st.builds(EnqueueCall, call_ids, st.sampled_from(["q0", "q1", "q2", "nope"]),
              st.sampled_from([None, None, "vip", "gold"]),
              st.sampled_from([None, "+1", "+2"]), st.booleans()),
    *[st.builds(EnqueueCall, call_ids, st.sampled_from(["q0", "q1", "q2"]),
                st.sampled_from([None, None, "vip", "gold"]), st.sampled_from([None, "+1"]),
                st.booleans())] * 4,
    # calls back from a lost agent: with their wait, ahead of the others (or a bad wait)
    st.builds(EnqueueCall, call_ids, st.sampled_from(["q0", "q1"]), st.none(), st.none(),
              st.booleans(), st.sampled_from([0.0, 5.0, 40.0, 500.0, -1.0]), st.booleans()),
    st.builds(AbandonCall, call_ids), st.builds(AcceptOffer, call_ids, agent_ids),
    st.builds(AcceptOffer, call_ids, agent_ids), st.builds(AcceptOffer, call_ids, agent_ids),
    st.builds(RejectOffer, call_ids, agent_ids), st.builds(ExpireOffer, call_ids, agent_ids),
    st.builds(EndCall, call_ids), st.builds(EndCall, call_ids),
    st.builds(FinishWrapUp, agent_ids),
    st.just("tick"), st.just("tick"), st.just("reload"),
    *[st.tuples(st.sampled_from(["accept", "reject", "end"]), call_ids)] * 4,
)


def _concrete(ref: ReferenceRouter, cmd: Any) -> Any:
    """Turn ("accept" | "reject" | "end", call) into a command on a live offer, when one exists."""
    if not isinstance(cmd, tuple):
        return cmd
    verb, call_id = cmd
    view = ref.call(call_id)
    if view is None or not view.agents:
        return "tick"
    if verb == "end":
        return EndCall(call_id)
    return (AcceptOffer if verb == "accept" else RejectOffer)(call_id, view.agents[-1])


def _run(router: Any, cmd: Any, now: float, reload_cfg: Any) -> Any:
    try:
        if cmd == "tick":
            return ("ok", router.tick(now))
        if cmd == "reload":
            return ("ok", router.handle(ReloadConfig(reload_cfg), now))
        return ("ok", router.handle(cmd, now))
    except RoutingError as exc:
        return ("error", type(exc).__name__, str(exc))


def check_invariants(ref: ReferenceRouter) -> None:
    s = ref.s
    ring_all = {i for i, q in enumerate(s.config.queues) if q.strategy == "ring_all"}
    for agent in s.agents:
        assert not agent.offers or len(agent.calls) + len(agent.offers) <= agent.capacity
    waiting = [c for c in s.calls.values() if c.waiting]
    for call in s.calls.values():
        assert len(call.offers) <= 1 or call.queue in ring_all, call.id
    for agent in s.agents:
        if free(agent):
            assert not [c.id for c in waiting if s.eligible(agent, c)], agent.id


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(cfg=configs(), reload_cfg=configs(), seed=st.integers(0, 2**64 - 1),
       steps=st.lists(st.tuples(commands, st.floats(0, 12)), min_size=10, max_size=60))
def test_both_cores_decide_identically(cfg: dict[str, Any], reload_cfg: dict[str, Any],
                                       seed: int, steps: list[tuple[Any, float]]) -> None:
    config, config2 = load_config(cfg), load_config(reload_cfg)
    ref, comp = ReferenceRouter(config, seed=seed), CompiledRouter(config, seed=seed)
    now = 0.0
    logins: list[tuple[Any, float]] = [(AgentLogin(aid), 0.0) for aid in AGENTS]
    for raw, dt in logins + steps:
        now += dt
        cmd = _concrete(ref, raw)
        a, b = _run(ref, cmd, now, config2), _run(comp, cmd, now, config2)
        assert a == b, (cmd, now)
        assert ref.next_deadline() == comp.next_deadline()
        check_invariants(ref)
        for aid in AGENTS:
            assert ref.agent(aid) == comp.agent(aid)
        for cid in CALLS:
            assert ref.call(cid) == comp.call(cid)
            if ref.call(cid) is not None:
                assert ref.explain(cid) == comp.explain(cid)
        for q in ("q0", "q1", "q2"):
            assert ref.queue_length(q) == comp.queue_length(q)


def test_fifo_within_equal_priority() -> None:
    """Three calls wait; one agent frees up three times: they are offered oldest first."""
    cfg = load_config({"skills": ["x"], "agents": [{"id": "a", "skills": {"x": 1}}],
                       "queues": [{"id": "q", "expression": "x"}]})
    for router_cls in (ReferenceRouter, CompiledRouter):
        r = router_cls(cfg)
        for i in range(3):
            r.handle(EnqueueCall(f"c{i}", "q"), float(i))
        offered = []
        r.handle(AgentLogin("a"), 5.0)
        for i in range(3):
            call = r.call(f"c{i}")
            assert call is not None
            offered.append(call.agents)
            r.handle(AcceptOffer(f"c{i}", "a"), 6.0 + i)
            out = r.handle(EndCall(f"c{i}"), 6.5 + i)
            assert all(isinstance(d, OfferCall) for d in out)
        assert offered == [("a",), ("a",), ("a",)]
