"""Agents' calls to customers through the carrier trunk, and the toll-fraud rule.

- a registered baresip agent dials a customer's number: the node calls it through the trunk
  (a SIPp UAS standing in for the carrier) from the company's number, answers the agent when
  the customer answers, and ends the agent's call when the customer hangs up;
- a busy customer is busy for the agent too (486 passed on);
- an INVITE to a customer's number without valid credentials never reaches the trunk: not
  from a stranger, not from the trusted carrier address (which may only dial our numbers),
  not with a wrong password.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.calls_support import call_ids, delivery_config, delivery_lines
from tests.integration.conftest import RunningNode, require
from tests.integration.ctl import ctl, ctl_json
from tests.integration.peers.baresip import Baresip
from tests.integration.sipclient import (
    SipConnection,
    SipUser,
    digest_authorization,
    wait_for,
)
from tests.integration.test_delivery import KIT, SCENARIOS, SippAgent

pytestmark = pytest.mark.integration

COMPANY = "+15550100"
CUSTOMER = "+15550123"
SOUND = ("ausrc_srate 48000", "ausrc_channels 2")  # what baresip's ausine needs


def trunk_config(carrier: SippAgent) -> dict[str, object]:
    data = delivery_config(agents=1)
    data["trunks"] = {"carrier": {"uri": f"sip:127.0.0.1:{carrier.port}",
                                  "caller_id": COMPANY}}
    return data


def _messages(directory: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in directory.glob("*_messages.log"))


def test_an_agent_dials_a_customer_through_the_trunk(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    require("baresip", "baresip-core")
    with SippAgent(KIT / "agent_answer.xml", tmp_path / "carrier", "-trace_msg",
                   "-set", "answer_delay", "500", "-set", "talk_time", "1500") as carrier:
        node = start_node(config=trunk_config(carrier))
        host, port = node.addr("udp")
        with Baresip(tmp_path / "agent",
                     [f"<sip:1001@{host}:{port}>;auth_pass=demo1001;regint=600"],
                     extra_config=SOUND) as agent:
            assert agent.wait_registration() == "OK", agent.log()[-2000:]
            assert agent.dial(f"sip:{CUSTOMER}@{host}:{port}")["ok"]
            ringing = agent.wait_event({"CALL_RINGING", "CALL_ESTABLISHED"}, timeout=10)
            assert ringing["type"] == "CALL_RINGING", ringing  # the customer's 180, passed on
            agent.wait_event({"CALL_ESTABLISHED"}, timeout=10)
            closed = agent.wait_event({"CALL_CLOSED"}, timeout=10)  # the customer hung up
            assert closed["type"] == "CALL_CLOSED"
        [call_id] = call_ids(node)
        assert wait_for(lambda: any(x.startswith("ended: ") for x in delivery_lines(node, call_id)),
                        timeout=5)
        messages = _messages(carrier.directory)
    steps = delivery_lines(node, call_id)
    assert steps[0] == f"started: from 1001 to {CUSTOMER} (outbound:{CUSTOMER})", steps
    assert any(s.startswith("answered in ") for s in steps), steps
    assert steps[-1].startswith("ended: far end hung up (answered"), steps
    # The carrier saw the company's number, never the agent's account.
    invite = messages[messages.index(f"INVITE sip:{CUSTOMER}@127.0.0.1:{carrier.port}"):]
    from_line = next(line for line in invite.splitlines() if line.startswith("From:"))
    assert f"<sip:{COMPANY}@" in from_line and "1001" not in from_line, from_line


def test_a_busy_customer_is_busy_for_the_agent(start_node: Callable[..., RunningNode],
                                               tmp_path: Path) -> None:
    require("baresip", "baresip-core")
    with SippAgent(SCENARIOS / "agent_busy.xml", tmp_path / "carrier") as carrier:
        node = start_node(config=trunk_config(carrier))
        host, port = node.addr("udp")
        with Baresip(tmp_path / "agent",
                     [f"<sip:1001@{host}:{port}>;auth_pass=demo1001;regint=600"],
                     extra_config=SOUND) as agent:
            assert agent.wait_registration() == "OK"
            assert agent.dial(f"sip:{CUSTOMER}@{host}:{port}")["ok"]
            closed = agent.wait_event({"CALL_CLOSED", "CALL_ESTABLISHED"}, timeout=10)
        assert closed["type"] == "CALL_CLOSED", closed
        assert "486" in str(closed.get("param", "")), closed
        [call_id] = call_ids(node)
        assert wait_for(lambda: any(x.startswith("ended: ") for x in delivery_lines(node, call_id)),
                        timeout=5)
    assert not any(s.startswith("answered") for s in delivery_lines(node, call_id))


def test_no_unauthenticated_invite_reaches_the_trunk(start_node: Callable[..., RunningNode],
                                                     tmp_path: Path) -> None:
    with SippAgent(KIT / "agent_answer.xml", tmp_path / "carrier", "-trace_msg") as carrier:
        node = start_node(config=trunk_config(carrier))
        host, port = node.addr("udp")
        sdp = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               b"m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
        uri = f"sip:{CUSTOMER}@{host}:{port}"
        with SipConnection("udp", (host, port)) as conn:
            # From the trusted carrier address (127.0.0.1 in this tenant), no credentials.
            fraud = SipUser(conn, "1001")
            first = conn.request(fraud.build("INVITE", uri, body=sdp, headers=[
                "Content-Type: application/sdp"]))
            assert first is not None and first.status == 407, first
            # A wrong password.
            [challenge] = first.all("proxy-authenticate")
            auth = digest_authorization(challenge, "INVITE", uri, "1001", "guess")
            second = conn.request(fraud.build("INVITE", uri, body=sdp, headers=[
                "Content-Type: application/sdp", f"Proxy-Authorization: {auth}"]))
            assert second is not None and second.status == 407, second
            # A customer number with a foreign host: we are not an open relay.
            relay = conn.request(fraud.build("INVITE", f"sip:{CUSTOMER}@carrier.example",
                                             body=sdp, headers=["Content-Type: application/sdp"]))
            assert relay is not None and relay.status in (403, 407), relay
        time.sleep(1.0)
        assert "INVITE" not in _messages(carrier.directory)
    assert not call_ids(node)


def test_click_to_dial_rings_the_agent_then_the_customer(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    with SippAgent(KIT / "agent_answer.xml", tmp_path / "carrier", "-trace_msg", "-m", "1",
                   "-set", "answer_delay", "500", "-set", "talk_time", "10000") as carrier, \
            SippAgent(KIT / "agent_answer.xml", tmp_path / "agent", "-trace_msg", "-m", "1",
                      "-set", "answer_delay", "200", "-set", "talk_time", "4000") as agent:
        data = trunk_config(carrier)
        data["accounts"][0]["contact"] = agent.contact  # type: ignore[index]
        node = start_node(config=data)
        started = ctl_json(node, "agent", "1001", "dial", CUSTOMER)
        call_id = started["call"]
        assert started["state"] == "not_ready", started  # no queue call on top of it
        assert wait_for(lambda: f"call {call_id} by agent 1001 ended" in node.stderr(),
                        timeout=15), node.stderr()[-3000:]
        assert wait_for(lambda: ctl_json(node, "agents")[0]["state"] == "ready", timeout=3)
    lines = [line.split(f"call {call_id} ", 1)[1] for line in node.stderr().splitlines()
             if f"call {call_id} " in line]
    assert lines[0] == "dialled by agent 1001 to *****0123 (ringing the agent)", lines
    assert lines[1].startswith("connected agent 1001 with the customer in "), lines
    assert lines[2].startswith("by agent 1001 ended: agent hung up"), lines
    # Agent first, then the customer, from the company's number.
    agent_invite = _messages(agent.directory)
    assert '"outbound call" <sip:*****0123@' in agent_invite, agent_invite[:1500]
    carrier_invite = _messages(carrier.directory)
    start = carrier_invite.index(f"INVITE sip:{CUSTOMER}@")
    from_line = next(line for line in carrier_invite[start:].splitlines()
                     if line.startswith("From:"))
    assert f"<sip:{COMPANY}@" in from_line, from_line


def test_click_to_dial_is_refused_clearly(start_node: Callable[..., RunningNode],
                                          tmp_path: Path) -> None:
    node = start_node(config=delivery_config(agents=1))  # no trunk, no phone
    refused = ctl(node, "agent", "1001", "dial", CUSTOMER)
    assert refused.returncode == 1 and "409" in refused.stderr, refused.stderr
    assert ctl(node, "agent", "4242", "dial", CUSTOMER).returncode == 1
