"""Confidence intervals over independent replications (Student's t, two-sided).

Each replication of a scenario runs with its own seed, so its KPIs are independent and
identically distributed; their mean has the usual t interval
``mean ± t_{1-α/2, R-1} · s / √R``. No batch-means correction is needed, and warm-up keeps the
empty-and-idle start out of the numbers. A what-if comparison of two configs on the *same*
arrivals uses the paired differences (common random numbers), whose interval is far narrower
than the two separate ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Estimate", "estimate", "t_central", "t_quantile"]


def t_central(x: float, dof: int) -> float:
    """``P(|T| <= x)`` for Student's t with an integer ``dof`` (Abramowitz & Stegun 26.7.3-4).

    With ``θ = atan(x / √dof)`` the probability is a finite series in ``cos² θ``; odd and even
    degrees of freedom have different series.
    """
    theta = math.atan2(x, math.sqrt(dof))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if dof % 2 == 0:
        term, total = 1.0, 1.0
        for k in range(2, dof, 2):  # (1·3···(k-1)) / (2·4···k) cos^k θ
            term *= c2 * (k - 1) / k
            total += term
        return s * total
    if dof == 1:
        return 2 * theta / math.pi
    term = math.cos(theta)
    total = term
    for k in range(3, dof, 2):  # (2·4···(k-1)) / (1·3···k) cos^k θ
        term *= c2 * (k - 1) / k
        total += term
    return 2 / math.pi * (theta + s * total)


def t_quantile(level: float, dof: int) -> float:
    """The ``x`` with ``P(|T| <= x) = level`` (e.g. 2.262 for 95 % and 9 dof), by bisection."""
    if not 0 < level < 1 or dof < 1:
        raise ValueError(f"need 0 < level < 1 and dof >= 1, got {level}, {dof}")
    low, high = 0.0, 1.0
    while t_central(high, dof) < level:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if t_central(mid, dof) < level:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * high:
            break
    return (low + high) / 2


@dataclass(frozen=True, slots=True)
class Estimate:
    """A replication mean and the half-width of its confidence interval (NaN with one run)."""

    mean: float
    half_width: float
    n: int
    level: float = 0.95

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def format(self, scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
        if math.isnan(self.mean):
            return "n/a"
        text = f"{self.mean * scale:.{digits}f}"
        if not math.isnan(self.half_width):
            text += f" ± {self.half_width * scale:.{digits}f}"
        return text + unit


def estimate(values: Sequence[float], level: float = 0.95) -> Estimate:
    """Mean and t half-width of ``values``; NaN values (a KPI undefined in a run) are dropped."""
    xs = [v for v in values if not math.isnan(v)]
    n = len(xs)
    if n == 0:
        return Estimate(math.nan, math.nan, 0, level)
    mean = math.fsum(xs) / n
    if n == 1:
        return Estimate(mean, math.nan, 1, level)
    var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1)
    return Estimate(mean, t_quantile(level, n - 1) * math.sqrt(var / n), n, level)
