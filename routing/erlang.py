"""Erlang B, Erlang C (M/M/n) and Erlang A (M/M/n+M, Palm) queue formulas, and staffing.

Theory of operation. Calls arrive as a Poisson stream of ``rate`` per second; handle times are
exponential with mean ``aht`` seconds; ``n`` identical agents serve one queue first come, first
served. The offered load is ``A = rate * aht`` Erlangs.

* **Erlang B** (blocked calls cleared) is computed by the recurrence
  ``1/B(k) = 1 + (k/A) / B(k-1)`` kept in log space, so ``n`` of 10^5 neither overflows a
  factorial nor underflows.
* **Erlang C** (everyone waits): ``C = n B / (n - A (1 - B))``; waits are exponential with rate
  ``(n - A)/aht`` given a wait, so ``ASA = C aht / (n - A)`` and
  ``P(W <= t) = 1 - C exp(-(n - A) t / aht)``.
* **Erlang A** (callers abandon after an exponential patience of mean ``patience``, rate θ):
  the number in system is a birth–death chain with death rate ``k μ`` below ``n`` and
  ``n μ + j θ`` with ``j`` callers waiting. Relative to state ``n`` the waiting states weigh
  ``w_j = prod_{i=1..j} λ / (n μ + i θ)`` and the states below ``n`` weigh ``1/B - 1``, so every
  quantity is a sum over ``j`` done in log space (the terms first grow when ``n < A``).
  A caller arriving to find ``j`` waiting (PASTA) reaches an agent after a *virtual wait*
  ``V = sum_{k=1..j+1} Exp(n μ + (k-1) θ)`` (the ``k-1`` callers ahead may abandon) and is served
  iff ``V`` beats its own patience. Tilting by ``exp(-θ V)`` gives, exactly:
  ``P(served | j) = n μ / (n μ + (j+1) θ)``,
  ``E[W; served | j] = P(served | j) * sum_{k=1..j+1} 1 / (n μ + k θ)``, and
  ``P(served within t | j) = P(served | j) * (1 - I_x(n μ/θ + 1, j + 1))`` with ``x = e^{-θ t}``:
  a sum of exponentials with rates ``θ (c + k)``, ``k = 1..m``, is ``-ln Beta(c+1, m) / θ``, and
  for an integer ``m`` the regularized incomplete beta ``I_x(a, m)`` is a finite sum.

Definitions used everywhere (and by the simulator): *service level* is the share of **offered**
calls answered within ``t`` (an abandoned call never counts as answered in time); *ASA* is the
mean wait of **answered** calls; *mean wait* is over all calls (abandoned ones wait until they
hang up), so ``P(abandon) = θ * mean_wait`` (Little's law on the queue); *occupancy* is the
busy share of agent time, ``rate (1 - P(abandon)) aht / n``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "QueueMetrics", "StaffingError", "StaffingResult", "erlang_a", "erlang_b", "erlang_c",
    "erlang_c_metrics", "offered_load", "staffing",
]

_NEG_INF = float("-inf")
# Waiting-state terms more than e^-60 below the largest are dropped (relative error < 1e-26).
_TAIL_LOG_CUTOFF = 60.0
_MAX_TERMS = 5_000_000


class StaffingError(ValueError):
    """The inputs are invalid or the target cannot be met; the message says which and why."""


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    """Steady-state performance of one queue served by ``agents`` agents."""

    agents: int
    offered_load: float  # Erlangs: arrival rate x mean handle time
    p_wait: float  # an arriving call finds every agent busy
    p_abandon: float  # 0 under Erlang C
    asa: float  # mean wait of answered calls, seconds
    mean_wait: float  # mean wait of all calls (abandoned ones until they hang up), seconds
    service_level: float  # share of offered calls answered within target_seconds
    target_seconds: float
    occupancy: float  # busy share of agent time


def _logaddexp(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    hi, lo = (a, b) if a >= b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


def _check(agents: int, load: float) -> None:
    if not isinstance(agents, int) or agents < 1:
        raise ValueError(f"agents must be a positive integer, got {agents!r}")
    if not load > 0 or math.isinf(load):
        raise ValueError(f"offered load must be a positive finite number of Erlangs, got {load!r}")


def _log_inverse_erlang_b(agents: int, load: float) -> float:
    """``ln(1/B(agents, load))`` by the recurrence ``1/B(k) = 1 + (k/A)/B(k-1)``, ``1/B(0) = 1``."""
    log_inv = 0.0
    log_load = math.log(load)
    for k in range(1, agents + 1):
        log_inv = _logaddexp(0.0, log_inv + math.log(k) - log_load)
    return log_inv


def offered_load(calls_per_hour: float, aht: float) -> float:
    """Erlangs offered by ``calls_per_hour`` calls of mean handle time ``aht`` seconds."""
    return calls_per_hour * aht / 3600.0


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of an M/M/n/n loss system (Erlang's first formula)."""
    _check(agents, load)
    return math.exp(-_log_inverse_erlang_b(agents, load))


