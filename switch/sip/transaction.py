"""The four SIP transaction machines (RFC 3261 §17 with RFC 6026's Accepted state).

Theory of operation. A transaction is a small state machine owned by the endpoint. Its inputs
are a received message, a call from the TU (a response to send) or a timer firing; its outputs
go through the :class:`Core` it was given: bytes to send, events for the TU, timers to arm as
absolute deadlines, and "I am terminated". Each machine is a transition table
``(state, input) -> (next state, action)``; the action does the side effects. A network input
with no table entry is absorbed (logged at debug: the network may send anything), a TU input
with no entry raises :class:`ProtocolError` (a bug in the caller), a timer with no entry is a
stale timer and is ignored.

Timers: each machine keeps its armed timers as ``{Input: deadline}``; the core keeps them in a
heap and calls :meth:`Transaction.fire` with the deadline it armed, so a timer that was
stopped or re-armed since is recognised as stale.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from enum import Enum
from typing import Any, ClassVar, Protocol

from .address import Listener, Peer
from .errors import ParseError, ProtocolError
from .events import (
    AckReceived,
    AckTimedOut,
    Event,
    ResponseReceived,
    TransactionTimedOut,
    TransportFailed,
)
from .headers import Headers
from .message import Request, Response, make_response
from .timers import TimerValues

log = logging.getLogger(__name__)

MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7: branch prefix of RFC 3261-compliant elements


class State(Enum):
    """RFC 3261 §17 state names (one set for all four machines, each uses a subset)."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"  # RFC 6026 §7.1/§7.2
    TERMINATED = "Terminated"


class Input(Enum):
    # from the network
    RESPONSE_1XX = "1xx received"
    RESPONSE_2XX = "2xx received"
    RESPONSE_FINAL = "final response received"  # 300-699 (INVITE) or 200-699 (non-INVITE)
    REQUEST = "request retransmission received"
    ACK = "ACK received"
    TRANSPORT_ERROR = "transport error"
    # from the TU
    TU_1XX = "send 1xx"
    TU_2XX = "send 2xx"
    TU_FINAL = "send final response"
    # timers
    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_D = "Timer D"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_K = "Timer K"
    TIMER_L = "Timer L"
    TIMER_M = "Timer M"
    TIMER_TRYING = "100 Trying delay"
    TIMER_2XX = "2xx retransmission"


TU_INPUTS = frozenset({Input.TU_1XX, Input.TU_2XX, Input.TU_FINAL})

Action = Callable[[Any, float, Any], None]
Table = dict[tuple[State, Input], tuple[State, Action]]


class Core(Protocol):
    """What a transaction needs from its owner (the endpoint, or a test harness)."""

    def send(self, data: bytes, peer: Peer) -> None: ...

    def emit(self, event: Event) -> None: ...

    def schedule(self, tx: Transaction, timer: Input, deadline: float) -> None: ...

    def terminated(self, tx: Transaction) -> None: ...


# --------------------------------------------------------------------------------------------
# Matching (RFC 3261 §17.1.3, §17.2.3)


def client_key(branch: str, method: str) -> str:
    """§17.1.3: a response matches by top-Via branch and CSeq method."""
    return f"{branch}|{method}"


def response_client_key(response: Response) -> str | None:
    branch = response.top_via.branch
    return client_key(branch, response.cseq.method) if branch else None


def server_key(request: Request, method: str | None = None) -> str:
    """§17.2.3 key of the server transaction ``request`` belongs to.

    ACK matches the INVITE transaction; ``method="INVITE"`` finds the INVITE a CANCEL targets
    (§9.2). A branch without the magic cookie comes from an RFC 2543 element: fall back to
    Request-URI, From tag, Call-ID, CSeq number and top Via sent-by (the To tag is left out so
    that the ACK of a non-2xx, which carries the tag the INVITE lacked, matches).
    """
    via = request.top_via
    if method is None:
        method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch
    sent_by = f"{via.host.lower()}:{via.port or ''}"
    if branch and branch.startswith(MAGIC_COOKIE):
        return f"{branch}|{sent_by}|{method}"
    return (f"2543|{request.uri}|{request.from_.tag}|{request.call_id}|{request.cseq.seq}"
            f"|{method}|{via.transport}|{sent_by}")


