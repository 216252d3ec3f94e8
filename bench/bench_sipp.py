"""SIPp against the node: digest REGISTERs and OPTIONS per second with zero failures, on one
core, with the node's CPU and memory; Kamailio measured the same way in the same run.

Method
- The system under test (SUT) is pinned to one CPU and SIPp to the other (2-CPU machine).
- For each scenario a short step search: SIPp runs ``rate x STEP_SECONDS`` calls at each rate
  of a ladder; a step passes when every call succeeded (SIPp exit 0, FailedCall 0) and the
  achieved rate was at least ``ACHIEVED_FRACTION`` of the target. After the first failing step
  one midpoint is tried (after a pause that lets the overload drain). The result is the
  highest passing rate.
- CPU is utime+stime from /proc/PID/stat over the step (all processes of the SUT); memory is
  the summed PSS (proportional set size, so Kamailio's shared memory counts once) and, for the
  node, VmRSS.
- REGISTER = the ``register_auth.xml`` call: REGISTER, 401, REGISTER with MD5 digest, 200 —
  two transactions and a digest verification per call. 1,000 accounts, cycled by SIPp.
- Peer: Kamailio 5 (Debian), one SIP worker (``children=1``), in-memory usrloc, digest with
  qop=auth and nonce-count checks (``pv_www_authenticate`` against the same passwords).
- The ladders go on until Kamailio fails too (or SIPp, on its own core, cannot keep up); every
  step also records the SUT's CPU milliseconds per call (``cpu_ms_per_call``), which compares
  the two systems even where one of them was not saturated.
- Memory per registered contact: a fresh SUT with ``CONTACT_SIZES[-1]`` accounts, one contact
  per account (``register_auth.xml`` over distinct users at ``CONTACT_RATE``); summed PSS after
  a warm-up batch, then after 30,000 and 100,000 contacts, each read once the node's
  completed transactions have left its table (RFC 3261 Timer J, 32 s on UDP, plus margin);
  bytes per contact = PSS growth over the contacts added since the warm-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from loadtest.sipp import SCENARIOS, SippRun, free_local_port, run_sipp
from loadtest.users import User, numbered_users, write_users_csv

STEP_SECONDS = 4.0
ACHIEVED_FRACTION = 0.85
COOLDOWN_SECONDS = 5.0
REGISTER_RATES = [250, 500, 1000, 2000, 3000, 4000, 6000, 8000, 10000, 12000, 16000]
OPTIONS_RATES = [500, 1000, 2000, 4000, 6000, 8000, 10000, 12000, 16000, 20000, 25000, 30000]
CONTACT_SIZES = [30_000, 100_000]
CONTACT_WARMUP = 1000
CONTACT_RATE = 1500
DRAIN_SECONDS = 40.0             # Timer J (64*T1 = 32 s) and a margin
USERS = 1000
DOMAIN = "switchboard.local"
AIMS = {"register": 3000, "options": 8000}
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# /proc readings


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Kamailio forks its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / CLK_TCK


def _kib(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_mib(pids: list[int]) -> float:
    return sum(_kib(Path(f"/proc/{pid}/smaps_rollup"), "Pss:") for pid in pids) / 1024


def rss_mib(pid: int) -> float:
    return _kib(Path(f"/proc/{pid}/status"), "VmRSS:") / 1024


def udp_receive_buffer_errors() -> int:
    """System-wide UDP datagrams dropped because a socket's receive buffer was full."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()
             if line.startswith("Udp:")]
    header, values = lines[0], lines[1]
    return int(values[header.index("RcvbufErrors")])


def pin(pids: list[int], cpus: frozenset[int] | None) -> None:
    if cpus:
        for pid in pids:
            with contextlib.suppress(OSError):  # a worker that already exited
                os.sched_setaffinity(pid, cpus)


# --------------------------------------------------------------------------------------------
# Systems under test


@dataclass
class Target:
    name: str
    proc: subprocess.Popen[bytes]
    udp: str                         # HOST:PORT
    workdir: Path

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)

    def stop(self) -> float:
        """SIGTERM, wait (kill after 10 s); returns seconds it took to exit."""
        started = time.monotonic()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        return time.monotonic() - started


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    buffer, deadline = b"", time.monotonic() + timeout
    try:
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError("no ready line from the node")
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError("node exited before ready")
            buffer += chunk
    finally:
        selector.close()
    return buffer.split(b"\n", 1)[0]


