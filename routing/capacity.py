"""Offered load against the agents who can take it: can a scenario's queues keep up at all?

Offered load of a queue: ``A = calls per second x mean work per call`` in Erlangs, where the
work is the mean handle time plus the queue's wrap-up plus the mean ring delay (an agent is
seized from the offer until the end of wrap-up). Capacity of an agent: its call capacity times
the share of the measurement window ``[warmup, duration)`` that its shifts cover.

Queues share agents, so the check is a max-flow: source -> queue (its load), queue -> agent
(when the agent may ever take the queue's calls), agent -> sink (its capacity). When the flow
cannot carry every queue's load, the queues still reachable from the source in the residual
graph, split into groups that share agents, each offer at least as much load as their agents
can carry (max-flow min-cut). Without abandonment such a queue grows for as long as the run
lasts: it has no steady state. One queue alone, or all queues together, are special cases.

Eligibility is taken at its widest (every widening step, the agents of the queues it overflows
to, trainees when the queue has practice calls, customer-tier requirements ignored), so an
overload reported here is real; queue priorities and tier requirements can still starve a
queue that passes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from routing.config import CALLBACK, Queue, RoutingConfig
from routing.expressions import Expr, evaluate, parse
from routing.scenario import Scenario

__all__ = ["Overload", "load_warnings", "overloads", "queue_capacity", "queue_loads"]

# Loads are inflated by this share, so a load exactly equal to the capacity counts as overload
# (rho = 1 is unstable too).
_CRITICAL = 1e-9


@dataclass(frozen=True, slots=True)
class Overload:
    """Queues whose offered load (Erlangs) is at least what the agents able to take them can
    carry; ``sheds``: every one of them can lose calls (patience, max wait, max size or a
    callback overflow), so the queue stays finite at the price of abandonment."""

    queues: tuple[str, ...]
    load: float
    capacity: float
    sheds: bool


def _work(scenario: Scenario, config: RoutingConfig, queue: str) -> float:
    """Mean agent time per call of ``queue``: handle time, wrap-up and ring delay (seconds)."""
    spec = next(a for a in scenario.arrivals if a.queue == queue)
    q = next(q for q in config.queues if q.id == queue)
    wrap = q.wrap_up if q.wrap_up is not None else config.wrap_up
    ring = scenario.ring_delay.mean if scenario.ring_delay is not None else 0.0
    return spec.handle_time.mean + wrap + ring


def queue_loads(scenario: Scenario, config: RoutingConfig) -> dict[str, float]:
    """Offered load in Erlangs per queue that has arrivals."""
    return {a.queue: a.calls_per_hour / 3600.0 * _work(scenario, config, a.queue)
            for a in scenario.arrivals}


def _duty_share(shifts: list[tuple[float, float]], start: float, end: float) -> float:
    covered = sum(max(0.0, min(e, end) - max(s, start)) for s, e in shifts)
    return covered / (end - start)


def _overflow_targets(queue: Queue) -> list[str]:
    targets = [queue.overflow_to] + [step.overflow_to for step in queue.widening]
    return [t for t in targets if t is not None]


def _reach(config: RoutingConfig, queue_id: str) -> list[Queue]:
    """The queue and every queue its calls can overflow to, transitively."""
    by_id = {q.id: q for q in config.queues}
    seen, todo = [queue_id], [queue_id]
    while todo:
        for target in _overflow_targets(by_id[todo.pop()]):
            if target != CALLBACK and target not in seen:
                seen.append(target)
                todo.append(target)
    return [by_id[q] for q in seen]


def _may_take(queue: Queue, expr: Expr, group: str | None, skills: dict[str, int],
              trainee: bool) -> bool:
    """Could an agent ever take this queue's calls (at its widest widening step)?"""
    if trainee and queue.practice_share == 0:
        return False
    if queue.groups:
        allowed = set(queue.groups) | {s.add_group for s in queue.widening if s.add_group}
        if group not in allowed:
            return False
    return evaluate(expr, skills, sum(s.relax for s in queue.widening))


def _capacities(scenario: Scenario, config: RoutingConfig,
                queues: list[str]) -> dict[frozenset[str], float]:
    """Agent capacity (on-duty average) by the set of queues the agents may take."""
    shifts = scenario.agent_shifts()
    reach = {q: _reach(config, q) for q in queues}
    exprs = {q.id: parse(q.expression) for q in config.queues}
    known: dict[tuple[str | None, tuple[tuple[str, int], ...], bool], frozenset[str]] = {}
    out: dict[frozenset[str], float] = {}
    for agent in config.agents:
        share = _duty_share(shifts.get(agent.id, [(0.0, math.inf)]), scenario.warmup,
                            scenario.duration)
        kind = (agent.group, tuple(sorted(agent.skills.items())), agent.trainee)
        takes = known.get(kind)
        if takes is None:  # generated agents of a group share one answer
            takes = known[kind] = frozenset(
                q for q in queues
                if any(_may_take(r, exprs[r.id], agent.group, agent.skills, agent.trainee)
                       for r in reach[q]))
        if takes:
            out[takes] = out.get(takes, 0.0) + agent.capacity * share
    return out


