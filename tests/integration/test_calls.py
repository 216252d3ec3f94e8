"""Calls answered by the real node with its builtin media engine, driven by SIPp: the IVR
plays, hears RFC 4733 digits and routes; ports are freed; an engine that dies takes only its
calls with it; a caller that vanishes is ended by its session timer."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.calls_support import call_ids, call_lines, calls_config, prepare_prompts
from tests.integration.conftest import ROOT_DIR, RunningNode, require
from tests.integration.ctl import ctl_json
from tests.integration.sipclient import wait_for
from tests.util import free_port

pytestmark = pytest.mark.integration

SCENARIO = ROOT_DIR / "loadtest" / "scenarios" / "ivr_caller.xml"
HANGUP_SCENARIO = ROOT_DIR / "loadtest" / "scenarios" / "ivr_caller_node_hangs_up.xml"


def media_port_base() -> int:
    """An even RTP port base for SIPp away from its default 6000, which parallel SIPp runs
    (other tests, benchmarks) would share: SIPp takes successive ports from it per call."""
    return 20000 + 2 * random.randrange(4500)


def sipp_call(node: RunningNode, tmp_path: Path, number: str, *, digit: str = "3",
              hold_ms: int = 4000, calls: int = 1, extra: list[str] | None = None,
              timeout: float = 60, digit_after_ms: int = 1500,
              node_hangs_up: bool = False) -> subprocess.CompletedProcess[str]:
    """SIPp calls ``number``: audio, then ``digit`` ``digit_after_ms`` later, then it hangs up
    after ``hold_ms`` (or waits for the node's BYE with ``node_hangs_up``)."""
    sipp = require("sipp", "sip-tester")
    source = HANGUP_SCENARIO if node_hangs_up else SCENARIO
    scenario = tmp_path / f"caller-{digit}-{digit_after_ms}-{node_hangs_up}.xml"
    scenario.write_text(source.read_text()
                        .replace("dtmf_2833_3.pcap", f"dtmf_2833_{digit}.pcap")
                        .replace('<pause milliseconds="1500"/>',
                                 f'<pause milliseconds="{digit_after_ms}"/>'))
    host, port = node.addr("udp")
    cmd = [sipp, "-nostdin", "-sf", str(scenario), "-s", number, "-d", str(hold_ms),
           "-m", str(calls), "-l", str(calls), "-r", "10", "-i", "127.0.0.1",
           "-mi", "127.0.0.1", "-mp", str(media_port_base()), "-p", str(free_port()),
           "-timeout", f"{int(timeout)}s",
           "-trace_err", *(extra or []), f"{host}:{port}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30,
                          cwd=tmp_path)


def test_sipp_caller_reaches_the_ivr_presses_a_key_and_is_queued(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    node = start_node(config=calls_config())
    prepare_prompts(node)
    result = sipp_call(node, tmp_path, "300", digit="2", hold_ms=5000)
    assert result.returncode == 0, (result.stdout[-1500:], result.stderr[-1500:])
    assert wait_for(lambda: any("ended" in line for line in call_lines(node)), timeout=10)
    [call_id] = call_ids(node)
    lines = [line.removeprefix(f"call {call_id} ") for line in call_lines(node)]
    assert lines[0].startswith("started: from +155501001 to 300 (ivr:test)"), lines
    assert any(line.startswith("answered in") for line in lines), lines
    assert "ivr welcome play " in lines, lines
    assert "digit 2 (rfc4733)" in lines, lines
    assert "ivr menu menu_choice 2" in [line.strip() for line in lines], lines
    assert "queued in sales (music on hold)" in lines, lines
    assert lines[-1].startswith("ended: remote hung up (answered"), lines
    # Every port is back (the count returns to zero when calls end).
    media = ctl_json(node, "media")
    assert media["calls"] == 0 and media["engine"]["ports"]["in use"] == 0, media


def test_ten_callers_at_once_through_the_demo_ivr(start_node: Callable[..., RunningNode],
                                                  tmp_path: Path) -> None:
    node = start_node(config=calls_config())
    prepare_prompts(node)
    # The key once the menu listens (after the 1.5 s welcome tone), whatever the load.
    result = sipp_call(node, tmp_path, "300", digit="1", hold_ms=3000, calls=10,
                       digit_after_ms=2500)
    assert result.returncode == 0, (result.stdout[-1500:], result.stderr[-1500:])
    assert wait_for(lambda: len([line for line in call_lines(node) if " ended: " in line])
                    == 10, timeout=15), call_lines(node)[-20:]
    assert len([line for line in call_lines(node) if "queued in support" in line]) == 10
    assert ctl_json(node, "media")["engine"]["ports"]["in use"] == 0


def test_killing_the_media_engine_ends_its_calls_and_the_node_keeps_serving(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    node = start_node(config=calls_config())
    prepare_prompts(node)
    sipp = subprocess.Popen  # the long call runs in the background while the engine dies
    scenario = tmp_path / "long.xml"
    scenario.write_text(SCENARIO.read_text())
    host, port = node.addr("udp")
    caller = sipp([require("sipp", "sip-tester"), "-nostdin", "-sf", str(scenario),
                   "-s", "200", "-d", "20000", "-m", "1", "-i", "127.0.0.1", "-mi", "127.0.0.1",
                   "-mp", str(media_port_base()),
                   "-p", str(free_port()), "-timeout", "40s", f"{host}:{port}"],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        assert wait_for(lambda: any("queued in support" in line for line in call_lines(node)),
                        timeout=15), call_lines(node)
        engine_pid = node.healthz()["media"]["pid"]
        assert engine_pid and engine_pid != node.pid
        os.kill(engine_pid, signal.SIGKILL)
        assert wait_for(lambda: any("ended: media engine died" in line
                                    for line in call_lines(node)), timeout=10), \
            node.stderr()[-3000:]
        # The supervisor started a new engine; a new call is answered through it.
        assert wait_for(lambda: node.healthz()["media"]["restarts"] == 1, timeout=15)
        result = sipp_call(node, tmp_path, "300", digit="3", hold_ms=2000)
        assert result.returncode == 0, (result.stdout[-1500:], result.stderr[-1500:])
    finally:
        caller.kill()
        caller.wait(timeout=10)
    assert node.alive()


def _dialog_request(method: str, *, local: tuple[str, int], node: RunningNode, cseq: int,
                    call_id: str, to_tag: str | None, body: str = "",
                    branch: str) -> bytes:
    host, port = node.addr("udp")
    to = f"<sip:300@{host}:{port}>" + (f";tag={to_tag}" if to_tag else "")
    lines = [f"{method} sip:300@{host}:{port} SIP/2.0",
             f"Via: SIP/2.0/UDP {local[0]}:{local[1]};branch=z9hG4bK{branch};rport",
             "Max-Forwards: 70", f"From: <sip:raw@{local[0]}>;tag=raw1", f"To: {to}",
             f"Call-ID: {call_id}", f"CSeq: {cseq} {method}",
             f"Contact: <sip:raw@{local[0]}:{local[1]}>"]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def _offer(rtp_port: int, direction: str = "sendrecv") -> str:
    return ("v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            f"a=rtpmap:101 telephone-event/8000\r\na={direction}\r\n")


def test_reinvite_to_hold_and_back_then_bye(start_node: Callable[..., RunningNode]) -> None:
    from tests.integration.sipclient import SipConnection

    node = start_node(config=calls_config())
    prepare_prompts(node)
    rtp_port = free_port(socket_kind := 2)  # SOCK_DGRAM
    del socket_kind
    with SipConnection("udp", node.addr("udp")) as conn:
        local = conn.local
        invite = _dialog_request("INVITE", local=local, node=node, cseq=1, call_id="hold-1",
                                 to_tag=None, body=_offer(rtp_port), branch="inv1")
        ok = conn.request(invite, timeout=5)
        assert ok is not None and ok.status == 200, ok
        tag = (ok.get("to") or "").split("tag=")[1]
        assert "m=audio" in ok.body.decode()
        conn.send(_dialog_request("ACK", local=local, node=node, cseq=1, call_id="hold-1",
                                  to_tag=tag, branch="ack1"))
        for cseq, direction in ((2, "sendonly"), (3, "sendrecv")):
            again = conn.request(_dialog_request("INVITE", local=local, node=node, cseq=cseq,
                                                 call_id="hold-1", to_tag=tag,
                                                 body=_offer(rtp_port, direction),
                                                 branch=f"re{cseq}"), timeout=5)
            assert again is not None and again.status == 200, again
            answer = again.body.decode()
            if direction == "sendonly":  # RFC 3264 §6.1: the answer to sendonly is recvonly
                assert "a=recvonly" in answer or "a=inactive" in answer, answer
            conn.send(_dialog_request("ACK", local=local, node=node, cseq=cseq,
                                      call_id="hold-1", to_tag=tag, branch=f"ack{cseq}"))
        bye = conn.request(_dialog_request("BYE", local=local, node=node, cseq=4,
                                           call_id="hold-1", to_tag=tag, branch="bye4"))
        assert bye is not None and bye.status == 200
    assert wait_for(lambda: any(" ended: " in line for line in call_lines(node)), timeout=10)
    lines = [line.split(" ", 2)[2] for line in call_lines(node)]
    assert "on hold" in lines and "resumed" in lines, lines
    assert ctl_json(node, "media")["engine"]["ports"]["in use"] == 0


def test_sipp_caller_through_the_built_in_demo_flow_on_100(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    """The demo flow itself: greeting, business hours (London time), then key 2 during the
    next menu: sales when open; when closed, a callback request, and the node hangs up."""
    from switch.ivr.demo import demo_hours
    from switch.ivr.hours import is_open
    from switch.ivr.schema import HoursSpec

    open_now = is_open(HoursSpec.model_validate(demo_hours()), time.time())
    node = start_node()  # the built-in demo
    result = sipp_call(node, tmp_path, "100", digit="2", digit_after_ms=6000, hold_ms=4000,
                       timeout=90, node_hangs_up=not open_now)
    assert result.returncode == 0, (result.stdout[-1500:], result.stderr[-1500:])
    assert wait_for(lambda: any(" ended: " in line for line in call_lines(node)), timeout=15)
    lines = [line.split(" ", 2)[2] for line in call_lines(node)]
    assert "ivr greeting play " in lines and "ivr hours condition " in lines, lines
    assert "digit 2 (rfc4733)" in lines, lines
    if open_now:  # the VIP look-up (an unknown caller: 404, the fallback), the menu, sales
        assert any(line.startswith("ivr vip_lookup lookup") for line in lines), lines
        assert "queued in sales (music on hold)" in lines, lines
    else:
        assert "callback requested to +155501001 by support" in lines, lines
        assert lines[-1].startswith("ended: ivr: callback_requested (answered"), lines


def test_the_engine_does_not_outlive_a_killed_node(tmp_path: Path) -> None:
    """A node killed with SIGKILL cannot stop its media engine; the engine notices (its stdin
    pipe from the node closes) and exits instead of holding its ports."""
    from tests.integration.conftest import launch_node

    node = launch_node(tmp_path / "node", config=calls_config())
    engine_pid = node.healthz()["media"]["pid"]
    assert engine_pid
    os.kill(node.pid, signal.SIGKILL)
    node.proc.wait(timeout=10)

    def engine_gone() -> bool:
        try:
            os.kill(engine_pid, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{engine_pid}/stat") as stat:  # a zombie is gone too
            return stat.read().split()[2] == "Z"

    assert wait_for(engine_gone, timeout=10), f"engine {engine_pid} still runs"


def test_a_failing_lookup_takes_the_fallback_branch(start_node: Callable[..., RunningNode],
                                                     tmp_path: Path) -> None:
    """The runner's real HTTP look-up against a customer system that is down (nothing
    listens on its port): the flow goes on through ``on_failure``, the caller is not lost."""
    config = calls_config()
    down = free_port()  # bound and released: connection refused
    config["ivr"]["lookup"] = {"start": "who", "nodes": {
        "who": {"type": "lookup", "url": f"http://127.0.0.1:{down}/customers/{{caller}}",
                "timeout": 2, "set": {"tier": "customer.tier"},
                "next": "known", "on_failure": "unknown"},
        "known": {"type": "queue", "queue": "vip"},
        "unknown": {"type": "queue", "queue": "support"}}}
    config["numbers"]["302"] = "ivr:lookup"
    node = start_node(config=config)
    result = sipp_call(node, tmp_path, "302", digit="1", hold_ms=2000)
    assert result.returncode == 0, (result.stdout[-1500:], result.stderr[-1500:])
    assert wait_for(lambda: any(" ended: " in line for line in call_lines(node)), timeout=10)
    lines = [line.split(" ", 2)[2] for line in call_lines(node)]
    assert any(line.startswith("ivr who lookup_failed") for line in lines), lines
    assert "queued in support (music on hold)" in lines, lines
    assert not any("queued in vip" in line for line in lines)
