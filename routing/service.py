"""The router on an asyncio loop: the one edge through which a node talks to the routing core.

The cores (``reference.py``, the compiled twin) are pure: ``handle(command, now)``,
``tick(now)``, ``next_deadline()``. :class:`RouterService` gives them a clock and a timer:

- :meth:`submit` runs one command at ``clock()`` and returns its decisions; the same decisions
  go to ``on_decisions`` (the node's dispatcher: ring an agent, stop ringing, connect...). A
  command that cannot apply raises the core's :class:`~routing.model.RoutingError` to the
  caller and changes nothing;
- one loop timer sits at the core's next deadline (reservation expiry, widening, overflow,
  wrap-up end); when it fires, ``tick`` runs and its decisions are dispatched the same way;
- ``on_decisions`` may submit further commands (accepting an offer the moment it is made):
  such commands are queued and run after the current batch, in order, so decisions always
  reach the dispatcher in the order the core made them.

Commands and decisions are counted; a dispatcher that raises is logged and never stops the
router. ``routing`` never imports ``switch``: the node adapts its calls and agents to commands.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from routing._select import Router
from routing.commands import Command
from routing.decisions import Decision
from routing.model import AgentView, CallView

log = logging.getLogger(__name__)

Dispatcher = Callable[[list[Decision]], None]


class RouterService:
    def __init__(self, config: Any, on_decisions: Dispatcher, *,
                 clock: Callable[[], float] = time.monotonic, core: type | None = None,
                 seed: int = 0) -> None:
        self.core = (core or Router)(config, seed=seed)
        self.on_decisions = on_decisions
        self.clock = clock
        self.commands = 0
        self.decisions = 0
        self._queue: deque[Command] = deque()
        self._dispatching = False
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None
        self._closed = False

    # -- commands in --------------------------------------------------------------------------

    def submit(self, command: Command) -> list[Decision]:
        """Run ``command`` now (or, from inside the dispatcher, right after the current batch:
        then the returned list is empty and the decisions go to the dispatcher only)."""
        if self._closed:
            raise RuntimeError("the router service is closed")
        if self._dispatching:
            self._queue.append(command)
            return []
        decisions = self._run(command)
        self._drain()
        self._arm()
        return decisions

    def _run(self, command: Command) -> list[Decision]:
        decisions = self.core.handle(command, self.clock())
        self.commands += 1
        self._dispatch(decisions)
        return list(decisions)

    def _drain(self) -> None:
        while self._queue:
            command = self._queue.popleft()
            try:
                self._run(command)
            except Exception:  # a queued command's error has no caller left to hear it
                log.exception("router refused a queued command %r", command)

    def _dispatch(self, decisions: list[Decision]) -> None:
        if not decisions:
            return
        self.decisions += len(decisions)
        self._dispatching = True
        try:
            self.on_decisions(list(decisions))
        except Exception:
            log.exception("router decision dispatcher failed")
        finally:
            self._dispatching = False

    # -- time ---------------------------------------------------------------------------------

    def _arm(self) -> None:
        deadline = None if self._closed else self.core.next_deadline()
        if deadline == self._armed_for and (deadline is None or self._timer is not None):
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_for = deadline
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(loop.time() + max(0.0, deadline - self.clock()),
                                       self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._armed_for = None
        if self._closed:
            return
        self._dispatch(self.core.tick(self.clock()))
        self._drain()
        self._arm()

    # -- questions ----------------------------------------------------------------------------

    def explain(self, call_id: str) -> Any:
        return self.core.explain(call_id)

    def agent_ids(self) -> list[str]:
        return list(self.core.agent_ids())

    def agent(self, agent_id: str) -> AgentView:
        view: AgentView = self.core.agent(agent_id)
        return view

    def call(self, call_id: str) -> CallView | None:
        view: CallView | None = self.core.call(call_id)
        return view

    def queue_length(self, queue_id: str) -> int:
        return int(self.core.queue_length(queue_id))

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
