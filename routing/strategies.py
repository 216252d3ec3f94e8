"""Agent-selection strategies and the router's deterministic PRNG.

Candidates for a call are the eligible, free agents (see docs/routing.md). Each strategy gives
every candidate a sort key ``(load, measure, position)``; the smallest key wins:

- ``load``: calls plus offers the agent holds (a multi-capacity agent is used evenly),
- ``measure`` depends on the strategy (below),
- ``position``: the agent's index in ``config.agents`` (stable tie-break).

=================== =========================================================================
longest_idle        ``idle_since``: when the agent last became free (login, ready, end of
                    wrap-up); the earliest wins
fewest_calls_today  calls the agent answered since the router started (a new day: reload)
least_talk_time     seconds of talk time accumulated
round_robin         distance after the last agent this queue offered to, cyclic in config order
top_down            position in config order (the first listed agent always wins)
random              uniform among the least-loaded candidates, using :class:`SplitMix64`
best_skill_match    minus the sum of the agent's levels in the skills the expression names
ring_all            offer to every candidate at once; the first to accept wins
=================== =========================================================================
"""

from __future__ import annotations

MASK64 = (1 << 64) - 1

STRATEGIES: dict[str, str] = {
    "longest_idle": "the agent free for the longest time",
    "fewest_calls_today": "the agent who answered the fewest calls",
    "least_talk_time": "the agent with the least accumulated talk time",
    "round_robin": "the next agent after the last one this queue offered to",
    "top_down": "the first free agent in configuration order",
    "random": "a uniformly random least-loaded agent (seeded SplitMix64)",
    "best_skill_match": "the agent with the highest summed proficiency in the queue's skills",
    "ring_all": "every free eligible agent at once; the first to accept wins",
}

# Stable small integers for the compiled core (the order is part of the compiled-config format).
STRATEGY_CODES: dict[str, int] = {name: i for i, name in enumerate(STRATEGIES)}


class SplitMix64:
    """SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and easy to reproduce in C exactly.

    ``next()`` adds the golden-ratio increment to the state and mixes it; both cores
    implement these same three lines, so a seed gives the same sequence everywhere.
    """

    __slots__ = ("state",)

    def __init__(self, seed: int) -> None:
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """An index in ``range(n)`` (modulo reduction: the bias is < n / 2**64)."""
        return self.next() % n


def measure(strategy: str, *, idle_since: float, calls_today: int, talk_time: float,
            position: int, last_position: int, n_agents: int, skill_score: int) -> float:
    """The strategy's own term of the sort key (see the table above)."""
    if strategy == "longest_idle":
        return idle_since
    if strategy == "fewest_calls_today":
        return float(calls_today)
    if strategy == "least_talk_time":
        return talk_time
    if strategy == "round_robin":
        return float((position - last_position - 1) % n_agents)
    if strategy == "best_skill_match":
        return float(-skill_score)
    return 0.0 if strategy == "random" else float(position)