def erlang_c(agents: int, load: float) -> float:
    """Probability that a call waits in M/M/n (Erlang's second formula); 1 when ``load >= n``."""
    _check(agents, load)
    if load >= agents:
        return 1.0
    b = erlang_b(agents, load)
    return agents * b / (agents - load * (1.0 - b))


def erlang_c_metrics(agents: int, rate: float, aht: float, target_seconds: float) -> QueueMetrics:
    """Erlang C: callers never abandon. ``rate`` is calls per second, ``aht`` seconds."""
    _positive(rate=rate, aht=aht)
    if target_seconds < 0:
        raise ValueError(f"target_seconds must be >= 0, got {target_seconds}")
    load = rate * aht
    p_wait = erlang_c(agents, load)
    if load >= agents:  # unstable: the queue grows without bound
        return QueueMetrics(agents, load, 1.0, 0.0, math.inf, math.inf, 0.0, target_seconds, 1.0)
    asa = p_wait * aht / (agents - load)
    sl = 1.0 - p_wait * math.exp(-(agents - load) * target_seconds / aht)
    return QueueMetrics(agents, load, p_wait, 0.0, asa, asa, sl, target_seconds, load / agents)


def erlang_a(agents: int, rate: float, aht: float, patience: float,
             target_seconds: float) -> QueueMetrics:
    """Erlang A (Palm's M/M/n+M): exponential patience of mean ``patience`` seconds.

    Stable for any ``agents``, including fewer than the offered load (abandonment drains the
    queue). Sums run over waiting states in log space until the terms are negligible.
    """
    _positive(rate=rate, aht=aht, patience=patience)
    if target_seconds < 0:
        raise ValueError(f"target_seconds must be >= 0, got {target_seconds}")
    load = rate * aht
    _check(agents, load)
    mu, theta = 1.0 / aht, 1.0 / patience
    n_mu = agents * mu
    log_rate = math.log(rate)
    # Weight of the states below n, relative to state n: 1/B - 1 (log of it).
    log_inv_b = _log_inverse_erlang_b(agents, load)
    log_below = log_inv_b + math.log(-math.expm1(-log_inv_b))
    # Incomplete beta I_x(a, m) = x^a sum_{k<m} u_k, u_k = (a)_k / k! (1-x)^k, a = n mu/theta + 1.
    a = n_mu / theta + 1.0
    log_one_minus_x = math.log(-math.expm1(-theta * target_seconds)) if target_seconds > 0 \
        else _NEG_INF
    log_x_pow_a = -theta * target_seconds * a
    log_u = 0.0  # log u_0
    log_u_sum = 0.0  # log sum_{k<m} u_k for m = j + 1

    log_w = 0.0  # log w_0 (state n itself)
    log_peak = 0.0
    log_sum_w = _NEG_INF  # P(wait) numerator: sum_j w_j
    log_sum_jw = _NEG_INF  # queue length: sum_j j w_j
    log_served_wait = _NEG_INF  # sum_j w_j E[W; served | j]
    log_served_late = _NEG_INF  # sum_j w_j P(served, W > t | j)
    harmonic = 0.0  # sum_{k=1..j+1} 1/(n mu + k theta)
    j = 0
    while True:
        served_rate = n_mu + (j + 1) * theta
        log_p_served = math.log(n_mu) - math.log(served_rate)
        harmonic += 1.0 / served_rate
        log_sum_w = _logaddexp(log_sum_w, log_w)
        if j > 0:
            log_sum_jw = _logaddexp(log_sum_jw, log_w + math.log(j))
        log_served_wait = _logaddexp(log_served_wait, log_w + log_p_served + math.log(harmonic))
        if target_seconds > 0:
            log_incomplete = min(0.0, log_x_pow_a + log_u_sum)
            log_served_late = _logaddexp(log_served_late, log_w + log_p_served + log_incomplete)
            log_u += math.log((a + j) / (j + 1)) + log_one_minus_x
            log_u_sum = _logaddexp(log_u_sum, log_u)
        else:
            log_served_late = _logaddexp(log_served_late, log_w + log_p_served)
        j += 1
        log_w += log_rate - math.log(n_mu + j * theta)
        log_peak = max(log_peak, log_w)
        decaying = rate < n_mu + j * theta
        if decaying and log_w < log_peak - _TAIL_LOG_CUTOFF:
            break
        if j >= _MAX_TERMS:
            raise ValueError("Erlang A sum did not converge: patience too long for this load; "
                             "use Erlang C (no patience)")
    log_norm = _logaddexp(log_below, log_sum_w)
    p_wait = math.exp(log_sum_w - log_norm)
    mean_queue = math.exp(log_sum_jw - log_norm) if log_sum_jw > _NEG_INF else 0.0
    p_abandon = min(1.0, theta * mean_queue / rate)
    p_answered = 1.0 - p_abandon
    served_wait = math.exp(log_served_wait - log_norm)
    asa = served_wait / p_answered if p_answered > 0 else math.inf
    late = math.exp(log_served_late - log_norm)
    # Answered within t = answered - answered after t; those who never wait are answered at 0.
    sl = max(0.0, min(1.0, p_answered - late))
    occupancy = min(1.0, rate * p_answered * aht / agents)
    return QueueMetrics(agents, load, p_wait, p_abandon, asa, mean_queue / rate, sl,
                        target_seconds, occupancy)