def make_ack(request: Request, response: Response) -> Request:
    """ACK for a non-2xx final response, built by the ICT (§17.1.1.3).

    Same Request-URI, Call-ID, From, CSeq number and top Via as the INVITE; To from the
    response (it carries the tag); Route copied from the INVITE.
    """
    headers = Headers()
    headers.add("Via", request.headers.getall("Via")[0])
    for route in request.headers.getall("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", request.headers.get("From") or "")
    headers.add("To", response.headers.get("To") or "")
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", f"{request.cseq.seq} ACK")
    return Request(headers=headers, method="ACK", uri=request.uri)


def classify_response(status: int, invite: bool) -> Input:
    if status < 200:
        return Input.RESPONSE_1XX
    if status < 300 and invite:
        return Input.RESPONSE_2XX
    return Input.RESPONSE_FINAL


def classify_tu_response(status: int, invite: bool) -> Input:
    if status < 200:
        return Input.TU_1XX
    if status < 300 and invite:
        return Input.TU_2XX
    return Input.TU_FINAL


# --------------------------------------------------------------------------------------------
# Common machinery


class Transaction:
    """State, timers and the table-driven step shared by the four machines."""

    TABLE: ClassVar[Table] = {}
    INITIAL: ClassVar[State]

    def __init__(self, core: Core, key: str, request: Request, peer: Peer,
                 timers: TimerValues) -> None:
        self.core = core
        self.key = key
        self.request = request
        self.peer = peer  # where requests (client) or responses (server) go
        self.timers = timers
        self.reliable = peer.is_stream
        self.state = self.INITIAL
        self.deadlines: dict[Input, float] = {}
        self._done = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state.value} {self.key}>"

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    @property
    def unfinished(self) -> bool:
        """Still owes a final response (or waits for one); lingering states do not count."""
        return self.state in (State.CALLING, State.TRYING, State.PROCEEDING)

    # -- timers -------------------------------------------------------------------------------

    def _arm(self, timer: Input, now: float, duration: float) -> None:
        deadline = now + duration
        self.deadlines[timer] = deadline
        self.core.schedule(self, timer, deadline)

    def _disarm(self, *timers: Input) -> None:
        for timer in timers:
            self.deadlines.pop(timer, None)

    def _arm_or_terminate(self, timer: Input, now: float, duration: float) -> None:
        """Zero-length wait timers (D/I/J/K over reliable transports) end the transaction now."""
        if duration <= 0:
            self.state = State.TERMINATED
        else:
            self._arm(timer, now, duration)

    def fire(self, timer: Input, deadline: float, now: float) -> None:
        """Called by the core when a deadline armed by this transaction is reached."""
        if self.deadlines.get(timer) != deadline:
            return  # stopped or re-armed since: stale heap entry
        del self.deadlines[timer]
        self._step(timer, now, None)

    def transport_error(self, now: float) -> None:
        """The transport could not deliver a message of this transaction (§17.1.4, §17.2.4)."""
        self._step(Input.TRANSPORT_ERROR, now, None)

    # -- the step -----------------------------------------------------------------------------

    def _step(self, event: Input, now: float, message: Any) -> bool:
        entry = self.TABLE.get((self.state, event))
        if entry is None:
            if event in TU_INPUTS:
                raise ProtocolError(f"{type(self).__name__} cannot {event.value} in state"
                                    f" {self.state.value} (transaction {self.key})")
            if self.state is not State.TERMINATED:
                log.debug("%r absorbed %s", self, event.value)
            return False
        next_state, action = entry
        self.state = next_state
        action(self, now, message)
        if self.state is State.TERMINATED and not self._done:
            self._done = True
            self.deadlines.clear()
            self.core.terminated(self)
        return True

    def _nothing(self, now: float, message: Any) -> None:
        """Absorb: the state change (if any) is the whole effect."""

    def _transport_failed(self, now: float, message: Any) -> None:
        self.core.emit(TransportFailed(self.key, self.request))

    def _timed_out(self, now: float, message: Any) -> None:
        self.core.emit(TransactionTimedOut(self.key, self.request))


# --------------------------------------------------------------------------------------------
# Client transactions


