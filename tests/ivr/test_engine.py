"""The interpreter, node by node, with a fake clock: commands out for events in."""

from __future__ import annotations

from typing import Any

import pytest

from switch.ivr.commands import (
    CallerHungUp,
    CancelLookup,
    DigitPressed,
    Enqueue,
    FlowFailed,
    Hangup,
    LookupCompleted,
    LookupFailed,
    PlayPrompt,
    PromptFinished,
    RequestCallback,
    ResolvedInSelfService,
    StartLookup,
    StartVoicemail,
    StepTaken,
    StopPrompt,
    SurveyQuestion,
    SurveyRequested,
    Transfer,
    VariableSet,
)
from switch.ivr.engine import _TABLE, CallFacts, IvrError, IvrSession, State
from switch.ivr.schema import Flow, Prompt

from .driver import MONDAY_10, Caller, flow_of, local

BYE = {"type": "hangup", "reason": "done"}
QUEUE = {"type": "queue", "queue": "support"}


def tts(text: str, voice: str | None = None) -> Prompt:
    return Prompt(tts=text, voice=voice)


def menu(**kw: Any) -> dict[str, Any]:
    node = {"type": "menu", "prompt": "Press 1 or 2.", "options": {"1": "one", "2": "two"},
            "on_failure": "fail", "timeout": 5, "retries": 2, "invalid": "Not a choice.",
            "no_input": "Nothing heard."}
    return {**node, **kw}


MENU_FLOW = {"m": menu(), "one": {"type": "queue", "queue": "one"},
             "two": {"type": "queue", "queue": "two"}, "fail": BYE}


# -- play, prompts, stale reports ---------------------------------------------------------

def test_play_then_next_with_every_step_an_event() -> None:
    call = Caller(flow_of({"hello": {"type": "play", "prompt": "Hi {caller}.", "next": "bye"},
                           "bye": BYE}))
    assert call.start() == [StepTaken("hello", "play"),
                            PlayPrompt(tts("Hi +441632960001."), False, 1)]
    assert call.session.state is State.PLAYING and call.session.next_deadline() is None
    assert call.prompt_ends() == [StepTaken("bye", "hangup", "done"), Hangup("done")]
    assert call.session.finished and call.session.outcome == "hangup"


def test_digits_do_not_interrupt_a_play_node_and_stale_reports_are_ignored() -> None:
    call = Caller(flow_of({"hello": {"type": "play", "prompt": "Hi.", "next": "bye"},
                           "bye": {"type": "hangup", "prompt": "Bye."}}))
    call.start()
    assert call.press("1") == []
    assert call.prompt_ends()[-1] == PlayPrompt(tts("Bye."), False, 2)
    assert call.send(PromptFinished(1)) == []  # the first prompt's late report
    assert call.send(PromptFinished()) == [Hangup("normal")]
    assert call.send(PromptFinished()) == []  # finished: absorbed


def test_flow_voice_and_prompt_dir_apply() -> None:
    flow = flow_of({"a": {"type": "play", "prompt": {"file": "hello.wav"}, "next": "b"},
                    "b": {"type": "play", "prompt": "Hi.", "next": "c"},
                    "c": {"type": "play", "prompt": {"tts": "Hola.", "voice": "es"},
                          "next": "bye"},
                    "bye": BYE}, voice="en-gb", prompt_dir="prompts/demo")
    call = Caller(flow)
    call.start()
    call.listen()
    assert [p.prompt for p in call.of(PlayPrompt)] == [
        Prompt(file="prompts/demo/hello.wav"), tts("Hi.", "en-gb"), tts("Hola.", "es")]


# -- menu ---------------------------------------------------------------------------------

def test_menu_choice_after_the_prompt() -> None:
    call = Caller(flow_of(MENU_FLOW))
    assert call.start()[-1] == PlayPrompt(tts("Press 1 or 2."), True, 1)
    assert call.prompt_ends() == []
    assert call.session.state is State.WAITING_INPUT
    assert call.session.next_deadline() == MONDAY_10 + 5
    call.now += 2
    assert call.press("2") == [StepTaken("m", "menu_choice", "2"), StepTaken("two", "queue", "two"),
                               Enqueue("two", 0, None, None, call.session.variables)]
    assert call.session.outcome == "queued"


