"""The builtin engine as a real process: relay, locking, transcoding, player, recorder, DTMF,
media-lost, leak accounting, malformed commands."""

from __future__ import annotations

import asyncio
import contextlib
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from switch.media.audio import tone_wav
from switch.media.client import MediaClient, MediaError
from switch.media.codecs import alaw_to_linear, linear_to_alaw, linear_to_ulaw, tone, transcode
from switch.media.dtmf import generate
from switch.media.ivr import anchor_caller

from .helpers import EngineProcess, EventSink, Peer, builtin_engine, port_of, sdp

pytestmark = pytest.mark.integration


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


async def two_party(client: MediaClient, a: Peer, b: Peer, call_id: str = "c1",
                    a_codecs: str = "0 101", b_codecs: str = "0 101",
                    **flags: Any) -> tuple[int, int]:
    """Offer from A, answer from B; returns (port A sends to, port B sends to)."""
    offer = await client.offer(call_id, "tagA", sdp(a.port, a_codecs), **flags)
    answer = await client.answer(call_id, "tagA", "tagB", sdp(b.port, b_codecs))
    return port_of(answer), port_of(offer)


async def port_count(client: MediaClient) -> int:
    stats = await client.statistics()
    return int(stats["ports"]["in use"])


def test_relay_both_ways_and_delete_frees_ports(engine: EngineProcess) -> None:
    async def scenario() -> None:
        async with MediaClient(*engine.ng) as client:
            await client.ping()
            a, b = await Peer.open(), await Peer.open()
            to_a_side, to_b_side = await two_party(client, a, b)
            assert await port_count(client) == 2
            frame = linear_to_ulaw(tone((440,), 20))
            for _ in range(10):
                a.send(a.rtp(frame), to_a_side)
                b.send(b.rtp(frame), to_b_side)
                await asyncio.sleep(0.005)
            got_b, got_a = await b.wait(10), await a.wait(10)
            assert len(got_b) == 10 and len(got_a) == 10
            assert got_b[0].payload == frame and got_b[0].ssrc == a.ssrc
            # symmetric RTP: each side hears from the port it sends to
            assert {addr[1] for _, _, addr in b.received} == {to_b_side}
            query = await client.query("c1")
            assert query["tags"]["tagA"]["medias"][0]["streams"][0]["stats"]["packets"] == 10
            assert query["totals"]["RTP"]["packets"] == 20
            await client.delete("c1")
            assert await port_count(client) == 0
            a.close()
            b.close()
    run(scenario())


def test_locked_source_never_forwards_a_stray_stream(engine: EngineProcess) -> None:
    async def scenario() -> None:
        async with MediaClient(*engine.ng) as client:
            a, b, intruder = await Peer.open(), await Peer.open(), await Peer.open()
            to_a_side, _ = await two_party(client, a, b)
            a.send(a.rtp(b"\xff" * 160), to_a_side)  # A's first packet locks A's source
            await b.wait(1)
            for _ in range(50):  # the RTP-bleed probe: same IP, another port
                intruder.send(intruder.rtp(b"\x00" * 160), to_a_side)
            a.send(a.rtp(b"\xff" * 160), to_a_side)
            await b.wait(2)
            await asyncio.sleep(0.2)
            ssrcs = {p.ssrc for p in b.packets()}
            assert ssrcs == {a.ssrc}, "a packet from the intruder was forwarded"
            stream = (await client.query("c1"))["tags"]["tagA"]["medias"][0]["streams"][0]
            assert stream["stats"]["errors"] == 50
            assert stream["endpoint"]["port"] == a.port
            await client.delete("c1")
    run(scenario())


def test_pcmu_to_pcma_transcoding(engine: EngineProcess) -> None:
    async def scenario() -> None:
        async with MediaClient(*engine.ng) as client:
            a, b = await Peer.open(), await Peer.open()
            offer = await client.offer("c1", "tagA", sdp(a.port, "0 101"),
                                       codec={"mask": ["PCMU"], "transcode": ["PCMA"]})
            assert "m=audio" in offer and " 8 101" in offer and "PCMU" not in offer
            answer = await client.answer("c1", "tagA", "tagB", sdp(b.port, "8 101"))
            assert "PCMU/8000" in answer  # A keeps its own codec
            pcm = tone((1000,), 20)
            a.send(a.rtp(linear_to_ulaw(pcm), pt=0), port_of(answer))
            b.send(b.rtp(linear_to_alaw(pcm), pt=8), port_of(offer))
            (to_b,), (to_a,) = await b.wait(1), await a.wait(1)
            assert to_b.payload_type == 8
            assert to_b.payload == transcode(linear_to_ulaw(pcm), "PCMU", "PCMA")
            assert to_a.payload_type == 0
            assert to_a.payload == transcode(linear_to_alaw(pcm), "PCMA", "PCMU")
            decoded = np.frombuffer(alaw_to_linear(to_b.payload), dtype=np.int16)
            assert np.max(np.abs(decoded - np.frombuffer(pcm, dtype=np.int16))) < 600
            await client.delete("c1")
    run(scenario())


