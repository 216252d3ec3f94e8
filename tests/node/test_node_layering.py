"""The node's pure parts (policy, registrar logic, config, events) stay free of I/O and clocks,
like switch/sip (tests/test_layering.py covers that package)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_NODE_FILES = [
    "switch/policy.py", "switch/config.py", "switch/demo.py", "switch/events/bus.py",
    "switch/registrar/locations.py", "switch/registrar/registrar.py",
    "switch/registrar/qualify.py", "switch/registrar/bans.py", "switch/registrar/seclog.py",
    "switch/control.py",
    # Call control is pure but its edge (service.py, enginemedia.py): time is an argument.
    "switch/callcontrol/vocabulary.py", "switch/callcontrol/sessiontimer.py",
    "switch/callcontrol/leg.py", "switch/callcontrol/useragent.py", "switch/callcontrol/call.py",
    "switch/callcontrol/outbound.py",
]
FORBIDDEN = {"asyncio", "socket", "time", "datetime", "selectors", "ssl", "threading",
             "uvloop", "subprocess", "random"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("rel", PURE_NODE_FILES)
def test_pure_node_module_imports_no_io_or_clock(rel: str) -> None:
    assert not _imports(ROOT / rel) & FORBIDDEN
