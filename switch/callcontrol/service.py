"""The call-control edge: runs the user-agent layer and the calls on the node's event loop.

One :class:`CallService` per node. The node hands it every SIP event first
(:meth:`handle_sip`; it claims what belongs to a dialog or to a leg's transaction) and the
INVITEs its policy admitted (:meth:`admit`). The pure parts (``useragent``, ``leg``, ``call``)
decide; this module carries out their commands:

- media through a :class:`MediaPort` (the media engine client: builtin engine or rtpengine).
  Those calls are asynchronous, so each runs as a task whose result is fed back to the call
  as an input (``media_ready``, ``media_failed``, ``media_released``): the state machines
  never wait;
- what answers the call (an IVR flow, a queue's music) through a :class:`ServiceSession`
  made by the ``services`` factory when the caller's ACK arrives;
- one loop timer at the earliest deadline of the legs and the sessions (monotonic clock).

Every call event goes to the bus. A call whose media cannot be anchored is refused 503; a
session that fails hangs up with an event; nothing here can stop the SIP core (exceptions are
logged, the call is ended).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from ..looptimer import LoopTimer
from ..sip.address import Listener, Peer
from ..sip.events import Event
from ..sip.message import Request
from . import call as c
from . import vocabulary as v
from .leg import InboundLeg, SipPort
from .outbound import OutboundLeg
from .useragent import UserAgent

log = logging.getLogger(__name__)


class MediaPort(Protocol):
    """What calls need from the media engine (see switch/media/ for the ng client)."""

    async def anchor_caller(self, call_id: str, caller_tag: str, sdp: str) -> str: ...
    async def update_caller(self, call_id: str, caller_tag: str, sdp: str) -> str: ...
    async def release(self, call_id: str) -> None: ...
    async def offer_far_side(self, call_id: str, caller_tag: str) -> str: ...
    async def connect_far_side(self, call_id: str, caller_tag: str, far_sdp: str, *,
                               lost_after: float | None = None) -> str | None: ...


# (the caller's call, its target "outbound:NUMBER" | "agent:ID", the SDP offer) -> the leg
# placed toward the trunk or the agent's phone; LookupError: nobody to ring there (480)
Dialer = Callable[["ActiveCall", str, str], OutboundLeg]


class ServiceSession(Protocol):
    """An answered call's service (IVR flow, queue music); told what happens to the call."""

    def start(self, now: float) -> None: ...
    def digit(self, digit: str, now: float) -> None: ...
    def stop(self) -> None: ...
    def next_deadline(self) -> float | None: ...
    def on_timer(self, now: float) -> None: ...


ServiceFactory = Callable[["ActiveCall", str], ServiceSession]


class ActiveCall:
    """A call with its leg, as the service sessions see it."""

    def __init__(self, service: CallService, call: c.Call, leg: InboundLeg) -> None:
        self.service = service
        self.call = call
        self.leg = leg
        self.session: ServiceSession | None = None
        self.far: OutboundLeg | None = None  # an outbound call's leg toward the customer
        self.held = False
        # Media commands of one call run one after another: a release must not overtake the
        # anchoring it undoes (a CANCEL during set-up), or the engine keeps ports for nothing.
        self.media_lock = asyncio.Lock()

    @property
    def call_id(self) -> str:
        return self.call.call_id

    @property
    def caller(self) -> str:
        return self.call.caller

    @property
    def number(self) -> str:
        return self.call.number

    @property
    def caller_tag(self) -> str:
        return self.leg.invite.from_.tag or ""

    def hang_up(self, reason: str) -> None:
        self.service.hang_up(self.call_id, reason)

    def reoffer(self, sdp: str | None) -> None:
        """The engine moved the caller's side of the media: tell the caller (re-INVITE)."""
        if sdp is not None:
            self.leg.reoffer(sdp, self.service.clock())
            self.service.flush()

    def publish(self, event: object) -> None:
        self.service.publish(event)


class CallService:
    def __init__(self, sip: SipPort, media: MediaPort, services: ServiceFactory, *,
                 server: str, publish: Callable[[object], None],
                 clock: Callable[[], float] = time.monotonic,
                 session_interval: int = 1800, min_se: int = 90) -> None:
        self.media = media
        self.services = services
        self.publish = publish
        self.clock = clock
        self.ua = UserAgent(sip, server=server, session_interval=session_interval,
                            min_se=min_se, on_event=self._on_leg_event)
        self.calls: dict[str, ActiveCall] = {}
        self._by_leg: dict[str, ActiveCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer = LoopTimer(clock, self._on_timer)
        self.draining = False
        # Events of legs we placed (agents' phones) go to whoever placed them (delivery).
        self.on_outbound: Callable[[v.LegEvent], None] | None = None
        # How outbound calls (target ``outbound:NUMBER``) reach the trunk; None: no trunk.
        self.dialer: Dialer | None = None
        self._by_far: dict[str, ActiveCall] = {}

    # -- SIP in -------------------------------------------------------------------------------

    def handle_sip(self, event: Event) -> bool:
        claimed = self.ua.handle(event, self.clock())
        if claimed:
            self._arm()
        return claimed

    def connection_lost(self, peer: Peer) -> None:
        self.ua.connection_lost(peer, self.clock())
        self._arm()

    def admit(self, invite: Request, peer: Peer, local: Listener, target: str) -> None:
        """An INVITE the policy admitted to ``target`` ("ivr:main", "queue:support")."""
        now = self.clock()
        leg = self.ua.accept_invite(invite, peer, local, now)
        if leg is None:
            return  # refused by the leg layer (422)
        if not _sdp(invite):
            # An offer-less INVITE would need our offer in the 2xx and the answer in the ACK
            # (RFC 3264 §4); the engines anchor offers only: refuse it clearly.
            leg.reject(488, "Not Acceptable Here (an SDP offer is required)", now)
            self.ua.flush_events()
            return
        call = c.Call(f"call-{secrets.token_hex(8)}", leg.leg_id, caller=_user(invite),
                      number=_dialled(invite), target=target, now=now)
        active = ActiveCall(self, call, leg)
        self.calls[call.call_id] = active
        self._by_leg[leg.leg_id] = active
        self._run(active, call.offered(_sdp(invite)))
        self.ua.flush_events()
        self._arm()

    def take_far(self, call_id: str) -> OutboundLeg | None:
        """Detach an outbound call's far leg (another call takes it over: a consult
        transfer); ending this call then leaves that leg alone."""
        active = self.calls.get(call_id)
        if active is None or active.far is None:
            return None
        far, active.far = active.far, None
        self._by_far.pop(far.leg_id, None)
        return far

    def hang_up(self, call_id: str, reason: str) -> None:
        active = self.calls.get(call_id)
        if active is not None:
            self._run(active, active.call.hang_up(reason, self.clock()))
            self.ua.flush_events()
            self._arm()

    # -- leg events ---------------------------------------------------------------------------

    def place(self, invite: Request, peer: Peer, *, via: str) -> OutboundLeg:
        """Send an INVITE we made (to an agent's phone); its events go to ``on_outbound``."""
        leg = self.ua.place(invite, peer, via=via)
        return leg

    def flush(self) -> None:
        """After commands given to legs outside a SIP event: send their events, re-arm."""
        self.ua.flush_events()
        self._arm()

    def _on_leg_event(self, event: v.LegEvent) -> None:
        active = self._by_leg.get(event.leg_id)
        if active is None:
            far = self._by_far.get(event.leg_id)
            if far is not None:
                self._on_far_event(far, event)
            elif self.on_outbound is not None:
                self.on_outbound(event)
            return
        now = self.clock()
        if isinstance(event, v.LegConfirmed):
            self._run(active, active.call.confirmed(now))
        elif isinstance(event, v.LegEnded):
            self._run(active, active.call.caller_gone(event.reason, now))
        elif isinstance(event, v.DigitReceived):
            self.publish(c.CallDigit(active.call_id, event.digit, "info"))
            if active.session is not None:
                active.session.digit(event.digit, now)
        elif isinstance(event, v.LegUpdateOffered):
            if event.held != active.held:
                active.held = event.held
                self.publish(c.CallHeld(active.call_id, event.held))
            self._spawn(active, self._update(active, event.sdp))

    def digit(self, call_id: str, digit: str) -> None:
        """A DTMF digit the media engine detected (RFC 4733) on the caller's stream."""
        active = self.calls.get(call_id)
        if active is None:
            return
        self.publish(c.CallDigit(call_id, digit, "rfc4733"))
        if active.session is not None:
            active.session.digit(digit, self.clock())
            self._arm()

    # -- commands -----------------------------------------------------------------------------

    def _run(self, active: ActiveCall, commands: list[c.Command]) -> None:
        now = self.clock()
        # What happened to the call is told before what it sets off (answered, then queued).
        for event in active.call.take_events():
            self.publish(event)
        for command in commands:
            if isinstance(command, c.AnchorMedia):
                self._spawn(active, self._anchor(active, command.offer))
            elif isinstance(command, c.AnswerCaller):
                active.leg.answer(command.sdp, now)
            elif isinstance(command, c.RejectCaller):
                active.leg.reject(command.status, command.reason, now)
            elif isinstance(command, c.StartService):
                self._start_service(active, command.target, now)
            elif isinstance(command, c.StopService):
                session, active.session = active.session, None
                if session is not None:
                    _quietly(session.stop)
            elif isinstance(command, c.HangupCaller):
                active.leg.hangup(now, command.reason)
            elif isinstance(command, c.ReleaseMedia):
                self._spawn(active, self._release(active))
            elif isinstance(command, c.DialOut):
                self._spawn(active, self._dial(active, command.target))
            elif isinstance(command, c.RingCaller):
                active.leg.ring(now)
            elif isinstance(command, c.HangupFar) and active.far is not None:
                active.far.hangup("caller hung up")
        for event in active.call.take_events():
            self.publish(event)

    def _start_service(self, active: ActiveCall, target: str, now: float) -> None:
        try:
            active.session = self.services(active, target)
            active.session.start(now)
        except Exception:
            log.exception("call %s: the service for %s failed to start", active.call_id,
                          target)
            active.session = None
            self._run(active, active.call.hang_up(f"service {target} failed", now))

    async def _anchor(self, active: ActiveCall, offer: str) -> None:
        try:
            async with active.media_lock:
                answer = await self.media.anchor_caller(active.call_id, active.caller_tag,
                                                        offer)
        except Exception as exc:  # the engine is down, refused the SDP, timed out
            log.warning("call %s: media not anchored: %s", active.call_id, exc)
            self._after(active, active.call.media_failed(str(exc), self.clock()))
            return
        self._after(active, active.call.media_ready(answer))

    # -- outbound calls -----------------------------------------------------------------------

    async def _dial(self, active: ActiveCall, target: str) -> None:
        try:
            if self.dialer is None:
                raise RuntimeError("no trunk for outbound calls")
            async with active.media_lock:
                sdp = await self.media.offer_far_side(active.call_id, active.caller_tag)
            if active.call.state is not c.CallState.DIALING:
                return  # the caller gave up meanwhile
            far = self.dialer(active, target, sdp)
        except LookupError as exc:
            self._after(active, active.call.far_failed(480, f"Temporarily Unavailable ({exc})"))
            return
        except Exception as exc:
            log.warning("call %s: cannot dial %s: %s", active.call_id, target, exc)
            self._after(active, active.call.far_failed(503, "Service Unavailable (trunk)"))
            return
        active.far = far
        self._by_far[far.leg_id] = active
        self.ua.flush_events()
        self._arm()

    def _on_far_event(self, active: ActiveCall, event: v.LegEvent) -> None:
        now = self.clock()
        if isinstance(event, v.LegRinging):
            self._run(active, active.call.far_ringing())
        elif isinstance(event, v.LegAnswered) and active.far is not None:
            self._spawn(active, self._connect_far(active, active.far))
        elif isinstance(event, v.LegEnded):
            self._by_far.pop(event.leg_id, None)
            if active.call.state is c.CallState.DIALING:
                reason = {v.TRANSPORT: "far end unreachable"}.get(event.reason, event.reason)
                self._run(active, active.call.far_failed(event.status, reason))
            else:
                self._run(active, active.call.hang_up(
                    "far end hung up" if event.reason == v.BY_REMOTE else event.reason, now))

    async def _connect_far(self, active: ActiveCall, far: OutboundLeg) -> None:
        try:
            async with active.media_lock:
                changed = await self.media.connect_far_side(active.call_id, active.caller_tag,
                                                            far.remote_sdp)
            if changed is not None:  # not answered yet: the 200 carries it
                active.call.answer_sdp = changed
        except Exception as exc:
            log.warning("call %s: far end's media refused: %s", active.call_id, exc)
            far.hangup("media")
            self._after(active, active.call.hang_up("far end's media refused", self.clock()))
            return
        self._after(active, active.call.far_answered())

    async def _update(self, active: ActiveCall, offer: str) -> None:
        try:
            async with active.media_lock:
                answer = await self.media.update_caller(active.call_id, active.caller_tag,
                                                        offer)
        except Exception as exc:
            log.warning("call %s: re-offer refused by the media engine: %s", active.call_id,
                        exc)
            answer = active.leg.local_sdp  # keep the session as it was
        active.leg.answer_update(answer, self.clock())
        self.ua.flush_events()
        self._arm()

    async def _release(self, active: ActiveCall) -> None:
        try:
            async with active.media_lock:
                await self.media.release(active.call_id)
        except Exception as exc:
            log.warning("call %s: media release failed: %s", active.call_id, exc)
        active.call.media_released(self.clock())
        for event in active.call.take_events():
            self.publish(event)
        self.calls.pop(active.call_id, None)
        self._by_leg.pop(active.leg.leg_id, None)
        if active.far is not None:
            self._by_far.pop(active.far.leg_id, None)

    def _after(self, active: ActiveCall, commands: list[c.Command]) -> None:
        self._run(active, commands)
        self.ua.flush_events()
        self._arm()

    def _spawn(self, active: ActiveCall, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the one timer ------------------------------------------------------------------------

    def rearm(self) -> None:
        """A session's deadline may have moved (a prompt started): re-arm the timer."""
        self._arm()

    def _deadline(self) -> float | None:
        deadlines = [d for d in (self.ua.next_deadline(),
                                 *(a.session.next_deadline() for a in self.calls.values()
                                   if a.session is not None)) if d is not None]
        return min(deadlines) if deadlines else None

    def _arm(self) -> None:
        self._timer.arm(self._deadline())

    def _on_timer(self) -> None:
        now = self.clock()
        self.ua.on_timer(now)
        for active in list(self.calls.values()):
            session = active.session
            if session is not None:
                deadline = session.next_deadline()
                if deadline is not None and deadline <= now:
                    try:
                        session.on_timer(now)
                    except Exception:
                        log.exception("call %s: service timer failed", active.call_id)
                        self._run(active, active.call.hang_up("service failed", now))
        self.ua.flush_events()
        self._arm()

    # -- shutdown -----------------------------------------------------------------------------

    async def close(self) -> None:
        """Hang up every call (BYE) and free its media."""
        for call_id in list(self.calls):
            self.hang_up(call_id, "node shutting down")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        self._timer.cancel()

    @property
    def active_calls(self) -> int:
        return len(self.calls)


def _quietly(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:
        log.exception("stopping a call service failed")


def _user(invite: Request) -> str:
    uri = invite.from_.uri
    user = getattr(uri, "user", None)
    return str(user) if user else str(uri)


def _dialled(invite: Request) -> str:
    return str(getattr(invite.uri, "user", "") or "")


def _sdp(invite: Request) -> str:
    if invite.body and (invite.content_type or "").lower() == "application/sdp":
        return invite.body.decode("utf-8", "replace")
    return ""
