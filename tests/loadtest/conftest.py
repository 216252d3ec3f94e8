"""Fixtures of the load-test kit's tests.

``start_node`` is the integration tests' node fixture (tests/integration/conftest.py), reused
as is. ``direct_run`` is one small real run of the kit, shared by the runner and report tests:
the callers dial the runner's own agent_answer SIPp directly (no node: the kit's own
mechanics), so each call is caller -> agent (answers after the delay) -> agent hangs up after
the talk time -> caller answers the BYE. ``test_against_node.py`` runs it through the node.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from loadtest.runner import LoadOptions, run_load
from loadtest.sipp import free_local_port
from tests.integration.conftest import start_node  # noqa: F401  (the fixture, re-exported)

DIRECT = {"cps": 10.0, "duration": 2.0, "answer_delay": 0.3, "talk_time": 0.8,
          "max_wait": 10.0}


def require_sipp() -> None:
    if shutil.which("sipp") is None:
        pytest.fail("sipp is not installed (apt-get install sip-tester; `make test` does)")


@pytest.fixture(scope="session")
def direct_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadOptions, dict[str, Any]]:
    """(options, run.json data) of a 2 s run at 10 calls/s against agent_answer directly.
    A ``sleep`` process stands in for the node whose CPU and memory are sampled."""
    require_sipp()
    port = free_local_port("127.0.0.1")
    stand_in = subprocess.Popen(["sleep", "60"])
    try:
        options = LoadOptions(target=f"127.0.0.1:{port}", agent_port=port, register=False,
                              agents=5, out=tmp_path_factory.mktemp("direct") / "out",
                              node_pid=stand_in.pid, progress=False, **DIRECT)
        return options, run_load(options)
    finally:
        stand_in.kill()
        stand_in.wait(timeout=5)


@pytest.fixture
def out_dir(direct_run: tuple[LoadOptions, dict[str, Any]]) -> Path:
    return direct_run[0].out