def test_barge_in_stops_the_prompt_and_counts() -> None:
    call = Caller(flow_of(MENU_FLOW))
    call.start()
    out = call.press("1")
    assert out[:2] == [StopPrompt(), StepTaken("m", "menu_choice", "1")]
    assert isinstance(out[-1], Enqueue) and out[-1].queue == "one"
    assert call.send(PromptFinished(1)) == []  # the stopped prompt's report, if it comes


def test_invalid_digit_plays_invalid_then_the_menu_and_retries_run_out() -> None:
    call = Caller(flow_of(MENU_FLOW))
    call.start()
    call.prompt_ends()
    out = call.press("7")
    assert out == [StepTaken("m", "invalid_input", "7"), StepTaken("m", "retry", "try 2 of 3"),
                   PlayPrompt(tts("Not a choice."), True, 2),
                   PlayPrompt(tts("Press 1 or 2."), True, 3)]
    assert call.send(PromptFinished(2)) == []  # waits for the last prompt
    assert call.session.state is State.PROMPTING
    call.press("8")  # barges into the replayed menu: still invalid
    assert call.session.state is State.PROMPTING
    out = call.press("9")
    assert out[0] == StopPrompt()
    assert out[1:] == [StepTaken("m", "invalid_input", "9"),
                       StepTaken("m", "retries_exhausted", "3 failed tries"),
                       StepTaken("fail", "hangup", "done"), Hangup("done")]


def test_menu_timeout_plays_no_input_and_then_takes_on_failure() -> None:
    call = Caller(flow_of(MENU_FLOW))
    call.start()
    call.prompt_ends()
    assert call.wait(4.9) == []
    out = call.wait(0.1)
    assert out[:2] == [StepTaken("m", "no_input", "5 s"), StepTaken("m", "retry", "try 2 of 3")]
    assert out[2] == PlayPrompt(tts("Nothing heard."), True, 2)
    assert call.session.next_deadline() is None  # no deadline while the prompt plays
    call.prompt_ends()
    call.wait(5)
    call.prompt_ends()
    out = call.wait(5)
    assert out[-2:] == [StepTaken("fail", "hangup", "done"), Hangup("done")]
    assert ("m", "retries_exhausted") in call.steps()
    assert call.now == MONDAY_10 + 15


def test_timer_before_the_deadline_does_nothing() -> None:
    call = Caller(flow_of(MENU_FLOW))
    call.start()
    call.prompt_ends()
    assert call.session.on_timer(MONDAY_10 + 1) == []
    assert call.session.state is State.WAITING_INPUT


def test_no_retries_goes_straight_to_failure() -> None:
    call = Caller(flow_of({**MENU_FLOW, "m": menu(retries=0, invalid=None)}))
    call.start()
    out = call.press("5")
    assert StepTaken("m", "retries_exhausted", "1 failed tries") in out
    assert out[-1] == Hangup("done")


# -- collect ------------------------------------------------------------------------------

def collect_flow(**kw: Any) -> Flow:
    node = {"type": "collect", "prompt": "Your account number, then hash.",
            "variable": "account", "min": 4, "max": 8, "pattern": "[0-9]+", "timeout": 6,
            "digit_timeout": 3, "retries": 1, "invalid": "That number is not valid.",
            "next": "q", "on_failure": "fail", **kw}
    return flow_of({"c": node, "q": QUEUE, "fail": BYE})


def test_collect_ends_on_the_terminator() -> None:
    call = Caller(collect_flow())
    call.start()
    call.prompt_ends()
    assert call.session.next_deadline() == MONDAY_10 + 6
    call.press("1234")
    assert call.session.next_deadline() == MONDAY_10 + 3
    out = call.press("#")
    assert out[:2] == [StepTaken("c", "collected", "4 digits"), VariableSet("account", "1234")]
    enqueue = call.of(Enqueue)[0]
    assert enqueue.variables["account"] == "1234"


def test_collect_barges_in_and_ends_at_max_digits() -> None:
    call = Caller(collect_flow())
    call.start()
    assert call.press("1")[0] == StopPrompt()
    call.press("2345678")
    assert call.session.variables["account"] == "12345678" and call.session.finished


def test_collect_inter_digit_timeout_takes_the_entry() -> None:
    call = Caller(collect_flow())
    call.start()
    call.prompt_ends()
    call.wait(1)
    call.press("98765")
    call.wait(2.9)
    assert "account" not in call.session.variables
    call.wait(0.1)
    assert call.session.variables["account"] == "98765"


def test_collect_short_or_non_matching_entry_retries_then_fails() -> None:
    call = Caller(collect_flow(pattern="4[0-9]*"))
    call.start()
    out = call.press("12#")
    assert StepTaken("c", "invalid_input", "2 digits") in out
    assert out[-2:] == [PlayPrompt(tts("That number is not valid."), True, 2),
                        PlayPrompt(tts("Your account number, then hash."), True, 3)]
    out = call.press("12345#")  # long enough, but the pattern wants a leading 4
    assert out[-1] == Hangup("done")
    assert "account" not in call.session.variables


def test_collect_first_digit_timeout_and_no_prompt() -> None:
    call = Caller(collect_flow(prompt=None, invalid=None, no_input="Still there?"))
    assert call.start() == [StepTaken("c", "collect")]
    assert call.session.state is State.WAITING_INPUT
    out = call.wait(6)
    assert out[-1] == PlayPrompt(tts("Still there?"), True, 1)
    call.prompt_ends()
    assert call.wait(6)[-1] == Hangup("done")


def test_sensitive_digits_are_masked_in_events() -> None:
    call = Caller(collect_flow(sensitive=True, pattern=None))
    call.start()
    call.press("4321#")
    assert VariableSet("account", "***") in call.out
    assert call.session.variables["account"] == "4321"
    assert all("4321" not in s.detail for s in call.of(StepTaken))
    # Kept inside the IVR: the router and the agent desktop never see it.
    assert "account" not in call.of(Enqueue)[0].variables


# -- condition, set -----------------------------------------------------------------------

def cond_flow(*branches: dict[str, Any], before: dict[str, Any] | None = None) -> Flow:
    nodes: dict[str, Any] = {}
    if before:
        nodes["s"] = {"type": "set", "variables": before, "next": "c"}
    nodes |= {"c": {"type": "condition", "branches": list(branches), "else": "no"},
              "yes": {"type": "transfer", "to": "sip:yes@example.com"},
              "no": {"type": "transfer", "to": "+441632960999"}}
    return flow_of(nodes)


def outcome(flow: Flow, **kw: Any) -> str:
    call = Caller(flow, **kw)
    call.start()
    [transfer] = call.of(Transfer)
    return "yes" if transfer.target.startswith("sip:yes") else "no"


def test_tier_condition_reads_the_tier_variable() -> None:
    flow = cond_flow({"when": {"tier": ["vip", "gold"]}, "next": "yes"})
    assert outcome(flow, tier="gold") == "yes"
    assert outcome(flow, tier="bronze") == "no"
    assert outcome(flow) == "no"


@pytest.mark.parametrize(("when", "value", "expected"), [
    ({"equals": "3"}, "3", "yes"), ({"equals": "3"}, "33", "no"),
    ({"in": ["a", "b"]}, "b", "yes"), ({"in": ["a", "b"]}, "", "no"),
    ({"matches": "T-[0-9]+"}, "T-1042", "yes"), ({"matches": "T-[0-9]+"}, "xT-1", "no"),
    ({"matches": ".+"}, "", "no"),
])
def test_variable_conditions(when: dict[str, Any], value: str, expected: str) -> None:
    flow = cond_flow({"when": {"variable": "v", **when}, "next": "yes"}, before={"v": value})
    assert outcome(flow) == expected


def test_hours_condition_uses_the_wall_clock() -> None:
    hours = {"timezone": "Europe/London", "weekly": {"mon": ["09:00-17:00"]}}
    flow = cond_flow({"when": {"hours": hours}, "next": "yes"})
    assert outcome(flow, now=local("2026-03-02 10:00")) == "yes"
    assert outcome(flow, now=local("2026-03-02 18:00")) == "no"
    # A monotonic clock near zero plus the runner's measured offset gives the same answer.
    assert outcome(flow, now=42.0, wall_offset=local("2026-03-02 10:00") - 42.0) == "yes"


def test_first_matching_branch_wins_and_is_an_event() -> None:
    flow = cond_flow({"when": {"variable": "v", "equals": "x"}, "next": "no"},
                     {"when": {"variable": "v", "matches": "x.*"}, "next": "yes"},
                     before={"v": "xy"})
    call = Caller(flow)
    call.start()
    assert StepTaken("c", "branch", "branches[1]") in call.out


def test_set_renders_templates() -> None:
    call = Caller(flow_of({"s": {"type": "set", "variables": {"greeting": "Hi {name}!",
                                                              "from": "{caller}/{number}",
                                                              "n": 5}, "next": "q"},
                           "q": QUEUE}))
    call.start()
    assert call.of(VariableSet) == [VariableSet("greeting", "Hi !"),
                                    VariableSet("from", "+441632960001/100"),
                                    VariableSet("n", "5")]


# -- lookup -------------------------------------------------------------------------------

def lookup_flow(**kw: Any) -> Flow:
    node = {"type": "lookup", "url": "{api}/customers/{caller}?n={number}", "timeout": 2,
            "set": {"tier": "customer.tier", "name": "$.customer.name",
                    "ticket": "tickets[0].id", "vip": "customer.vip"},
            "next": "q", "on_failure": "fallback", **kw}
    return flow_of({"l": node, "q": QUEUE, "fallback": {"type": "queue", "queue": "fallback"}})


def test_lookup_success_sets_variables_and_tier() -> None:
    call = Caller(lookup_flow(), api_base="http://127.0.0.1:8080/")
    out = call.start()
    assert out[-1] == StartLookup("http://127.0.0.1:8080/customers/%2B441632960001?n=100",
                                  "GET", 2.0)
    assert call.session.state is State.WAITING_LOOKUP
    assert call.session.next_deadline() == MONDAY_10 + 2
    call.now += 0.3
    out = call.send(LookupCompleted(200, {"customer": {"tier": "vip", "name": "Ada",
                                                       "vip": True},
                                          "tickets": [{"id": 7}]}))
    assert out[:5] == [StepTaken("l", "lookup_ok", "HTTP 200"), VariableSet("tier", "vip"),
                       VariableSet("name", "Ada"), VariableSet("ticket", "7"),
                       VariableSet("vip", "true")]
    assert out[-1] == Enqueue("support", 0, None, "vip", call.session.variables)


def test_lookup_leaves_api_for_the_runner_when_not_told() -> None:
    call = Caller(lookup_flow())
    call.start()
    assert call.of(StartLookup)[0].url == "{api}/customers/%2B441632960001?n=100"


def test_missing_fields_leave_variables_unset() -> None:
    call = Caller(lookup_flow())
    call.start()
    out = call.send(LookupCompleted(200, {"customer": {"tier": None}}))
    assert call.of(VariableSet) == [] and call.session.outcome == "queued"
    assert out[-1] == Enqueue("support", 0, None, None, call.session.variables)


@pytest.mark.parametrize(("event", "detail"), [
    (LookupCompleted(404, {"error": "unknown"}), "HTTP 404"),
    (LookupCompleted(500, None), "HTTP 500"),
    (LookupCompleted(200, None), "body is not JSON"),
    (LookupFailed("connection refused"), "connection refused"),
])
def test_failing_lookup_takes_the_fallback_branch(event: Any, detail: str) -> None:
    call = Caller(lookup_flow())
    call.start()
    out = call.send(event)
    assert out[0] == StepTaken("l", "lookup_failed", detail)
    assert out[-1] == Enqueue("fallback", 0, None, None, call.session.variables)


def test_lookup_timeout_cancels_and_takes_the_fallback() -> None:
    call = Caller(lookup_flow())
    call.start()
    out = call.wait(2)
    assert out[:2] == [CancelLookup(), StepTaken("l", "lookup_failed", "no answer within 2 s")]
    assert call.of(Enqueue)[0].queue == "fallback"
    assert call.send(LookupCompleted(200, {"customer": {"tier": "vip"}})) == []  # too late


def test_caller_hangs_up_during_lookup() -> None:
    call = Caller(lookup_flow())
    call.start()
    out = call.send(CallerHungUp())
    assert out == [CancelLookup(), StepTaken("l", "caller_hung_up", "waiting for lookup")]
    assert call.session.outcome == "abandoned" and call.session.next_deadline() is None
    assert call.wait(10) == [] and call.press("1") == []


# -- the ends: answer, queue, transfer, voicemail, callback, survey, hangup ----------------

def test_answer_marks_self_service_and_hangs_up() -> None:
    call = Caller(flow_of({"a": {"type": "answer", "topic": "opening_hours",
                                 "prompt": "We open at 8."}}))
    out = call.start()
    assert out == [StepTaken("a", "answer", "opening_hours"),
                   ResolvedInSelfService("a", "opening_hours"),
                   PlayPrompt(tts("We open at 8."), False, 1)]
    assert call.prompt_ends() == [Hangup("resolved_in_self_service")]
    assert call.session.resolved_in_self_service
    assert call.session.outcome == "self_service"


def test_answer_with_next_goes_on() -> None:
    call = Caller(flow_of({"a": {"type": "answer", "prompt": "x", "next": "q"}, "q": QUEUE}))
    call.start()
    call.prompt_ends()
    assert call.session.outcome == "queued" and call.session.resolved_in_self_service


def test_queue_carries_priority_skills_and_tier_from_a_variable() -> None:
    call = Caller(flow_of({"s": {"type": "set", "variables": {"segment": "gold"}, "next": "q"},
                           "q": {"type": "queue", "queue": "vip", "priority": 10,
                                 "skills": "english >= 5", "tier_variable": "segment"}}))
    call.start()
    [enqueue] = call.of(Enqueue)
    assert (enqueue.queue, enqueue.priority, enqueue.skills, enqueue.tier) == (
        "vip", 10, "english >= 5", "gold")
    assert enqueue.variables["caller"] == "+441632960001"


def test_transfer_and_voicemail() -> None:
    call = Caller(flow_of({"t": {"type": "transfer", "to": "sips:desk@example.com"}}))
    assert call.start()[-1] == Transfer("sips:desk@example.com")
    assert call.session.outcome == "transferred"
    call = Caller(flow_of({"v": {"type": "voicemail", "mailbox": "sales",
                                 "prompt": "Leave a message, {caller}.", "max_seconds": 60}}))
    assert call.start()[-1] == StartVoicemail("sales", tts("Leave a message, +441632960001."),
                                              60)
    assert call.session.outcome == "voicemail"


def test_callback_requests_then_confirms_and_hangs_up() -> None:
    call = Caller(flow_of({"cb": {"type": "callback", "queue": "support",
                                  "prompt": "We will call you back."}}))
    out = call.start()
    assert out[1] == RequestCallback("+441632960001", "support", call.session.variables)
    assert out[2] == PlayPrompt(tts("We will call you back."), False, 1)
    assert call.prompt_ends() == [Hangup("callback_requested")]
    assert call.session.outcome == "callback"


def test_callback_without_a_number_fails_naming_the_node() -> None:
    call = Caller(flow_of({"cb": {"type": "callback", "queue": "support"}}), caller="")
    out = call.start()
    assert out[-2:] == [FlowFailed("cb", "callback number '{caller}' is empty (an anonymous"
                                         " caller?)"), Hangup("ivr_error")]
    assert call.session.outcome == "failed"


def test_survey_is_requested_with_its_scales() -> None:
    call = Caller(flow_of({"s": {"type": "survey", "next": "q",
                                 "questions": {"nps": "Recommend us?", "csat": "Happy?",
                                               "ces": "Easy?"}}, "q": QUEUE}))
    call.start()
    [survey] = call.of(SurveyRequested)
    assert survey.questions == (SurveyQuestion("nps", tts("Recommend us?"), 0, 10),
                                SurveyQuestion("csat", tts("Happy?"), 1, 5),
                                SurveyQuestion("ces", tts("Easy?"), 1, 7))
    assert call.session.survey == survey.questions and call.session.outcome == "queued"


def test_hangup_without_prompt() -> None:
    call = Caller(flow_of({"h": {"type": "hangup"}}))
    assert call.start() == [StepTaken("h", "hangup", "normal"), Hangup("normal")]


def test_caller_hangs_up_during_a_menu() -> None:
    call = Caller(flow_of(MENU_FLOW))
    call.start()
    call.prompt_ends()
    assert call.send(CallerHungUp()) == [StepTaken("m", "caller_hung_up", "waiting for input")]
    assert call.session.outcome == "abandoned" and call.session.next_deadline() is None


# -- safety -------------------------------------------------------------------------------

def test_step_bound_stops_a_menu_timing_out_into_itself() -> None:
    flow = flow_of({"m": menu(on_failure="m", retries=1, no_input=None, invalid=None),
                    "one": QUEUE, "two": QUEUE})
    call = Caller(flow, max_steps=10)
    call.start()
    call.listen()
    for _ in range(20):
        call.wait(5)
        call.listen()
        if call.session.finished:
            break
    assert call.out[-2:] == [FlowFailed("m", "more than 10 steps without caller input"
                                             " (a loop in the flow?)"), Hangup("ivr_error")]
    assert call.session.outcome == "failed"


def test_digits_reset_the_step_bound() -> None:
    flow = flow_of({"m": menu(options={"1": "m", "2": "two"}), "two": QUEUE, "fail": BYE})
    call = Caller(flow, max_steps=3)
    call.start()
    for _ in range(10):
        call.press("1")
    assert not call.session.finished
    call.press("2")
    assert call.session.outcome == "queued"


def test_an_unvalidated_spinning_flow_ends_with_the_default_bound() -> None:
    # The validator refuses this flow; a session given one anyway must still end.
    flow = Flow.model_validate({"start": "a", "nodes": {
        "a": {"type": "set", "variables": {"x": "1"}, "next": "b"},
        "b": {"type": "set", "variables": {"x": "2"}, "next": "a"}}})
    call = Caller(flow)
    out = call.start()
    assert len(call.of(VariableSet)) == 100
    # The node named is where the walk was stopped.
    assert out[-2:] == [FlowFailed("b", "more than 100 steps without caller input"
                                        " (a loop in the flow?)"), Hangup("ivr_error")]


def test_an_internal_error_hangs_up_naming_the_node(monkeypatch: pytest.MonkeyPatch) -> None:
    call = Caller(lookup_flow())
    call.start()

    def broken(*_: Any) -> Any:
        raise KeyError("boom")

    monkeypatch.setattr("switch.ivr.engine.extract", broken)
    out = call.send(LookupCompleted(200, {"customer": {}}))
    assert out[-2:] == [FlowFailed("l", "KeyError: 'boom'"), Hangup("ivr_error")]
    assert call.session.finished


def test_misuse_by_the_runner_raises() -> None:
    flow = flow_of({"h": {"type": "hangup"}})
    session = IvrSession(flow, 1, CallFacts("c", "1", "2"), 0.0)
    with pytest.raises(IvrError):
        session.handle(DigitPressed("1"), 0.0)
    session.start(0.0)
    with pytest.raises(IvrError):
        session.start(0.0)
    with pytest.raises(IvrError):
        session.handle("1", 0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DigitPressed("x")


def test_every_table_entry_has_a_handler() -> None:
    for (state, _), (name, allowed) in _TABLE.items():
        assert callable(getattr(IvrSession, name)), name
        assert state is not State.FINISHED and allowed


def test_initial_variables() -> None:
    session = IvrSession(flow_of({"h": BYE}), 3, CallFacts("c9", "+1555", "100", "vip"), 0.0)
    assert dict(session.variables) == {"call_id": "c9", "caller": "+1555", "number": "100",
                                       "tier": "vip"}
    assert session.version == 3 and session.node == "h" and session.state is State.IDLE