def test_ivr_leg_plays_paced_prompt_reports_dtmf_and_records(engine: EngineProcess,
                                                              events_port: int) -> None:
    prompt = engine.data_dir / "prompt.wav"
    prompt.write_bytes(tone_wav((1000,), 1000))

    async def scenario() -> None:
        sink = await EventSink().open(events_port)
        async with MediaClient(*engine.ng) as client:
            caller = await Peer.open()
            answer, engine_tag = await anchor_caller(client, "ivr1", "caller", sdp(caller.port))
            to_engine = port_of(answer)
            await client.start_recording("ivr1")
            reply = await client.play_media("ivr1", "caller", str(prompt))
            assert reply["duration"] == 1000
            packets = await caller.wait(50, timeout=3)
            assert len(packets) >= 50
            times = [t for t, _, _ in caller.received[:50]]
            rate = 49 / (times[-1] - times[0])
            assert 40 < rate < 60, f"{rate:.1f} packets/s, expected about 50"
            assert packets[0].marker and packets[0].payload_type == 0
            assert packets[10].payload == linear_to_ulaw(tone((1000,), 20, start_sample=1600))
            finished = await sink.wait_for(lambda e: e.get("type") == "playback", 3)
            assert finished and finished["tag"] == "caller"
            # the caller talks (a 440 Hz tone) and presses 7
            await caller.stream(to_engine, [linear_to_ulaw(tone((440,), 20, start_sample=i * 160))
                                            for i in range(10)])
            start = caller.ts
            for packet in generate("7", 100):
                caller.send(caller.rtp(packet.payload, 101, packet.marker, start), to_engine)
                await asyncio.sleep(0.005)
            dtmf = await sink.wait_for(lambda e: e.get("type") == "DTMF", 3)
            assert dtmf is not None
            assert dtmf["event"] == 7 and dtmf["digit"] == "7" and dtmf["duration"] == 100
            assert dtmf["source_tag"] == "caller" and dtmf["callid"] == "ivr1"
            assert set(dtmf["tags"]) == {"caller", engine_tag}
            await client.stop_recording("ivr1")
            done = await sink.wait_for(lambda e: e.get("type") == "recording"
                                       and e.get("state") == "finished", 3)
            assert done is not None
            await client.delete("ivr1")
            assert await port_count(client) == 0
            caller.close()
        await sink.close()
        return done["file"]

    path = Path(run(scenario()))
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2 and wav.getframerate() == 8000
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    left, right = data[0::2].astype(float), data[1::2].astype(float)
    assert _peak(right) == pytest.approx(1000, abs=15)  # the prompt the caller heard
    assert _peak(left) == pytest.approx(440, abs=15)  # the caller's own voice


def _peak(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum[1:]) + 1) * 8000 / len(samples)


def test_media_lost_after_silence(tmp_path: Path) -> None:
    async def scenario() -> None:
        sink = await EventSink().open()
        with builtin_engine(tmp_path, sink.port, media_timeout=1.0) as eng:
            async with MediaClient(*eng.ng) as client:
                a, b = await Peer.open(), await Peer.open()
                to_a_side, _ = await two_party(client, a, b)
                await a.stream(to_a_side, [b"\xff" * 160] * 5)
                lost = await sink.wait_for(lambda e: e.get("type") == "media_lost", 4)
                assert lost is not None and lost["callid"] == "c1"
                await client.delete("c1")
        await sink.close()
    run(scenario())


def test_malformed_commands_get_errors_and_the_engine_keeps_serving(
        engine: EngineProcess) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        replies: list[bytes] = []
        got = asyncio.Event()

        class Raw(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                replies.append(data)
                got.set()

        transport, _ = await loop.create_datagram_endpoint(Raw, remote_addr=engine.ng)
        for bad in (b"x1 d7:command", b"x2 i5e", b"x3 d7:command5:fancye",
                    b"x4 d7:command5:offere", b"nocookie", b"\xff\xfe d1:ae"):
            transport.sendto(bad)
        deadline = loop.time() + 3
        while len(replies) < 4 and loop.time() < deadline:
            got.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(got.wait(), 0.5)
        transport.close()
        text = b"\n".join(sorted(replies))
        assert b"x1 d12:error-reason" in text and b"6:result5:error" in text
        assert b"Unrecognized command" in text and b"No call-id in message" in text
        async with MediaClient(*engine.ng) as client:
            await client.ping()
            with pytest.raises(MediaError, match="Unknown call-id"):
                await client.query("nope")
            with pytest.raises(MediaError, match="Failed to parse SDP"):
                await client.offer("c9", "t", "not sdp")
            assert await port_count(client) == 0
    run(scenario())


def test_play_dtmf_generates_rfc4733_events_toward_the_other_leg(engine: EngineProcess) -> None:
    async def scenario() -> None:
        async with MediaClient(*engine.ng) as client:
            a, b = await Peer.open(), await Peer.open()
            await two_party(client, a, b, b_codecs="0 96")
            await client.play_dtmf("c1", "tagA", "5", duration_ms=100)  # A "presses" 5
            packets = await b.wait(7, timeout=2)
            events = [p for p in packets if p.payload_type == 96]
            assert len(events) == 7 and events[0].marker
            assert {p.timestamp for p in events} == {events[0].timestamp}
            assert {p.payload[0] for p in events} == {5}
            assert [p.payload[1] >> 7 for p in events] == [0, 0, 0, 0, 1, 1, 1]
            assert a.packets() == []  # nothing goes back to the generating side
            with pytest.raises(MediaError, match="Out of range"):
                await client.play_dtmf("c1", "tagA", "x")
            await client.delete("c1")
    run(scenario())
