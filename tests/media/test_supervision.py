"""Supervision in the builtin engine: a supervisor joins a two-party call and hears both
sides (listen), speaks to the agent only (whisper), or to both (barge); real UDP parties, the
engine's own process, frequencies told apart by FFT."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from switch.media.client import MediaClient, MediaError
from switch.media.codecs import CODECS, linear_to_ulaw, tone
from switch.media.mixer import Mixer

from .helpers import Peer, port_of, sdp

pytestmark = pytest.mark.integration

CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ = 440, 1000, 1800


def heard(peer: Peer) -> set[int]:
    """The tones (of the three) present in what ``peer`` received."""
    pcm = b"".join(CODECS["PCMU"].to_linear(data[12:]) for _, data, _ in peer.received[-25:])
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if len(samples) < 1600 or np.sqrt(np.mean(samples ** 2)) < 300:
        return set()
    power = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / 8000)
    total = power.sum()
    return {hz for hz in (CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ)
            if power[np.abs(freqs - hz) <= 20].sum() / total > 0.1}


async def talk(parties: list[tuple[Peer, int, int]], packets: int = 40) -> None:
    """Each party sends its own tone to its engine port, 20 ms apart."""
    frames = {hz: linear_to_ulaw(tone((hz,), 20)) for _, _, hz in parties}
    for peer, _, _ in parties:
        peer.received.clear()
    for _ in range(packets):
        for peer, port, hz in parties:
            peer.send(peer.rtp(frames[hz]), port)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)


def test_listen_whisper_barge(engine: Any) -> None:
    async def scenario() -> None:
        async with MediaClient(*engine.ng) as client:
            caller, agent, boss = await Peer.open(), await Peer.open(), await Peer.open()
            to_caller = await client.offer("s1", "caller", sdp(caller.port, "0"))
            to_agent = await client.answer("s1", "caller", "agent", sdp(agent.port, "0"))
            reply = await client.command("subscribe request", call_id="s1", to_tag="boss",
                                         mode="listen")
            await client.command("subscribe answer", call_id="s1", to_tag="boss",
                                 sdp=sdp(boss.port, "0"))
            parties = [(caller, port_of(to_agent), CALLER_HZ),
                       (agent, port_of(to_caller), AGENT_HZ),
                       (boss, port_of(reply["sdp"]), SUPERVISOR_HZ)]
            await talk(parties)
            assert heard(boss) == {CALLER_HZ, AGENT_HZ}
            assert heard(caller) == {AGENT_HZ} and heard(agent) == {CALLER_HZ}
            await client.command("supervise", call_id="s1", to_tag="boss", mode="whisper")
            await talk(parties)
            assert heard(agent) == {CALLER_HZ, SUPERVISOR_HZ}
            assert heard(caller) == {AGENT_HZ}  # the caller never hears a whisper
            await client.command("supervise", call_id="s1", to_tag="boss", mode="barge")
            await talk(parties)
            assert heard(caller) == {AGENT_HZ, SUPERVISOR_HZ}
            assert heard(agent) == {CALLER_HZ, SUPERVISOR_HZ}
            with pytest.raises(MediaError, match="unknown supervision mode"):
                await client.command("supervise", call_id="s1", to_tag="boss", mode="shout")
            await client.command("unsubscribe", call_id="s1", to_tag="boss")
            boss.received.clear()
            await talk(parties[:2])
            assert heard(caller) == {AGENT_HZ} and heard(agent) == {CALLER_HZ}
            assert not boss.received
            await client.delete("s1")
            for peer in (caller, agent, boss):
                peer.close()
    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_the_mixer_saturates_and_fills_gaps() -> None:
    mixer = Mixer("c", "a", "s", "barge")
    loud = (30000).to_bytes(2, "little", signed=True) * 160
    mixer.feed("c", loud)
    mixer.feed("s", loud)
    out = mixer.tick()
    agent_hears = np.frombuffer(out["a"], dtype="<i2")
    assert agent_hears.max() == 32767  # 60,000 saturates
    assert np.frombuffer(out["c"], dtype="<i2").max() == 30000  # the supervisor only
    assert not any(mixer.tick()["s"])  # nothing queued: silence
    with pytest.raises(ValueError):
        mixer.set_mode("shout")
