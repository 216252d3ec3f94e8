# Declarations of the compiled router core (see _router.pyx for the rules and docs/routing.md).

cdef class Agent:
    cdef public str id
    cdef public int pos, group, tier_rank, capacity, missed, calls_today
    cdef public bint trainee, logged_in, unreachable, paused, in_free
    cdef public str reason
    cdef public object wrap_until          # float or None
    cdef public dict skills                # skill index -> level
    cdef public object qmin                # dict queue index -> first eligible step, or None
    cdef public list calls                 # connected call ids, in order
    cdef public set offers                 # live reservation ids
    cdef public double idle_since, talk_time

cdef class Call:
    cdef public str id, caller_id, tier
    cdef public int queue, step, priority, req_rank, boost, gen, bq
    cdef public long long seq
    cdef public bint simple, practice, in_bucket, counted
    cdef public double enqueued_at, queue_entered_at, connected_at
    cdef public set offers
    cdef public object agent               # Agent or None
    cdef public set excluded               # agent ids
    cdef public object next_due            # float or None
    cdef public tuple bkey
    cdef public tuple explanation          # (rule, chosen ids, ranked [(key, pos)], step, prio)

cdef class Offer:
    cdef public str call
    cdef public Agent agent
    cdef public double expires_at

# Core (the router itself) is declared in _router.pyx: it is used from Python only.
