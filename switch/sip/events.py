"""What the endpoint tells its transaction user (TU), pulled with ``Endpoint.next_event()``.

Frozen dataclasses named in the past tense (design §3). Messages inside them are the parsed
objects; ``key`` is the transaction key ``Endpoint.send_request`` returned (or the server
transaction key, for server-side failures).
"""

from __future__ import annotations

from dataclasses import dataclass

from .address import Listener, Peer
from .message import Request, Response


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request (not a retransmission, not ACK/CANCEL) that the TU must answer."""

    request: Request
    peer: Peer
    local: Listener


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response to the client transaction ``key`` (2xx retransmissions to INVITE included,
    so the TU can re-send its ACK, RFC 6026 §8.4)."""

    response: Response
    key: str


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """Timer B/F (client: no final response) or Timer H (server: no ACK for a non-2xx)."""

    key: str
    request: Request


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport reported a failure for the transaction ``key`` (RFC 3261 §17.1.4)."""

    key: str
    request: Request | None = None


@dataclass(frozen=True, slots=True)
class AckReceived:
    """The ACK for a 2xx the TU sent (RFC 3261 §13.3.1.4): the dialog is confirmed."""

    request: Request
    peer: Peer


@dataclass(frozen=True, slots=True)
class CancelReceived:
    """A CANCEL matched a pending INVITE (§9.2): the core answered the CANCEL 200 and the
    INVITE 487; the TU should stop ringing whatever it was ringing."""

    request: Request
    invite: Request


@dataclass(frozen=True, slots=True)
class MalformedReceived:
    """Input that did not parse. ``answered`` says whether the core could send ``status``."""

    peer: Peer
    reason: str
    status: int
    answered: bool = False


@dataclass(frozen=True, slots=True)
class AckTimedOut:
    """A 2xx to INVITE was retransmitted for 64*T1 without an ACK (§13.3.1.4): the TU should
    confirm and then end the session with BYE."""

    invite: Request
    response: Response


Event = (RequestReceived | ResponseReceived | TransactionTimedOut | TransportFailed
         | AckReceived | CancelReceived | MalformedReceived | AckTimedOut)
