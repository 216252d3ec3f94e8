"""Supervision mixing (pure): who hears whom when a supervisor joins a call.

A supervised call has three parties: the caller, the agent and the supervisor. Direct relay
stops for it; every 20 ms tick the engine hands each party the sum of the parties it may hear
in the current mode:

============  ==========================  ==========================  =====================
mode          the caller hears            the agent hears             the supervisor hears
============  ==========================  ==========================  =====================
``listen``    the agent                   the caller                  caller + agent
``whisper``   the agent                   caller + supervisor         caller + agent
``barge``     agent + supervisor          caller + supervisor         caller + agent
============  ==========================  ==========================  =====================

Audio arrives as 16-bit linear frames of 160 samples (20 ms at 8 kHz), decoded by the engine
from G.711. Each party keeps a few frames queued (a small jitter allowance); a tick takes one
per party, missing frames are silence, sums saturate at the 16-bit limits. Pure: no clock, no
sockets; the engine calls :meth:`Mixer.feed` per packet and :meth:`Mixer.tick` per tick.
"""

from __future__ import annotations

from array import array
from collections import deque

__all__ = ["MODES", "Mixer"]

FRAME = 160  # samples per 20 ms at 8 kHz
QUEUED = 4  # frames kept per party: older ones are dropped (the party sends too fast)

CALLER, AGENT, SUPERVISOR = "caller", "agent", "supervisor"
MODES: dict[str, dict[str, tuple[str, ...]]] = {
    "listen": {CALLER: (AGENT,), AGENT: (CALLER,), SUPERVISOR: (CALLER, AGENT)},
    "whisper": {CALLER: (AGENT,), AGENT: (CALLER, SUPERVISOR), SUPERVISOR: (CALLER, AGENT)},
    "barge": {CALLER: (AGENT, SUPERVISOR), AGENT: (CALLER, SUPERVISOR),
              SUPERVISOR: (CALLER, AGENT)},
}


class Mixer:
    def __init__(self, caller: str, agent: str, supervisor: str, mode: str) -> None:
        """The three parties by their engine tags; ``mode`` one of :data:`MODES`."""
        self.roles = {caller: CALLER, agent: AGENT, supervisor: SUPERVISOR}
        self.tags = {role: tag for tag, role in self.roles.items()}
        self.mode = ""
        self.set_mode(mode)
        self._queues: dict[str, deque[array[int]]] = {
            role: deque(maxlen=QUEUED) for role in (CALLER, AGENT, SUPERVISOR)}

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown supervision mode {mode!r}; expected one of "
                             + ", ".join(MODES))
        self.mode = mode

    def feed(self, tag: str, pcm: bytes) -> None:
        """A decoded 20 ms frame from the party ``tag`` (other lengths are cut or padded)."""
        role = self.roles.get(tag)
        if role is None:
            return
        frame = array("h")
        frame.frombytes(pcm[: FRAME * 2].ljust(FRAME * 2, b"\0"))
        self._queues[role].append(frame)

    def tick(self) -> dict[str, bytes]:
        """One frame for each party (by tag): what it hears in the current mode."""
        current = {role: (queue.popleft() if queue else None)
                   for role, queue in self._queues.items()}
        out: dict[str, bytes] = {}
        for listener, sources in MODES[self.mode].items():
            frames = [frame for source in sources if (frame := current[source]) is not None]
            out[self.tags[listener]] = _sum(frames).tobytes()
        return out


def _sum(frames: list[array[int]]) -> array[int]:
    if not frames:
        return array("h", bytes(FRAME * 2))
    if len(frames) == 1:
        return frames[0]
    total = [sum(samples) for samples in zip(*frames, strict=True)]
    return array("h", [32767 if s > 32767 else -32768 if s < -32768 else s for s in total])
