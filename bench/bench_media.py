"""RTP relay capacity: simultaneous G.711 calls relayed with under 0.1 % loss on one core, by
the builtin engine and by rtpengine (userspace) carrying the same load in the same run.

Method
- The engine under test is pinned to one CPU; the driver processes to the other (2-CPU
  machine). rtpengine runs in userspace (``--table=-1``), every thread pinned to that CPU.
- For N calls the driver opens 2 UDP sockets per call (caller and callee), anchors each call
  with ``offer``/``answer`` through :class:`switch.media.client.MediaClient` (the same ng
  commands for both engines), then sends 20 ms G.711 µ-law packets both ways (172 octets,
  50 packets/s per stream, 100 per call) for ``STEP_SECONDS``, counts what arrives on the
  other side (after a drain), and deletes the calls.
- Engine CPU is utime+stime from /proc/PID/stat over the sending window; the drivers' CPU is
  recorded too, and a step whose drivers could not keep the send rate is marked
  ``driver_limited`` (then the figure is a floor, not the engine's ceiling).
- The ladder of N stops at the first step with loss > 0.1 % or the engine above 95 % of a
  core; the result is the highest passing N, and CPU per call at that step.
- ``BENCH_MEDIA_PROFILE=0`` skips the last part: one extra step on the builtin engine run under
  cProfile (a wrapper in this harness; the engine itself is untouched) whose top functions go
  to the results.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import multiprocessing
import os
import pstats
import random
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.bench_sipp import udp_receive_buffer_errors
from switch.media.client import MediaClient, MediaError

ROOT = Path(__file__).resolve().parent.parent
STEP_SECONDS = 10.0
LADDER = [100, 200, 400, 600, 800, 1000, 1200, 1500]
LOSS_LIMIT_PERCENT = 0.1
CPU_LIMIT_PERCENT = 95.0
SEND_FRACTION = 0.98            # below this share of the target send rate: driver-limited
DRIVERS = 2                     # driver processes (each sends and receives its share)
PTIME = 0.020
# Port ranges below the ephemeral range the drivers bind from (4 ports a call), one per engine
BUILTIN_PORTS = (4000, 11999)
RTPENGINE_PORTS = (12000, 19999)
ANCHOR_CONCURRENCY = 64
AIM_RATIO = 0.8                 # issue 14: at least 0.8x rtpengine's calls per core
PROFILE_SECONDS = 6.0
COOLDOWN_SECONDS = 3.0          # after an overloaded step, before its midpoint
RTP = struct.Struct("!BBHII")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAYLOAD = bytes([0xFF, 0x7F] * 80)  # 160 octets of G.711 µ-law (quiet)


def log(text: str) -> None:
    print(text, flush=True)


def sdp(port: int) -> str:
    return "\r\n".join([
        "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
        f"m=audio {port} RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv",
    ]) + "\r\n"


def port_of(text: str) -> int:
    for line in text.splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise ValueError(f"no audio m= line in {text!r}")


def _cpu_split() -> tuple[frozenset[int] | None, frozenset[int] | None]:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return frozenset({cpus[-1]}), frozenset({cpus[0]})  # (engine, drivers)


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _pin_all_threads(pid: int, cpus: frozenset[int] | None) -> None:
    if not cpus:
        return
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), cpus)


def process_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, all its threads, from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_times(cpu: int) -> tuple[float, float, float]:
    """(busy, softirq+irq, total) seconds of one CPU from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + values[4]  # idle + iowait
            total = sum(values[:8])       # guest time is already inside user
            return (total - idle) / CLK_TCK, (values[5] + values[6]) / CLK_TCK, total / CLK_TCK
    return 0.0, 0.0, 0.0


# --------------------------------------------------------------------------------------------
# Engines


@dataclass
class EngineUnderTest:
    name: str
    proc: subprocess.Popen[bytes]
    ng: tuple[str, int]
    log_path: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


async def _pings(ng: tuple[str, int]) -> bool:
    async with MediaClient(*ng, timeout=0.3, first_retransmit=0.1) as client:
        with contextlib.suppress(MediaError):
            await client.ping()
            return True
    return False


