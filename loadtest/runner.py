"""Drive a contact-center load test with SIPp and record what happened, second by second.

``python -m loadtest run --cps 100 --agents 200 --duration 60 --target NODE:5060`` runs, in
this order, every process bounded in time and stopped by its own PID (process group):

1. the agents' phones: one SIPp running ``agent_answer.xml`` (a UAS on ``--agent-port``)
   that answers every call offered to any agent after ``--answer-delay`` s and hangs up after
   ``--talk-time`` s;
2. the agents' registration: one SIPp running ``agent_register.xml`` whose Contacts point at
   the agent_answer process (skipped with ``--no-register``, for agents on static contacts:
   ``python -m loadtest tenant --agent-contact``);
3. the callers: one SIPp running ``queue_caller.xml`` at ``--cps`` for ``--duration`` s
   (``-m`` = cps x duration), each dialling ``--number`` and waiting for the node to hang up
   (at most ``--max-wait`` s, then the caller hangs up itself);
4. when the callers are done: the agent process is asked to finish (SIGUSR1), and the
   agents are unregistered.

Every second it reads the SIPp statistics files (``-trace_stat -fd 1``), samples the node's
CPU and memory (``--node-pid``: ``/proc``; else ``--node-http``: ``/healthz``'s
``process.cpu_seconds``/``process.rss_bytes`` when the node reports them) and shows one
status line on stderr. It writes ``run.json`` in ``--out`` (parameters, the per-second
series, totals, failures, response times, SIPp exit codes), keeps each SIPp's files in
``--out/sipp-NAME/`` and calls :mod:`loadtest.report` for ``report.md`` and the plots.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import math
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .progress import ProgressLine, status_text
from .sipp import SCENARIOS, SippRun, free_local_port, parse_stat_file
from .users import numbered_users, write_users_csv

RUN_FILE = "run.json"
FORMAT_VERSION = 1
# SIPp needs a moment after its -timeout to notice, write its files and exit.
GRACE = 10.0
# Seconds to wait for a SIPp to answer SIGUSR1 (finish calls) before asking it to abort them.
STOP_WAIT = 5.0
# The three response times queue_caller.xml measures (its rtd names).
RTDS = ("answer", "connected", "bye")
# Counters the scenarios keep (counter="..."), per process.
CALLER_COUNTERS = ("caller_hangup",)
AGENT_COUNTERS = ("cancelled", "remote_bye", "ping")
PERCENTILES = (50, 90, 95, 99)
# Samples of each response time kept in run.json for the plots (the percentiles use all).
MAX_SAMPLES = 20000


class RunError(RuntimeError):
    """The run could not start or had to stop (the message says why)."""


@dataclass(frozen=True)
class LoadOptions:
    """What ``python -m loadtest run`` was asked to do. Times in seconds."""

    target: str                        # HOST:PORT of the node (or of a SIPp UAS, for tests)
    cps: float                         # new callers per second
    agents: int
    duration: float                    # seconds of new calls
    out: Path
    number: str = "200"                # the number callers dial (the queue's)
    transport: str = "udp"             # udp or tcp, for every SIPp
    answer_delay: float = 1.0
    talk_time: float = 5.0
    max_wait: float = 120.0            # a caller hangs up when not hung up by then
    users: Path | None = None          # a users CSV (loadtest/users.py); else numbered users
    user_start: int = 1001
    password_prefix: str = "load"
    domain: str = "switchboard.local"
    local_ip: str = "127.0.0.1"        # -i of every SIPp, and -mi (media)
    agent_port: int | None = None      # the agent_answer SIPp's port; a free one when None
    register: bool = True              # False: agents have static contacts (tenant)
    register_rate: float = 100.0
    # Register from the agent port itself, before the agent_answer SIPp takes it (UDP): for a
    # node that rings a registered agent at the address its REGISTER came from rather than at
    # its Contact (this node rings the Contact unless the phone is behind NAT).
    register_from_agent_port: bool = False
    expires: int = 3600
    node_pid: int | None = None
    node_http: str | None = None
    media: bool = False                # RTP from the pcap on callers and agents
    progress: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.cps <= 0 or self.duration <= 0:
            problems.append("--cps and --duration must be positive")
        if self.agents < 1:
            problems.append("--agents must be at least 1")
        if self.answer_delay < 0 or self.talk_time < 0 or self.max_wait <= 0:
            problems.append("--answer-delay and --talk-time must be >= 0, --max-wait > 0")
        if self.transport not in ("udp", "tcp"):
            problems.append("--transport must be udp or tcp")
        if self.register_rate <= 0:
            problems.append("--register-rate must be positive")
        if self.register_from_agent_port and (self.transport != "udp" or not self.register):
            problems.append("--register-from-agent-port needs UDP and registration (over TCP "
                            "the registration's connection closes with its SIPp)")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def calls(self) -> int:
        return max(1, round(self.cps * self.duration))

    def parameters(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        data["calls"] = self.calls
        return data


# -- small helpers --------------------------------------------------------------------------


def free_port_block(host: str, count: int = 4) -> int:
    """An even port with ``count`` consecutive UDP ports free (SIPp's media: RTP/RTCP for
    audio and video above -mp)."""
    for _ in range(100):
        base = free_local_port(host) & ~1
        socks: list[socket.socket] = []
        try:
            for offset in range(count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind((host, base + offset))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        if base + count <= 65535:
            return base
    raise RunError(f"no block of {count} free UDP ports on {host}")


def _port_taken(host: str, port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); ``ordered`` sorted."""
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(values: Iterable[float]) -> dict[str, Any]:
    """count, mean, min, max and percentiles (ms), plus up to MAX_SAMPLES evenly spread
    samples for distribution plots. Empty input: count 0 and no statistics."""
    ordered = sorted(values)
    if not ordered:
        return {"count": 0}
    out: dict[str, Any] = {
        "count": len(ordered),
        "mean": round(sum(ordered) / len(ordered), 3),
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
    }
    for q in PERCENTILES:
        out[f"p{q}"] = round(percentile(ordered, q), 3)
    step = max(1, math.ceil(len(ordered) / MAX_SAMPLES))
    out["samples"] = [round(v, 3) for v in ordered[::step]]
    return out