class ClientTransaction(Transaction):
    def __init__(self, core: Core, key: str, request: Request, peer: Peer,
                 timers: TimerValues) -> None:
        super().__init__(core, key, request, peer, timers)
        self.wire = request.serialize()
        self.interval = 0.0
        self.last_response: Response | None = None

    def receive_response(self, response: Response, now: float) -> None:
        invite = self.request.method == "INVITE"
        self._step(classify_response(response.status, invite), now, response)

    def _send_request(self) -> None:
        self.core.send(self.wire, self.peer)

    def _pass_to_tu(self, now: float, response: Response) -> None:
        self.last_response = response
        self.core.emit(ResponseReceived(response, self.key))


class ClientInvite(ClientTransaction):
    """INVITE client transaction (ICT), RFC 3261 §17.1.1 as updated by RFC 6026 §7.2."""

    INITIAL = State.CALLING

    def start(self, now: float) -> None:
        self._send_request()
        if not self.reliable:  # Timer A: retransmit over unreliable transports only
            self.interval = self.timers.a
            self._arm(Input.TIMER_A, now, self.interval)
        self._arm(Input.TIMER_B, now, self.timers.b)

    def _retransmit(self, now: float, message: Any) -> None:
        self._send_request()
        self.interval = self.timers.double(self.interval)
        self._arm(Input.TIMER_A, now, self.interval)

    def _proceeding(self, now: float, response: Response) -> None:
        # §17.1.1.2: no more retransmissions; Timer B only bounds the Calling state.
        self._disarm(Input.TIMER_A, Input.TIMER_B)
        self._pass_to_tu(now, response)

    def _completed(self, now: float, response: Response) -> None:
        self._disarm(Input.TIMER_A, Input.TIMER_B)
        self._send_ack(response)
        self._pass_to_tu(now, response)
        self._arm_or_terminate(Input.TIMER_D, now, self.timers.d(self.reliable))

    def _reack(self, now: float, response: Response) -> None:
        # §17.1.1.2: a retransmitted final response gets the ACK again, not the TU.
        self._send_ack(response)

    def _accepted(self, now: float, response: Response) -> None:
        # RFC 6026 §7.2: stay to pass 2xx retransmissions (and other forks' 2xx) to the TU.
        self._disarm(Input.TIMER_A, Input.TIMER_B)
        self._pass_to_tu(now, response)
        self._arm(Input.TIMER_M, now, self.timers.m)

    def _send_ack(self, response: Response) -> None:
        self.core.send(make_ack(self.request, response).serialize(), self.peer)

    TABLE: ClassVar[Table] = {
        (State.CALLING, Input.TIMER_A): (State.CALLING, _retransmit),
        (State.CALLING, Input.TIMER_B): (State.TERMINATED, Transaction._timed_out),
        (State.CALLING, Input.RESPONSE_1XX): (State.PROCEEDING, _proceeding),
        (State.PROCEEDING, Input.RESPONSE_1XX): (State.PROCEEDING,
                                                 ClientTransaction._pass_to_tu),
        (State.CALLING, Input.RESPONSE_2XX): (State.ACCEPTED, _accepted),
        (State.PROCEEDING, Input.RESPONSE_2XX): (State.ACCEPTED, _accepted),
        (State.ACCEPTED, Input.RESPONSE_2XX): (State.ACCEPTED, ClientTransaction._pass_to_tu),
        (State.ACCEPTED, Input.TIMER_M): (State.TERMINATED, Transaction._nothing),
        (State.CALLING, Input.RESPONSE_FINAL): (State.COMPLETED, _completed),
        (State.PROCEEDING, Input.RESPONSE_FINAL): (State.COMPLETED, _completed),
        (State.COMPLETED, Input.RESPONSE_FINAL): (State.COMPLETED, _reack),
        (State.COMPLETED, Input.TIMER_D): (State.TERMINATED, Transaction._nothing),
        (State.CALLING, Input.TRANSPORT_ERROR): (State.TERMINATED,
                                                 Transaction._transport_failed),
        (State.PROCEEDING, Input.TRANSPORT_ERROR): (State.TERMINATED,
                                                    Transaction._transport_failed),
    }


