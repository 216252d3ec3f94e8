"""Core selection: the compiled core loads when required; ROUTING_PURE=1 forces the reference."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import routing


def test_compiled_core_loaded_when_required() -> None:
    if os.environ.get("ROUTING_REQUIRE_COMPILED") != "1":
        pytest.skip("set ROUTING_REQUIRE_COMPILED=1 (make test does) to require cext._router")
    assert routing.CompiledRouter is not None, "cext._router did not load: run `make build`"
    if os.environ.get("ROUTING_PURE") != "1":
        assert routing.Router is routing.CompiledRouter


@pytest.mark.parametrize(("env", "expected"), [({"ROUTING_PURE": "1"}, "ReferenceRouter")])
def test_routing_pure_forces_the_reference(env: dict[str, str], expected: str) -> None:
    code = "import routing; print(routing.Router.__name__)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == expected
