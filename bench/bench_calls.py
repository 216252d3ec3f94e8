"""Routed calls per second on one core with zero failures, the node beside sippy's B2BUA and
Kamailio in the same run; and the time a caller waits for a backup agent when its agent's
network drops mid-call (failover).

A routed call: a SIPp caller (``loadtest/scenarios/queue_caller.xml``) dials the queue's
number; the node answers it (music on hold), offers it to an agent, rings that agent's phone
(a SIPp UAS, ``loadtest/scenarios/agent_answer.xml``, answering after ``ANSWER_DELAY_MS``),
bridges the two, and when the agent hangs up after ``TALK_MS`` the node sends BYE to the
caller. The peers carry the same SIPp load as a direct call: the caller's INVITE goes through
the peer to the same agent UAS, whose 180/200 and later BYE come back through it.

Method
- The system under test (SUT) is pinned to one CPU (``taskset``: the node's media engine is
  its child and inherits it; sippy's threads and Kamailio's processes too), every SIPp to the
  other (2-CPU machine).
- Node: one tenant with ``AGENTS`` agent accounts, all able to take queue ``support`` (number
  200), each with a static contact ``sip:agentNNNN@127.0.0.1:PORT`` on one SIPp agent UAS (it
  does not care which agent it plays), ``auto_ready``, ``max_missed_offers: 0``, a long
  ``offer_timeout``; 127.0.0.1 is a trusted source (callers need no digest), the rate limit
  is raised. The node logs at ``warning`` (no per-call lines; the peers log no calls either).
  Two variants: *signalling only* (SIPp sends no RTP; ``media.media_timeout`` and
  ``calls.agent_media_timeout`` at 300 s so silent parties are not hung up; the engine still
  anchors every call and plays music to the caller until the agent answers) and *media*
  (callers and agents play the package's g711a.pcap, ``-set media 1``, through the node's
  builtin engine, default media timeouts).
- Peers, signalling only (they anchor no media, and no RTP is sent in their runs): sippy's
  B2BUA (``b2bua_simple`` from the PyPI package ``sippy``: a B2BUA with one static next
  hop, its per-message SIP log off) and Kamailio (``bench/peers/kamailio_proxy.cfg``:
  stateful proxy, ``tm`` + ``rr``, ``record_route`` and ``t_relay`` to the agent UAS, one
  worker, 4 MiB socket buffer as the node asks for). sippy's Contact carries a display name
  (``Anonymous <sip:...>``), which SIPp's ``[next_url]`` keeps, and sippy refuses a Contact
  with ``;transport=UDP`` in capitals: for sippy the kit's scenarios are used with the
  in-dialog Request-URI read from the Contact's URI and ``;transport=udp``
  (``contact_uri_variant``); the messages are the same.
- Step ladder: at each rate R, ``R x STEP_SECONDS`` calls, every step with a fresh agent UAS
  (SIPp's socket buffers at 4 MiB: its 64 KiB default drops datagrams near 1,000 calls/s).
  The systems' ladders are interleaved: each rate is run on every system still climbing
  before the next rate (all systems stay up, idle, between their steps), so a change in the
  shared machine's background load falls on all of them alike.
  A step passes when the callers' SIPp exits 0 with every call successful, no caller gave up
  (``caller_hangup`` 0), the agent UAS answered exactly that many calls with none failed,
  cancelled or hung up by the SUT, and the achieved rate (successful calls over the run less
  one nominal call, ``answer_delay + talk_time``) is at least ``ACHIEVED_FRACTION`` of R.
  After the first failing step the system is restarted (a fresh agent port: a proxy goes on
  retransmitting to the old one for 32 s) and one midpoint is tried; the result is the
  highest passing rate.
- CPU: utime+stime from /proc/PID/stat over the step, of every SUT process (node and media
  engine apart), as CPU-seconds per call and as a share of a core; SIPp's own CPU from
  getrusage of the reaped SIPp processes.
- Failover: a fresh node with two agents on two SIPp UAS (both ``-set media 1``, long talk
  time), one caller with media. When the call is connected to agent A and has talked for 2 s,
  A's SIPp is frozen (SIGSTOP: nothing in or out). The time is from the SIGSTOP to B's SIPp
  receiving the INVITE, read from B's ``-trace_msg`` timestamps (microseconds, wall clock);
  the node's log polled every 20 ms gives a second reading. ``FAILOVER_RUNS`` repetitions
  sharing one data directory (the node renders its notices at start).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.bench_ivr import Node, _settle, _taskset
from bench.bench_media import cpu_times
from bench.bench_sipp import (
    _answers_options,
    _kamailio_modules,
    _read_line,
    cpu_seconds,
    process_tree,
    udp_receive_buffer_errors,
)
from loadtest.sipp import SCENARIOS, SippResult, SippRun, free_local_port, parse_stat_file, run_sipp

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / "peers"
STEP_SECONDS = 5.0
ACHIEVED_FRACTION = 0.85
RATES = [25, 50, 100, 150, 200, 300, 400, 600, 800, 1000, 1300, 1600, 2000]
ANSWER_DELAY_MS = 100
TALK_MS = 1000
NOMINAL_CALL_SECONDS = (ANSWER_DELAY_MS + TALK_MS) / 1000
AGENTS = 1000                    # more than the highest node rate x (call length + setup)
QUEUE_NUMBER = "200"
CALLER_MAX_WAIT_MS = 20_000      # a caller with no BYE by then gives up: the step fails
COOLDOWN_SECONDS = 5.0
NODE_PORTS = (4000, 11999)       # the builtin engine's RTP range (below the ephemeral range)
CALLER_MEDIA_PORT = 14000        # SIPp -mp of the callers and of the agents
AGENT_MEDIA_PORT = 24000
AGENT_DRAIN_SECONDS = 3.0        # after the callers: the agents' last BYE transactions
SIPP_BUFFER = 4 * 1024 * 1024    # SIPp's socket buffers (its 64 KiB default drops at ~1k/s)
FAILOVER_RUNS = 5
FAILOVER_TALK_BEFORE_S = 2.0
AIMS = {"vs_sippy": 5.0, "vs_kamailio": 0.5, "failover_seconds": 3.0}


def log(text: str) -> None:
    print(text, flush=True)


def _cpu_split() -> tuple[frozenset[int] | None, frozenset[int] | None]:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return frozenset({cpus[-1]}), frozenset({cpus[0]})  # (system under test, SIPp)


def _kill_group(proc: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    """Signal a process we started in its own session (its group id is its PID)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait(timeout=5)


