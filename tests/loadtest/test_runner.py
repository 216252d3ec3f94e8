"""The load-test runner and the call scenarios, against SIPp itself.

The node cannot route queue calls to agents yet, so the callers dial the runner's own
agent_answer SIPp (``--target`` = ``--agent-port``, ``--no-register``): caller INVITE ->
agent answers after the delay -> agent hangs up after the talk time -> caller answers the BYE.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from loadtest.__main__ import main
from loadtest.runner import (
    AGENT_COUNTERS,
    LoadOptions,
    start_agents,
    stat_counts,
)
from loadtest.sipp import SippRun, free_local_port, parse_stat_file, run_sipp
from tests.loadtest.conftest import DIRECT, require_sipp

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


def _stat(path: Path) -> dict[str, str]:
    row = parse_stat_file(path)
    assert row, f"no statistics in {path}"
    return row


def test_direct_run_every_call_succeeds(direct_run: tuple[LoadOptions, dict[str, Any]]) -> None:
    options, run = direct_run
    calls = round(DIRECT["cps"] * DIRECT["duration"])
    assert run["ok"], run["processes"]
    assert run["exit_codes"] == {"agents": 0, "callers": 0}
    totals = run["totals"]
    assert (totals["calls_attempted"], totals["calls_successful"], totals["calls_failed"]) == (
        calls, calls, 0)
    assert totals["caller_hangups"] == 0
    assert totals["failures"] == {} and totals["agent_failures"] == {}
    assert (totals["agent_calls"], totals["agent_calls_successful"]) == (calls, calls)
    assert totals["agent_cancelled"] == totals["agent_remote_bye"] == 0
    assert (options.out / "run.json").exists()


def test_direct_run_totals_are_sipps(direct_run: tuple[LoadOptions, dict[str, Any]]) -> None:
    """run.json's totals are the last rows of SIPp's own statistics files."""
    options, run = direct_run
    callers = _stat(options.out / "sipp-callers" / "stat.csv")
    agents = _stat(options.out / "sipp-agents" / "stat.csv")
    totals = run["totals"]
    assert totals["calls_attempted"] == int(callers["TotalCallCreated"])
    assert totals["calls_successful"] == int(callers["SuccessfulCall(C)"])
    assert totals["calls_failed"] == int(callers["FailedCall(C)"])
    assert totals["agent_calls"] == int(agents["TotalCallCreated"])
    assert totals["agent_calls_successful"] == int(agents["SuccessfulCall(C)"])
    # The series' last sample holds the callers' final cumulative numbers.
    last = [e for e in run["series"] if "callers" in e][-1]["callers"]
    assert (last["created"], last["successful"], last["failed"]) == (
        totals["calls_attempted"], totals["calls_successful"], totals["calls_failed"])


def test_direct_run_response_times(direct_run: tuple[LoadOptions, dict[str, Any]]) -> None:
    options, run = direct_run
    calls = run["totals"]["calls_successful"]
    answer = run["response_times"]["answer"]
    connected = run["response_times"]["connected"]
    assert answer["count"] == connected["count"] == calls
    assert run["response_times"]["bye"]["count"] == 0
    # The agent answers after the delay; SIPp's timers tick in a few ms.
    delay_ms, talk_ms = options.answer_delay * 1000, options.talk_time * 1000
    assert delay_ms <= answer["p50"] <= answer["max"] < delay_ms + 250, answer
    assert talk_ms <= connected["min"] <= connected["max"] < talk_ms + 250, connected
    # Straight to the agent: no queue, so the approximated wait is SIPp's timer slack.
    wait = run["queue_wait"]
    assert wait["count"] == calls
    assert 0 <= wait["p50"] < 250, wait
    assert wait["talk_time_ms"] == talk_ms
    assert wait["p50"] == pytest.approx(connected["p50"] - talk_ms)
    # Every answer time of the rtt file is counted once in the per-second series.
    series = run["response_time_series"]["answer"]
    assert sum(point["count"] for point in series) == calls


def test_callers_give_up_over_tcp_with_media(tmp_path: Path) -> None:
    """Talk time > max wait: every caller hangs up itself (counted, not failed), and the
    agent answers that BYE during its talk time (remote_bye). Over TCP, with RTP, via the
    command line."""
    require_sipp()
    port = free_local_port("127.0.0.1")
    out = tmp_path / "out"
    code = main(["run", "--target", f"127.0.0.1:{port}", "--agent-port", str(port),
                 "--no-register", "--cps", "5", "--duration", "1", "--agents", "5",
                 "--answer-delay", "0.1", "--talk-time", "3", "--max-wait", "1",
                 "--transport", "tcp", "--media", "--out", str(out), "--quiet"])
    from loadtest.report import load_run

    run = load_run(out)
    assert code == 0, run["processes"]
    totals = run["totals"]
    assert (totals["calls_attempted"], totals["calls_successful"], totals["calls_failed"]) == (
        5, 5, 0)
    assert totals["caller_hangups"] == 5
    assert totals["agent_remote_bye"] == 5 and totals["agent_calls_failed"] == 0
    assert run["response_times"]["bye"]["count"] == 5
    assert run["response_times"]["connected"]["count"] == 0
    assert run["queue_wait"]["count"] == 0
    assert "-set" in run["processes"]["callers"]["command"]
    assert run["parameters"]["transport"] == "tcp" and run["parameters"]["media"] is True
    assert (out / "report.md").exists()


def test_cancel_before_answer_is_not_a_failure(tmp_path: Path) -> None:
    """A caller that cancels while the agent rings: agent_answer.xml answers 200 to the
    CANCEL and 487 to the INVITE, takes the ACK, and counts the call as cancelled."""
    require_sipp()
    port = free_local_port("127.0.0.1")
    options = LoadOptions(target=f"127.0.0.1:{port}", cps=1, agents=1, duration=1,
                          out=tmp_path, answer_delay=5.0, talk_time=1.0)
    agent = start_agents(options, port, tmp_path / "agents", time_limit=30)
    try:
        result = run_sipp(SippRun(target=f"127.0.0.1:{port}", scenario=HERE / "cancel_caller.xml",
                                  calls=5, rate=10, time_limit=15,
                                  extra=("-mi", "127.0.0.1")), workdir=tmp_path / "callers")
    finally:
        agent.stop(2.0)
    assert result.ok, result.describe()
    assert (result.successful, result.failed) == (5, 0)
    final = stat_counts(agent.stat_file, AGENT_COUNTERS)
    assert final["created"] == 5 and final["successful"] == 5 and final["failed"] == 0, final
    assert final["cancelled"] == 5
    assert agent.proc.returncode == 0


# -- agent_answer.xml, message by message -----------------------------------------------------


def _read(sock: socket.socket, timeout: float = 5.0) -> str:
    sock.settimeout(timeout)
    data, _ = sock.recvfrom(65535)
    return data.decode()


def _header(message: str, name: str) -> str | None:
    for line in message.split("\r\n")[1:]:
        if not line:
            break
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def test_agent_answer_messages(tmp_path: Path) -> None:
    """What a node sees from agent_answer.xml: 100, 180 and 200 with the agent's tag, an
    SDP answer in the offer's first codec (PCMU here), then the agent's own BYE: Request-URI
    = the INVITE's Contact, Route = its Record-Route, From = its To with the agent's tag,
    To = its From."""
    require_sipp()
    port = free_local_port("127.0.0.1")
    options = LoadOptions(target=f"127.0.0.1:{port}", cps=1, agents=1, duration=1,
                          out=tmp_path, answer_delay=0.0, talk_time=0.2)
    agent = start_agents(options, port, tmp_path / "agents", time_limit=30)
    sdp = ("v=0\r\no=node 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
           "a=rtpmap:101 telephone-event/8000\r\n")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            me = sock.getsockname()[1]
            invite = (
                f"INVITE sip:1001@127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-lt-1;rport\r\n"
                f"Record-Route: <sip:127.0.0.1:{me};lr>\r\n"
                'From: "Queue load" <sip:200@switchboard.local>;tag=node1\r\n'
                'To: "Agent 1001" <sip:1001@switchboard.local>\r\n'
                "Call-ID: lt-agent-answer-1\r\nCSeq: 7 INVITE\r\n"
                f"Contact: <sip:node@127.0.0.1:{me}>\r\nMax-Forwards: 70\r\n"
                f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}")
            sock.sendto(invite.encode(), ("127.0.0.1", port))
            trying, ringing, ok = _read(sock), _read(sock), _read(sock)
            assert trying.startswith("SIP/2.0 100"), trying
            assert ringing.startswith("SIP/2.0 180"), ringing
            assert ok.startswith("SIP/2.0 200"), ok
            to = _header(ok, "To")
            assert to is not None and ";tag=" in to and to == _header(ringing, "To")
            assert _header(ok, "CSeq") == "7 INVITE"
            assert _header(ok, "Record-Route") == f"<sip:127.0.0.1:{me};lr>"
            body = ok.split("\r\n\r\n", 1)[1]
            assert "m=audio" in body and " RTP/AVP 0\r\n" in body, body
            assert "a=rtpmap:0 PCMU/8000" in body, body
            sock.sendto((f"ACK sip:agent@127.0.0.1:{port} SIP/2.0\r\n"
                         f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-lt-2;rport\r\n"
                         'From: "Queue load" <sip:200@switchboard.local>;tag=node1\r\n'
                         f"To: {to}\r\nCall-ID: lt-agent-answer-1\r\nCSeq: 7 ACK\r\n"
                         "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(),
                        ("127.0.0.1", port))
            bye = _read(sock)
            assert bye.startswith(f"BYE sip:node@127.0.0.1:{me} SIP/2.0"), bye
            assert _header(bye, "Route") == f"<sip:127.0.0.1:{me};lr>"
            assert _header(bye, "From") == to
            assert _header(bye, "To") == '"Queue load" <sip:200@switchboard.local>;tag=node1'
            assert _header(bye, "Call-ID") == "lt-agent-answer-1"
            cseq = _header(bye, "CSeq")
            assert cseq is not None and cseq.endswith(" BYE")
            sock.sendto((f"SIP/2.0 200 OK\r\nVia: {_header(bye, 'Via')}\r\n"
                         f"From: {_header(bye, 'From')}\r\nTo: {_header(bye, 'To')}\r\n"
                         f"Call-ID: lt-agent-answer-1\r\nCSeq: {cseq}\r\n"
                         "Content-Length: 0\r\n\r\n").encode(), ("127.0.0.1", port))
            deadline = time.monotonic() + 5
            while (stat_counts(agent.stat_file, AGENT_COUNTERS)["successful"] < 1
                   and time.monotonic() < deadline):
                time.sleep(0.2)
    finally:
        agent.stop(2.0)
    final = stat_counts(agent.stat_file, AGENT_COUNTERS)
    assert (final["created"], final["successful"], final["failed"]) == (1, 1, 0), final