def start_switchboard(workdir: Path, users: list[User], cpus: frozenset[int] | None) -> Target:
    from switch.demo import demo_data

    config = demo_data()
    config["accounts"] = [{"username": u.username, "password": u.password} for u in users]
    config["security"].update({
        "digest_algorithms": ["MD5"],               # SIPp answers the first challenge, MD5 only
        "rate_limit": {"rate": 1_000_000, "burst": 1_000_000},  # one source: SIPp
    })
    config["registrar"] = {"qualify_interval": 3600.0}  # no keepalive traffic during steps
    path = workdir / "switchboard.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    script = Path(sys.executable).parent / "switchboard"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "switch.cli"]
    command += ["--log-level", "warning", "run", "--config", str(path), "--sip",
                "udp:127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", str(workdir / "data")]
    stderr = (workdir / "switchboard.stderr").open("wb")
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=stderr, cwd=ROOT)
    ready = json.loads(_read_line(proc, 30 + len(users) / 1000))
    udp = next(s for s in ready["sip"] if s.startswith("udp:")).removeprefix("udp:")
    target = Target("switchboard", proc, udp, workdir)
    pin(target.pids(), cpus)
    return target


KAMAILIO_CFG = """#!KAMAILIO
debug=0
log_stderror=yes
children=1
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:{port}
mpath="{modules}"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)
modparam("auth", "nonce_count", 1)
modparam("auth", "qop", "auth")
request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("OPTIONS")) {{ sl_send_reply("200", "OK"); exit; }}
    if (is_method("REGISTER")) {{
        $var(pw) = "{prefix}" + $fU;
        if (!pv_www_authenticate("{realm}", "$var(pw)", "0")) {{
            www_challenge("{realm}", "1");
            exit;
        }}
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    sl_send_reply("404", "Not Here");
}}
"""


def _kamailio_modules() -> Path | None:
    for candidate in Path("/usr/lib").glob("*/kamailio/modules"):
        if (candidate / "registrar.so").exists():
            return candidate
    return None