# --------------------------------------------------------------------------------------------
# SIPp scenarios and the agent UAS


def contact_uri_variant(source: Path, workdir: Path) -> Path:
    """The kit's scenario for sippy, with two changes that alter no message flow:

    - the in-dialog Request-URI is the Contact's URI (a regular expression) instead of
      SIPp's ``[next_url]``, which keeps a display name (sippy's ``Anonymous <sip:...>``)
      and so makes an invalid request line;
    - our Contact says ``;transport=udp``, not SIPp's ``[transport]`` (``UDP``): sippy 2.5
      compares the parameter case-sensitively and fails the BYE it relays to such a
      Contact (``RuntimeError: BUG: newTransaction() to unsupported transport: UDP``).
    """
    text = source.read_text()
    grab = ('<ereg regexp="sips?:[^&gt;]*" search_in="hdr" header="Contact:" '
            'check_it="true" assign_to="contact_uri"/>')
    if source.name == "queue_caller.xml":
        old = '<recv response="200" rtd="answer" start_rtd="connected" rrs="true"/>'
        new = ('<recv response="200" rtd="answer" start_rtd="connected" rrs="true">'
               f"<action>{grab}</action></recv>")
    else:
        old = '<recv request="INVITE" crlf="true" rrs="true">\n    <action>'
        new = f'<recv request="INVITE" crlf="true" rrs="true">\n    <action>\n      {grab}'
    if text.count(old) != 1 or "[next_url]" not in text:
        raise RuntimeError(f"{source.name} changed: cannot derive its Contact-URI variant")
    if ";transport=[transport]" not in text:
        raise RuntimeError(f"{source.name} changed: no Contact transport parameter")
    path = workdir / f"contact_uri_{source.name}"
    path.write_text(text.replace(old, new).replace("[next_url]", "[$contact_uri]")
                    .replace(";transport=[transport]", ";transport=udp"))
    return path


def sipp_stats(path: Path) -> dict[str, Any]:
    stats = parse_stat_file(path)

    def num(name: str) -> int:
        try:
            return int(stats.get(name, "0") or 0)
        except ValueError:
            return 0

    def ms(name: str) -> float | None:
        value = stats.get(name)  # HH:MM:SS:uuuuuu
        if not value:
            return None
        h, m, s, us = (int(x) for x in value.split(":"))
        return round((h * 3600 + m * 60 + s) * 1000 + us / 1000, 1)

    return {"successful": num("SuccessfulCall(C)"), "failed": num("FailedCall(C)"),
            "created": num("TotalCallCreated"), "retransmissions": num("Retransmissions(C)"),
            "failures": {k: num(k) for k in stats if k.startswith("Failed") and k.endswith("(C)")
                         and k != "FailedCall(C)" and num(k)},
            "counters": {k.removesuffix("(C)"): num(k) for k in stats
                         if k.removesuffix("(C)") in ("caller_hangup", "cancelled",
                                                      "remote_bye", "ping")},
            "answer_ms": ms("ResponseTimeanswer(C)"),
            "connected_ms": ms("ResponseTimeconnected(C)"),
            "call_length_ms": ms("CallLength(C)")}


@dataclass
class AgentUas:
    """One SIPp agent_answer.xml UAS at 127.0.0.1:port, stopped by its PID."""

    scenario: Path
    port: int
    workdir: Path
    cpus: frozenset[int] | None
    media: bool
    time_limit: float
    talk_ms: int = TALK_MS
    answer_delay_ms: int = ANSWER_DELAY_MS
    media_port: int = AGENT_MEDIA_PORT
    trace: bool = False
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentUas:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = [shutil.which("sipp") or "sipp", "-nostdin", "-sf", str(self.scenario),
               "-i", "127.0.0.1", "-p", str(self.port), "-t", "u1", "-l", "10000",
               "-buff_size", str(SIPP_BUFFER),
               "-set", "answer_delay", str(self.answer_delay_ms),
               "-set", "talk_time", str(self.talk_ms),
               "-mi", "127.0.0.1", "-mp", str(self.media_port),
               "-timeout", f"{max(1, round(self.time_limit))}s",
               "-trace_stat", "-stf", "stat.csv", "-fd", "1",
               "-trace_err", "-error_file", "errors.log"]
        if self.media:
            cmd += ["-set", "media", "1"]
        if self.trace:
            cmd += ["-trace_msg", "-message_file", "messages.log"]
        with (self.workdir / "screen.log").open("wb") as screen:
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                         stdout=screen, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        if self.cpus:
            os.sched_setaffinity(self.proc.pid, self.cpus)
        time.sleep(0.3)  # bound before the first INVITE
        if self.proc.poll() is not None:
            raise RuntimeError(f"agent SIPp exited: {self.screen()[-800:]}")
        return self

    def screen(self) -> str:
        path = self.workdir / "screen.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_idle(self, timeout: float) -> None:
        """Until the UAS holds no call (its statistics, written every second), at most
        ``timeout`` s: an agent's BYE may still wait for its 200 when the callers are done."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = parse_stat_file(self.workdir / "stat.csv")
            if stats.get("CurrentCall") == "0" and stats.get("TotalCallCreated", "0") != "0":
                return
            time.sleep(0.25)

    def stop(self) -> dict[str, Any]:
        """SIGUSR1 (SIPp stops and writes its statistics), SIGKILL after 5 s."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGUSR1)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc)
                self.proc.wait(timeout=5)
        stats = sipp_stats(self.workdir / "stat.csv")
        errors = self.workdir / "errors.log"
        stats["errors"] = errors.read_text(errors="replace")[-1500:] if errors.exists() else ""
        return stats


# --------------------------------------------------------------------------------------------
# Systems under test


