"""A call: the caller's leg, its media session and the service that answers it (IVR, queue).

The call is a state machine (an enum and a transition table) that turns what happens to it
into commands for the edge (``service.py``) to carry out: anchor the caller's media in the
engine, answer the caller with the engine's SDP, start the service once the caller's ACK
arrives, stop everything and free the media when either side hangs up. It knows no SIP and
no ng protocol: legs speak SIP, the media client speaks ng.

    ARRIVED --anchor--> ANCHORING --media ready--> ANSWERING --confirmed--> ACTIVE
        any --caller gone / hang up / media failed--> ENDING --media released--> ENDED

An outbound call (an agent dialling a customer through the trunk, target ``outbound:NUMBER``)
answers the caller only when the far end does, and passes its ringing and its refusal on:

    ANCHORING --media ready--> DIALING --far answered--> ANSWERING
    DIALING --far failed--> ENDING (the caller gets the far end's status)

Events for the metrics layer (``CallStarted``, ``CallAnswered``, ``CallEnded``) are produced
here, past tense, with the monotonic times the edge passes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# -- commands for the edge --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnchorMedia:
    call_id: str
    offer: str


@dataclass(frozen=True, slots=True)
class AnswerCaller:
    call_id: str
    sdp: str


@dataclass(frozen=True, slots=True)
class RejectCaller:
    call_id: str
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class DialOut:
    """Call ``target`` (``outbound:NUMBER`` through the trunk, ``agent:ID`` at its phones),
    the far side of the caller's media offered."""

    call_id: str
    target: str


@dataclass(frozen=True, slots=True)
class RingCaller:
    call_id: str


