"""An outbound SIP leg: an INVITE we send (to an agent's phone, a mobile through a trunk) and
the dialog its answer creates (RFC 3261 §8.1, §9.1, §12.1.2, §13.2, §15).

The first piece of call delivery (agents are rung through these legs). Same shape as the
inbound leg: the UA layer owns the transactions and routes their responses here; the call
above gives commands (:meth:`start`, :meth:`cancel`, :meth:`hangup`) and hears back in the call
vocabulary (ringing, answered, failed, ended).

What the RFCs ask of a UAC that lives here:

- CANCEL only after a provisional response arrived (§9.1): a cancel asked for before that is
  remembered and sent on the first 1xx; a final response that arrives first makes it moot;
- a 2xx that arrives after our CANCEL (the race) is ACKed and the session ended with BYE
  (§15: the UAC must not leave a confirmed dialog it does not want);
- every 2xx, retransmissions included, is ACKed (§13.2.2.4); the ACK goes to the dialog's
  remote target, in its own transaction-less request;
- no final response in 64*T1 (Timer B) or a transport error fails the leg with 408 / 503.

State is an enum and a transition table.
"""

from __future__ import annotations

import secrets
from enum import Enum
from typing import Protocol

from ..sip.address import Peer
from ..sip.dialog import Dialog
from ..sip.errors import ParseError, ProtocolError
from ..sip.message import Request, Response, make_response
from ..sip.transaction import make_cancel
from . import vocabulary as v
from .leg import SipPort, info_digit, is_hold

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER"


class OutboundHost(Protocol):
    sip: SipPort

    def send_owned(self, leg: OutboundLeg, request: Request, peer: Peer) -> str: ...
    def emit(self, event: v.LegEvent) -> None: ...


class OutState(Enum):
    CALLING = "calling"        # INVITE sent, nothing back yet
    PROCEEDING = "proceeding"  # a provisional arrived (100 too): CANCEL is now possible
    CANCELLING = "cancelling"  # our CANCEL is out; waiting for the INVITE's final response
    CONFIRMED = "confirmed"    # 2xx ACKed: the call is up
    ENDING = "ending"          # our BYE is out
    ENDED = "ended"


class OutInput(Enum):
    PROVISIONAL = "1xx"
    SUCCESS = "2xx"
    FAILURE = "non-2xx final"
    CANCEL = "cancel"
    HANGUP = "hang up"
    BYE = "bye received"
    BYE_DONE = "our bye answered"


S, In = OutState, OutInput
TRANSITIONS: dict[tuple[OutState, OutInput], OutState] = {
    (S.CALLING, In.PROVISIONAL): S.PROCEEDING, (S.PROCEEDING, In.PROVISIONAL): S.PROCEEDING,
    (S.CALLING, In.SUCCESS): S.CONFIRMED, (S.PROCEEDING, In.SUCCESS): S.CONFIRMED,
    (S.CALLING, In.FAILURE): S.ENDED, (S.PROCEEDING, In.FAILURE): S.ENDED,
    (S.CALLING, In.CANCEL): S.CALLING,  # remembered: sent on the first 1xx (§9.1)
    (S.PROCEEDING, In.CANCEL): S.CANCELLING,
    (S.CANCELLING, In.PROVISIONAL): S.CANCELLING,
    (S.CANCELLING, In.FAILURE): S.ENDED,      # the 487 we asked for
    (S.CANCELLING, In.SUCCESS): S.ENDING,     # the 2xx crossed our CANCEL: ACK, then BYE
    (S.CONFIRMED, In.HANGUP): S.ENDING, (S.CONFIRMED, In.BYE): S.ENDED,
    (S.ENDING, In.BYE): S.ENDED, (S.ENDING, In.BYE_DONE): S.ENDED,
    (S.CONFIRMED, In.SUCCESS): S.CONFIRMED, (S.ENDING, In.SUCCESS): S.ENDING,  # 2xx again
    (S.ENDED, In.SUCCESS): S.ENDED, (S.ENDED, In.HANGUP): S.ENDED,
    (S.ENDED, In.CANCEL): S.ENDED, (S.ENDED, In.BYE): S.ENDED,
    (S.ENDING, In.HANGUP): S.ENDING, (S.ENDING, In.CANCEL): S.ENDING,
    (S.CONFIRMED, In.CANCEL): S.CONFIRMED,
}