def _wait_ready(engine: EngineUnderTest, timeout: float = 15.0) -> EngineUnderTest:
    deadline = time.monotonic() + timeout
    while not asyncio.run(_pings(engine.ng)):
        if engine.proc.poll() is not None or time.monotonic() > deadline:
            engine.stop()
            raise RuntimeError(f"{engine.name} did not start: "
                               + engine.log_path.read_text(errors="replace")[-1500:])
    return engine


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Run the builtin engine under cProfile: a wrapper of the harness, not a switch of the engine.
# SIGTERM makes the engine's serve() return, so the profile is written on a clean stop.
_PROFILED = """
import cProfile, sys
from switch.media.__main__ import main
profile = cProfile.Profile()
code = profile.runcall(main, sys.argv[2:])
profile.dump_stats(sys.argv[1])
sys.exit(code)
"""


def start_builtin(workdir: Path, cpus: frozenset[int] | None,
                  profile_to: Path | None = None) -> EngineUnderTest:
    args = ["--listen-ng", "127.0.0.1:0", "--interface", "127.0.0.1",
            "--port-min", str(BUILTIN_PORTS[0]), "--port-max", str(BUILTIN_PORTS[1]),
            "--data-dir", str(workdir / "data"), "--media-timeout", "60"]
    if profile_to is None:
        cmd = [sys.executable, "-m", "switch.media", *args]
    else:
        cmd = [sys.executable, "-c", _PROFILED, str(profile_to), *args]
    log_path = workdir / "builtin.log"
    with log_path.open("wb") as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, cwd=ROOT,
                                stdin=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=5)
        raise RuntimeError("builtin engine exited: " + log_path.read_text()[-1500:])
    ready = json.loads(line)
    host, _, port = ready["ng"].rpartition(":")
    _pin_all_threads(proc.pid, cpus)
    return _wait_ready(EngineUnderTest("builtin", proc, (host, int(port)), log_path))


def start_rtpengine(workdir: Path, cpus: frozenset[int] | None) -> EngineUnderTest | None:
    binary = shutil.which("rtpengine")
    if binary is None:
        return None
    ng_port = _free_udp_port()
    log_path = workdir / "rtpengine.log"
    # --config-file=none: Debian's default config opens fixed CLI/HTTP ports (collisions).
    cmd = [binary, "--config-file=none", "--table=-1", "--interface=127.0.0.1",
           f"--listen-ng=127.0.0.1:{ng_port}",
           "--foreground", "--log-stderr", f"--port-min={RTPENGINE_PORTS[0]}",
           f"--port-max={RTPENGINE_PORTS[1]}",
           "--delete-delay=0", "--log-level=3", "--timeout=120"]
    if cpus:
        taskset = shutil.which("taskset")
        if taskset:  # every thread it ever creates inherits the mask
            cmd = [taskset, "-c", ",".join(str(c) for c in sorted(cpus)), *cmd]
    with log_path.open("wb") as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr,
                                stdin=subprocess.DEVNULL)
    engine = _wait_ready(EngineUnderTest("rtpengine", proc, ("127.0.0.1", ng_port), log_path))
    _pin_all_threads(proc.pid, cpus)
    return engine


# --------------------------------------------------------------------------------------------
# The driver


@dataclass
class CallSockets:
    call_id: str
    caller: socket.socket
    callee: socket.socket


def _open_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def anchor(ng: tuple[str, int], calls: list[CallSockets]) -> None:
    """offer (caller) / answer (callee) per call; connects each socket to its engine port."""
    semaphore = asyncio.Semaphore(ANCHOR_CONCURRENCY)
    async with MediaClient(*ng, timeout=10.0) as client:
        async def one(call: CallSockets) -> None:
            async with semaphore:
                offer = await client.offer(call.call_id, "caller",
                                           sdp(call.caller.getsockname()[1]))
                answer = await client.answer(call.call_id, "caller", "callee",
                                             sdp(call.callee.getsockname()[1]))
            call.caller.connect(("127.0.0.1", port_of(answer)))  # caller -> its leg
            call.callee.connect(("127.0.0.1", port_of(offer)))   # callee -> its leg
        await asyncio.gather(*(one(c) for c in calls))


