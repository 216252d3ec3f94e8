"""Run the builtin engine as a child process of the node, notice when it dies, start it again.

Theory of operation
-------------------
:class:`EngineSupervisor` starts ``python -m switch.media`` on a free ng port, reads its JSON
ready line (the real address), and hands out a :class:`~switch.media.client.MediaClient` for
it. A watcher task waits on the process; when it exits without having been asked to, the
supervisor calls ``on_death(call_ids, returncode)`` with the calls anchored through the client
and not yet deleted (their media is gone with the process: the node ends them, or re-anchors
them with a fresh ``offer``, and says so in events), then starts a new engine on the same ng
port, so the client keeps working without being rebuilt. Restarts back off (0.5 s doubling to
10 s) so an engine that cannot start does not spin; after a run of 60 s the backoff resets.

Only processes this supervisor started are ever signalled, by their PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .client import MediaClient

__all__ = ["EngineStartError", "EngineSupervisor"]

log = logging.getLogger(__name__)
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

DeathCallback = Callable[[set[str], int | None], Awaitable[None] | None]


class EngineStartError(RuntimeError):
    """The engine process exited or said nothing before its ready line."""


class EngineSupervisor:
    """One builtin engine process (the node runs one supervisor per core it gives media)."""

    def __init__(self, data_dir: Path, *, interface: str = "127.0.0.1",
                 port_min: int = 30000, port_max: int = 40000,
                 events: tuple[str, int] | None = None, media_timeout: float | None = None,
                 on_death: DeathCallback | None = None, ng_host: str = "127.0.0.1",
                 extra_args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.interface = interface
        self.port_min = port_min
        self.port_max = port_max
        self.events = events
        self.media_timeout = media_timeout
        self.on_death = on_death
        self.ng_host = ng_host
        self.ng_port = 0
        self.extra_args = extra_args
        self.client: MediaClient | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._stopping = False
        self._watcher: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "switch.media",
               "--listen-ng", f"{self.ng_host}:{self.ng_port}",
               "--interface", self.interface, "--port-min", str(self.port_min),
               "--port-max", str(self.port_max), "--data-dir", str(self.data_dir)]
        if self.events:
            cmd += ["--events", f"{self.events[0]}:{self.events[1]}"]
        if self.media_timeout is not None:
            cmd += ["--media-timeout", str(self.media_timeout)]
        return [*cmd, "--exit-with-parent", *self.extra_args]

    async def start(self) -> MediaClient:
        """Start the engine and return the client for it (the same client after restarts)."""
        self._stopping = False
        ready = await self._spawn()
        host, _, port = ready["ng"].rpartition(":")
        self.ng_port = int(port)
        self.client = MediaClient(host, int(port))
        await self.client.start()
        self._watcher = asyncio.get_running_loop().create_task(self._watch())
        return self.client

    async def _spawn(self) -> dict[str, Any]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        process = await asyncio.create_subprocess_exec(
            # stdin is a pipe we keep open: if this process dies (even by SIGKILL) the engine
            # sees EOF and stops instead of holding its ports forever.
            *self._command(), stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.PIPE)
        self.process = process
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT)
            ready: dict[str, Any] = json.loads(line)
            if ready.get("event") != "ready":
                raise ValueError(line)
        except (TimeoutError, ValueError) as exc:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise EngineStartError(f"media engine did not start (exit {process.returncode})"
                                   ) from exc
        log.info("media engine %d ready at %s", process.pid, ready["ng"])
        return ready

    async def _watch(self) -> None:
        backoff = 0.5
        while not self._stopping:
            process = self.process
            assert process is not None
            started = asyncio.get_running_loop().time()
            code = await process.wait()
            if self._stopping:
                return
            log.error("media engine %d died (exit %s); restarting", process.pid, code)
            affected = set(self.client.active_calls) if self.client else set()
            if self.client:
                self.client.active_calls.clear()
            if self.on_death is not None:
                try:
                    result = self.on_death(affected, code)
                    if result is not None:
                        await result
                except Exception:
                    log.exception("media engine death callback failed")
            if asyncio.get_running_loop().time() - started > 60:
                backoff = 0.5
            while not self._stopping:
                try:
                    await self._spawn()
                    self.restarts += 1
                    break
                except (EngineStartError, OSError) as exc:
                    log.error("media engine restart failed: %s; retrying in %.1f s",
                              exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(10.0, backoff * 2)

    async def stop(self) -> None:
        """SIGTERM to our engine (by PID), SIGKILL after 5 s."""
        self._stopping = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        process = self.process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self.client is not None:
            await self.client.close()
