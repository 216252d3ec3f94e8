"""What a waiting caller hears and may do (``queue_policies``), and recording per queue.

- announcements of place and expected wait over the music, every few seconds;
- key 1: voicemail (prompt, beep, the caller's message recorded; the node hangs up after the
  limit); key 2: a callback at the calling number; both take the caller out of the queue with
  an event;
- a queue that records: an answered call leaves a stereo WAV with both parties in it.
SIPp callers send the package's RFC 4733 key pcaps; SIPp agents answer on static contacts.
"""

from __future__ import annotations

import re
import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.calls_support import call_ids, delivery_config, in_order
from tests.integration.conftest import RunningNode
from tests.integration.sipclient import wait_for
from tests.integration.test_calls import sipp_call
from tests.integration.test_delivery import KIT, SippAgent, queue_call, steps_of

pytestmark = pytest.mark.integration

POLICY = {"announce_every": 2, "keys": {"1": "voicemail", "2": "callback"},
          "voicemail_seconds": 3, "record": True}


def policy_config(**contacts: str) -> dict[str, object]:
    data = delivery_config(agents=1, contacts=contacts)
    data["queue_policies"] = {"support": POLICY}
    return data


def test_the_waiting_caller_is_told_its_place_and_leaves_a_voicemail(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    node = start_node(config=policy_config())  # nobody logged in: the caller waits
    result = sipp_call(node, tmp_path, "200", digit="1", digit_after_ms=3500,
                       node_hangs_up=True, timeout=40)
    assert result.returncode == 0, (result.stdout[-1500:], result.stderr[-1500:])
    [call_id] = call_ids(node)
    assert wait_for(lambda: any(s.startswith("ended: ") for s in steps_of(node, call_id)),
                    timeout=10)
    steps = steps_of(node, call_id)
    assert "told its place: number 1, about 3 min" in steps, steps  # the 180 s default AHT
    left = [s for s in steps if s.startswith("left support for voicemail after ")]
    assert left, steps
    assert 3.0 <= float(re.search(r"after ([0-9.]+) s", left[0]).group(1)) <= 6.0  # type: ignore[union-attr]
    finished = [s for s in steps if s.startswith("recording finished ")]
    assert finished, steps
    assert steps[-1].startswith("ended: voicemail recorded"), steps
    with wave.open(finished[0].split(" ", 2)[2]) as message:
        assert message.getnchannels() == 2
        assert message.getnframes() / message.getframerate() >= 3.0


def test_the_waiting_caller_asks_for_a_callback(start_node: Callable[..., RunningNode],
                                                tmp_path: Path) -> None:
    node = start_node(config=policy_config())
    result = sipp_call(node, tmp_path, "200", digit="2", digit_after_ms=1000,
                       node_hangs_up=True, timeout=40)
    assert result.returncode == 0, (result.stdout[-1500:], result.stderr[-1500:])
    [call_id] = call_ids(node)
    assert wait_for(lambda: any(s.startswith("ended: ") for s in steps_of(node, call_id)),
                    timeout=10)
    steps = steps_of(node, call_id)
    assert any(s.startswith("left support for callback after ") for s in steps), steps
    assert steps[-1].startswith("ended: callback requested"), steps
    assert not any(s.startswith("abandoned") for s in steps), steps


def test_a_recording_queue_records_the_answered_call(start_node: Callable[..., RunningNode],
                                                     tmp_path: Path) -> None:
    with SippAgent(KIT / "agent_answer.xml", tmp_path / "agent", "-set", "media", "1",
                   "-set", "answer_delay", "200", "-set", "talk_time", "2500") as agent:
        node = start_node(config=policy_config(**{"1001": agent.contact}))
        result = queue_call(node, tmp_path, max_wait_ms=20_000, media=True)
        assert result.returncode == 0, (result.stdout[-1500:], agent.errors())
        [call_id] = call_ids(node)
        assert wait_for(lambda: any(s.startswith("recording finished ")
                                    for s in steps_of(node, call_id)), timeout=10)
    steps = steps_of(node, call_id)
    [finished] = [s for s in steps if s.startswith("recording finished ")]
    with wave.open(finished.split(" ", 2)[2]) as recording:
        assert recording.getnchannels() == 2
        seconds = recording.getnframes() / recording.getframerate()
    assert 2.0 <= seconds <= 5.0, seconds  # from the agent's answer to the hang-up


def test_the_post_call_survey_is_asked_after_the_agent_hangs_up(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    """A flow with a survey node before its queue: when the agent hangs up, the caller
    hears the question and answers with a key (RFC 4733); the answer is an event."""
    with SippAgent(KIT / "agent_answer.xml", tmp_path / "agent", "-set", "media", "1",
                   "-set", "answer_delay", "200", "-set", "talk_time", "1500") as agent:
        data = delivery_config(agents=1, contacts={"1001": agent.contact})
        data["ivr"] = {"rated": {"start": "ask", "nodes": {
            "ask": {"type": "survey", "questions": {
                "csat": "How satisfied were you, from 1 to 5?"}, "next": "queue"},
            "queue": {"type": "queue", "queue": "support"}}}}
        data["numbers"]["300"] = "ivr:rated"  # type: ignore[index]
        node = start_node(config=data)
        result = sipp_call(node, tmp_path, "300", digit="4", digit_after_ms=5000,
                           node_hangs_up=True, timeout=40)
        assert result.returncode == 0, (result.stdout[-1500:], result.stderr[-1500:])
        [call_id] = call_ids(node)
        assert wait_for(lambda: any(s.startswith("ended: ") for s in steps_of(node, call_id)),
                        timeout=10)
    steps = steps_of(node, call_id)
    wanted = ["connected to agent 1001 from support", "with agent 1001 ended by agent",
              "survey csat 4", "ended: survey done"]
    assert in_order(steps, wanted), (wanted, steps)