async def delete_all(ng: tuple[str, int], calls: list[CallSockets]) -> int:
    semaphore = asyncio.Semaphore(ANCHOR_CONCURRENCY)
    failures = 0
    async with MediaClient(*ng, timeout=10.0) as client:
        async def one(call: CallSockets) -> None:
            nonlocal failures
            async with semaphore:
                try:
                    await client.delete(call.call_id)
                except MediaError:
                    failures += 1
        await asyncio.gather(*(one(c) for c in calls))
    return failures


def drive(sockets: list[socket.socket], start_at: float, seconds: float,
          cpus: frozenset[int] | None, out: Connection) -> None:
    """One driver process: every 20 ms one packet on each socket; count every arrival."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    poller = select.epoll()
    by_fd: dict[int, socket.socket] = {}
    for sock in sockets:
        by_fd[sock.fileno()] = sock
        poller.register(sock.fileno(), select.EPOLLIN)
    packets = [bytearray(RTP.size + len(PAYLOAD)) for _ in sockets]
    ssrcs = [random.getrandbits(32) for _ in sockets]
    for packet in packets:
        packet[RTP.size:] = PAYLOAD
    buffer = bytearray(2048)
    sent = received = send_errors = late_ticks = 0
    seq, stamp = random.randrange(1 << 16), random.randrange(1 << 32)
    times0 = os.times()
    while time.monotonic() < start_at:
        time.sleep(min(0.01, max(0.0, start_at - time.monotonic())))
    end = start_at + seconds
    next_tick = start_at
    while True:
        now = time.monotonic()
        if now >= next_tick:
            if next_tick >= end:
                break
            if now - next_tick > PTIME:
                late_ticks += 1
            seq = (seq + 1) & 0xFFFF
            stamp = (stamp + 160) & 0xFFFFFFFF
            for sock, packet, ssrc in zip(sockets, packets, ssrcs, strict=True):
                RTP.pack_into(packet, 0, 0x80, 0, seq, stamp, ssrc)
                try:
                    sock.send(packet)
                    sent += 1
                except OSError:  # ICMP refusal from a closed port or a full buffer
                    send_errors += 1
            next_tick += PTIME
            continue
        for fd, _ in poller.poll(next_tick - now):
            with contextlib.suppress(OSError):
                by_fd[fd].recv_into(buffer)
                received += 1
    # Drain what is still in flight: stop after 0.3 s of quiet (at most 2 s).
    quiet_until, hard_end = time.monotonic() + 0.3, time.monotonic() + 2.0
    while time.monotonic() < min(quiet_until, hard_end):
        events = poller.poll(0.05)
        if events:
            quiet_until = time.monotonic() + 0.3
        for fd, _ in events:
            with contextlib.suppress(OSError):
                by_fd[fd].recv_into(buffer)
                received += 1
    times1 = os.times()
    out.send({"sent": sent, "received": received, "send_errors": send_errors,
              "late_ticks": late_ticks, "user_seconds": times1.user - times0.user,
              "system_seconds": times1.system - times0.system})
    out.close()


@dataclass
class Step:
    calls: int
    ok: bool
    sent: int
    received: int
    loss_percent: float
    engine_cpu_percent: float
    engine_system_percent: float  # of which in the kernel (recvfrom/sendto, epoll)
    cpu_per_call_percent: float
    core_busy_percent: float    # the engine's CPU from /proc/stat: anything that ran there
    core_softirq_percent: float  # of which softirq/irq (loopback delivery, not in the PID)
    driver_cpu_percent: float
    driver_system_percent: float  # of which in the kernel (sends deliver on loopback)
    send_rate: float            # packets/s the drivers achieved (target: 100 x calls)
    driver_limited: bool
    late_ticks: int
    send_errors: int
    udp_rcvbuf_drops: int       # system-wide, over the step (other tests may add to it)
    anchor_seconds: float
    delete_failures: int


def run_step(engine: EngineUnderTest, calls: int, engine_cpus: frozenset[int] | None,
             driver_cpus: frozenset[int] | None, seconds: float = STEP_SECONDS) -> Step:
    tag = f"{engine.name}-{calls}-{random.getrandbits(24):06x}"
    socks = [CallSockets(f"{tag}-{i}", _open_socket(), _open_socket()) for i in range(calls)]
    try:
        started = time.monotonic()
        asyncio.run(anchor(engine.ng, socks))
        anchor_seconds = time.monotonic() - started
        flat = [s for call in socks for s in (call.caller, call.callee)]
        drivers = max(1, min(DRIVERS, calls // 25))
        shares = [flat[i::drivers] for i in range(drivers)]
        context = multiprocessing.get_context("fork")
        start_at = time.monotonic() + 0.5
        procs, pipes = [], []
        for share in shares:
            receiver, sender = context.Pipe(duplex=False)
            proc = context.Process(target=drive, args=(share, start_at, seconds, driver_cpus,
                                                       sender), daemon=True)
            proc.start()
            sender.close()
            procs.append(proc)
            pipes.append(receiver)
        while time.monotonic() < start_at:
            time.sleep(0.01)
        pids = [engine.proc.pid]
        core = min(engine_cpus) if engine_cpus else 0
        cpu0, drops0, t0 = process_times(pids[0]), udp_receive_buffer_errors(), time.monotonic()
        core0 = cpu_times(core)
        time.sleep(seconds)
        cpu1, t1, core1 = process_times(pids[0]), time.monotonic(), cpu_times(core)
        reports = []
        for proc, pipe in zip(procs, pipes, strict=True):
            if pipe.poll(seconds + 15):
                reports.append(pipe.recv())
            proc.join(timeout=5)
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.join(timeout=5)
        drops = udp_receive_buffer_errors() - drops0
        if len(reports) != len(procs):
            raise RuntimeError(f"{len(procs) - len(reports)} driver process(es) did not report")
        delete_failures = asyncio.run(delete_all(engine.ng, socks))
    finally:
        for call in socks:
            call.caller.close()
            call.callee.close()
    sent = sum(r["sent"] for r in reports)
    received = sum(r["received"] for r in reports)
    loss = 100.0 * (sent - received) / sent if sent else 100.0
    engine_cpu = 100.0 * (sum(cpu1) - sum(cpu0)) / (t1 - t0)
    engine_system = 100.0 * (cpu1[1] - cpu0[1]) / (t1 - t0)
    send_rate = sent / seconds
    driver_limited = send_rate < SEND_FRACTION * 100 * calls
    ok = (loss <= LOSS_LIMIT_PERCENT and engine_cpu <= CPU_LIMIT_PERCENT
          and not driver_limited and engine.proc.poll() is None)
    core_total = (core1[2] - core0[2]) or 1.0
    return Step(calls, ok, sent, received, round(loss, 4), round(engine_cpu, 1),
                round(engine_system, 1),
                round(engine_cpu / calls, 4),
                round(100.0 * (core1[0] - core0[0]) / core_total, 1),
                round(100.0 * (core1[1] - core0[1]) / core_total, 1),
                round(100.0 * sum(r["user_seconds"] + r["system_seconds"] for r in reports)
                      / seconds, 1),
                round(100.0 * sum(r["system_seconds"] for r in reports) / seconds, 1),
                round(send_rate, 1), driver_limited, sum(r["late_ticks"] for r in reports),
                sum(r["send_errors"] for r in reports), drops, round(anchor_seconds, 2),
                delete_failures)


def ladders(engines: list[EngineUnderTest], engine_cpus: frozenset[int] | None,
            driver_cpus: frozenset[int] | None) -> dict[str, dict[str, Any]]:
    """Every engine climbs the same ladder, steps interleaved (same N back to back), so the
    machine's other load falls on both alike; an engine leaves at its first failing step."""
    steps: dict[str, list[Step]] = {e.name: [] for e in engines}
    best: dict[str, Step | None] = {e.name: None for e in engines}
    climbing = list(engines)
    for calls in LADDER:
        for engine in list(climbing):
            step = run_step(engine, calls, engine_cpus, driver_cpus)
            steps[engine.name].append(step)
            log(f"   {engine.name} {calls} calls -> ok={step.ok} loss={step.loss_percent}% "
                f"engine cpu={step.engine_cpu_percent}% core busy={step.core_busy_percent}% "
                f"driver cpu={step.driver_cpu_percent}% send rate={step.send_rate:.0f}/s "
                f"drops={step.udp_rcvbuf_drops}")
            time.sleep(1.0)  # let the deleted calls' ports settle
            if step.ok:
                best[engine.name] = step
                continue
            climbing.remove(engine)
            top = best[engine.name]
            low = top.calls if top else 0
            mid = (low + calls) // 2 // 50 * 50
            if mid > low:  # one midpoint between the last pass and the first failure
                time.sleep(COOLDOWN_SECONDS)
                extra = run_step(engine, mid, engine_cpus, driver_cpus)
                steps[engine.name].append(extra)
                log(f"   {engine.name} {mid} calls -> ok={extra.ok} "
                    f"loss={extra.loss_percent}% engine cpu={extra.engine_cpu_percent}%")
                if extra.ok:
                    best[engine.name] = extra
                time.sleep(1.0)
        if not climbing:
            break
    out: dict[str, dict[str, Any]] = {}
    for engine in engines:
        done, top = steps[engine.name], best[engine.name]
        out[engine.name] = {
            "max_calls": top.calls if top else 0, "best": asdict(top) if top else None,
            "capped_by_ladder": bool(done and done[-1].ok and done[-1].calls == LADDER[-1]),
            "stopped_by": _stopped_by(failing[0]) if (failing := [s for s in done if not s.ok])
            else None,
            "alive_after": engine.proc.poll() is None,
            "steps": [asdict(s) for s in done]}
    return out