def _positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0 or math.isinf(value):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def metrics(agents: int, rate: float, aht: float, target_seconds: float,
            patience: float | None = None) -> QueueMetrics:
    """Erlang C when ``patience`` is None, else Erlang A."""
    if patience is None:
        return erlang_c_metrics(agents, rate, aht, target_seconds)
    return erlang_a(agents, rate, aht, patience, target_seconds)


@dataclass(frozen=True, slots=True)
class StaffingResult:
    """Agents needed on the phones (``agents``) and to schedule after shrinkage."""

    model: str  # "erlang_c" or "erlang_a"
    calls_per_hour: float
    aht: float
    target_level: float  # fraction, e.g. 0.8
    target_seconds: float
    patience: float | None
    shrinkage: float
    agents: int
    scheduled: int
    metrics: QueueMetrics


def staffing(calls_per_hour: float, aht: float, target_level: float, target_seconds: float, *,
             patience: float | None = None, shrinkage: float = 0.0,
             max_agents: int | None = None) -> StaffingResult:
    """The fewest agents whose service level reaches ``target_level`` within ``target_seconds``.

    The service level grows with the number of agents, so the answer is found by galloping then
    bisection. ``scheduled = ceil(agents / (1 - shrinkage))``. Raises :class:`StaffingError`
    when an input is out of range or the target cannot be met within ``max_agents``.
    """
    if not calls_per_hour > 0 or math.isinf(calls_per_hour):
        raise StaffingError(f"calls per hour must be a positive number, got {calls_per_hour}")
    if not aht > 0 or math.isinf(aht):
        raise StaffingError(f"average handle time must be a positive number of seconds, got {aht}")
    if not 0 < target_level < 1:
        raise StaffingError(
            f"service level target must be above 0 % and below 100 %, got {target_level * 100:g} %"
            + ("; 100 % is never guaranteed with random arrivals" if target_level >= 1 else ""))
    if not target_seconds >= 0 or math.isinf(target_seconds):
        raise StaffingError(f"service level seconds must be >= 0, got {target_seconds}")
    if patience is not None and (not patience > 0 or math.isinf(patience)):
        raise StaffingError(f"patience must be a positive number of seconds, got {patience}")
    if not 0 <= shrinkage < 1:
        raise StaffingError(f"shrinkage must be in [0, 1), got {shrinkage}")
    rate = calls_per_hour / 3600.0
    load = rate * aht
    limit = max_agents if max_agents is not None else int(load + 40 * math.sqrt(load) + 200)

    def meets(n: int) -> bool:
        return metrics(n, rate, aht, target_seconds, patience).service_level >= target_level

    low = math.floor(load) if patience is None else 0  # known not to meet (or 0)
    if low >= 1 and meets(low):  # only possible with patience; kept for safety
        low = 0
    step, high = 1, low + 1
    while not meets(high):
        low = high
        if high >= limit:
            raise StaffingError(
                f"service level {target_level * 100:g} % within {target_seconds:g} s cannot be "
                f"reached with up to {limit} agents for {calls_per_hour:g} calls/h of "
                f"{aht:g} s" + (f" and {patience:g} s patience" if patience else "")
                + "; lower the target or raise --max-agents")
        step *= 2
        high = min(limit, low + step)
    while high - low > 1:
        mid = (low + high) // 2
        if meets(mid):
            high = mid
        else:
            low = mid
    result = metrics(high, rate, aht, target_seconds, patience)
    scheduled = math.ceil(round(high / (1.0 - shrinkage), 9))
    return StaffingResult("erlang_c" if patience is None else "erlang_a", calls_per_hour, aht,
                          target_level, target_seconds, patience, shrinkage, high, scheduled,
                          result)
