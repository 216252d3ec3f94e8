"""Rate limiter, driven by a fake clock (bans: test_bans.py)."""

from __future__ import annotations

import pytest

from switch.registrar.guard import RateLimiter


def test_burst_then_refill_at_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.allow("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert not limiter.allow("a", 0.4)  # 0.8 tokens: not yet
    assert limiter.allow("a", 0.5)  # one token back after 0.5 s at 2/s
    assert not limiter.allow("a", 0.5)
    assert [limiter.allow("a", 100.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.refused == 4


def test_sources_are_independent() -> None:
    limiter = RateLimiter(rate=1.0, burst=1)
    assert limiter.allow("a", 0.0) and not limiter.allow("a", 0.0)
    assert limiter.allow("b", 0.0)


def test_clock_stepping_back_neither_drains_nor_fills() -> None:
    limiter = RateLimiter(rate=1.0, burst=2)
    assert limiter.allow("a", 10.0) and limiter.allow("a", 10.0)
    assert not limiter.allow("a", 5.0)
    assert not limiter.allow("a", 5.5)  # 0.5 s after the step back: still below one token
    assert limiter.allow("a", 6.0)


def test_memory_is_bounded_with_lru_eviction() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_keys=3)
    for key in ("a", "b", "c"):
        assert limiter.allow(key, 0.0)
    assert not limiter.allow("a", 0.0)  # "a" becomes most recently seen
    assert limiter.allow("d", 0.0)  # evicts "b", the least recently seen
    assert len(limiter) == 3
    assert not limiter.allow("a", 0.0)  # "a" kept its empty bucket
    assert limiter.allow("b", 0.0)  # "b" was forgotten: full bucket again


def test_bad_limiter_config_is_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate=0, burst=1)
