"""The compiled core behind the same API as the reference: config compilation and wrapping.

``cext._router`` imports neither ``routing`` nor ``switch``, so this module interns names to
integers, compiles skill expressions to nested tuples and passes the decision, view and error
classes in as factories; ``CompiledRouter`` then translates commands into method calls.
"""

from __future__ import annotations

from typing import Any, cast

from cext import _router  # ImportError when the extension is not built (see _select)
from routing import decisions as d
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
from routing.explain import Candidate, Explanation
from routing.expressions import And, Compare, Expr, Has, Not, parse, skills_of
from routing.model import (
    AgentState,
    AgentView,
    CallState,
    CallView,
    InvalidCommand,
    InvalidTransition,
    UnknownAgent,
    UnknownCall,
    UnknownName,
    UnknownQueue,
)
from routing.strategies import STRATEGY_CODES

OPS = {">=": 0, ">": 1, "<=": 2, "<": 3, "=": 4, "!=": 5}
NO_TARGET, TO_CALLBACK = -1, -2

FACTORIES: dict[str, Any] = {
    "offer": d.OfferCall, "revoked": d.OfferRevoked, "connected": d.CallConnected,
    "queued": d.CallQueued, "estimate": d.WaitEstimateUpdated, "widened": d.CallWidened,
    "overflowed": d.CallOverflowed, "rejected": d.CallRejected, "timed_out": d.CallTimedOut,
    "auto_paused": d.AgentAutoPaused, "wrap_ended": d.WrapUpEnded,
    "explanation": Explanation, "candidate": Candidate, "agent_view": AgentView,
    "call_view": CallView, "agent_state": AgentState, "call_state": CallState,
    "UnknownAgent": UnknownAgent, "UnknownCall": UnknownCall, "UnknownQueue": UnknownQueue,
    "UnknownName": UnknownName, "InvalidTransition": InvalidTransition,
    "InvalidCommand": InvalidCommand,
    # Core.handle dispatches these by exact type (no isinstance chain on the hot path)
    "commands": {cls.__name__: cls for cls in (
        EndCall, AcceptOffer, EnqueueCall, RejectOffer, ExpireOffer, AbandonCall, AgentLogin,
        AgentLogout, AgentSetState, EndpointLost, EndpointRestored, SkillsChanged,
        FinishWrapUp)},
}


def compile_expr(expr: Expr, skill: dict[str, int]) -> tuple[Any, ...]:
    """``(0, s)`` has, ``(1, s, op, level)`` compare, ``(2, x)`` not, ``(3|4, (xs))`` and|or."""
    if isinstance(expr, Has):
        return (0, skill[expr.skill])
    if isinstance(expr, Compare):
        return (1, skill[expr.skill], OPS[expr.op], expr.level)
    if isinstance(expr, Not):
        return (2, compile_expr(expr.operand, skill))
    code = 3 if isinstance(expr, And) else 4
    return (code, tuple(compile_expr(e, skill) for e in expr.operands))


def driver(expr: Expr) -> set[str] | None:
    """Skills one of which every matching agent must hold (at any widening), or None."""
    if isinstance(expr, Has):
        return {expr.skill}
    if isinstance(expr, Compare):
        positive = expr.op in (">=", ">") or (expr.op == "=" and expr.level > 0)
        return {expr.skill} if positive and not (expr.op == ">=" and expr.level == 0) else None
    if isinstance(expr, Not):
        return None
    found = [driver(e) for e in expr.operands]
    if isinstance(expr, And):
        known = [f for f in found if f is not None]
        return min(known, key=len) if known else None
    if any(f is None for f in found):
        return None
    return set().union(*[f for f in found if f is not None])


