"""One asyncio timer kept at the earliest deadline of a pure core.

The pure parts (registrar, bans, qualify, legs, IVR sessions) say when they next need the
clock (``next_deadline()``); their edge keeps exactly one loop timer at that instant instead
of one per deadline. ``arm`` is called after every input, so it must be cheap when nothing
changed (the usual case on the message path).

``early_ok``: a deadline that moved *later* keeps the armed timer, which then fires early,
finds nothing due and re-arms: cheaper than a cancel and a new loop timer on every refresh
(registrations refresh their expiry all the time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class LoopTimer:
    def __init__(self, clock: Callable[[], float], callback: Callable[[], None], *,
                 early_ok: bool = False) -> None:
        self.clock = clock
        self.callback = callback
        self.early_ok = early_ok
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None

    def arm(self, deadline: float | None) -> None:
        if deadline == self._armed_for and (deadline is None or self._handle is not None):
            return
        if self.early_ok and deadline is not None and self._handle is not None \
                and self._armed_for is not None and self._armed_for <= deadline:
            return
        self.cancel()
        self._armed_for = deadline
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._handle = loop.call_at(loop.time() + max(0.0, deadline - self.clock()),
                                        self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed_for = None

    def _fire(self) -> None:
        self._handle = None
        self._armed_for = None
        self.callback()