@dataclass
class Sut:
    name: str
    proc: subprocess.Popen[bytes]
    udp: str                          # HOST:PORT the callers dial
    workdir: Path
    engine_pid: int | None = None     # the node's media engine (a child process)
    node: Node | None = None
    agent_scenario: Path = SCENARIOS / "agent_answer.xml"
    caller_scenario: Path = SCENARIOS / "queue_caller.xml"
    notes: dict[str, Any] = field(default_factory=dict)
    log_path: Path | None = None
    agent_port: int = 0

    def main_pids(self) -> list[int]:
        """The SUT's processes other than the node's media engine."""
        return [p for p in process_tree(self.proc.pid) if p != self.engine_pid]

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()
        else:
            _stop(self.proc)


def node_config(agent_port: int, agents: int, media: bool,
                ports: tuple[int, int] = NODE_PORTS) -> dict[str, Any]:
    from tests.integration.calls_support import delivery_config

    config = delivery_config(agents=agents, offer_timeout=30.0)
    ids = [a["id"] for a in config["routing"]["agents"]]
    config["accounts"] = [{"username": agent, "password": f"bench{agent}",
                           "contact": f"sip:agent{agent}@127.0.0.1:{agent_port}"}
                          for agent in ids]
    config["security"].update({"rate_limit": {"rate": 1_000_000, "burst": 1_000_000}})
    config["registrar"] = {"qualify_interval": 3600.0}
    config["media"] = {"engine": "builtin", "interface": "127.0.0.1",
                       "port_min": ports[0], "port_max": ports[1],
                       "media_timeout": 30.0 if media else 300.0}
    config["calls"]["agent_media_timeout"] = 1.5 if media else 300.0
    return config


def start_node(workdir: Path, cpus: frozenset[int] | None, config: dict[str, Any],
               name: str, log_level: str = "warning", data_dir: Path | None = None) -> Sut:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "switchboard.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    script = Path(sys.executable).parent / "switchboard"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "switch.cli"]
    command = [*_taskset(cpus), *command, "--log-level", log_level, "run", "--config",
               str(path), "--sip", "udp:127.0.0.1:0", "--http", "127.0.0.1:0",
               "--data-dir", str(data_dir or workdir / "data")]
    with (workdir / "node.stderr").open("wb") as stderr:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=stderr, cwd=ROOT)
    try:
        ready = json.loads(_read_line(proc, 60))
    except Exception as exc:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        raise RuntimeError("node did not start: " + (workdir / "node.stderr").read_text(
            errors="replace")[-1500:]) from exc
    udp = next(s for s in ready["sip"] if s.startswith("udp:")).removeprefix("udp:")
    health = httpx.get(ready["http"] + "/healthz", timeout=10).json()
    engine_pid = (health.get("media") or {}).get("pid")
    if not engine_pid:  # the engine is the node's only child process
        children = [p for p in process_tree(proc.pid) if p != proc.pid]
        engine_pid = children[0] if children else None
    node = Node(name, proc, udp, ready["http"], workdir, engine_pid)
    return Sut(name, proc, udp, workdir, engine_pid, node, log_path=workdir / "node.stderr",
               notes={"engine_pid_separate": engine_pid is not None,
                      "engine_affinity": sorted(os.sched_getaffinity(engine_pid))
                      if engine_pid else None})


def start_kamailio(workdir: Path, cpus: frozenset[int] | None, agent: str) -> Sut | None:
    binary, modules = shutil.which("kamailio"), _kamailio_modules()
    if binary is None or modules is None:
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_local_port("127.0.0.1")
    cfg = workdir / "kamailio.cfg"
    cfg.write_text((PEERS / "kamailio_proxy.cfg").read_text().replace("@PORT@", str(port))
                   .replace("@AGENT@", agent).replace("@MODULES@", f"{modules}/"))
    with (workdir / "kamailio.stderr").open("wb") as stderr:
        proc = subprocess.Popen([*_taskset(cpus), binary, "-f", str(cfg), "-DD", "-E",
                                 "-m", "256", "-M", "16", "-P", str(workdir / "kamailio.pid"),
                                 "-w", str(workdir)],
                                stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                                start_new_session=True)
    sut = Sut("kamailio", proc, f"127.0.0.1:{port}", workdir,
              log_path=workdir / "kamailio.stderr")
    _wait_options(sut, workdir / "kamailio.stderr")
    sut.notes = {"version": _version([binary, "-v"]), "children": 1,
                 "config": "bench/peers/kamailio_proxy.cfg"}
    return sut


def start_sippy(workdir: Path, cpus: frozenset[int] | None, agent: str) -> Sut | None:
    binary = Path(sys.executable).parent / "b2bua_simple"
    if not binary.exists():
        found = shutil.which("b2bua_simple")
        if found is None:
            return None
        binary = Path(found)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_local_port("127.0.0.1")
    # SIPLOG_LVL=WARN: sippy writes every SIP message to its log at INFO otherwise.
    env = {**os.environ, "SIPLOG_BEND": "stderr", "SIPLOG_LVL": "WARN"}
    with (workdir / "sippy.stderr").open("wb") as stderr:
        proc = subprocess.Popen([*_taskset(cpus), str(binary), "-f", "-l", "127.0.0.1",
                                 "-p", str(port), "-n", agent],
                                stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                                env=env, start_new_session=True)
    sut = Sut("sippy", proc, f"127.0.0.1:{port}", workdir, log_path=workdir / "sippy.stderr")
    _wait_udp_bound(sut, port, workdir / "sippy.stderr")
    sut.agent_scenario = contact_uri_variant(SCENARIOS / "agent_answer.xml", workdir)
    sut.caller_scenario = contact_uri_variant(SCENARIOS / "queue_caller.xml", workdir)
    try:
        from importlib.metadata import version
        sippy_version = version("sippy")
    except Exception:  # informative only
        sippy_version = "?"
    sut.notes = {"version": sippy_version, "entry_point": "b2bua_simple (sippy.b2bua_simple)",
                 "media": "none (no rtpproxy configured: SDP passes end to end)",
                 "scenarios": "kit scenarios, in-dialog Request-URI = Contact URI"}
    return sut


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    return lines[0] if lines else "?"


