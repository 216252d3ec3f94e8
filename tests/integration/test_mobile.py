"""Mobile login: an agent takes its calls on a phone number through the carrier trunk.

The carrier (a SIPp UAS on the trunk's address) stands in for the agent's mobile. Offers go
to the number with a whisper, "press 1 to accept", so that a voicemail that picks up is never
taken for the agent: the call is connected only when the agent presses 1, and a mobile that
answers and stays silent loses the offer when it lapses, which goes to the next agent.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.calls_support import call_ids, delivery_config, in_order
from tests.integration.conftest import ROOT_DIR, RunningNode
from tests.integration.ctl import ctl_json
from tests.integration.sipclient import wait_for
from tests.integration.test_delivery import (
    KIT,
    SCENARIOS,
    SippAgent,
    _sipp_successes,
    queue_call,
    steps_of,
)

pytestmark = pytest.mark.integration

MOBILE = "+15550177"


def mobile_tenant(carrier: SippAgent, agents: int, **contacts: str) -> dict[str, object]:
    data = delivery_config(agents=agents, offer_timeout=4.0, contacts=contacts)
    data["trunks"] = {"carrier": {"uri": f"sip:127.0.0.1:{carrier.port}",
                                  "caller_id": "+15550100"}}
    return data


def test_a_mobile_agent_accepts_with_1_and_talks(start_node: Callable[..., RunningNode],
                                                 tmp_path: Path) -> None:
    with SippAgent(SCENARIOS / "mobile_accepts.xml", tmp_path / "carrier", "-trace_msg",
                   "-set", "talk_time", "1500") as carrier:
        node = start_node(config=mobile_tenant(carrier, agents=1))
        login = ctl_json(node, "agent", "1001", "mobile", MOBILE)
        assert login == {"agent": "1001", "state": "ready", "reason": "", "mobile": MOBILE}
        assert [a["mobile"] for a in ctl_json(node, "agents")] == [MOBILE]
        result = queue_call(node, tmp_path, max_wait_ms=20_000, media=True)
        assert result.returncode == 0, (result.stdout[-1500:], carrier.errors())
        [call_id] = call_ids(node)
        assert wait_for(lambda: any(s.startswith("ended: ") for s in steps_of(node, call_id)),
                        timeout=5)
        messages = "\n".join(p.read_text() for p in carrier.directory.glob("*_messages.log"))
    assert f"INVITE sip:{MOBILE}@127.0.0.1:{carrier.port}" in messages
    steps = steps_of(node, call_id)
    answered = [s for s in steps if s.startswith("answered by agent 1001 after ")]
    assert answered, steps
    # Connected only once the agent pressed 1, after hearing the whisper (1.5 s after its
    # answer); the mobile answered after 0.3 s.
    ringing = float(re.search(r"after ([0-9.]+) s ringing", answered[0]).group(1))  # type: ignore[union-attr]
    assert ringing >= 1.5, answered
    assert steps.index(answered[0]) < steps.index("connected to agent 1001 from support")
    assert any(s.startswith("with agent 1001 ended by agent") for s in steps), steps
    assert "agent 1001 takes calls on *****0177 (mobile login)" in node.stderr()
    assert MOBILE not in "\n".join(line for line in node.stderr().splitlines()
                                   if "switch.calls.events" in line)


def test_a_voicemail_that_answers_the_mobile_is_not_taken_for_the_agent(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    with SippAgent(SCENARIOS / "mobile_voicemail.xml", tmp_path / "carrier") as carrier, \
            SippAgent(KIT / "agent_answer.xml", tmp_path / "desk",
                      "-set", "answer_delay", "200", "-set", "talk_time", "1000") as desk:
        node = start_node(config=mobile_tenant(carrier, agents=2, **{"1002": desk.contact}))
        # 1002 is logged in with its desk phone from the start; make 1001 the longest idle.
        ctl_json(node, "agent", "1002", "not-ready", "--reason", "later")
        ctl_json(node, "agent", "1001", "mobile", MOBILE)
        ctl_json(node, "agent", "1002", "ready")
        result = queue_call(node, tmp_path, max_wait_ms=20_000, media=True)
        assert result.returncode == 0, (result.stdout[-1500:], desk.errors())
        [call_id] = call_ids(node)
        assert wait_for(lambda: any(s.startswith("ended: ") for s in steps_of(node, call_id)),
                        timeout=5)
        # The voicemail's call was ended by the node (its scenario waited for our BYE).
        assert wait_for(lambda: _sipp_successes(carrier.directory) == 1, timeout=5), \
            carrier.errors()
    steps = steps_of(node, call_id)
    wanted = ["offered to agent 1001", "offer to agent 1001 withdrawn: expired",
              "offered to agent 1002", "answered by agent 1002",
              "connected to agent 1002 from support"]
    assert in_order(steps, wanted), (wanted, steps)
    assert not any(s.startswith("answered by agent 1001") for s in steps), steps


def test_mobile_login_needs_a_trunk_and_a_number(start_node: Callable[..., RunningNode]
                                                 ) -> None:
    node = start_node(config=delivery_config(agents=1))
    from tests.integration.ctl import ctl

    no_trunk = ctl(node, "agent", "1001", "mobile", MOBILE)
    assert no_trunk.returncode == 1 and "trunk" in no_trunk.stderr, no_trunk.stderr
    bad = ctl(node, "agent", "1001", "mobile", "call-me")
    assert bad.returncode == 1 and "not a phone number" in bad.stderr, bad.stderr


def _mobile_login_call(node: RunningNode, keys: str) -> dict[str, object]:
    """pjsua2 calls the access number 150 from +15550177 and types ``keys`` as SIP INFO
    (RFC 4733 from SIPp's pcaps cannot carry a sequence: each pcap has fixed timestamps)."""
    host, port = node.addr("udp")
    run = subprocess.run(
        [sys.executable, "-m", "tests.integration.peers.pjsua2_call",
         "--uri", f"sip:150@{host}:{port}", "--user", "+15550177", "--digits", keys,
         "--dtmf-method", "info", "--before-dtmf", "1.0", "--hold", "3.0"],
        capture_output=True, text=True, timeout=90, cwd=ROOT_DIR)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, (run.stdout[-2000:], run.stderr[-2000:])
    result: dict[str, object] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def login_tenant(pin: str) -> dict[str, object]:
    data = delivery_config(agents=1)
    data["trunks"] = {"carrier": {"uri": "sip:127.0.0.1:5999"}}
    data["numbers"]["150"] = "login:mobile"  # type: ignore[index]
    data["accounts"][0]["pin"] = pin  # type: ignore[index]
    return data


def test_an_agent_logs_in_from_its_mobile_with_a_pin(
        start_node: Callable[..., RunningNode]) -> None:
    """The mobile calls the access number (from the carrier, a trusted source), keys 1001#,
    its PIN 4321#, then *2: the agent takes calls on that number, ready, then paused."""
    node = start_node(config=login_tenant("4321"))
    result = _mobile_login_call(node, "1001#4321#*2")
    assert result["confirmed"] and result["digits_sent"] == "1001#4321#*2", result
    [agent] = ctl_json(node, "agents")
    assert agent["mobile"] == "+15550177", agent  # the number the call came from
    assert (agent["state"], agent["reason"]) == ("not_ready", "mobile"), agent  # *2
    assert "agent 1001 takes calls on *****0177 (mobile login)" in node.stderr()
    assert "4321" not in node.stderr()  # the PIN is never logged


def test_a_wrong_pin_is_refused(start_node: Callable[..., RunningNode]) -> None:
    node = start_node(config=login_tenant("9999"))
    _mobile_login_call(node, "1001#4321#")
    assert wait_for(lambda: "mobile login refused for agent '1001': wrong pin"
                    in node.stderr(), timeout=5)
    [agent] = ctl_json(node, "agents")
    assert agent["mobile"] is None and agent["state"] == "logged_out", agent
