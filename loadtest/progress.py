"""One status line on stderr while a load test runs.

On a terminal the line is redrawn in place (``\\r``) at every update; elsewhere (CI logs, a
file) a full line is printed at most every ``log_interval`` seconds, so logs stay readable.
:func:`status_text` formats what the runner knows after each second.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressLine", "status_text"]


def status_text(*, elapsed: float, duration: float, started: int, succeeded: int,
                failed: int, rate: float, current: int | None = None,
                cpu_percent: float | None = None, rss_bytes: int | None = None,
                phase: str = "") -> str:
    """``[  12s/60s] calls 1200 started, 1100 ok, 0 failed, 98 up | 100.0/s | node 35% 120MB``."""
    parts = [f"[{elapsed:5.0f}s/{duration:.0f}s]"]
    if phase:
        parts.append(phase)
    calls = f"calls {started} started, {succeeded} ok, {failed} failed"
    if current is not None:
        calls += f", {current} up"
    parts.append(calls)
    parts.append(f"| {rate:.1f}/s")
    if cpu_percent is not None:
        node = f"| node cpu {cpu_percent:.0f}%"
        if rss_bytes is not None:
            node += f" rss {rss_bytes / 1e6:.0f}MB"
        parts.append(node)
    return " ".join(parts)


class ProgressLine:
    """``line.update(text)`` shows ``text``; ``line.close()`` ends the line. ``enabled=False``
    turns it off (``--quiet``); ``None`` follows whether the stream is a terminal."""

    def __init__(self, *, stream: TextIO | None = None, enabled: bool = True,
                 tty: bool | None = None, log_interval: float = 10.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty() if tty is None else tty
        self.log_interval = log_interval
        self._last_log = float("-inf")
        self._width = 0
        self._open = False

    def update(self, text: str, *, force: bool = False) -> None:
        if not self.enabled:
            return
        if self.tty:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
            self._open = True
            self.stream.flush()
            return
        now = time.monotonic()
        if force or now - self._last_log >= self.log_interval:
            self._last_log = now
            self.stream.write(text + "\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        """A line of its own (a phase starts or ends), not overwritten by the next update."""
        if not self.enabled:
            return
        if self._open:
            self.stream.write("\n")
            self._open = False
            self._width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._open:
            self.stream.write("\n")
            self.stream.flush()
        self._open = False
        self._width = 0