def _stopped_by(step: Step) -> str:
    reasons = []
    if step.driver_limited:
        reasons.append("driver could not keep the send rate")
    if step.loss_percent > LOSS_LIMIT_PERCENT:
        reasons.append(f"loss {step.loss_percent} %")
    if step.engine_cpu_percent > CPU_LIMIT_PERCENT:
        reasons.append(f"engine CPU {step.engine_cpu_percent} %")
    return ", ".join(reasons) or "engine exited"


def profile_builtin(workdir: Path, calls: int, engine_cpus: frozenset[int] | None,
                    driver_cpus: frozenset[int] | None) -> dict[str, Any]:
    """One step with the builtin engine under cProfile; the top functions by own time."""
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    stats_path = workdir / "engine.prof"
    engine = start_builtin(workdir, engine_cpus, profile_to=stats_path)
    try:
        step = run_step(engine, calls, engine_cpus, driver_cpus, seconds=PROFILE_SECONDS)
    finally:
        engine.stop()
    if not stats_path.exists():
        return {"calls": calls, "error": "no profile written"}
    stats = pstats.Stats(str(stats_path), stream=io.StringIO())
    entries = []
    total = 0.0
    for (filename, line, function), (_cc, ncalls, tottime, cumtime, _callers) in \
            stats.stats.items():  # type: ignore[attr-defined]
        total += tottime
        entries.append((tottime, cumtime, ncalls, f"{Path(filename).name}:{line}({function})"))
    entries.sort(reverse=True)
    top = [{"function": name, "own_seconds": round(own, 3), "cum_seconds": round(cum, 3),
            "calls": n, "own_percent": round(100 * own / total, 1) if total else 0.0}
           for own, cum, n, name in entries[:15]]
    return {"calls": calls, "seconds": PROFILE_SECONDS, "packets": step.received,
            "profiled_cpu_percent": step.engine_cpu_percent, "total_own_seconds":
            round(total, 3), "top": top,
            "perf": perf_builtin(workdir / "perf", calls, engine_cpus, driver_cpus)}


