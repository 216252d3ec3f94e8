"""The node's supervisor: starts the builtin engine, reports its death, starts it again."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from switch.media.supervisor import EngineSupervisor

from .helpers import Peer, port_block, sdp

pytestmark = pytest.mark.integration


def test_engine_death_is_reported_with_the_calls_and_the_engine_restarts(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        deaths: list[tuple[set[str], int | None]] = []
        died = asyncio.Event()

        def on_death(calls: set[str], code: int | None) -> None:
            deaths.append((calls, code))
            died.set()

        low, high = port_block()
        supervisor = EngineSupervisor(tmp_path, port_min=low, port_max=high, on_death=on_death)
        client = await supervisor.start()
        try:
            caller = await Peer.open()
            await client.offer("doomed", "a", sdp(caller.port))
            first_pid = supervisor.pid
            assert first_pid is not None
            os.kill(first_pid, signal.SIGKILL)  # our own child, by PID
            await asyncio.wait_for(died.wait(), 5)
            assert deaths == [({"doomed"}, -signal.SIGKILL)]
            for _ in range(50):  # bounded: the restart takes well under 5 s
                if supervisor.restarts:
                    break
                await asyncio.sleep(0.1)
            assert supervisor.restarts == 1 and supervisor.pid != first_pid
            await client.ping()  # the same client reaches the new engine (same ng port)
            stats = await client.statistics()
            assert stats["ports"]["in use"] == 0  # the new engine starts clean
            caller.close()
        finally:
            await supervisor.stop()
        assert supervisor.process is not None and supervisor.process.returncode == 0

    asyncio.run(asyncio.wait_for(scenario(), 30))
