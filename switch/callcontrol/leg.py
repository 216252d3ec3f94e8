"""An inbound SIP leg: one caller's INVITE and the dialog it creates (RFC 3261 §12, §13, §15).

Theory of operation. The UA layer (``useragent.py``) creates the leg for a new INVITE the
policy admitted and hands it every later message of that dialog: ACK, CANCEL, BYE, re-INVITE,
UPDATE, INFO, PRACK, OPTIONS, responses to what the leg sent, and timeouts. The call above
drives it with a few commands (:meth:`ring`, :meth:`answer`, :meth:`reject`, :meth:`hangup`,
:meth:`answer_update`) and hears back in its own vocabulary (``vocabulary.py``): the leg is the
only place that knows SIP headers.

State is an enum and a transition table (below). What the RFCs ask of a UAS that lives here:

- our To tag is fixed when the leg is made, so the dialog id is known at once (§12.1.1);
- the 2xx is retransmitted by the INVITE server transaction until the ACK (RFC 6026), and when
  no ACK comes (``AckTimedOut``) the leg confirms and ends the session with BYE (§13.3.1.4);
- CANCEL before the answer ends the leg (the transaction layer sent 200 and 487, §9.2); a CANCEL
  that crosses our 2xx changes nothing, the caller ends the call with BYE (§9.2);
- a re-INVITE while another offer is open is answered 491 if the open one is ours and 500 with
  Retry-After if it is theirs (§14.2), and a lower CSeq 500 (§12.2.2);
- session timers (RFC 4028, ``sessiontimer.py``): refresh by UPDATE (or re-INVITE without a new
  offer) at half the interval when we are the refresher, BYE when the caller is and stays
  silent;
- reliable provisional responses (RFC 3262) when the INVITE requires 100rel: RSeq, resent from
  T1 doubling until PRACK, and the INVITE refused 504 when no PRACK comes in 64*T1 (§3);
- INFO with ``application/dtmf-relay`` or ``application/dtmf`` carries digits (JsSIP's
  default); other INFO bodies are 415.

In-dialog requests go to the address the INVITE came from, over its connection for streams
(symmetric signalling, as RFC 3581 does for responses): a caller behind NAT or in a browser
cannot be reached at its Contact.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from ..sip.address import Listener, Peer
from ..sip.dialog import Dialog, DialogId
from ..sip.errors import ParseError, ProtocolError
from ..sip.headers import split_list
from ..sip.message import Request, Response, make_response
from ..sip.sdp import SessionDescription
from ..sip.timers import TimerValues
from ..sip.transaction import new_tag
from . import vocabulary as v
from .sessiontimer import SessionTimer

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK"
SUPPORTED = "100rel, timer"
SDP = "application/sdp"
_DTMF_RELAY = re.compile(r"(?im)^\s*signal\s*=\s*([0-9A-Da-d*#])\s*$")
_DTMF_DURATION = re.compile(r"(?im)^\s*duration\s*=\s*(\d{1,6})\s*$")


class SipPort(Protocol):
    """What a leg needs from the SIP endpoint (the driver implements it)."""

    def respond(self, request: Request, response: Response) -> None: ...
    def send_request(self, request: Request, peer: Peer) -> str: ...


class LegHost(Protocol):
    """The UA layer: sends for the leg and remembers who owns which transaction."""

    sip: SipPort

    def send_owned(self, leg: InboundLeg, request: Request, peer: Peer) -> str: ...
    def emit(self, event: v.LegEvent) -> None: ...


class LegState(Enum):
    INVITED = "invited"      # INVITE received, nothing but 100 sent
    EARLY = "early"          # a tagged 1xx sent
    ANSWERED = "answered"    # 2xx sent, waiting for the ACK
    CONFIRMED = "confirmed"  # ACK received: the call is up
    ENDING = "ending"        # our BYE is out
    ENDED = "ended"


class LegInput(Enum):
    RING = "ring"
    ANSWER = "answer"
    REJECT = "reject"
    CANCEL = "cancel"
    ACK = "ack"
    NO_ACK = "no ack"
    BYE = "bye received"
    HANGUP = "hang up"
    BYE_DONE = "our bye answered"
    LOST = "transport lost"


S, In = LegState, LegInput
TRANSITIONS: dict[tuple[LegState, LegInput], LegState] = {
    (S.INVITED, In.RING): S.EARLY, (S.EARLY, In.RING): S.EARLY,
    (S.INVITED, In.ANSWER): S.ANSWERED, (S.EARLY, In.ANSWER): S.ANSWERED,
    (S.INVITED, In.REJECT): S.ENDED, (S.EARLY, In.REJECT): S.ENDED,
    (S.INVITED, In.CANCEL): S.ENDED, (S.EARLY, In.CANCEL): S.ENDED,
    (S.INVITED, In.HANGUP): S.ENDED, (S.EARLY, In.HANGUP): S.ENDED,
    (S.INVITED, In.LOST): S.ENDED, (S.EARLY, In.LOST): S.ENDED,
    (S.ANSWERED, In.ACK): S.CONFIRMED,
    (S.ANSWERED, In.NO_ACK): S.ENDING,
    (S.ANSWERED, In.BYE): S.ENDED, (S.CONFIRMED, In.BYE): S.ENDED, (S.ENDING, In.BYE): S.ENDED,
    (S.ANSWERED, In.HANGUP): S.ENDING, (S.CONFIRMED, In.HANGUP): S.ENDING,
    (S.ANSWERED, In.LOST): S.ENDED, (S.CONFIRMED, In.LOST): S.ENDED, (S.ENDING, In.LOST): S.ENDED,
    (S.ENDING, In.BYE_DONE): S.ENDED,
    # Late or repeated signals once the leg is over change nothing.
    (S.CONFIRMED, In.ACK): S.CONFIRMED, (S.ENDING, In.ACK): S.ENDING, (S.ENDED, In.ACK): S.ENDED,
    (S.ENDING, In.HANGUP): S.ENDING, (S.ENDED, In.HANGUP): S.ENDED,
    (S.ENDED, In.BYE): S.ENDED, (S.ENDED, In.CANCEL): S.ENDED, (S.ENDED, In.LOST): S.ENDED,
    (S.ANSWERED, In.CANCEL): S.ANSWERED, (S.CONFIRMED, In.CANCEL): S.CONFIRMED,
    (S.ENDING, In.CANCEL): S.ENDING, (S.ENDED, In.BYE_DONE): S.ENDED,
    (S.ENDED, In.NO_ACK): S.ENDED, (S.ENDING, In.NO_ACK): S.ENDING,
    (S.CONFIRMED, In.NO_ACK): S.CONFIRMED,
}


@dataclass(slots=True)
class _Reliable:
    """A reliable provisional response waiting for its PRACK (RFC 3262 §3)."""

    response: Response
    rseq: int
    interval: float
    next_send: float
    give_up: float


@dataclass(slots=True)
class _Refresh:
    """Our session refresh in flight (RFC 4028 §7.4/§9)."""

    request: Request
    key: str


@dataclass(slots=True)
class LegSettings:
    contact: str                 # our Contact URI for this leg's transport
    via: str                     # "SIP/2.0/UDP host:port" for requests we send
    server: str                  # Server header value
    timers: TimerValues = field(default_factory=lambda: TimerValues(0.5, 4.0, 5.0))


class InboundLeg:
    def __init__(self, host: LegHost, invite: Request, peer: Peer, local: Listener,
                 settings: LegSettings, session: SessionTimer | None, now: float,
                 leg_id: str | None = None) -> None:
        self.host = host
        self.invite = invite
        self.peer = peer
        self.local = local
        self.settings = settings
        self.session = session
        self.leg_id = leg_id or secrets.token_hex(8)
        self.local_tag = new_tag()
        self.state = LegState.INVITED
        self.dialog: Dialog | None = None
        self.local_sdp = ""
        self.started = now
        self.refreshed_at = now
        self._reliable: _Reliable | None = None
        self._rseq = secrets.randbelow(2**20) + 1
        self._pending_offer: Request | None = None  # their re-INVITE/UPDATE we must answer
        self._refresh: _Refresh | None = None
        self._reoffer_pending = False
        self._answered_refresh: _Refresh | None = None
        self._bye_key: str | None = None
        self._ended_event_sent = False
        self.requires_100rel = "100rel" in _tags(invite, "Require")
        self.caller_allows = {m.upper() for value in invite.headers.getall("Allow")
                              for m in split_list(value)}

    # -- identity -----------------------------------------------------------------------------

    @property
    def dialog_id(self) -> DialogId:
        return DialogId(self.invite.call_id, self.local_tag, self.invite.from_.tag or "")

    @property
    def ended(self) -> bool:
        return self.state is LegState.ENDED

    def _step(self, event: LegInput) -> LegState:
        following = TRANSITIONS.get((self.state, event))
        if following is None:
            raise ProtocolError(f"leg {self.leg_id} cannot {event.value} when"
                                f" {self.state.value}")
        self.state = following
        return following

    # -- commands from the call ---------------------------------------------------------------

    def ring(self, now: float, sdp: str = "") -> None:
        """180 Ringing (183 with ``sdp`` for early media); reliable when 100rel is required."""
        if self.state not in (LegState.INVITED, LegState.EARLY):
            return
        status = 183 if sdp else 180
        extra = [("Contact", f"<{self.settings.contact}>")]
        if self.requires_100rel:
            if self._reliable is not None:
                return  # §3: one unacknowledged reliable provisional at a time
            self._rseq += 1
            extra += [("Require", "100rel"), ("RSeq", str(self._rseq))]
        response = self._response(status, body=sdp, extra=extra)
        self._ensure_dialog(response)
        self._step(LegInput.RING)
        self.host.sip.respond(self.invite, response)
        if self.requires_100rel:
            t1 = self.settings.timers.t1
            self._reliable = _Reliable(response, self._rseq, t1, now + t1, now + 64 * t1)

    def answer(self, sdp: str, now: float) -> None:
        """200 OK with our SDP; a leg cancelled meanwhile stays ended (the CANCEL won)."""
        if self.state not in (LegState.INVITED, LegState.EARLY):
            return
        self.local_sdp = sdp
        extra = [("Contact", f"<{self.settings.contact}>"), ("Allow", ALLOW),
                 ("Supported", SUPPORTED), ("Content-Type", SDP)]
        if self.session is not None:
            extra += self.session.response_headers()
        response = self._response(200, body=sdp, extra=extra)
        self._ensure_dialog(response)
        assert self.dialog is not None
        self.dialog.confirm()
        self._reliable = None  # a final response ends the provisional's retransmission
        self._step(LegInput.ANSWER)
        self.refreshed_at = now
        self.host.sip.respond(self.invite, response)
        self.host.emit(v.LegAnswered(self.leg_id))

    def reject(self, status: int, reason: str | None, now: float) -> None:
        if self.state not in (LegState.INVITED, LegState.EARLY):
            return
        self._reliable = None
        self._step(LegInput.REJECT)
        self.host.sip.respond(self.invite, self._response(status, reason))
        self._ended(v.REJECTED, status)

    def hangup(self, now: float, reason: str = v.BY_LOCAL) -> None:
        """End the leg from our side: BYE when answered, 480 before."""
        if self.state in (LegState.INVITED, LegState.EARLY):
            self.reject(480, None, now)
            return
        if self.state in (LegState.ANSWERED, LegState.CONFIRMED):
            self._step(LegInput.HANGUP)
            self._send_bye(reason)

    def answer_update(self, sdp: str, now: float) -> None:
        """Answer the open re-INVITE/UPDATE offer with our ``sdp``."""
        request, self._pending_offer = self._pending_offer, None
        if request is None or self.state is LegState.ENDED:
            return
        self.local_sdp = sdp
        self.refreshed_at = now
        extra = [("Contact", f"<{self.settings.contact}>"), ("Content-Type", SDP)]
        if self.session is not None:
            extra += self.session.response_headers()
        self.host.sip.respond(request, self._response(200, body=sdp, extra=extra,
                                                      request=request))

    # -- input from the UA layer --------------------------------------------------------------

    def on_ack(self, ack: Request, now: float) -> None:
        if self.state is LegState.ANSWERED:
            self._step(LegInput.ACK)
            self.host.emit(v.LegConfirmed(self.leg_id, _sdp_of(ack)))

    def on_ack_timeout(self, now: float) -> None:
        if self.state is LegState.ANSWERED:
            self._step(LegInput.NO_ACK)
            self._send_bye(v.NO_ACK)

    def on_cancel(self, now: float) -> None:
        """The transaction layer already answered CANCEL 200 and the INVITE 487 (§9.2)."""
        if self.state in (LegState.INVITED, LegState.EARLY):
            self._reliable = None
            self._step(LegInput.CANCEL)
            self._ended(v.CANCELLED, 487)

    def on_transport_lost(self, now: float) -> None:
        if self.state is not LegState.ENDED:
            self._step(LegInput.LOST)
            self._ended(v.TRANSPORT, None)

    def on_request(self, request: Request, peer: Peer, now: float) -> None:
        """A request inside this dialog (never ACK or CANCEL: see on_ack / on_cancel)."""
        method = request.method
        if method == "PRACK":
            self._on_prack(request)
            return
        if self.dialog is None or self.state is LegState.ENDED:
            self.host.sip.respond(request, self._response(481, request=request))
            return
        status = self.dialog.receive_request(request)
        if status is not None:
            self.host.sip.respond(request, self._response(status, request=request))
            return
        if method == "BYE":
            self._on_bye(request)
        elif method in ("INVITE", "UPDATE"):
            self._on_offer(request, now)
        elif method == "INFO":
            self._on_info(request)
        elif method == "OPTIONS":
            self.host.sip.respond(request, self._response(200, request=request, extra=[
                ("Allow", ALLOW), ("Supported", SUPPORTED), ("Accept", SDP)]))
        else:
            self.host.sip.respond(request, self._response(405, request=request,
                                                          extra=[("Allow", ALLOW)]))

    def on_response(self, response: Response, key: str, now: float) -> None:
        if key == self._bye_key:
            if response.status >= 200:
                self._bye_key = None
                if self.state is LegState.ENDING:
                    self._step(LegInput.BYE_DONE)
            return
        refresh = self._refresh
        if refresh is None or key != refresh.key:
            done = self._answered_refresh
            if done is not None and key == done.key and 200 <= response.status < 300:
                self._ack_refresh(done.request, response)  # a retransmitted 2xx (§13.2.2.4)
            return
        if refresh.request.method == "INVITE" and 200 <= response.status < 300:
            self._ack_refresh(refresh.request, response)  # every 2xx, retransmissions too
        if response.status < 200:
            return
        self._refresh = None
        if response.status < 300:
            self.refreshed_at = now
            if refresh.request.method == "INVITE":
                self._answered_refresh = refresh  # its 2xx may come again: ACK each one
        elif response.status in (408, 481) or response.status >= 500:
            # §10: a failed refresh ends the session (a 491 glare is retried next deadline)
            self.hangup(now, v.SESSION_EXPIRED)
            return
        if self._reoffer_pending:  # a newer SDP waited for this transaction to finish
            self._reoffer_pending = False
            self.reoffer(self.local_sdp, now)

    def on_timeout(self, key: str, now: float) -> None:
        if key == self._bye_key:
            self._bye_key = None
            if self.state is LegState.ENDING:
                self._step(LegInput.BYE_DONE)
        elif self._refresh is not None and key == self._refresh.key:
            self._refresh = None
            self.hangup(now, v.SESSION_EXPIRED)

    # -- time ---------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        deadlines = []
        if self._reliable is not None:
            deadlines.append(min(self._reliable.next_send, self._reliable.give_up))
        if self.session is not None and self.state is LegState.CONFIRMED \
                and self._refresh is None:
            deadlines.append(self.session.deadline(self.refreshed_at))
        return min(deadlines) if deadlines else None

    def on_timer(self, now: float) -> None:
        reliable = self._reliable
        if reliable is not None:
            if now >= reliable.give_up:
                # RFC 3262 §3: no PRACK in 64*T1: refuse the INVITE with a 5xx.
                self._reliable = None
                self.reject(504, "Server Time-out (no PRACK)", now)
                return
            if now >= reliable.next_send:
                self.host.sip.respond(self.invite, reliable.response)
                reliable.interval *= 2
                reliable.next_send = now + reliable.interval
        session = self.session
        if session is not None and self.state is LegState.CONFIRMED and self._refresh is None \
                and now >= session.deadline(self.refreshed_at):
            if session.we_refresh:
                self._send_refresh()
            else:
                self.hangup(now, v.SESSION_EXPIRED)

    # -- the parts ----------------------------------------------------------------------------

    def _on_prack(self, request: Request) -> None:
        reliable = self._reliable
        rack = (request.headers.get("RAck") or "").split()
        matches = (reliable is not None and len(rack) == 3 and rack[0] == str(reliable.rseq)
                   and rack[1] == str(self.invite.cseq.seq) and rack[2].upper() == "INVITE")
        if not matches:
            self.host.sip.respond(request, self._response(481, request=request))
            return
        self._reliable = None
        self.host.sip.respond(request, self._response(200, request=request))

    def _on_bye(self, request: Request) -> None:
        self.host.sip.respond(request, self._response(200, request=request))
        was = self.state
        self._reliable = None
        self._pending_offer = None
        self._step(LegInput.BYE)
        if was is not LegState.ENDING:
            self._ended(v.BY_REMOTE, None)

    def _on_offer(self, request: Request, now: float) -> None:
        if self._refresh is not None and request.method == "INVITE":
            # §14.2: our re-INVITE is open: glare.
            self.host.sip.respond(request, self._response(491, request=request))
            return
        if self._pending_offer is not None or (self.state is not LegState.CONFIRMED
                                               and request.method == "INVITE"):
            self.host.sip.respond(request, self._response(
                500, "Server Internal Error (an offer is already open)", request=request,
                extra=[("Retry-After", str(1 + secrets.randbelow(10)))]))
            return
        self.refreshed_at = now
        sdp = _sdp_of(request)
        if not sdp:
            # No offer: a session refresh (UPDATE) or an offer left to us (re-INVITE): answer
            # with our current description (§14.2, RFC 4028 §7.4).
            extra = [("Contact", f"<{self.settings.contact}>")]
            if self.session is not None:
                extra += self.session.response_headers()
            body = self.local_sdp if request.method == "INVITE" else ""
            if body:
                extra.append(("Content-Type", SDP))
            self.host.sip.respond(request, self._response(200, body=body, extra=extra,
                                                          request=request))
            return
        self._pending_offer = request
        self.host.emit(v.LegUpdateOffered(self.leg_id, sdp, _is_hold(sdp)))

    def _on_info(self, request: Request) -> None:
        digit, duration, refusal = info_digit(request)
        if refusal is not None:
            status, reason, extra = refusal
            self.host.sip.respond(request, self._response(status, reason, request=request,
                                                          extra=extra))
            return
        self.host.sip.respond(request, self._response(200, request=request))
        self.host.emit(v.DigitReceived(self.leg_id, digit, duration))

    def _send_bye(self, reason: str) -> None:
        assert self.dialog is not None
        bye = self.dialog.create_request("BYE", via=self.settings.via, extra=[
            ("Reason", f'SIP;cause=200;text="{reason}"'), ("User-Agent", self.settings.server)])
        self._ended(reason, None)
        try:
            self._bye_key = self.host.send_owned(self, bye, self.peer)
        except (ProtocolError, OSError):
            self._bye_key = None
            self.state = LegState.ENDED

    def reoffer(self, sdp: str, now: float) -> None:
        """Our side of the media moved (the engine gave the caller a new address): offer it
        in a re-INVITE (RFC 3261 §14.1). The caller's answer is not needed: its own address
        does not change. A refresh already in flight carries the old SDP; this one follows."""
        self.local_sdp = sdp
        if self.state is not LegState.CONFIRMED or self.dialog is None:
            return
        if self._refresh is not None:
            self._reoffer_pending = True
            return
        request = self.dialog.create_request(
            "INVITE", via=self.settings.via, body=sdp.encode(), content_type=SDP,
            extra=[("Supported", SUPPORTED)])
        self._refresh = _Refresh(request, self.host.send_owned(self, request, self.peer))

    def _send_refresh(self) -> None:
        assert self.dialog is not None
        extra = [("Session-Expires", f"{self.session.interval};refresher=uas")] \
            if self.session is not None else []
        extra.append(("Supported", SUPPORTED))
        if "UPDATE" in self.caller_allows:
            request = self.dialog.create_request("UPDATE", via=self.settings.via, extra=extra)
        else:
            request = self.dialog.create_request(
                "INVITE", via=self.settings.via, body=self.local_sdp.encode(),
                content_type=SDP, extra=extra)
        key = self.host.send_owned(self, request, self.peer)
        self._refresh = _Refresh(request, key)

    def _ack_refresh(self, invite: Request, response: Response) -> None:
        assert self.dialog is not None
        ack = self.dialog.create_ack(invite, via=self.settings.via)
        self.host.sip.send_request(ack, self.peer)

    def _ended(self, reason: str, status: int | None) -> None:
        if not self._ended_event_sent:
            self._ended_event_sent = True
            self.host.emit(v.LegEnded(self.leg_id, reason, status))

    def _ensure_dialog(self, response: Response) -> None:
        if self.dialog is None:
            self.dialog = Dialog.as_uas(self.invite, response)
            self.dialog.local_contact = f"<{self.settings.contact}>"

    def _response(self, status: int, reason: str | None = None, *, body: str = "",
                  extra: list[tuple[str, str]] | None = None,
                  request: Request | None = None) -> Response:
        headers = [*(extra or []), ("Server", self.settings.server)]
        return make_response(request or self.invite, status, reason, to_tag=self.local_tag,
                             body=body.encode(), extra=headers)


def _tags(request: Request, name: str) -> set[str]:
    return {t.lower() for value in request.headers.getall(name) for t in split_list(value)}


def _sdp_of(message: Request) -> str:
    if not message.body:
        return ""
    content_type = (message.content_type or "").lower()
    if content_type != SDP:
        return ""
    return message.body.decode("utf-8", "replace")


Refusal = tuple[int, str | None, list[tuple[str, str]]]


def info_digit(request: Request) -> tuple[str, int, Refusal | None]:
    """The DTMF key of a SIP INFO (RFC 2976; ``application/dtmf-relay`` as JsSIP and most
    phones send it, or ``application/dtmf``): (digit, duration ms, None), or the refusal."""
    content_type = (request.content_type or "").lower()
    body = request.body.decode("utf-8", "replace")
    if content_type not in ("application/dtmf-relay", "application/dtmf"):
        return "", 0, (415, None, [("Accept", "application/dtmf-relay")])
    if content_type == "application/dtmf":
        digit, duration = body.strip()[:1], 100
    else:
        signal = _DTMF_RELAY.search(body)
        digit = signal.group(1) if signal else ""
        length = _DTMF_DURATION.search(body)
        duration = int(length.group(1)) if length else 100
    if not digit or digit.upper() not in "0123456789ABCD*#":
        return "", 0, (400, "Bad Request (no DTMF signal in the body)", [])
    return digit.upper(), duration, None


def is_hold(sdp: str) -> bool:
    return _is_hold(sdp)


def _is_hold(sdp: str) -> bool:
    """RFC 3264 §8.4: sendonly or inactive (or the old c=0.0.0.0) puts the answerer on hold."""
    try:
        description = SessionDescription.parse(sdp)
    except ParseError:
        return False
    for media in description.media:
        if description.direction_for(media) in ("sendonly", "inactive"):
            return True
        connection = description.connection_for(media)
        if connection is not None and connection.is_hold_address:
            return True
    return False

