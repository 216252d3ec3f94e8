"""A supervisor joins a live call from its phone: listen, whisper, barge.

Three baresips, each sending its own tone and recording what it receives: the caller
(440 Hz) dials the queue, agent 1001 (880 Hz) answers, supervisor 1002 (1320 Hz) is rung by
``switchboard ctl supervise`` and answers. Each phase lasts a few seconds; the recordings'
spectra tell who heard whom: in listen the supervisor hears both and nobody hears it; in
whisper the agent hears it and the caller does not; in barge everybody hears everybody.
"""

from __future__ import annotations

import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.integration.calls_support import delivery_config
from tests.integration.conftest import RunningNode, require
from tests.integration.ctl import ctl, ctl_json
from tests.integration.peers.baresip import Baresip
from tests.integration.sipclient import wait_for

pytestmark = pytest.mark.integration

CALLER, AGENT, BOSS = 440, 880, 1320
PHASE = 3.0  # seconds per mode
SOUND = ("ausrc_srate 48000", "ausrc_channels 2")


def tones(recording: Path, ends_before: float, seconds: float = 1.5) -> set[int]:
    """The three tones present in ``recording`` in a window ending ``ends_before`` seconds
    before its end."""
    with wave.open(str(recording)) as reader:
        rate, channels = reader.getframerate(), reader.getnchannels()
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    samples = pcm.reshape(-1, channels)[:, 0].astype(np.float64)
    end = len(samples) - int(ends_before * rate)
    window = samples[max(0, end - int(seconds * rate)):end]
    assert len(window) > rate, f"{recording.name}: only {len(samples) / rate:.1f} s"
    power = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    freqs = np.fft.rfftfreq(len(window), 1 / rate)
    total = power.sum()
    return {hz for hz in (CALLER, AGENT, BOSS)
            if power[np.abs(freqs - hz) <= 15].sum() / total > 0.05}


def phone(directory: Path, account: str, hz: int, records: Path) -> Baresip:
    records.mkdir(parents=True, exist_ok=True)
    return Baresip(directory, [account], tone=hz, extra_modules=("sndfile.so",),
                   extra_config=(*SOUND, f"snd_path {records}"))


def test_listen_whisper_and_barge_from_a_supervisors_phone(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    require("baresip", "baresip-core")
    node = start_node(config=delivery_config(agents=1))  # 1002 is an account, not an agent
    host, port = node.addr("udp")
    rec = {name: tmp_path / f"{name}-rec" for name in ("caller", "agent", "boss")}
    with phone(tmp_path / "agent", f"<sip:1001@{host}:{port}>;auth_pass=demo1001;"
               "answermode=auto;regint=600", AGENT, rec["agent"]) as agent, \
            phone(tmp_path / "boss", f"<sip:1002@{host}:{port}>;auth_pass=demo1002;"
                  "answermode=auto;regint=600", BOSS, rec["boss"]) as boss, \
            phone(tmp_path / "caller", "<sip:+15550199@127.0.0.1>;regint=0", CALLER,
                  rec["caller"]) as caller:
        assert agent.wait_registration() == "OK" and boss.wait_registration() == "OK"
        assert wait_for(lambda: "agent 1001 logged in (ready)" in node.stderr(), timeout=5)
        assert caller.dial(f"sip:200@{host}:{port}")["ok"]
        agent.wait_event({"CALL_ESTABLISHED"}, timeout=10)
        [live] = ctl_json(node, "calls")
        assert live["stage"] == "connected" and live["agent"] == "1001", live
        joined = ctl_json(node, "supervise", live["call"], "1002", "listen")
        assert joined["state"] == "ringing", joined
        boss.wait_event({"CALL_ESTABLISHED"}, timeout=10)
        assert wait_for(lambda: "supervised by 1002 (listen)" in node.stderr(), timeout=5)
        time.sleep(PHASE)
        assert ctl_json(node, "supervise", live["call"], "whisper")["mode"] == "whisper"
        whisper_at = time.monotonic()
        time.sleep(PHASE)
        assert ctl_json(node, "supervise", live["call"], "barge")["mode"] == "barge"
        barge_at = time.monotonic()
        time.sleep(PHASE)
        ended_at = time.monotonic()
        assert caller.hangup()["ok"]
        for ua in (caller, agent, boss):
            ua.wait_event({"CALL_CLOSED"}, timeout=10)
        assert wait_for(lambda: "no longer supervised by 1002" in node.stderr(), timeout=5)
        refused = ctl(node, "supervise", live["call"], "1002", "listen")
        assert refused.returncode == 1 and "not connected" in refused.stderr
    heard = {name: next(directory.glob("*-dec.wav")) for name, directory in rec.items()}
    # Windows that end a little before each switch (recordings end at the hang-up), so the
    # time a ctl command takes under load never blurs two phases.
    barge = 0.3
    whisper = ended_at - barge_at + 0.3
    listen = ended_at - whisper_at + 0.3
    assert tones(heard["boss"], listen) == {CALLER, AGENT}
    assert tones(heard["caller"], listen) == {AGENT}
    assert tones(heard["agent"], listen) == {CALLER}
    assert tones(heard["agent"], whisper) == {CALLER, BOSS}
    assert tones(heard["caller"], whisper) == {AGENT}  # a whisper never reaches the caller
    assert tones(heard["caller"], barge) == {AGENT, BOSS}
    assert tones(heard["agent"], barge) == {CALLER, BOSS}
    assert tones(heard["boss"], barge) == {CALLER, AGENT}
