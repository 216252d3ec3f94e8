"""The node's side of the ng control protocol: one :class:`MediaClient` per media engine.

Theory of operation
-------------------
The same client drives the builtin engine and a real rtpengine; it speaks only what both
understand (see docs/media.md). A request is one UDP datagram with a fresh cookie; the reply
carries the same cookie. UDP loses datagrams, so a request without a reply is sent again with
the same cookie (the engine answers a retransmission from its reply cache instead of running
the command twice, as rtpengine does) after 0.5 s, then 1 s, 2 s... until ``timeout``, when
:class:`MediaTimeout` is raised. An ``error`` result raises :class:`MediaError` with the
engine's ``error-reason``; a ``warning`` is logged.

Keyword arguments of the calls become ng keys with ``_`` written ``-`` (``media_address`` ->
``media-address``), so any rtpengine option can be passed through without a new method.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from typing import Any
from urllib.parse import urlsplit

from .ng import NgError, build_message, parse_message

__all__ = ["MediaClient", "MediaError", "MediaTimeout", "parse_engine_url"]

log = logging.getLogger(__name__)


class MediaError(RuntimeError):
    """The engine answered ``result: error``; ``reason`` is its ``error-reason``."""

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"media engine refused {command!r}: {reason}")
        self.command = command
        self.reason = reason


class MediaTimeout(MediaError):
    """No reply within the timeout, retransmissions included (the engine is down or lost)."""


def parse_engine_url(url: str) -> tuple[str, int]:
    """``rtpengine://host:port`` or ``ng://host:port`` (or ``udp:``) -> (host, port)."""
    parts = urlsplit(url)
    if parts.scheme not in ("rtpengine", "ng", "udp") or not parts.hostname or not parts.port:
        raise ValueError(f"media engine URL must be rtpengine://HOST:PORT, not {url!r}")
    return parts.hostname, parts.port


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: MediaClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.client._on_reply(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: the engine is not there (yet); retransmission handles it
        log.debug("media engine socket error: %s", exc)


class MediaClient:
    """One ng engine at ``host:port`` (the builtin engine or rtpengine)."""

    def __init__(self, host: str, port: int, *, timeout: float = 5.0,
                 first_retransmit: float = 0.5) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.first_retransmit = first_retransmit
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._prefix = f"{os.getpid()}_{id(self) & 0xFFFF:x}_"
        self._counter = itertools.count(1)
        # calls anchored through this client and not deleted: what an engine death affects
        self.active_calls: set[str] = set()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> MediaClient:
        host, port = parse_engine_url(url)
        return cls(host, port, **kwargs)

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), remote_addr=(self.host, self.port))
        self._transport = transport

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(MediaError("close", "client closed"))
        self._pending.clear()

    async def __aenter__(self) -> MediaClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the transaction --------------------------------------------------------------------

    def _on_reply(self, data: bytes) -> None:
        try:
            cookie, body = parse_message(data)
        except NgError as exc:
            log.warning("unreadable reply from media engine %s:%d: %s",
                        self.host, self.port, exc.reason)
            return
        future = self._pending.pop(cookie, None)
        if future is not None and not future.done():
            future.set_result(body)

    async def command(self, name: str, **keys: Any) -> dict[str, Any]:
        """Send ``command: name`` with ``keys`` (``_`` -> ``-``); return the ``ok`` reply."""
        body: dict[str, Any] = {"command": name}
        for key, value in keys.items():
            if value is not None:
                body[key.replace("_", "-")] = value
        return await self.request(body)

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send a raw request dictionary; retransmit until a reply or the timeout."""
        if self._transport is None:
            raise MediaError(str(body.get("command")), "client not started")
        loop = asyncio.get_running_loop()
        cookie = f"{self._prefix}{next(self._counter)}"
        datagram = build_message(cookie, body)
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[cookie] = future
        deadline = loop.time() + self.timeout
        interval = self.first_retransmit
        try:
            while True:
                self._transport.sendto(datagram)
                wait = min(interval, deadline - loop.time())
                if wait <= 0:
                    raise MediaTimeout(str(body.get("command")),
                                       f"no reply from {self.host}:{self.port} "
                                       f"in {self.timeout:g} s")
                done, _ = await asyncio.wait({future}, timeout=wait)
                if done:
                    break
                interval *= 2
        finally:
            self._pending.pop(cookie, None)
        reply = future.result()
        command = str(body.get("command"))
        if reply.get("result") == "error":
            raise MediaError(command, str(reply.get("error-reason", "unknown error")))
        if "warning" in reply:
            log.warning("media engine %s:%d warns on %r: %s", self.host, self.port,
                        command, reply["warning"])
        return reply

    # -- the commands the node uses ---------------------------------------------------------

    async def ping(self) -> None:
        reply = await self.command("ping")
        if reply.get("result") != "pong":
            raise MediaError("ping", f"unexpected result {reply.get('result')!r}")

    async def offer(self, call_id: str, from_tag: str, sdp: str, **flags: Any) -> str:
        """Anchor the offerer's media; returns the SDP to send on to the answerer."""
        reply = await self.command("offer", call_id=call_id, from_tag=from_tag, sdp=sdp,
                                   **flags)
        self.active_calls.add(call_id)
        return _sdp_of(reply, "offer")

    async def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str,
                     **flags: Any) -> str:
        """Complete the anchor with the answerer's SDP; returns the SDP for the offerer."""
        reply = await self.command("answer", call_id=call_id, from_tag=from_tag,
                                   to_tag=to_tag, sdp=sdp, **flags)
        return _sdp_of(reply, "answer")

    async def delete(self, call_id: str, from_tag: str | None = None,
                     **flags: Any) -> dict[str, Any]:
        self.active_calls.discard(call_id)
        return await self.command("delete", call_id=call_id, from_tag=from_tag, **flags)

    async def query(self, call_id: str, **keys: Any) -> dict[str, Any]:
        return await self.command("query", call_id=call_id, **keys)

    async def play_media(self, call_id: str, from_tag: str, file: str,
                         repeat: int | None = None, **keys: Any) -> dict[str, Any]:
        """Play ``file`` to the party ``from_tag`` (once, or ``repeat`` times: MOH passes a
        large number). The reply's ``duration`` is in milliseconds when known."""
        return await self.command("play media", call_id=call_id, from_tag=from_tag,
                                  file=file, repeat_times=repeat, **keys)

    async def stop_media(self, call_id: str, from_tag: str) -> dict[str, Any]:
        return await self.command("stop media", call_id=call_id, from_tag=from_tag)

    async def play_dtmf(self, call_id: str, from_tag: str, digit: str,
                        duration_ms: int = 100, **keys: Any) -> dict[str, Any]:
        """Inject ``digit`` as RFC 4733 events toward the party ``from_tag`` talks to (the
        tag selects the *sender* of the digit, as in rtpengine)."""
        return await self.command("play DTMF", call_id=call_id, from_tag=from_tag,
                                  digit=digit, duration=duration_ms, **keys)

    async def start_recording(self, call_id: str, **keys: Any) -> dict[str, Any]:
        return await self.command("start recording", call_id=call_id, **keys)

    async def stop_recording(self, call_id: str, **keys: Any) -> dict[str, Any]:
        return await self.command("stop recording", call_id=call_id, **keys)

    async def pause_recording(self, call_id: str, **keys: Any) -> dict[str, Any]:
        """Pause (``start_recording`` resumes into the same file). rtpengine before 11 has no
        ``pause recording``: there it falls back to ``stop recording`` with the ``pause`` flag,
        which those versions treat as a plain stop."""
        try:
            return await self.command("pause recording", call_id=call_id, **keys)
        except MediaError as exc:
            if "Unrecognized command" not in exc.reason:
                raise
        return await self.command("stop recording", call_id=call_id, flags=["pause"], **keys)

    async def statistics(self) -> dict[str, Any]:
        return await self.command("statistics")


def _sdp_of(reply: dict[str, Any], command: str) -> str:
    sdp = reply.get("sdp")
    if isinstance(sdp, bytes):
        sdp = sdp.decode("utf-8", "replace")
    if not isinstance(sdp, str):
        raise MediaError(command, "reply carries no sdp")
    return sdp