class ClientNonInvite(ClientTransaction):
    """Non-INVITE client transaction (NICT), RFC 3261 §17.1.2."""

    INITIAL = State.TRYING

    def start(self, now: float) -> None:
        self._send_request()
        if not self.reliable:  # Timer E: retransmit over unreliable transports only
            self.interval = self.timers.e
            self._arm(Input.TIMER_E, now, self.interval)
        self._arm(Input.TIMER_F, now, self.timers.f)

    def _retransmit_trying(self, now: float, message: Any) -> None:
        self._send_request()
        self.interval = self.timers.double_capped(self.interval)
        self._arm(Input.TIMER_E, now, self.interval)

    def _retransmit_proceeding(self, now: float, message: Any) -> None:
        # §17.1.2.2: once a provisional arrived, retransmit every T2.
        self._send_request()
        self.interval = self.timers.t2
        self._arm(Input.TIMER_E, now, self.interval)

    def _completed(self, now: float, response: Response) -> None:
        self._disarm(Input.TIMER_E, Input.TIMER_F)
        self._pass_to_tu(now, response)
        self._arm_or_terminate(Input.TIMER_K, now, self.timers.k(self.reliable))

    TABLE: ClassVar[Table] = {
        (State.TRYING, Input.TIMER_E): (State.TRYING, _retransmit_trying),
        (State.PROCEEDING, Input.TIMER_E): (State.PROCEEDING, _retransmit_proceeding),
        (State.TRYING, Input.TIMER_F): (State.TERMINATED, Transaction._timed_out),
        (State.PROCEEDING, Input.TIMER_F): (State.TERMINATED, Transaction._timed_out),
        (State.TRYING, Input.RESPONSE_1XX): (State.PROCEEDING, ClientTransaction._pass_to_tu),
        (State.PROCEEDING, Input.RESPONSE_1XX): (State.PROCEEDING,
                                                 ClientTransaction._pass_to_tu),
        (State.TRYING, Input.RESPONSE_FINAL): (State.COMPLETED, _completed),
        (State.PROCEEDING, Input.RESPONSE_FINAL): (State.COMPLETED, _completed),
        (State.COMPLETED, Input.RESPONSE_FINAL): (State.COMPLETED, Transaction._nothing),
        (State.COMPLETED, Input.TIMER_K): (State.TERMINATED, Transaction._nothing),
        (State.TRYING, Input.TRANSPORT_ERROR): (State.TERMINATED,
                                                Transaction._transport_failed),
        (State.PROCEEDING, Input.TRANSPORT_ERROR): (State.TERMINATED,
                                                    Transaction._transport_failed),
    }


# --------------------------------------------------------------------------------------------
# Server transactions


class ServerTransaction(Transaction):
    def __init__(self, core: Core, key: str, request: Request, peer: Peer,
                 timers: TimerValues, local: Listener) -> None:
        super().__init__(core, key, request, peer, timers)
        self.local = local
        self.last_response: Response | None = None
        self.last_wire: bytes | None = None
        self.interval = 0.0
        self.to_tag: str | None = None  # the tag of our responses (§8.2.6.2), for CANCEL/487

    def receive_request(self, request: Request, now: float) -> None:
        """A retransmission of the request that created this transaction."""
        self._step(Input.REQUEST, now, request)

    def respond(self, response: Response, now: float) -> None:
        invite = self.request.method == "INVITE"
        self._step(classify_tu_response(response.status, invite), now, response)

    def _send_response(self, now: float, response: Response) -> None:
        if response.status > 100 and self.to_tag is None:
            try:
                self.to_tag = response.to.tag
            except ParseError:  # a TU response with a bad To is the TU's problem, sent as is
                self.to_tag = None
        self.last_response = response
        self.last_wire = response.serialize()
        self.core.send(self.last_wire, self.peer)

    def _resend_last(self, now: float, message: Any) -> None:
        # §17.2.1/§17.2.2: a retransmitted request gets the last response again.
        if self.last_wire is not None:
            self.core.send(self.last_wire, self.peer)