def _wait_options(sut: Sut, stderr: Path) -> None:
    deadline = time.monotonic() + 15
    while not _answers_options(sut.udp):
        if sut.proc.poll() is not None or time.monotonic() > deadline:
            sut.stop()
            raise RuntimeError(f"{sut.name} did not start: "
                               + stderr.read_text(errors="replace")[-1500:])


def _wait_udp_bound(sut: Sut, port: int, stderr: Path) -> None:
    """Until something listens on 127.0.0.1:port (UDP), from /proc/net/udp."""
    wanted = f"0100007F:{port:04X}"
    deadline = time.monotonic() + 20
    while True:
        if any(line.split()[1] == wanted for line in
               Path("/proc/net/udp").read_text().splitlines()[1:] if len(line.split()) > 1):
            time.sleep(0.3)
            return
        if sut.proc.poll() is not None or time.monotonic() > deadline:
            sut.stop()
            raise RuntimeError(f"{sut.name} did not start: "
                               + stderr.read_text(errors="replace")[-1500:])
        time.sleep(0.1)


# --------------------------------------------------------------------------------------------
# The step ladder


@dataclass
class Step:
    rate: int
    calls: int
    ok: bool
    why: str                          # the first reason a step failed ("" when it passed)
    successful: int
    failed: int
    achieved: float
    seconds: float
    caller: dict[str, Any]
    agent: dict[str, Any]
    cpu_seconds: float                # the SUT without the media engine
    engine_cpu_seconds: float         # the node's media engine (0 for the peers)
    cpu_ms_per_call: float            # all SUT processes, per successful call
    cpu_percent: float
    engine_cpu_percent: float
    sipp_core_busy_percent: float     # CPU time of SIPp's core (anything that ran there)
    sipp_cpu_percent: float           # the callers' and the agents' SIPp processes' own CPU
    sut_core_busy_percent: float      # the same for the SUT's core (softirq included)
    udp_rcvbuf_drops: int             # system-wide (RTP to SIPp's unread media sockets too)
    sip_socket_drops: dict[str, int]  # the SIP sockets of the SUT, the callers, the agents
    caller_errors: str = ""
    sut_calls_left: int | None = None  # the node's calls still up 25 s after the step


def run_step(sut: Sut, rate: int, media: bool, agent_port: int,
             sipp_cpus: frozenset[int] | None, workdir: Path) -> Step:
    sut_cpus = _cpu_split()[0]
    calls = max(1, int(rate * STEP_SECONDS))
    time_limit = STEP_SECONDS * 3 + CALLER_MAX_WAIT_MS / 1000 + 10
    step_dir = workdir / f"step-{rate}"
    sipp0 = _children_cpu()
    agent = AgentUas(sut.agent_scenario, agent_port, step_dir / "agent", sipp_cpus, media,
                     time_limit + 15).start()
    audio = ("-set", "media", "1") if media else ()
    caller_port = free_local_port("127.0.0.1")
    while caller_port == agent_port:
        caller_port = free_local_port("127.0.0.1")
    sut_port = int(sut.udp.rsplit(":", 1)[1])
    sut_drops0 = socket_drops({"sut": sut_port})["sut"]
    main_pids = sut.main_pids()
    engine = [sut.engine_pid] if sut.engine_pid else []
    cpu0, eng0 = cpu_seconds(main_pids), cpu_seconds(engine)
    drops0, core0, sut_core0 = udp_receive_buffer_errors(), _core(sipp_cpus), _core(sut_cpus)
    started = time.monotonic()
    result: SippResult | None = None
    try:
        result = run_sipp(SippRun(
            target=sut.udp, scenario=sut.caller_scenario, calls=calls, rate=rate,
            transport="udp", max_concurrent=max(2000, rate * 4), time_limit=time_limit,
            cpus=sipp_cpus, local_port=caller_port,
            extra=("-buff_size", str(SIPP_BUFFER), "-s", QUEUE_NUMBER,
                   "-set", "max_wait", str(CALLER_MAX_WAIT_MS),
                   "-recv_timeout", str(CALLER_MAX_WAIT_MS + 10_000),
                   "-mi", "127.0.0.1", "-mp", str(CALLER_MEDIA_PORT), *audio)),
            workdir=step_dir / "caller")
    finally:
        agent.wait_idle(AGENT_DRAIN_SECONDS)
        drops = socket_drops({"sut": sut_port, "callers": caller_port, "agents": agent_port})
        drops["sut"] -= sut_drops0
        agent_stats = agent.stop()
    elapsed = time.monotonic() - started
    sipp_cpu = _children_cpu() - sipp0  # both SIPp processes exited and were reaped
    cpu = cpu_seconds(sut.main_pids()) - cpu0
    eng = cpu_seconds(engine) - eng0
    caller = sipp_stats(step_dir / "caller" / "stat.csv")
    successful = caller["successful"]
    run_seconds = result.elapsed if result else elapsed
    achieved = successful / max(0.5, run_seconds - NOMINAL_CALL_SECONDS)
    answered_by_agents = agent_stats["successful"] - sum(agent_stats["counters"].values())
    checks = [
        (result is not None and result.returncode == 0, f"callers' SIPp exit "
         f"{result.returncode if result else 'none'}"),
        (successful == calls and caller["failed"] == 0,
         f"callers: {successful}/{calls} successful, {caller['failed']} failed "
         f"{caller['failures']}"),
        (caller["counters"].get("caller_hangup", 0) == 0,
         f"{caller['counters'].get('caller_hangup', 0)} callers gave up (no BYE within "
         f"{CALLER_MAX_WAIT_MS} ms)"),
        (agent_stats["failed"] == 0, f"agents: {agent_stats['failed']} failed "
         f"{agent_stats['failures']}"),
        (not any(agent_stats["counters"].values()),
         f"agents: {agent_stats['counters']} (cancelled offers / hung up by the SUT)"),
        (answered_by_agents == calls, f"agents answered {answered_by_agents} of {calls}"),
        (achieved >= ACHIEVED_FRACTION * rate, f"achieved {achieved:.1f}/s"),
    ]
    why = next((text for passed, text in checks if not passed), "")
    return Step(
        rate, calls, not why, why, successful, caller["failed"], round(achieved, 1),
        round(elapsed, 2), caller, agent_stats, round(cpu, 2), round(eng, 2),
        round(1000 * (cpu + eng) / successful, 3) if successful else 0.0,
        round(100 * cpu / elapsed, 1), round(100 * eng / elapsed, 1),
        _busy(core0, _core(sipp_cpus)), round(100 * sipp_cpu / elapsed, 1),
        _busy(sut_core0, _core(sut_cpus)),
        udp_receive_buffer_errors() - drops0, drops,
        (result.errors[-1500:] if result else ""))


