"""Explanations: why a call went (or did not go) to an agent.

Each core records, at every routing attempt for a call, the ranked candidates it considered
(best first, with the sort key it used) and the rule that decided. ``Router.explain(call_id)``
returns the latest record, so "why did Ann get this call and not Bob?" has an answer.

How to read the key: candidates are sorted ascending by ``key``. Its first element is the
agent's current load (calls plus offers: the least busy agent wins first), then the
strategy's own measure (see ``routing.strategies``), last the agent's position in the config
(a stable tie-break).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    agent_id: str
    key: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    """``rule`` is the strategy name, ``sticky``, ``practice``, ``ring_all``,
    ``agent_available`` or ``no_agent`` (nobody eligible was free)."""

    call_id: str
    queue_id: str
    step: int
    priority: int
    rule: str
    chosen: tuple[str, ...]
    candidates: tuple[Candidate, ...]

    def render(self) -> str:
        lines = [f"call {self.call_id} in {self.queue_id} (priority {self.priority}, "
                 f"step {self.step}): rule {self.rule}, chosen {', '.join(self.chosen) or '-'}"]
        for rank, cand in enumerate(self.candidates, 1):
            key = ", ".join(f"{k:g}" for k in cand.key)
            lines.append(f"  {rank}. {cand.agent_id}  key=({key})")
        return "\n".join(lines)