class OutboundLeg:
    def __init__(self, host: OutboundHost, invite: Request, peer: Peer, *, via: str,
                 leg_id: str | None = None) -> None:
        """``invite``: a complete INVITE with our From tag, Call-ID, CSeq, Contact and Via
        (``via``, our sent-by, is also used for the ACK and BYE we send later)."""
        self.host = host
        self.invite = invite
        self.peer = peer
        self.via = via
        self.leg_id = leg_id or secrets.token_hex(8)
        self.state = OutState.CALLING
        self.dialog: Dialog | None = None
        self.remote_sdp = ""
        self._invite_key: str | None = None
        self._cancel_wanted = False
        self._bye_key: str | None = None
        self._ended_sent = False
        self._pending_offer: Request | None = None
        self._reinvite: Request | None = None  # our re-INVITE (a consult transfer)
        self._reinvite_key: str | None = None  # until its final response
        self._reinvite_done: str | None = None  # its key, for retransmitted 2xx
        self._refer_open = False
        # What we offered the phone (the INVITE's SDP), answered again on hold and resume.
        self.local_sdp = invite.body.decode("utf-8", "replace") if invite.body else ""

    @property
    def ended(self) -> bool:
        return self.state is OutState.ENDED

    def _step(self, event: OutInput) -> OutState:
        following = TRANSITIONS.get((self.state, event))
        if following is None:
            raise ProtocolError(f"outbound leg {self.leg_id} cannot take {event.value} when"
                                f" {self.state.value}")
        was, self.state = self.state, following
        return was

    # -- commands -----------------------------------------------------------------------------

    def start(self) -> None:
        self._invite_key = self.host.send_owned(self, self.invite, self.peer)

    def cancel(self) -> None:
        """Stop ringing: CANCEL now if a provisional came, else as soon as one does."""
        was = self._step(OutInput.CANCEL)
        if was is OutState.CALLING:
            self._cancel_wanted = True
        elif was is OutState.PROCEEDING:
            self.host.send_owned(self, make_cancel(self.invite), self.peer)

    def give_up(self) -> None:
        """Nothing at all came back in time (RFC 3261 §17.2.1: a UAS sends 100 Trying within
        200 ms): the leg is over for the call now, as if the phone were unreachable. A late
        provisional still gets its CANCEL, a late 2xx its ACK and BYE, so the phone never keeps
        a call nobody is on."""
        if self.state is OutState.CALLING:
            self.cancel()
            self._ended(v.TRANSPORT, None)

    def hangup(self, reason: str = v.BY_LOCAL) -> None:
        if self.state in (OutState.CALLING, OutState.PROCEEDING):
            self.cancel()
            return
        if self._step(OutInput.HANGUP) is OutState.CONFIRMED:
            self._send_bye(reason)

    # -- input from the UA layer --------------------------------------------------------------

    def on_response(self, response: Response, key: str, now: float) -> None:
        if key == self._bye_key:
            if response.status >= 200 and self.state is OutState.ENDING:
                self._step(OutInput.BYE_DONE)
            return
        if self._reinvite is not None and key in (self._reinvite_key, self._reinvite_done):
            self._reinvite_done = key
            self._on_reinvite_response(response)
            return
        if key != self._invite_key:
            return  # the CANCEL's own 200: nothing to do (§9.1)
        status = response.status
        if status < 200:
            self._step(OutInput.PROVISIONAL)  # §9.1: any provisional, 100 included
            if self._cancel_wanted and self.state is OutState.PROCEEDING:
                self._cancel_wanted = False
                self.cancel()
            elif self.state is OutState.PROCEEDING and status in (180, 183):
                self.host.emit(v.LegRinging(self.leg_id, status))
            return
        if status >= 300:
            self._step(OutInput.FAILURE)
            cancelled = self._cancel_wanted or status == 487
            self._ended(v.CANCELLED if cancelled else v.REJECTED, status)
            return
        self._on_success(response)

    def on_timeout(self, key: str, now: float) -> None:
        if key == self._bye_key:
            if self.state is OutState.ENDING:
                self._step(OutInput.BYE_DONE)
        elif key == self._invite_key and self.state in (OutState.CALLING, OutState.PROCEEDING,
                                                        OutState.CANCELLING):
            self._step(OutInput.FAILURE)
            self._ended(v.TRANSPORT, 408)
        elif key == self._reinvite_key:
            self._reinvite_key = None
            self.host.emit(v.LegReoffered(self.leg_id, 408, ""))

    def on_request(self, request: Request, peer: Peer, now: float) -> None:
        """A request inside our dialog (RFC 3261 §12.2.2): BYE ends it; a re-INVITE or
        UPDATE with an offer (the agent holds or resumes) is told to the owner, who answers
        with :meth:`answer_update`; INFO carries DTMF; OPTIONS and a refresh without an offer
        are answered at once; other methods get 405."""
        if self.dialog is None or self.state is OutState.ENDED:
            self.host.sip.respond(request, _answer(request, 481))
            return
        status = self.dialog.receive_request(request)
        if status is not None:
            self.host.sip.respond(request, _answer(request, status))
            return
        method = request.method
        if method == "BYE":
            self.host.sip.respond(request, _answer(request, 200))
            if self._step(OutInput.BYE) is not OutState.ENDING:
                self._ended(v.BY_REMOTE, None)
        elif method in ("INVITE", "UPDATE"):
            sdp = _sdp(request)
            if self._pending_offer is not None:  # §14.2: one offer at a time
                self.host.sip.respond(request, _answer(request, 500, extra=[
                    ("Retry-After", "1")]))
            elif not sdp:  # a session refresh: the session as it is
                body = self.local_sdp if method == "INVITE" else ""
                self.host.sip.respond(request, self._reply(request, 200, body))
            else:
                self._pending_offer = request
                self.host.emit(v.LegUpdateOffered(self.leg_id, sdp, is_hold(sdp)))
        elif method == "INFO":
            digit, duration, refusal = info_digit(request)
            if refusal is not None:
                code, reason, extra = refusal
                self.host.sip.respond(request, _answer(request, code, reason, extra))
                return
            self.host.sip.respond(request, _answer(request, 200))
            self.host.emit(v.DigitReceived(self.leg_id, digit, duration))
        elif method == "OPTIONS":
            self.host.sip.respond(request, _answer(request, 200, extra=[("Allow", ALLOW)]))
        elif method == "REFER":
            self._on_refer(request)
        else:
            self.host.sip.respond(request, _answer(request, 405, extra=[("Allow", ALLOW)]))

    def answer_update(self, sdp: str) -> None:
        """Answer the agent's re-INVITE or UPDATE offer with ``sdp``."""
        request, self._pending_offer = self._pending_offer, None
        if request is None:
            return
        self.local_sdp = sdp
        self.host.sip.respond(request, self._reply(request, 200, sdp))

    def _on_refer(self, request: Request) -> None:
        """RFC 3515: one REFER at a time, answered 202; its outcome follows in NOTIFYs."""
        targets = request.headers.getall("Refer-To")
        if len(targets) != 1:  # §2.4.1: exactly one Refer-To
            self.host.sip.respond(request, _answer(request, 400, "Bad Request (one Refer-To)"))
            return
        if self._refer_open:
            self.host.sip.respond(request, _answer(request, 491))
            return
        self._refer_open = True
        self.host.sip.respond(request, _answer(request, 202, extra=[
            ("Contact", self.invite.headers.get("Contact") or "")]))
        self.host.emit(v.LegReferred(self.leg_id, targets[0].strip()))

    def notify_refer(self, status: int, reason: str, *, final: bool = True) -> None:
        """Tell the phone how its transfer went (§2.4.4: a message/sipfrag status line; the
        last NOTIFY terminates the implicit subscription)."""
        if self.dialog is None or self.state not in (OutState.CONFIRMED, OutState.ENDING):
            return
        state = "terminated;reason=noresource" if final else "active;expires=60"
        body = f"SIP/2.0 {status} {reason}\r\n".encode()
        notify = self.dialog.create_request(
            "NOTIFY", via=self.via, body=body, content_type="message/sipfrag;version=2.0",
            extra=[("Event", "refer"), ("Subscription-State", state)])
        self.host.send_owned(self, notify, self.peer)
        if final:
            self._refer_open = False

    def reoffer(self, sdp: str) -> None:
        """Offer the phone a new SDP in a re-INVITE (RFC 3261 §14.1): its media now goes to
        another call's far side (a consult transfer); ``LegReoffered`` tells the outcome."""
        if self.dialog is None or self.state is not OutState.CONFIRMED:
            raise ProtocolError(f"outbound leg {self.leg_id} has no confirmed dialog")
        self.local_sdp = sdp
        request = self.dialog.create_request("INVITE", via=self.via, body=sdp.encode(),
                                             content_type="application/sdp")
        self._reinvite = request
        self._reinvite_key = self.host.send_owned(self, request, self.peer)

    def _on_reinvite_response(self, response: Response) -> None:
        request = self._reinvite
        if request is None or response.status < 200:
            return
        if response.status < 300:
            assert self.dialog is not None
            self.host.sip.send_request(self.dialog.create_ack(request, via=self.via),
                                       self.peer)  # every 2xx, retransmissions too
            if self._reinvite_key is None:
                return  # a retransmitted 2xx: ACKed again, already told
        self._reinvite_key = None
        self.host.emit(v.LegReoffered(self.leg_id, response.status, _sdp(response)))

    def on_ack(self, ack: Request) -> None:
        """The ACK of our 2xx to a re-INVITE: nothing more to do (the session is as we
        answered)."""

    def _reply(self, request: Request, status: int, sdp: str) -> Response:
        extra = [("Contact", self.invite.headers.get("Contact") or "")]
        if sdp:
            extra.append(("Content-Type", "application/sdp"))
        return make_response(request, status, body=sdp.encode(), extra=extra)

    # -- the parts ----------------------------------------------------------------------------

    def _on_success(self, response: Response) -> None:
        first = self.dialog is None
        if first:
            try:
                self.dialog = Dialog.as_uac(self.invite, response)
            except ParseError:
                return  # a 2xx without a To tag cannot make a dialog: wait for Timer B
        assert self.dialog is not None
        self._ack(response)  # every 2xx, retransmissions too (§13.2.2.4)
        if self._cancel_wanted and self.state is OutState.CALLING:
            # The 2xx came first to an INVITE we already gave up: take it, then end it.
            self._cancel_wanted = False
            self._step(OutInput.SUCCESS)
            self._step(OutInput.HANGUP)
            self._send_bye(v.CANCELLED)
            return
        was = self._step(OutInput.SUCCESS)
        if was in (OutState.CALLING, OutState.PROCEEDING):
            self.remote_sdp = _sdp(response)
            self.host.emit(v.LegAnswered(self.leg_id))
        elif was is OutState.CANCELLING:
            self._send_bye(v.CANCELLED)  # the answer crossed our CANCEL

    def _ack(self, response: Response) -> None:
        assert self.dialog is not None
        ack = self.dialog.create_ack(self.invite, via=self.via)
        self.host.sip.send_request(ack, self.peer)

    def _send_bye(self, reason: str) -> None:
        assert self.dialog is not None
        bye = self.dialog.create_request("BYE", via=self.via, extra=[
            ("Reason", f'SIP;cause=200;text="{reason}"')])
        self._ended(reason, None)
        self._bye_key = self.host.send_owned(self, bye, self.peer)

    def _ended(self, reason: str, status: int | None) -> None:
        if not self._ended_sent:
            self._ended_sent = True
            self.host.emit(v.LegEnded(self.leg_id, reason, status))


def _answer(request: Request, status: int, reason: str | None = None,
            extra: list[tuple[str, str]] | None = None) -> Response:
    return make_response(request, status, reason, extra=extra)


def _sdp(message: Request | Response) -> str:
    if message.body and (message.content_type or "").lower() == "application/sdp":
        return message.body.decode("utf-8", "replace")
    return ""
