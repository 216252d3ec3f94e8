"""Guards against hostile sources: a per-source rate limiter and an auth-failure ban.

Both are pure (``now`` is an argument, seconds on any monotonic clock) and bounded in memory:
a flood from many addresses can only evict the least recently seen entries, never grow the
maps past ``max_keys``. The transport calls :meth:`RateLimiter.allow` and
:meth:`AuthFailureBan.is_banned` *before* parsing a datagram (issue 3, "hostile input"), so
they must be cheap: one dict lookup and a little arithmetic.

Trade-off of the bound: an evicted source starts again with a full bucket / no failures. With
the default 100,000 keys an attacker needs that many distinct source addresses to exploit it,
and bans are kept in their own map so a flood of new sources does not lift an existing ban
until more than ``max_keys`` bans are active at once.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable

__all__ = ["AuthFailureBan", "RateLimiter"]


class RateLimiter:
    """Token bucket per key: ``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate must be > 0, burst >= 1 and max_keys >= 1")
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        # key -> (tokens left, time of last refill); order = least recently seen first
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()
        self.refused = 0  # counter for metrics

    def allow(self, key: Hashable, now: float) -> bool:
        """Take one token for ``key``; False when its bucket is empty (drop the message)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            tokens = self.burst
            if len(self._buckets) >= self.max_keys:
                self._buckets.popitem(last=False)
        else:
            tokens, last = bucket
            # max(): a clock that steps back must not drain or overfill the bucket
            tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
            self._buckets.move_to_end(key)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return True
        self._buckets[key] = (tokens, now)
        self.refused += 1
        return False

    def __len__(self) -> int:
        return len(self._buckets)


class AuthFailureBan:
    """Ban a source after ``threshold`` auth failures within ``window`` seconds.

    The ban lasts ``ban_seconds`` from the failure that triggered it. Failures while banned
    do not extend it (the banned source is dropped before parsing, so none should arrive).
    """

    def __init__(self, threshold: int, window: float, ban_seconds: float,
                 max_keys: int = 100_000) -> None:
        if threshold < 1 or window <= 0 or ban_seconds <= 0 or max_keys < 1:
            raise ValueError("threshold >= 1, window > 0, ban_seconds > 0, max_keys >= 1")
        self.threshold = threshold
        self.window = window
        self.ban_seconds = ban_seconds
        self.max_keys = max_keys
        self._failures: OrderedDict[Hashable, deque[float]] = OrderedDict()
        # key -> ban end; with a fixed ban length, insertion order is expiry order
        self._bans: OrderedDict[Hashable, float] = OrderedDict()

    def record_failure(self, key: Hashable, now: float) -> bool:
        """Count one failure; True exactly when this failure starts a ban (log it)."""
        if self.is_banned(key, now):
            return False
        times = self._failures.get(key)
        if times is None:
            times = deque(maxlen=self.threshold)
            if len(self._failures) >= self.max_keys:
                self._failures.popitem(last=False)
            self._failures[key] = times
        else:
            self._failures.move_to_end(key)
        times.append(now)
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < self.threshold:
            return False
        del self._failures[key]
        if len(self._bans) >= self.max_keys:
            self._bans.popitem(last=False)  # the ban closest to its end goes first
        self._bans[key] = now + self.ban_seconds
        return True

    def is_banned(self, key: Hashable, now: float) -> bool:
        until = self._bans.get(key)
        if until is None:
            return False
        if now < until:
            return True
        del self._bans[key]
        return False

    def record_success(self, key: Hashable) -> None:
        """A source that authenticates forgets its failures (not an active ban)."""
        self._failures.pop(key, None)

    def banned(self, now: float) -> list[tuple[Hashable, float]]:
        """Active bans as ``(key, ends_at)``, soonest end first; expired ones are purged."""
        for key in [k for k, until in self._bans.items() if until <= now]:
            del self._bans[key]
        return sorted(self._bans.items(), key=lambda item: item[1])

    def lift(self, key: Hashable) -> bool:
        """Operator action: end a ban now. True if there was one."""
        self._failures.pop(key, None)
        return self._bans.pop(key, None) is not None
