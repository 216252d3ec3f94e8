"""Fixtures of the media suite: a builtin engine process per test, stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import EngineProcess, builtin_engine, free_udp_port


@pytest.fixture
def events_port() -> int:
    return free_udp_port()


@pytest.fixture
def engine(tmp_path: Path, events_port: int) -> Iterator[EngineProcess]:
    with builtin_engine(tmp_path, events_port) as running:
        yield running
