"""Agents' presence: their phones' registrations and reachability, told to the router.

The registrar and the qualifier publish what happens to contacts; this turns it into router
commands for the agents of the routing config (agent id = account username):

- with ``calls.auto_ready`` (the demo's setting), an agent whose phone registers is logged in
  and ready on the queues of its skills; an agent with a static contact is logged in at start;
- a phone that registers again, or answers qualify probes again, makes an unreachable agent
  reachable (``EndpointRestored``);
- the last contact of an agent going away (unregistered, expired, or failing its probes)
  makes it unreachable (``EndpointLost``): its offers go to the next agent at once.

Without ``auto_ready`` agents log in and set their state through the API; reachability is
followed the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from routing import commands as rc
from routing.model import RoutingError

from ..registrar.locations import (
    ContactExpired,
    ContactRefreshed,
    ContactRegistered,
    ContactRemoved,
)
from ..registrar.qualify import EndpointReachable, EndpointUnreachable

log = logging.getLogger(__name__)


class Router(Protocol):
    def submit(self, command: rc.Command) -> object: ...
    def agent_state(self, agent_id: str) -> str | None: ...
    def agent_reachable(self, agent_id: str) -> None: ...


class Presence:
    def __init__(self, router: Router, agents: set[str], *, auto_ready: bool,
                 static: set[str], live_contacts: Callable[[str], int]) -> None:
        """``live_contacts(agent)``: how many of its registered contacts are reachable."""
        self.router = router
        self.agents = agents
        self.auto_ready = auto_ready
        self.static = static
        self.live_contacts = live_contacts

    def start(self) -> None:
        if self.auto_ready:
            for agent in sorted(self.static & self.agents):
                self._submit(rc.AgentLogin(agent, ready=True))

    def on_event(self, event: object) -> None:
        if isinstance(event, ContactRegistered | ContactRefreshed | EndpointReachable):
            self._present(_user(event.aor))
        elif isinstance(event, ContactRemoved | ContactExpired | EndpointUnreachable):
            self._maybe_gone(_user(event.aor))

    def _present(self, agent: str) -> None:
        if agent not in self.agents:
            return
        state = self.router.agent_state(agent)
        if state == "logged_out" and self.auto_ready:
            self._submit(rc.AgentLogin(agent, ready=True))
        elif state == "unreachable":
            self.router.agent_reachable(agent)

    def _maybe_gone(self, agent: str) -> None:
        if agent not in self.agents or agent in self.static:
            return
        if self.live_contacts(agent) == 0 and self.router.agent_state(agent) not in (
                None, "logged_out", "unreachable"):
            self._submit(rc.EndpointLost(agent))

    def _submit(self, command: rc.AgentLogin | rc.EndpointLost) -> None:
        try:
            self.router.submit(command)
        except RoutingError as exc:
            log.debug("presence: %r not applied: %s", command, exc)
            return
        log.info("agent %s %s", command.agent_id, _SAID.get(type(command), "changed"))


_SAID = {rc.AgentLogin: "logged in (ready)", rc.EndpointLost: "unreachable (no phone left)"}


def _user(aor: str) -> str:
    """``sip:1001@example.com`` -> ``1001``."""
    rest = aor.split(":", 1)[-1]
    return rest.split("@", 1)[0]