class ServerInvite(ServerTransaction):
    """INVITE server transaction (IST), RFC 3261 §17.2.1 as updated by RFC 6026 §7.1.

    In Accepted it also performs the UAS core's 2xx retransmission until ACK (§13.3.1.4),
    over unreliable transports, bounded by Timer L (64*T1).
    """

    INITIAL = State.PROCEEDING

    def __init__(self, core: Core, key: str, request: Request, peer: Peer,
                 timers: TimerValues, local: Listener) -> None:
        super().__init__(core, key, request, peer, timers, local)
        self.acked = False
        # (Call-ID, From tag, To tag, CSeq) under which the endpoint finds the ACK of our 2xx
        self.ack_key: tuple[str, str, str, int] | None = None

    def start(self, now: float) -> None:
        # §17.2.1: answer 100 Trying unless the TU responds within 200 ms.
        self._arm(Input.TIMER_TRYING, now, self.timers.trying)

    @property
    def unfinished(self) -> bool:
        # A final response still waits for its ACK (Completed) or a 2xx for the TU's ACK.
        return (self.state in (State.PROCEEDING, State.COMPLETED)
                or (self.state is State.ACCEPTED and not self.acked))

    def receive_ack(self, ack: Request, peer: Peer, now: float) -> None:
        self._step(Input.ACK, now, (ack, peer))

    def _auto_trying(self, now: float, message: Any) -> None:
        if self.last_response is None:
            trying = make_response(self.request, 100)
            self._send_response(now, trying)

    def _provisional(self, now: float, response: Response) -> None:
        self._disarm(Input.TIMER_TRYING)
        self._send_response(now, response)

    def _accepted(self, now: float, response: Response) -> None:
        self._disarm(Input.TIMER_TRYING)
        self._send_response(now, response)
        self._arm(Input.TIMER_L, now, self.timers.l)
        if not self.reliable:
            self.interval = self.timers.t1
            self._arm(Input.TIMER_2XX, now, self.interval)

    def _another_2xx(self, now: float, response: Response) -> None:
        # RFC 6026 §7.1: 2xx passed down by the TU in Accepted are sent.
        self._send_response(now, response)

    def _retransmit_2xx(self, now: float, message: Any) -> None:
        self._resend_last(now, None)
        self.interval = self.timers.double_capped(self.interval)
        self._arm(Input.TIMER_2XX, now, self.interval)

    def _ack_for_2xx(self, now: float, message: tuple[Request, Peer]) -> None:
        if self.acked:
            return  # ACK retransmission: the TU heard it once
        self.acked = True
        self._disarm(Input.TIMER_2XX)
        ack, peer = message
        self.core.emit(AckReceived(ack, peer))

    def _accepted_over(self, now: float, message: Any) -> None:
        if not self.acked and self.last_response is not None:
            self.core.emit(AckTimedOut(self.request, self.last_response))

    def _completed(self, now: float, response: Response) -> None:
        self._disarm(Input.TIMER_TRYING)
        self._send_response(now, response)
        if not self.reliable:  # Timer G: retransmit the final response over UDP only
            self.interval = self.timers.g
            self._arm(Input.TIMER_G, now, self.interval)
        self._arm(Input.TIMER_H, now, self.timers.h)

    def _retransmit_final(self, now: float, message: Any) -> None:
        self._resend_last(now, None)
        self.interval = self.timers.double_capped(self.interval)
        self._arm(Input.TIMER_G, now, self.interval)

    def _confirmed(self, now: float, message: Any) -> None:
        self._disarm(Input.TIMER_G, Input.TIMER_H)
        self._arm_or_terminate(Input.TIMER_I, now, self.timers.i(self.reliable))

    TABLE: ClassVar[Table] = {
        (State.PROCEEDING, Input.TIMER_TRYING): (State.PROCEEDING, _auto_trying),
        (State.PROCEEDING, Input.REQUEST): (State.PROCEEDING, ServerTransaction._resend_last),
        (State.PROCEEDING, Input.TU_1XX): (State.PROCEEDING, _provisional),
        (State.PROCEEDING, Input.TU_2XX): (State.ACCEPTED, _accepted),
        (State.PROCEEDING, Input.TU_FINAL): (State.COMPLETED, _completed),
        (State.PROCEEDING, Input.TRANSPORT_ERROR): (State.TERMINATED,
                                                    Transaction._transport_failed),
        (State.ACCEPTED, Input.TU_2XX): (State.ACCEPTED, _another_2xx),
        (State.ACCEPTED, Input.TIMER_2XX): (State.ACCEPTED, _retransmit_2xx),
        (State.ACCEPTED, Input.ACK): (State.ACCEPTED, _ack_for_2xx),
        (State.ACCEPTED, Input.REQUEST): (State.ACCEPTED, Transaction._nothing),  # RFC 6026
        (State.ACCEPTED, Input.TIMER_L): (State.TERMINATED, _accepted_over),
        (State.ACCEPTED, Input.TRANSPORT_ERROR): (State.TERMINATED,
                                                  Transaction._transport_failed),
        (State.COMPLETED, Input.REQUEST): (State.COMPLETED, ServerTransaction._resend_last),
        (State.COMPLETED, Input.TIMER_G): (State.COMPLETED, _retransmit_final),
        (State.COMPLETED, Input.TIMER_H): (State.TERMINATED, Transaction._timed_out),
        (State.COMPLETED, Input.ACK): (State.CONFIRMED, _confirmed),
        (State.COMPLETED, Input.TRANSPORT_ERROR): (State.TERMINATED,
                                                   Transaction._transport_failed),
        (State.CONFIRMED, Input.ACK): (State.CONFIRMED, Transaction._nothing),
        (State.CONFIRMED, Input.REQUEST): (State.CONFIRMED, Transaction._nothing),
        (State.CONFIRMED, Input.TIMER_I): (State.TERMINATED, Transaction._nothing),
    }