def socket_drops(ports: dict[str, int]) -> dict[str, int]:
    """Datagrams dropped (full receive buffer) by the UDP sockets bound to 127.0.0.1:PORT,
    per role, from the last column of /proc/net/udp (all sockets sharing a port summed)."""
    wanted = {f"0100007F:{port:04X}": role for role, port in ports.items()}
    out = dict.fromkeys(ports, 0)
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) > 12 and fields[1] in wanted:
            out[wanted[fields[1]]] += int(fields[-1])
    return out


def _children_cpu() -> float:
    """CPU seconds of this process's children that have exited and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _core(cpus: frozenset[int] | None) -> tuple[float, float, float]:
    return cpu_times(min(cpus)) if cpus else (0.0, 0.0, 0.0)


def _busy(before: tuple[float, float, float], after: tuple[float, float, float]) -> float:
    total = after[2] - before[2]
    return round(100.0 * (after[0] - before[0]) / total, 1) if total > 0 else 0.0


def _quiet(sut: Sut) -> int | None:
    """Wait until the SUT holds no calls (the node: `ctl media`, at most 25 s; the peers: a
    fixed pause). Returns the node's calls left (None for the peers)."""
    if sut.node is not None:
        left = _settle(sut.node, timeout=25.0)
        if left:
            log(f"   {sut.name}: {left} calls still up after 25 s")
        return int(left)
    time.sleep(1.0)
    return None


class Ladder:
    """The step ladder of one system. Its steps are run interleaved with the other systems'
    (one rate for every system, then the next rate), so a change in the shared machine's
    background load falls on all of them alike. After its first failing step, the system is
    restarted with a fresh agent port before its one midpoint: its overload (queued calls, a
    proxy's retransmissions to the agents' port for up to 32 s) must not leak into that step.
    """

    def __init__(self, name: str, media: bool, start: Callable[[Path, int], Sut | None],
                 sipp_cpus: frozenset[int] | None, workdir: Path) -> None:
        self.name, self.media, self.start = name, media, start
        self.sipp_cpus, self.workdir = sipp_cpus, workdir
        self.steps: list[Step] = []
        self.best: Step | None = None
        self.instances: list[dict[str, Any]] = []
        self.sut: Sut | None = None
        self.done = False
        self.skipped = False

    def launch(self) -> bool:
        port = free_local_port("127.0.0.1")
        sut = self.start(self.workdir / f"run{len(self.instances)}", port)
        if sut is None:
            self.done = self.skipped = True
            return False
        sut.agent_port = port
        self.sut = sut
        return True

    def finish(self) -> None:
        if self.sut is not None:
            self.instances.append({"notes": self.sut.notes,
                                   "alive_after": self.sut.proc.poll() is None,
                                   "log_problems": _log_problems(self.sut)})
            self.sut.stop()
            self.sut = None

    def one(self, rate: int) -> Step:
        sut = self.sut
        assert sut is not None
        step = run_step(sut, rate, self.media, sut.agent_port, self.sipp_cpus, self.workdir)
        step.sut_calls_left = _quiet(sut)
        self.steps.append(step)
        engine = f" engine={step.engine_cpu_percent}%" if sut.engine_pid else ""
        log(f"   {self.name} {rate}/s -> ok={step.ok} achieved={step.achieved}/s "
            f"cpu={step.cpu_percent}%{engine} {step.cpu_ms_per_call} ms/call "
            f"sipp={step.sipp_cpu_percent}% sip drops={step.sip_socket_drops}"
            + (f" [{step.why}]" if step.why else ""))
        return step

    def step(self, rate: int) -> None:
        """The step at ``rate``; on a failure, the midpoint after a restart, and done."""
        if self.done or (self.sut is None and not self.launch()):
            return
        step = self.one(rate)
        assert self.sut is not None
        if step.ok and self.sut.proc.poll() is None:
            self.best = step
            if rate == RATES[-1]:
                self.finish()
                self.done = True
            return
        low = self.best.rate if self.best else 0
        mid = (low + rate) // 2
        self.finish()
        if mid > low:
            time.sleep(COOLDOWN_SECONDS)
            if self.launch() and self.one(mid).ok:
                self.best = self.steps[-1]
            self.finish()
        self.done = True

    def record(self) -> dict[str, Any]:
        if self.skipped and not self.steps:
            return {"skipped": "not installed"}
        best = self.best
        return {"best_rate": best.rate if best else 0, "best": asdict(best) if best else None,
                "capped_by_ladder": bool(best and best.rate == RATES[-1]),
                "media": self.media, "instances": self.instances,
                "steps": [asdict(s) for s in self.steps]}


def _log_problems(sut: Sut) -> dict[str, Any]:
    """Warnings, errors and tracebacks the SUT wrote, counted by message (numbers masked)."""
    if sut.log_path is None or not sut.log_path.exists():
        return {}
    counts: dict[str, int] = {}
    samples: list[str] = []
    for line in sut.log_path.read_text(errors="replace").splitlines():
        if re.search(r"WARNING|ERROR|CRITICAL|Traceback|Error\b", line):
            key = re.sub(r"\d+(\.\d+)?", "N", re.sub(r"call-[0-9a-f]+", "call-X",
                                                       line.split(" ", 1)[-1]))[:200]
            counts[key] = counts.get(key, 0) + 1
            if counts[key] == 1 and len(samples) < 20:
                samples.append(line[:500])
    return {"total": sum(counts.values()),
            "counts": dict(sorted(counts.items(), key=lambda kv: -kv[1])[:20]),
            "first_lines": samples}


# --------------------------------------------------------------------------------------------
# Failover


