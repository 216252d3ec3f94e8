"""Commands: what the outside world tells the router (one frozen dataclass each).

Commands are imperative and carry no time: the time is the ``now`` argument of
``Router.handle(command, now)``. Ids are plain strings chosen by the caller.

Agent commands act on an agent known to the configuration; call commands act on a call the
router currently tracks (waiting, offered or connected). A command that cannot apply raises a
:class:`routing.model.RoutingError` subclass and leaves the router's state untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from routing.config import RoutingConfig


@dataclass(frozen=True, slots=True)
class AgentLogin:
    """The agent signs in; they start ``not_ready`` with reason ``"login"`` unless ``ready``."""

    agent_id: str
    ready: bool = True


@dataclass(frozen=True, slots=True)
class AgentLogout:
    """The agent signs out. Live offers to them are revoked; a connected call must end first."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentSetState:
    """The agent asks to be ``ready`` or ``not_ready`` (with a reason code).

    While the agent is on a call, reserved or in wrap-up, ``not_ready`` takes effect when the
    work ends (a "pending not-ready"); ``ready`` cuts a wrap-up short.
    """

    agent_id: str
    state: Literal["ready", "not_ready"]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class EndpointLost:
    """The agent's phone or browser went away: the agent is ``unreachable``, offers revoked."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class EndpointRestored:
    """The agent's endpoint is back: the agent returns to the state it had before."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class SkillsChanged:
    """Replace the agent's skills: ``((skill, level 1..10), ...)``; skills must be configured."""

    agent_id: str
    skills: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class EnqueueCall:
    """A call needs an agent from ``queue_id``.

    ``tier`` names a configured customer tier (raises priority, may require an agent tier);
    ``caller_id`` enables sticky routing to the last agent who served that caller; ``simple``
    marks a call eligible for practice routing to trainees.

    A call that comes back (its agent was lost mid-call) keeps its place: ``waited`` is the
    time it already spent in the queue (it counts towards widening, overflow and max wait, and
    the wait reported when it connects), and ``ahead`` puts it before every call of its
    priority that is not also ``ahead`` (first come, first served among those).
    """

    call_id: str
    queue_id: str
    tier: str | None = None
    caller_id: str | None = None
    simple: bool = False
    waited: float = 0.0
    ahead: bool = False


@dataclass(frozen=True, slots=True)
class AbandonCall:
    """The caller hung up before being connected; any live offer is revoked."""

    call_id: str


@dataclass(frozen=True, slots=True)
class AcceptOffer:
    """The agent answered the offer: the call is connected (ring-all: the others are revoked)."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class RejectOffer:
    """The agent declined the offer; the call is re-offered at once to the next candidate."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class ExpireOffer:
    """The edge saw the offer time out (e.g. SIP ring timeout) before the router's own timer."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class EndCall:
    """A connected call ended; the agent goes to wrap-up (timed) or straight back to work."""

    call_id: str


@dataclass(frozen=True, slots=True)
class FinishWrapUp:
    """The agent finished after-call work early."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class ReloadConfig:
    """Swap in a new validated configuration; runtime state of kept agents and calls survives."""

    config: RoutingConfig


Command = (
    AgentLogin | AgentLogout | AgentSetState | EndpointLost | EndpointRestored | SkillsChanged
    | EnqueueCall | AbandonCall | AcceptOffer | RejectOffer | ExpireOffer | EndCall
    | FinishWrapUp | ReloadConfig
)

__all__ = [
    "AbandonCall", "AcceptOffer", "AgentLogin", "AgentLogout", "AgentSetState", "Command",
    "EndCall", "EndpointLost", "EndpointRestored", "EnqueueCall", "ExpireOffer",
    "FinishWrapUp", "RejectOffer", "ReloadConfig", "SkillsChanged",
]
