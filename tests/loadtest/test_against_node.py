"""The kit against the real node: a tenant written by ``loadtest tenant``, agents registered
by ``agent_register.xml`` with their Contact at the agent_answer SIPp (the node rings the
Contact), callers through the queue, media on; every call must succeed end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loadtest.runner import LoadOptions, run_load
from loadtest.tenant import tenant_config
from tests.integration.conftest import RunningNode

pytestmark = pytest.mark.integration


def test_callers_reach_registered_agents_through_the_node(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    config: dict[str, Any] = tenant_config(agents=10)
    node = start_node(config=config)
    host, port = node.addr("udp")
    result = run_load(LoadOptions(
        target=f"{host}:{port}", cps=5, agents=10, duration=3, out=tmp_path / "run",
        answer_delay=0.3, talk_time=1.0, max_wait=20, media=True, node_pid=node.pid,
        progress=False))
    totals = result["totals"]
    assert result["ok"], result.get("error") or totals
    assert totals["calls_attempted"] == 15 and totals["calls_successful"] == 15, totals
    assert totals["agent_calls_successful"] == 15, totals  # each caller reached an agent
    assert result["node"], "the node's CPU and memory were sampled"
    lines = [line for line in node.stderr().splitlines() if " connected to agent " in line]
    assert len(lines) == 15, lines
