"""The reference router: the readable specification of every routing decision.

It scans all agents and calls for each decision (clarity over speed); ``cext/_router.pyx``
makes the same decisions with incremental indexes and a contract suite plus a hypothesis
differential test hold the two together. docs/routing.md states these rules in prose.

Dispatch rule. After every command and timer, the router matches waiting calls to free
eligible agents until no such pair is left (so no eligible agent idles while a call waits):

* a call that became waiting (enqueued, overflowed, widened, its offer rejected/expired) is
  *routed*: its candidates are ranked by the queue's strategy and it is offered to the first
  (``sticky`` and ``practice`` preferences come first; ``ring_all`` offers to all);
* an agent who became free takes the best waiting call it is eligible for, ranked by
  ``(-priority, arrival sequence)`` over all queues: priority first, FIFO within it.

Touched calls are routed before touched agents, each in the order they were touched. Timers
fire in ``(due, kind, id)`` order: offer expiry (by reservation id), wrap-up end (by agent
position), call step (widening, overflow or max wait, by arrival sequence).
"""

from __future__ import annotations

from collections.abc import Iterable

from routing.commands import (
    AbandonCall,
    AcceptOffer,
    AgentLogin,
    AgentLogout,
    AgentSetState,
    Command,
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
from routing.config import CALLBACK, RoutingConfig, load_config
from routing.decisions import (
    AgentAutoPaused,
    CallConnected,
    CallOverflowed,
    CallQueued,
    CallRejected,
    CallTimedOut,
    CallWidened,
    Decision,
    OfferCall,
    OfferRevoked,
    WaitEstimateUpdated,
    WrapUpEnded,
)
from routing.explain import Candidate, Explanation
from routing.model import AgentView, CallView, RoutingError
from routing.state import (
    KIND_CALL_STEP,
    KIND_OFFER,
    KIND_WRAP,
    Call,
    RouterState,
    check_reload,
    free,
    load_of,
)
from routing.strategies import measure

MAX_EXPLAINED = 10  # candidates kept per explanation


class ReferenceRouter:
    """Pure-Python router core: ``handle(command, now)``, ``tick(now)``, ``next_deadline()``."""

    compiled = False

    def __init__(self, config: RoutingConfig | dict[str, object], *, seed: int = 0) -> None:
        self.s = RouterState(load_config(config), seed)
        self._out: list[Decision] = []

    # -- public API -------------------------------------------------------------------------
    def handle(self, command: Command, now: float) -> list[Decision]:
        s = self.s
        now = float(now)
        self._out = []
        if isinstance(command, EnqueueCall):
            s.check_enqueue(command)
            call = s.new_call(command, now)
            self._admit(call, s.queue_pos[command.queue_id], now, set())
        elif isinstance(command, AcceptOffer):
            self._accept(command.call_id, command.agent_id, now)
        elif isinstance(command, RejectOffer | ExpireOffer):
            call = s.get_call(command.call_id)
            rid = s.offer_of(call, command.agent_id)
            self._miss(call, rid, now, revoke=False)
        elif isinstance(command, EndCall):
            self._end_call(command.call_id, now)
        elif isinstance(command, AbandonCall):
            call = s.get_call(command.call_id)
            if call.agent is not None:
                raise s.err_connected(call)
            freed = self._revoke_all(call, "abandoned")
            s.forget(call)
            self._dispatch([], freed, now)
        else:
            self._agent_command(command, now)
        return self._out

    def tick(self, now: float) -> list[Decision]:
        now = float(now)
        self._out = []
        for _ in range(1_000_000):  # bounded: each timer fires once
            due = self.s.earliest_timer()
            if due is None or due[0] > now:
                break
            self._fire(due, now)
        return self._out

    def next_deadline(self) -> float | None:
        due = self.s.earliest_timer()
        return None if due is None else due[0]

    def explain(self, call_id: str) -> Explanation:
        call = self.s.get_call(call_id)
        assert call.explanation is not None
        return call.explanation

    def agent(self, agent_id: str) -> AgentView:
        return self.s.agent_view(agent_id)

    def call(self, call_id: str) -> CallView | None:
        return self.s.call_view(call_id)

    def queue_length(self, queue_id: str) -> int:
        return self.s.queue_length(queue_id)

    def agent_ids(self) -> tuple[str, ...]:
        return tuple(a.id for a in self.s.agents)

    # -- agent commands ---------------------------------------------------------------------
    def _agent_command(self, cmd: Command, now: float) -> None:
        s = self.s
        if isinstance(cmd, ReloadConfig):
            self._reload(cmd.config, now)
            return
        agent = s.get_agent(cmd.agent_id)  # type: ignore[union-attr]
        if isinstance(cmd, AgentLogin):
            s.login(agent, cmd.ready, now)
            self._dispatch([], [agent.id], now)
        elif isinstance(cmd, AgentLogout):
            s.check_logout(agent)
            freed_calls = self._revoke_agent(agent.id, "agent_logged_out")
            s.logout(agent)
            self._dispatch(freed_calls, [], now)
        elif isinstance(cmd, AgentSetState):
            if s.set_state(agent, cmd.state, cmd.reason, now):
                self._dispatch([], [agent.id], now)
        elif isinstance(cmd, EndpointLost):
            s.check_lost(agent)
            freed_calls = self._revoke_agent(agent.id, "agent_unreachable")
            agent.unreachable = True
            self._dispatch(freed_calls, [], now)
        elif isinstance(cmd, EndpointRestored):
            s.restore(agent, now)
            self._dispatch([], [agent.id], now)
        elif isinstance(cmd, SkillsChanged):
            s.change_skills(agent, cmd.skills)
            self._dispatch([], [agent.id], now)
        elif isinstance(cmd, FinishWrapUp):
            s.finish_wrap(agent, now)
            self._dispatch([], [agent.id], now)
        else:  # pragma: no cover - the Command union is exhaustive
            raise RoutingError(f"unsupported command {cmd!r}")

    def _reload(self, config: RoutingConfig, now: float) -> None:
        s = self.s
        check_reload(s, config)
        s.reload(config)
        for agent in s.agents:  # a smaller capacity sheds the newest offers first
            while agent.offers and load_of(agent) > agent.capacity:
                rid = max(agent.offers)
                self._out.append(OfferRevoked(s.offers[rid].call, agent.id, rid,
                                              "capacity_reduced"))
                s.drop_offer(rid)
        freed = []
        for call in s.calls.values():  # only ring-all may keep several offers per call
            if s.config.queues[call.queue].strategy != "ring_all":
                for rid in sorted(call.offers)[1:]:
                    freed.append(s.offers[rid].agent)
                    self._out.append(OfferRevoked(call.id, freed[-1], rid, "strategy_changed"))
                    s.drop_offer(rid)
        waiting = sorted((c for c in s.calls.values() if c.waiting), key=lambda c: c.rank)
        self._dispatch([c.id for c in waiting], freed, now)

    # -- call life --------------------------------------------------------------------------
    def _admit(self, call: Call, q: int, now: float, visited: set[int]) -> None:
        """Put ``call`` into queue ``q`` (or overflow/reject it when full), then route it."""
        s = self.s
        queue = s.config.queues[q]
        visited.add(q)
        if queue.max_size is not None and s.queue_length(queue.id) >= queue.max_size:
            target = queue.overflow_to
            if target is None or (target != CALLBACK and s.queue_pos[target] in visited):
                self._out.append(CallRejected(call.id, queue.id, "queue_full"))
                s.forget(call)
                return
            self._out.append(CallOverflowed(call.id, queue.id, target, "queue_full"))
            if target == CALLBACK:
                s.forget(call)
            else:
                self._admit(call, s.queue_pos[target], now, visited)
            return
        s.enter_queue(call, q, now)
        self._route_call(call, now)
        if call.waiting:
            length = s.queue_length(queue.id)
            serving = s.serving[q]
            self._out.append(CallQueued(call.id, queue.id, length))
            self._out.append(WaitEstimateUpdated(
                call.id, queue.id, length * queue.expected_handle_time / max(1, serving)))

    def _accept(self, call_id: str, agent_id: str, now: float) -> None:
        s = self.s
        call = s.get_call(call_id)
        s.get_agent(agent_id)
        rid = s.offer_of(call, agent_id)
        s.drop_offer(rid)
        s.connect(call, agent_id, now)
        self._out.append(CallConnected(call.id, agent_id, s.config.queues[call.queue].id,
                                       now - call.enqueued_at))
        freed = self._revoke_all(call, "answered_elsewhere")
        self._dispatch([], freed, now)

    def _end_call(self, call_id: str, now: float) -> None:
        s = self.s
        call = s.get_call(call_id)
        if call.agent is None:
            raise s.err_not_connected(call)
        agent_id = call.agent
        s.end_call(call, now)
        self._dispatch([], [agent_id], now)

    def _miss(self, call: Call, rid: int, now: float, *, revoke: bool) -> None:
        """An offer was rejected or expired: exclude the agent, maybe auto-pause, re-route."""
        s = self.s
        offer = s.offers[rid]
        agent = s.agents[s.agent_pos[offer.agent]]
        if revoke:
            self._out.append(OfferRevoked(call.id, agent.id, rid, "expired"))
        s.drop_offer(rid)
        call.excluded.add(agent.id)
        agent.missed += 1
        limit = s.config.max_missed_offers
        if limit and agent.missed >= limit:
            agent.paused, agent.reason = True, "missed_offers"
            self._out.append(AgentAutoPaused(agent.id, "missed_offers", agent.missed))
        self._dispatch([call.id], [agent.id], now)

    def _revoke_all(self, call: Call, reason: str) -> list[str]:
        """Revoke every live offer of ``call``; returns the agents freed, in offer order."""
        freed = []
        for rid in sorted(call.offers):
            agent_id = self.s.offers[rid].agent
            self._out.append(OfferRevoked(call.id, agent_id, rid, reason))
            self.s.drop_offer(rid)
            freed.append(agent_id)
        return freed

    def _revoke_agent(self, agent_id: str, reason: str) -> list[str]:
        """Revoke every live offer held by an agent; returns the calls freed, in offer order."""
        s = self.s
        calls = []
        for rid in sorted(s.agents[s.agent_pos[agent_id]].offers):
            call_id = s.offers[rid].call
            self._out.append(OfferRevoked(call_id, agent_id, rid, reason))
            s.drop_offer(rid)
            calls.append(call_id)
        return calls

    # -- timers -----------------------------------------------------------------------------
    def _fire(self, due: tuple[float, int, int], now: float) -> None:
        s = self.s
        _, kind, ident = due
        if kind == KIND_OFFER:
            offer = s.offers[ident]
            self._miss(s.calls[offer.call], ident, now, revoke=True)
        elif kind == KIND_WRAP:
            agent = s.agents[ident]
            agent.wrap_until = None
            agent.idle_since = now
            self._out.append(WrapUpEnded(agent.id, s.state_of(agent).value))
            self._dispatch([], [agent.id], now)
        elif kind == KIND_CALL_STEP:
            self._call_step(s.call_by_seq(ident), now)

    def _call_step(self, call: Call, now: float) -> None:
        s = self.s
        queue = s.config.queues[call.queue]
        step_at, wait_at = s.step_times(call)
        if step_at <= wait_at:
            step = queue.widening[call.step]
            call.step += 1
            if step.overflow_to is not None:
                self._overflow(call, step.overflow_to, "widening", now)
                return
            s.schedule(call)
            self._out.append(CallWidened(call.id, queue.id, call.step))
            self._dispatch([call.id], [], now)
        elif queue.overflow_to is not None:
            self._overflow(call, queue.overflow_to, "max_wait", now)
        else:
            freed = self._revoke_all(call, "timed_out")
            self._out.append(CallTimedOut(call.id, queue.id))
            s.forget(call)
            self._dispatch([], freed, now)

    def _overflow(self, call: Call, target: str, reason: str, now: float) -> None:
        s = self.s
        freed = self._revoke_all(call, "overflowed")
        self._out.append(CallOverflowed(call.id, s.config.queues[call.queue].id, target, reason))
        if target == CALLBACK:
            s.forget(call)
        else:
            self._admit(call, s.queue_pos[target], now, {call.queue})
        self._dispatch([], freed, now)

    # -- matching ---------------------------------------------------------------------------
    def _dispatch(self, calls: Iterable[str], agents: Iterable[str], now: float) -> None:
        s = self.s
        for call_id in calls:
            call = s.calls.get(call_id)
            if call is not None and call.waiting:
                self._route_call(call, now)
        for agent_id in agents:
            self._route_agent(agent_id, now)

    def _key(self, call: Call, agent_pos: int) -> tuple[float, ...]:
        s = self.s
        agent = s.agents[agent_pos]
        queue = s.config.queues[call.queue]
        score = sum(agent.skills.get(k, 0) for k in s.queue_skills[call.queue])
        m = measure(queue.strategy, idle_since=agent.idle_since, calls_today=agent.calls_today,
                    talk_time=agent.talk_time, position=agent_pos,
                    last_position=s.last_offered[call.queue], n_agents=len(s.agents),
                    skill_score=score)
        return (float(load_of(agent)), m, float(agent_pos))

    def _route_call(self, call: Call, now: float) -> None:
        """Offer a waiting call to the best free eligible agent(s) by its queue's rules."""
        s = self.s
        queue = s.config.queues[call.queue]
        ranked = sorted((self._key(call, i), i) for i, a in enumerate(s.agents)
                        if free(a) and s.eligible(a, call))
        chosen: list[int] = []
        rule = queue.strategy
        sticky = s.sticky_agent(call, now)
        if not ranked:
            rule = "no_agent"
        elif sticky is not None and any(i == sticky for _, i in ranked):
            chosen, rule = [sticky], "sticky"
        elif call.practice and any(s.agents[i].trainee for _, i in ranked):
            chosen, rule = [next(i for _, i in ranked if s.agents[i].trainee)], "practice"
        elif queue.strategy == "ring_all":
            chosen = [i for _, i in ranked]
        elif queue.strategy == "random":
            least = [i for k, i in ranked if k[0] == ranked[0][0][0]]
            chosen = [least[s.rng.below(len(least))]]
        else:
            chosen = [ranked[0][1]]
        call.explanation = Explanation(
            call.id, queue.id, call.step, call.priority, rule,
            tuple(s.agents[i].id for i in chosen),
            tuple(Candidate(s.agents[i].id, k) for k, i in ranked[:MAX_EXPLAINED]))
        for i in chosen:
            self._offer(call, i, rule, now)

    def _route_agent(self, agent_id: str, now: float) -> None:
        """A free agent takes the best waiting call it can serve, while it has capacity."""
        s = self.s
        pos = s.agent_pos[agent_id]
        agent = s.agents[pos]
        for _ in range(agent.capacity):
            if not free(agent):
                return
            best = min((c for c in s.calls.values() if c.waiting and s.eligible(agent, c)),
                       key=lambda c: c.rank, default=None)
            if best is None:
                return
            queue = s.config.queues[best.queue]
            best.explanation = Explanation(
                best.id, queue.id, best.step, best.priority, "agent_available", (agent_id,),
                (Candidate(agent_id, self._key(best, pos)),))
            self._offer(best, pos, "agent_available", now)

    def _offer(self, call: Call, pos: int, reason: str, now: float) -> None:
        s = self.s
        queue = s.config.queues[call.queue]
        timeout = queue.offer_timeout or s.config.offer_timeout
        rid = s.add_offer(call, pos, now + timeout)
        s.last_offered[call.queue] = pos
        self._out.append(OfferCall(call.id, s.agents[pos].id, rid, now + timeout, reason))


__all__ = ["ReferenceRouter"]

