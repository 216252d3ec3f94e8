"""UDP datagrams per second echoed through the TransportManager: uvloop versus the stdlib loop.

A server process runs a :class:`~switch.transport.TransportManager` on one UDP listener whose
``on_message`` sends every datagram straight back to its :class:`Peer` (the full receive and
send path of the node, minus SIP parsing). A client process keeps ``WINDOW`` datagrams (a
typical 500-octet OPTIONS) in flight for ``DURATION`` seconds and counts the echoes.

The two loops alternate over ``ROUNDS`` rounds in the same run (the machine is shared and
noisy); the best round of each is reported, with the server's CPU time per echoed datagram,
which does not depend on how fast the client is.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

DURATION = float(os.environ.get("BENCH_TRANSPORT_SECONDS", "2"))
ROUNDS = int(os.environ.get("BENCH_TRANSPORT_ROUNDS", "3"))
WINDOW = int(os.environ.get("BENCH_TRANSPORT_WINDOW", "256"))

MESSAGE = (
    b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-bench-0001;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: \"Bench\" <sip:bench@127.0.0.1>;tag=8d2b6f0e\r\n"
    b"To: <sip:100@127.0.0.1>\r\n"
    b"Call-ID: 1f0c7a2e-bench-4b8e-9a51-0d3c7e2f6a11@127.0.0.1\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Contact: <sip:bench@127.0.0.1:5099>\r\n"
    b"Accept: application/sdp\r\n"
    b"User-Agent: switchboard-bench\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY\r\n"
    b"Supported: replaces, timer\r\n"
    b"Content-Length: 0\r\n\r\n"
)


# -- server process ------------------------------------------------------------------------------

async def _serve() -> None:
    from switch.sip.address import Listener, Peer
    from switch.transport import TransportManager

    holder: list[TransportManager] = []

    def echo(data: bytes, peer: Peer, local: Listener) -> None:
        holder[0].send(data, peer)

    manager = TransportManager(echo, admit=lambda peer: True)
    holder.append(manager)
    bound = await manager.start([Listener("udp", "127.0.0.1", 0)])
    start = os.times()
    print(bound[0].port, flush=True)
    loop = asyncio.get_running_loop()
    # Runs until the parent closes stdin; then reports the process CPU time it used.
    await loop.run_in_executor(None, sys.stdin.read)
    times = os.times()
    cpu = times.user + times.system - start.user - start.system
    print(json.dumps({"cpu": cpu,
                      "stats": manager.stats()}), flush=True)
    await manager.stop()


def serve(loop_name: str) -> None:
    if loop_name == "uvloop":
        import uvloop

        uvloop.run(_serve())
    else:
        asyncio.run(_serve())


# -- client (this process) -----------------------------------------------------------------------

def _round(loop_name: str) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, "-c", f"from bench.bench_transport import serve; serve({loop_name!r})"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        port = int(proc.stdout.readline())
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.connect(("127.0.0.1", port))
        sock.settimeout(0.2)
        for _ in range(WINDOW):
            sock.send(MESSAGE)
        echoed = lost = 0
        started = time.perf_counter()
        deadline = started + DURATION
        while True:
            now = time.perf_counter()
            if now >= deadline:
                break
            try:
                sock.recv(2048)
            except TimeoutError:
                lost += 1  # a datagram went missing: refill the window
            else:
                echoed += 1
            sock.send(MESSAGE)
        elapsed = time.perf_counter() - started
        sock.close()
    finally:
        proc.stdin.close()
        report = json.loads(proc.stdout.readline() or "{}")
        proc.wait(timeout=10)
    return {"echoed_per_s": round(echoed / elapsed), "echoed": echoed, "timeouts": lost,
            "server_cpu_s": round(report.get("cpu", 0.0), 3),
            "server_cpu_us_per_datagram": round(
                report.get("cpu", 0.0) / max(1, echoed) * 1e6, 2),
            "server_in": report.get("stats", {}).get("messages_in", {}).get("udp")}


def main() -> dict[str, Any]:
    rounds: dict[str, list[dict[str, Any]]] = {"uvloop": [], "stdlib": []}
    for _ in range(ROUNDS):
        for name in rounds:
            rounds[name].append(_round(name))
    best = {name: max(items, key=lambda item: item["echoed_per_s"])
            for name, items in rounds.items()}
    ratio = best["uvloop"]["echoed_per_s"] / max(1, best["stdlib"]["echoed_per_s"])
    return {"duration_s": DURATION, "window": WINDOW, "message_octets": len(MESSAGE),
            "best": best, "uvloop_over_stdlib": round(ratio, 2), "rounds": rounds}


def summarize(record: dict[str, Any]) -> str:
    res = record["results"]
    lines = [
        f"UDP echo through `TransportManager` ({res['message_octets']}-octet OPTIONS, "
        f"{res['window']} in flight, best of {len(res['rounds']['uvloop'])} rounds of "
        f"{res['duration_s']} s each, loops alternating). The client is a plain Python socket "
        "in another process, so the server CPU per datagram is the figure to compare.",
        "",
        "| loop | echoed datagrams/s | server CPU per datagram (µs) |",
        "|---|---:|---:|",
    ]
    for name, best in res["best"].items():
        lines.append(f"| {name} | {best['echoed_per_s']:,} | "
                     f"{best['server_cpu_us_per_datagram']} |")
    lines.append("")
    lines.append(f"uvloop / stdlib throughput: **{res['uvloop_over_stdlib']}x**.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
