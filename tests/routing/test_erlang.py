"""Erlang B, C and A checked against published values and independent computations.

Independent means: not the recurrences of routing/erlang.py. Erlang B/C are compared with exact
rational arithmetic on the textbook factorial formulas, and with a published Erlang B table
entry; Erlang A with the stationary distribution of the birth–death chain solved as a linear
system (numpy), and its service level and ASA with the transient solution of the tagged
caller's absorbing chain (uniformization).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from routing.erlang import erlang_a, erlang_b, erlang_c, erlang_c_metrics
from routing.estimates import estimate, t_quantile


def _factorial_erlang_b(n: int, load: Fraction) -> Fraction:
    terms = [load**k / math.factorial(k) for k in range(n + 1)]
    return terms[n] / sum(terms)


def _factorial_erlang_c(n: int, load: Fraction) -> Fraction:
    top = load**n / math.factorial(n) * n / (n - load)
    return top / (sum(load**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(("n", "load"), [(1, "0.5"), (2, "1"), (7, "3.25"), (15, "8.108"),
                                         (30, "24.5"), (60, "59.9")])
def test_erlang_b_and_c_equal_the_factorial_formulas_exactly_computed(n: int, load: str) -> None:
    exact = Fraction(load)
    assert erlang_b(n, float(exact)) == pytest.approx(float(_factorial_erlang_b(n, exact)),
                                                      rel=1e-12)
    assert erlang_c(n, float(exact)) == pytest.approx(float(_factorial_erlang_c(n, exact)),
                                                      rel=1e-12)


def test_erlang_b_reproduces_a_published_table_entry() -> None:
    """erlang.com calculator manual, "How much traffic can a trunk group handle": 15 lines at
    1 % blocking carry 8.108 Erlangs (http://www.erlang.com/calculatormanual/
    howmuchtrafficcanatrunkgrouphandle.htm)."""
    low, high = 1.0, 15.0
    for _ in range(100):  # B grows with the load: bisect for B = 1 %
        mid = (low + high) / 2
        low, high = (mid, high) if erlang_b(15, mid) < 0.01 else (low, mid)
    assert round(low, 3) == 8.108


def test_erlang_c_published_worked_example() -> None:
    """Call Centre Helper's worked example (100 calls per 30 min, AHT 180 s: 10 Erlangs) with
    14 agents: P(wait) 0.1741319335950498, service level (20 s) 0.8883500191794669, occupancy
    0.7142857 as printed in the pyworkforce README (github.com/rodrigo-arenas/pyworkforce)."""
    m = erlang_c_metrics(14, 200 / 3600, 180.0, 20.0)
    assert m.p_wait == pytest.approx(0.1741319335950498, rel=1e-9)
    assert m.service_level == pytest.approx(0.8883500191794669, rel=1e-9)
    assert m.occupancy == pytest.approx(0.7142857142857143, rel=1e-12)
    # ASA = C * AHT / (N - A) by hand: 0.17413 * 180 / 4
    assert m.asa == pytest.approx(0.1741319335950498 * 180 / 4, rel=1e-9)


def test_large_systems_are_stable_and_match_a_log_space_direct_sum() -> None:
    for n, load in [(2_000, 1_950.0), (20_000, 19_900.0)]:
        log_terms = [k * math.log(load) - math.lgamma(k + 1) for k in range(n + 1)]
        top = max(log_terms)
        direct_b = math.exp(log_terms[n] - top) / math.fsum(math.exp(x - top) for x in log_terms)
        assert erlang_b(n, load) == pytest.approx(direct_b, rel=1e-9)
        c = erlang_c(n, load)
        assert 0 < c < 1
        assert c == pytest.approx(n * direct_b / (n - load * (1 - direct_b)), rel=1e-9)


def test_erlang_c_is_one_when_overloaded_and_rejects_bad_input() -> None:
    assert erlang_c(5, 5.0) == 1.0
    m = erlang_c_metrics(5, 6.0, 1.0, 10.0)
    assert m.p_wait == 1.0 and m.service_level == 0.0 and math.isinf(m.asa)
    with pytest.raises(ValueError, match="agents"):
        erlang_b(0, 1.0)
    with pytest.raises(ValueError, match="offered load"):
        erlang_c(3, -1.0)
    with pytest.raises(ValueError, match="patience"):
        erlang_a(3, 1.0, 1.0, 0.0, 1.0)


# -- Erlang A against the birth–death chain ---------------------------------------------------
def _chain_stationary(n: int, rate: float, mu: float, theta: float, states: int) -> np.ndarray:
    """Solve pi Q = 0, sum pi = 1 for the truncated M/M/n+M chain as a dense linear system."""
    q = np.zeros((states, states))
    for k in range(states):
        if k + 1 < states:
            q[k, k + 1] = rate
        if k > 0:
            q[k, k - 1] = min(k, n) * mu + max(0, k - n) * theta
        q[k, k] = -q[k].sum()
    a = np.vstack([q.T[:-1], np.ones(states)])
    b = np.zeros(states)
    b[-1] = 1.0
    return np.linalg.solve(a, b)


def _tagged_served_by(n: int, mu: float, theta: float, start: np.ndarray,
                      times: np.ndarray) -> np.ndarray:
    """P(served by t) for a caller starting at queue position i (weights ``start[i-1]``).

    The tagged caller at position k moves to k-1 at rate n mu + (k-1) theta (an agent frees up
    or someone ahead hangs up), is served from position 1 at rate n mu, and abandons at rate
    theta. Solved by uniformization: sum over Poisson(L t) jumps of a stochastic matrix.
    """
    positions = len(start)
    served, gone = positions, positions + 1
    size = positions + 2
    gen = np.zeros((size, size))
    for k in range(1, positions + 1):
        i = k - 1
        gen[i, i - 1 if k > 1 else served] = n * mu + (k - 1) * theta
        gen[i, gone] = theta
        gen[i, i] = -gen[i].sum()
    big = max(-gen.diagonal())
    step = np.eye(size) + gen / big
    p = np.zeros(size)
    p[:positions] = start
    out = np.zeros(len(times))
    jumps = int(big * times.max() + 12 * math.sqrt(big * times.max()) + 50)
    vec = p.copy()
    for m in range(jumps + 1):
        if m > 0:
            vec = vec @ step
        log_poisson = -big * times + m * np.log(big * times) - math.lgamma(m + 1)
        out += np.exp(log_poisson) * vec[served]
    return out


ERLANG_A_CASES = [  # agents, calls/s, AHT s, patience s, SL seconds
    (3, 1 / 60, 120.0, 60.0, 20.0),
    (10, 10 / 180, 180.0, 300.0, 20.0),
    (13, 100 / 1800, 180.0, 300.0, 20.0),
    (8, 12 / 60, 60.0, 30.0, 10.0),  # overloaded: 12 Erlangs on 8 agents
    (40, 38 / 240, 240.0, 120.0, 30.0),
]


@pytest.mark.parametrize(("n", "rate", "aht", "patience", "t"), ERLANG_A_CASES)
def test_erlang_a_equals_the_solved_birth_death_chain(n: int, rate: float, aht: float,
                                                      patience: float, t: float) -> None:
    mu, theta = 1 / aht, 1 / patience
    states = n + 400
    pi = _chain_stationary(n, rate, mu, theta, states)
    assert abs(pi[-1]) < 1e-15  # the truncation is far out in the tail (solver noise only)
    waiting = np.arange(states) - n
    p_wait = pi[n:].sum()
    p_abandon = theta * (pi[n:] * waiting[n:]).sum() / rate
    m = erlang_a(n, rate, aht, patience, t)
    assert m.p_wait == pytest.approx(p_wait, rel=1e-8)
    assert m.p_abandon == pytest.approx(p_abandon, rel=1e-8)
    assert m.occupancy == pytest.approx((np.minimum(np.arange(states), n) * pi).sum() / n,
                                        rel=1e-8)

    # Service level and ASA from the tagged caller's chain (PASTA: it sees pi).
    start = pi[n:n + 120]
    grid = np.linspace(1e-9, 40 * aht / n + 20 * patience, 4001)
    served_by = _tagged_served_by(n, mu, theta, start, np.concatenate([[t], grid]))
    assert m.service_level == pytest.approx(pi[:n].sum() + served_by[0], rel=1e-7)
    served_total = served_by[-1]
    assert m.p_abandon == pytest.approx(p_wait - served_total, rel=1e-6)
    # E[W; served] = integral of P(served eventually) - P(served by s), trapezoid rule.
    gap = served_total - served_by[1:]
    served_wait = float(np.sum((gap[1:] + gap[:-1]) / 2 * np.diff(grid)))
    assert m.asa == pytest.approx(served_wait / (1 - p_abandon), rel=2e-3)


def test_erlang_a_tends_to_erlang_c_as_patience_grows() -> None:
    c = erlang_c_metrics(14, 200 / 3600, 180.0, 20.0)
    a = erlang_a(14, 200 / 3600, 180.0, 1e8, 20.0)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-5)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-5)
    assert a.asa == pytest.approx(c.asa, rel=1e-5)
    assert a.p_abandon < 1e-6


def test_erlang_a_is_stable_for_large_overloaded_systems() -> None:
    m = erlang_a(5_000, 6_000 / 100, 100.0, 30.0, 20.0)  # 6,000 Erlangs on 5,000 agents
    assert 0.16 < m.p_abandon < 0.17  # fluid limit: (6000 - 5000) / 6000 = 0.1667
    assert m.p_wait > 0.99 and 0 < m.occupancy <= 1


# -- t quantiles for the simulator's confidence intervals --------------------------------------
@pytest.mark.parametrize(("dof", "published"), [(1, 12.706), (2, 4.303), (4, 2.776),
                                                (9, 2.262), (19, 2.093), (29, 2.045),
                                                (120, 1.980)])
def test_t_quantiles_match_the_printed_table(dof: int, published: float) -> None:
    """Two-sided 95 % Student t critical values as printed in any statistics table."""
    assert round(t_quantile(0.95, dof), 3) == published


def test_estimate_is_a_t_interval() -> None:
    e = estimate([1.0, 2.0, 3.0, 4.0, 5.0])
    assert e.mean == 3.0
    assert e.half_width == pytest.approx(2.776445 * math.sqrt(2.5 / 5), rel=1e-6)
    assert e.contains(4.9) and not e.contains(5.0)
    assert math.isnan(estimate([1.0]).half_width)