def compile_config(cfg: RoutingConfig) -> dict[str, Any]:
    skill = {name: i for i, name in enumerate(cfg.skills)}
    group = {name: i for i, name in enumerate(cfg.groups)}
    tier = {name: i for i, name in enumerate(cfg.agent_tiers)}
    queue = cfg.queue_index()

    def target(name: str | None) -> int:
        return NO_TARGET if name is None else TO_CALLBACK if name == CALLBACK else queue[name]

    queues = []
    for q in cfg.queues:
        expr = parse(q.expression)
        drv = driver(expr)
        queues.append((
            q.id, q.priority, STRATEGY_CODES[q.strategy],
            frozenset(group[g] for g in q.groups) if q.groups else None,
            -1 if q.max_size is None else q.max_size,
            -1.0 if q.max_wait is None else q.max_wait, target(q.overflow_to),
            tuple((s.after, s.relax, -1 if s.add_group is None else group[s.add_group],
                   target(s.overflow_to)) for s in q.widening),
            q.practice_share, q.offer_timeout or cfg.offer_timeout,
            cfg.wrap_up if q.wrap_up is None else q.wrap_up, q.expected_handle_time,
            compile_expr(expr, skill), tuple(skill[s] for s in skills_of(expr)),
            None if drv is None else tuple(sorted(skill[s] for s in drv)),
        ))
    return {
        "skills": list(cfg.skills),
        "agents": [(a.id, -1 if a.group is None else group[a.group],
                    -1 if a.tier is None else tier[a.tier], a.capacity, a.trainee,
                    {skill[s]: lvl for s, lvl in a.skills.items()}) for a in cfg.agents],
        "queues": queues,
        "tiers": {t.name: (t.priority_boost,
                           -1 if t.min_agent_tier is None else tier[t.min_agent_tier])
                  for t in cfg.customer_tiers},
        "max_missed": cfg.max_missed_offers,
        "sticky_window": cfg.sticky_window,
    }


class CompiledRouter:
    """The Cython core (``cext._router.Core``) with the reference router's Python API."""

    compiled = True

    def __init__(self, config: RoutingConfig | dict[str, object], *, seed: int = 0) -> None:
        cfg = load_config(config)
        self.config = cfg
        self._core = _router.Core(compile_config(cfg), FACTORIES, seed)

    def handle(self, command: Command, now: float) -> list[d.Decision]:
        out = self._core.handle(command, now)
        if out is not None:
            return cast(list[d.Decision], out)
        return self._handle_other(command, float(now))

    def _handle_other(self, command: Command, now: float) -> list[d.Decision]:
        """Reload, subclasses of the command types, and unknown commands."""
        c = self._core
        if isinstance(command, EnqueueCall):
            return c.enqueue(command.call_id, command.queue_id, command.tier,
                             command.caller_id, command.simple, now, command.waited,
                             command.ahead)
        if isinstance(command, AcceptOffer):
            return c.accept(command.call_id, command.agent_id, now)
        if isinstance(command, RejectOffer | ExpireOffer):
            return c.reject(command.call_id, command.agent_id, now)
        if isinstance(command, EndCall):
            return c.end_call(command.call_id, now)
        if isinstance(command, AbandonCall):
            return c.abandon(command.call_id, now)
        if isinstance(command, AgentLogin):
            return c.login(command.agent_id, command.ready, now)
        if isinstance(command, AgentLogout):
            return c.logout(command.agent_id, now)
        if isinstance(command, AgentSetState):
            return c.set_state(command.agent_id, command.state,
                               command.reason, now)
        if isinstance(command, EndpointLost):
            return c.endpoint_lost(command.agent_id, now)
        if isinstance(command, EndpointRestored):
            return c.endpoint_restored(command.agent_id, now)
        if isinstance(command, SkillsChanged):
            return c.skills_changed(command.agent_id, command.skills,
                                    now)
        if isinstance(command, FinishWrapUp):
            return c.finish_wrap(command.agent_id, now)
        if isinstance(command, ReloadConfig):
            cfg = load_config(command.config)
            out = c.reload(compile_config(cfg), now)
            self.config = cfg
            return out
        raise InvalidCommand(f"unsupported command {command!r}")

    def tick(self, now: float) -> list[d.Decision]:
        return self._core.tick(float(now))

    def next_deadline(self) -> float | None:
        return self._core.next_deadline()

    def explain(self, call_id: str) -> Explanation:
        return cast(Explanation, self._core.explain(call_id))

    def agent(self, agent_id: str) -> AgentView:
        return cast(AgentView, self._core.agent_view(agent_id))

    def call(self, call_id: str) -> CallView | None:
        return cast(CallView | None, self._core.call_view(call_id))

    def queue_length(self, queue_id: str) -> int:
        return self._core.queue_length(queue_id)

    def agent_ids(self) -> tuple[str, ...]:
        return self._core.agent_ids()


__all__ = ["CompiledRouter", "compile_config"]
