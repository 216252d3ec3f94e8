"""The builtin media engine: an ng server and an RTP relay in one uvloop process.

Theory of operation
-------------------
The engine runs in its own process (one per core), so RTP never competes with SIP for the
node's event loop (design §9). It listens for ng commands on one UDP socket (the same subset
of rtpengine's protocol the node's :class:`~switch.media.client.MediaClient` speaks) and
sends events (DTMF in rtpengine's ``--dtmf-log-dest`` JSON, plus media-lost, quality,
playback and recording events) as JSON datagrams to ``--events``.

Every leg has one UDP socket per port of its even/odd pair. The hot path
(:meth:`Engine.on_rtp`) is a handful of attribute reads, the source check, counters, the
jitter update, one dict look-up for the route and one ``sendto``; transcoding adds one
``bytes.translate``. Work that is not per packet runs on two timers: a 20 ms tick that paces
everything the engine sends on its own (:mod:`~switch.media.player`), and a 100 ms
housekeeping tick (DTMF end timeouts, media-lost, quality, recorder writes, the reply cache).

Retransmitted ng requests (same cookie) get the cached reply, never a second execution, as
rtpengine does: an ``offer`` retried after a lost reply must not allocate twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import struct
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audio import AudioError, load_frames
from .codecs import CODECS
from .commands import CommandsMixin
from .ng import NgError, build_message, error_reply, parse_message, validate
from .ports import PortRange
from .rtp import RtpError, RtpPacket, is_rtcp, parse_compound
from .session import Call, Leg, codec_of
from .supervision import SupervisionMixin

__all__ = ["Engine", "EngineConfig"]

log = logging.getLogger(__name__)
_SEQ_TS = struct.Struct("!HI")
TICK = 0.020
HOUSEKEEPING = 0.1
REPLY_CACHE_SECONDS = 30.0


@dataclass(slots=True)
class EngineConfig:
    interface: str = "127.0.0.1"
    listen_ng: tuple[str, int] = ("127.0.0.1", 2223)
    port_min: int = 30000
    port_max: int = 40000
    events: tuple[str, int] | None = None
    data_dir: Path = Path("data")
    media_timeout: float = 10.0
    mos_threshold: float = 3.5
    exit_with_parent: bool = False  # stop when stdin (the supervisor's pipe) closes


class _NgProtocol(asyncio.DatagramProtocol):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.engine.on_ng(data, addr)


class _MediaProtocol(asyncio.DatagramProtocol):
    __slots__ = ("handler", "leg")

    def __init__(self, handler: Callable[[Leg, bytes, tuple[str, int]], None], leg: Leg) -> None:
        self.handler = handler
        self.leg = leg

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.handler(self.leg, data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP from a party that went away: media-lost will tell


def _factory(handler: Callable[[Leg, bytes, tuple[str, int]], None],
             leg: Leg) -> Callable[[], _MediaProtocol]:
    return lambda: _MediaProtocol(handler, leg)


class Engine(CommandsMixin, SupervisionMixin):
    """Calls, legs, sockets and timers of one engine process."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.ports = PortRange(config.port_min, config.port_max)
        self.calls: dict[str, Call] = {}
        self.address = config.interface
        self._ng: asyncio.DatagramTransport | None = None
        self._events: asyncio.DatagramTransport | None = None
        self._replies: dict[str, tuple[bytes, float]] = {}
        self._busy: set[str] = set()
        self._active: set[Leg] = set()  # legs with an Outbound that has work
        self.mixing: set[Call] = set()  # supervised calls: the tick mixes their audio
        self._timers: list[asyncio.TimerHandle] = []
        self._frames_cache: dict[tuple[str, float, str], list[bytes]] = {}
        self._wall0 = time.time() - time.monotonic()
        self._last_slow = 0.0
        self.ng_address: tuple[str, int] = config.listen_ng
        self.commands_served = 0

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _NgProtocol(self), local_addr=self.config.listen_ng)
        self._ng = transport
        self.ng_address = transport.get_extra_info("sockname")[:2]
        if self.config.events:
            self._events, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=self.config.events)
        self._next_tick = loop.time() + TICK
        self._timers = [loop.call_at(self._next_tick, self._tick),
                        loop.call_later(HOUSEKEEPING, self._housekeeping)]
        return self.ng_address

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for call_id in list(self.calls):
            self.delete_call(call_id)
        for transport in (self._ng, self._events):
            if transport is not None:
                transport.close()

    def wall(self, monotonic: float) -> float:
        return self._wall0 + monotonic

    # -- ng ---------------------------------------------------------------------------------

    def on_ng(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            cookie, body = parse_message(data)
        except NgError as exc:
            known: str | None = getattr(exc, "cookie", None)
            if known is not None:
                self._reply(known, error_reply(exc.reason), addr)
            else:
                log.warning("dropped an ng datagram from %s: %s", addr, exc.reason)
            return
        cached = self._replies.get(cookie)
        if cached is not None:
            if self._ng is not None:
                self._ng.sendto(cached[0], addr)  # a retransmission: same reply, no re-run
            return
        if cookie in self._busy:
            return
        self._busy.add(cookie)
        asyncio.get_running_loop().create_task(self._serve(cookie, body, addr))

    async def _serve(self, cookie: str, body: dict[str, Any], addr: tuple[str, int]) -> None:
        try:
            command = validate(body)
            reply = await self.dispatch(command)
        except NgError as exc:
            reply = error_reply(exc.reason)
        except (ValueError, OSError, AudioError) as exc:
            reply = error_reply(str(exc))
        except Exception as exc:  # a bug must not stop the engine serving other calls
            log.exception("ng command failed")
            reply = error_reply(f"internal error: {type(exc).__name__}")
        finally:
            self._busy.discard(cookie)
        self.commands_served += 1
        self._reply(cookie, reply, addr)

    def _reply(self, cookie: str, reply: dict[str, Any], addr: tuple[str, int]) -> None:
        try:
            data = build_message(cookie, reply)
        except TypeError:
            log.exception("unencodable ng reply")
            data = build_message(cookie, error_reply("internal error: unencodable reply"))
        self._replies[cookie] = (data, time.monotonic())
        if self._ng is not None:
            self._ng.sendto(data, addr)

    # -- legs and sockets -----------------------------------------------------------------

    async def open_leg(self, call: Call, tag: str) -> Leg:
        """A leg with a bound even/odd port pair (ports the OS refuses are skipped)."""
        loop = asyncio.get_running_loop()
        for _ in range(min(self.ports.pairs, 64)):
            port = self.ports.allocate(call.call_id)
            socks: list[socket.socket] = []
            try:
                for p in (port, port + 1):
                    sock = socket.socket(socket.AF_INET6 if ":" in self.address
                                         else socket.AF_INET, socket.SOCK_DGRAM)
                    socks.append(sock)
                    sock.bind((self.address, p))
                    sock.setblocking(False)
            except OSError:
                for sock in socks:
                    sock.close()
                self.ports.release(port)
                continue
            leg = Leg(tag, port, time.time(), call_id=call.call_id)
            leg.rtp_tx, _ = await loop.create_datagram_endpoint(
                _factory(self.on_rtp, leg), sock=socks[0])
            leg.rtcp_tx, _ = await loop.create_datagram_endpoint(
                _factory(self.on_rtcp, leg), sock=socks[1])
            call.legs[tag] = leg
            return leg
        raise OSError("could not bind any RTP port pair in the range")

    def close_leg(self, leg: Leg) -> None:
        for transport in (leg.rtp_tx, leg.rtcp_tx):
            if transport is not None:
                transport.close()
        leg.rtp_tx = leg.rtcp_tx = None
        self._active.discard(leg)
        self.ports.release(leg.port)

    # -- the relay (hot path) ---------------------------------------------------------------

    def on_rtp(self, leg: Leg, data: bytes, addr: tuple[str, int]) -> None:
        counters = leg.rtp_in
        locked = leg.rtp_source
        if (locked != addr if locked is not None else not leg.accepts_source(addr)) or (
                len(data) < 12 or data[0] & 0xC0 != 0x80):
            counters.errors += 1
            return
        now = time.monotonic()
        counters.packets += 1
        counters.bytes += len(data)
        counters.last_packet = now
        leg.last_rx = now
        pt = data[1] & 0x7F
        seq, ts = _SEQ_TS.unpack_from(data, 2)
        leg.quality.update(seq, ts, now)
        if pt == leg.te_in_pt:
            self._on_telephone_event(leg, data, addr, ts, now)
        if leg.mixer is not None:  # supervised: the tick mixes, nothing is relayed as is
            codec = CODECS.get(codec_of(leg, pt) or "")
            if codec is not None:
                leg.mixer.feed(leg.tag, codec.to_linear(data[12 + 4 * (data[0] & 0x0F):]))
            return
        route = leg.routes.get(pt)
        peer = leg.peer
        if route is None or peer is None:
            return
        if leg.recorder is not None or peer.recorder is not None:
            self._record(leg, peer, data, route.codec, now)
        if route.table is not None or route.out_pt != pt:
            head = 12 + 4 * (data[0] & 0x0F)
            if data[0] & 0x30:  # extension or padding: take the slow, exact path
                self._forward_parsed(leg, peer, data, route)
                return
            payload = data[head:]
            if route.table is not None:
                payload = payload.translate(route.table)
            data = bytes((data[0], (data[1] & 0x80) | route.out_pt)) + data[2:head] + payload
        if peer.playing:
            return  # the engine's own stream owns the peer's ear (prompt, MOH, digit)
        if peer.outbound is not None:
            data = _splice(peer, data)
        # Leg.destination() inlined (a few Python calls per packet saved): a sink takes
        # nothing, else the learned source, else the SDP address.
        media = peer.media
        if media is not None and not media.sink:
            peer.rtp_tx.sendto(data, peer.rtp_source or (media.address, media.port))

    def _forward_parsed(self, leg: Leg, peer: Leg, data: bytes, route: Any) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            leg.rtp_in.errors += 1
            return
        packet.payload_type = route.out_pt
        if route.table is not None:
            packet.payload = packet.payload.translate(route.table)
        dest = peer.destination()
        if dest is not None and not peer.playing:
            data = packet.serialize()
            peer.rtp_tx.sendto(_splice(peer, data) if peer.outbound is not None else data,
                               dest)

    def on_rtcp(self, leg: Leg, data: bytes, addr: tuple[str, int]) -> None:
        counters = leg.rtcp_in
        if not leg.accepts_source(addr, rtcp=True) or not is_rtcp(data):
            counters.errors += 1
            return
        counters.packets += 1
        counters.bytes += len(data)
        counters.last_packet = time.monotonic()
        try:
            for packet in parse_compound(data):
                for block in packet.reports:  # what the party saw of the stream we send it
                    leg.quality.remote_report(block.fraction_lost, block.jitter)
        except RtpError:
            counters.errors += 1
            return
        peer = leg.peer
        dest = peer.rtcp_destination() if peer is not None else None
        if dest is not None and peer is not None:
            peer.rtcp_tx.sendto(data, dest)  # RTCP passes through (rtpengine's default)

    def _on_telephone_event(self, leg: Leg, data: bytes, addr: tuple[str, int], ts: int,
                            now: float) -> None:
        try:
            payload = RtpPacket.parse(data).payload
        except RtpError:
            return
        for event in leg.dtmf.receive(ts, payload, now):
            self.emit_dtmf(leg, event, addr[0])

    @staticmethod
    def _record(leg: Leg, peer: Leg, data: bytes, codec_name: str, now: float) -> None:
        """Feed the recorder: the caller's audio left, what the caller hears right."""
        codec = CODECS.get(codec_name)
        if codec is None:
            return  # telephone-event or a codec the recorder cannot decode
        if leg.recorder is not None and leg.is_caller:
            leg.recorder.add(0, codec.to_linear(data[12 + 4 * (data[0] & 0x0F):]), now)
        elif peer.recorder is not None and peer.is_caller and not peer.playing:
            peer.recorder.add(1, codec.to_linear(data[12 + 4 * (data[0] & 0x0F):]), now)

    # -- the engine's own streams (20 ms tick) ----------------------------------------------

    def activate(self, leg: Leg) -> None:
        self._active.add(leg)
        leg.playing = True
        leg.splice = None  # relayed packets after this play are spliced on afresh

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._next_tick += TICK
        if self._next_tick < loop.time() - 0.1:  # we were stalled: do not burst to catch up
            self._next_tick = loop.time() + TICK
        self._timers[0] = loop.call_at(self._next_tick, self._tick)
        for call in list(self.mixing):
            self._mix(call)
        for leg in list(self._active):
            out = leg.outbound
            packet, frame, finished = out.next_packet()
            dest = leg.destination()
            if packet is not None and dest is not None and leg.rtp_tx is not None:
                leg.rtp_tx.sendto(packet, dest)
                if frame is not None and leg.recorder is not None and leg.is_caller:
                    codec = CODECS.get(leg.send_format.name if leg.send_format else "")
                    if codec is not None:
                        leg.recorder.add(1, codec.to_linear(frame), time.monotonic())
            if finished:
                self.emit({"type": "playback", "state": "finished", "callid": leg.call_id,
                           "tag": leg.tag, "file": out.file})
            if out.idle:
                self._active.discard(leg)
                leg.playing = False

    def _mix(self, call: Call) -> None:
        """One tick of a supervised call: each party gets what its mode lets it hear."""
        if call.mixer is None:
            return
        for tag, pcm in call.mixer.tick().items():
            leg = call.legs.get(tag)
            if leg is None or leg.playing or leg.send_format is None or leg.rtp_tx is None:
                continue
            dest = leg.destination()
            codec = CODECS.get(leg.send_format.name)
            if dest is None or codec is None:
                continue
            leg.rtp_tx.sendto(self._outbound(leg).frame_packet(codec.from_linear(pcm)), dest)

    def load_frames(self, path: str, codec_name: str) -> list[bytes]:
        file = Path(path)
        if not file.is_absolute():
            file = self.config.data_dir / file
        try:
            key = (str(file), file.stat().st_mtime, codec_name)
        except OSError as exc:
            raise AudioError(f"cannot read media file {path!r}: {exc.strerror}") from exc
        frames = self._frames_cache.get(key)
        if frames is None:
            frames = load_frames(file.name, file.read_bytes(), CODECS[codec_name])
            if len(self._frames_cache) > 256:
                self._frames_cache.clear()
            self._frames_cache[key] = frames
        return frames

    @staticmethod
    def new_ssrc() -> int:
        return random.getrandbits(32)

    # -- housekeeping (100 ms) --------------------------------------------------------------

    def _housekeeping(self) -> None:
        loop = asyncio.get_running_loop()
        self._timers[1] = loop.call_later(HOUSEKEEPING, self._housekeeping)
        now = time.monotonic()
        slow = now - self._last_slow >= 1.0
        if slow:
            self._last_slow = now
        for call in self.calls.values():
            for leg in call.legs.values():
                if leg.dtmf.active:
                    for event in leg.dtmf.poll(now):
                        self.emit_dtmf(leg, event, leg.rtp_source[0] if leg.rtp_source else "")
                if slow:
                    self._check_leg(leg, now)
                elif leg.media_timeout is not None:  # an agent's phone: noticed within 0.1 s
                    self._check_lost(leg, now)
            if slow and call.recording:
                self.write_recording(call, now)
        if slow:
            cutoff = now - REPLY_CACHE_SECONDS
            for cookie in [c for c, (_, t) in self._replies.items() if t < cutoff]:
                del self._replies[cookie]

    def _check_leg(self, leg: Leg, now: float) -> None:
        if leg.armed_at is None or leg.sink:
            return
        self._check_lost(leg, now)
        if leg.quality.received >= 50:
            crossing = leg.monitor.check(leg.quality.mos())
            if crossing:
                self.emit({"type": "quality", "state": crossing, "callid": leg.call_id,
                           "tag": leg.tag, **leg.quality.snapshot()})

    def _check_lost(self, leg: Leg, now: float) -> None:
        if leg.armed_at is None or leg.sink:
            return
        silent_since = leg.last_rx if leg.last_rx is not None else leg.armed_at
        timeout = leg.media_timeout or self.config.media_timeout
        if now - silent_since >= timeout:
            if not leg.lost_reported:
                leg.lost_reported = True
                self.emit({"type": "media_lost", "callid": leg.call_id, "tag": leg.tag,
                           "silence": round(now - silent_since, 1)})
        elif leg.lost_reported:
            leg.lost_reported = False
            self.emit({"type": "media_restored", "callid": leg.call_id, "tag": leg.tag})

    # -- recording files --------------------------------------------------------------------

    def open_recording_file(self, call: Call) -> Any:
        folder = self.config.data_dir / "recordings"
        folder.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in call.call_id)[:80]
        path = folder / f"{safe}-{int(time.time())}.wav"
        out = wave.open(str(path), "wb")  # noqa: SIM115 - open for the whole recording
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        return path, out

    def write_recording(self, call: Call, now: float, final: bool = False) -> None:
        state = call.recording_file
        leg = call.legs.get(call.caller_tag or "")
        if state is None or leg is None or leg.recorder is None:
            return
        chunk = leg.recorder.drain(now, final)
        if chunk:
            state[1].writeframes(chunk)

    # -- events -----------------------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        if self._events is not None:
            self._events.sendto(json.dumps(event, separators=(",", ":")).encode())

    def emit_dtmf(self, leg: Leg, event: Any, source_ip: str) -> None:
        """rtpengine's ``--dtmf-log-dest`` JSON (daemon/dtmf.c), so one parser serves both."""
        call = self.calls.get(leg.call_id)
        self.emit({"callid": leg.call_id, "source_tag": leg.tag,
                   "tags": list(call.legs) if call else [leg.tag], "type": "DTMF",
                   "timestamp": int(time.time()), "source_ip": source_ip,
                   "event": event.event, "duration": event.duration_ms(), "volume": event.volume})