def queue_capacity(scenario: Scenario, config: RoutingConfig) -> dict[str, float]:
    """Per queue with arrivals: the on-duty agents (by capacity) who may take its calls."""
    caps = _capacities(scenario, config, [a.queue for a in scenario.arrivals])
    return {a.queue: sum(c for takes, c in caps.items() if a.queue in takes)
            for a in scenario.arrivals}


def _sheds(scenario: Scenario, config: RoutingConfig, queue_id: str) -> bool:
    spec = next(a for a in scenario.arrivals if a.queue == queue_id)
    if spec.patience is not None:
        return True
    return any(q.max_wait is not None or q.max_size is not None
               or CALLBACK in _overflow_targets(q) for q in _reach(config, queue_id))


def overloads(scenario: Scenario, config: RoutingConfig) -> list[Overload]:
    """Groups of queues whose load the agents able to take them cannot carry (max-flow)."""
    loads = queue_loads(scenario, config)
    queues = list(loads)
    caps = list(_capacities(scenario, config, queues).items())
    # Nodes: 0 source, 1..Q queues, then agent kinds, then the sink.
    source, sink = 0, len(queues) + len(caps) + 1
    residual: dict[int, dict[int, float]] = {n: {} for n in range(sink + 1)}
    for i, q in enumerate(queues, 1):
        residual[source][i] = loads[q] * (1 + _CRITICAL)
    for k, (takes, capacity) in enumerate(caps, len(queues) + 1):
        residual[k][sink] = capacity
        for i, q in enumerate(queues, 1):
            if q in takes:
                residual[i][k] = math.inf
    reached = _max_flow_residual_reach(residual, source, sink)
    # The reached queues, in groups that share agent kinds (kinds are disjoint across groups).
    groups: list[tuple[set[int], set[int]]] = []
    for i in range(1, len(queues) + 1):
        if i not in reached:
            continue
        members, kinds = {i}, {k for k in residual[i] if len(queues) < k < sink}
        apart = []
        for group in groups:
            if group[1] & kinds:
                members |= group[0]
                kinds |= group[1]
            else:
                apart.append(group)
        groups = [*apart, (members, kinds)]
    out = []
    for members, kinds in sorted(groups, key=lambda g: min(g[0])):
        names = tuple(queues[i - 1] for i in sorted(members))
        capacity = sum(caps[k - len(queues) - 1][1] for k in kinds)
        out.append(Overload(names, sum(loads[q] for q in names), capacity,
                            all(_sheds(scenario, config, q) for q in names)))
    return out


def _max_flow_residual_reach(residual: dict[int, dict[int, float]], source: int,
                             sink: int) -> set[int]:
    """Run Edmonds-Karp on ``residual`` in place; return the nodes the source still reaches.

    Every augmentation saturates its bottleneck edge exactly (``c - c == 0.0``), so floating
    point capacities cannot make it loop.
    """
    while True:
        parent = {source: source}
        todo = deque([source])
        while todo and sink not in parent:
            u = todo.popleft()
            for v, c in residual[u].items():
                if c > 0 and v not in parent:
                    parent[v] = u
                    todo.append(v)
        if sink not in parent:
            return set(parent)
        path = []
        v = sink
        while v != source:
            path.append((parent[v], v))
            v = parent[v]
        push = min(residual[u][w] for u, w in path)
        for u, w in path:
            residual[u][w] -= push
            residual[w][u] = residual[w].get(u, 0.0) + push


def load_warnings(scenario: Scenario, config: RoutingConfig) -> list[str]:
    """One sentence per overloaded group of queues (empty when every queue can keep up)."""
    out = []
    loads = queue_loads(scenario, config)
    for o in overloads(scenario, config):
        if len(o.queues) == 1:
            q = o.queues[0]
            spec = next(a for a in scenario.arrivals if a.queue == q)
            what = (f"queue {q}: offered load {o.load:.1f} Erlangs ({spec.calls_per_hour:g} "
                    f"calls/h x {_work(scenario, config, q):.4g} s of handle time, wrap-up and "
                    f"ring) is at least the {o.capacity:.1f} agents on duty who can take it")
        else:
            parts = " + ".join(f"{q} {loads[q]:.1f}" for q in o.queues)
            what = (f"queues {', '.join(o.queues)}: offered load {o.load:.1f} Erlangs "
                    f"({parts}) is at least the {o.capacity:.1f} agents on duty who can take "
                    "them")
        if o.sheds:
            what += ("; callers' patience (or max_wait, max_size, a callback overflow) keeps "
                     "the queue finite, but only by losing calls: expect heavy abandonment")
        else:
            what += ("; callers never abandon, so the queue is unstable: it grows for as long "
                     "as the run lasts, and the results depend on the run length, not on a "
                     "steady state")
        out.append(what)
    return out
