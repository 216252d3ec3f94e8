"""The node's pure parts (policy, registrar logic, config, events) stay free of I/O and clocks,
like switch/sip (tests/test_layering.py covers that package)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.util import top_level_imports

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




@pytest.mark.parametrize("rel", PURE_NODE_FILES)
def test_pure_node_module_imports_no_io_or_clock(rel: str) -> None:
    assert not top_level_imports(ROOT / rel) & FORBIDDEN
