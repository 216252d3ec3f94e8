"""A small progress bar on stderr for long simulations.

Shown only when stderr is a terminal or the user asked (``--progress``), so logs and CI output
stay clean. It redraws at most every 0.2 s and finishes the line when closed.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """``bar(fraction)`` updates; ``bar.close()`` ends the line. Does nothing when disabled."""

    def __init__(self, label: str, *, enabled: bool | None = None, stream: TextIO | None = None,
                 width: int = 30, min_interval: float = 0.2) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label, self.width, self.min_interval = label, width, min_interval
        self._started = time.monotonic()
        self._last_draw = float("-inf")
        self._fraction = 0.0

    def __call__(self, fraction: float) -> None:
        self._fraction = max(self._fraction, min(1.0, max(0.0, fraction)))
        now = time.monotonic()
        if self.enabled and (now - self._last_draw >= self.min_interval or self._fraction >= 1.0):
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        done = int(self._fraction * self.width)
        elapsed = now - self._started
        eta = ""
        if 0 < self._fraction < 1:
            eta = f" eta {elapsed * (1 - self._fraction) / self._fraction:5.0f}s"
        bar = "#" * done + "." * (self.width - done)
        self.stream.write(f"\r{self.label} [{bar}] {self._fraction * 100:5.1f}%"
                          f" {elapsed:5.0f}s{eta}  ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