def _int(row: dict[str, str], column: str) -> int:
    try:
        return int(float(row.get(column, "0") or 0))
    except ValueError:
        return 0


class StatTail:
    """Follows a SIPp ``-trace_stat`` CSV as it grows; :meth:`latest` is its newest row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._pending = b""
        self._header: list[str] | None = None
        self._latest: dict[str, str] = {}

    def latest(self) -> dict[str, str]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except OSError:
            return self._latest
        self._offset += len(chunk)
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        for raw in lines:
            fields = raw.decode("utf-8", "replace").rstrip("\r").split(";")
            if not any(fields):
                continue
            if self._header is None:
                self._header = fields
            else:
                self._latest = {k: v for k, v in zip(self._header, fields, strict=False) if k}
        return self._latest


def counts(row: dict[str, str], counters: tuple[str, ...]) -> dict[str, int]:
    """The cumulative numbers of a statistics row that the runner keeps per second."""
    out = {
        "created": _int(row, "TotalCallCreated"),
        "successful": _int(row, "SuccessfulCall(C)"),
        "failed": _int(row, "FailedCall(C)"),
        "current": _int(row, "CurrentCall"),
        "retransmissions": _int(row, "Retransmissions(C)"),
    }
    for name in counters:
        out[name] = _int(row, f"{name}(C)")
    return out


def stat_counts(path: Path, counters: tuple[str, ...] = ()) -> dict[str, int]:
    """:func:`counts` of the last row of a statistics file (zeros when there is none)."""
    return counts(parse_stat_file(path), counters)


def failures(row: dict[str, str]) -> dict[str, int]:
    """Non-zero ``Failed*(C)`` counters of a final statistics row, by reason."""
    out = {}
    for name, value in row.items():
        if name.startswith("Failed") and name.endswith("(C)") and name != "FailedCall(C)":
            number = _int({name: value}, name)
            if number:
                out[name.removesuffix("(C)")] = number
    return out


# -- the node's CPU and memory ----------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process from /proc/PID/stat, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # fields from the 3rd (state) on
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks


def _proc_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        info = _proc_stat(int(entry.name))
        if info is not None:
            children.setdefault(info[0], []).append(int(entry.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(children.get(child, []))
    return out


class NodeSampler:
    """CPU seconds and RSS of the node: from /proc (``pid``, with its child processes, e.g.
    the media engine) or from ``GET {http}/healthz`` (``process.cpu_seconds`` and
    ``process.rss_bytes``, the node process only). ``calls`` and registered ``contacts``
    come from /healthz when ``http`` is given."""

    def __init__(self, pid: int | None, http: str | None) -> None:
        self.pid = pid
        self.http = http.rstrip("/") if http else None
        self._healthz_process = True  # until /healthz answers without "process"
        if pid is not None and _proc_stat(pid) is None:
            raise RunError(f"--node-pid {pid}: no such process (/proc/{pid}/stat)")

    @property
    def source(self) -> str | None:
        if self.pid is not None:
            return "proc"
        if self.http is not None and self._healthz_process:
            return "healthz"
        return None

    def _healthz(self) -> dict[str, Any] | None:
        assert self.http is not None
        try:
            with urllib.request.urlopen(self.http + "/healthz", timeout=1.0) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:  # 503 while draining still has the body
            body = exc.read()
        except (OSError, ValueError):
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def sample(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        health = self._healthz() if self.http is not None else None
        if health is not None:
            if isinstance(health.get("calls"), int):
                out["calls"] = health["calls"]
            registrations = health.get("registrations")
            if isinstance(registrations, dict) and isinstance(registrations.get("contacts"),
                                                              int):
                out["contacts"] = registrations["contacts"]
        if self.pid is not None:
            main = _proc_stat(self.pid)
            if main is None:
                out["gone"] = True
                return out
            cpu, rss = main[1], _proc_rss(self.pid)
            out["main_cpu_seconds"], out["main_rss_bytes"] = cpu, rss
            for child in _descendants(self.pid):
                info = _proc_stat(child)
                if info is not None:
                    cpu += info[1]
                    rss += _proc_rss(child)
            out["cpu_seconds"], out["rss_bytes"] = cpu, rss
        elif health is not None and self._healthz_process:
            process = health.get("process")
            if isinstance(process, dict) and "cpu_seconds" in process:
                out["cpu_seconds"] = float(process["cpu_seconds"])
                out["rss_bytes"] = int(process.get("rss_bytes", 0))
            else:
                self._healthz_process = False
        return out


# -- SIPp processes ---------------------------------------------------------------------------


class SippProcess:
    """One SIPp started in the background in ``workdir`` (its files stay there), in its own
    session so that it, and only it, can be stopped by its process group id."""

    def __init__(self, name: str, run: SippRun, workdir: Path, *, local_port: int,
                 counters: tuple[str, ...]) -> None:
        self.name, self.run, self.workdir, self.counters = name, run, workdir, counters
        workdir.mkdir(parents=True, exist_ok=True)
        self.stat_file = workdir / "stat.csv"
        self.error_file = workdir / "errors.log"
        self.local_port = local_port
        self.command = run.command(self.stat_file, self.error_file, local_port)
        self.tail = StatTail(self.stat_file)
        with (workdir / "screen.log").open("wb") as screen:
            self.proc = subprocess.Popen(self.command, cwd=workdir, stdin=subprocess.DEVNULL,
                                         stdout=screen, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.started = time.monotonic()
        self.deadline = self.started + run.time_limit + GRACE
        self.killed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signum)

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.killed = True
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return None

    def stop(self, patience: float) -> None:
        """SIGUSR1 (no new calls, finish the current ones) and ``patience`` s; SIGUSR1 again
        (abort the calls) and STOP_WAIT s; then SIGKILL of its process group."""
        for wait in (patience, STOP_WAIT):
            if self.poll() is not None:
                return
            self.signal(signal.SIGUSR1)
            if self.wait(wait) is not None:
                return
        self.kill()

    def latest(self) -> dict[str, int]:
        return counts(self.tail.latest(), self.counters)

    def files(self, pattern: str) -> list[Path]:
        return sorted(self.workdir.glob(pattern))

    def result(self, out_dir: Path) -> dict[str, Any]:
        row = parse_stat_file(self.stat_file)
        errors = self.error_file.read_text(errors="replace") if self.error_file.exists() else ""
        screen = self.workdir / "screen.log"
        return {
            "command": self.command,
            "pid": self.pid,
            "returncode": self.proc.returncode,
            "killed": self.killed,
            "workdir": os.path.relpath(self.workdir, out_dir),
            "totals": counts(row, self.counters),
            "failures": failures(row),
            "unexpected_status_codes": _error_codes(self.files("*_error_codes.log")),
            "errors_tail": errors[-3000:],
            "screen_tail": screen.read_text(errors="replace")[-2000:] if screen.exists() else "",
        }


def _error_codes(paths: list[Path]) -> dict[str, int]:
    """SIP status codes of unexpected responses (``-trace_error_codes``), counted."""
    out: dict[str, int] = {}
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            fields = line.split(";")
            if len(fields) < 3:
                continue
            for code in fields[2].split(","):
                if code.strip().isdigit():
                    out[code.strip()] = out.get(code.strip(), 0) + 1
    return dict(sorted(out.items()))


def read_rtt(paths: list[Path]) -> list[tuple[float, float, str]]:
    """(time ms since SIPp start, response time ms, rtd name) rows of ``-trace_rtt`` files."""
    rows: list[tuple[float, float, str]] = []
    for path in paths:
        with path.open(newline="", errors="replace") as handle:
            for fields in csv.reader(handle, delimiter=";"):
                if len(fields) < 3 or fields[0] == "Date_ms":
                    continue
                try:
                    rows.append((float(fields[0]), float(fields[1]), fields[2].strip()))
                except ValueError:
                    continue
    return rows


def response_times(rows: list[tuple[float, float, str]], *, talk_ms: float,
                   offset: float) -> dict[str, Any]:
    """Summaries per rtd, the queue-wait approximation, and per-second series of the answer
    time and of the queue wait (by the second, since the run started, when it was measured;
    ``offset``: seconds from the run's start to the callers' SIPp start)."""
    by_name: dict[str, list[float]] = {name: [] for name in RTDS}
    per_second: dict[str, dict[int, list[float]]] = {"answer": {}, "queue_wait": {}}
    for when, value, name in rows:
        by_name.setdefault(name, []).append(value)
        second = int(offset + when / 1000.0)
        if name == "answer":
            per_second["answer"].setdefault(second, []).append(value)
        elif name == "connected":
            per_second["queue_wait"].setdefault(second, []).append(max(0.0, value - talk_ms))
    waits = [max(0.0, v - talk_ms) for v in by_name["connected"]]
    series: dict[str, list[dict[str, float]]] = {}
    for key, buckets in per_second.items():
        series[key] = []
        for second in sorted(buckets):
            ordered = sorted(buckets[second])
            series[key].append({"t": float(second), "count": float(len(ordered)),
                                "mean": round(sum(ordered) / len(ordered), 3),
                                "p95": round(percentile(ordered, 95), 3)})
    return {
        "response_times": {name: summarize(values) for name, values in by_name.items()},
        "queue_wait": {**summarize(waits), "talk_time_ms": talk_ms,
                       "method": "caller's time from the 200 to the node's BYE minus the "
                                 "agent's talk time (an approximation: it includes the "
                                 "agent's ringing and the node's bridging)"},
        "response_time_series": series,
    }


# -- the run --------------------------------------------------------------------------------


@dataclass
class _State:
    t0: float
    series: list[dict[str, Any]] = field(default_factory=list)
    last_cpu: tuple[float, float] | None = None       # (monotonic, cpu seconds)
    last_main_cpu: tuple[float, float] | None = None
    last_tick: float = 0.0
    notes: list[str] = field(default_factory=list)


class Runner:
    def __init__(self, options: LoadOptions, *,
                 progress: ProgressLine | None = None) -> None:
        self.o = options
        self.out = options.out.resolve()
        self.progress = progress or ProgressLine(enabled=options.progress)
        self.sampler = NodeSampler(options.node_pid, options.node_http)
        self.state = _State(t0=time.monotonic())
        self.agent: SippProcess | None = None
        self.callers: SippProcess | None = None
        self.results: dict[str, Any] = {}

    # The per-second work: read the statistics, sample the node, show the status line.
    def _tick(self, phase: str) -> None:
        now = self.state.last_tick = time.monotonic()
        entry: dict[str, Any] = {"t": round(now - self.state.t0, 3)}
        if self.callers is not None:
            entry["callers"] = self.callers.latest()
        if self.agent is not None:
            entry["agents"] = self.agent.latest()
        node = self.sampler.sample()
        if "cpu_seconds" in node:
            if self.state.last_cpu is not None:
                then, cpu = self.state.last_cpu
                if now > then:
                    node["cpu_percent"] = round(100.0 * (node["cpu_seconds"] - cpu)
                                                / (now - then), 2)
            self.state.last_cpu = (now, node["cpu_seconds"])
        if "main_cpu_seconds" in node:
            if self.state.last_main_cpu is not None:
                then, cpu = self.state.last_main_cpu
                if now > then:
                    node["main_cpu_percent"] = round(
                        100.0 * (node["main_cpu_seconds"] - cpu) / (now - then), 2)
            self.state.last_main_cpu = (now, node["main_cpu_seconds"])
        if node:
            entry["node"] = node
        previous = self.state.series[-1] if self.state.series else None
        self.state.series.append(entry)
        callers = entry.get("callers", {})
        rate = 0.0
        if previous is not None and "callers" in previous and entry["t"] > previous["t"]:
            rate = ((callers.get("created", 0) - previous["callers"].get("created", 0))
                    / (entry["t"] - previous["t"]))
        self.progress.update(status_text(
            elapsed=entry["t"], duration=self.o.duration, started=callers.get("created", 0),
            succeeded=callers.get("successful", 0), failed=callers.get("failed", 0),
            rate=rate, current=callers.get("current") if callers else None,
            cpu_percent=node.get("cpu_percent"), rss_bytes=node.get("rss_bytes"),
            phase=phase))

    def _ticks_until(self, done: Callable[[], bool], deadline: float, phase: str, *,
                     first: float | None = None) -> bool:
        """Tick every second (the first at ``first``) until ``done()`` or ``deadline``;
        True if done in time."""
        next_tick = first if first is not None else time.monotonic() + 1.0
        while not done():
            now = time.monotonic()
            if now >= deadline:
                return done()
            time.sleep(max(0.0, min(next_tick, deadline) - now))
            if time.monotonic() >= next_tick:
                self._tick(phase)
                next_tick += 1.0
                if next_tick < time.monotonic():
                    next_tick = time.monotonic() + 1.0
        return True

    def _start_agent(self, agent_port: int, time_limit: float) -> SippProcess:
        return start_agents(self.o, agent_port, self.out / "sipp-agents", time_limit)

    def _users_file(self) -> Path:
        if self.o.users is not None:
            return self.o.users
        users = numbered_users(self.o.agents, start=self.o.user_start,
                               password_prefix=self.o.password_prefix)
        return write_users_csv(self.out / "users.csv", users, self.o.domain)

    def _register(self, scenario: str, agent_port: int, name: str) -> dict[str, Any]:
        from_port = agent_port if self.o.register_from_agent_port else None
        return register_agents(self.o, agent_port, self._users_file(), self.out / f"sipp-{name}",
                               scenario=scenario, local_port=from_port)

    def _register_step(self, agent_port: int) -> None:
        o = self.o
        self.progress.message(f"registering {o.agents} agents at {o.target} "
                              f"({o.register_rate:g}/s)")
        reg = self.results["register"] = self._register("agent_register.xml", agent_port,
                                                        "register")
        self.progress.message(f"registered {reg['successful']}, failed {reg['failed']}")
        if reg["successful"] == 0:
            raise RunError(f"no agent registered: {reg['failures']} "
                           f"{reg['errors_tail'][-800:]}")

    def _start_callers(self, time_limit: float) -> SippProcess:
        o = self.o
        max_wait_ms = f"{o.max_wait * 1000:.0f}"
        run = SippRun(
            target=o.target, scenario=SCENARIOS / "queue_caller.xml", calls=o.calls,
            rate=o.cps, transport=o.transport, local_ip=o.local_ip,
            max_concurrent=o.calls, time_limit=time_limit,
            extra=("-s", o.number, "-set", "max_wait", max_wait_ms,
                   "-recv_timeout", max_wait_ms, "-trace_rtt", "-rtt_freq", "1",
                   "-trace_error_codes", *media_args(o)))
        port = free_local_port(o.local_ip)
        return SippProcess("callers", run, self.out / "sipp-callers", local_port=port,
                           counters=CALLER_COUNTERS)

    def run(self) -> dict[str, Any]:
        o = self.o
        self.out.mkdir(parents=True, exist_ok=True)
        started_at = dt.datetime.now(dt.UTC)
        agent_port = o.agent_port or free_local_port(o.local_ip)
        caller_limit = o.duration + 2 * o.max_wait + 40.0
        register_limit = (o.agents / o.register_rate + 30.0) if o.register else 0.0
        drain = o.answer_delay + o.talk_time + 5.0
        interrupted = False
        error: str | None = None
        try:
            if o.register and o.register_from_agent_port:
                self._register_step(agent_port)
            self.progress.message(f"agents: agent_answer.xml on {o.local_ip}:{agent_port} "
                                  f"({o.transport})")
            self.agent = self._start_agent(
                agent_port, register_limit + caller_limit + drain + 2 * STOP_WAIT + 30.0)
            if o.register and not o.register_from_agent_port:
                self._register_step(agent_port)
            self.progress.message(f"callers: {o.calls} calls to {o.number} at {o.cps:g}/s "
                                  f"for {o.duration:g}s")
            self.callers = self._start_callers(caller_limit)
            callers = self.callers
            # SIPp writes its statistics each second from its start: read them half a
            # second later, so that each tick sees the row just written.
            self._ticks_until(lambda: callers.poll() is not None, callers.deadline, "",
                              first=callers.started + 1.5)
            if callers.poll() is None:
                self.state.notes.append("the callers' SIPp overran its time limit: killed")
                callers.kill()
            # Its last row, written as it exited; a second after the previous tick, so that
            # the per-second rates stay per second.
            time.sleep(max(0.0, self.state.last_tick + 1.0 - time.monotonic()))
            self._tick("done")
            self.progress.close()
        except KeyboardInterrupt:
            interrupted = True
            self.state.notes.append("interrupted (Ctrl-C or SIGTERM): calls in progress were "
                                    "aborted")
        except RunError as exc:
            error = str(exc)
            self.state.notes.append(error)
        finally:
            self.progress.close()
            if self.callers is not None and self.callers.poll() is None:
                self.callers.stop(0.0 if interrupted else drain)
            if self.agent is not None:
                agent = self.agent
                # Let the agents' last calls end (they hang up after the talk time).
                if not interrupted:
                    with contextlib.suppress(KeyboardInterrupt):
                        self._ticks_until(lambda: agent.latest()["current"] == 0,
                                          time.monotonic() + drain, "draining")
                agent.stop(0.0 if interrupted else STOP_WAIT)
            if o.register and "register" in self.results and not interrupted:
                self.progress.message("unregistering the agents")
                self.results["unregister"] = self._register("unregister.xml", agent_port,
                                                            "unregister")
            self.progress.close()
        ended_at = dt.datetime.now(dt.UTC)
        data = self._collect(started_at, ended_at, interrupted, error)
        (self.out / RUN_FILE).write_text(json.dumps(data, indent=1) + "\n")
        return data

    def _collect(self, started_at: dt.datetime, ended_at: dt.datetime, interrupted: bool,
                 error: str | None) -> dict[str, Any]:
        o = self.o
        processes: dict[str, Any] = {}
        if self.agent is not None:
            processes["agents"] = self.agent.result(self.out)
        if "register" in self.results:
            processes["register"] = self.results["register"]
        if self.callers is not None:
            processes["callers"] = self.callers.result(self.out)
        if "unregister" in self.results:
            processes["unregister"] = self.results["unregister"]
        timing: dict[str, Any] = {"response_times": {name: {"count": 0} for name in RTDS},
                                  "queue_wait": {"count": 0}, "response_time_series": {}}
        if self.callers is not None:
            offset = self.callers.started - self.state.t0
            timing = response_times(read_rtt(self.callers.files("*_rtt.csv")),
                                    talk_ms=o.talk_time * 1000.0, offset=offset)
        caller_totals = processes.get("callers", {}).get("totals", {})
        agent_totals = processes.get("agents", {}).get("totals", {})
        cpu = [e["node"]["cpu_percent"] for e in self.state.series
               if "cpu_percent" in e.get("node", {})]
        rss = [e["node"]["rss_bytes"] for e in self.state.series
               if "rss_bytes" in e.get("node", {})]
        node: dict[str, Any] = {"source": self.sampler.source, "pid": o.node_pid,
                                "http": o.node_http}
        if cpu:
            node["cpu_percent"] = {"mean": round(sum(cpu) / len(cpu), 2), "max": max(cpu)}
        if rss:
            node["rss_bytes"] = {"first": rss[0], "max": max(rss), "last": rss[-1]}
        totals = {
            "calls_attempted": caller_totals.get("created", 0),
            "calls_successful": caller_totals.get("successful", 0),
            "calls_failed": caller_totals.get("failed", 0),
            "caller_hangups": caller_totals.get("caller_hangup", 0),
            "failures": processes.get("callers", {}).get("failures", {}),
            "unexpected_status_codes": processes.get("callers", {}).get(
                "unexpected_status_codes", {}),
            "agent_calls": agent_totals.get("created", 0),
            "agent_calls_successful": agent_totals.get("successful", 0),
            "agent_calls_failed": agent_totals.get("failed", 0),
            "agent_cancelled": agent_totals.get("cancelled", 0),
            "agent_remote_bye": agent_totals.get("remote_bye", 0),
            "agent_pings": agent_totals.get("ping", 0),
            "agent_failures": processes.get("agents", {}).get("failures", {}),
        }
        callers_rc = processes.get("callers", {}).get("returncode")
        return {
            "format": FORMAT_VERSION,
            "started_at": started_at.isoformat(timespec="seconds"),
            "ended_at": ended_at.isoformat(timespec="seconds"),
            "elapsed": round(time.monotonic() - self.state.t0, 3),
            "parameters": o.parameters(),
            "ok": (error is None and not interrupted and callers_rc == 0
                   and totals["calls_failed"] == 0 and totals["calls_successful"] > 0),
            "interrupted": interrupted,
            "error": error,
            "notes": self.state.notes,
            "exit_codes": {name: p.get("returncode") for name, p in processes.items()},
            "totals": totals,
            **timing,
            "node": node,
            "series": self.state.series,
            "processes": processes,
        }


def media_args(options: LoadOptions) -> tuple[str, ...]:
    """SIPp's media address and a free block of media ports; ``-set media 1`` with --media."""
    port = free_port_block(options.local_ip)
    args = ("-mi", options.local_ip, "-mp", str(port))
    return args + (("-set", "media", "1") if options.media else ())


