"""`switchboard media` runs a standalone engine (as rtpengine's --listen-ng), for several
nodes or a Kamailio; it answers ng pings and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from switch.media.client import MediaClient
from tests.media.helpers import free_udp_port


def test_switchboard_media_answers_ng_and_stops(tmp_path: Path) -> None:
    port = free_udp_port()
    command = [str(Path(sys.executable).parent / "switchboard"), "media",
               "--listen-ng", f"127.0.0.1:{port}", "--data-dir", str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready" and ready["ng"] == f"127.0.0.1:{port}"

        async def ping() -> dict[str, object]:
            async with MediaClient("127.0.0.1", port) as client:
                await client.ping()
                return await client.statistics()

        stats = asyncio.run(ping())
        assert stats["ports"] == {"in use": 0, "free": stats["ports"]["free"], "legs": 0}  # type: ignore[index]
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
