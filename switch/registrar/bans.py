"""Who may not try to authenticate for a while: bans that stop crackers, not neighbours.

Digest failures are counted per **(source address, username)**, because one softphone with a
wrong password (baresip retries 11 times in 4 s) is one account's problem: blocking the whole
address would cut off every other phone behind the same NAT. So:

- ``user_threshold`` failures of one username from one source within ``window`` seconds block
  that *pair* for ``duration`` seconds: a password cracker is stopped within that many guesses,
  while other accounts at the same address keep working;
- a source is banned *outright* only when it behaves like a scanner: failures for
  ``max_users`` different usernames, or ``source_threshold`` failures in all (far beyond one
  phone's retries), within ``window``. Its packets are then dropped before parsing;
- sources for which ``exempt(host)`` is true (trusted trunks, the operator's allow-list) are
  never blocked or banned; their failures are still logged.

Unknown users and wrong passwords count the same, so the answers (and the blocking) stay
identical and the registrar is no oracle for account names.

Pure: ``now`` is an argument (any clock, as long as it is the same one throughout). Memory is
bounded: at most ``max_keys`` sources are tracked (least recently seen evicted) and at most
``max_keys`` bans held (the one closest to its end evicted first).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Ban", "BanEnded", "BanStarted", "Bans"]


@dataclass(frozen=True, slots=True)
class Ban:
    """One active ban. ``username`` None means the whole source address."""

    source: str
    username: str | None
    reason: str
    started_at: float
    until: float

    @property
    def scope(self) -> str:
        return "address" if self.username is None else "user"


@dataclass(frozen=True, slots=True)
class BanStarted:
    ban: Ban


@dataclass(frozen=True, slots=True)
class BanEnded:
    ban: Ban
    why: str  # "expired" | "lifted"


@dataclass(slots=True)
class _Source:
    """Recent failures of one source: (time, username), oldest first."""

    failures: deque[tuple[float, str]] = field(default_factory=deque)

    def prune(self, horizon: float) -> None:
        while self.failures and self.failures[0][0] <= horizon:
            self.failures.popleft()


def _never(host: str) -> bool:
    return False


class Bans:
    def __init__(self, *, user_threshold: int = 10, source_threshold: int = 30,
                 max_users: int = 5, window: float = 60.0, duration: float = 300.0,
                 exempt: Callable[[str], bool] = _never, max_keys: int = 100_000) -> None:
        self.exempt = exempt
        self.max_keys = max_keys
        self.configure(user_threshold=user_threshold, source_threshold=source_threshold,
                       max_users=max_users, window=window, duration=duration)
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        # (source, username or None) -> ban; a heap of (until, key) finds the next to end.
        self._bans: dict[tuple[str, str | None], Ban] = {}
        self._heap: list[tuple[float, int, tuple[str, str | None]]] = []
        self._seq = 0  # heap tie-break: keys hold None or str, which do not compare
        self._address_bans = 0  # how many whole-source bans exist (the pre-parse fast path)

    def configure(self, *, user_threshold: int, source_threshold: int, max_users: int,
                  window: float, duration: float) -> None:
        """New limits (config reload); counts and active bans are kept."""
        if min(user_threshold, source_threshold, max_users) < 1 or window <= 0 \
                or duration <= 0:
            raise ValueError("thresholds >= 1, window > 0 and duration > 0")
        self.user_threshold = user_threshold
        self.source_threshold = source_threshold
        self.max_users = max_users
        self.window = window
        self.duration = duration

    # -- the checks on the message path -----------------------------------------------------

    def is_banned(self, source: str, now: float) -> bool:
        """Is the whole address banned? (checked before parsing: keep it one dict lookup)."""
        if not self._address_bans:
            return False
        ban = self._bans.get((source, None))
        return ban is not None and now < ban.until

    def is_blocked(self, source: str, username: str, now: float) -> bool:
        """May ``source`` not try ``username`` now (the pair or the whole address banned)?"""
        if not self._bans:
            return False
        for key in ((source, username), (source, None)):
            ban = self._bans.get(key)
            if ban is not None and now < ban.until:
                return True
        return False

    # -- outcomes of authentication ---------------------------------------------------------

    def record_failure(self, source: str, username: str, now: float) -> Ban | None:
        """Count one failure; the ban it starts, if any (publish and log it)."""
        if self.exempt(source) or self.is_blocked(source, username, now):
            return None
        entry = self._sources.get(source)
        if entry is None:
            if len(self._sources) >= self.max_keys:
                self._sources.popitem(last=False)
            entry = self._sources[source] = _Source()
        else:
            self._sources.move_to_end(source)
        entry.prune(now - self.window)
        entry.failures.append((now, username))
        users = {user for _, user in entry.failures}
        if len(users) >= self.max_users:
            return self._start(source, None, f"failures for {len(users)} different usernames"
                               f" within {self.window:g} s (scanner)", now)
        if len(entry.failures) >= self.source_threshold:
            return self._start(source, None, f"{len(entry.failures)} failures within"
                               f" {self.window:g} s", now)
        tries = sum(1 for _, user in entry.failures if user == username)
        if tries >= self.user_threshold:
            return self._start(source, username, f"{tries} failures for this username within"
                               f" {self.window:g} s", now)
        return None

    def record_success(self, source: str, username: str) -> None:
        """A good login forgets that username's failures from the source (not active bans)."""
        entry = self._sources.get(source)
        if entry is not None:
            entry.failures = deque(item for item in entry.failures if item[1] != username)
            if not entry.failures:
                del self._sources[source]

    # -- operators and time -----------------------------------------------------------------

    def active(self, now: float) -> list[Ban]:
        """Active bans, soonest end first."""
        return sorted((ban for ban in self._bans.values() if now < ban.until),
                      key=lambda ban: (ban.until, ban.source, ban.username or ""))

    def lift(self, source: str, username: str | None = None) -> list[BanEnded]:
        """End bans of ``source`` now: the one of ``username``, or every ban of the source
        (its address ban and all its username blocks) when ``username`` is None."""
        keys = [key for key in self._bans if key[0] == source
                and (username is None or key[1] == username)]
        ended = [BanEnded(self._remove(key), "lifted") for key in keys]
        self._sources.pop(source, None)  # a fresh start: the old failures led to the ban
        return ended

    def expire(self, now: float) -> list[BanEnded]:
        """Bans whose time is up, removed; one event each (log "ban ended")."""
        ended: list[BanEnded] = []
        while self._heap and self._heap[0][0] <= now:
            until, _, key = heapq.heappop(self._heap)
            ban = self._bans.get(key)
            if ban is not None and ban.until == until:
                ended.append(BanEnded(self._remove(key), "expired"))
        return ended

    def next_deadline(self) -> float | None:
        """When the next ban ends (the node's timer logs it then)."""
        while self._heap:
            until, _, key = self._heap[0]
            ban = self._bans.get(key)
            if ban is not None and ban.until == until:
                return until
            heapq.heappop(self._heap)  # lifted or replaced: a stale entry
        return None

    def __len__(self) -> int:
        return len(self._bans)

    # -- internals --------------------------------------------------------------------------

    def _start(self, source: str, username: str | None, reason: str, now: float) -> Ban:
        if len(self._bans) >= self.max_keys:
            soonest = min(self._bans, key=lambda key: self._bans[key].until)
            self._remove(soonest)
        ban = Ban(source, username, reason, now, now + self.duration)
        key = (source, username)
        if key in self._bans:
            self._remove(key)
        self._bans[key] = ban
        if username is None:
            self._address_bans += 1
            self._sources.pop(source, None)  # the address is out; its counts are moot
        self._seq += 1
        heapq.heappush(self._heap, (ban.until, self._seq, key))
        return ban

    def _remove(self, key: tuple[str, str | None]) -> Ban:
        ban = self._bans.pop(key)
        if key[1] is None:
            self._address_bans -= 1
        return ban