def start_agents(options: LoadOptions, agent_port: int, workdir: Path,
                 time_limit: float) -> SippProcess:
    """Start the agents' phones (agent_answer.xml on ``options.local_ip:agent_port``) and
    return once its SIP port is bound; RunError (with SIPp's output) if it exits first or
    takes more than 10 s."""
    o = options
    run = SippRun(
        target=o.target, scenario=SCENARIOS / "agent_answer.xml", calls=10**9, rate=1,
        transport=o.transport, local_ip=o.local_ip, local_port=agent_port,
        time_limit=time_limit,
        extra=("-set", "answer_delay", f"{o.answer_delay * 1000:.0f}",
               "-set", "talk_time", f"{o.talk_time * 1000:.0f}",
               "-trace_error_codes", *media_args(o)))
    agent = SippProcess("agents", run, workdir, local_port=agent_port, counters=AGENT_COUNTERS)
    kind = socket.SOCK_DGRAM if o.transport == "udp" else socket.SOCK_STREAM
    deadline = time.monotonic() + 10.0
    while not _port_taken(o.local_ip, agent_port, kind):
        if agent.poll() is not None or time.monotonic() > deadline:
            agent.kill()
            screen = (workdir / "screen.log").read_text(errors="replace")
            raise RunError(f"the agent_answer SIPp did not start (exit "
                           f"{agent.proc.returncode}): {screen[-1500:]}\n"
                           f"command: {' '.join(agent.command)}")
        time.sleep(0.05)
    return agent


