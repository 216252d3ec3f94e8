"""Supervision of live calls: a supervisor listens, whispers to the agent, or barges in.

``switchboard ctl supervise CALL SUPERVISOR listen|whisper|barge`` (HTTP
``/ctl/calls/CALL/supervise``) rings the supervisor's phones (an account's registered and
static contacts, as for an agent); when one answers, the media engine mixes it into the call
(builtin engine: ``switch/media/mixer.py``). The mode can change during the call; the
supervisor hanging up leaves the call as it was; the call ending hangs the supervisor up.
Only calls connected to an agent can be supervised, one supervisor at a time.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from ..media.mixer import MODES
from ..sip.address import Listener, Peer
from . import vocabulary as v
from .agentdial import CallerShown, Destination, agent_invite, via_of
from .deliverystate import LegPlacer
from .outbound import OutboundLeg

log = logging.getLogger(__name__)


class SupervisionMedia(Protocol):
    async def supervise_offer(self, call_id: str, tag: str, mode: str) -> str: ...
    async def supervise_answer(self, call_id: str, tag: str, sdp: str) -> None: ...
    async def supervise_mode(self, call_id: str, tag: str, mode: str) -> None: ...
    async def unsupervise(self, call_id: str, tag: str) -> None: ...


class LiveCalls(Protocol):
    def connected_agent(self, call_id: str) -> str | None: ...
    def media_lock(self, call_id: str) -> asyncio.Lock | None: ...


@dataclass(frozen=True, slots=True)
class SupervisionChanged:
    """A supervisor joined (``mode``), changed mode, or left (``mode`` "")."""

    call_id: str
    supervisor: str
    mode: str


@dataclass(eq=False)
class Watch:
    call_id: str
    supervisor: str
    mode: str
    tag: str
    legs: dict[str, OutboundLeg]
    answered: OutboundLeg | None = None
    joined: bool = False


class Supervisors:
    def __init__(self, legs: LegPlacer, media: SupervisionMedia, calls: LiveCalls, *,
                 destinations: Callable[[str], list[Destination]],
                 local_for: Callable[[Peer], Listener | None],
                 publish: Callable[[object], None], domain: str, server: str) -> None:
        self.legs = legs
        self.media = media
        self.calls = calls
        self.destinations = destinations
        self.local_for = local_for
        self.publish = publish
        self.domain = domain
        self.server = server
        self.watches: dict[str, Watch] = {}  # by call
        self._by_leg: dict[str, Watch] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, call_id: str, supervisor: str, mode: str) -> dict[str, str]:
        """Ring ``supervisor``'s phones to join ``call_id``; ValueError when it cannot."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        agent = self.calls.connected_agent(call_id)
        if agent is None:
            raise ValueError(f"call {call_id} is not connected to an agent")
        if agent == supervisor:
            raise ValueError("an agent cannot supervise its own call")
        if call_id in self.watches:
            return self.change(call_id, mode)
        places = self.destinations(supervisor)
        if not places:
            raise ValueError(f"{supervisor} has no phone to ring")
        watch = Watch(call_id, supervisor, mode, f"sup-{secrets.token_hex(6)}", {})
        self.watches[call_id] = watch
        self._spawn(self._ring(watch, places))
        return {"call": call_id, "supervisor": supervisor, "mode": mode, "state": "ringing"}

    def change(self, call_id: str, mode: str) -> dict[str, str]:
        watch = self.watches.get(call_id)
        if watch is None:
            raise ValueError(f"call {call_id} is not supervised")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        watch.mode = mode
        if watch.joined:
            self._spawn(self._media(watch, self.media.supervise_mode(call_id, watch.tag, mode)))
            self.publish(SupervisionChanged(call_id, watch.supervisor, mode))
        return {"call": call_id, "supervisor": watch.supervisor, "mode": mode,
                "state": "joined" if watch.joined else "ringing"}

    def stop(self, call_id: str) -> dict[str, str]:
        watch = self.watches.get(call_id)
        if watch is None:
            raise ValueError(f"call {call_id} is not supervised")
        self._leave(watch, "stopped")
        self.legs.flush()
        return {"call": call_id, "supervisor": watch.supervisor, "mode": "", "state": "left"}

    def call_ended(self, call_id: str) -> None:
        watch = self.watches.get(call_id)
        if watch is not None:
            self._leave(watch, "call ended", engine=False)
            self.legs.flush()

    # -- the supervisor's phone -----------------------------------------------------------------

    async def _ring(self, watch: Watch, places: list[Destination]) -> None:
        lock = self.calls.media_lock(watch.call_id)
        try:
            if lock is None:
                raise RuntimeError("the call is gone")
            async with lock:
                sdp = await self.media.supervise_offer(watch.call_id, watch.tag, watch.mode)
        except Exception as exc:
            log.warning("call %s: supervision not started: %s", watch.call_id, exc)
            self.watches.pop(watch.call_id, None)
            return
        shown = CallerShown("supervision", f"listen to {watch.call_id[-6:]}")
        for place in places:
            local = self.local_for(place.peer)
            if local is None:
                continue
            invite = agent_invite(place, agent=watch.supervisor, domain=self.domain,
                                  local=local, shown=shown, sdp=sdp, server=self.server)
            leg = self.legs.place(invite, place.peer, via=via_of(invite))
            watch.legs[leg.leg_id] = leg
            self._by_leg[leg.leg_id] = watch
        if not watch.legs:
            self._leave(watch, "no phone")
        self.legs.flush()

    def on_leg_event(self, event: v.LegEvent) -> bool:
        watch = self._by_leg.get(event.leg_id)
        if watch is None:
            return False
        if isinstance(event, v.LegAnswered) and watch.answered is None:
            watch.answered = watch.legs[event.leg_id]
            for other in watch.legs.values():
                if other is not watch.answered:
                    other.hangup("answered elsewhere")
            self._spawn(self._join(watch, watch.answered))
        elif isinstance(event, v.LegEnded):
            self._by_leg.pop(event.leg_id, None)
            watch.legs.pop(event.leg_id, None)
            if (watch.answered is not None and event.leg_id == watch.answered.leg_id) \
                    or not watch.legs:
                self._leave(watch, "supervisor hung up")
        self.legs.flush()
        return True

    async def _join(self, watch: Watch, leg: OutboundLeg) -> None:
        lock = self.calls.media_lock(watch.call_id)
        try:
            if lock is None:
                raise RuntimeError("the call is gone")
            async with lock:
                await self.media.supervise_answer(watch.call_id, watch.tag, leg.remote_sdp)
                if watch.mode != "listen":  # the mode may have changed while it rang
                    await self.media.supervise_mode(watch.call_id, watch.tag, watch.mode)
        except Exception as exc:
            log.warning("call %s: supervisor not joined: %s", watch.call_id, exc)
            self._leave(watch, "media")
            self.legs.flush()
            return
        watch.joined = True
        self.publish(SupervisionChanged(watch.call_id, watch.supervisor, watch.mode))

    def _leave(self, watch: Watch, reason: str, *, engine: bool = True) -> None:
        if self.watches.get(watch.call_id) is not watch:
            return
        del self.watches[watch.call_id]
        for leg in list(watch.legs.values()):
            self._by_leg.pop(leg.leg_id, None)
            leg.hangup(reason)
        if watch.joined:
            self.publish(SupervisionChanged(watch.call_id, watch.supervisor, ""))
            if engine:
                self._spawn(self._media(watch, self.media.unsupervise(watch.call_id,
                                                                      watch.tag)))

    async def _media(self, watch: Watch, work: Coroutine[Any, Any, None]) -> None:
        lock = self.calls.media_lock(watch.call_id)
        try:
            if lock is None:
                await work
                return
            async with lock:
                await work
        except Exception as exc:
            log.warning("call %s: supervision media: %s", watch.call_id, exc)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
