"""What legs and calls say, in their own words: the layers above never read a SIP header.

Leg events (past tense, frozen) go up from a SIP leg to its call: offered, ringing, answered,
confirmed, update offered, held/resumed, digits, ended. Each names the leg by its id so one
call can own several legs (the agent leg arrives with call delivery).
"""

from __future__ import annotations

from dataclasses import dataclass

# Why a leg ended, in the call's words (mapped to SIP status/Reason by the leg).
BY_REMOTE = "remote hung up"
BY_LOCAL = "local hang-up"
CANCELLED = "cancelled before answer"
NO_ACK = "no ACK for the 2xx (RFC 3261 §13.3.1.4)"
SESSION_EXPIRED = "session expired without a refresh (RFC 4028 §10)"
TRANSPORT = "transport failed"
REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class LegOffered:
    """A caller's INVITE: ``sdp`` is its offer (empty when the offer is left to us)."""

    leg_id: str
    sdp: str
    caller: str          # user part (or the whole URI) of From
    callee: str          # user part of the Request-URI: the dialled number
    caller_name: str | None


@dataclass(frozen=True, slots=True)
class LegRinging:
    """An outbound leg's callee is alerting (180) or sends early media (183)."""

    leg_id: str
    status: int


@dataclass(frozen=True, slots=True)
class LegAnswered:
    leg_id: str


@dataclass(frozen=True, slots=True)
class LegConfirmed:
    """The ACK for our 2xx arrived: media may flow both ways."""

    leg_id: str
    sdp: str  # an answer carried by the ACK (offer-less INVITE), else empty


@dataclass(frozen=True, slots=True)
class LegUpdateOffered:
    """A re-INVITE or UPDATE carries a new offer; answer it with ``Leg.answer_update``."""

    leg_id: str
    sdp: str
    held: bool  # the offer puts us on hold (sendonly, inactive or c=0.0.0.0)


@dataclass(frozen=True, slots=True)
class LegReoffered:
    """Our re-INVITE to a phone was answered (``sdp``) or refused (``status``, sdp "")."""

    leg_id: str
    status: int
    sdp: str


@dataclass(frozen=True, slots=True)
class LegReferred:
    """The phone asks us to transfer its call (REFER, RFC 3515) to ``refer_to`` (a URI);
    tell it how that went with ``OutboundLeg.notify_refer``."""

    leg_id: str
    refer_to: str


@dataclass(frozen=True, slots=True)
class DigitReceived:
    """A DTMF digit signalled in SIP (INFO, RFC 2976 with application/dtmf-relay)."""

    leg_id: str
    digit: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class LegEnded:
    leg_id: str
    reason: str
    status: int | None = None  # the SIP status that ended it, when there was one


LegEvent = (LegOffered | LegRinging | LegAnswered | LegConfirmed | LegUpdateOffered
            | DigitReceived | LegReferred | LegReoffered | LegEnded)
