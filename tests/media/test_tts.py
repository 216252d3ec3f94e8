"""Text-to-speech prompts: espeak-ng renders once per content; the prompt plays paced."""

from __future__ import annotations

import asyncio
import shutil
import wave
from pathlib import Path

import pytest

from switch.media.client import MediaClient
from switch.media.ivr import anchor_caller
from switch.media.tts import TtsCache, TtsError

from .helpers import EngineProcess, Peer, sdp

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _espeak_installed() -> None:
    # A missing TTS engine is a failure, not a skip: the prompts could not be spoken.
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (apt-get install espeak-ng; `make test` does)")


def test_prompt_is_rendered_once_and_cached_by_content(tmp_path: Path) -> None:
    async def scenario() -> None:
        tts = TtsCache(tmp_path)
        paths = await asyncio.gather(*(tts.render("Welcome to support.") for _ in range(3)))
        assert len(set(paths)) == 1 and tts.renders == 1
        assert await tts.render("Welcome to support.") == paths[0] and tts.renders == 1
        other = await tts.render("Welcome to support.", rate=120)
        assert other != paths[0] and tts.renders == 2
        with wave.open(str(paths[0])) as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
            assert 0.5 < wav.getnframes() / 8000 < 5
        with pytest.raises(TtsError):
            await tts.render("  ")

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_tts_prompt_arrives_paced_at_fifty_packets_a_second(engine: EngineProcess) -> None:
    async def scenario() -> None:
        path = await TtsCache(engine.data_dir).render("Please enter your account number.")
        async with MediaClient(*engine.ng) as client:
            caller = await Peer.open()
            await anchor_caller(client, "tts1", "caller", sdp(caller.port, "8 101"))
            reply = await client.play_media("tts1", "caller", str(path))
            with wave.open(str(path)) as wav:  # the reply names the prompt's length in ms
                length_ms = 1000 * wav.getnframes() / wav.getframerate()
            assert abs(reply["duration"] - length_ms) <= 20, (reply, length_ms)
            packets = await caller.wait(40, timeout=3)
            assert len(packets) >= 40 and {p.payload_type for p in packets} == {8}
            assert all(len(p.payload) == 160 for p in packets)
            times = [t for t, _, _ in caller.received[:40]]
            assert 40 < 39 / (times[-1] - times[0]) < 60
            assert len({p.payload for p in packets}) > 10  # speech, not silence
            await client.stop_media("tts1", "caller")
            await client.delete("tts1")
            caller.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))
