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

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from routing.config import load_config as load_routing

from .callcontrol import call as c
from .callcontrol import clicktodial as ctd
from .callcontrol import deliverystate as dl
from .callcontrol import incall, mobile, waiting
from .callcontrol.agentdial import (
    CallerShown,
    Destination,
    agent_invite,
    destinations,
    trunk_destination,
    via_of,
)
from .callcontrol.clicktodial import ClickToDial
from .callcontrol.delivery import GOODBYES, Delivery, QueueSession
from .callcontrol.deliverystate import WaitingPolicy
from .callcontrol.enginemedia import EngineMedia
from .callcontrol.holdmusic import ensure_beep, ensure_hold_music
from .callcontrol.mobilelogin import MobileLogin
from .callcontrol.outbound import OutboundLeg
from .callcontrol.presence import Presence
from .callcontrol.service import ActiveCall, CallService, ServiceSession
from .callcontrol.supervise import Supervisors
from .callcontrol.vocabulary import LegEvent
from .calllog import log_call_event
from .config import parse_hostport
from .ivr import commands as ivr
from .ivr import survey
from .ivr.runner import (
    CallQueued,
    IvrRunner,
    QueueHold,
    new_session,
)
from .ivr.validate import routing_names
from .ivr.versions import FlowStore
from .media.client import MediaClient
from .media.events import MediaEvent, MediaEvents
from .media.supervisor import EngineSupervisor
from .media.tts import TtsCache
from .registrar.locations import Binding, ContactRegistered
from .sip.address import Listener, Peer
from .sip.uri import SipUri, parse_uri
from .transport.base import source_address

if TYPE_CHECKING:
    from .app import Node