class ServerNonInvite(ServerTransaction):
    """Non-INVITE server transaction (NIST), RFC 3261 §17.2.2."""

    INITIAL = State.TRYING

    def start(self, now: float) -> None:
        """Nothing to arm: a NIST waits for the TU (no 100 Trying for non-INVITE, §17.2.2)."""

    def _provisional(self, now: float, response: Response) -> None:
        self._send_response(now, response)

    def _completed(self, now: float, response: Response) -> None:
        self._send_response(now, response)
        self._arm_or_terminate(Input.TIMER_J, now, self.timers.j(self.reliable))

    TABLE: ClassVar[Table] = {
        (State.TRYING, Input.REQUEST): (State.TRYING, Transaction._nothing),
        (State.TRYING, Input.TU_1XX): (State.PROCEEDING, _provisional),
        (State.TRYING, Input.TU_FINAL): (State.COMPLETED, _completed),
        (State.TRYING, Input.TRANSPORT_ERROR): (State.TERMINATED,
                                                Transaction._transport_failed),
        (State.PROCEEDING, Input.REQUEST): (State.PROCEEDING, ServerTransaction._resend_last),
        (State.PROCEEDING, Input.TU_1XX): (State.PROCEEDING, _provisional),
        (State.PROCEEDING, Input.TU_FINAL): (State.COMPLETED, _completed),
        (State.PROCEEDING, Input.TRANSPORT_ERROR): (State.TERMINATED,
                                                    Transaction._transport_failed),
        (State.COMPLETED, Input.REQUEST): (State.COMPLETED, ServerTransaction._resend_last),
        (State.COMPLETED, Input.TIMER_J): (State.TERMINATED, Transaction._nothing),
        (State.COMPLETED, Input.TRANSPORT_ERROR): (State.TERMINATED,
                                                   Transaction._transport_failed),
    }


# --------------------------------------------------------------------------------------------
# Identifiers and the CANCEL builder


def new_branch() -> str:
    """A fresh RFC 3261 branch: the magic cookie plus 64 random bits (§8.1.1.7)."""
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    """A From/To tag with 40 random bits (§19.3 asks for at least 32)."""
    return secrets.token_hex(5)


def make_cancel(invite: Request) -> Request:
    """CANCEL for a pending INVITE we sent (§9.1): same Request-URI, Call-ID, From, To and CSeq
    number, the INVITE's top Via (so it reaches the same server transaction) and its Route."""
    headers = Headers()
    headers.add("Via", invite.headers.getall("Via")[0])
    for route in invite.headers.getall("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", invite.headers.get("From") or "")
    headers.add("To", invite.headers.get("To") or "")
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.seq} CANCEL")
    return Request(headers=headers, method="CANCEL", uri=invite.uri)
