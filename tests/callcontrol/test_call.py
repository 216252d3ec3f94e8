"""The call state machine: commands out, events for the bus, late news ignored."""

from __future__ import annotations

import pytest

from switch.callcontrol import call as c


def new_call() -> c.Call:
    return c.Call("call-1", "leg-1", caller="alice", number="100", target="ivr:main", now=10.0)


def test_happy_path_commands_and_events() -> None:
    call = new_call()
    assert call.offered("v=0...") == [c.AnchorMedia("call-1", "v=0...")]
    assert call.media_ready("answer") == [c.AnswerCaller("call-1", "answer")]
    assert call.confirmed(10.4) == [c.StartService("call-1", "ivr:main")]
    assert call.caller_gone("remote hung up", 70.4) == [c.StopService("call-1"),
                                                         c.ReleaseMedia("call-1")]
    assert call.media_released(70.5) == []
    assert call.ended
    assert call.take_events() == [
        c.CallStarted("call-1", "alice", "100", "ivr:main"),
        c.CallAnswered("call-1", 0.4),
        c.CallEnded("call-1", "remote hung up", True, 60.1)]


def test_media_failure_refuses_the_caller() -> None:
    call = new_call()
    call.offered("sdp")
    assert call.media_failed("timeout", 11.0) == [
        c.RejectCaller("call-1", 503, "Service Unavailable (media engine)"),
        c.ReleaseMedia("call-1")]
    call.media_released(11.0)
    assert call.take_events()[-1] == c.CallEnded("call-1", "media: timeout", False, 0.0)


def test_caller_gone_while_anchoring_then_late_media_is_ignored() -> None:
    call = new_call()
    call.offered("sdp")
    assert call.caller_gone("cancelled before answer", 10.2) == [c.ReleaseMedia("call-1")]
    assert call.media_ready("late answer") == []  # the CANCEL won; never answered
    assert call.confirmed(10.3) == []


def test_local_hangup_of_an_active_call() -> None:
    call = new_call()
    call.offered("sdp")
    call.media_ready("a")
    call.confirmed(11.0)
    assert call.hang_up("flow ended", 20.0) == [
        c.StopService("call-1"), c.HangupCaller("call-1", "flow ended"),
        c.ReleaseMedia("call-1")]
    assert call.hang_up("again", 21.0) == []


def test_illegal_input_raises() -> None:
    call = new_call()
    with pytest.raises(ValueError):
        call.media_ready("no anchoring was asked")