# Fixed texts the call services speak (rendered ahead of need: _first_agent_call).
NOTICES = (incall.RECONNECTING, incall.TRANSFERRING, incall.NOT_TAKEN, mobile.WHISPER,
           waiting.VOICEMAIL_PROMPT, waiting.CALLBACK_PROMPT, *GOODBYES.values(),
           ctd.RINGBACK_NOTICE, ctd.FAILED_NOTICE, survey.THANKS)
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
        self.delivery: Delivery | None = None
        self.presence: Presence | None = None
        self.clicktodial: ClickToDial | None = None
        self._prerender: asyncio.Task[None] | None = None
        self.supervisors: Supervisors | None = None
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
        calls = self.node.start_calls(self.media, self._service)
        calls.dialer = self._dial_out
        if self.node.config.routing is not None:
            self._start_delivery(calls)
        where = f"builtin (pid {self.supervisor.pid})" if self.supervisor else self.engine_url
        log.info("media engine %s ready; answering calls", where)

    def _first_agent_call(self, event: object) -> None:
        """The first call an agent answers renders the fixed notices (once; they stay cached
        on disk): a failover must not wait for "your agent was disconnected" to be
        synthesised. Not at start: espeak-ng and the resampling would compete with the first
        calls' prompts on the node's core."""
        if isinstance(event, dl.AgentAnswered) and self._prerender is None:
            self._prerender = asyncio.ensure_future(self._render_notices())

    async def _render_notices(self) -> None:
        assert self.media is not None
        for text in NOTICES:
            try:
                await self.media.tts(text)
            except Exception as exc:
                log.warning("notice not rendered: %s", exc)
                return
            await asyncio.sleep(0.2)

    def _start_delivery(self, calls: CallService) -> None:
        """Queues reach agents: the router on this loop, agents' phones rung by call
        control, their presence followed from the registrar's events."""
        config = self.node.config
        router_config = load_routing(config.routing or {})
        assert self.media is not None
        self.delivery = Delivery(
            router_config, calls, self.media, destinations=self._destinations,
            mobile_destination=self._mobile_destination,
            resolve_transfer=self._transfer_target, consults=self._consult_call,
            end_consult=self._end_consult,
            local_for=self._local_for, publish=self.node.bus.publish,
            domain=config.node.domain, server=f"switchboard/{self.node.version}",
            hold_music=self.hold_music, beep=self.beep,
            policies={queue: WaitingPolicy(p.announce_every, tuple(p.keys.items()),
                                           p.voicemail_seconds, p.record)
                      for queue, p in config.queue_policies.items()},
            show_caller_number=config.calls.show_caller_number,
            unreachable_retry=config.calls.unreachable_retry,
            agent_lost_after=config.calls.agent_media_timeout, clock=calls.clock)
        self.clicktodial = ClickToDial(
            calls, self.media, self.delivery, destinations=self._destinations,
            customer_destination=self._mobile_destination, local_for=self._local_for,
            caller_id=self._company_number, publish=self.node.bus.publish,
            domain=config.node.domain, server=f"switchboard/{self.node.version}",
            clock=calls.clock)
        self.supervisors = Supervisors(
            calls, self.media, self.delivery, destinations=self._destinations,
            local_for=self._local_for, publish=self.node.bus.publish,
            domain=config.node.domain, server=f"switchboard/{self.node.version}")
        self.node.bus.subscribe(self._supervised_call_ended)
        self.node.bus.subscribe(self._first_agent_call)
        calls.on_outbound = self._outbound_event
        static = {a.username for a in config.accounts if a.contact}
        self.presence = Presence(self.delivery, {a.id for a in router_config.agents},
                                 auto_ready=config.calls.auto_ready, static=static,
                                 live_contacts=self._live_contacts)
        self.node.bus.subscribe(self.presence.on_event)
        self.presence.start()
        for binding in list(self.node.locations):  # phones registered before we started
            self.presence.on_event(ContactRegistered(binding.aor, binding.contact, 0,
                                                     binding.peer))

    def _dial_out(self, call: ActiveCall, target: str, sdp: str) -> OutboundLeg:
        """An agent's call: ``agent:ID`` rings that agent's first phone (an internal call);
        ``outbound:NUMBER`` goes through the trunk, from the company's number."""
        config = self.node.config
        kind, _, number = target.partition(":")
        if kind == "agent":
            places = self._destinations(number)
            if not places:
                raise LookupError(f"{number} has no phone")
            local = self._local_for(places[0].peer)
            if local is None:
                raise LookupError(f"no listener to reach {number}")
            invite = agent_invite(places[0], agent=number, domain=config.node.domain,
                                  local=local, shown=CallerShown(call.caller, "internal call"),
                                  sdp=sdp, server=f"switchboard/{self.node.version}")
            assert self.node.calls is not None
            return self.node.calls.place(invite, places[0].peer, via=via_of(invite))
        trunk = config.outbound()
        if trunk is None:
            raise RuntimeError("no trunk configured")
        place = trunk_destination(trunk.uri, number)
        local = self._local_for(place.peer)
        if local is None:
            raise RuntimeError(f"no {place.peer.transport} listener to reach the trunk")
        invite = agent_invite(place, agent=number, domain=config.node.domain, local=local,
                              shown=CallerShown(trunk.caller_id, ""), sdp=sdp,
                              server=f"switchboard/{self.node.version}")
        assert self.node.calls is not None
        return self.node.calls.place(invite, place.peer, via=via_of(invite))

    def _outbound_event(self, event: LegEvent) -> None:
        """A leg we placed: a queue call's agent, or a click-to-dial call's."""
        if self.delivery is not None and self.delivery.on_leg_event(event):
            return
        if self.supervisors is not None and self.supervisors.on_leg_event(event):
            return
        if self.clicktodial is not None:
            self.clicktodial.on_leg_event(event)

    def _supervised_call_ended(self, event: object) -> None:
        if isinstance(event, c.CallEnded) and self.supervisors is not None:
            self.supervisors.call_ended(event.call_id)

    def _company_number(self) -> str:
        trunk = self.node.config.outbound()
        return trunk.caller_id if trunk is not None else "anonymous"

    def _bindings(self, agent: str) -> list[Binding]:
        aor = self.node.registrar.aor_for(agent)
        qualifier = self.node.qualifier
        return [b for b in self.node.locations.lookup(aor, time.time())
                if qualifier.is_reachable(aor, b.contact) is not False]

    def _live_contacts(self, agent: str) -> int:
        mobile = self.delivery is not None and agent in self.delivery.mobile
        return len(self._bindings(agent)) + (1 if mobile else 0)

    async def _say(self, call: ActiveCall, text: str) -> float:
        assert self.media is not None
        return await self.media.play(call.call_id, call.caller_tag,
                                     await self.media.tts(text))

    def _check_pin(self, agent: str, pin: str) -> bool:
        account = self.node.config.account(agent)
        if account is None or account.pin is None:
            return False
        return hmac.compare_digest(account.pin.get_secret_value().encode(), pin.encode())

    def _consult_call(self, replaces: str) -> tuple[str, str, OutboundLeg] | None:
        """The consult call a Replaces names (RFC 3891: Call-ID;to-tag;from-tag of the
        referring agent's own call to a colleague): (call id, colleague, its phone's leg)."""
        calls = self.node.calls
        if calls is None:
            return None
        call_id, _, params = replaces.partition(";")
        tags = {value.strip() for name, _, value in (p.partition("=")
                                                     for p in params.split(";"))
                if name.strip().lower() in ("to-tag", "from-tag")}
        for active in calls.calls.values():
            invite = active.leg.invite
            far = active.far
            if invite.call_id != call_id.strip() or far is None or far.ended \
                    or not active.call.target.startswith("agent:"):
                continue
            if tags and not tags & {invite.from_.tag or "", active.leg.local_tag}:
                continue
            return active.call_id, active.call.target.split(":", 1)[1], far
        return None

    def _end_consult(self, call_id: str) -> None:
        calls = self.node.calls
        if calls is not None:
            calls.take_far(call_id)
            calls.hang_up(call_id, "transferred")

    def _transfer_target(self, refer_to: str) -> tuple[str, str] | None:
        """A Refer-To (``<sip:201@domain>``) as (kind, name): what its number leads to
        (``queue``, ``ivr``, ``agent``), or ``number`` for a customer's number."""
        text = refer_to.strip()
        if "<" in text:
            text = text[text.index("<") + 1:text.index(">")] if ">" in text else text[1:]
        try:
            uri = parse_uri(text.split("?", 1)[0])
        except Exception:
            return None
        user = getattr(uri, "user", None)
        if not isinstance(uri, SipUri) or not user:
            return None
        target = self.node.config.numbers.get(user)
        if target is not None:
            kind, _, name = target.partition(":")
            return kind, name
        if self.node.config.account(user) is not None:
            return "agent", user
        return ("number", user) if user.lstrip("+").isdigit() else None

    def _mobile_destination(self, number: str) -> Destination:
        trunk = self.node.config.outbound()
        if trunk is None:
            raise ValueError("mobile login needs a trunk (trunks: in the config)")
        return trunk_destination(trunk.uri, number)

    def _destinations(self, agent: str) -> list[Destination]:
        account = self.node.config.account(agent)
        return destinations(self._bindings(agent), account.contact if account else None)

    def _local_for(self, peer: Peer) -> Listener | None:
        """Our listener for reaching ``peer`` (Via, Contact); a wildcard bind advertises
        the address the kernel would send from."""
        local = self.node.transports.listener_for(peer.transport, peer.host)
        if local is None or local.host not in ("0.0.0.0", "::"):
            return local
        return Listener(local.transport, source_address(peer.host), local.port)

    async def stop(self) -> None:
        if self._prerender is not None:
            self._prerender.cancel()
        if self.delivery is not None:
            self.delivery.close()
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
        delivery = self.delivery
        if kind == "login" and delivery is not None:
            return MobileLogin(call, say=lambda text: self._say(call, text),
                               check_pin=self._check_pin,
                               command=delivery.agent_command)
        if kind == "queue":
            if delivery is None:
                return QueueHold(call, name, self.media, self.hold_music)
            call.publish(CallQueued(call.call_id, name, 0, None, None))
            return QueueSession(delivery, call, name)

        def enqueue(command: ivr.Enqueue, after_agent: Callable[[], bool] | None
                    ) -> QueueSession:
            assert delivery is not None
            return QueueSession(delivery, call, command.queue, command.tier, after_agent)

        session = new_session(name, self.flows, call, calls.clock(),
                              api_base=self.node.http_url or None)
        return IvrRunner(call, session, self.media, prompt_dir=self.prompt_dir,
                         hold_music=self.hold_music, beep=self.beep, lookup=self._lookup,
                         clock=calls.clock, nudge=calls.rearm,
                         enqueue=enqueue if delivery is not None else None)

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
        tag = str(event.get("tag", event.get("source_tag", "")))
        far = (self.media is not None and self.delivery is not None
               and self.media.is_far_side(call_id, tag))
        if kind == "DTMF" and isinstance(event.get("digit"), str):
            if far and self.delivery is not None:
                self.delivery.agent_digit(call_id, event["digit"])  # an agent's key
            else:
                calls.digit(call_id, event["digit"])
        elif kind == "media_lost":
            if far and self.delivery is not None:
                self.delivery.agent_lost(call_id, "media lost")
            else:
                calls.hang_up(call_id, "media lost")
        self.node.bus.publish(MediaEvent(call_id, str(kind), time.time(), event))

    def _engine_died(self, call_ids: set[str], code: int | None) -> None:
        calls = self.node.calls
        log.error("media engine died (exit %s): ending %d calls", code, len(call_ids))
        for call_id in call_ids:
            if calls is not None:
                calls.hang_up(call_id, "media engine died")
