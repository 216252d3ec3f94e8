"""IVR capacity: simultaneous SIPp callers in the IVR (prompts playing, RFC 4733 digits heard,
then music on hold in the queue) and call setup into the IVR per second, on one core, with the
node's and the media engine's CPU measured separately.

Method
- The node (``switchboard run``) and its media engine are pinned to one CPU (``taskset``: the
  engine is the node's child and inherits it), SIPp to the other. The tenant is the
  integration tests' (``tests/integration/calls_support.calls_config``): number 300 -> a tone
  prompt (1.5 s), then a TTS menu, digit 1 -> queue ``support`` (music on hold).
- One SIPp call = ``loadtest/scenarios/ivr_caller.xml``: INVITE with G.711 A-law, the
  package's g711a.pcap as the caller's audio, digit 1 as RFC 4733 after 1.5 s, hold ``-d``,
  BYE. The rate limit is raised for the one SIPp source (docs/loadtest.md).
- Concurrency: for each step C, C calls at ``RAMP_RATE`` calls/s, each held long enough that
  all C overlap for ``PLATEAU_SECONDS``; CPU of the node PID and of the engine PID over the
  plateau (utime+stime from /proc), and ``switchboard ctl --json media`` read mid-plateau must
  show C calls. A step passes with SIPp exit 0, 0 failed calls, C successful calls and C calls
  seen by the node; the ladder stops at the first failing step.
- Setup rate: ``rate x CPS_SECONDS`` calls with a 1 s hold; passes with 0 failures, at least
  85 % of the rate achieved (as bench_sipp) and the node's own INVITE-to-answer time (its
  "answered in" log line) at p99 <= 500 ms, SIPp's INVITE retransmission interval: beyond it
  the node is queueing, not keeping up. Run first; the concurrency steps are placed at 80 %
  of the rate that passed.
- Peer: no other IVR is installed here (Asterisk/FreeSWITCH are not in the image), so the
  same node runs a second time with ``media: rtpengine://`` (rtpengine in userspace, pinned to
  the same CPU) playing the same prompts and detecting the same digits: a peer for the media
  half only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.bench_media import (
    RTPENGINE_PORTS,
    EngineUnderTest,
    _free_udp_port,
    _wait_ready,
    cpu_times,
)
from bench.bench_sipp import _read_line, cpu_seconds, process_tree, udp_receive_buffer_errors
from loadtest.sipp import SCENARIOS, SippRun, free_local_port, run_sipp

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = [250, 500, 1000, 1500]
RAMP_RATE = 100.0                # calls/s while a concurrency step fills up (at most)
PLATEAU_SECONDS = 6.0
CPS_RATES = [25, 50, 100, 150, 200]
RAMP_SHARE = 0.8                 # concurrency steps fill at this share of the best setup rate
CPS_SECONDS = 4.0
CPS_HOLD_MS = 1000
ACHIEVED_FRACTION = 0.85
SETUP_P99_MS = 500.0             # slower answers mean SIPp retransmits the INVITE (500 ms)
COOLDOWN_SECONDS = 4.0
AIM_CALLS = 500
NODE_PORTS = (4000, 11999)       # the builtin engine's RTP range (below the ephemeral range)
DIGIT = "1"


def log(text: str) -> None:
    print(text, flush=True)


def _cpu_split() -> tuple[frozenset[int] | None, frozenset[int] | None]:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return frozenset({cpus[-1]}), frozenset({cpus[0]})  # (node + engine, SIPp)


def _taskset(cpus: frozenset[int] | None) -> list[str]:
    taskset = shutil.which("taskset")
    if not cpus or taskset is None:
        return []
    return [taskset, "-c", ",".join(str(c) for c in sorted(cpus))]


# --------------------------------------------------------------------------------------------
# The node (and rtpengine for the peer run)


@dataclass
class Node:
    name: str
    proc: subprocess.Popen[bytes]
    udp: str                     # HOST:PORT
    http: str
    workdir: Path
    engine_pid: int | None       # the builtin engine (child) or rtpengine

    def stderr(self) -> str:
        return (self.workdir / "node.stderr").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def node_config(engine: str, events: str) -> dict[str, Any]:
    from tests.integration.calls_support import calls_config

    config = calls_config()
    config["security"].update({"rate_limit": {"rate": 1_000_000, "burst": 1_000_000}})
    config["registrar"] = {"qualify_interval": 3600.0}
    config["media"] = {"engine": engine, "interface": "127.0.0.1", "port_min": NODE_PORTS[0],
                       "port_max": NODE_PORTS[1], "media_timeout": 60.0, "events": events}
    return config


def start_node(workdir: Path, cpus: frozenset[int] | None, engine: str = "builtin",
               events: str = "127.0.0.1:0", engine_pid: int | None = None) -> Node:
    from tests.integration.calls_support import write_tone

    data = workdir / "data"
    write_tone(data / "prompts" / "tone1000.wav")
    path = workdir / "switchboard.yaml"
    path.write_text(yaml.safe_dump(node_config(engine, events), sort_keys=False))
    script = Path(sys.executable).parent / "switchboard"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "switch.cli"]
    command = [*_taskset(cpus), *command, "run", "--config", str(path), "--sip",
               "udp:127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", str(data)]
    with (workdir / "node.stderr").open("wb") as stderr:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=stderr, cwd=ROOT)
    try:
        ready = json.loads(_read_line(proc, 30))
    except Exception:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        raise
    udp = next(s for s in ready["sip"] if s.startswith("udp:")).removeprefix("udp:")
    node = Node(engine if engine == "builtin" else "rtpengine", proc, udp, ready["http"],
                workdir, engine_pid)
    if engine == "builtin":
        health = httpx.get(node.http + "/healthz", timeout=10).json()
        node.engine_pid = (health.get("media") or {}).get("pid")
        if not node.engine_pid:  # the engine is the node's only child process
            children = [p for p in process_tree(proc.pid) if p != proc.pid]
            node.engine_pid = children[0] if children else None
    return node


def start_rtpengine(workdir: Path, cpus: frozenset[int] | None,
                    events_port: int) -> EngineUnderTest | None:
    binary = shutil.which("rtpengine")
    if binary is None:
        return None
    ng_port = _free_udp_port()
    log_path = workdir / "rtpengine.log"
    cmd = [*_taskset(cpus), binary, "--table=-1", "--interface=127.0.0.1",
           f"--listen-ng=127.0.0.1:{ng_port}", "--foreground", "--log-stderr",
           f"--port-min={RTPENGINE_PORTS[0]}", f"--port-max={RTPENGINE_PORTS[1]}",
           f"--dtmf-log-dest=127.0.0.1:{events_port}", "--delete-delay=0", "--log-level=3",
           "--timeout=120"]
    with log_path.open("wb") as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr,
                                stdin=subprocess.DEVNULL)
    return _wait_ready(EngineUnderTest("rtpengine", proc, ("127.0.0.1", ng_port), log_path))


def ctl_json(node: Node, action: str) -> dict[str, Any]:
    """``switchboard ctl --json ACTION`` against the node, as an operator would."""
    script = Path(sys.executable).parent / "switchboard"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "switch.cli"]
    result = subprocess.run([*command, "ctl", "--url", node.http, "--json", action],
                            capture_output=True, text=True, timeout=20, cwd=ROOT)
    if result.returncode != 0:
        return {"error": result.stderr[-500:]}
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def setup_times(node: Node) -> list[float]:
    """The node's "answered in X s" figures (INVITE to 200 OK), in log order."""
    return [float(m.group(1)) for line in node.stderr().splitlines()
            if "switch.calls.events: " in line
            and (m := re.search(r" answered in ([\d.]+) s", line))]


