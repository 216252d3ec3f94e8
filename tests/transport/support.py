"""Shared pieces of the transport tests: a message collector, SIP messages, the event loops.

Every test runs on both uvloop and the stdlib loop (the node runs on uvloop; the stdlib loop
catches code that leans on a uvloop-only behaviour).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from switch.sip.address import Listener, Peer
from switch.transport import TransportManager

LOOPS = [("asyncio", {"use_uvloop": True}), ("asyncio", {"use_uvloop": False})]
LOOP_IDS = ["uvloop", "stdlib"]

# Long enough that nothing in a passing test waits this long; short enough that a failing
# test reports instead of hanging.
WAIT = 5.0


def request(method: str = "OPTIONS", *, branch: str = "z9hG4bKt1", body: bytes = b"",
            call_id: str = "c1@test") -> bytes:
    head = (f"{method} sip:100@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP 127.0.0.1:5099;branch={branch}\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:a@127.0.0.1>;tag=1\r\n"
            "To: <sip:100@127.0.0.1>\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: 1 {method}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def response(status: int = 200, *, call_id: str = "c1@test") -> bytes:
    return (f"SIP/2.0 {status} OK\r\n"
            "Via: SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bKt1\r\n"
            "From: <sip:a@127.0.0.1>;tag=1\r\n"
            "To: <sip:100@127.0.0.1>;tag=2\r\n"
            f"Call-ID: {call_id}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n").encode()


@dataclass
class Received:
    data: bytes
    peer: Peer
    local: Listener


@dataclass
class Collector:
    """The callbacks of a TransportManager, recorded into queues the test awaits."""

    messages: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    lost: asyncio.Queue[Peer] = field(default_factory=asyncio.Queue)
    failed: asyncio.Queue[Peer] = field(default_factory=asyncio.Queue)

    def on_message(self, data: bytes, peer: Peer, local: Listener) -> None:
        self.messages.put_nowait(Received(data, peer, local))

    def on_connection_lost(self, peer: Peer) -> None:
        self.lost.put_nowait(peer)

    def on_send_failed(self, peer: Peer) -> None:
        self.failed.put_nowait(peer)

    async def next(self) -> Received:
        return await asyncio.wait_for(self.messages.get(), WAIT)

    async def next_lost(self) -> Peer:
        return await asyncio.wait_for(self.lost.get(), WAIT)

    async def next_failed(self) -> Peer:
        return await asyncio.wait_for(self.failed.get(), WAIT)


@asynccontextmanager
async def running(listeners: list[str], *, admit: Callable[[Peer], bool] | None = None,
                  **options: Any) -> AsyncIterator[tuple[TransportManager, Collector,
                                                          list[Listener]]]:
    """A started TransportManager on ``listeners`` (port 0), stopped afterwards."""
    collector = Collector()
    manager = TransportManager(collector.on_message, admit=admit,
                               on_connection_lost=collector.on_connection_lost,
                               on_send_failed=collector.on_send_failed, **options)
    bound = await manager.start([Listener.parse(item) for item in listeners])
    try:
        yield manager, collector, bound
    finally:
        await manager.stop()


async def read_exactly(reader: asyncio.StreamReader, count: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(count), WAIT)


async def read_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closes (b"" or a reset both count as closed)."""
    try:
        return await asyncio.wait_for(reader.read(), WAIT)
    except ConnectionResetError:
        return b""
