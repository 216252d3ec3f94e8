"""A discrete-event contact-center simulator that drives a router core through its public API.

Theory of operation. Virtual time is a float passed everywhere; nothing reads a clock. A heap
holds the simulator's own events (a call arrives, an agent answers after the ring delay, a call
ends, a caller's patience runs out, a shift starts or ends, an auto-paused agent comes back).
The router's timers (offer expiry, wrap-up end, widening, max wait) stay inside the router: the
loop asks ``router.next_deadline()`` and calls ``router.tick(now)`` whenever that comes first.
Every command goes in as ``router.handle(command, now)`` and the decisions that come back are
turned into events: ``OfferCall`` schedules the answer, ``CallConnected`` the hang-up,
``OfferRevoked`` voids a pending answer, and so on. Agents are well behaved: they answer every
offer after the call's ring delay (if the offer has not expired by then), talk for the call's
handle time and wrap up for as long as the router's config says.

Measurement. Calls that *arrive* in ``[warmup, duration)`` are counted, and the run goes on
after ``duration`` (without new arrivals) until each of them is answered and ended, abandoned,
or has left the router, so no counted call is censored. Agent time (occupancy) is measured over
``[warmup, duration)``.

Wait and ring time. A call's *wait* is its time in the queue: from arrival until it is offered
to the agent who answers it. The ring time of that offer (offer to answer) is not wait; it is
counted apart (``ring_answered``), because the agent is already seized then, exactly as in
Erlang C, which has no ring time: with ``ring_delay: 0`` time in queue and time to answer are
the same, and with a ring delay the queue figures compare with Erlang C for a handle time that
includes the ring.
An offer that expires unanswered sends the call back to the queue, and that ring time is wait.
ASA and the service level use this wait; a call *waited* (P(wait)) when its wait is above zero,
that is when it was not answered by the agent it was offered to on arrival; a call that is never
answered (abandoned, overflowed out, rejected, timed out) counts as having waited. An abandoned
call waits until it hangs up (also while ringing), a call that leaves the router until it
leaves. See routing/erlang.py for the matching definitions of SL, ASA and abandonment.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from routing.arrivals import Arrival
from routing.commands import (
    AbandonCall,
    AcceptOffer,
    AgentLogin,
    AgentLogout,
    AgentSetState,
    Command,
    EndCall,
    EnqueueCall,
)
from routing.config import CALLBACK, RoutingConfig
from routing.decisions import (
    AgentAutoPaused,
    CallConnected,
    CallOverflowed,
    CallRejected,
    CallTimedOut,
    Decision,
    OfferCall,
    OfferRevoked,
    WrapUpEnded,
)
from routing.model import AgentState

__all__ = ["GroupStats", "QueueStats", "RunResult", "Simulation"]

# Event kinds; at equal times events run in the order they were scheduled.
_ARRIVE, _ANSWER, _HANG_UP, _ABANDON, _SHIFT_START, _SHIFT_END, _RESUME, _END = range(8)
_MAX_IDLE_TICKS = 10_000  # router ticks in a row that leave its deadline in the past
_NO_GROUP = "(none)"


@dataclass(slots=True)
class QueueStats:
    """Counts for calls that arrived to one queue inside the measurement window."""

    queue: str
    target_seconds: float
    offered: int = 0
    answered: int = 0
    answered_in_target: int = 0  # answered with a wait of at most target_seconds
    abandoned: int = 0
    delayed: int = 0  # waited: not answered at once (see the module docstring)
    overflowed_out: int = 0  # left the router: callback
    rejected: int = 0  # queue full, nowhere to overflow
    timed_out: int = 0  # max wait reached, nowhere to overflow
    wait_answered: float = 0.0  # summed waits of answered calls
    wait_all: float = 0.0  # summed waits of every counted call (until answered or gone)
    ring_answered: float = 0.0  # summed ring times (offer to answer) of answered calls

    @property
    def service_level(self) -> float:
        """Answered within the target over **offered** calls (abandoned ones count against)."""
        return self.answered_in_target / self.offered if self.offered else math.nan

    @property
    def service_level_answered(self) -> float:
        """Answered within the target over **answered** calls only."""
        return self.answered_in_target / self.answered if self.answered else math.nan

    @property
    def asa(self) -> float:
        return self.wait_answered / self.answered if self.answered else math.nan

    @property
    def mean_wait(self) -> float:
        """Mean wait of all offered calls: answered, abandoned and those that left."""
        return self.wait_all / self.offered if self.offered else math.nan

    @property
    def ring_time(self) -> float:
        return self.ring_answered / self.answered if self.answered else math.nan

    @property
    def p_wait(self) -> float:
        return self.delayed / self.offered if self.offered else math.nan

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.offered if self.offered else math.nan


@dataclass(slots=True)
class GroupStats:
    """Agent time of one agent group inside the measurement window."""

    group: str
    answered: int = 0  # counted calls answered by this group
    busy: float = 0.0  # agent-seconds talking or wrapping up (divided by capacity)
    staffed: float = 0.0  # agent-seconds logged in

    @property
    def occupancy(self) -> float:
        return self.busy / self.staffed if self.staffed > 0 else math.nan


@dataclass(frozen=True, slots=True)
class RunResult:
    """One replication: per-queue and per-agent-group statistics."""

    seed: int
    queues: dict[str, QueueStats]
    groups: dict[str, GroupStats]
    calls: int  # arrivals processed (counted or not)
    events: int  # simulator events plus router ticks


@dataclass(slots=True)
class _Call:
    arrival: Arrival
    counted: bool
    queue: str  # where it is now (overflow moves it)
    offered_at: float | None = None  # when the answering agent was offered the call
    connected_at: float | None = None
    agent: str | None = None


@dataclass(slots=True)
class _Agent:
    group: str
    capacity: int
    shifts: list[tuple[float, float]]
    logged_in_at: float | None = None
    busy_calls: dict[str, float] = field(default_factory=dict)  # call -> busy since
    wrapping: dict[str, float] = field(default_factory=dict)  # ended call -> wrap since
    leaving: bool = False  # shift over, log out once free


class Simulation:
    """One replication: ``Simulation(...).run() -> RunResult``."""

    def __init__(self, config: RoutingConfig, arrivals: Iterable[Arrival],
                 router_factory: Callable[..., Any], *, duration: float, warmup: float = 0.0,
                 seed: int = 0, shifts: dict[str, list[tuple[float, float]]] | None = None,
                 auto_pause_recovery: float = 60.0,
                 on_progress: Callable[[float], None] | None = None) -> None:
        self.config = config
        self.router = router_factory(config, seed=seed)
        self.duration, self.warmup, self.seed = duration, warmup, seed
        self.auto_pause_recovery = auto_pause_recovery
        self.on_progress = on_progress
        self._arrivals: Iterator[Arrival] = iter(arrivals)
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        self._calls: dict[str, _Call] = {}
        self._pending_answers: set[int] = set()  # reservations whose answer is scheduled
        self._wrap = {q.id: (q.wrap_up if q.wrap_up is not None else config.wrap_up)
                      for q in config.queues}
        self.queues = {q.id: QueueStats(q.id, q.service_level.seconds) for q in config.queues}
        self.groups: dict[str, GroupStats] = {}
        self._agents: dict[str, _Agent] = {}
        shifts = shifts or {}
        for agent in config.agents:
            group = agent.group or _NO_GROUP
            self.groups.setdefault(group, GroupStats(group))
            self._agents[agent.id] = _Agent(group, agent.capacity,
                                            shifts.get(agent.id, [(0.0, math.inf)]))
        self._calls_seen = 0
        self._events = 0
        self._now = 0.0

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> RunResult:
        for agent_id, agent in self._agents.items():
            for start, end in agent.shifts:
                self._push(start, _SHIFT_START, agent_id)
                if math.isfinite(end):
                    self._push(end, _SHIFT_END, agent_id)
        self._push(self.duration, _END, None)
        self._next_arrival()
        deadline = self.router.next_deadline()
        progress_every = 2000
        stuck = 0
        while True:
            if not self._calls and self._arrivals_done and self._ended:
                break
            event_at = self._heap[0][0] if self._heap else math.inf
            if deadline is not None and deadline <= event_at:
                self._now = max(self._now, deadline)
                self._apply(self.router.tick(self._now))
                stuck = stuck + 1 if (self.router.next_deadline() or math.inf) <= self._now else 0
                if stuck > _MAX_IDLE_TICKS:
                    raise RuntimeError(f"router deadline {deadline} stays due after tick "
                                       f"at {self._now}")
            elif self._heap:
                at, _, kind, payload = heapq.heappop(self._heap)
                self._now = at
                self._dispatch(kind, payload)
            else:
                break
            deadline = self.router.next_deadline()
            self._events += 1
            if self.on_progress is not None and self._events % progress_every == 0:
                self.on_progress(min(1.0, self._now / self.duration))
        self._close_agent_time()
        return RunResult(self.seed, self.queues, self.groups, self._calls_seen, self._events)

    _arrivals_done = False
    _ended = False  # virtual time reached the end of the arrival window

    def _push(self, at: float, kind: int, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, payload))

    def _next_arrival(self) -> None:
        nxt = next(self._arrivals, None)
        if nxt is None:
            self._arrivals_done = True
        else:
            self._push(nxt.time, _ARRIVE, nxt)

    def _handle(self, command: Command) -> list[Decision]:
        out: list[Decision] = self.router.handle(command, self._now)
        return out

    def _dispatch(self, kind: int, payload: Any) -> None:
        if kind == _ARRIVE:
            self._arrive(payload)
        elif kind == _ANSWER:
            rid, call_id, agent_id, offered_at = payload
            if rid in self._pending_answers:
                self._pending_answers.discard(rid)
                answering = self._calls.get(call_id)
                if answering is not None:
                    answering.offered_at = offered_at
                self._apply(self._handle(AcceptOffer(call_id, agent_id)))
        elif kind == _HANG_UP:
            call = self._calls[payload]
            self._apply(self._handle(EndCall(payload)))
            self._call_ended(call, payload)
        elif kind == _ABANDON:
            waiting = self._calls.get(payload)
            if waiting is not None and waiting.connected_at is None:
                self._apply(self._handle(AbandonCall(payload)))
                self._resolve(payload, abandoned=True)
        elif kind == _SHIFT_START:
            agent = self._agents[payload]
            agent.leaving = False
            if agent.logged_in_at is None:
                agent.logged_in_at = self._now
                self._apply(self._handle(AgentLogin(payload, ready=True)))
        elif kind == _SHIFT_END:
            self._end_shift(payload)
        elif kind == _END:
            self._ended = True
        elif kind == _RESUME:
            agent = self._agents[payload]
            if agent.logged_in_at is not None and not agent.leaving:
                self._apply(self._handle(AgentSetState(payload, "ready")))

    def _arrive(self, arrival: Arrival) -> None:
        self._calls_seen += 1
        counted = self.warmup <= arrival.time < self.duration
        call = _Call(arrival, counted, arrival.queue)
        self._calls[arrival.call_id] = call
        if counted:
            self.queues[arrival.queue].offered += 1
        if arrival.patience is not None:
            self._push(arrival.time + arrival.patience, _ABANDON, arrival.call_id)
        self._apply(self._handle(EnqueueCall(arrival.call_id, arrival.queue, arrival.tier,
                                             arrival.caller_id, arrival.simple)))
        self._next_arrival()

    # -- decisions --------------------------------------------------------------------------
    def _apply(self, decisions: list[Decision]) -> None:
        for d in decisions:
            kind = type(d)  # exact types: the decision classes are final dataclasses
            if kind is OfferCall:
                assert isinstance(d, OfferCall)
                ring = self._calls[d.call_id].arrival.ring
                if self._now + ring < d.expires_at:  # else the router's expiry fires first
                    self._pending_answers.add(d.reservation_id)
                    self._push(self._now + ring, _ANSWER,
                               (d.reservation_id, d.call_id, d.agent_id, self._now))
            elif kind is CallConnected:
                assert isinstance(d, CallConnected)
                self._connected(d)
            elif kind is OfferRevoked:
                assert isinstance(d, OfferRevoked)
                self._pending_answers.discard(d.reservation_id)
            elif kind is CallOverflowed:
                assert isinstance(d, CallOverflowed)
                if d.to == CALLBACK:
                    self._resolve(d.call_id, outcome="overflowed_out")
                else:
                    self._calls[d.call_id].queue = d.to
            elif kind is CallRejected:
                assert isinstance(d, CallRejected)
                self._resolve(d.call_id, outcome="rejected")
            elif kind is CallTimedOut:
                assert isinstance(d, CallTimedOut)
                self._resolve(d.call_id, outcome="timed_out")
            elif kind is AgentAutoPaused:
                assert isinstance(d, AgentAutoPaused)
                self._push(self._now + self.auto_pause_recovery, _RESUME, d.agent_id)
            elif kind is WrapUpEnded:
                assert isinstance(d, WrapUpEnded)
                self._wrap_ended(d.agent_id)

    def _connected(self, d: CallConnected) -> None:
        call = self._calls[d.call_id]
        call.connected_at, call.agent = self._now, d.agent_id
        agent = self._agents[d.agent_id]
        agent.busy_calls[d.call_id] = self._now
        if call.counted:
            offered_at = call.offered_at if call.offered_at is not None else self._now
            wait = offered_at - call.arrival.time  # exactly 0.0 when offered on arrival
            stats = self.queues[call.arrival.queue]
            stats.answered += 1
            stats.wait_answered += wait
            stats.wait_all += wait
            stats.ring_answered += self._now - offered_at
            stats.delayed += wait > 0
            if wait <= stats.target_seconds:
                stats.answered_in_target += 1
            self.groups[agent.group].answered += 1
        self._push(self._now + call.arrival.handle, _HANG_UP, d.call_id)

    def _call_ended(self, call: _Call, call_id: str) -> None:
        assert call.agent is not None
        agent = self._agents[call.agent]
        since = agent.busy_calls.pop(call_id)
        if self._wrap[call.queue] > 0:
            agent.wrapping[call_id] = since  # busy until the router ends the wrap-up
        else:
            self._add_busy(agent, since, self._now)
        del self._calls[call_id]
        self._maybe_leave(call.agent)

    def _wrap_ended(self, agent_id: str) -> None:
        agent = self._agents[agent_id]
        for since in agent.wrapping.values():
            self._add_busy(agent, since, self._now)
        agent.wrapping.clear()
        self._maybe_leave(agent_id)

    def _resolve(self, call_id: str, *, abandoned: bool = False, outcome: str = "") -> None:
        call = self._calls.pop(call_id, None)
        if call is None or not call.counted:
            return
        stats = self.queues[call.arrival.queue]
        stats.delayed += 1  # never answered, so not answered at once
        stats.wait_all += self._now - call.arrival.time
        if abandoned:
            stats.abandoned += 1
        elif outcome == "overflowed_out":
            stats.overflowed_out += 1
        elif outcome == "rejected":
            stats.rejected += 1
        elif outcome == "timed_out":
            stats.timed_out += 1

    # -- agents and shifts ------------------------------------------------------------------
    def _end_shift(self, agent_id: str) -> None:
        agent = self._agents[agent_id]
        if agent.logged_in_at is None:
            return
        agent.leaving = True
        if agent.busy_calls or agent.wrapping:
            # Pending not-ready: no new offers; log out when the work is done.
            self._apply(self._handle(AgentSetState(agent_id, "not_ready", "end_of_shift")))
        else:
            self._logout(agent_id)

    def _maybe_leave(self, agent_id: str) -> None:
        agent = self._agents[agent_id]
        if agent.leaving and not agent.busy_calls and not agent.wrapping:
            view = self.router.agent(agent_id)
            if view.state not in (AgentState.ON_CALL, AgentState.LOGGED_OUT):
                self._logout(agent_id)

    def _logout(self, agent_id: str) -> None:
        agent = self._agents[agent_id]
        self._apply(self._handle(AgentLogout(agent_id)))
        assert agent.logged_in_at is not None
        self._add_staffed(agent, agent.logged_in_at, self._now)
        agent.logged_in_at, agent.leaving = None, False

    def _clip(self, start: float, end: float) -> float:
        return max(0.0, min(end, self.duration) - max(start, self.warmup))

    def _add_busy(self, agent: _Agent, start: float, end: float) -> None:
        self.groups[agent.group].busy += self._clip(start, end) / agent.capacity

    def _add_staffed(self, agent: _Agent, start: float, end: float) -> None:
        self.groups[agent.group].staffed += self._clip(start, end)

    def _close_agent_time(self) -> None:
        end = max(self._now, self.duration)
        for agent in self._agents.values():
            for since in list(agent.busy_calls.values()) + list(agent.wrapping.values()):
                self._add_busy(agent, since, end)
            if agent.logged_in_at is not None:
                self._add_staffed(agent, agent.logged_in_at, end)