def _trace_times(path: Path, method: str) -> list[float]:
    """Wall-clock times (epoch s) at which SIPp's -trace_msg logged receiving ``method``."""
    if not path.exists():
        return []
    text = path.read_text(errors="replace")
    found = []
    stamp = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d)[ \t](\d\d:\d\d:\d\d\.\d+)", re.MULTILINE)
    for match in stamp.finditer(text):
        body = text[match.end():match.end() + 400].lstrip()
        if body.startswith("UDP message received") and re.search(
                rf"\n\s*{method} sip:", body):
            when = dt.datetime.strptime(f"{match.group(1)} {match.group(2)}",
                                        "%Y-%m-%d %H:%M:%S.%f")
            found.append(when.timestamp())
    return found


def failover_once(index: int, cpus: frozenset[int] | None, sipp_cpus: frozenset[int] | None,
                  workdir: Path) -> dict[str, Any]:
    run_dir = workdir / f"failover-{index}"
    ports = {"1001": free_local_port("127.0.0.1"), "1002": free_local_port("127.0.0.1")}
    while ports["1002"] == ports["1001"]:
        ports["1002"] = free_local_port("127.0.0.1")
    agents = {agent: AgentUas(SCENARIOS / "agent_answer.xml", port, run_dir / f"agent{agent}",
                              sipp_cpus, True, 60, talk_ms=30_000, answer_delay_ms=300,
                              media_port=AGENT_MEDIA_PORT + 2000 * int(agent == "1002"),
                              trace=True)
              for agent, port in ports.items()}
    from tests.integration.calls_support import delivery_config

    config = delivery_config(agents=2, contacts={a: f"sip:agent@127.0.0.1:{p}"
                                                 for a, p in ports.items()})
    config["media"] = {"engine": "builtin", "interface": "127.0.0.1",
                       "port_min": NODE_PORTS[0], "port_max": NODE_PORTS[1]}
    config["registrar"] = {"qualify_interval": 3600.0}
    warm = any((workdir / "data" / "media" / "tts").glob("*.wav"))
    # One data directory for every repetition (the node renders its notices at start).
    sut = start_node(run_dir / "node", cpus, config, "failover", log_level="info",
                     data_dir=workdir / "data")
    assert sut.node is not None
    node = sut.node
    record: dict[str, Any] = {"run": index, "tts_cache_warm": warm}
    caller_result: dict[str, Any] = {}
    frozen: subprocess.Popen[bytes] | None = None
    a_id, b_id, seen_in_log = "1001", "1002", None
    try:
        for agent in agents.values():
            agent.start()
        # The caller: one call with audio; it hangs up itself 8 s after the node answered
        # (long after the backup answered), which ends the repetition.
        caller_dir = run_dir / "caller"
        caller_dir.mkdir(parents=True)
        sipp = shutil.which("sipp") or "sipp"
        cmd = [sipp, sut.udp, "-nostdin", "-sf", str(SCENARIOS / "queue_caller.xml"),
               "-s", QUEUE_NUMBER, "-set", "media", "1", "-set", "max_wait", "8000",
               "-recv_timeout", "20000", "-m", "1", "-l", "1", "-r", "1",
               "-i", "127.0.0.1", "-p", str(free_local_port("127.0.0.1")), "-t", "u1",
               "-mi", "127.0.0.1", "-mp", str(CALLER_MEDIA_PORT), "-timeout", "30s",
               "-timeout_error", "-trace_stat", "-stf", "stat.csv", "-fd", "1",
               "-trace_err", "-error_file", "errors.log"]
        with (caller_dir / "screen.log").open("wb") as screen:
            caller = subprocess.Popen(cmd, cwd=caller_dir, stdin=subprocess.DEVNULL,
                                      stdout=screen, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        if sipp_cpus:
            os.sched_setaffinity(caller.pid, sipp_cpus)
        try:
            first = _poll(lambda: re.search(r"answered by agent (100[12])", node.stderr()), 10)
            if first is None:
                raise RuntimeError("no agent answered: " + node.stderr()[-1500:])
            a_id = first.group(1)
            b_id = "1002" if a_id == "1001" else "1001"
            time.sleep(FAILOVER_TALK_BEFORE_S)
            frozen = agents[a_id].proc
            assert frozen is not None
            cut_wall, cut = time.time(), time.monotonic()
            os.kill(frozen.pid, signal.SIGSTOP)  # A's network is gone: nothing in or out
            offered = _poll(lambda: f"offered to agent {b_id}" in node.stderr(), 15,
                            interval=0.02)
            seen_in_log = time.monotonic() - cut if offered else None
            _poll(lambda: f"answered by agent {b_id}" in node.stderr(), 10)
            try:
                caller.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _kill_group(caller)
                caller.wait(timeout=5)
            caller_result = sipp_stats(caller_dir / "stat.csv")
            caller_result["returncode"] = caller.returncode
        finally:
            if caller.poll() is None:
                _kill_group(caller)
                caller.wait(timeout=5)
            if frozen is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(frozen.pid, signal.SIGCONT)
        invites = _trace_times(agents[b_id].workdir / "messages.log", "INVITE")
        steps = [line.split("switch.calls.events: ", 1)[1].split(" ", 2)[-1]
                 for line in node.stderr().splitlines() if "switch.calls.events: " in line]
        record.update({
            "first_agent": a_id, "backup_agent": b_id,
            "to_backup_invite_s": round(invites[0] - cut_wall, 3) if invites else None,
            "to_offer_in_log_s": round(seen_in_log, 3) if seen_in_log is not None else None,
            "caller": caller_result, "events": steps,
            "caller_kept": sum(s.startswith("ended: ") for s in steps) == 1
            and any(s.startswith(f"lost agent {a_id}") for s in steps)
            and any(s.startswith(f"answered by agent {b_id}") for s in steps)
            and caller_result.get("failed", 1) == 0,
        })
    finally:
        for agent in agents.values():
            agent.stop()
        sut.stop()
    return record


def _poll(check: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return None


def failover(cpus: frozenset[int] | None, sipp_cpus: frozenset[int] | None,
             workdir: Path) -> dict[str, Any]:
    runs = []
    for index in range(FAILOVER_RUNS):
        record = failover_once(index, cpus, sipp_cpus, workdir)
        runs.append(record)
        log(f"   failover {index}: {record.get('to_backup_invite_s')} s to the backup's INVITE "
            f"(log poll {record.get('to_offer_in_log_s')} s), caller kept: "
            f"{record.get('caller_kept')}")
    times = [r["to_backup_invite_s"] for r in runs if r.get("to_backup_invite_s") is not None]
    warm = [r["to_backup_invite_s"] for r in runs
            if r.get("to_backup_invite_s") is not None and r.get("tts_cache_warm")]
    return {"runs": runs, "measured": len(times),
            "median_s": round(statistics.median(times), 3) if times else None,
            "max_s": round(max(times), 3) if times else None,
            "min_s": round(min(times), 3) if times else None,
            "median_warm_s": round(statistics.median(warm), 3) if warm else None,
            "all_callers_kept": all(r.get("caller_kept") for r in runs),
            "agent_media_timeout_s": 1.5}


# --------------------------------------------------------------------------------------------


def main() -> dict[str, Any]:
    if shutil.which("sipp") is None:
        raise RuntimeError("sipp not installed (apt-get install sip-tester; `make bench` does)")
    sut_cpus, sipp_cpus = _cpu_split()
    results: dict[str, Any] = {
        "method": {"step_seconds": STEP_SECONDS, "achieved_fraction": ACHIEVED_FRACTION,
                   "rates": RATES, "answer_delay_ms": ANSWER_DELAY_MS, "talk_ms": TALK_MS,
                   "agents": AGENTS, "queue_number": QUEUE_NUMBER,
                   "caller_max_wait_ms": CALLER_MAX_WAIT_MS,
                   "sut_cpus": sorted(sut_cpus or []), "sipp_cpus": sorted(sipp_cpus or []),
                   "transport": "udp", "node_log_level": "warning",
                   "caller_scenario": "loadtest/scenarios/queue_caller.xml",
                   "agent_scenario": "loadtest/scenarios/agent_answer.xml",
                   "sipp": _version(["sipp", "-v"]),
                   "load_avg_start": os.getloadavg()},
        "aims": AIMS, "targets": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        base = Path(tmp)
        # Two nodes are up at once (idle while the others step): separate RTP ranges.
        half = (NODE_PORTS[0] + NODE_PORTS[1]) // 2
        targets: list[tuple[str, bool, Callable[[Path, int], Sut | None]]] = [
            ("node_signalling", False, lambda d, port: start_node(
                d, sut_cpus, node_config(port, AGENTS, media=False,
                                         ports=(NODE_PORTS[0], half)), "node")),
            ("node_media", True, lambda d, port: start_node(
                d, sut_cpus, node_config(port, AGENTS, media=True,
                                         ports=(half + 1, NODE_PORTS[1])), "node+media")),
            ("sippy", False, lambda d, port: start_sippy(d, sut_cpus, f"127.0.0.1:{port}")),
            ("kamailio", False,
             lambda d, port: start_kamailio(d, sut_cpus, f"127.0.0.1:{port}")),
        ]
        only = os.environ.get("BENCH_CALLS_ONLY", "").split(",")
        ladders = [Ladder(name, media, starter, sipp_cpus, base / name)
                   for name, media, starter in targets if only == [""] or name in only]
        try:
            for rate in RATES:
                for ladder in ladders:
                    ladder.step(rate)
                if all(ladder.done for ladder in ladders):
                    break
        finally:
            for ladder in ladders:
                ladder.finish()
        for ladder in ladders:
            results["targets"][ladder.name] = ladder.record()
        if only == [""] or "failover" in only:
            results["failover"] = failover(sut_cpus, sipp_cpus, base / "failover")
    results["method"]["load_avg_end"] = os.getloadavg()
    results["ratios"] = _ratios(results)
    return results


def _ratios(results: dict[str, Any]) -> dict[str, Any]:
    targets = {name: entry for name, entry in results["targets"].items()
               if entry and "skipped" not in entry}

    def best(name: str) -> int:
        return int((targets.get(name) or {}).get("best_rate") or 0)

    node, node_media = best("node_signalling"), best("node_media")
    out: dict[str, Any] = {}
    for peer in ("sippy", "kamailio"):
        for key, target, ours in (("node", "node_signalling", node),
                                  ("node_media", "node_media", node_media)):
            known = target in targets and best(peer) > 0
            out[f"{key}_vs_{peer}"] = round(ours / best(peer), 2) if known else None
    # CPU per call at the highest ladder rate every system passed (a peer that passed the
    # ladder's top was not saturated, so its maximum understates it; this does not).
    passed = [{s["rate"] for s in entry["steps"] if s["ok"]} for entry in targets.values()]
    common = max(set.intersection(*passed), default=None) if passed else None
    if common is not None:
        per_call = {name: next(s["cpu_ms_per_call"] for s in entry["steps"]
                               if s["ok"] and s["rate"] == common)
                    for name, entry in targets.items()}
        out["common_rate"] = common
        out["cpu_ms_per_call_at_common_rate"] = per_call
        for peer in ("sippy", "kamailio"):
            if per_call.get(peer) and per_call.get("node_signalling"):
                out[f"{peer}_cpu_per_call_over_node"] = round(
                    per_call[peer] / per_call["node_signalling"], 3)
    return out


# --------------------------------------------------------------------------------------------
# docs/benchmarks.md


def summarize(record: dict[str, Any]) -> str:
    results = record["results"]
    method = results["method"]
    lines = [
        f"A routed call: a SIPp caller (`{method['caller_scenario']}`) dials queue "
        f"{method['queue_number']}; the node answers it (music), offers it to one of "
        f"{method['agents']} agents (static contacts on one SIPp UAS, "
        f"`{method['agent_scenario']}`), which answers after {method['answer_delay_ms']} ms, "
        f"talks {method['talk_ms']} ms and hangs up; the node then hangs up the caller. The "
        "peers carry the same SIPp callers and agent UAS as a direct call through them. Each "
        f"system pinned to CPU {method['sut_cpus']} (the node with its media engine, a child "
        f"process on the same CPU), SIPp on {method['sipp_cpus']}. Step ladder of call rates, "
        f"{method['step_seconds']:g} s of calls a step, a fresh agent UAS each step, the "
        "systems' ladders interleaved (each rate on every system before the next); a step "
        "passes with every call successful on the caller's and on the agent's side (no "
        "caller giving up, no offer cancelled, no agent hung up by the system) and "
        f"≥ {int(method['achieved_fraction'] * 100)} % of the rate achieved (successful "
        "calls over the run less one nominal call); after the first failing step the system "
        "is restarted and one midpoint tried. CPU: utime+stime from /proc of every process "
        "of the system over the step, per successful call (node: its process plus the media "
        f"engine's). The node logs at `{method['node_log_level']}` (the peers log no calls "
        f"either). Load average at start {method['load_avg_start'][0]:.2f}, at end "
        f"{method['load_avg_end'][0]:.2f}.",
        "",
        "Peers, signalling only (neither anchors media; no RTP is sent in their runs): "
        "**sippy**'s B2BUA (`b2bua_simple` from PyPI `sippy`, one static next hop, its SIP "
        "log off; sippy's Contact has a display name that SIPp's `[next_url]` keeps and a "
        "`;transport=UDP` it refuses, so its scenarios take the Request-URI from the "
        "Contact's URI and send `;transport=udp`: the same messages) and **Kamailio** "
        "(`bench/peers/kamailio_proxy.cfg`: stateful proxy, `tm` + `rr`, `record_route` + "
        "`t_relay`, one worker, 4 MiB socket buffer like the node's).",
        "",
        "| system | media | max routed calls/s | CPU at max | of which media engine | "
        "CPU ms per call | SIPp's CPU |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {"node_signalling": ("switchboard", "anchored, SIPp sends none"),
              "node_media": ("switchboard", "G.711 both ways through the engine"),
              "sippy": ("sippy B2BUA", "not anchored, none sent"),
              "kamailio": ("Kamailio proxy", "not anchored, none sent")}
    for name, (system, media) in labels.items():
        entry = results["targets"].get(name)
        if not entry or "skipped" in entry:
            lines.append(f"| {system} | {media} | n/a | | | | |")
            continue
        best = entry.get("best") or {}
        top = " (ladder top)" if entry.get("capped_by_ladder") else ""
        engine = (f"{best.get('engine_cpu_percent', 0)} %" if name.startswith("node")
                  else "")
        total = round(best.get("cpu_percent", 0) + best.get("engine_cpu_percent", 0), 1)
        lines.append(f"| {system} | {media} | {entry['best_rate']}/s{top} | {total} % | "
                     f"{engine} | {best.get('cpu_ms_per_call', '')} | "
                     f"{best.get('sipp_cpu_percent', '')} % |")
    ratios = results.get("ratios", {})
    aims = results["aims"]

    def ratio(key: str) -> str:
        value = ratios.get(key)
        return "n/a" if value is None else f"**{value:.2f}x**"

    lines += ["", f"Node (signalling only) / sippy: {ratio('node_vs_sippy')} (aim "
              f"≥ {aims['vs_sippy']:g}x); node / Kamailio: {ratio('node_vs_kamailio')} "
              f"(aim ≥ {aims['vs_kamailio']:g}x). With media through the node: "
              f"{ratio('node_media_vs_sippy')} and {ratio('node_media_vs_kamailio')}."]
    per_call = ratios.get("cpu_ms_per_call_at_common_rate")
    if per_call:
        names = {"node_signalling": "node", "node_media": "node with media",
                 "sippy": "sippy", "kamailio": "Kamailio"}
        lines.append(
            f"At {ratios['common_rate']}/s, the highest rate every system passed, CPU per "
            "call: " + ", ".join(f"{names.get(k, k)} {v} ms" for k, v in per_call.items())
            + ". A system that passed the ladder's top was not saturated; its maximum is a "
            "floor.")
    fo = results.get("failover")
    if fo:
        per_run = ", ".join(f"{r.get('to_backup_invite_s')} s" for r in fo["runs"])
        lines += ["", "**Failover** (the agent's network drops mid-call; "
                  f"`calls.agent_media_timeout` {fo['agent_media_timeout_s']:g} s): a call "
                  "connected to agent A (SIPp, G.711 both ways), A's SIPp frozen with "
                  "SIGSTOP after 2 s of talk; time from the SIGSTOP to agent B's SIPp "
                  "receiving the INVITE (B's `-trace_msg` timestamps), "
                  f"{len(fo['runs'])} repetitions, a fresh node each (the node renders its "
                  "notices at start, so the first run does not wait for espeak-ng): median "
                  f"**{fo['median_s']} s**, max "
                  f"**{fo['max_s']} s** (aim < {aims['failover_seconds']:g} s); every caller "
                  f"kept its call: {'yes' if fo['all_callers_kept'] else 'no'}. Per run: "
                  f"{per_run}."]
    lines += ["", "SIPp's CPU: both SIPp processes' utime+stime (getrusage of the reaped "
              "children; 100 % = one core): the load generator was never near its core's "
              "limit. The callers' INVITE→200 time is the node's own answer for the node and "
              "includes the agent's 100 ms answer delay for the peers. The JSON also has each "
              "core's busy share from /proc/stat, which on this shared VM does not agree with "
              "the processes' own CPU: it is not used here.",
              "", "Every step is in `bench/results/calls.json` (with SIPp's figures for both "
              "sides, the drops of each SIP socket, and the node's calls left after a step).",
              "", "| system | rate | ok | successful | achieved | SUT CPU | engine CPU | "
              "ms/call | INVITE→200 ms | SIPp's CPU | why not |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, (system, _) in labels.items():
        entry = results["targets"].get(name) or {}
        for step in entry.get("steps", []):
            label = system + (" (media)" if name == "node_media" else "")
            answer = step["caller"].get("answer_ms")
            lines.append(
                f"| {label} | {step['rate']}/s | {'yes' if step['ok'] else 'no'} | "
                f"{step['successful']}/{step['calls']} | {step['achieved']} | "
                f"{step['cpu_percent']} % | "
                f"{str(step['engine_cpu_percent']) + ' %' if name.startswith('node') else ''}"
                f" | {step['cpu_ms_per_call']} | {'' if answer is None else answer} | "
                f"{step.get('sipp_cpu_percent', '')} % | {step['why']} |")
    return "\n".join(lines) + "\n"
