"""The node with a real rtpengine as its media engine (``media.engine: rtpengine://...``):
the same IVR call as with the builtin engine, through the same ng client, DTMF reported by
rtpengine's --dtmf-log-dest to the node's events address."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.calls_support import call_lines, calls_config, prepare_prompts
from tests.integration.conftest import RunningNode, require
from tests.integration.sipclient import wait_for
from tests.integration.test_calls import sipp_call
from tests.media.helpers import free_udp_port, port_block, stop_process

pytestmark = pytest.mark.integration


@pytest.fixture
def rtpengine(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A userspace rtpengine (design §6): (ng port, the port its DTMF log goes to)."""
    binary = require("rtpengine", "rtpengine-daemon")
    ng_port, events_port = free_udp_port(), free_udp_port()
    low, high = port_block(100)
    log = (tmp_path / "rtpengine.log").open("wb")
    proc = subprocess.Popen(
        # --config-file=none: Debian's default config opens fixed CLI and HTTP ports.
        [binary, "--config-file=none", "--table=-1", "--interface=127.0.0.1",
         f"--listen-ng=127.0.0.1:{ng_port}",
         "--foreground", "--log-stderr", f"--port-min={low}", f"--port-max={high}",
         f"--dtmf-log-dest=127.0.0.1:{events_port}", "--delete-delay=0"],
        stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "rtpengine.log").read_text()[-2000:])
        yield ng_port, events_port
    finally:
        stop_process(proc)
        log.close()


def test_ivr_call_through_rtpengine(start_node: Callable[..., RunningNode],
                                    rtpengine: tuple[int, int], tmp_path: Path) -> None:
    ng_port, events_port = rtpengine
    node = start_node(config=calls_config(media={
        "engine": f"rtpengine://127.0.0.1:{ng_port}", "events": f"127.0.0.1:{events_port}"}))
    prepare_prompts(node)
    assert node.healthz()["media"]["engine"] == f"rtpengine://127.0.0.1:{ng_port}"
    result = sipp_call(node, tmp_path, "300", digit="2", hold_ms=5000)
    assert result.returncode == 0, (result.stdout[-1500:], result.stderr[-1500:])
    assert wait_for(lambda: any(" ended: " in line for line in call_lines(node)), timeout=10)
    lines = call_lines(node)
    assert any(line.endswith("digit 2 (rfc4733)") for line in lines), lines
    assert any(line.endswith("queued in sales (music on hold)") for line in lines), lines

