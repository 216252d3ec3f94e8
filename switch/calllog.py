"""One INFO line per step of a call, on ``switch.calls.events``, for operators and tests.

Every call event on the bus (call control, IVR, call delivery, the router's decisions, the
media engine's reports) is written as ``call ID what happened`` (or ``agent ID ...``).
Customers' numbers appear masked where an agent-facing event carries one.
"""

from __future__ import annotations

import logging

from routing import decisions as rd

from .callcontrol import call as c
from .callcontrol import clicktodial as ctd
from .callcontrol import deliverystate as dl
from .callcontrol.agentdial import mask_number
from .callcontrol.mobilelogin import MobileLoginFailed
from .callcontrol.supervise import SupervisionChanged
from .ivr import commands as ivr
from .ivr.runner import CallbackRequested, CallQueued, IvrStep, VoicemailStarted
from .ivr.survey import SurveyAnswered
from .media.events import MediaEvent

events_log = logging.getLogger("switch.calls.events")


def log_call_event(event: object) -> None:
    """One INFO line per step of a call, for operators (and for tests reading the log)."""
    if isinstance(event, c.CallStarted):
        events_log.info("call %s started: from %s to %s (%s)", event.call_id, event.caller,
                        event.number, event.target)
    elif isinstance(event, c.CallAnswered):
        events_log.info("call %s answered in %.3f s", event.call_id, event.setup_seconds)
    elif isinstance(event, c.CallHeld):
        events_log.info("call %s %s", event.call_id, "on hold" if event.held else "resumed")
    elif isinstance(event, c.CallDigit):
        events_log.info("call %s digit %s (%s)", event.call_id, event.digit, event.via)
    elif isinstance(event, CallQueued):
        events_log.info("call %s queued in %s (music on hold)", event.call_id, event.queue)
    elif isinstance(event, IvrStep):
        notice = event.notice
        if isinstance(notice, ivr.StepTaken):
            events_log.info("call %s ivr %s %s %s", event.call_id, notice.node, notice.kind,
                            notice.detail)
        elif isinstance(notice, ivr.ResolvedInSelfService):
            events_log.info("call %s resolved in self-service at %s", event.call_id,
                            notice.node)
        elif isinstance(notice, ivr.FlowFailed):
            events_log.warning("call %s ivr failed at %s: %s", event.call_id, notice.node,
                               notice.reason)
    elif isinstance(event, CallbackRequested):
        events_log.info("call %s callback requested to %s by %s", event.call_id, event.number,
                        event.queue)
    elif isinstance(event, VoicemailStarted):
        events_log.info("call %s voicemail for %s (at most %d s)", event.call_id,
                        event.mailbox, event.max_seconds)
    elif isinstance(event, MediaEvent) and event.kind == "recording":
        events_log.info("call %s recording %s %s", event.call_id, event.raw.get("state"),
                        event.raw.get("file"))
    elif isinstance(event, MediaEvent) and event.kind not in ("DTMF", "playback"):
        events_log.info("call %s media %s", event.call_id, event.kind)
    elif isinstance(event, Delivered):
        _log_delivery(event)
    elif isinstance(event, MobileLoginFailed):
        events_log.info("call %s mobile login refused for agent %r: %s", event.call_id,
                        event.agent_id, event.reason)
    elif isinstance(event, SurveyAnswered):
        events_log.info("call %s survey %s %d", event.call_id, event.measure, event.score)
    elif isinstance(event, c.CallEnded):
        events_log.info("call %s ended: %s (%s, %.1f s)", event.call_id, event.reason,
                        "answered" if event.answered else "not answered",
                        event.duration_seconds)


Delivered = (dl.AgentOffered | dl.AgentRinging | dl.AgentAnswered | dl.AgentMissed
             | dl.AgentLost | dl.AgentMobile | dl.AgentHeld | dl.CallTransferred
             | dl.TransferFailed | dl.QueueLeft | dl.QueueAnnounced | ctd.OutboundStarted
             | ctd.OutboundConnected | ctd.OutboundEnded | SupervisionChanged
             | dl.CallAbandoned | dl.AgentCallEnded | rd.CallQueued | rd.OfferRevoked
             | rd.CallOverflowed | rd.CallRejected | rd.CallTimedOut | rd.AgentAutoPaused
             | rd.WrapUpEnded | rd.CallConnected)


