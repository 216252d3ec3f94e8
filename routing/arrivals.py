"""The calls of a simulation run: Poisson arrivals with their handle time, patience and ring delay.

Every attribute a call needs is drawn when it arrives, from a random stream of its own queue
(seeded from the run seed and the queue's position), so the same seed gives the same calls
whatever the routing config: a what-if comparison uses *common random numbers*, and an event
log of arrivals (see routing/replay.py) replays exactly.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from routing.scenario import ArrivalSpec, Distribution, Scenario

__all__ = ["Arrival", "generate_arrivals", "sample"]


@dataclass(frozen=True, slots=True)
class Arrival:
    """One call: when it arrives, where, and how it will behave."""

    time: float
    call_id: str
    queue: str
    handle: float  # talk time once connected, seconds
    patience: float | None  # abandons after this long unanswered; None: never
    ring: float = 0.0  # seconds from offer to the agent answering
    tier: str | None = None
    simple: bool = False
    caller_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"t": self.time, "call": self.call_id, "queue": self.queue, "handle": self.handle,
                "patience": self.patience, "ring": self.ring, "tier": self.tier,
                "simple": self.simple, "caller": self.caller_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Arrival:
        patience = data.get("patience")
        return cls(time=float(data["t"]), call_id=str(data["call"]), queue=str(data["queue"]),
                   handle=float(data["handle"]),
                   patience=None if patience is None else float(patience),
                   ring=float(data.get("ring") or 0.0), tier=data.get("tier"),
                   simple=bool(data.get("simple", False)), caller_id=data.get("caller"))


def sample(dist: Distribution, rng: random.Random) -> float:
    """One draw of a positive duration."""
    if dist.distribution == "exponential":
        return rng.expovariate(1.0 / dist.mean)
    if dist.distribution == "lognormal":
        assert dist.sd is not None
        # Parameters of the underlying normal from the mean and sd of the duration itself.
        sigma2 = math.log1p((dist.sd / dist.mean) ** 2)
        return rng.lognormvariate(math.log(dist.mean) - sigma2 / 2, math.sqrt(sigma2))
    return dist.mean


def _queue_stream(spec: ArrivalSpec, index: int, seed: int, end: float,
                  ring: Distribution | None) -> Iterator[Arrival]:
    rng = random.Random(f"switchboard-arrivals:{seed}:{index}")
    rate = spec.calls_per_hour / 3600.0
    tiers = list(spec.tiers.items())
    callers = 0
    t = 0.0
    n = 0
    while True:
        t += rng.expovariate(rate)
        if t >= end:
            return
        n += 1
        # Draw every attribute, used or not, so the stream stays aligned across scenarios.
        handle = sample(spec.handle_time, rng)
        patience = sample(spec.patience, rng) if spec.patience is not None else None
        ring_delay = sample(ring, rng) if ring is not None else 0.0
        u_tier, u_simple, u_repeat = rng.random(), rng.random(), rng.random()
        tier = None
        acc = 0.0
        for name, share in tiers:
            acc += share
            if u_tier < acc:
                tier = name
                break
        if u_repeat < spec.repeat_share and callers:
            caller = f"{spec.queue}-caller-{rng.randrange(callers) + 1}"
        else:
            callers += 1
            caller = f"{spec.queue}-caller-{callers}"
        yield Arrival(t, f"{spec.queue}-{n}", spec.queue, handle, patience, ring_delay, tier,
                      u_simple < spec.simple_share, caller)


def generate_arrivals(scenario: Scenario, seed: int) -> Iterator[Arrival]:
    """All queues' arrivals in ``[0, duration)``, merged in time order."""
    streams = [_queue_stream(spec, i, seed, scenario.duration, scenario.ring_delay)
               for i, spec in enumerate(scenario.arrivals)]
    return heapq.merge(*streams, key=lambda a: a.time)
