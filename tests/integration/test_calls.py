"""Calls answered by the real node with its builtin media engine, driven by SIPp: the IVR
plays, hears RFC 4733 digits and routes; ports are freed; an engine that dies takes only its
calls with it; a caller that vanishes is ended by its session timer."""

from __future__ import annotations

import os
import signal
import subprocess
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


def sipp_call(node: RunningNode, tmp_path: Path, number: str, *, digit: str = "3",
              hold_ms: int = 4000, calls: int = 1, extra: list[str] | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    sipp = require("sipp", "sip-tester")
    scenario = tmp_path / f"caller-{digit}.xml"
    scenario.write_text(SCENARIO.read_text().replace("dtmf_2833_3.pcap",
                                                     f"dtmf_2833_{digit}.pcap"))
    host, port = node.addr("udp")
    cmd = [sipp, "-nostdin", "-sf", str(scenario), "-s", number, "-d", str(hold_ms),
           "-m", str(calls), "-l", str(calls), "-r", "10", "-i", "127.0.0.1",
           "-mi", "127.0.0.1", "-p", str(free_port()), "-timeout", f"{int(timeout)}s",
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
    result = sipp_call(node, tmp_path, "300", digit="1", hold_ms=3000, calls=10)
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
