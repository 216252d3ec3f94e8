# Declarations of the compiled router core (see _router.pyx for the rules and docs/routing.md).

from cpython.ref cimport PyObject

cdef class Bucket

cdef struct Entry:
    long long prio                         # -priority
    long long seq                          # arrival sequence
    int gen                                # Call.gen when pushed: stale once it differs
    PyObject *call                         # a strong reference to the Call

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
    # qmin flattened for the hot loop of "agent became free": queue indexes and first steps
    cdef int *qarr
    cdef int *qstep
    cdef int nq
    cdef set_qmin(self, dict qmin)

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
    cdef public Bucket bucket              # the bucket it waits in (when in_bucket)
    cdef public tuple explanation          # (rule, chosen ids, ranked [(key, pos)], step, prio)

cdef class Bucket:
    # Waiting calls of one queue with one (step, required agent tier, practice) key: a heap of
    # (-priority, seq, gen) entries (C structs) with lazy deletion, whose live head is cached here (hcall is
    # None when the bucket is empty) so a free agent compares heads without touching the heap.
    cdef public int step, rank
    cdef public bint practice
    cdef Entry *arr                        # binary min-heap on (prio, seq, gen)
    cdef Py_ssize_t n, cap
    cdef public object hcall               # Call or None
    cdef long long hprio, hseq
    cdef int push(self, Entry e) except -1  # takes over e's reference
    cdef Entry pop(self)                    # hands the top's reference to the caller

cdef class Offer:
    cdef public str call
    cdef public Agent agent
    cdef public double expires_at

# Core (the router itself) is declared in _router.pyx: it is used from Python only.