@dataclass(frozen=True, slots=True)
class HangupFar:
    """Stop dialling, or end the far end's call (the caller is gone)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class StartService:
    call_id: str
    target: str  # "ivr:main", "queue:support"


@dataclass(frozen=True, slots=True)
class StopService:
    call_id: str


@dataclass(frozen=True, slots=True)
class HangupCaller:
    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReleaseMedia:
    call_id: str


Command = (AnchorMedia | AnswerCaller | RejectCaller | StartService | StopService
           | HangupCaller | ReleaseMedia | DialOut | RingCaller | HangupFar)

# -- events for the bus -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: str
    caller: str
    number: str
    target: str


@dataclass(frozen=True, slots=True)
class CallAnswered:
    call_id: str
    setup_seconds: float


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    reason: str
    answered: bool
    duration_seconds: float  # from answer (0 when never answered)


@dataclass(frozen=True, slots=True)
class CallDigit:
    """The caller pressed a key: ``via`` "rfc4733" (in the media) or "info" (SIP INFO)."""

    call_id: str
    digit: str
    via: str


@dataclass(frozen=True, slots=True)
class CallHeld:
    """The caller put us on hold (``held``) or took us off it, by a new SDP offer."""

    call_id: str
    held: bool


class CallState(Enum):
    ARRIVED = "arrived"
    ANCHORING = "anchoring"
    DIALING = "dialing"
    ANSWERING = "answering"
    ACTIVE = "active"
    ENDING = "ending"
    ENDED = "ended"


class CallInput(Enum):
    ANCHOR = "anchor"
    MEDIA_READY = "media ready"
    MEDIA_FAILED = "media failed"
    CONFIRMED = "caller confirmed"
    CALLER_GONE = "caller gone"
    HANG_UP = "hang up"
    RELEASED = "media released"
    DIAL = "dial out"
    FAR_RINGING = "far end ringing"
    FAR_ANSWERED = "far end answered"
    FAR_FAILED = "far end failed"


S, In = CallState, CallInput
TRANSITIONS: dict[tuple[CallState, CallInput], CallState] = {
    (S.ARRIVED, In.ANCHOR): S.ANCHORING,
    (S.ANCHORING, In.MEDIA_READY): S.ANSWERING,
    (S.ANCHORING, In.MEDIA_FAILED): S.ENDING,
    (S.ANSWERING, In.CONFIRMED): S.ACTIVE,
    (S.ANCHORING, In.DIAL): S.DIALING,
    (S.DIALING, In.FAR_RINGING): S.DIALING,
    (S.DIALING, In.FAR_ANSWERED): S.ANSWERING,
    (S.DIALING, In.FAR_FAILED): S.ENDING,
    **{(state, In.CALLER_GONE): S.ENDING
       for state in (S.ARRIVED, S.ANCHORING, S.DIALING, S.ANSWERING, S.ACTIVE)},
    **{(state, In.HANG_UP): S.ENDING
       for state in (S.ARRIVED, S.ANCHORING, S.DIALING, S.ANSWERING, S.ACTIVE)},
    (S.ENDING, In.RELEASED): S.ENDED,
    # Late news for a call on its way out changes nothing.
    **{(S.ENDING, i): S.ENDING for i in (In.MEDIA_READY, In.MEDIA_FAILED, In.CONFIRMED,
                                          In.CALLER_GONE, In.HANG_UP, In.FAR_RINGING,
                                          In.FAR_ANSWERED, In.FAR_FAILED, In.DIAL)},
    **{(S.ENDED, i): S.ENDED for i in In},
}


class Call:
    def __init__(self, call_id: str, leg_id: str, *, caller: str, number: str, target: str,
                 now: float) -> None:
        self.call_id = call_id
        self.leg_id = leg_id
        self.caller = caller
        self.number = number
        self.target = target
        self.state = CallState.ARRIVED
        self.arrived_at = now
        self.answered_at: float | None = None
        self.end_reason = ""
        self.answer_sdp = ""  # an outbound call's answer for the caller, until the far end's
        self.dialled = target.startswith(("outbound:", "agent:"))
        self.events: list[object] = [CallStarted(call_id, caller, number, target)]

    def _step(self, event: CallInput) -> CallState:
        following = TRANSITIONS.get((self.state, event))
        if following is None:
            raise ValueError(f"call {self.call_id} cannot take {event.value} when"
                             f" {self.state.value}")
        was, self.state = self.state, following
        return was

    def take_events(self) -> list[object]:
        out, self.events = self.events, []
        return out

    # -- inputs -------------------------------------------------------------------------------

    def offered(self, sdp: str) -> list[Command]:
        self._step(CallInput.ANCHOR)
        return [AnchorMedia(self.call_id, sdp)]

    def media_ready(self, answer_sdp: str) -> list[Command]:
        if self.dialled:  # the caller is answered when the far end is: dial first
            if self._step(CallInput.DIAL) is not CallState.ANCHORING:
                return []
            self.answer_sdp = answer_sdp
            return [DialOut(self.call_id, self.target)]
        if self._step(CallInput.MEDIA_READY) is not CallState.ANCHORING:
            return []
        return [AnswerCaller(self.call_id, answer_sdp)]

    def far_ringing(self) -> list[Command]:
        if self._step(CallInput.FAR_RINGING) is not CallState.DIALING:
            return []
        return [RingCaller(self.call_id)]

    def far_answered(self) -> list[Command]:
        """The far end answered and its media is connected: now answer the caller."""
        if self._step(CallInput.FAR_ANSWERED) is not CallState.DIALING:
            return [HangupFar(self.call_id)]
        return [AnswerCaller(self.call_id, self.answer_sdp)]

    def far_failed(self, status: int | None, reason: str) -> list[Command]:
        """The far end refused or could not be reached: the caller hears its status (busy
        stays busy; no answer at all becomes 480; our own trouble 503)."""
        if self._step(CallInput.FAR_FAILED) is not CallState.DIALING:
            return []
        self.end_reason = f"far end: {reason}"
        code = status if status is not None and 400 <= status < 700 else 480
        if code in (401, 407, 403):  # the trunk's business, not the caller's
            code = 503
        return [RejectCaller(self.call_id, code, reason), ReleaseMedia(self.call_id)]

    def media_failed(self, reason: str, now: float) -> list[Command]:
        if self._step(CallInput.MEDIA_FAILED) is not CallState.ANCHORING:
            return []
        self.end_reason = f"media: {reason}"
        return [RejectCaller(self.call_id, 503, "Service Unavailable (media engine)"),
                ReleaseMedia(self.call_id)]

    def confirmed(self, now: float) -> list[Command]:
        if self._step(CallInput.CONFIRMED) is not CallState.ANSWERING:
            return []
        self.answered_at = now
        self.events.append(CallAnswered(self.call_id, round(now - self.arrived_at, 3)))
        return [] if self.dialled else [StartService(self.call_id, self.target)]

    def caller_gone(self, reason: str, now: float) -> list[Command]:
        was = self._step(CallInput.CALLER_GONE)
        if was in (CallState.ENDING, CallState.ENDED):
            return []
        self.end_reason = reason
        return self._teardown(was, hang_up_caller=False)

    def hang_up(self, reason: str, now: float) -> list[Command]:
        was = self._step(CallInput.HANG_UP)
        if was in (CallState.ENDING, CallState.ENDED):
            return []
        self.end_reason = reason
        return self._teardown(was, hang_up_caller=True)

    def media_released(self, now: float) -> list[Command]:
        if self._step(CallInput.RELEASED) is CallState.ENDING:
            answered = self.answered_at is not None
            duration = now - self.answered_at if self.answered_at is not None else 0.0
            self.events.append(CallEnded(self.call_id, self.end_reason, answered,
                                         round(duration, 3)))
        return []

    def _teardown(self, was: CallState, *, hang_up_caller: bool) -> list[Command]:
        out: list[Command] = []
        if was is CallState.ACTIVE and not self.dialled:
            out.append(StopService(self.call_id))
        if self.dialled and was in (CallState.DIALING, CallState.ANSWERING, CallState.ACTIVE):
            out.append(HangupFar(self.call_id))
        if hang_up_caller:
            out.append(HangupCaller(self.call_id, self.end_reason))
        out.append(ReleaseMedia(self.call_id))
        return out

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED
