"""The demo tenant's flow on 100, walked with a fake clock, and its YAML twin."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from switch.demo import demo_routing
from switch.ivr.commands import (
    CancelLookup,
    Enqueue,
    Hangup,
    LookupCompleted,
    LookupFailed,
    PlayPrompt,
    RequestCallback,
    ResolvedInSelfService,
    StartLookup,
    StartVoicemail,
    StopPrompt,
    SurveyRequested,
)
from switch.ivr.demo import demo_customer, demo_flows
from switch.ivr.engine import State
from switch.ivr.schema import Flow
from switch.ivr.validate import flow_problems, load_flow

from .driver import MONDAY_10, Caller, local

ROOT = Path(__file__).resolve().parents[2]
ROUTING = demo_routing()
QUEUES = {q["id"] for q in ROUTING["queues"]}
SKILLS = set(ROUTING["skills"])
TIERS = {t["name"] for t in ROUTING["customer_tiers"]}
VIP, KNOWN, STRANGER = "+441632960001", "+441632960002", "+441632960077"


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow("main", demo_flows()["main"], QUEUES, known_skills=SKILLS,
                     known_tiers=TIERS)


def test_demo_flow_is_valid_against_the_demo_routing() -> None:
    assert flow_problems("main", demo_flows()["main"], known_queues=QUEUES,
                         known_skills=SKILLS, known_tiers=TIERS) == []
    assert {"support", "sales", "vip"} == QUEUES


def test_example_yaml_is_the_demo_flow(flow: Flow) -> None:
    data = yaml.safe_load((ROOT / "examples" / "ivr" / "main.yaml").read_text())
    assert load_flow("main", data, QUEUES) == flow


def open_call(flow: Flow, caller: str, now: float = MONDAY_10) -> Caller:
    """Through the greeting and the hours check to the lookup."""
    call = Caller(flow, caller=caller, now=now, api_base="http://127.0.0.1:8080")
    call.start()
    assert call.texts() == ["Thank you for calling Switchboard, the demo contact center."]
    call.prompt_ends()
    return call


def test_vip_caller_is_greeted_by_name_and_goes_to_vip(flow: Flow) -> None:
    call = open_call(flow, VIP)
    [lookup] = call.of(StartLookup)
    assert lookup == StartLookup("http://127.0.0.1:8080/demo/customers/%2B441632960001",
                                 "GET", 2.0)
    call.now += 0.05
    call.send(LookupCompleted(200, demo_customer(VIP)))
    assert call.texts()[-1] == "Welcome back, Ada. Connecting you to your priority team."
    call.prompt_ends()
    [enqueue] = call.of(Enqueue)
    assert (enqueue.queue, enqueue.priority, enqueue.tier) == ("vip", 10, "vip")
    assert enqueue.variables["name"] == "Ada"
    assert call.visited() == ["greeting", "hours", "lookup", "vip_check", "vip_welcome",
                              "vip_queue"]


def test_known_non_vip_caller_gets_the_menu_and_support_with_a_survey(flow: Flow) -> None:
    call = open_call(flow, KNOWN)
    call.send(LookupCompleted(200, demo_customer(KNOWN)))
    assert call.session.variables["open_ticket"] == "T-1042"
    assert "tier" not in call.session.variables
    assert call.session.node == "main_menu" and call.session.state is State.PROMPTING
    call.prompt_ends()
    call.press("1")
    [survey] = call.of(SurveyRequested)
    assert [q.measure for q in survey.questions] == ["csat", "nps"]
    assert call.of(Enqueue)[0].queue == "support" and call.of(Enqueue)[0].tier is None


def test_unknown_caller_404_takes_the_fallback_to_the_menu(flow: Flow) -> None:
    call = open_call(flow, STRANGER)
    assert demo_customer(STRANGER) is None
    call.send(LookupCompleted(404, {"detail": "not found"}))
    assert call.session.node == "main_menu"
    assert ("lookup", "lookup_failed") in call.steps()


def test_lookup_service_down_or_silent_takes_the_fallback(flow: Flow) -> None:
    call = open_call(flow, VIP)
    call.send(LookupFailed("connection refused"))
    assert call.session.node == "main_menu"
    call = open_call(flow, VIP)
    call.wait(2)
    assert CancelLookup() in call.out and call.session.node == "main_menu"
    assert "tier" not in call.session.variables  # the VIP is not recognised without the CRM


def at_menu(flow: Flow) -> Caller:
    call = open_call(flow, STRANGER)
    call.send(LookupCompleted(404, None))
    return call


def test_menu_barge_in_to_sales(flow: Flow) -> None:
    call = at_menu(flow)
    out = call.press("2")
    assert out[0] == StopPrompt()
    assert call.of(Enqueue)[0].queue == "sales"


def test_zero_reaches_vip_from_the_menu(flow: Flow) -> None:
    call = at_menu(flow)
    call.prompt_ends()
    call.press("0")
    assert call.of(Enqueue)[0].queue == "vip"


def test_self_service_opening_hours(flow: Flow) -> None:
    call = at_menu(flow)
    call.prompt_ends()
    call.press("3")
    assert call.of(ResolvedInSelfService) == [ResolvedInSelfService("opening_hours",
                                                                    "opening_hours")]
    assert call.texts()[-1].startswith("We are open Monday to Friday")
    call.prompt_ends()
    assert call.out[-1] == Hangup("resolved_in_self_service")
    assert call.session.outcome == "self_service"


def test_invalid_keys_and_silence_end_in_support(flow: Flow) -> None:
    call = at_menu(flow)
    call.prompt_ends()
    call.press("7")
    assert call.texts()[-2:] == ["Sorry, that is not one of the choices.",
                                 call.texts()[-1]]
    call.listen()
    call.wait(5)  # silence
    assert "Sorry, I did not hear a choice." in call.texts()
    call.listen()
    call.press("#")
    assert call.of(Enqueue)[0].queue == "support"
    assert ("main_menu", "retries_exhausted") in call.steps()
    assert call.of(SurveyRequested) == []  # the survey is on the 1 path only


@pytest.mark.parametrize("when", [local("2026-03-08 10:00"),  # Sunday
                                  local("2026-03-02 20:00"),  # Monday evening
                                  local("2026-12-25 10:00"),  # Christmas Day
                                  local("2026-12-24 12:30")])  # Christmas Eve afternoon
def test_closed_offers_voicemail(flow: Flow, when: float) -> None:
    call = open_call(flow, VIP, now=when)
    assert call.session.node == "closed" and call.of(StartLookup) == []
    call.prompt_ends()
    call.press("1")
    assert call.of(StartVoicemail)[0].mailbox == "support"


def test_closed_callback_and_silence(flow: Flow) -> None:
    call = open_call(flow, VIP, now=local("2026-03-07 14:00"))  # Saturday afternoon
    call.press("2")
    assert call.of(RequestCallback)[0].number == VIP
    call.prompt_ends()
    assert call.session.outcome == "callback"
    call = open_call(flow, VIP, now=local("2026-03-07 14:00"))
    for _ in range(3):
        call.listen()
        call.wait(5)
    assert call.session.outcome == "voicemail"


def test_saturday_morning_is_open(flow: Flow) -> None:
    call = open_call(flow, VIP, now=local("2026-03-07 09:30"))
    assert call.session.state is State.WAITING_LOOKUP
    assert isinstance(call.out[-1], StartLookup) and not call.of(PlayPrompt)[1:]
