"""Test helpers for the media suite: RTP parties as real UDP sockets, SDP, engine processes.

Every wait is bounded by a deadline; every process is stopped by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switch.media.rtp import HEADER, RtpPacket

ROOT = Path(__file__).resolve().parents[2]


def sdp(port: int, codecs: str = "0 101", address: str = "127.0.0.1",
        direction: str = "sendrecv") -> str:
    names = {"0": "PCMU/8000", "8": "PCMA/8000", "101": "telephone-event/8000",
             "96": "telephone-event/8000"}
    lines = ["v=0", f"o=- 1 1 IN IP4 {address}", "s=-", f"c=IN IP4 {address}", "t=0 0",
             f"m=audio {port} RTP/AVP {codecs}"]
    for pt in codecs.split():
        lines.append(f"a=rtpmap:{pt} {names[pt]}")
        if names[pt].startswith("telephone"):
            lines.append(f"a=fmtp:{pt} 0-16")
    lines += ["a=ptime:20", f"a={direction}"]
    return "\r\n".join(lines) + "\r\n"


def port_of(text: str) -> int:
    for line in text.splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise AssertionError(f"no audio m= line in {text!r}")


def address_of(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("c="):
            return line.split()[2]
    raise AssertionError("no c= line")


class _PeerProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.peer: Peer | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.peer is not None:
            self.peer.received.append((time.monotonic(), data, addr))
            self.peer.arrived.set()


@dataclass
class Peer:
    """A party's RTP socket: sends packets, keeps what arrives (bounded waits)."""

    transport: asyncio.DatagramTransport
    port: int
    received: list[tuple[float, bytes, tuple[str, int]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    seq: int = field(default_factory=lambda: random.randrange(1 << 16))
    ts: int = field(default_factory=lambda: random.randrange(1 << 32))
    ssrc: int = field(default_factory=lambda: random.getrandbits(32))

    @classmethod
    async def open(cls, host: str = "127.0.0.1") -> Peer:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            _PeerProtocol, local_addr=(host, 0))
        peer = cls(transport, transport.get_extra_info("sockname")[1])
        protocol.peer = peer
        return peer

    def close(self) -> None:
        self.transport.close()

    def rtp(self, payload: bytes, pt: int = 0, marker: bool = False,
            timestamp: int | None = None) -> bytes:
        self.seq = (self.seq + 1) & 0xFFFF
        ts = self.ts if timestamp is None else timestamp
        return HEADER.pack(0x80, (0x80 if marker else 0) | pt, self.seq, ts & 0xFFFFFFFF,
                           self.ssrc) + payload

    def send(self, data: bytes, port: int, host: str = "127.0.0.1") -> None:
        self.transport.sendto(data, (host, port))

    async def stream(self, port: int, frames: list[bytes], pt: int = 0,
                     interval: float = 0.02) -> None:
        """Send ``frames`` paced like a phone, advancing the RTP clock by 160 per frame."""
        for frame in frames:
            self.send(self.rtp(frame, pt), port)
            self.ts += 160
            await asyncio.sleep(interval)

    async def wait(self, count: int, timeout: float = 3.0) -> list[RtpPacket]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), deadline - time.monotonic())
        return self.packets()

    def packets(self) -> list[RtpPacket]:
        return [RtpPacket.parse(d) for _, d, _ in self.received if d[1] < 192 or d[1] > 223]


class EventSink:
    """A UDP socket collecting JSON events (builtin ``--events`` or rtpengine's DTMF log)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    async def open(self, port: int = 0) -> EventSink:
        from switch.media.events import MediaEvents

        def on_event(event: dict[str, Any]) -> None:
            self.events.append(event)
            self.arrived.set()

        self._listener = MediaEvents(on_event, port=port)
        _, self.port = await self._listener.start()
        return self

    async def close(self) -> None:
        await self._listener.close()

    async def wait_for(self, predicate: Any, timeout: float = 3.0) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if predicate(event):
                    return event
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), max(0.01, deadline - time.monotonic()))
        return None


@dataclass
class EngineProcess:
    proc: subprocess.Popen[bytes]
    ready: dict[str, Any]
    data_dir: Path
    port_min: int
    port_max: int

    @property
    def ng(self) -> tuple[str, int]:
        host, _, port = self.ready["ng"].rpartition(":")
        return host, int(port)


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_block(size: int = 40) -> tuple[int, int]:
    """A random even-aligned block of ports for one engine (others may run alongside)."""
    low = random.randrange(20000, 29000) & ~1
    return low, low + size - 1


@contextlib.contextmanager
def builtin_engine(data_dir: Path, events_port: int | None, media_timeout: float = 10.0,
                   ports: int = 40) -> Iterator[EngineProcess]:
    low, high = port_block(ports)
    cmd = [sys.executable, "-m", "switch.media", "--listen-ng", "127.0.0.1:0",
           "--interface", "127.0.0.1", "--port-min", str(low), "--port-max", str(high),
           "--data-dir", str(data_dir), "--media-timeout", str(media_timeout)]
    if events_port:
        cmd += ["--events", f"127.0.0.1:{events_port}"]
    stderr = open(data_dir / "engine.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("engine exited: " + (data_dir / "engine.log").read_text())
        yield EngineProcess(proc, json.loads(line), data_dir, low, high)
    finally:
        stop_process(proc)
        stderr.close()


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
