"""Start the real node (``switchboard run``) as a subprocess for integration tests.

Every test gets its own node on port 0 (udp, tcp, ws and http listeners) and its own data
directory; the ready line on stdout gives the real ports. Teardown stops the node with SIGTERM
by PID and fails the test if it is still running 5 s later (a clean stop is a requirement),
or if it exits with a non-zero status.

``start_node(overrides)`` runs a node on a config made of the demo tenant deep-merged with
``overrides`` (e.g. ``{"security": {"digest_algorithms": ["MD5"]}}``), so tests can lower
limits for flood tests or raise them for load tests.
"""

from __future__ import annotations

import copy
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT_DIR = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
DEFAULT_LISTENERS = ("udp:127.0.0.1:0", "tcp:127.0.0.1:0", "ws:127.0.0.1:0")


def switchboard_command() -> list[str]:
    script = Path(sys.executable).parent / "switchboard"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from switch.cli import main; sys.exit(main())"]


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def demo_config_with(overrides: dict[str, Any]) -> dict[str, Any]:
    from switch.demo import demo_data

    return deep_merge(demo_data(), overrides)


@dataclass
class RunningNode:
    proc: subprocess.Popen[bytes]
    ready: dict[str, Any]
    data_dir: Path
    stderr_path: Path
    sip: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        """The config file the node was started with (absent for the built-in demo)."""
        return self.data_dir.parent / "switchboard.yaml"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def http(self) -> str:
        return str(self.ready["http"])

    def addr(self, transport: str) -> tuple[str, int]:
        return self.sip[transport]

    def hostport(self, transport: str) -> str:
        host, port = self.sip[transport]
        return f"{host}:{port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def healthz(self) -> dict[str, Any]:
        response = httpx.get(self.http + "/healthz", timeout=5)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def stop(self) -> tuple[int | None, bool]:
        """SIGTERM by PID; (exit code, stopped in time). Kills it if it outlives the limit."""
        if self.proc.poll() is not None:
            return self.proc.returncode, True
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT), True
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout=5), False


def _read_ready_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    buffer = b""
    deadline = time.monotonic() + timeout
    try:
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError(f"no ready line within {timeout} s")
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"node exited before ready (code {proc.wait(timeout=5)})")
            buffer += chunk
    finally:
        selector.close()
    return buffer.split(b"\n", 1)[0]


def launch_node(tmp_dir: Path, overrides: dict[str, Any] | None = None,
                listeners: tuple[str, ...] = DEFAULT_LISTENERS,
                extra_args: tuple[str, ...] = (),
                config: dict[str, Any] | None = None) -> RunningNode:
    """Start a node: the demo (no --config), the demo merged with ``overrides``, or exactly
    ``config`` (written to ``switchboard.yaml`` in ``tmp_dir``)."""
    data_dir = tmp_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [*switchboard_command(), *extra_args, "run"]
    for listener in listeners:
        cmd += ["--sip", listener]
    cmd += ["--http", "127.0.0.1:0", "--data-dir", str(data_dir)]
    if overrides is not None or config is not None:
        data = config if config is not None else demo_config_with(overrides or {})
        config_path = tmp_dir / "switchboard.yaml"
        config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        cmd += ["--config", str(config_path)]
    stderr_path = tmp_dir / "node.stderr"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=stderr, cwd=tmp_dir)
    try:
        line = _read_ready_line(proc, READY_TIMEOUT)
        ready = json.loads(line)
    except Exception as exc:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        raise RuntimeError(f"node did not become ready: {exc}\ncommand: {' '.join(cmd)}\n"
                           f"stderr:\n{stderr_path.read_text(errors='replace')[-3000:]}") from exc
    assert ready.get("event") == "ready", ready
    node = RunningNode(proc, ready, data_dir, stderr_path)
    for item in ready["sip"]:
        transport, _, rest = str(item).partition(":")
        host, _, port = rest.rpartition(":")
        node.sip[transport] = (host.strip("[]"), int(port))
    return node


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., RunningNode]]:
    """Factory: ``start_node(overrides=None, listeners=...)`` -> RunningNode, stopped at the
    end of the test (which fails if the node needs SIGKILL or exits non-zero)."""
    nodes: list[RunningNode] = []

    def start(overrides: dict[str, Any] | None = None,
              listeners: tuple[str, ...] = DEFAULT_LISTENERS,
              config: dict[str, Any] | None = None) -> RunningNode:
        node = launch_node(tmp_path / f"node{len(nodes)}", overrides, listeners, config=config)
        nodes.append(node)
        return node

    yield start
    problems = []
    for node in nodes:
        code, in_time = node.stop()
        if not in_time:
            problems.append(f"node pid {node.pid} still ran {STOP_TIMEOUT} s after SIGTERM "
                            f"(killed)\n{node.stderr()[-2000:]}")
        elif code != 0:
            problems.append(f"node pid {node.pid} exited with {code} on SIGTERM\n"
                            f"{node.stderr()[-2000:]}")
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture
def node(start_node: Callable[..., RunningNode]) -> RunningNode:
    """The demo tenant (no --config), listening on udp, tcp and ws."""
    return start_node()


def require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed (apt-get install {package}; `make test` does)")
    return path