def _log_delivery(event: object) -> None:
    """The steps of call delivery, one line each (``call ID ...`` or ``agent ID ...``)."""
    say = events_log.info
    if isinstance(event, dl.AgentOffered):
        say("call %s offered to agent %s (reservation %d, %s, rings %.0f s)", event.call_id,
            event.agent_id, event.reservation_id, event.rule, event.ring_seconds)
    elif isinstance(event, dl.AgentRinging):
        say("call %s ringing agent %s", event.call_id, event.agent_id)
    elif isinstance(event, dl.AgentAnswered):
        say("call %s answered by agent %s after %.1f s ringing (waited %.1f s)",
            event.call_id, event.agent_id, event.ring_seconds, event.waited_seconds)
    elif isinstance(event, dl.AgentMissed):
        say("call %s missed by agent %s: %s (%s)", event.call_id, event.agent_id,
            event.outcome, event.status if event.status is not None else "no answer")
    elif isinstance(event, ctd.OutboundStarted):
        say("call %s dialled by agent %s to %s (ringing the agent)", event.call_id,
            event.agent_id, event.number)
    elif isinstance(event, ctd.OutboundConnected):
        say("call %s connected agent %s with the customer in %.1f s", event.call_id,
            event.agent_id, event.setup_seconds)
    elif isinstance(event, ctd.OutboundEnded):
        say("call %s by agent %s ended: %s (%.1f s)", event.call_id, event.agent_id,
            event.reason, event.talk_seconds)
    elif isinstance(event, SupervisionChanged):
        say("call %s %s", event.call_id,
            f"supervised by {event.supervisor} ({event.mode})" if event.mode
            else f"no longer supervised by {event.supervisor}")
    elif isinstance(event, dl.CallTransferred):
        say("call %s transferred by agent %s to %s", event.call_id, event.agent_id,
            event.target)
    elif isinstance(event, dl.TransferFailed):
        say("call %s transfer by agent %s to %s refused: %s", event.call_id, event.agent_id,
            event.refer_to, event.reason)
    elif isinstance(event, dl.AgentHeld):
        say("call %s %s by agent %s", event.call_id,
            "on hold (music)" if event.held else "resumed", event.agent_id)
    elif isinstance(event, dl.AgentMobile):
        say("agent %s takes calls on %s (mobile login)", event.agent_id,
            mask_number(event.number))
    elif isinstance(event, dl.AgentLost):
        say("call %s lost agent %s (%s) after %.1f s: back in the queue, first",
            event.call_id, event.agent_id, event.reason, event.talk_seconds)
    elif isinstance(event, dl.QueueAnnounced):
        say("call %s told its place: number %d, about %d min", event.call_id, event.position,
            event.minutes)
    elif isinstance(event, dl.QueueLeft):
        say("call %s left %s for %s after %.1f s", event.call_id, event.queue, event.choice,
            event.waited_seconds)
    elif isinstance(event, dl.CallAbandoned):
        say("call %s abandoned in %s after %.1f s", event.call_id, event.queue,
            event.waited_seconds)
    elif isinstance(event, dl.AgentCallEnded):
        say("call %s with agent %s ended by %s after %.1f s", event.call_id, event.agent_id,
            event.by, event.talk_seconds)
    elif isinstance(event, rd.CallQueued):
        say("call %s waiting in %s (position %d)", event.call_id, event.queue_id,
            event.queue_length)
    elif isinstance(event, rd.OfferRevoked):
        say("call %s offer to agent %s withdrawn: %s", event.call_id, event.agent_id,
            event.reason)
    elif isinstance(event, rd.CallConnected):
        say("call %s connected to agent %s from %s", event.call_id, event.agent_id,
            event.queue_id)
    elif isinstance(event, rd.CallOverflowed):
        say("call %s overflowed from %s to %s (%s)", event.call_id, event.from_queue,
            event.to, event.reason)
    elif isinstance(event, rd.CallRejected | rd.CallTimedOut):
        say("call %s left %s: %s", event.call_id, event.queue_id,
            getattr(event, "reason", "max_wait"))
    elif isinstance(event, rd.AgentAutoPaused):
        say("agent %s paused after %d missed offers (%s)", event.agent_id, event.missed,
            event.reason)
    elif isinstance(event, rd.WrapUpEnded):
        say("agent %s wrap-up over: %s", event.agent_id, event.state)
