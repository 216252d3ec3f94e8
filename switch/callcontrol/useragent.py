"""The user-agent layer between the transaction endpoint and the calls (RFC 3261 §8, §12).

Every SIP event from the endpoint passes :meth:`UserAgent.handle` first. It claims what
belongs to a dialog or to a transaction one of its legs started, and leaves the rest (new
requests outside any dialog, responses to the registrar's qualify probes) to the node:

- requests with a To tag go to the dialog they name; PRACK also finds its leg before the
  dialog is confirmed. A tagged request for no dialog is not claimed: the policy answers 481;
- ACK for a 2xx, ``AckTimedOut``, and ``CancelReceived`` find their leg by the INVITE;
- responses, timeouts and transport failures of client transactions go to the leg that sent
  the request: every request a leg sends is registered here with its owner
  (:meth:`send_owned`), so no other part of the node needs to know what it was for.

New calls come in through :meth:`accept_invite`, once the policy has admitted the INVITE.
Leg events are collected and handed to ``on_event`` (the call layer) in order.

Pure: time is an argument; the SIP port (the driver) does the I/O.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Protocol

from ..sip import events as sip
from ..sip.address import Listener, Peer
from ..sip.dialog import DialogId
from ..sip.message import Request, Response
from ..sip.reply import reply
from ..sip.timers import TimerValues
from . import vocabulary as v
from .leg import InboundLeg, LegSettings, SipPort
from .outbound import OutboundLeg
from .sessiontimer import DEFAULT_INTERVAL, MIN_SE, TooSmall, negotiate

log = logging.getLogger(__name__)


class TransactionOwner(Protocol):
    """Whoever sent a request hears its responses and its timeout (a leg, in or out)."""

    def on_response(self, response: Response, key: str, now: float) -> None: ...
    def on_timeout(self, key: str, now: float) -> None: ...


class UserAgent:
    def __init__(self, sip_port: SipPort, *, server: str, contact_user: str = "switchboard",
                 session_interval: int = DEFAULT_INTERVAL, min_se: int = MIN_SE,
                 timers: TimerValues | None = None,
                 on_event: Callable[[v.LegEvent], None] | None = None) -> None:
        self.sip = sip_port
        self.server = server
        self.contact_user = contact_user
        self.session_interval = session_interval
        self.min_se = min_se
        self.timers = timers or TimerValues(0.5, 4.0, 5.0)
        self.on_event = on_event
        self.legs: dict[str, InboundLeg] = {}
        self._by_dialog: dict[DialogId, InboundLeg] = {}
        self._by_invite: dict[tuple[str, str, int], InboundLeg] = {}  # Call-ID, From tag, CSeq
        self._owners: dict[str, TransactionOwner] = {}  # client transaction key -> leg
        self._pending: list[v.LegEvent] = []
        self.outbound: dict[str, OutboundLeg] = {}
        self._by_local: dict[tuple[str, str], OutboundLeg] = {}  # (Call-ID, our From tag)

    # -- the LegHost side ---------------------------------------------------------------------

    def send_owned(self, leg: TransactionOwner, request: Request, peer: Peer) -> str:
        key = self.sip.send_request(request, peer)
        self._owners[key] = leg
        return key

    def emit(self, event: v.LegEvent) -> None:
        self._pending.append(event)

    def flush_events(self) -> None:
        """Hand collected leg events to the call layer; drop legs that are over."""
        while self._pending:
            event = self._pending.pop(0)
            if self.on_event is not None:
                try:
                    self.on_event(event)
                except Exception:  # a bug above must not wedge the SIP layer
                    log.exception("call layer failed on %r", event)
        for leg in [leg for leg in self.legs.values() if leg.ended]:
            self._forget(leg)
        for out in [out for out in self.outbound.values() if out.ended]:
            self.outbound.pop(out.leg_id, None)
            self._by_local.pop((out.invite.call_id, out.invite.from_.tag or ""), None)
            for key in [k for k, owner in self._owners.items() if owner is out]:
                del self._owners[key]

    # -- new calls ----------------------------------------------------------------------------

    def accept_invite(self, invite: Request, peer: Peer, local: Listener,
                      now: float) -> InboundLeg | None:
        """Make the leg of an admitted INVITE; None when it was refused here (422)."""
        try:
            session = negotiate(invite, interval=self.session_interval, min_se=self.min_se)
        except TooSmall as small:
            self.sip.respond(invite, reply(invite, 422, to_tag=None, extra=[
                ("Min-SE", str(small.min_se)), ("Server", self.server)]))
            return None
        local = _advertised(local, invite)
        settings = LegSettings(contact=self._contact(local), via=_via(local),
                               server=self.server, timers=self.timers)
        leg = InboundLeg(self, invite, peer, local, settings, session, now)
        self.legs[leg.leg_id] = leg
        self._by_dialog[leg.dialog_id] = leg
        self._by_invite[(invite.call_id, invite.from_.tag or "", invite.cseq.seq)] = leg
        return leg

    def place(self, invite: Request, peer: Peer, *, via: str) -> OutboundLeg:
        """Send ``invite`` (complete: our From tag, Call-ID, Contact) and return its leg."""
        leg = OutboundLeg(self, invite, peer, via=via)
        self.outbound[leg.leg_id] = leg
        self._by_local[(invite.call_id, invite.from_.tag or "")] = leg
        leg.start()
        return leg

    def _contact(self, local: Listener) -> str:
        host = f"[{local.host}]" if ":" in local.host else local.host
        transport = "" if local.transport == "udp" else f";transport={local.transport}"
        return f"sip:{self.contact_user}@{host}:{local.port}{transport}"

    # -- SIP events ---------------------------------------------------------------------------

    def handle(self, event: sip.Event, now: float) -> bool:
        """Route ``event`` to its leg; False when it is not ours (the node handles it)."""
        claimed = self._route(event, now)
        if claimed:
            self.flush_events()
        return claimed

    def _route(self, event: sip.Event, now: float) -> bool:
        if isinstance(event, sip.RequestReceived):
            request = event.request
            to_tag = request.to.tag
            if to_tag is None:
                return False
            leg = self._by_dialog.get(DialogId.for_incoming(request))
            if leg is not None:
                leg.on_request(request, event.peer, now)
                return True
            out = self._by_local.get((request.call_id, to_tag))
            if out is None:
                return False  # the policy answers 481 (§12.2.2)
            out.on_request(request, event.peer, now)
            return True
        if isinstance(event, sip.AckReceived):
            leg = self._by_dialog.get(DialogId.for_incoming(event.request))
            if leg is None:
                out = self._by_local.get((event.request.call_id, event.request.to.tag or ""))
                if out is None:
                    return False
                out.on_ack(event.request)
                return True
            leg.on_ack(event.request, now)
            return True
        if isinstance(event, sip.CancelReceived | sip.AckTimedOut):
            invite = event.invite
            found = self._by_invite.get((invite.call_id, invite.from_.tag or "",
                                         invite.cseq.seq))
            if found is None:
                return False
            if isinstance(event, sip.CancelReceived):
                found.on_cancel(now)
            else:
                found.on_ack_timeout(now)
            return True
        if isinstance(event, sip.ResponseReceived):
            owner = self._owners.get(event.key)
            if owner is None:
                return False
            if event.response.status >= 200 and event.response.cseq.method != "INVITE":
                del self._owners[event.key]
            owner.on_response(event.response, event.key, now)
            return True
        if isinstance(event, sip.TransactionTimedOut | sip.TransportFailed):
            owner = self._owners.pop(event.key, None)
            if owner is not None:
                owner.on_timeout(event.key, now)
                return True
            # A server transaction of one of our INVITEs failed (no ACK for a non-2xx...).
            failed = event.request
            if failed is not None and failed.method == "INVITE":
                leg = self._by_invite.get((failed.call_id, failed.from_.tag or "",
                                           failed.cseq.seq))
                if leg is not None:
                    if isinstance(event, sip.TransportFailed):
                        leg.on_transport_lost(now)
                    return True
            return False
        return False

    def connection_lost(self, peer: Peer, now: float) -> None:
        """A stream connection closed: a leg that came in on it can no longer be reached."""
        for leg in list(self.legs.values()):
            if peer.conn_id is not None and leg.peer.conn_id == peer.conn_id \
                    and leg.peer.transport == peer.transport:
                leg.on_transport_lost(now)
        self.flush_events()

    # -- time ---------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        deadlines = [d for leg in self.legs.values() if (d := leg.next_deadline()) is not None]
        return min(deadlines) if deadlines else None

    def on_timer(self, now: float) -> None:
        for leg in list(self.legs.values()):
            deadline = leg.next_deadline()
            if deadline is not None and deadline <= now:
                leg.on_timer(now)
        self.flush_events()

    # -- bookkeeping --------------------------------------------------------------------------

    def _forget(self, leg: InboundLeg) -> None:
        self.legs.pop(leg.leg_id, None)
        self._by_dialog.pop(leg.dialog_id, None)
        invite = leg.invite
        self._by_invite.pop((invite.call_id, invite.from_.tag or "", invite.cseq.seq), None)
        for key in [k for k, owner in self._owners.items() if owner is leg]:
            del self._owners[key]


def _advertised(local: Listener, invite: Request) -> Listener:
    """The listener as the caller can reach it: a wildcard bind (0.0.0.0, ::) is no address
    to put in Contact or Via, so use the address the caller sent the INVITE to when that is
    an IP literal (it reached us there)."""
    if local.host not in ("0.0.0.0", "::", ""):
        return local
    host = getattr(invite.uri, "host", "").strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return local
    return Listener(local.transport, host, local.port)


def _via(local: Listener) -> str:
    host = f"[{local.host}]" if ":" in local.host else local.host
    return f"SIP/2.0/{local.transport.upper()} {host}:{local.port}"
