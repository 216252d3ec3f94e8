"""The same MediaClient against a real rtpengine (Debian rtpengine-daemon, userspace)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switch.media.audio import tone_wav
from switch.media.client import MediaClient, MediaError
from switch.media.codecs import linear_to_ulaw, tone, transcode
from switch.media.dtmf import generate
from switch.media.ivr import anchor_caller

from .helpers import EventSink, Peer, free_udp_port, port_block, port_of, sdp, stop_process

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _rtpengine_installed() -> None:
    # A missing peer is a failure, not a skip: a skipped interop test proves nothing.
    if shutil.which("rtpengine") is None:
        pytest.fail("rtpengine is not installed (apt-get install rtpengine-daemon;"
                    " `make test` does)")


class Rtpengine:
    def __init__(self, ng: tuple[str, int], events_port: int, data_dir: Path) -> None:
        self.ng = ng
        self.events_port = events_port
        self.data_dir = data_dir


@pytest.fixture
def rtpengine(tmp_path: Path) -> Iterator[Rtpengine]:
    ng_port, events_port = free_udp_port(), free_udp_port()
    low, high = port_block(100)
    recordings = tmp_path / "spool"
    recordings.mkdir()
    log = open(tmp_path / "rtpengine.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        # --config-file=none: Debian's /etc/rtpengine/rtpengine.conf opens fixed CLI and HTTP
        # ports, so two rtpengines (tests and a benchmark) would collide.
        ["rtpengine", "--config-file=none", "--table=-1", "--interface=127.0.0.1",
         f"--listen-ng=127.0.0.1:{ng_port}",
         "--foreground", "--log-stderr", f"--port-min={low}", f"--port-max={high}",
         f"--dtmf-log-dest=127.0.0.1:{events_port}", f"--recording-dir={recordings}",
         "--recording-method=pcap", "--delete-delay=0", "--log-level=5"],
        stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _pings(("127.0.0.1", ng_port)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("rtpengine did not start: "
                                     + (tmp_path / "rtpengine.log").read_text()[-2000:])
        yield Rtpengine(("127.0.0.1", ng_port), events_port, tmp_path)
    finally:
        stop_process(proc)
        log.close()


def _pings(ng: tuple[str, int]) -> bool:
    async def ping() -> bool:
        async with MediaClient(*ng, timeout=0.3, first_retransmit=0.1) as client:
            with contextlib.suppress(MediaError):
                await client.ping()
                return True
        return False
    return asyncio.run(ping())


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_relay_between_two_sockets_through_rtpengine(rtpengine: Rtpengine) -> None:
    async def scenario() -> None:
        async with MediaClient(*rtpengine.ng) as client:
            await client.ping()
            a, b = await Peer.open(), await Peer.open()
            offer = await client.offer("r1", "tagA", sdp(a.port))
            answer = await client.answer("r1", "tagA", "tagB", sdp(b.port))
            frame = linear_to_ulaw(tone((440,), 20))
            for _ in range(10):
                a.send(a.rtp(frame), port_of(answer))
                b.send(b.rtp(frame), port_of(offer))
                await asyncio.sleep(0.02)
            got_b, got_a = await b.wait(10), await a.wait(10)
            assert len(got_b) == 10 and len(got_a) == 10
            assert got_b[0].payload == frame
            query = await client.query("r1")
            assert set(query["tags"]) == {"tagA", "tagB"}
            await client.delete("r1")
            with pytest.raises(MediaError):
                await client.query("r1")
            a.close()
            b.close()
    run(scenario())


def test_transcoding_with_the_same_codec_options(rtpengine: Rtpengine) -> None:
    async def scenario() -> None:
        async with MediaClient(*rtpengine.ng) as client:
            a, b = await Peer.open(), await Peer.open()
            offer = await client.offer("r2", "tagA", sdp(a.port, "0 101"),
                                       codec={"mask": ["PCMU"], "transcode": ["PCMA"]})
            assert " 8 " in offer.split("m=audio")[1].splitlines()[0] + " "
            answer = await client.answer("r2", "tagA", "tagB", sdp(b.port, "8 101"))
            ulaw = linear_to_ulaw(tone((1000,), 20))
            await a.stream(port_of(answer), [ulaw] * 10)
            packets = await b.wait(5)
            assert packets and {p.payload_type for p in packets} == {8}
            expected = transcode(ulaw, "PCMU", "PCMA")
            close = sum(abs(x - y) <= 1 for x, y in zip(packets[-1].payload, expected,
                                                         strict=True))
            assert close > 140  # rtpengine's own G.711 tables, within one step
            await client.delete("r2")
    run(scenario())


def test_ivr_leg_recipe_on_rtpengine(rtpengine: Rtpengine) -> None:
    prompt = rtpengine.data_dir / "prompt.wav"
    prompt.write_bytes(tone_wav((1000,), 1000))

    async def scenario() -> None:
        sink = await EventSink().open(rtpengine.events_port)
        async with MediaClient(*rtpengine.ng) as client:
            caller = await Peer.open()
            answer, engine_tag = await anchor_caller(client, "ivr-r", "caller",
                                                     sdp(caller.port))
            reply = await client.play_media("ivr-r", "caller", str(prompt))
            assert reply["duration"] == pytest.approx(1000, abs=30)
            packets = await caller.wait(45, timeout=3)
            assert len(packets) >= 45 and {p.payload_type for p in packets} == {0}
            times = [t for t, _, _ in caller.received[:45]]
            assert 40 < 44 / (times[-1] - times[0]) < 60
            await client.start_recording("ivr-r")
            to_engine = port_of(answer)
            await caller.stream(to_engine, [b"\xff" * 160] * 5)
            start = caller.ts
            for packet in generate("4", 100):
                caller.send(caller.rtp(packet.payload, 101, packet.marker, start), to_engine)
                await asyncio.sleep(0.02)
            dtmf = await sink.wait_for(lambda e: e.get("type") == "DTMF", 3)
            assert dtmf is not None, "no DTMF from rtpengine's --dtmf-log-dest"
            assert dtmf["digit"] == "4" and dtmf["source_tag"] == "caller"
            assert dtmf["callid"] == "ivr-r" and engine_tag in dtmf["tags"]
            assert dtmf["duration"] == 100
            await client.stop_recording("ivr-r")
            await client.delete("ivr-r")
            caller.close()
        await sink.close()
    run(scenario())

