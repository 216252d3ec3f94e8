"""Composition of the node's call stack: media engine, its events, TTS, IVR flows, services.

Kept out of ``app.py`` so the node's composition root stays about SIP. :class:`CallStack`:

- starts the builtin media engine under a supervisor (``media.engine: builtin``) or reaches a
  real rtpengine (``rtpengine://HOST:PORT``), and listens for the engines' events (DTMF,
  media lost...);
- publishes the IVR flows of the config as version 1 (a call stays on the version it began
  with) and renders prompts with espeak-ng once (cached under ``DATA_DIR/media/tts``);
- tells the node to answer calls (``Node.start_calls``) with a service per target: an IVR
  runner for ``ivr:NAME``, music on hold for ``queue:NAME``;
- ends the calls of an engine that died (the supervisor restarts it) and of callers whose
  media stopped, each with an event.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from .callcontrol import call as c
from .callcontrol.enginemedia import EngineMedia
from .callcontrol.holdmusic import ensure_beep, ensure_hold_music
from .callcontrol.service import ActiveCall, ServiceSession
from .config import parse_hostport
from .ivr import commands as ivr
from .ivr.runner import (
    CallbackRequested,
    CallQueued,
    IvrRunner,
    IvrStep,
    QueueHold,
    VoicemailStarted,
    new_session,
)
from .ivr.validate import routing_names
from .ivr.versions import FlowStore
from .media.client import MediaClient
from .media.events import MediaEvents
from .media.supervisor import EngineSupervisor
from .media.tts import TtsCache

if TYPE_CHECKING:
    from .app import Node

log = logging.getLogger("switch.calls")
events_log = logging.getLogger("switch.calls.events")

LOOKUP_LIMIT = 256 * 1024  # bytes of a customer system's answer we read at most


class CallStack:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.supervisor: EngineSupervisor | None = None
        self.client: MediaClient | None = None
        self.events: MediaEvents | None = None
        self.http: httpx.AsyncClient | None = None
        self.media: EngineMedia | None = None
        section = node.config.media
        # Absolute: the engine process resolves relative paths against its own folder.
        self.folder = (Path(node.config.node.data_dir) / "media").resolve()
        self.prompt_dir = (Path(node.config.node.data_dir) / "prompts").resolve()
        self.engine_url = section.engine
        self.flows = FlowStore.from_config(node.config.ivr, **routing_names(node.config.routing))
        node.bus.subscribe(log_call_event)

    async def start(self) -> None:
        config = self.node.config.media
        host, port = parse_hostport(config.events)
        self.events = MediaEvents(self._on_media_event, host, port)
        events_address = await self.events.start()
        if self.engine_url == "builtin":
            self.supervisor = EngineSupervisor(
                self.folder, interface=config.interface, port_min=config.port_min,
                port_max=config.port_max, events=events_address,
                media_timeout=config.media_timeout, on_death=self._engine_died)
            self.client = await self.supervisor.start()
        else:
            self.client = MediaClient.from_url(self.engine_url)
            await self.client.start()
        await self.client.ping()
        self.http = httpx.AsyncClient(follow_redirects=False)
        self.media = EngineMedia(self.client, TtsCache(self.folder))
        self.hold_music = ensure_hold_music(self.folder)
        self.beep = ensure_beep(self.folder)
        self.node.start_calls(self.media, self._service)
        where = f"builtin (pid {self.supervisor.pid})" if self.supervisor else self.engine_url
        log.info("media engine %s ready; answering calls", where)

    async def stop(self) -> None:
        if self.supervisor is not None:
            await self.supervisor.stop()
        elif self.client is not None:
            await self.client.close()
        if self.events is not None:
            await self.events.close()
        if self.http is not None:
            await self.http.aclose()

    def status(self) -> dict[str, Any]:
        return {"engine": "builtin" if self.supervisor else self.engine_url,
                "pid": self.supervisor.pid if self.supervisor else None,
                "restarts": self.supervisor.restarts if self.supervisor else 0,
                "prompts": str(self.prompt_dir)}

    async def statistics(self) -> dict[str, Any]:
        """The engine's own counters (sessions; ports in use for the builtin engine)."""
        if self.client is None:
            return {}
        return await self.client.statistics()

    # -- services -----------------------------------------------------------------------------

    def _service(self, call: ActiveCall, target: str) -> ServiceSession:
        assert self.media is not None
        kind, _, name = target.partition(":")
        calls = self.node.calls
        assert calls is not None
        if kind == "queue":
            return QueueHold(call, name, self.media, self.hold_music)
        session = new_session(name, self.flows, call, calls.clock(),
                              api_base=self.node.http_url or None)
        return IvrRunner(call, session, self.media, prompt_dir=self.prompt_dir,
                         hold_music=self.hold_music, beep=self.beep, lookup=self._lookup,
                         clock=calls.clock,
                         nudge=calls.rearm)

    async def _lookup(self, url: str, method: str, timeout: float) -> tuple[int, Any]:
        assert self.http is not None
        response = await self.http.request(method, url, timeout=timeout,
                                           headers={"Accept": "application/json"})
        body: Any = None
        if response.content and len(response.content) <= LOOKUP_LIMIT:
            try:
                body = response.json()
            except ValueError:
                body = None
        return response.status_code, body

    # -- engine events ------------------------------------------------------------------------

    def _on_media_event(self, event: dict[str, Any]) -> None:
        calls = self.node.calls
        call_id = event.get("callid")
        if calls is None or not isinstance(call_id, str):
            return
        kind = event.get("type")
        if kind == "DTMF" and isinstance(event.get("digit"), str):
            calls.digit(call_id, event["digit"])
        elif kind == "media_lost":
            calls.hang_up(call_id, "media lost")
        self.node.bus.publish(MediaEvent(call_id, str(kind), time.time(), event))

    def _engine_died(self, call_ids: set[str], code: int | None) -> None:
        calls = self.node.calls
        log.error("media engine died (exit %s): ending %d calls", code, len(call_ids))
        for call_id in call_ids:
            if calls is not None:
                calls.hang_up(call_id, "media engine died")


