"""Runtime state of the reference router: agents, calls, offers, and their plain operations.

Every ``check_*``/``get_*`` helper raises before anything changes, so a failing command
leaves the state untouched (the contract both cores keep).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from routing.commands import EnqueueCall
from routing.config import CustomerTier, RoutingConfig
from routing.explain import Explanation
from routing.expressions import Expr, evaluate, parse, skills_of
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
from routing.strategies import SplitMix64

KIND_OFFER, KIND_WRAP, KIND_CALL_STEP = 0, 1, 2  # timer order at equal due times
# Sequence numbers of ``ahead`` calls start here: below every ordinary one (which start at 1)
# and within a C ``long long`` for the compiled twin.
AHEAD_BASE = -(1 << 62)


@dataclass(eq=False)
class AgentRt:
    id: str
    group: str | None
    tier_rank: int
    capacity: int
    trainee: bool
    skills: dict[str, int]
    logged_in: bool = False
    unreachable: bool = False
    paused: bool = False
    reason: str = ""
    wrap_until: float | None = None
    calls: list[str] = field(default_factory=list)
    offers: set[int] = field(default_factory=set)
    idle_since: float = 0.0
    calls_today: int = 0
    talk_time: float = 0.0
    missed: int = 0


@dataclass(eq=False)
class Call:
    id: str
    tier: CustomerTier | None
    caller_id: str | None
    simple: bool
    seq: int
    enqueued_at: float
    queue: int = -1
    queue_entered_at: float = 0.0
    step: int = 0
    priority: int = 0
    practice: bool = False
    offers: set[int] = field(default_factory=set)
    agent: str | None = None
    connected_at: float = 0.0
    excluded: set[str] = field(default_factory=set)
    next_due: float | None = None
    explanation: Explanation | None = None

    @property
    def waiting(self) -> bool:
        return self.agent is None and not self.offers

    @property
    def rank(self) -> tuple[int, int]:
        return (-self.priority, self.seq)


@dataclass(frozen=True, slots=True)
class Offer:
    call: str
    agent: str
    expires_at: float


def load_of(agent: AgentRt) -> int:
    return len(agent.calls) + len(agent.offers)


def free(agent: AgentRt) -> bool:
    """May receive an offer now: signed in, reachable, not paused, no wrap-up, spare capacity."""
    return (agent.logged_in and not agent.unreachable and not agent.paused
            and agent.wrap_until is None and load_of(agent) < agent.capacity)


class RouterState:
    def __init__(self, config: RoutingConfig, seed: int) -> None:
        self.rng = SplitMix64(seed)
        self.calls: dict[str, Call] = {}
        self.offers: dict[int, Offer] = {}
        self.next_rid = 1
        self.next_seq = 1
        self.next_ahead = AHEAD_BASE
        self.last_served: dict[str, tuple[str, float]] = {}
        self.agents: list[AgentRt] = []
        self.simple_count: dict[str, int] = {}
        self._configure(config)

    def _configure(self, config: RoutingConfig) -> None:
        old = {a.id: a for a in self.agents}
        self.config = config
        self.queue_pos = config.queue_index()
        self.tier_rank = {name: i for i, name in enumerate(config.agent_tiers)}
        self.customer_tiers = {t.name: t for t in config.customer_tiers}
        self.exprs: list[Expr] = [parse(q.expression) for q in config.queues]
        self.queue_skills = [skills_of(e) for e in self.exprs]
        self.last_offered = [-1] * len(config.queues)
        self.agents = []
        for cfg in config.agents:
            agent = AgentRt(cfg.id, cfg.group, self.tier_rank.get(cfg.tier or "", -1),
                            cfg.capacity, cfg.trainee, dict(cfg.skills))
            prev = old.get(cfg.id)
            if prev is not None:
                for name in ("logged_in", "unreachable", "paused", "reason", "wrap_until",
                             "calls", "offers", "idle_since", "calls_today", "talk_time",
                             "missed"):
                    setattr(agent, name, getattr(prev, name))
            self.agents.append(agent)
        self.agent_pos = {a.id: i for i, a in enumerate(self.agents)}
        self.serving = [0] * len(config.queues)

    # -- lookups that raise -----------------------------------------------------------------
    def get_agent(self, agent_id: str) -> AgentRt:
        pos = self.agent_pos.get(agent_id)
        if pos is None:
            raise UnknownAgent(f"unknown agent {agent_id!r}")
        return self.agents[pos]

    def get_call(self, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            raise UnknownCall(f"unknown call {call_id!r} (never enqueued, or already gone)")
        return call

    def offer_of(self, call: Call, agent_id: str) -> int:
        self.get_agent(agent_id)
        for rid in call.offers:
            if self.offers[rid].agent == agent_id:
                return rid
        raise InvalidTransition(f"call {call.id!r} has no live offer to agent {agent_id!r}")

    def err_connected(self, call: Call) -> InvalidTransition:
        return InvalidTransition(f"call {call.id!r} is connected to {call.agent!r}; "
                                 "send EndCall instead")

    def err_not_connected(self, call: Call) -> InvalidTransition:
        return InvalidTransition(f"call {call.id!r} is not connected; send AbandonCall")

    def check_enqueue(self, cmd: EnqueueCall) -> None:
        if not 0.0 <= cmd.waited < math.inf:
            raise InvalidCommand(f"waited must be a finite number of seconds >= 0, "
                                 f"got {cmd.waited!r}")
        if cmd.call_id in self.calls:
            raise InvalidTransition(f"call {cmd.call_id!r} is already enqueued")
        if cmd.queue_id not in self.queue_pos:
            raise UnknownQueue(f"unknown queue {cmd.queue_id!r}")
        if cmd.tier is not None and cmd.tier not in self.customer_tiers:
            raise UnknownName(f"unknown customer tier {cmd.tier!r}; expected one of "
                              f"{sorted(self.customer_tiers)}")

    def queue_length(self, queue_id: str) -> int:
        q = self.queue_pos.get(queue_id)
        if q is None:
            raise UnknownQueue(f"unknown queue {queue_id!r}")
        return sum(1 for c in self.calls.values() if c.queue == q and c.agent is None)

    # -- calls ------------------------------------------------------------------------------
    def new_call(self, cmd: EnqueueCall, now: float) -> Call:
        tier = self.customer_tiers.get(cmd.tier) if cmd.tier is not None else None
        if cmd.ahead:  # below every ordinary sequence number: first among its priority
            seq, self.next_ahead = self.next_ahead, self.next_ahead + 1
        else:
            seq, self.next_seq = self.next_seq, self.next_seq + 1
        call = Call(cmd.call_id, tier, cmd.caller_id, cmd.simple, seq, now - cmd.waited)
        self.calls[call.id] = call
        return call

    def enter_queue(self, call: Call, q: int, now: float) -> None:
        queue = self.config.queues[q]
        # A call entering its first queue entered it when it was enqueued (``waited`` ago).
        entered = now if call.queue >= 0 else call.enqueued_at
        call.queue, call.queue_entered_at, call.step = q, entered, 0
        call.priority = queue.priority + (call.tier.priority_boost if call.tier else 0)
        call.practice = False
        if call.simple and queue.practice_share > 0:
            # The k-th simple call is practice when floor(k * share) steps up: an even spread.
            k = self.simple_count.get(queue.id, 0)
            self.simple_count[queue.id] = k + 1
            share = queue.practice_share
            call.practice = math.floor((k + 1) * share) > math.floor(k * share)
        self.schedule(call)

    def step_times(self, call: Call) -> tuple[float, float]:
        queue = self.config.queues[call.queue]
        step_at = (call.queue_entered_at + queue.widening[call.step].after
                   if call.step < len(queue.widening) else math.inf)
        wait_at = (call.queue_entered_at + queue.max_wait
                   if queue.max_wait is not None else math.inf)
        return step_at, wait_at

    def schedule(self, call: Call) -> None:
        due = min(self.step_times(call)) if call.agent is None else math.inf
        call.next_due = None if due == math.inf else due

    def call_by_seq(self, seq: int) -> Call:
        return next(c for c in self.calls.values() if c.seq == seq)

    def forget(self, call: Call) -> None:
        del self.calls[call.id]

    def add_offer(self, call: Call, pos: int, expires_at: float) -> int:
        rid = self.next_rid
        self.next_rid += 1
        agent = self.agents[pos]
        self.offers[rid] = Offer(call.id, agent.id, expires_at)
        call.offers.add(rid)
        agent.offers.add(rid)
        return rid

    def drop_offer(self, rid: int) -> None:
        offer = self.offers.pop(rid)
        self.calls[offer.call].offers.discard(rid)
        self.agents[self.agent_pos[offer.agent]].offers.discard(rid)

    def connect(self, call: Call, agent_id: str, now: float) -> None:
        agent = self.get_agent(agent_id)
        call.agent, call.connected_at, call.next_due = agent_id, now, None
        agent.calls.append(call.id)
        agent.calls_today += 1
        agent.missed = 0
        self.serving[call.queue] += 1

    def end_call(self, call: Call, now: float) -> None:
        assert call.agent is not None
        agent = self.get_agent(call.agent)
        queue = self.config.queues[call.queue]
        agent.calls.remove(call.id)
        agent.talk_time += now - call.connected_at
        self.serving[call.queue] -= 1
        if call.caller_id is not None:
            self.last_served[call.caller_id] = (agent.id, now)
        self.forget(call)
        wrap = queue.wrap_up if queue.wrap_up is not None else self.config.wrap_up
        if wrap > 0:
            agent.wrap_until = max(agent.wrap_until or 0.0, now + wrap)
        else:
            agent.idle_since = now

    def sticky_agent(self, call: Call, now: float) -> int | None:
        window = self.config.sticky_window
        if window <= 0 or call.caller_id is None or call.caller_id not in self.last_served:
            return None
        agent_id, at = self.last_served[call.caller_id]
        return self.agent_pos.get(agent_id) if now - at <= window else None

    def eligible(self, agent: AgentRt, call: Call) -> bool:
        """May ``agent`` serve ``call`` at the call's current widening step (ignoring load)?"""
        if agent.id in call.excluded or (agent.trainee and not call.practice):
            return False
        if call.tier is not None and call.tier.min_agent_tier is not None \
                and agent.tier_rank < self.tier_rank[call.tier.min_agent_tier]:
            return False
        queue = self.config.queues[call.queue]
        steps = queue.widening[:call.step]
        if queue.groups:
            allowed = set(queue.groups) | {s.add_group for s in steps if s.add_group}
            if agent.group not in allowed:
                return False
        return evaluate(self.exprs[call.queue], agent.skills, sum(s.relax for s in steps))

    # -- agents -----------------------------------------------------------------------------
    def login(self, agent: AgentRt, ready: bool, now: float) -> None:
        if agent.logged_in:
            raise InvalidTransition(f"agent {agent.id!r} is already logged in")
        agent.logged_in, agent.unreachable, agent.wrap_until, agent.missed = True, False, None, 0
        agent.paused, agent.reason = (False, "") if ready else (True, "login")
        agent.idle_since = now

    def check_logout(self, agent: AgentRt) -> None:
        if not agent.logged_in:
            raise InvalidTransition(f"agent {agent.id!r} is not logged in")
        if agent.calls:
            raise InvalidTransition(f"agent {agent.id!r} is on call {agent.calls[0]!r}; "
                                    "end the call before logging out")

    def logout(self, agent: AgentRt) -> None:
        agent.logged_in = agent.unreachable = agent.paused = False
        agent.reason, agent.wrap_until = "", None

    def set_state(self, agent: AgentRt, state: str, reason: str, now: float) -> bool:
        """Apply ready/not_ready; returns True when the agent may have become free."""
        if state not in ("ready", "not_ready"):
            raise InvalidCommand(f"agent state must be 'ready' or 'not_ready', not {state!r}")
        if not agent.logged_in:
            raise InvalidTransition(f"agent {agent.id!r} is not logged in")
        if state == "not_ready":
            agent.paused, agent.reason = True, reason or "not_ready"
            return False
        if agent.paused or agent.wrap_until is not None:
            agent.idle_since = now
        agent.paused, agent.reason, agent.wrap_until, agent.missed = False, "", None, 0
        return True

    def check_lost(self, agent: AgentRt) -> None:
        if not agent.logged_in or agent.unreachable:
            raise InvalidTransition(f"agent {agent.id!r} is not logged in and reachable")

    def restore(self, agent: AgentRt, now: float) -> None:
        if not agent.unreachable:
            raise InvalidTransition(f"agent {agent.id!r} is not unreachable")
        agent.unreachable, agent.idle_since = False, now

    def change_skills(self, agent: AgentRt, skills: tuple[tuple[str, int], ...]) -> None:
        known = set(self.config.skills)
        new: dict[str, int] = {}
        for name, level in skills:
            if name not in known:
                raise UnknownName(f"unknown skill {name!r} for agent {agent.id!r}")
            if not 1 <= level <= 10 or name in new:
                raise InvalidCommand(f"skill {name!r}: level {level} must be 1..10, once")
            new[name] = level
        agent.skills = new

    def finish_wrap(self, agent: AgentRt, now: float) -> None:
        if agent.wrap_until is None:
            raise InvalidTransition(f"agent {agent.id!r} is not in wrap-up")
        agent.wrap_until, agent.idle_since = None, now

    # -- timers and views -------------------------------------------------------------------
    def earliest_timer(self) -> tuple[float, int, int] | None:
        dues: list[tuple[float, int, int]] = [
            (o.expires_at, KIND_OFFER, rid) for rid, o in self.offers.items()]
        dues += [(a.wrap_until, KIND_WRAP, i) for i, a in enumerate(self.agents)
                 if a.wrap_until is not None]
        dues += [(c.next_due, KIND_CALL_STEP, c.seq) for c in self.calls.values()
                 if c.next_due is not None]
        return min(dues, default=None)

    def reload(self, config: RoutingConfig) -> None:
        """Swap the config, keeping runtime state; calls keep their step (clamped)."""
        old_queue = {c.id: self.config.queues[c.queue].id for c in self.calls.values()}
        self._configure(config)
        for call in self.calls.values():
            q = self.queue_pos[old_queue[call.id]]
            queue = config.queues[q]
            call.queue = q
            call.tier = self.customer_tiers.get(call.tier.name) if call.tier else None
            call.priority = queue.priority + (call.tier.priority_boost if call.tier else 0)
            call.step = min(call.step, len(queue.widening))
            self.schedule(call)
            if call.agent is not None:
                self.serving[q] += 1

    def state_of(self, agent: AgentRt) -> AgentState:
        if not agent.logged_in:
            return AgentState.LOGGED_OUT
        if agent.unreachable:
            return AgentState.UNREACHABLE
        if agent.calls:
            return AgentState.ON_CALL
        if agent.offers:
            return AgentState.RESERVED
        if agent.wrap_until is not None:
            return AgentState.WRAP_UP
        return AgentState.NOT_READY if agent.paused else AgentState.READY

    def agent_view(self, agent_id: str) -> AgentView:
        a = self.get_agent(agent_id)
        state = self.state_of(a)
        return AgentView(a.id, state, a.reason if state is AgentState.NOT_READY else "",
                         len(a.calls), len(a.offers), a.capacity, a.calls_today, a.talk_time,
                         a.missed)

    def call_view(self, call_id: str) -> CallView | None:
        c = self.calls.get(call_id)
        agents: tuple[str, ...]
        if c is None:
            return None
        if c.agent is not None:
            state, agents = CallState.CONNECTED, (c.agent,)

        else:
            state = CallState.OFFERED if c.offers else CallState.WAITING
            agents = tuple(self.offers[r].agent for r in sorted(c.offers))
        return CallView(c.id, self.config.queues[c.queue].id, state, c.enqueued_at,
                        c.priority, c.step, agents)


def check_reload(state: RouterState, config: RoutingConfig) -> None:
    """Refuse a config that drops a busy agent, a queue or tier in use."""
    agents = {a.id for a in config.agents}
    queues = {q.id for q in config.queues}
    tiers = {t.name for t in config.customer_tiers}
    for agent in state.agents:
        if agent.id not in agents and (agent.logged_in or agent.calls or agent.offers):
            raise InvalidTransition(f"reload drops agent {agent.id!r}, who is logged in; "
                                    "log them out first")
    for call in state.calls.values():
        queue_id = state.config.queues[call.queue].id
        if queue_id not in queues:
            raise InvalidTransition(f"reload drops queue {queue_id!r}, which holds call "
                                    f"{call.id!r}")
        if call.tier is not None and call.tier.name not in tiers:
            raise InvalidTransition(f"reload drops customer tier {call.tier.name!r} used by "
                                    f"call {call.id!r}")
