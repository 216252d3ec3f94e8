"""Runtime vocabulary shared by both cores: agent states, errors, read-only views, the protocol.

Theory of operation (the full rules are in docs/routing.md and routing/reference.py):
an agent's state is *derived* from a few facts, in this order of precedence::

    logged_out   not signed in
    unreachable  signed in but the endpoint is lost
    on_call      holds at least one connected call
    reserved     holds at least one live offer
    wrap_up      after-call work timer running
    not_ready    paused (with a reason code)
    ready        free to take offers

An agent may receive an offer when signed in, reachable, not paused, not in wrap-up, and
holding fewer calls plus offers than its capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from routing.commands import Command
    from routing.decisions import Decision
    from routing.explain import Explanation


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"
    RESERVED = "reserved"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    UNREACHABLE = "unreachable"


class CallState(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    CONNECTED = "connected"


class RoutingError(Exception):
    """A command the router cannot apply; the router's state is unchanged."""


class UnknownAgent(RoutingError):
    """The agent id is not in the configuration."""


class UnknownCall(RoutingError):
    """The call id is not (or no longer) tracked by the router."""


class UnknownQueue(RoutingError):
    """The queue id is not in the configuration."""


class UnknownName(RoutingError):
    """A skill or customer tier named in a command is not configured."""


class InvalidTransition(RoutingError):
    """The command does not fit the current state (login twice, accept a missing offer...)."""


class InvalidCommand(RoutingError):
    """A command carries a bad value (a skill level outside 1..10, an unknown state...)."""


class ConfigError(RoutingError):
    """The configuration is invalid; the message names the field path. ``problems`` holds
    one ``path: message`` line per problem (the message joins them with "; ")."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


@dataclass(frozen=True, slots=True)
class AgentView:
    """A snapshot of one agent, for simulators, dashboards and tests."""

    agent_id: str
    state: AgentState
    reason: str
    calls: int
    reservations: int
    capacity: int
    calls_today: int
    talk_time: float
    missed_offers: int


@dataclass(frozen=True, slots=True)
class CallView:
    """A snapshot of one tracked call."""

    call_id: str
    queue_id: str
    state: CallState
    enqueued_at: float
    priority: int
    step: int
    agents: tuple[str, ...]  # agents holding an offer (offered) or the call (connected)


class RouterProtocol(Protocol):
    """What both cores implement (``routing.Router`` is the selected one)."""

    def handle(self, command: Command, now: float) -> list[Decision]: ...
    def tick(self, now: float) -> list[Decision]: ...
    def next_deadline(self) -> float | None: ...
    def explain(self, call_id: str) -> Explanation: ...
    def agent(self, agent_id: str) -> AgentView: ...
    def call(self, call_id: str) -> CallView | None: ...
    def queue_length(self, queue_id: str) -> int: ...
    def agent_ids(self) -> tuple[str, ...]: ...