def _perf_report(binary: str, data: Path, sort: str, limit: int) -> list[dict[str, Any]]:
    report = subprocess.run([binary, "report", "-i", str(data), "--stdio", "--sort", sort,
                             "--percent-limit", "0.5"], capture_output=True, text=True,
                            timeout=60)
    rows = []
    for line in report.stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0].endswith("%") and not line.startswith("#"):
            with contextlib.suppress(ValueError):
                rows.append({"percent": float(parts[0].rstrip("%")), sort: parts[1].strip()})
    return rows[:limit]


def perf_builtin(workdir: Path, calls: int, engine_cpus: frozenset[int] | None,
                 driver_cpus: frozenset[int] | None) -> dict[str, Any]:
    """The unprofiled engine sampled by ``perf record`` (no Python overhead added): where the
    CPU goes by binary (interpreter, uvloop, kernel, libc) and by symbol."""
    binary = shutil.which("perf")
    if binary is None:
        return {"skipped": "perf not installed"}
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data").mkdir(exist_ok=True)
    data = workdir / "perf.data"
    engine = start_builtin(workdir, engine_cpus)
    recorder: list[subprocess.Popen[bytes]] = []

    def record() -> None:  # once the calls are anchored and the packets flow
        recorder.append(subprocess.Popen(
            [binary, "record", "-F", "499", "-p", str(engine.proc.pid), "-o", str(data),
             "--", "sleep", str(PROFILE_SECONDS - 2)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL))

    timer = threading.Timer(1.5, record)
    timer.start()
    try:
        run_step(engine, calls, engine_cpus, driver_cpus, seconds=PROFILE_SECONDS)
    finally:
        timer.cancel()
        for proc in recorder:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        engine.stop()
    if not data.exists() or not recorder or recorder[0].returncode != 0:
        return {"skipped": "perf record failed (perf_event_paranoid or no PMU access)"}
    return {"calls": calls, "by_binary": _perf_report(binary, data, "dso", 12),
            "by_symbol": _perf_report(binary, data, "sym", 20)}


# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _engine(starter: Any, workdir: Path) -> Iterator[EngineUnderTest | None]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data").mkdir(exist_ok=True)
    engine = starter(workdir)
    try:
        yield engine
    finally:
        if engine is not None:
            engine.stop()


def main() -> dict[str, Any]:
    _raise_fd_limit()
    engine_cpus, driver_cpus = _cpu_split()
    results: dict[str, Any] = {
        "method": {"step_seconds": STEP_SECONDS, "ladder": LADDER,
                   "loss_limit_percent": LOSS_LIMIT_PERCENT,
                   "cpu_limit_percent": CPU_LIMIT_PERCENT, "drivers": DRIVERS,
                   "engine_cpus": sorted(engine_cpus or []),
                   "driver_cpus": sorted(driver_cpus or []), "codec": "PCMU 20 ms",
                   "packets_per_call_per_second": 100, "load_avg_start": os.getloadavg()},
        "aim_ratio": AIM_RATIO, "engines": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp, \
            contextlib.ExitStack() as stack:
        engines: list[EngineUnderTest] = []
        for name, starter in [("builtin", lambda d: start_builtin(d, engine_cpus)),
                              ("rtpengine", lambda d: start_rtpengine(d, engine_cpus))]:
            engine = stack.enter_context(_engine(starter, Path(tmp) / name))
            if engine is None:
                results["engines"][name] = {"skipped": "not installed"}
            else:
                engines.append(engine)
        results["engines"].update(ladders(engines, engine_cpus, driver_cpus))
        ours = results["engines"]["builtin"]
        if os.environ.get("BENCH_MEDIA_PROFILE", "1") != "0" and ours.get("max_calls"):
            calls = max(50, int(ours["max_calls"] * 0.75))
            log(f"   builtin under cProfile at {calls} calls")
            results["profile"] = profile_builtin(Path(tmp) / "profile", calls, engine_cpus,
                                                 driver_cpus)
    peer = results["engines"].get("rtpengine", {})
    if ours.get("max_calls") and peer.get("max_calls"):
        results["ratio"] = round(ours["max_calls"] / peer["max_calls"], 2)
    results["method"]["load_avg_end"] = os.getloadavg()
    return results


def _same_load(results: dict[str, Any]) -> tuple[int, float, float] | None:
    """(calls, builtin CPU %, rtpengine CPU %) at the highest N both engines passed."""
    def passing(name: str) -> dict[int, float]:
        return {s["calls"]: s["engine_cpu_percent"]
                for s in results["engines"].get(name, {}).get("steps", []) if s["ok"]}
    ours, peer = passing("builtin"), passing("rtpengine")
    common = sorted(set(ours) & set(peer))
    if not common or not peer[common[-1]]:
        return None
    return common[-1], ours[common[-1]], peer[common[-1]]


def summarize(record: dict[str, Any]) -> str:
    results = record["results"]
    method = results["method"]
    lines = [
        "Simultaneous G.711 calls (PCMU, 20 ms, 100 packets/s per call, both directions) "
        f"relayed with at most {method['loss_limit_percent']} % loss, engine pinned to CPU "
        f"{method['engine_cpus']}, {method['drivers']} driver processes on "
        f"{method['driver_cpus']}, {method['step_seconds']:g} s per step, the same "
        "`MediaClient` offer/answer for both engines. Peer: **rtpengine** (Debian, userspace "
        f"`--table=-1`, every thread pinned to the same CPU). Load average at start "
        f"{method['load_avg_start'][0]:.2f}, at end {method['load_avg_end'][0]:.2f}.",
        "",
        "| engine | max calls | packets/s | loss % | engine CPU | CPU per call | stopped by |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("builtin", "rtpengine"):
        entry = results["engines"].get(name, {})
        if "skipped" in entry or not entry:
            lines.append(f"| {name} | n/a ({entry.get('skipped', 'not run')}) | | | | | |")
            continue
        best = entry.get("best") or {}
        capped = " (ladder top)" if entry.get("capped_by_ladder") else ""
        lines.append(f"| {name} | {entry['max_calls']}{capped} | "
                     f"{best.get('send_rate', 0):,.0f} | {best.get('loss_percent', '')} | "
                     f"{best.get('engine_cpu_percent', '')} % | "
                     f"{best.get('cpu_per_call_percent', '')} % | "
                     f"{entry.get('stopped_by') or ''} |")
    if "ratio" in results:
        verdict = "meets" if results["ratio"] >= results["aim_ratio"] else "misses"
        lines += ["", f"builtin / rtpengine max calls: **{results['ratio']:.2f}x** "
                  f"({verdict} the {results['aim_ratio']}x aim)."]
    same = _same_load(results)
    if same:
        calls, ours, peer = same
        lines += ["", f"At the same load ({calls} calls, the highest step both passed) the "
                  f"builtin engine used {ours} % of its core and rtpengine {peer} %: "
                  f"**{ours / peer:.2f}x** the CPU per call. rtpengine's CPU per call falls as "
                  "the load rises (more packets per poll), so its maximum moves more from run "
                  "to run than the per-call figure does."]
    lines += ["", "Every step (packets sent/received, engine and driver CPU, system-wide "
              "receive-buffer drops) is in `bench/results/media.json`.", ""]
    lines.append("| engine | calls | sent | received | loss % | engine CPU | of which kernel "
                 "| driver CPU |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for name in ("builtin", "rtpengine"):
        for step in results["engines"].get(name, {}).get("steps", []):
            mark = "" if step["ok"] else " ✗"
            lines.append(f"| {name} | {step['calls']}{mark} | {step['sent']:,} | "
                         f"{step['received']:,} | {step['loss_percent']} | "
                         f"{step['engine_cpu_percent']} % | "
                         f"{step.get('engine_system_percent', '')} % | "
                         f"{step['driver_cpu_percent']} % |")
    profile = results.get("profile")
    if profile and "top" in profile:
        lines += ["", f"Where the builtin engine's time goes (cProfile, {profile['calls']} calls, "
                  f"{profile['seconds']:g} s; own time, profiler overhead included):", "",
                  "| function | own s | calls | share |", "|---|---|---|---|"]
        for entry in profile["top"][:10]:
            lines.append(f"| `{entry['function']}` | {entry['own_seconds']} | "
                         f"{entry['calls']:,} | {entry['own_percent']} % |")
    perf = (profile or {}).get("perf") or {}
    if perf.get("by_binary"):
        lines += ["", f"The same load on the unprofiled engine, sampled by `perf record` "
                  f"({perf['calls']} calls): share of the engine's CPU samples by binary, then "
                  "the top symbols.", "",
                  "| binary | share |", "|---|---|"]
        for row in perf["by_binary"][:8]:
            lines.append(f"| `{row['dso']}` | {row['percent']} % |")
        lines += ["", "| symbol | share |", "|---|---|"]
        for row in perf.get("by_symbol", [])[:12]:
            lines.append(f"| `{row['sym']}` | {row['percent']} % |")
    return "\n".join(lines) + "\n"
