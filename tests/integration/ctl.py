"""Run ``switchboard ctl`` against a test node, as an operator would."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.integration.conftest import RunningNode, switchboard_command


def ctl(node: RunningNode, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """``switchboard ctl --url NODE ARGS...`` (text output)."""
    return subprocess.run([*switchboard_command(), "ctl", "--url", node.http, *args],
                          capture_output=True, text=True, timeout=timeout)


def ctl_json(node: RunningNode, *args: str) -> Any:
    result = subprocess.run([*switchboard_command(), "ctl", "--url", node.http, "--json",
                             *args], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)
