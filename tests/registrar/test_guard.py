"""Rate limiter and auth-failure ban, driven by a fake clock."""

from __future__ import annotations

import pytest

from switch.registrar.guard import AuthFailureBan, RateLimiter


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
    with pytest.raises(ValueError):
        AuthFailureBan(threshold=0, window=1, ban_seconds=1)


def test_ban_after_threshold_failures_within_window() -> None:
    ban = AuthFailureBan(threshold=3, window=10.0, ban_seconds=60.0)
    assert not ban.record_failure("x", 0.0)
    assert not ban.record_failure("x", 1.0)
    assert not ban.is_banned("x", 1.0)
    assert ban.record_failure("x", 2.0)  # newly banned
    assert ban.is_banned("x", 2.0) and ban.is_banned("x", 61.9)
    assert not ban.record_failure("x", 3.0)  # already banned: not "newly"
    assert ban.banned(30.0) == [("x", 62.0)]
    assert not ban.is_banned("x", 62.0)
    assert ban.banned(62.0) == []


def test_failures_outside_the_window_do_not_count() -> None:
    ban = AuthFailureBan(threshold=3, window=10.0, ban_seconds=60.0)
    assert not ban.record_failure("x", 0.0)
    assert not ban.record_failure("x", 5.0)
    assert not ban.record_failure("x", 10.0)  # the failure at 0.0 left the window
    assert ban.record_failure("x", 11.0)


def test_success_forgets_failures() -> None:
    ban = AuthFailureBan(threshold=2, window=10.0, ban_seconds=60.0)
    assert not ban.record_failure("x", 0.0)
    ban.record_success("x")
    assert not ban.record_failure("x", 1.0)
    assert ban.record_failure("x", 2.0)
    ban.record_success("x")  # does not lift an active ban
    assert ban.is_banned("x", 3.0)
    assert ban.lift("x") and not ban.is_banned("x", 3.0) and not ban.lift("x")


def test_ban_maps_are_bounded() -> None:
    ban = AuthFailureBan(threshold=2, window=10.0, ban_seconds=60.0, max_keys=2)
    for key in ("a", "b", "c"):
        assert not ban.record_failure(key, 0.0)
    assert not ban.record_failure("a", 1.0)  # "a" was evicted: its first failure again
    for i, key in enumerate(("p", "q", "r")):
        ban.record_failure(key, float(i))
        assert ban.record_failure(key, float(i))
    assert [k for k, _ in ban.banned(5.0)] == ["q", "r"]  # oldest ban evicted
