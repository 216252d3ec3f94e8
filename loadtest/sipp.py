"""Run SIPp with a bounded time and read its verdict from the statistics file.

Used by the integration tests and the benchmarks, and usable by an operator::

    from loadtest.sipp import SippRun, run_sipp
    result = run_sipp(SippRun(target="10.0.0.5:5060", scenario=SCENARIOS / "options.xml",
                              calls=1000, rate=200))
    assert result.ok, result.describe()

SIPp's exit code is 0 only when every call succeeded (1: some failed, 97/99: killed or
internal error, 255: fatal); the verdict comes from the last row of the ``-trace_stat`` CSV,
whose ``SuccessfulCall(C)``/``FailedCall(C)`` columns are cumulative. Each run gets its own
working directory, because SIPp drops its files in the current one.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
# SIPp transport modes: u1/t1 = one socket for all calls, un/tn = one socket per call.
TRANSPORTS = {"udp": "u1", "tcp": "t1", "u1": "u1", "t1": "t1", "un": "un", "tn": "tn"}
# How long SIPp may need to notice the end, write its files and exit after its -timeout.
_GRACE = 10.0


class SippNotInstalled(RuntimeError):
    pass


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise SippNotInstalled("sipp not found on PATH: install it (Debian: apt-get install "
                               "sip-tester)")
    return path


def free_local_port(host: str) -> int:
    """A port free for both UDP and TCP on ``host``: SIPp binds its -p on both."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                    tcp.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no port free for both UDP and TCP on {host}")


@dataclass(frozen=True)
class SippRun:
    """What to run. ``rate`` is calls per second; ``time_limit`` bounds the run in seconds."""

    target: str                      # HOST:PORT of the system under test
    scenario: Path
    calls: int                       # -m: stop after this many calls
    rate: float = 10.0               # -r with -rp 1000
    transport: str = "udp"           # udp/tcp (u1/t1) or u1/t1/un/tn
    injection: Path | None = None    # -inf users.csv
    local_ip: str = "127.0.0.1"      # -i: source address (loopback has all of 127/8)
    local_port: int | None = None    # -p: a free one when None
    max_concurrent: int | None = None  # -l
    time_limit: float = 60.0         # -timeout: SIPp stops itself after this
    cpus: frozenset[int] | None = None  # pin SIPp to these CPUs (benchmarks: away from the SUT)
    extra: tuple[str, ...] = ()

    def command(self, stat_file: Path, error_file: Path, local_port: int) -> list[str]:
        if self.transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {sorted(TRANSPORTS)}, got "
                             f"{self.transport!r}")
        if self.calls < 1 or self.rate <= 0:
            raise ValueError(f"need calls >= 1 and rate > 0, got {self.calls}, {self.rate}")
        cmd = [
            sipp_binary(), self.target,
            "-sf", str(self.scenario),
            "-t", TRANSPORTS[self.transport],
            "-i", self.local_ip, "-p", str(local_port),
            "-m", str(self.calls),
            "-r", f"{self.rate:g}", "-rp", "1000",
            "-timeout", f"{max(1, round(self.time_limit))}s", "-timeout_error",
            "-nostdin",
            "-trace_stat", "-stf", str(stat_file), "-fd", "1",
            "-trace_err", "-error_file", str(error_file),
        ]
        if self.injection is not None:
            cmd += ["-inf", str(self.injection)]
        if self.max_concurrent is not None:
            cmd += ["-l", str(self.max_concurrent)]
        return cmd + list(self.extra)


@dataclass(frozen=True)
class SippResult:
    command: list[str]
    returncode: int | None           # None when we had to kill it
    successful: int
    failed: int
    created: int
    elapsed: float                   # wall-clock seconds of the run
    failures: dict[str, int] = field(default_factory=dict)  # non-zero Failed*(C) counters
    errors: str = ""                 # tail of SIPp's error file
    output: str = ""                 # tail of SIPp's screen output

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.failed == 0 and self.successful > 0

    @property
    def rate(self) -> float:
        """Successful calls per second over the whole run."""
        return self.successful / self.elapsed if self.elapsed > 0 else 0.0

    def describe(self) -> str:
        return (f"sipp rc={self.returncode} successful={self.successful} failed={self.failed} "
                f"created={self.created} in {self.elapsed:.1f}s failures={self.failures}\n"
                f"errors: {self.errors[-1500:]}\noutput: {self.output[-1500:]}\n"
                f"command: {' '.join(self.command)}")


def parse_stat_file(path: Path) -> dict[str, str]:
    """The last row of a SIPp ``-trace_stat`` CSV as a column -> value dict ({} if none)."""
    if not path.exists():
        return {}
    with path.open(newline="", errors="replace") as handle:
        rows = [row for row in csv.reader(handle, delimiter=";") if row]
    if len(rows) < 2:
        return {}
    header, last = rows[0], rows[-1]
    return {name: value for name, value in zip(header, last, strict=False) if name}


def _count(stats: dict[str, str], column: str) -> int:
    try:
        return int(stats.get(column, "0") or 0)
    except ValueError:
        return 0


def _tail(path: Path, limit: int = 4000) -> str:
    if not path.exists():
        return ""
    return path.read_text(errors="replace")[-limit:]


def run_sipp(run: SippRun, *, workdir: Path | None = None) -> SippResult:
    """Run SIPp to completion (or its time limit) and return the cumulative verdict."""
    own_dir = workdir is None
    directory = Path(tempfile.mkdtemp(prefix="sipp-")) if workdir is None else workdir
    directory.mkdir(parents=True, exist_ok=True)
    stat_file, error_file = directory / "stat.csv", directory / "errors.log"
    local_port = run.local_port or free_local_port(run.local_ip)
    cmd = run.command(stat_file, error_file, local_port)
    started = time.monotonic()
    with (directory / "screen.log").open("wb") as screen:
        # Own session so a stuck SIPp is killed by its process group id, nothing broader.
        proc = subprocess.Popen(cmd, cwd=directory, stdin=subprocess.DEVNULL, stdout=screen,
                                stderr=subprocess.STDOUT, start_new_session=True)
        if run.cpus:
            os.sched_setaffinity(proc.pid, run.cpus)
        returncode: int | None
        try:
            returncode = proc.wait(timeout=run.time_limit + _GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
            returncode = None
    elapsed = time.monotonic() - started
    stats = parse_stat_file(stat_file)
    failures = {name: _count(stats, name) for name in stats
                if name.startswith("Failed") and name.endswith("(C)") and name != "FailedCall(C)"}
    result = SippResult(
        command=cmd, returncode=returncode,
        successful=_count(stats, "SuccessfulCall(C)"), failed=_count(stats, "FailedCall(C)"),
        created=_count(stats, "TotalCallCreated"), elapsed=elapsed,
        failures={k: v for k, v in failures.items() if v},
        errors=_tail(error_file), output=_tail(directory / "screen.log"))
    if own_dir:
        shutil.rmtree(directory, ignore_errors=True)
    return result