def _answers_options(hostport: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        sock.sendto((f"OPTIONS sip:{hostport} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};"
                     "branch=z9hG4bKbenchprobe\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>"
                     ";tag=1\r\nTo: <sip:probe@127.0.0.1>\r\nCall-ID: probe@bench\r\n"
                     "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode(), (host, int(port)))
        sock.settimeout(0.5)
        try:
            return sock.recv(65535).startswith(b"SIP/2.0 200")
        except TimeoutError:
            return False


def start_kamailio(workdir: Path, cpus: frozenset[int] | None,
                   shm_mib: int = 64) -> Target | None:
    binary, modules = shutil.which("kamailio"), _kamailio_modules()
    if binary is None or modules is None:
        return None
    port = free_local_port("127.0.0.1")
    cfg = workdir / "kamailio.cfg"
    cfg.write_text(KAMAILIO_CFG.format(port=port, modules=f"{modules}/", prefix="demo",
                                       realm=DOMAIN))
    stderr = (workdir / "kamailio.stderr").open("wb")
    proc = subprocess.Popen([binary, "-f", str(cfg), "-DD", "-E", "-m", str(shm_mib), "-M", "8",
                             "-P", str(workdir / "kamailio.pid"), "-w", str(workdir)],
                            stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                            start_new_session=True)
    target = Target("kamailio", proc, f"127.0.0.1:{port}", workdir)
    deadline = time.monotonic() + 15
    while not _answers_options(target.udp):
        if proc.poll() is not None or time.monotonic() > deadline:
            target.stop()
            raise RuntimeError("kamailio did not start: "
                               + (workdir / "kamailio.stderr").read_text()[-1500:])
    pin(target.pids(), cpus)
    return target


# --------------------------------------------------------------------------------------------
# Step search


@dataclass
class Step:
    rate: int
    ok: bool
    successful: int
    failed: int
    achieved: float
    cpu_percent: float
    pss_mib: float
    rss_mib: float
    seconds: float
    failures: dict[str, int]
    udp_rcvbuf_drops: int            # datagrams the kernel dropped (full socket buffers)
    cpu_ms_per_call: float = 0.0     # SUT CPU over the step / successful calls


def run_step(target: Target, scenario: str, rate: int, injection: Path | None,
             cpus: frozenset[int] | None) -> Step:
    calls = max(1, int(rate * STEP_SECONDS))
    pids = target.pids()
    cpu_before, started = cpu_seconds(pids), time.monotonic()
    drops_before = udp_receive_buffer_errors()
    result = run_sipp(SippRun(target=target.udp, scenario=SCENARIOS / scenario, calls=calls,
                              rate=rate, transport="udp", injection=injection,
                              time_limit=STEP_SECONDS * 3 + 5, cpus=cpus,
                              max_concurrent=max(1000, rate * 2), extra=_media_port()))
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(target.pids()) - cpu_before
    achieved = result.successful / result.elapsed if result.elapsed else 0.0
    ok = result.ok and result.successful == calls and achieved >= ACHIEVED_FRACTION * rate
    per_call = 1000 * cpu / result.successful if result.successful else 0.0
    return Step(rate, ok, result.successful, result.failed, round(achieved, 1),
                round(100 * cpu / elapsed, 1), round(pss_mib(target.pids()), 1),
                round(rss_mib(target.proc.pid), 1), round(elapsed, 2), result.failures,
                udp_receive_buffer_errors() - drops_before, round(per_call, 4))


def _media_port() -> tuple[str, ...]:
    """SIPp binds an RTP port even for signalling-only scenarios (6000 by default), which
    another SIPp on this shared machine may hold: take a free one."""
    return ("-mp", str(free_local_port("127.0.0.1")))


def step_search(target: Target, scenario: str, rates: list[int], injection: Path | None,
                cpus: frozenset[int] | None, log: Callable[[str], None]) -> dict[str, Any]:
    steps: list[Step] = []
    best: Step | None = None
    for rate in rates:
        step = run_step(target, scenario, rate, injection, cpus)
        steps.append(step)
        log(f"   {target.name} {scenario} {rate}/s -> ok={step.ok} achieved={step.achieved} "
            f"failed={step.failed} cpu={step.cpu_percent}% drops={step.udp_rcvbuf_drops}")
        if not step.ok:
            low = best.rate if best else 0
            mid = (low + rate) // 2
            if mid > low and mid not in rates:
                # Let the overloaded step's backlog (socket buffers, SIPp retransmissions)
                # drain first, so the midpoint measures the rate and not the aftermath.
                time.sleep(COOLDOWN_SECONDS)
                extra = run_step(target, scenario, mid, injection, cpus)
                steps.append(extra)
                log(f"   {target.name} {scenario} {mid}/s -> ok={extra.ok} "
                    f"achieved={extra.achieved}")
                if extra.ok:
                    best = extra
            break
        best = step
    return {"best_rate": best.rate if best else 0, "best": asdict(best) if best else None,
            "capped_by_ladder": bool(steps and steps[-1].ok and steps[-1].rate == rates[-1]),
            "steps": [asdict(s) for s in steps]}


def contact_memory(target: Target, users: list[User], workdir: Path,
                   cpus: frozenset[int] | None, log: Callable[[str], None]) -> dict[str, Any]:
    """PSS growth per registered contact (one contact per account), see the module doc."""
    def register(batch: list[User], name: str) -> SippRun:
        injection = write_users_csv(workdir / f"{name}.csv", batch, DOMAIN)
        run = SippRun(target=target.udp, scenario=SCENARIOS / "register_auth.xml",
                      calls=len(batch), rate=CONTACT_RATE, transport="udp",
                      injection=injection, time_limit=len(batch) / CONTACT_RATE * 3 + 30,
                      cpus=cpus, max_concurrent=max(1000, CONTACT_RATE * 2),
                      extra=_media_port())
        result = run_sipp(run)
        if not result.ok or result.successful != len(batch):
            raise RuntimeError(f"{target.name}: registering {name} failed: {result.describe()}")
        return run

    def settled_pss() -> float:
        time.sleep(DRAIN_SECONDS)
        return pss_mib(target.pids())

    register(users[:CONTACT_WARMUP], "warmup")
    base = settled_pss()
    out: dict[str, Any] = {"warmup_contacts": CONTACT_WARMUP, "base_pss_mib": round(base, 2),
                           "sizes": {}}
    done, previous = CONTACT_WARMUP, base
    for size in CONTACT_SIZES:
        register(users[done:size], f"to{size}")
        pss = settled_pss()
        per_contact = (pss - base) * 1024 * 1024 / (size - CONTACT_WARMUP)
        # The growth over the last batch alone: memory freed at start-up (e.g. the parsed
        # configuration) and reused by the first contacts does not flatter this one.
        marginal = (pss - previous) * 1024 * 1024 / (size - done)
        out["sizes"][str(size)] = {"pss_mib": round(pss, 2),
                                   "bytes_per_contact": round(per_contact),
                                   "marginal_bytes_per_contact": round(marginal)}
        done, previous = size, pss
        log(f"   {target.name} {size} contacts: PSS {pss:.1f} MiB, "
            f"{per_contact:.0f} B/contact")
    return out


def _cpu_split() -> tuple[frozenset[int] | None, frozenset[int] | None]:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return frozenset({cpus[-1]}), frozenset({cpus[0]})  # (system under test, SIPp)


def main() -> dict[str, Any]:
    if shutil.which("sipp") is None:
        raise RuntimeError("sipp not installed (apt-get install sip-tester; `make bench` does)")
    sut_cpus, sipp_cpus = _cpu_split()
    users = numbered_users(USERS, start=100000, password_prefix="demo")
    results: dict[str, Any] = {
        "method": {"step_seconds": STEP_SECONDS, "achieved_fraction": ACHIEVED_FRACTION,
                   "users": USERS, "sut_cpus": sorted(sut_cpus or []),
                   "sipp_cpus": sorted(sipp_cpus or []), "transport": "udp",
                   "digest": "MD5, qop=auth"},
        "aims": AIMS, "targets": {},
    }

    def log(text: str) -> None:
        print(text, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-sipp-") as tmp:
        injection = write_users_csv(Path(tmp) / "users.csv", users, DOMAIN)
        starters: list[tuple[str, Callable[[Path], Target | None]]] = [
            ("switchboard", lambda d: start_switchboard(d, users, sut_cpus)),
            ("kamailio", lambda d: start_kamailio(d, sut_cpus)),
        ]
        for name, starter in starters:
            workdir = Path(tmp) / name
            workdir.mkdir()
            target = starter(workdir)
            if target is None:
                results["targets"][name] = {"skipped": "not installed"}
                continue
            try:
                record: dict[str, Any] = {
                    "register": step_search(target, "register_auth.xml", REGISTER_RATES,
                                            injection, sipp_cpus, log),
                    "options": step_search(target, "options.xml", OPTIONS_RATES, None,
                                           sipp_cpus, log),
                }
                record["alive_after"] = target.proc.poll() is None
            finally:
                stop_seconds = target.stop()
            record["stop_seconds"] = round(stop_seconds, 2)
            results["targets"][name] = record
        # Memory per contact: fresh SUTs with an account per contact.
        many = numbered_users(CONTACT_SIZES[-1], start=200000, password_prefix="demo")
        mem_starters: list[tuple[str, Callable[[Path], Target | None]]] = [
            ("switchboard", lambda d: start_switchboard(d, many, sut_cpus)),
            ("kamailio", lambda d: start_kamailio(d, sut_cpus, shm_mib=512)),
        ]
        for name, starter in mem_starters:
            workdir = Path(tmp) / f"{name}-contacts"
            workdir.mkdir()
            target = starter(workdir)
            if target is None:
                continue
            try:
                results["targets"][name]["contacts"] = contact_memory(
                    target, many, workdir, sipp_cpus, log)
            finally:
                target.stop()
    return results


def _best(record: dict[str, Any], target: str, scenario: str) -> dict[str, Any] | None:
    data = record["results"]["targets"].get(target, {})
    entry = data.get(scenario)
    return entry if isinstance(entry, dict) else None


def summarize(record: dict[str, Any]) -> str:
    results = record["results"]
    method = results["method"]
    lines = [
        "SIPp (UDP) against the node and against **Kamailio** (the reference peer: C, one SIP "
        "worker, in-memory usrloc, the same MD5 digest with qop=auth and nonce-count checks), "
        f"each pinned to CPU {method['sut_cpus']} with SIPp on {method['sipp_cpus']}. "
        f"Highest rate of a step ladder ({method['step_seconds']:g} s steps) with zero failed "
        f"calls and at least {int(method['achieved_fraction'] * 100)} % of the target rate "
        f"achieved; REGISTER = REGISTER/401/REGISTER+digest/200 over {method['users']} accounts.",
        "",
        "| scenario | aim | switchboard | CPU | PSS MiB | Kamailio | CPU | PSS MiB | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario in ("register", "options"):
        ours, peer = _best(record, "switchboard", scenario), _best(record, "kamailio", scenario)

        def cells(entry: dict[str, Any] | None) -> list[str]:
            if entry is None:
                return ["n/a", "", ""]
            best = entry.get("best") or {}
            capped = " (ladder top)" if entry.get("capped_by_ladder") else ""
            return [f"{entry['best_rate']}/s{capped}", f"{best.get('cpu_percent', 0)} %",
                    f"{best.get('pss_mib', 0)}"]

        ratio = ""
        if ours and peer and peer["best_rate"]:
            ratio = f"{ours['best_rate'] / peer['best_rate']:.2f}"
        lines.append(f"| {scenario} | {results['aims'][scenario]}/s | "
                     + " | ".join(cells(ours)) + " | " + " | ".join(cells(peer))
                     + f" | {ratio} |")
    lines.append("")
    lines.append("CPU is the SUT's utime+stime over the passing step divided by its wall time "
                 "(100 % = one core). Every step is in `bench/results/sipp.json`, with "
                 "`udp_rcvbuf_drops`: datagrams the kernel dropped because a receive buffer was "
                 "full (SIPp then retransmits after 500 ms, which caps the achieved rate without "
                 "failing calls).")
    for scenario in ("register", "options"):
        ours = _best(record, "switchboard", scenario)
        if not ours:
            continue
        failing = [s for s in ours["steps"] if not s["ok"]]
        if failing:
            first = failing[0]
            lines.append(f"- switchboard {scenario}: first failing step {first['rate']}/s "
                         f"achieved {first['achieved']}/s with {first['failed']} failed calls, "
                         f"CPU {first['cpu_percent']} %, "
                         f"{first.get('udp_rcvbuf_drops', 'n/a')} receive-buffer drops.")
    lines += ["", "CPU milliseconds per call (SUT utime+stime over the step / successful calls; "
              "a REGISTER call is two transactions and one digest check), at the highest rate "
              "both passed and at each system's best step:", "",
              "| scenario | rate both passed | switchboard ms/call | Kamailio ms/call | "
              "ratio (Kamailio/switchboard) | switchboard at best | Kamailio at best |",
              "|---|---|---|---|---|---|---|"]
    for scenario in ("register", "options"):
        ours, peer = _best(record, "switchboard", scenario), _best(record, "kamailio", scenario)
        if not ours or not peer:
            continue
        mine = {s["rate"]: s for s in ours["steps"] if s["ok"]}
        theirs = {s["rate"]: s for s in peer["steps"] if s["ok"]}
        common = sorted(set(mine) & set(theirs))
        if not common or "cpu_ms_per_call" not in mine[common[-1]]:
            continue
        rate = common[-1]
        a, b = mine[rate]["cpu_ms_per_call"], theirs[rate]["cpu_ms_per_call"]
        best_a = (ours.get("best") or {}).get("cpu_ms_per_call", 0)
        best_b = (peer.get("best") or {}).get("cpu_ms_per_call", 0)
        ratio = f"{b / a:.2f}" if a else ""
        lines.append(f"| {scenario} | {rate}/s | {a} | {b} | {ratio} | {best_a} | {best_b} |")
    contacts = {name: results["targets"].get(name, {}).get("contacts")
                for name in ("switchboard", "kamailio")}
    if contacts["switchboard"]:
        lines += ["", "Memory per registered contact (one contact per account, PSS growth "
                  "after the node's completed transactions left its table; Kamailio: usrloc in "
                  "shared memory, counted once):", "",
                  "| contacts | switchboard B/contact | marginal | PSS MiB | Kamailio B/contact "
                  "| marginal | PSS MiB | ratio | ratio (marginal) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for size, mine_c in contacts["switchboard"]["sizes"].items():
            peer_c = (contacts["kamailio"] or {}).get("sizes", {}).get(size, {})
            ratio = (f"{mine_c['bytes_per_contact'] / peer_c['bytes_per_contact']:.2f}"
                     if peer_c.get("bytes_per_contact") else "")
            theirs_m = peer_c.get("marginal_bytes_per_contact")
            marginal = (f"{mine_c['marginal_bytes_per_contact'] / theirs_m:.2f}"
                        if theirs_m else "")
            lines.append(f"| {int(size):,} | {mine_c['bytes_per_contact']} | "
                         f"{mine_c.get('marginal_bytes_per_contact', '')} | "
                         f"{mine_c['pss_mib']} | {peer_c.get('bytes_per_contact', 'n/a')} | "
                         f"{peer_c.get('marginal_bytes_per_contact', '')} | "
                         f"{peer_c.get('pss_mib', '')} | {ratio} | {marginal} |")
    baseline = results.get("baseline")
    if baseline:
        lines += ["", f"Before/after: {baseline['note']}", "",
                  "| figure | before: switchboard | before: Kamailio | after: switchboard | "
                  "after: Kamailio |", "|---|---|---|---|---|"]
        for row in baseline["rows"]:
            lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
        lines += [""] + [f"- {note}" for note in baseline.get("notes", [])]
    return "\n".join(lines) + "\n"