_SPLICED = struct.Struct("!HII")  # sequence, timestamp, SSRC


def _splice(leg: Leg, data: bytes) -> bytes:
    """A relayed packet toward a party the engine has played to: it continues the engine's
    stream (same SSRC, the next sequence number, timestamps carried on) instead of starting
    a new one. Phones that drop a second source's packets as late (baresip's jitter buffer
    does, when the new sequence numbers are below the old) hear the agent after the music
    this way; rtpengine keeps one outgoing SSRC per party for the same reason."""
    out = leg.outbound
    seq, ts = _SEQ_TS.unpack_from(data, 2)
    ssrc = int.from_bytes(data[8:12], "big")
    splice = leg.splice
    marker = data[1] & 0x80
    if splice is None or splice[0] != ssrc:
        splice = leg.splice = (ssrc, (out.sequence + 1 - seq) & 0xFFFF,
                               (out.timestamp - ts) & 0xFFFFFFFF)
        marker = 0x80  # a new talkspurt for the party's jitter buffer
    new_seq = (seq + splice[1]) & 0xFFFF
    new_ts = (ts + splice[2]) & 0xFFFFFFFF
    out.sequence = new_seq
    out.timestamp = (new_ts + 160) & 0xFFFFFFFF  # a later play carries on from here
    return (bytes((data[0], marker | (data[1] & 0x7F))) + _SPLICED.pack(new_seq, new_ts, out.ssrc)
            + data[12:])