def answered(node: Node) -> int:
    return len(setup_times(node))


def _setup_stats(times: list[float]) -> dict[str, float]:
    if not times:
        return {}
    ordered = sorted(times)
    return {"p50_ms": round(1000 * ordered[len(ordered) // 2], 1),
            "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
            "max_ms": round(1000 * ordered[-1], 1)}


def digits(node: Node) -> int:
    return sum(1 for line in node.stderr().splitlines()
               if "switch.calls.events: " in line and f" digit {DIGIT} (rfc4733)" in line)


# --------------------------------------------------------------------------------------------
# Steps


@dataclass
class Step:
    kind: str                    # "concurrent" or "cps"
    target: int                  # calls at once, or calls per second
    ok: bool
    successful: int
    failed: int
    achieved_cps: float
    node_seen_calls: int | None  # `ctl media` mid-plateau (concurrency steps)
    answered: int                # "answered in" lines the node logged in the step
    digits: int                  # digit lines the node logged in the step
    node_cpu_percent: float
    engine_cpu_percent: float
    cpu_window_seconds: float
    udp_rcvbuf_drops: int
    seconds: float
    failures: dict[str, int]
    unexpected: dict[str, int]   # status lines / methods of SIPp's unexpected messages
    sipp_core_busy_percent: float  # SIPp's CPU from /proc/stat (anything that ran there)
    setup: dict[str, float]      # the node's INVITE-to-answer times in the step


def _core(cpus: frozenset[int] | None) -> tuple[float, float, float]:
    return cpu_times(min(cpus)) if cpus else (0.0, 0.0, 0.0)


def _busy(before: tuple[float, float, float], after: tuple[float, float, float]) -> float:
    total = after[2] - before[2]
    return round(100.0 * (after[0] - before[0]) / total, 1) if total > 0 else 0.0


def _unexpected(errors: str) -> dict[str, int]:
    """What SIPp's error file says it received unexpectedly (``SIP/2.0 503 ...``, ``BYE``)."""
    found: dict[str, int] = {}
    for match in re.finditer(r"^\s*(SIP/2\.0 \d{3}[^\r\n]*|[A-Z]+ sip:)", errors, re.MULTILINE):
        key = match.group(1).strip()
        found[key] = found.get(key, 0) + 1
    return found


def _scenario(workdir: Path) -> Path:
    path = workdir / f"ivr_caller_{DIGIT}.xml"
    path.write_text((SCENARIOS / "ivr_caller.xml").read_text().replace(
        "dtmf_2833_3.pcap", f"dtmf_2833_{DIGIT}.pcap"))
    return path


def _sipp(node: Node, scenario: Path, calls: int, rate: float, hold_ms: int, limit: int,
          time_limit: float, cpus: frozenset[int] | None, workdir: Path) -> Any:
    return run_sipp(SippRun(
        target=node.udp, scenario=scenario, calls=calls, rate=rate, transport="udp",
        max_concurrent=limit, time_limit=time_limit, cpus=cpus,
        extra=("-s", "300", "-d", str(hold_ms), "-mi", "127.0.0.1",
               "-mp", str(free_local_port("127.0.0.1")))), workdir=workdir)


def concurrency_step(node: Node, calls: int, scenario: Path, cpus: frozenset[int] | None,
                     workdir: Path, ramp_rate: float) -> Step:
    ramp = calls / ramp_rate
    # Every call outlives the ramp, so all of them overlap for the plateau.
    hold_ms = int((ramp + PLATEAU_SECONDS + 1.0) * 1000)
    pids = [node.proc.pid] + ([node.engine_pid] if node.engine_pid else [])
    answered0, digits0, drops0 = answered(node), digits(node), udp_receive_buffer_errors()
    outcome: dict[str, Any] = {}
    time_limit = ramp + hold_ms / 1000 + 30  # the last call starts at `ramp` and holds

    def run() -> None:
        outcome["result"] = _sipp(node, scenario, calls, ramp_rate, hold_ms, calls + 10,
                                  time_limit, cpus, workdir)

    started, sipp0 = time.monotonic(), _core(cpus)
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    time.sleep(ramp + 2.5)  # filled (plus the prompt and the digit of the last callers)
    node0, engine0 = cpu_seconds(pids[:1]), cpu_seconds(pids[1:])
    window0 = time.monotonic()
    seen = ctl_json(node, "media").get("calls")
    time.sleep(max(1.0, PLATEAU_SECONDS - 3.0))
    window = time.monotonic() - window0
    node_cpu, engine_cpu = cpu_seconds(pids[:1]) - node0, cpu_seconds(pids[1:]) - engine0
    worker.join(timeout=time_limit + 30)
    result = outcome.get("result")
    elapsed = time.monotonic() - started
    got_answered, got_digits = answered(node) - answered0, digits(node) - digits0
    successful = result.successful if result else 0
    failed = result.failed if result else calls
    ok = bool(result and result.ok and successful == calls and seen == calls
              and got_answered == calls)
    return Step("concurrent", calls, ok, successful, failed,
                round(result.rate, 1) if result else 0.0,
                seen if isinstance(seen, int) else None, got_answered, got_digits,
                round(100 * node_cpu / window, 1), round(100 * engine_cpu / window, 1),
                round(window, 2), udp_receive_buffer_errors() - drops0, round(elapsed, 1),
                result.failures if result else {"no result": 1},
                _unexpected(result.errors if result else ""), _busy(sipp0, _core(cpus)),
                _setup_stats(setup_times(node)[answered0:]))


def cps_step(node: Node, rate: int, scenario: Path, cpus: frozenset[int] | None,
             workdir: Path) -> Step:
    calls = int(rate * CPS_SECONDS)
    pids = [node.proc.pid] + ([node.engine_pid] if node.engine_pid else [])
    answered0, digits0, drops0 = answered(node), digits(node), udp_receive_buffer_errors()
    outcome: dict[str, Any] = {}

    def run() -> None:
        outcome["result"] = _sipp(node, scenario, calls, rate, CPS_HOLD_MS,
                                  max(1000, rate * 10), CPS_SECONDS * 3 + 20, cpus, workdir)

    started, sipp0 = time.monotonic(), _core(cpus)
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    # CPU while INVITEs arrive (not the tail of hang-ups): from 1 s in to the last INVITE.
    time.sleep(1.0)
    node0, engine0, window0 = cpu_seconds(pids[:1]), cpu_seconds(pids[1:]), time.monotonic()
    time.sleep(max(1.0, CPS_SECONDS - 1.0))
    window = time.monotonic() - window0
    node_cpu, engine_cpu = cpu_seconds(pids[:1]) - node0, cpu_seconds(pids[1:]) - engine0
    worker.join(timeout=CPS_SECONDS * 3 + 50)
    elapsed = time.monotonic() - started
    result = outcome.get("result")
    got_answered, got_digits = answered(node) - answered0, digits(node) - digits0
    successful = result.successful if result else 0
    # SIPp's run lasts from the first INVITE to the last BYE; each call lasts ~2.7 s here,
    # so the setup rate is the calls over the run less one call's length.
    setup_window = max(1.0, (result.elapsed if result else elapsed)
                       - (CPS_HOLD_MS / 1000 + 1.7))
    achieved = successful / setup_window
    setup = _setup_stats(setup_times(node)[answered0:])
    ok = bool(result and result.ok and successful == calls and got_answered == calls
              and achieved >= ACHIEVED_FRACTION * rate
              and setup.get("p99_ms", float("inf")) <= SETUP_P99_MS)
    return Step("cps", rate, ok, successful, result.failed if result else calls,
                round(achieved, 1), None, got_answered, got_digits,
                round(100 * node_cpu / window, 1), round(100 * engine_cpu / window, 1),
                round(window, 2), udp_receive_buffer_errors() - drops0, round(elapsed, 1),
                result.failures if result else {"no result": 1},
                _unexpected(result.errors if result else ""), _busy(sipp0, _core(cpus)), setup)


def _settle(node: Node, timeout: float = 20.0) -> int:
    """Wait (bounded) until the node holds no calls; returns what is left."""
    deadline = time.monotonic() + timeout
    left = -1
    while time.monotonic() < deadline:
        left = ctl_json(node, "media").get("calls", -1)
        if left == 0:
            return 0
        time.sleep(1.0)
    return left


def ladder(node: Node, kind: str, targets: list[int], scenario: Path,
           cpus: frozenset[int] | None, workdir: Path, ramp_rate: float = RAMP_RATE
           ) -> dict[str, Any]:
    steps: list[Step] = []
    best: Step | None = None
    for target in targets:
        step_dir = workdir / f"{kind}-{target}"
        step = (concurrency_step(node, target, scenario, cpus, step_dir, ramp_rate)
                if kind == "concurrent" else cps_step(node, target, scenario, cpus, step_dir))
        steps.append(step)
        log(f"   {node.name} {kind} {target} -> ok={step.ok} successful={step.successful} "
            f"failed={step.failed} seen={step.node_seen_calls} answered={step.answered} "
            f"digits={step.digits} node cpu={step.node_cpu_percent}% "
            f"engine cpu={step.engine_cpu_percent}% achieved={step.achieved_cps}/s "
            f"sipp core={step.sipp_core_busy_percent}% unexpected={step.unexpected} "
            f"setup={step.setup}")
        left = _settle(node)
        if step.ok and left == 0 and node.proc.poll() is None:
            best = step
            time.sleep(1.0)
            continue
        low = best.target if best else 0
        mid = (low + target) // 2 // 25 * 25
        if mid > low and left == 0 and node.proc.poll() is None:
            # One midpoint, after the overload drained (as bench_sipp).
            time.sleep(COOLDOWN_SECONDS)
            extra = (concurrency_step(node, mid, scenario, cpus, workdir / f"{kind}-{mid}",
                                      ramp_rate)
                     if kind == "concurrent" else cps_step(node, mid, scenario, cpus,
                                                          workdir / f"{kind}-{mid}"))
            steps.append(extra)
            log(f"   {node.name} {kind} {mid} -> ok={extra.ok} failed={extra.failed} "
                f"node cpu={extra.node_cpu_percent}% engine cpu={extra.engine_cpu_percent}%")
            if _settle(node) == 0 and extra.ok:
                best = extra
        break
    time.sleep(COOLDOWN_SECONDS)
    return {"best": best.target if best else 0, "best_step": asdict(best) if best else None,
            "capped_by_ladder": bool(steps and steps[-1].ok and steps[-1].target == targets[-1]),
            "steps": [asdict(s) for s in steps]}


def measure(node: Node, cpus: frozenset[int] | None, workdir: Path) -> dict[str, Any]:
    scenario = _scenario(workdir)
    # Setup rate first: the concurrency steps fill up below the highest rate set up with no
    # failed call (slow answers allowed: that step tests holding calls, not answering fast),
    # at most RAMP_RATE, so a step fails for holding the calls, not for setting them up.
    cps = ladder(node, "cps", CPS_RATES, scenario, cpus, workdir)
    clean = [s["target"] for s in cps["steps"] if s["failed"] == 0
             and s["successful"] == int(s["target"] * CPS_SECONDS)]
    ramp_rate = min(RAMP_RATE, max(10.0, max(clean, default=0) * RAMP_SHARE))
    record: dict[str, Any] = {
        "cps": cps, "ramp_rate": ramp_rate,
        "concurrent": ladder(node, "concurrent", CONCURRENCY, scenario, cpus, workdir,
                             ramp_rate)}
    record["alive_after"] = node.proc.poll() is None
    record["engine_pid_separate"] = node.engine_pid is not None
    record["load_avg_after"] = os.getloadavg()
    return record


def main() -> dict[str, Any]:
    if shutil.which("sipp") is None:
        raise RuntimeError("sipp not installed (apt-get install sip-tester; `make bench` does)")
    sut_cpus, sipp_cpus = _cpu_split()
    results: dict[str, Any] = {
        "method": {"concurrency": CONCURRENCY, "ramp_rate": RAMP_RATE, "ramp_share": RAMP_SHARE,
                   "plateau_seconds": PLATEAU_SECONDS, "cps_rates": CPS_RATES,
                   "cps_seconds": CPS_SECONDS, "cps_hold_ms": CPS_HOLD_MS,
                   "achieved_fraction": ACHIEVED_FRACTION, "digit": DIGIT,
                   "setup_p99_ms": SETUP_P99_MS,
                   "sut_cpus": sorted(sut_cpus or []), "sipp_cpus": sorted(sipp_cpus or []),
                   "scenario": "loadtest/scenarios/ivr_caller.xml",
                   "load_avg_start": os.getloadavg()},
        "aim_calls": AIM_CALLS, "targets": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-ivr-") as tmp:
        work = Path(tmp) / "builtin"
        work.mkdir()
        node = start_node(work, sut_cpus)
        try:
            results["targets"]["builtin"] = measure(node, sipp_cpus, work)
        finally:
            node.stop()
        work = Path(tmp) / "rtpengine"
        work.mkdir()
        events_port = _free_udp_port()
        engine = start_rtpengine(work, sut_cpus, events_port)
        if engine is None:
            results["targets"]["rtpengine"] = {"skipped": "rtpengine not installed"}
        else:
            try:
                node = start_node(work, sut_cpus, f"rtpengine://127.0.0.1:{engine.ng[1]}",
                                  f"127.0.0.1:{events_port}", engine.proc.pid)
                try:
                    results["targets"]["rtpengine"] = measure(node, sipp_cpus, work)
                finally:
                    node.stop()
            finally:
                engine.stop()
    results["method"]["load_avg_end"] = os.getloadavg()
    return results


def summarize(record: dict[str, Any]) -> str:
    results = record["results"]
    method = results["method"]
    lines = [
        "SIPp callers into the IVR (`loadtest/scenarios/ivr_caller.xml`: G.711 A-law, the "
        f"tone prompt then the TTS menu, digit {method['digit']} as RFC 4733, then the queue's "
        f"music on hold), the node and its media engine pinned to CPU {method['sut_cpus']}, "
        f"SIPp on {method['sipp_cpus']}. Concurrency: C calls placed at "
        f"{int(method.get('ramp_share', RAMP_SHARE) * 100)} % of the highest setup rate "
        f"that target passed with no failed call (at most {method['ramp_rate']:g}/s), "
        f"all held together for {method['plateau_seconds']:g} s; a step passes with 0 failed "
        "calls and `switchboard ctl --json media` showing C calls. Setup rate: "
        f"{method['cps_seconds']:g} s at a rate, 1 s hold, 0 failures, "
        f"≥ {int(method['achieved_fraction'] * 100)} % of the rate, and the node's "
        f"INVITE-to-answer p99 ≤ {method.get('setup_p99_ms', SETUP_P99_MS):g} ms. CPU: "
        "utime+stime of the node's PID and of the engine's PID over the plateau (concurrency) "
        "or while the INVITEs arrive (setup rate), 100 % = one core. Load average at start "
        f"{method['load_avg_start'][0]:.2f}, at end {method['load_avg_end'][0]:.2f}.",
        "",
        "No IVR peer is installed here (no Asterisk or FreeSWITCH in the image): the second "
        "row is the same node with `media: rtpengine://` (rtpengine in userspace on the same "
        "CPU) playing the same prompts and hearing the same digits, a peer for the media half "
        "only.",
        "",
        "| media engine | aim | max concurrent | node CPU | engine CPU | max setup rate | "
        "node CPU | engine CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("builtin", "rtpengine"):
        entry = results["targets"].get(name)
        if not entry or "skipped" in entry:
            lines.append(f"| {name} | | n/a | | | n/a | | |")
            continue
        conc, cps = entry["concurrent"], entry["cps"]
        cb, pb = conc.get("best_step") or {}, cps.get("best_step") or {}
        top_c = " (ladder top)" if conc.get("capped_by_ladder") else ""
        top_r = " (ladder top)" if cps.get("capped_by_ladder") else ""
        top_c += f" (filled at {entry['ramp_rate']:g}/s)" if "ramp_rate" in entry else ""
        lines.append(f"| {name} | {results['aim_calls']} | {conc['best']}{top_c} | "
                     f"{cb.get('node_cpu_percent', '')} % | {cb.get('engine_cpu_percent', '')} %"
                     f" | {cps['best']}/s{top_r} | {pb.get('node_cpu_percent', '')} % | "
                     f"{pb.get('engine_cpu_percent', '')} % |")
    for name in ("builtin", "rtpengine"):
        entry = results["targets"].get(name) or {}
        fill, best_cps = entry.get("ramp_rate"), (entry.get("cps") or {}).get("best", 0)
        failing = [s for s in (entry.get("concurrent") or {}).get("steps", []) if not s["ok"]]
        if fill and failing and fill > best_cps:
            first = failing[0]
            lines += [""] if lines[-1] else []
            lines.append(f"- {name}: the concurrency steps filled at {fill:g}/s, above the "
                         f"{best_cps}/s it answered within the latency limit; its first failing "
                         f"step ({first['target']} calls, {first['failed']} failed, setup p99 "
                         f"{(first.get('setup') or {}).get('p99_ms', '?')} ms) failed while "
                         "filling, so its concurrency figure is a floor set by call setup, "
                         "not by holding calls.")
    lines += ["", "Every step is in `bench/results/ivr.json`.", "",
              "| engine | step | ok | successful | failed | achieved | setup p50/p99 ms | "
              "node saw | digits | node CPU | engine CPU | SIPp's core busy |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in ("builtin", "rtpengine"):
        entry = results["targets"].get(name) or {}
        for kind in ("concurrent", "cps"):
            for step in (entry.get(kind) or {}).get("steps", []):
                label = (f"{step['target']} at once" if kind == "concurrent"
                         else f"{step['target']}/s")
                seen, setup = step["node_seen_calls"], step.get("setup") or {}
                lines.append(f"| {name} | {label} | {'yes' if step['ok'] else 'no'} | "
                             f"{step['successful']} | {step['failed']} | "
                             f"{step['achieved_cps'] if kind == 'cps' else ''} | "
                             f"{setup.get('p50_ms', '')}/{setup.get('p99_ms', '')} | "
                             f"{seen if seen is not None else ''} | {step['digits']} | "
                             f"{step['node_cpu_percent']} % | "
                             f"{step['engine_cpu_percent']} % | "
                             f"{step.get('sipp_core_busy_percent', '')} % |")
    return "\n".join(lines) + "\n"
