"""RTP/RTCP port pairs from a configured range, with leak accounting.

Theory of operation
-------------------
RFC 3550 §11: RTP uses an even port and RTCP the next (odd) one, so the unit of allocation is
a pair identified by its even port. Allocation is next-fit: the cursor moves on past the last
pair handed out and wraps, so a pair freed by an ended call is the *last* to be reused; stray
packets still in flight to it from the old call (or from an attacker probing recently used
ports, the RTP-bleed pattern) then meet a closed port rather than a new call.

Every pair records its owner (a call id), so ``in_use`` is the leak counter the tests and the
``statistics`` command show, and ``owners()`` says which call leaked. Binding the sockets is
the edge's business: when the OS refuses a port (another program has it), the edge calls
:meth:`PortRange.allocate` again, which skips to the next pair; the refused pair is released.
"""

from __future__ import annotations

__all__ = ["PortRange", "PortsExhausted"]


class PortsExhausted(RuntimeError):
    """No free pair in the range: the call cannot be anchored (answer 503 upstream)."""


class PortRange:
    """Even/odd pairs in ``[low, high]`` (both inclusive; ``low`` rounded up to even)."""

    def __init__(self, low: int, high: int) -> None:
        low += low & 1
        if not 1024 <= low < high <= 65535:
            raise ValueError(f"bad RTP port range {low}-{high}: need 1024 <= min < max <= 65535")
        self.low = low
        self.high = high
        self.pairs = (high - low + 1) // 2
        if self.pairs < 1:
            raise ValueError(f"RTP port range {low}-{high} holds no even/odd pair")
        self._cursor = 0
        self._owner: dict[int, str] = {}

    @property
    def in_use(self) -> int:
        """Pairs allocated and not yet released: zero when every call has ended."""
        return len(self._owner)

    @property
    def free(self) -> int:
        return self.pairs - len(self._owner)

    def allocate(self, owner: str) -> int:
        """Return the even (RTP) port of a free pair; RTCP is that port plus one."""
        for _ in range(self.pairs):
            port = self.low + 2 * self._cursor
            self._cursor = (self._cursor + 1) % self.pairs
            if port not in self._owner:
                self._owner[port] = owner
                return port
        raise PortsExhausted(f"no free RTP port pair in {self.low}-{self.high} "
                             f"({self.pairs} pairs in use)")

    def release(self, port: int) -> None:
        """Free a pair; releasing a pair that is not allocated is a bug and raises."""
        if self._owner.pop(port, None) is None:
            raise KeyError(f"RTP port {port} is not allocated")

    def owners(self) -> dict[int, str]:
        """Allocated pairs and their owners (to name the call that leaked)."""
        return dict(self._owner)
