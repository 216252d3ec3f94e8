# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled router core: the decisions of the reference router, from incremental indexes.

It takes plain data (a compiled config of tuples and ints, see the Python wrapper) and
factories for decisions, views and errors, so it depends on no package of this project.
Indexes kept up to date on every change, so no decision scans all agents or calls:

- free agents bucketed by skill (``free_by_skill[s]``) plus one set of all free agents;
- per agent, the queues it can serve and from which widening step (``Agent.qmin``), computed
  when its skills or the config change, so routing never evaluates an expression;
- per queue, heaps of waiting calls keyed ``(-priority, seq)``, one per
  ``(step, required agent tier, practice)`` bucket (lazy deletion through ``Call.gen``);
- one timer heap ``(due, kind, id)`` with lazy deletion.
"""

from heapq import heappush, heappop
from libc.stdlib cimport malloc, free, calloc
from cpython.object cimport PyObject_GenericSetAttr
from libc.limits cimport LLONG_MAX
from libc.math cimport INFINITY
from libc.stdlib cimport realloc
from cpython.ref cimport Py_INCREF, Py_XDECREF


cdef struct Head:
    # the smallest (-priority, seq) over a queue's bucket heads; (LLONG_MAX, 0) when it is empty
    long long prio
    long long seq
    PyObject *call     # that head's Call (borrowed: its bucket's heap holds a reference)
    bint plain         # every non-empty bucket is (step 0, no agent tier, not practice)

_object_new = object.__new__

# command codes: Core.handle dispatches on type(command) through a dict of these
DEF C_END = 0
DEF C_ACCEPT = 1
DEF C_ENQUEUE = 2
DEF C_REJECT = 3
DEF C_ABANDON = 4
DEF C_LOGIN = 5
DEF C_LOGOUT = 6
DEF C_SET_STATE = 7
DEF C_LOST = 8
DEF C_RESTORED = 9
DEF C_SKILLS = 10
DEF C_FINISH_WRAP = 11
COMMAND_CODES = {"EndCall": C_END, "AcceptOffer": C_ACCEPT, "EnqueueCall": C_ENQUEUE,
                 "RejectOffer": C_REJECT, "ExpireOffer": C_REJECT, "AbandonCall": C_ABANDON,
                 "AgentLogin": C_LOGIN, "AgentLogout": C_LOGOUT, "AgentSetState": C_SET_STATE,
                 "EndpointLost": C_LOST, "EndpointRestored": C_RESTORED,
                 "SkillsChanged": C_SKILLS, "FinishWrapUp": C_FINISH_WRAP}
DECISION_KINDS = ("offer", "revoked", "connected", "queued", "estimate", "widened",
                  "overflowed", "rejected", "timed_out", "auto_paused", "wrap_ended")

DEF K_OFFER = 0
DEF K_WRAP = 1
DEF K_CALL = 2
DEF MAX_EXPLAINED = 10
DEF NO_TARGET = -1
DEF TO_CALLBACK = -2
DEF AHEAD_BASE = -4611686018427387904  # -(1 << 62): see routing/state.py
cdef double INF = float("inf")

# strategy codes: the order of routing.strategies.STRATEGIES
DEF S_LONGEST_IDLE = 0
DEF S_FEWEST_CALLS = 1
DEF S_LEAST_TALK = 2
DEF S_ROUND_ROBIN = 3
DEF S_TOP_DOWN = 4
DEF S_RANDOM = 5
DEF S_BEST_SKILL = 6
DEF S_RING_ALL = 7
STRATEGY_NAMES = ("longest_idle", "fewest_calls_today", "least_talk_time", "round_robin",
                  "top_down", "random", "best_skill_match", "ring_all")

# queue tuple fields
DEF Q_ID = 0
DEF Q_PRIO = 1
DEF Q_STRAT = 2
DEF Q_GROUPS = 3
DEF Q_MAXSIZE = 4
DEF Q_MAXWAIT = 5
DEF Q_OVERFLOW = 6
DEF Q_STEPS = 7
DEF Q_PRACTICE = 8
DEF Q_TIMEOUT = 9
DEF Q_WRAP = 10
DEF Q_AHT = 11
DEF Q_EXPR = 12
DEF Q_SKILLS = 13
DEF Q_DRIVER = 14


cdef class Agent:
    def __init__(self, str agent_id):
        self.id = agent_id
        self.reason = ""
        self.wrap_until = None
        self.skills = {}
        self.qmin = None
        self.calls = []
        self.offers = set()

    def __dealloc__(self):
        free(self.qarr)
        free(self.qstep)

    cdef set_qmin(self, dict qmin):
        """Keep ``qmin`` and its flat C copy (the hot loop of ``Core._route_agent`` reads it)."""
        cdef int i = 0, n = len(qmin)
        free(self.qarr)
        free(self.qstep)
        self.qarr = <int *>malloc(max(n, 1) * sizeof(int))
        self.qstep = <int *>malloc(max(n, 1) * sizeof(int))
        if self.qarr == NULL or self.qstep == NULL:
            raise MemoryError()
        for q, step in qmin.items():
            self.qarr[i] = q
            self.qstep[i] = step
            i += 1
        self.nq = n
        self.qmin = qmin


cdef inline bint _less(Entry *x, Entry *y):
    return x.prio < y.prio or (x.prio == y.prio and (
        x.seq < y.seq or (x.seq == y.seq and x.gen < y.gen)))


cdef class Bucket:
    def __init__(self, int step, int rank, bint practice):
        self.step, self.rank, self.practice = step, rank, practice
        self.hcall = None

    def __dealloc__(self):
        cdef Py_ssize_t i
        for i in range(self.n):
            Py_XDECREF(self.arr[i].call)
        free(self.arr)

    cdef int push(self, Entry e) except -1:
        cdef Py_ssize_t i = self.n, parent
        cdef Entry *grown
        if self.n == self.cap:
            grown = <Entry *>realloc(self.arr, max(8, 2 * self.cap) * sizeof(Entry))
            if grown == NULL:
                raise MemoryError()
            self.arr = grown
            self.cap = max(8, 2 * self.cap)
        self.n += 1
        while i > 0:
            parent = (i - 1) >> 1
            if not _less(&e, &self.arr[parent]):
                break
            self.arr[i] = self.arr[parent]
            i = parent
        self.arr[i] = e
        return 0

    cdef Entry pop(self):
        cdef Entry top = self.arr[0], last
        cdef Py_ssize_t i = 0, child
        self.n -= 1
        if self.n:
            last = self.arr[self.n]
            while True:
                child = 2 * i + 1
                if child >= self.n:
                    break
                if child + 1 < self.n and _less(&self.arr[child + 1], &self.arr[child]):
                    child += 1
                if not _less(&self.arr[child], &last):
                    break
                self.arr[i] = self.arr[child]
                i = child
            self.arr[i] = last
        return top


cdef class Call:
    def __init__(self, str call_id):
        self.id = call_id
        self.offers = set()
        self.excluded = set()
        self.agent = None
        self.next_due = None
        self.bucket = None
        self.explanation = None
        self.queue = -1


cdef class Offer:
    pass


cdef inline int _load(Agent a):
    return len(a.calls) + len(a.offers)


cdef inline bint _free(Agent a):
    return (a.logged_in and not a.unreachable and not a.paused and a.wrap_until is None
            and len(a.calls) + len(a.offers) < a.capacity)


cdef bint _cmp(int have, int op, int level):
    if op == 0:
        return have >= level
    if op == 1:
        return have > level
    if op == 2:
        return have <= level
    if op == 3:
        return have < level
    if op == 4:
        return have == level
    return have != level


cdef bint _eval(tuple e, dict skills, int relax):
    """Mirror of routing.expressions.evaluate over compiled tuples."""
    cdef int code = e[0]
    cdef int op, level, have
    if code == 0:
        return skills.get(e[1], 0) > 0
    if code == 1:
        op = e[2]
        level = e[3]
        have = skills.get(e[1], 0)
        if op == 0 and level > 0:
            level = max(1, level - relax)
        elif op == 1:
            level = max(0, level - relax)
        return _cmp(have, op, level)
    if code == 2:
        return not _eval(e[1], skills, 0)
    if code == 3:
        for sub in e[1]:
            if not _eval(sub, skills, relax):
                return False
        return True
    for sub in e[1]:
        if _eval(sub, skills, relax):
            return True
    return False


cdef class Core:
    cdef dict cfg, f, makers, dispatch
    cdef list skills, agents, queues, q_last, serving, qlen, buckets, bucket_lists
    cdef int *qwaiting                     # per queue: calls in its buckets
    cdef Head *qhead                       # per queue: lower bound of every call it holds
    cdef list free_by_skill, queues_by_skill, open_queues
    cdef set all_free
    cdef dict agent_pos, queue_pos, tiers, calls, by_seq, offers, last_served, simple_count
    cdef list timers, out
    cdef long long next_rid, next_seq, next_ahead
    cdef unsigned long long rng
    cdef int max_missed
    cdef double sticky_window

    def __init__(self, dict cfg, dict factories, unsigned long long seed):
        self.f = factories
        # decision kind -> (class, field names) for frozen slots dataclasses (see _emit)
        self.makers = {}
        for kind in DECISION_KINDS:
            cls = factories[kind]
            fields = getattr(cls, "__dataclass_fields__", None)
            if fields is not None and "__slots__" in cls.__dict__ and "__dict__" not in dir(cls):
                self.makers[kind] = (cls, tuple(fields))
        self.dispatch = {cls: COMMAND_CODES[name] for name, cls in factories.get(
            "commands", {}).items()}
        self.rng = seed
        self.calls = {}
        self.by_seq = {}
        self.offers = {}
        self.last_served = {}
        self.simple_count = {}
        self.timers = []
        self.out = []
        self.next_rid = 1
        self.next_seq = 1
        self.next_ahead = AHEAD_BASE
        self.agents = []
        self._configure(cfg)

    # ---------------------------------------------------------------- configuration
    cdef _configure(self, dict cfg):
        cdef Agent a
        cdef int i, q
        old = {a.id: a for a in self.agents}
        self.cfg = cfg
        self.skills = cfg["skills"]
        self.queues = cfg["queues"]
        self.tiers = cfg["tiers"]
        self.max_missed = cfg["max_missed"]
        self.sticky_window = cfg["sticky_window"]
        self.queue_pos = {qt[Q_ID]: i for i, qt in enumerate(self.queues)}
        nq = len(self.queues)
        self.q_last = [-1] * nq
        self.serving = [0] * nq
        self.qlen = [0] * nq
        free(self.qwaiting)
        self.qwaiting = <int *>calloc(max(nq, 1), sizeof(int))
        free(self.qhead)
        self.qhead = <Head *>malloc(max(nq, 1) * sizeof(Head))
        if self.qwaiting == NULL or self.qhead == NULL:
            raise MemoryError()
        for q in range(nq):
            self.qhead[q].prio, self.qhead[q].seq = LLONG_MAX, 0
        self.buckets = [{} for _ in range(nq)]        # key -> Bucket
        self.bucket_lists = [[] for _ in range(nq)]   # the same Buckets, for iteration
        self.queues_by_skill = [[] for _ in self.skills]
        self.open_queues = []
        for q in range(nq):
            drv = self.queues[q][Q_DRIVER]
            if drv is None:
                self.open_queues.append(q)
            else:
                for s in drv:
                    self.queues_by_skill[s].append(q)
        self.agents = []
        for i, (aid, group, tier_rank, capacity, trainee, skills) in enumerate(cfg["agents"]):
            a = old.get(aid)
            if a is None:
                a = Agent(aid)
            a.pos, a.group, a.tier_rank, a.capacity = i, group, tier_rank, capacity
            a.trainee = trainee
            a.skills = dict(skills)
            a.qmin = None
            a.nq = 0
            a.in_free = False
            self.agents.append(a)
        self.agent_pos = {a.id: a.pos for a in self.agents}
        self.free_by_skill = [set() for _ in self.skills]
        self.all_free = set()
        for a in self.agents:
            self._sync(a)

    cdef dict _qmin(self, Agent a):
        """Queues ``a`` can serve, each with the first widening step at which it may."""
        cdef dict res = {}
        cdef int q, s, relax
        cdef set cand = set(self.open_queues)
        for s in a.skills:
            cand.update(self.queues_by_skill[s])
        for q in cand:
            qt = self.queues[q]
            groups = qt[Q_GROUPS]
            steps = qt[Q_STEPS]
            allowed = None if groups is None else set(groups)
            relax = 0
            for s in range(len(steps) + 1):
                if s > 0:
                    st = steps[s - 1]
                    relax += st[1]
                    if allowed is not None and st[2] >= 0:
                        allowed.add(st[2])
                if (allowed is None or a.group in allowed) and _eval(qt[Q_EXPR], a.skills, relax):
                    res[q] = s
                    break
        return res

    cdef _sync(self, Agent a):
        """Keep the free-agent indexes equal to ``_free(a)``."""
        cdef bint f = _free(a)
        if f == a.in_free:
            return
        a.in_free = f
        if f:
            if a.qmin is None:
                a.set_qmin(self._qmin(a))
            self.all_free.add(a.pos)
            for s in a.skills:
                (<set>self.free_by_skill[s]).add(a.pos)
        else:
            self.all_free.discard(a.pos)
            for s in a.skills:
                (<set>self.free_by_skill[s]).discard(a.pos)

    # ---------------------------------------------------------------- lookups that raise
    cdef Agent _agent(self, str agent_id):
        pos = self.agent_pos.get(agent_id)
        if pos is None:
            raise self.f["UnknownAgent"](f"unknown agent {agent_id!r}")
        return self.agents[pos]

    cdef Call _call(self, str call_id):
        c = self.calls.get(call_id)
        if c is None:
            raise self.f["UnknownCall"](
                f"unknown call {call_id!r} (never enqueued, or already gone)")
        return c

    cdef long long _offer_of(self, Call c, str agent_id) except -1:
        self._agent(agent_id)
        for rid in c.offers:
            if (<Offer>self.offers[rid]).agent.id == agent_id:
                return rid
        raise self.f["InvalidTransition"](
            f"call {c.id!r} has no live offer to agent {agent_id!r}")

    def agent_ids(self):
        return tuple(a.id for a in self.agents)

    # ---------------------------------------------------------------- buckets and timers
    def __dealloc__(self):
        free(self.qwaiting)
        free(self.qhead)

    cdef _bucket_sync(self, Call c):
        cdef Bucket b = c.bucket
        cdef Entry e
        want = c.queue >= 0 and c.agent is None and not c.offers and c.id in self.calls
        if c.in_bucket and (not want or b is None or c.bq != c.queue or b.step != c.step
                            or b.rank != c.req_rank or b.practice != c.practice):
            c.in_bucket = False
            c.gen += 1
            self.qwaiting[c.bq] -= 1
            if b.hcall is c:
                self._refresh(b)
                self._queue_head(c.bq)
        if want and not c.in_bucket:
            c.in_bucket = True
            c.gen += 1
            c.bq = c.queue
            self.qwaiting[c.queue] += 1
            key = (c.step, c.req_rank, c.practice)
            b = (<dict>self.buckets[c.queue]).get(key)
            if b is None:
                b = Bucket(c.step, c.req_rank, c.practice)
                self.buckets[c.queue][key] = b
                (<list>self.bucket_lists[c.queue]).append(b)
            c.bucket = b
            e.prio, e.seq, e.gen, e.call = -c.priority, c.seq, c.gen, <PyObject *>c
            Py_INCREF(c)
            b.push(e)
            if b.hcall is None or -c.priority < b.hprio or (
                    -c.priority == b.hprio and c.seq < b.hseq):
                b.hcall, b.hprio, b.hseq = c, -c.priority, c.seq
                self._queue_head(c.queue)

    cdef _queue_head(self, int q):
        """Recompute ``qhead[q]`` from the cached heads of the queue's buckets."""
        cdef Bucket b
        cdef Head h
        h.prio, h.seq, h.call, h.plain = LLONG_MAX, 0, NULL, True
        for b in <list>self.bucket_lists[q]:
            if b.hcall is None:
                continue
            if b.step != 0 or b.rank != -1 or b.practice:
                h.plain = False
            if b.hprio < h.prio or (b.hprio == h.prio and b.hseq < h.seq):
                h.prio, h.seq, h.call = b.hprio, b.hseq, <PyObject *>b.hcall
        self.qhead[q] = h

    cdef _refresh(self, Bucket b):
        """Drop dead entries off the top of ``b``'s heap and cache its live head."""
        cdef Call c
        cdef Entry e
        while b.n:
            c = <Call>b.arr[0].call
            if c.in_bucket and c.gen == b.arr[0].gen:
                b.hcall, b.hprio, b.hseq = c, b.arr[0].prio, b.arr[0].seq
                return
            e = b.pop()
            Py_XDECREF(e.call)
        b.hcall = None

    cdef _push_timer(self, double due, int kind, long long ident):
        heappush(self.timers, (due, kind, ident))

    cdef bint _timer_valid(self, tuple t):
        cdef int kind = t[1]
        if kind == K_OFFER:
            o = self.offers.get(t[2])
            return o is not None and (<Offer>o).expires_at == t[0]
        if kind == K_WRAP:
            return t[2] < len(self.agents) and (<Agent>self.agents[t[2]]).wrap_until == t[0]
        c = self.by_seq.get(t[2])
        return c is not None and (<Call>c).next_due == t[0]

    cdef tuple _earliest(self):
        while self.timers:
            t = self.timers[0]
            if self._timer_valid(t):
                return t
            heappop(self.timers)
        return None

    def next_deadline(self):
        t = self._earliest()
        return None if t is None else t[0]

    cdef _schedule(self, Call c):
        step_at, wait_at = self._step_times(c)
        due = min(step_at, wait_at) if c.agent is None else INF
        c.next_due = None if due == INF else due
        if c.next_due is not None:
            self._push_timer(due, K_CALL, c.seq)

    cdef tuple _step_times(self, Call c):
        qt = self.queues[c.queue]
        steps = qt[Q_STEPS]
        cdef double step_at = INF, wait_at = INF
        if c.step < len(steps):
            step_at = c.queue_entered_at + steps[c.step][0]
        if qt[Q_MAXWAIT] >= 0:
            wait_at = c.queue_entered_at + qt[Q_MAXWAIT]
        return step_at, wait_at

    # ---------------------------------------------------------------- state changes
    cdef _forget(self, Call c):
        if c.counted:
            self.qlen[c.queue] -= 1
            c.counted = False
        del self.calls[c.id]
        del self.by_seq[c.seq]
        self._bucket_sync(c)

    cdef _enter_queue(self, Call c, int q, double now):
        qt = self.queues[q]
        # A call entering its first queue entered it when it was enqueued (``waited`` ago).
        c.queue_entered_at = now if c.counted else c.enqueued_at
        if c.counted:
            self.qlen[c.queue] -= 1
        c.queue = q
        c.counted = True
        self.qlen[q] += 1
        c.step = 0
        c.priority = qt[Q_PRIO] + c.boost
        c.practice = False
        cdef double share = qt[Q_PRACTICE]
        cdef long long k
        if c.simple and share > 0:
            k = self.simple_count.get(qt[Q_ID], 0)
            self.simple_count[qt[Q_ID]] = k + 1
            c.practice = _floor((k + 1) * share) > _floor(k * share)
        self._schedule(c)
        self._bucket_sync(c)

    cdef long long _add_offer(self, Call c, Agent a, double expires_at):
        cdef long long rid = self.next_rid
        self.next_rid += 1
        cdef Offer o = Offer()
        o.call, o.agent, o.expires_at = c.id, a, expires_at
        self.offers[rid] = o
        c.offers.add(rid)
        a.offers.add(rid)
        self._push_timer(expires_at, K_OFFER, rid)
        self._sync(a)
        self._bucket_sync(c)
        return rid

    cdef _drop_offer(self, long long rid):
        cdef Offer o = self.offers.pop(rid)
        cdef Call c = self.calls[o.call]
        c.offers.discard(rid)
        o.agent.offers.discard(rid)
        self._sync(o.agent)
        self._bucket_sync(c)

    cdef _emit(self, str kind, tuple args):
        spec = self.makers.get(kind)
        if spec is None:
            self.out.append(self.f[kind](*args))
            return
        # a frozen slots dataclass, built as its __init__ would (object.__setattr__ per field)
        # without running that Python function
        cls, names = <tuple>spec
        obj = _object_new(cls)
        for name, value in zip(<tuple>names, args):
            PyObject_GenericSetAttr(obj, name, value)
        self.out.append(obj)

    # ---------------------------------------------------------------- command dispatch
    def handle(self, cmd, double now):
        """Run a command object (by its exact type); None for a type this core does not
        dispatch (the wrapper handles ReloadConfig and the rest)."""
        code = self.dispatch.get(type(cmd))
        if code is None:
            return None
        cdef int k = code
        if k == C_END:
            return self.end_call(cmd.call_id, now)
        if k == C_ACCEPT:
            return self.accept(cmd.call_id, cmd.agent_id, now)
        if k == C_ENQUEUE:
            return self.enqueue(cmd.call_id, cmd.queue_id, cmd.tier, cmd.caller_id, cmd.simple,
                                now, cmd.waited, cmd.ahead)
        if k == C_REJECT:
            return self.reject(cmd.call_id, cmd.agent_id, now)
        if k == C_ABANDON:
            return self.abandon(cmd.call_id, now)
        if k == C_LOGIN:
            return self.login(cmd.agent_id, cmd.ready, now)
        if k == C_LOGOUT:
            return self.logout(cmd.agent_id, now)
        if k == C_SET_STATE:
            return self.set_state(cmd.agent_id, cmd.state, cmd.reason, now)
        if k == C_LOST:
            return self.endpoint_lost(cmd.agent_id, now)
        if k == C_RESTORED:
            return self.endpoint_restored(cmd.agent_id, now)
        if k == C_SKILLS:
            return self.skills_changed(cmd.agent_id, cmd.skills, now)
        return self.finish_wrap(cmd.agent_id, now)

    # ---------------------------------------------------------------- commands
    cpdef list enqueue(self, str call_id, str queue_id, tier, caller_id, bint simple, double now,
                       double waited=0.0, bint ahead=False):
        self.out = []
        if not (0.0 <= waited < INFINITY):
            raise self.f["InvalidCommand"](
                f"waited must be a finite number of seconds >= 0, got {waited!r}")
        if call_id in self.calls:
            raise self.f["InvalidTransition"](f"call {call_id!r} is already enqueued")
        q = self.queue_pos.get(queue_id)
        if q is None:
            raise self.f["UnknownQueue"](f"unknown queue {queue_id!r}")
        if tier is not None and tier not in self.tiers:
            raise self.f["UnknownName"](f"unknown customer tier {tier!r}; expected one of "
                                        f"{sorted(self.tiers)}")
        cdef Call c = Call(call_id)
        c.tier, c.caller_id, c.simple = tier, caller_id, simple
        c.boost, c.req_rank = self.tiers[tier] if tier is not None else (0, -1)
        if ahead:  # below every ordinary sequence number: first among its priority
            c.seq = self.next_ahead
            self.next_ahead += 1
        else:
            c.seq = self.next_seq
            self.next_seq += 1
        c.enqueued_at = now - waited
        self.calls[call_id] = c
        self.by_seq[c.seq] = c
        self._admit(c, q, now, set())
        return self.out

    cdef _admit(self, Call c, int q, double now, set visited):
        qt = self.queues[q]
        visited.add(q)
        cdef int target
        if qt[Q_MAXSIZE] >= 0 and self.qlen[q] >= qt[Q_MAXSIZE]:
            target = qt[Q_OVERFLOW]
            if target == NO_TARGET or (target >= 0 and target in visited):
                self._emit("rejected", (c.id, qt[Q_ID], "queue_full"))
                self._forget(c)
                return
            self._emit("overflowed", (c.id, qt[Q_ID], self._target_name(target), "queue_full"))
            if target == TO_CALLBACK:
                self._forget(c)
            else:
                self._admit(c, target, now, visited)
            return
        self._enter_queue(c, q, now)
        self._route_call(c, now)
        if c.agent is None and not c.offers:
            length = self.qlen[q]
            self._emit("queued", (c.id, qt[Q_ID], length))
            self._emit("estimate", (c.id, qt[Q_ID],
                                    length * qt[Q_AHT] / max(1, self.serving[q])))

    cdef str _target_name(self, int target):
        return "callback" if target == TO_CALLBACK else self.queues[target][Q_ID]

    cpdef list accept(self, str call_id, str agent_id, double now):
        self.out = []
        cdef Call c = self._call(call_id)
        cdef Agent a = self._agent(agent_id)
        rid = self._offer_of(c, agent_id)
        # connect before dropping the offer: a's load and c's bucket stay as they are (no
        # index churn); the decisions are the same
        c.agent = a
        a.calls.append(c.id)
        self._drop_offer(rid)
        c.connected_at = now
        c.next_due = None
        a.calls_today += 1
        a.missed = 0
        self.serving[c.queue] += 1
        self.qlen[c.queue] -= 1
        c.counted = False
        self._sync(a)
        self._bucket_sync(c)
        self._emit("connected", (c.id, a.id, self.queues[c.queue][Q_ID], now - c.enqueued_at))
        freed = self._revoke_all(c, "answered_elsewhere")
        self._dispatch([], freed, now)
        return self.out

    cpdef list reject(self, str call_id, str agent_id, double now):
        self.out = []
        cdef Call c = self._call(call_id)
        rid = self._offer_of(c, agent_id)
        self._miss(c, rid, now, False)
        return self.out

    cpdef list end_call(self, str call_id, double now):
        self.out = []
        cdef Call c = self._call(call_id)
        if c.agent is None:
            raise self.f["InvalidTransition"](
                f"call {c.id!r} is not connected; send AbandonCall")
        cdef Agent a = c.agent
        qt = self.queues[c.queue]
        a.calls.remove(c.id)
        a.talk_time += now - c.connected_at
        self.serving[c.queue] -= 1
        if c.caller_id is not None:
            self.last_served[c.caller_id] = (a.id, now)
        self._forget(c)
        cdef double wrap = qt[Q_WRAP]
        if wrap > 0:
            a.wrap_until = max(a.wrap_until or 0.0, now + wrap)
            self._push_timer(a.wrap_until, K_WRAP, a.pos)
        else:
            a.idle_since = now
        # route the agent before indexing it as free: when it takes a call at once (the common
        # case) its skill buckets are not touched twice; _sync after leaves them exact
        if a.qmin is None:
            a.set_qmin(self._qmin(a))
        self._route_agent(a, now)
        self._sync(a)
        return self.out

    cpdef list abandon(self, str call_id, double now):
        self.out = []
        cdef Call c = self._call(call_id)
        if c.agent is not None:
            raise self.f["InvalidTransition"](
                f"call {c.id!r} is connected to {c.agent.id!r}; send EndCall instead")
        freed = self._revoke_all(c, "abandoned")
        self._forget(c)
        self._dispatch([], freed, now)
        return self.out

    cpdef list login(self, str agent_id, bint ready, double now):
        self.out = []
        cdef Agent a = self._agent(agent_id)
        if a.logged_in:
            raise self.f["InvalidTransition"](f"agent {a.id!r} is already logged in")
        a.logged_in, a.unreachable, a.wrap_until, a.missed = True, False, None, 0
        a.paused = not ready
        a.reason = "" if ready else "login"
        a.idle_since = now
        self._sync(a)
        self._dispatch([], [a.id], now)
        return self.out

    cpdef list logout(self, str agent_id, double now):
        self.out = []
        cdef Agent a = self._agent(agent_id)
        if not a.logged_in:
            raise self.f["InvalidTransition"](f"agent {a.id!r} is not logged in")
        if a.calls:
            raise self.f["InvalidTransition"](
                f"agent {a.id!r} is on call {a.calls[0]!r}; end the call before logging out")
        freed = self._revoke_agent(a, "agent_logged_out")
        a.logged_in = a.unreachable = a.paused = False
        a.reason, a.wrap_until = "", None
        self._sync(a)
        self._dispatch(freed, [], now)
        return self.out

    cpdef list set_state(self, str agent_id, str state, str reason, double now):
        self.out = []
        cdef Agent a = self._agent(agent_id)
        if state not in ("ready", "not_ready"):
            raise self.f["InvalidCommand"](
                f"agent state must be 'ready' or 'not_ready', not {state!r}")
        if not a.logged_in:
            raise self.f["InvalidTransition"](f"agent {a.id!r} is not logged in")
        if state == "not_ready":
            a.paused, a.reason = True, reason or "not_ready"
            self._sync(a)
            return self.out
        if a.paused or a.wrap_until is not None:
            a.idle_since = now
        a.paused, a.reason, a.wrap_until, a.missed = False, "", None, 0
        self._sync(a)
        self._dispatch([], [a.id], now)
        return self.out

    cpdef list endpoint_lost(self, str agent_id, double now):
        self.out = []
        cdef Agent a = self._agent(agent_id)
        if not a.logged_in or a.unreachable:
            raise self.f["InvalidTransition"](
                f"agent {a.id!r} is not logged in and reachable")
        freed = self._revoke_agent(a, "agent_unreachable")
        a.unreachable = True
        self._sync(a)
        self._dispatch(freed, [], now)
        return self.out

    cpdef list endpoint_restored(self, str agent_id, double now):
        self.out = []
        cdef Agent a = self._agent(agent_id)
        if not a.unreachable:
            raise self.f["InvalidTransition"](f"agent {a.id!r} is not unreachable")
        a.unreachable = False
        a.idle_since = now
        self._sync(a)
        self._dispatch([], [a.id], now)
        return self.out

    cpdef list skills_changed(self, str agent_id, skills, double now):
        self.out = []
        cdef Agent a = self._agent(agent_id)
        index = {name: i for i, name in enumerate(self.skills)}
        new = {}
        for name, level in skills:
            if name not in index:
                raise self.f["UnknownName"](f"unknown skill {name!r} for agent {a.id!r}")
            if not 1 <= level <= 10 or index[name] in new:
                raise self.f["InvalidCommand"](f"skill {name!r}: level {level} must be 1..10, once")
            new[index[name]] = level
        was = a.in_free
        if was:  # leave the skill buckets under the old skills
            a.logged_in = False
            self._sync(a)
            a.logged_in = True
        a.skills = new
        a.set_qmin(self._qmin(a))
        self._sync(a)
        self._dispatch([], [a.id], now)
        return self.out

    cpdef list finish_wrap(self, str agent_id, double now):
        self.out = []
        cdef Agent a = self._agent(agent_id)
        if a.wrap_until is None:
            raise self.f["InvalidTransition"](f"agent {a.id!r} is not in wrap-up")
        a.wrap_until = None
        a.idle_since = now
        self._sync(a)
        self._dispatch([], [a.id], now)
        return self.out

    def reload(self, dict cfg, double now):
        self.out = []
        cdef Agent a
        cdef Call c
        agents = {t[0] for t in cfg["agents"]}
        queues = {t[Q_ID] for t in cfg["queues"]}
        for a in self.agents:
            if a.id not in agents and (a.logged_in or a.calls or a.offers):
                raise self.f["InvalidTransition"](
                    f"reload drops agent {a.id!r}, who is logged in; log them out first")
        for c in self.calls.values():
            queue_id = self.queues[c.queue][Q_ID]
            if queue_id not in queues:
                raise self.f["InvalidTransition"](
                    f"reload drops queue {queue_id!r}, which holds call {c.id!r}")
            if c.tier is not None and c.tier not in cfg["tiers"]:
                raise self.f["InvalidTransition"](
                    f"reload drops customer tier {c.tier!r} used by call {c.id!r}")
        old_queue = {c.id: self.queues[c.queue][Q_ID] for c in self.calls.values()}
        self._configure(cfg)
        self.timers = []
        for a in self.agents:
            if a.wrap_until is not None:
                self._push_timer(a.wrap_until, K_WRAP, a.pos)
        for rid, o in self.offers.items():
            self._push_timer((<Offer>o).expires_at, K_OFFER, rid)
        for c in self.calls.values():
            q = self.queue_pos[old_queue[c.id]]
            qt = self.queues[q]
            c.queue = q
            c.boost, c.req_rank = self.tiers[c.tier] if c.tier is not None else (0, -1)
            c.priority = qt[Q_PRIO] + c.boost
            c.step = min(c.step, len(qt[Q_STEPS]))
            self._schedule(c)
            if c.agent is not None:
                self.serving[q] += 1
            else:
                self.qlen[q] += 1
            c.in_bucket = False
            self._bucket_sync(c)
        for a in self.agents:  # a smaller capacity sheds the newest offers first
            while a.offers and _load(a) > a.capacity:
                rid = max(a.offers)
                self._emit("revoked", ((<Offer>self.offers[rid]).call, a.id, rid,
                                       "capacity_reduced"))
                self._drop_offer(rid)
        freed = []
        for c in self.calls.values():  # only ring-all may keep several offers per call
            if self.queues[c.queue][Q_STRAT] != S_RING_ALL:
                for rid in sorted(c.offers)[1:]:
                    agent_id = (<Offer>self.offers[rid]).agent.id
                    freed.append(agent_id)
                    self._emit("revoked", (c.id, agent_id, rid, "strategy_changed"))
                    self._drop_offer(rid)
        waiting = sorted((c for c in self.calls.values()
                          if c.agent is None and not c.offers),
                         key=lambda c: (-c.priority, c.seq))
        self._dispatch([c.id for c in waiting], freed, now)
        return self.out

    # ---------------------------------------------------------------- offers lost
    cdef _miss(self, Call c, long long rid, double now, bint revoke):
        cdef Offer o = self.offers[rid]
        cdef Agent a = o.agent
        if revoke:
            self._emit("revoked", (c.id, a.id, rid, "expired"))
        self._drop_offer(rid)
        c.excluded.add(a.id)
        a.missed += 1
        if self.max_missed and a.missed >= self.max_missed:
            a.paused, a.reason = True, "missed_offers"
            self._sync(a)
            self._emit("auto_paused", (a.id, "missed_offers", a.missed))
        self._dispatch([c.id], [a.id], now)

    cdef list _revoke_all(self, Call c, str reason):
        freed = []
        for rid in sorted(c.offers):
            o = <Offer>self.offers[rid]
            self._emit("revoked", (c.id, o.agent.id, rid, reason))
            self._drop_offer(rid)
            freed.append(o.agent.id)
        return freed

    cdef list _revoke_agent(self, Agent a, str reason):
        calls = []
        for rid in sorted(a.offers):
            o = <Offer>self.offers[rid]
            self._emit("revoked", (o.call, a.id, rid, reason))
            self._drop_offer(rid)
            calls.append(o.call)
        return calls

    # ---------------------------------------------------------------- timers
    def tick(self, double now):
        self.out = []
        cdef int n
        for n in range(1000000):
            t = self._earliest()
            if t is None or t[0] > now:
                break
            heappop(self.timers)
            self._fire(t, now)
        return self.out

    cdef _fire(self, tuple t, double now):
        cdef int kind = t[1]
        cdef Agent a
        cdef Offer o
        if kind == K_OFFER:
            o = self.offers[t[2]]
            self._miss(self.calls[o.call], t[2], now, True)
        elif kind == K_WRAP:
            a = self.agents[t[2]]
            a.wrap_until = None
            a.idle_since = now
            self._sync(a)
            self._emit("wrap_ended", (a.id, self._state(a)))
            self._dispatch([], [a.id], now)
        else:
            self._call_step(self.by_seq[t[2]], now)

    cdef _call_step(self, Call c, double now):
        qt = self.queues[c.queue]
        step_at, wait_at = self._step_times(c)
        if step_at <= wait_at:
            st = qt[Q_STEPS][c.step]
            c.step += 1
            if st[3] != NO_TARGET:
                self._overflow(c, st[3], "widening", now)
                return
            self._schedule(c)
            self._bucket_sync(c)
            self._emit("widened", (c.id, qt[Q_ID], c.step))
            self._dispatch([c.id], [], now)
        elif qt[Q_OVERFLOW] != NO_TARGET:
            self._overflow(c, qt[Q_OVERFLOW], "max_wait", now)
        else:
            freed = self._revoke_all(c, "timed_out")
            self._emit("timed_out", (c.id, qt[Q_ID]))
            self._forget(c)
            self._dispatch([], freed, now)

    cdef _overflow(self, Call c, int target, str reason, double now):
        freed = self._revoke_all(c, "overflowed")
        self._emit("overflowed", (c.id, self.queues[c.queue][Q_ID], self._target_name(target),
                                  reason))
        if target == TO_CALLBACK:
            self._forget(c)
        else:
            self._admit(c, target, now, {c.queue})
        self._dispatch([], freed, now)

    # ---------------------------------------------------------------- matching
    cdef _dispatch(self, calls, agents, double now):
        cdef Call c
        for call_id in calls:
            c = self.calls.get(call_id)
            if c is not None and c.agent is None and not c.offers:
                self._route_call(c, now)
        for agent_id in agents:
            self._route_agent(self.agents[self.agent_pos[agent_id]], now)

    cdef tuple _key(self, Call c, Agent a):
        qt = self.queues[c.queue]
        cdef int strat = qt[Q_STRAT]
        cdef double m
        cdef int score
        if strat == S_LONGEST_IDLE:
            m = a.idle_since
        elif strat == S_FEWEST_CALLS:
            m = a.calls_today
        elif strat == S_LEAST_TALK:
            m = a.talk_time
        elif strat == S_ROUND_ROBIN:
            m = (a.pos - <int>self.q_last[c.queue] - 1) % len(self.agents)
            if m < 0:
                m += len(self.agents)
        elif strat == S_BEST_SKILL:
            score = 0
            for s in qt[Q_SKILLS]:
                score += a.skills.get(s, 0)
            m = -score
        elif strat == S_RANDOM:
            m = 0.0
        else:
            m = a.pos
        return (<double>_load(a), m, <double>a.pos)

    cdef bint _eligible(self, Agent a, Call c):
        if a.trainee and not c.practice:
            return False
        if c.req_rank >= 0 and a.tier_rank < c.req_rank:
            return False
        step = a.qmin.get(c.queue)
        if step is None or <int>step > c.step:
            return False
        return not (c.excluded and a.id in c.excluded)

    cdef unsigned long long _next_random(self):
        cdef unsigned long long z
        self.rng += 0x9E3779B97F4A7C15ULL
        z = self.rng
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
        return z ^ (z >> 31)

    cdef _route_call(self, Call c, double now):
        qt = self.queues[c.queue]
        cdef int strat = qt[Q_STRAT]
        cdef Agent a
        drv = qt[Q_DRIVER]
        if drv is None:
            pool = self.all_free
        elif len(drv) == 1:
            pool = self.free_by_skill[drv[0]]
        else:
            pool = set()
            for s in drv:
                pool |= self.free_by_skill[s]
        ranked = []
        for pos in pool:
            a = self.agents[pos]
            if self._eligible(a, c):
                ranked.append((self._key(c, a), pos))
        ranked.sort()
        rule = STRATEGY_NAMES[strat]
        chosen = []
        sticky = self._sticky(c, now)
        if not ranked:
            rule = "no_agent"
        elif sticky is not None and any(p == sticky for _, p in ranked):
            chosen, rule = [sticky], "sticky"
        elif c.practice and any((<Agent>self.agents[p]).trainee for _, p in ranked):
            chosen = [next(p for _, p in ranked if (<Agent>self.agents[p]).trainee)]
            rule = "practice"
        elif strat == S_RING_ALL:
            chosen = [p for _, p in ranked]
        elif strat == S_RANDOM:
            least = [p for k, p in ranked if k[0] == ranked[0][0][0]]
            chosen = [least[self._next_random() % <unsigned long long>len(least)]]
        else:
            chosen = [ranked[0][1]]
        c.explanation = (rule, tuple(chosen), ranked[:MAX_EXPLAINED], c.step, c.priority)
        for pos in chosen:
            self._offer(c, self.agents[pos], rule, now)

    cdef object _sticky(self, Call c, double now):
        if self.sticky_window <= 0 or c.caller_id is None:
            return None
        last = self.last_served.get(c.caller_id)
        if last is None:
            return None
        return self.agent_pos.get(last[0]) if now - last[1] <= self.sticky_window else None

    cdef _route_agent(self, Agent a, double now):
        """Offer ``a`` the best waiting call it may take: the smallest ``(-priority, seq)`` over
        the heads of the queues it serves."""
        cdef int n
        cdef Call best
        for n in range(a.capacity):
            if not _free(a):
                return
            best = self._best_call(a, True)
            if best is not None and best.excluded and a.id in best.excluded:
                best = self._best_call(a, False)  # the quick pass ignored exclusions
            if best is None:
                return
            best.explanation = ("agent_available", (a.pos,),
                                [(self._key(best, a), a.pos)], best.step, best.priority)
            self._offer(best, a, "agent_available", now)

    cdef Call _best_call(self, Agent a, bint quick):
        """The best call for ``a`` over its queues. ``qhead[q]`` bounds every call of ``q``, so
        most queues are skipped from that flat array without touching their buckets (which
        are scattered in memory). ``quick``: a plain queue's head is taken without checking
        that it excluded ``a`` (the caller checks the winner and else asks again, not quick).
        """
        cdef int i, q, minstep, rank = a.tier_rank
        cdef Call best = None, c
        cdef Bucket b
        cdef long long best_prio = 0, best_seq = 0
        cdef Head *h
        cdef bint trainee = a.trainee
        cdef list bucket_lists = self.bucket_lists
        for i in range(a.nq):
            q = a.qarr[i]
            h = &self.qhead[q]
            if h.prio == LLONG_MAX or (best is not None and (
                    h.prio > best_prio or (h.prio == best_prio and h.seq > best_seq))):
                continue
            minstep = a.qstep[i]
            if quick and h.plain and minstep == 0 and not trainee:
                best, best_prio, best_seq = <Call>h.call, h.prio, h.seq
                continue
            for b in <list>bucket_lists[q]:
                if (b.hcall is None or b.step < minstep or b.rank > rank
                        or (trainee and not b.practice)):
                    continue
                if best is not None and (b.hprio > best_prio or (
                        b.hprio == best_prio and b.hseq > best_seq)):
                    continue  # the head cannot beat the best, nor can the rest of b
                c = <Call>b.hcall
                if c.excluded and a.id in c.excluded:
                    c = self._top(b, a)
                    if c is None or (best is not None and (-c.priority > best_prio or (
                            -c.priority == best_prio and c.seq > best_seq))):
                        continue
                best, best_prio, best_seq = c, -c.priority, c.seq
        return best

    cdef Call _top(self, Bucket b, Agent a):
        """Best live call in ``b`` that ``a`` was not excluded from (lazy deletion)."""
        cdef Call c, found = None
        cdef Entry e
        cdef Py_ssize_t i, held_n = 0
        cdef Entry *held
        self._refresh(b)
        if b.hcall is None:
            return None
        c = <Call>b.hcall
        if not (c.excluded and a.id in c.excluded):
            return c
        # The head excluded this agent: look deeper, then put the live entries back.
        held = <Entry *>malloc(b.n * sizeof(Entry))
        if held == NULL:
            raise MemoryError()
        while b.n:
            e = b.pop()
            c = <Call>e.call
            if not (c.in_bucket and c.gen == e.gen):
                Py_XDECREF(e.call)
                continue
            held[held_n] = e
            held_n += 1
            if not (c.excluded and a.id in c.excluded):
                found = c
                break
        for i in range(held_n):
            b.push(held[i])
        free(held)
        return found

    cdef _offer(self, Call c, Agent a, str reason, double now):
        qt = self.queues[c.queue]
        cdef double expires = now + <double>qt[Q_TIMEOUT]
        rid = self._add_offer(c, a, expires)
        self.q_last[c.queue] = a.pos
        self._emit("offer", (c.id, a.id, rid, expires, reason))

    # ---------------------------------------------------------------- views
    cdef str _state(self, Agent a):
        if not a.logged_in:
            return "logged_out"
        if a.unreachable:
            return "unreachable"
        if a.calls:
            return "on_call"
        if a.offers:
            return "reserved"
        if a.wrap_until is not None:
            return "wrap_up"
        return "not_ready" if a.paused else "ready"

    def agent_view(self, str agent_id):
        cdef Agent a = self._agent(agent_id)
        state = self._state(a)
        return self.f["agent_view"](
            a.id, self.f["agent_state"](state), a.reason if state == "not_ready" else "",
            len(a.calls), len(a.offers), a.capacity, a.calls_today, a.talk_time, a.missed)

    def call_view(self, str call_id):
        cdef Call c = self.calls.get(call_id)
        if c is None:
            return None
        if c.agent is not None:
            state, agents = "connected", ((<Agent>c.agent).id,)
        else:
            state = "offered" if c.offers else "waiting"
            agents = tuple((<Offer>self.offers[r]).agent.id for r in sorted(c.offers))
        return self.f["call_view"](c.id, self.queues[c.queue][Q_ID],
                                   self.f["call_state"](state), c.enqueued_at, c.priority,
                                   c.step, agents)

    def queue_length(self, str queue_id):
        q = self.queue_pos.get(queue_id)
        if q is None:
            raise self.f["UnknownQueue"](f"unknown queue {queue_id!r}")
        return self.qlen[q]

    def explain(self, str call_id):
        cdef Call c = self._call(call_id)
        rule, chosen, ranked, step, prio = c.explanation
        cand = self.f["candidate"]
        return self.f["explanation"](
            c.id, self.queues[c.queue][Q_ID], step, prio, rule,
            tuple((<Agent>self.agents[p]).id for p in chosen),
            tuple(cand((<Agent>self.agents[p]).id, k) for k, p in ranked))


cdef inline long long _floor(double x):
    cdef long long i = <long long>x
    return i - 1 if i > x else i
