"""SIP dialogs (RFC 3261 §12): identity, route set, remote target, CSeq, in-dialog requests.

A dialog is the state two user agents share after an INVITE (or SUBSCRIBE...) was answered
with a tagged response. It is created from the request and the response that established it:
:meth:`Dialog.as_uac` on the caller's side (§12.1.2), :meth:`Dialog.as_uas` on the callee's
side (§12.1.1). From then on, :meth:`Dialog.create_request` builds requests inside it (§12.2.1.1:
Request-URI and Route from the route set, incremented CSeq), :meth:`Dialog.create_ack` the ACK
of a 2xx (§13.2.2.4), and :meth:`Dialog.receive_request` applies the UAS checks of §12.2.2
(a lower CSeq is answered 500, a target refresh moves the remote target).

States are an enum with a transition table (Early -> Confirmed -> Terminated). The dialog
never does I/O: the TU sends what it builds through the endpoint.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import Enum

from .errors import ParseError, ProtocolError
from .headers import Headers, NameAddr, parse_name_addr
from .message import Request, Response
from .transaction import new_branch
from .uri import SipUri, Uri, parse_uri

# §12.2: requests that may change the remote target ("target refresh requests").
TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
# Request-URI must not carry these URI parameters (§19.1.1 Table 1) when taken from a route.
_NOT_IN_REQUEST_URI = ("method", "maddr", "ttl", "transport", "lr")


class DialogState(Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class Role(Enum):
    UAC = "uac"
    UAS = "uas"


class DialogInput(Enum):
    PROVISIONAL = "tagged 1xx"            # §12.1: creates or keeps an early dialog
    SUCCESS = "2xx"                       # §13.2.2.4 / §13.3.1.4: confirms it
    FAILURE = "non-2xx final to the INVITE"  # §12.3: an early dialog ends
    GONE = "481 or 408 to a request"      # §12.2.1.2: the peer lost the dialog
    BYE = "BYE"                           # §15


_TRANSITIONS: dict[tuple[DialogState, DialogInput], DialogState] = {
    (DialogState.EARLY, DialogInput.PROVISIONAL): DialogState.EARLY,
    (DialogState.EARLY, DialogInput.SUCCESS): DialogState.CONFIRMED,
    (DialogState.EARLY, DialogInput.FAILURE): DialogState.TERMINATED,
    (DialogState.EARLY, DialogInput.GONE): DialogState.TERMINATED,
    (DialogState.EARLY, DialogInput.BYE): DialogState.TERMINATED,
    (DialogState.CONFIRMED, DialogInput.PROVISIONAL): DialogState.CONFIRMED,  # re-INVITE
    (DialogState.CONFIRMED, DialogInput.SUCCESS): DialogState.CONFIRMED,
    (DialogState.CONFIRMED, DialogInput.FAILURE): DialogState.CONFIRMED,  # failed re-INVITE
    (DialogState.CONFIRMED, DialogInput.GONE): DialogState.TERMINATED,
    (DialogState.CONFIRMED, DialogInput.BYE): DialogState.TERMINATED,
}


@dataclass(frozen=True, slots=True)
class DialogId:
    """§12: Call-ID plus local and remote tag (each side sees the tags swapped)."""

    call_id: str
    local_tag: str
    remote_tag: str

    @classmethod
    def for_incoming(cls, request: Request) -> DialogId:
        """The id of the dialog an incoming in-dialog request belongs to (our tag is in To)."""
        return cls(request.call_id, request.to.tag or "", request.from_.tag or "")


def _without_tag(address: NameAddr) -> str:
    return str(NameAddr(address.uri, address.display,
                        tuple((k, v) for k, v in address.params if k.lower() != "tag")))


def _contact_uri(message: Request | Response) -> Uri | None:
    contacts = message.contacts
    return contacts[0].uri if contacts else None


@dataclass
class Dialog:
    role: Role
    call_id: str
    local_tag: str
    remote_tag: str
    local_party: str        # our From (UAC) / To (UAS) without the tag
    remote_party: str
    remote_target: Uri      # where requests go: the peer's Contact (§12.1.1, §12.1.2)
    route_set: list[str] = field(default_factory=list)
    local_seq: int | None = None
    remote_seq: int | None = None
    local_contact: str | None = None
    secure: bool = False
    state: DialogState = DialogState.EARLY

    # -- creation -------------------------------------------------------------------------------

    @classmethod
    def as_uac(cls, request: Request, response: Response) -> Dialog:
        """§12.1.2: the dialog a tagged 1xx or a 2xx to our ``request`` creates."""
        remote_tag = response.to.tag
        if remote_tag is None:
            raise ParseError("response that creates a dialog lacks a To tag")
        local_tag = request.from_.tag
        if local_tag is None:
            raise ProtocolError("our request lacks a From tag (§8.1.1.3)")
        dialog = cls(
            role=Role.UAC, call_id=request.call_id, local_tag=local_tag, remote_tag=remote_tag,
            local_party=_without_tag(request.from_), remote_party=_without_tag(response.to),
            remote_target=_contact_uri(response) or request.uri,
            # The caller sees Record-Route in reverse (§12.1.2).
            route_set=list(reversed(response.headers.getall("Record-Route"))),
            local_seq=request.cseq.seq,
            local_contact=request.headers.get("Contact"),
            secure=isinstance(request.uri, SipUri) and request.uri.scheme == "sips",
        )
        dialog._step(DialogInput.SUCCESS if 200 <= response.status < 300
                     else DialogInput.PROVISIONAL)
        return dialog

    @classmethod
    def as_uas(cls, request: Request, response: Response) -> Dialog:
        """§12.1.1: the dialog our tagged 1xx or 2xx to ``request`` creates."""
        local_tag = response.to.tag
        if local_tag is None:
            raise ProtocolError("a response that creates a dialog needs a To tag (§12.1.1)")
        remote_target = _contact_uri(request)
        if remote_target is None:
            raise ParseError(f"{request.method} that creates a dialog lacks Contact")
        dialog = cls(
            role=Role.UAS, call_id=request.call_id, local_tag=local_tag,
            remote_tag=request.from_.tag or "",
            local_party=_without_tag(request.to), remote_party=_without_tag(request.from_),
            remote_target=remote_target,
            route_set=list(request.headers.getall("Record-Route")),
            remote_seq=request.cseq.seq,
            local_contact=response.headers.get("Contact"),
            secure=isinstance(request.uri, SipUri) and request.uri.scheme == "sips",
        )
        dialog._step(DialogInput.SUCCESS if 200 <= response.status < 300
                     else DialogInput.PROVISIONAL)
        return dialog

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    @property
    def terminated(self) -> bool:
        return self.state is DialogState.TERMINATED

    def _step(self, event: DialogInput) -> None:
        if self.state is DialogState.TERMINATED and event is not DialogInput.BYE:
            return  # late messages for a finished dialog change nothing
        next_state = _TRANSITIONS.get((self.state, event))
        if next_state is None:
            raise ProtocolError(f"dialog {self.call_id} cannot take {event.value} when"
                                f" {self.state.value}")
        self.state = next_state

    # -- UAC side: responses --------------------------------------------------------------------

    def receive_response(self, request: Request, response: Response) -> None:
        """Update from a response to ``request`` sent in (or creating) this dialog."""
        status = response.status
        if status in (481, 408):  # §12.2.1.2: the peer no longer knows the dialog
            self._step(DialogInput.GONE)
            return
        refresh = request.method in TARGET_REFRESH
        if status < 200:
            if refresh and (target := _contact_uri(response)) is not None:
                self.remote_target = target
            self._step(DialogInput.PROVISIONAL)
        elif status < 300:
            if refresh and (target := _contact_uri(response)) is not None:
                self.remote_target = target  # §12.2.1.2 target refresh
            if self.state is DialogState.EARLY and self.role is Role.UAC:
                # §13.2.2.4: the 2xx recomputes the route set of the early dialog.
                self.route_set = list(reversed(response.headers.getall("Record-Route")))
            self._step(DialogInput.SUCCESS)
        elif request.method == "INVITE":
            self._step(DialogInput.FAILURE)

    # -- UAS side: requests ---------------------------------------------------------------------

    def receive_request(self, request: Request) -> int | None:
        """§12.2.2 checks for a request inside this dialog; returns a status to answer or None.

        A CSeq lower than the last one is out of order: 500 (§12.2.2). ACK and CANCEL carry
        the CSeq of their INVITE and are not ordered.
        """
        if self.state is DialogState.TERMINATED:
            return 481
        if request.method not in ("ACK", "CANCEL"):
            seq = request.cseq.seq
            if self.remote_seq is not None and seq < self.remote_seq:
                return 500
            self.remote_seq = seq
        if request.method in TARGET_REFRESH and (target := _contact_uri(request)) is not None:
            self.remote_target = target
        if request.method == "BYE":
            self._step(DialogInput.BYE)
        return None

    def confirm(self) -> None:
        """UAS: the 2xx was sent (an early dialog created by a 1xx is now confirmed)."""
        self._step(DialogInput.SUCCESS)

    # -- building requests (§12.2.1.1) ----------------------------------------------------------

    def next_seq(self) -> int:
        if self.local_seq is None:
            # §8.1.1.5: arbitrary, under 2**31; small keeps room for many requests.
            self.local_seq = secrets.randbelow(2**16)
        self.local_seq += 1
        return self.local_seq

    def create_request(self, method: str, *, via: str, body: bytes = b"",
                       content_type: str | None = None,
                       extra: list[tuple[str, str]] | None = None) -> Request:
        """A request inside the dialog. ``via`` is our ``SIP/2.0/UDP host:port`` (a branch and
        ``rport`` are added). ACK and CANCEL are not built here (see :meth:`create_ack` and
        ``transaction.make_cancel``)."""
        if method in ("ACK", "CANCEL"):
            raise ProtocolError(f"use create_ack / make_cancel for {method}")
        if self.state is DialogState.TERMINATED:
            raise ProtocolError(f"dialog {self.call_id} is terminated: cannot send {method}")
        return self._build(method, self.next_seq(), via, body, content_type, extra)

    def create_ack(self, invite: Request, *, via: str, body: bytes = b"",
                   content_type: str | None = None) -> Request:
        """The ACK of a 2xx to ``invite`` (§13.2.2.4): its own branch, the INVITE's CSeq number,
        Request-URI and Route from the dialog."""
        return self._build("ACK", invite.cseq.seq, via, body, content_type, None)

    def _build(self, method: str, seq: int, via: str, body: bytes, content_type: str | None,
               extra: list[tuple[str, str]] | None) -> Request:
        uri, routes = self.request_uri_and_routes()
        headers = Headers()
        headers.add("Via", f"{via};branch={new_branch()};rport")
        for route in routes:
            headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        # Requests we send carry our party in From and theirs in To, whoever created the dialog.
        headers.add("From", f"{self.local_party};tag={self.local_tag}")
        headers.add("To", f"{self.remote_party};tag={self.remote_tag}" if self.remote_tag
                    else self.remote_party)
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{seq} {method}")
        if method in TARGET_REFRESH and self.local_contact:
            headers.add("Contact", self.local_contact)
        if body and content_type:
            headers.add("Content-Type", content_type)
        for name, value in extra or ():
            headers.add(name, value)
        return Request(headers=headers, body=body, method=method, uri=uri)

    def request_uri_and_routes(self) -> tuple[Uri, list[str]]:
        """§12.2.1.1: loose routing keeps the remote target as Request-URI; a strict router
        (first route without ``lr``) takes the Request-URI and the target becomes the last
        Route."""
        if not self.route_set:
            return self.remote_target, []
        first = parse_name_addr(self.route_set[0]).uri
        if isinstance(first, SipUri) and first.has_param("lr"):
            return self.remote_target, list(self.route_set)
        if isinstance(first, SipUri):
            uri: Uri = first.without_params(*_NOT_IN_REQUEST_URI)
        else:
            uri = parse_uri(str(first))
        return uri, [*self.route_set[1:], f"<{self.remote_target}>"]

    def next_hop(self) -> Uri:
        """The URI to resolve (RFC 3263) for sending: the first route, else the target."""
        if self.route_set:
            return parse_name_addr(self.route_set[0]).uri
        return self.remote_target