def log_call_event(event: object) -> None:
    """One INFO line per step of a call, for operators (and for tests reading the log)."""
    if isinstance(event, c.CallStarted):
        events_log.info("call %s started: from %s to %s (%s)", event.call_id, event.caller,
                        event.number, event.target)
    elif isinstance(event, c.CallAnswered):
        events_log.info("call %s answered in %.3f s", event.call_id, event.setup_seconds)
    elif isinstance(event, c.CallHeld):
        events_log.info("call %s %s", event.call_id, "on hold" if event.held else "resumed")
    elif isinstance(event, c.CallDigit):
        events_log.info("call %s digit %s (%s)", event.call_id, event.digit, event.via)
    elif isinstance(event, CallQueued):
        events_log.info("call %s queued in %s (music on hold)", event.call_id, event.queue)
    elif isinstance(event, IvrStep):
        notice = event.notice
        if isinstance(notice, ivr.StepTaken):
            events_log.info("call %s ivr %s %s %s", event.call_id, notice.node, notice.kind,
                            notice.detail)
        elif isinstance(notice, ivr.ResolvedInSelfService):
            events_log.info("call %s resolved in self-service at %s", event.call_id,
                            notice.node)
        elif isinstance(notice, ivr.FlowFailed):
            events_log.warning("call %s ivr failed at %s: %s", event.call_id, notice.node,
                               notice.reason)
    elif isinstance(event, CallbackRequested):
        events_log.info("call %s callback requested to %s by %s", event.call_id, event.number,
                        event.queue)
    elif isinstance(event, VoicemailStarted):
        events_log.info("call %s voicemail for %s (at most %d s)", event.call_id,
                        event.mailbox, event.max_seconds)
    elif isinstance(event, MediaEvent) and event.kind == "recording":
        events_log.info("call %s recording %s %s", event.call_id, event.raw.get("state"),
                        event.raw.get("file"))
    elif isinstance(event, MediaEvent) and event.kind not in ("DTMF", "playback"):
        events_log.info("call %s media %s", event.call_id, event.kind)
    elif isinstance(event, c.CallEnded):
        events_log.info("call %s ended: %s (%s, %.1f s)", event.call_id, event.reason,
                        "answered" if event.answered else "not answered",
                        event.duration_seconds)


@dataclass(frozen=True, slots=True)
class MediaEvent:
    """What a media engine reported about a call (for the bus and the metrics layer)."""

    call_id: str
    kind: str
    received_at: float
    raw: dict[str, Any] = field(hash=False, compare=False)
