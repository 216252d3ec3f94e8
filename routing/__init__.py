"""routing: a skills-based call router (library; never imports ``switch``).

Sans-I/O and deterministic: commands go in with the time as an argument, decisions come out.

    from routing import Router, load_config
    from routing.commands import AgentLogin, EnqueueCall, AcceptOffer, EndCall
    from routing.decisions import OfferCall

    router = Router(load_config("routing.yaml"), seed=0)   # or a dict
    router.handle(AgentLogin("ann"), now=0.0)              # -> []
    router.handle(EnqueueCall("c1", "billing"), now=1.0)   # -> [OfferCall("c1", "ann", ...)]
    router.handle(AcceptOffer("c1", "ann"), now=3.0)       # -> [CallConnected(...)]
    router.tick(now)                                       # fire due timers
    router.next_deadline()                                 # when to call tick() next, or None
    router.explain("c1")                                   # ranked candidates and the rule
    router.agent("ann").state                              # AgentState.ON_CALL
    router.call("c1"), router.queue_length("billing"), router.agent_ids()

Modules
- ``commands``: AgentLogin, AgentLogout, AgentSetState, EndpointLost, EndpointRestored,
  SkillsChanged, EnqueueCall, AbandonCall, AcceptOffer, RejectOffer, ExpireOffer, EndCall,
  FinishWrapUp, ReloadConfig.
- ``decisions``: OfferCall, OfferRevoked, CallConnected, CallQueued, WaitEstimateUpdated,
  CallWidened, CallOverflowed, CallRejected, CallTimedOut, AgentAutoPaused, WrapUpEnded.
- ``config``: pydantic models and ``load_config``; errors name the field path.
- ``expressions``: the skill expression language (``billing >= 5 and (mandarin or cantonese)``).
- ``strategies``: the strategies and the SplitMix64 PRNG behind ``random``.
- ``model``: AgentState, CallState, AgentView, CallView, RoutingError and its subclasses.
- ``explain``: Explanation and Candidate.
- ``reference``: the pure-Python core (the specification); ``compiled``: the Cython core's
  wrapper; ``_select``: picks one (``ROUTING_PURE=1`` forces the reference).

Both cores: ``Router(config, *, seed=0)``; ``handle(command, now) -> list[Decision]``;
``tick(now) -> list[Decision]``; ``next_deadline() -> float | None``; ``explain(call_id)``;
views ``agent(agent_id) -> AgentView``, ``call(call_id) -> CallView | None``,
``queue_length(queue_id) -> int``, ``agent_ids()``. Impossible commands raise a
``RoutingError`` subclass and change nothing. Rules in prose: docs/routing.md.
"""

from __future__ import annotations

from routing._select import CompiledRouter, ReferenceRouter, Router
from routing.config import RoutingConfig, load_config
from routing.model import (
    AgentState,
    AgentView,
    CallState,
    CallView,
    ConfigError,
    InvalidCommand,
    InvalidTransition,
    RoutingError,
    UnknownAgent,
    UnknownCall,
    UnknownName,
    UnknownQueue,
)

__all__ = [
    "AgentState", "AgentView", "CallState", "CallView", "CompiledRouter", "ConfigError",
    "InvalidCommand", "InvalidTransition", "ReferenceRouter", "Router", "RoutingConfig",
    "RoutingError", "UnknownAgent", "UnknownCall", "UnknownName", "UnknownQueue", "load_config",
]