def register_agents(options: LoadOptions, agent_port: int, users: Path, workdir: Path, *,
                    scenario: str = "agent_register.xml",
                    local_port: int | None = None) -> dict[str, Any]:
    """Register ``options.agents`` users of the ``users`` CSV with Contacts at
    ``options.local_ip:agent_port`` (agent_register.xml), or remove their bindings
    (``scenario="unregister.xml"``), from ``local_port`` (a free one when None). Blocks,
    bounded by agents / register_rate + 30 s."""
    extra: tuple[str, ...] = ()
    if scenario == "agent_register.xml":
        extra = ("-key", "agent_host", options.local_ip, "-key", "agent_port", str(agent_port),
                 "-key", "expires", str(options.expires), "-trace_error_codes")
    run = SippRun(
        target=options.target, scenario=SCENARIOS / scenario, calls=options.agents,
        rate=options.register_rate, transport=options.transport, injection=users,
        local_ip=options.local_ip, time_limit=options.agents / options.register_rate + 30.0,
        extra=extra)
    proc = SippProcess(workdir.name, run, workdir,
                       local_port=local_port or free_local_port(options.local_ip), counters=())
    try:
        if proc.wait(proc.deadline - time.monotonic()) is None:
            proc.kill()
    except BaseException:  # Ctrl-C or SIGTERM: do not leave it behind
        proc.kill()
        raise
    row = parse_stat_file(proc.stat_file)
    errors = proc.error_file.read_text(errors="replace") if proc.error_file.exists() else ""
    return {"command": proc.command, "pid": proc.pid, "returncode": proc.proc.returncode,
            "killed": proc.killed, "successful": _int(row, "SuccessfulCall(C)"),
            "failed": _int(row, "FailedCall(C)"), "failures": failures(row),
            "elapsed": round(time.monotonic() - proc.started, 3),
            "errors_tail": errors[-3000:], "workdir": workdir.name}


def run_load(options: LoadOptions, *, progress: ProgressLine | None = None) -> dict[str, Any]:
    """Run the load test; returns what it wrote to ``options.out / run.json``."""
    return Runner(options, progress=progress).run()
