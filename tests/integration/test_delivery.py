"""Calls delivered from a queue to agents, end to end with peers we did not write.

- baresip agents register (the tenant's ``auto_ready`` logs them in) and answer on their own;
  a baresip caller dials the queue. Caller and agent each send their own tone (440 Hz and
  880 Hz) and record what they receive: each must hear the other's tone through the engine;
- the agent's display shows the customer's number masked;
- SIPp agents on static contacts: busy and no answer go to the next agent at once, an agent
  that is not there (nothing listens) is unreachable and the call goes to the next one, the
  caller hanging up while an agent rings cancels the ring (an abandon with its wait).
"""

from __future__ import annotations

import re
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.integration.calls_support import call_ids, call_lines, delivery_config, delivery_lines
from tests.integration.conftest import RunningNode, require
from tests.integration.peers.baresip import Baresip
from tests.integration.sipclient import wait_for

pytestmark = pytest.mark.integration

CALLER_HZ, AGENT_HZ = 440, 880


def _received_tone(directory: Path, seconds: float = 1.5) -> tuple[float, float]:
    """(rms, strongest frequency) of the last ``seconds`` a baresip received."""
    [received] = sorted(directory.glob("*-dec.wav"))
    with wave.open(str(received)) as reader:
        rate, channels = reader.getframerate(), reader.getnchannels()
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    samples = pcm.reshape(-1, channels)[:, 0].astype(np.float64)
    tail = samples[-int(seconds * rate) - rate // 4:-rate // 4]  # the very end may be cut
    assert len(tail) > rate, f"only {len(samples) / rate:.2f} s received"
    rms = float(np.sqrt(np.mean(tail ** 2)))
    power = np.abs(np.fft.rfft(tail * np.hanning(len(tail)))) ** 2
    freqs = np.fft.rfftfreq(len(tail), 1 / rate)
    return rms, float(freqs[int(power.argmax())])


def test_caller_and_agent_hear_each_other_through_the_queue(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    require("baresip", "baresip-core")
    node = start_node(config=delivery_config(agents=2))
    host, port = node.addr("udp")
    agent_rec, caller_rec = tmp_path / "agent-rec", tmp_path / "caller-rec"
    agent_rec.mkdir()
    caller_rec.mkdir()
    sound = ("ausrc_srate 48000", "ausrc_channels 2")
    agent_account = (f"<sip:1001@{host}:{port}>;auth_pass=demo1001;answermode=auto;"
                     "regint=600")
    with Baresip(tmp_path / "agent", [agent_account], tone=AGENT_HZ,
                 extra_modules=("sndfile.so",),
                 extra_config=(*sound, f"snd_path {agent_rec}"), extra_args=("-s",)) as agent:
        assert agent.wait_registration() == "OK", agent.log()[-2000:]
        assert wait_for(lambda: "agent 1001 logged in (ready)" in node.stderr(), timeout=5)
        with Baresip(tmp_path / "caller", ["<sip:+15550199@127.0.0.1>;regint=0"],
                     tone=CALLER_HZ, extra_modules=("sndfile.so",),
                     extra_config=(*sound, f"snd_path {caller_rec}")) as caller:
            assert caller.dial(f"sip:200@{host}:{port}")["ok"]
            assert caller.wait_event({"CALL_ESTABLISHED"}, timeout=10)
            agent.wait_event({"CALL_ESTABLISHED"}, timeout=10)
            time.sleep(3.0)  # both talk
            assert caller.hangup()["ok"]
            caller.wait_event({"CALL_CLOSED"}, timeout=10)
            agent.wait_event({"CALL_CLOSED"}, timeout=10)
        agent_log = agent.log()

    # Each heard the other's tone, not its own and not the music.
    rms, peak = _received_tone(caller_rec)
    assert rms > 1000 and abs(peak - AGENT_HZ) <= 20, (rms, peak)
    rms, peak = _received_tone(agent_rec)
    assert rms > 1000 and abs(peak - CALLER_HZ) <= 20, (rms, peak)

    # What the agent's phone was shown: the queue and a masked number.
    start = agent_log.index("INVITE sip:1001")
    invite = agent_log[start:agent_log.index("Content-Length", start)]
    from_line = re.search(r"(?m)^From: (.*)$", invite)
    assert from_line is not None, invite
    assert "+15550199" not in invite
    assert '"support queue" <sip:*****0199@' in from_line.group(1), from_line.group(1)

    [call_id] = call_ids(node)
    assert wait_for(lambda: any(x.startswith("ended: ") for x in delivery_lines(node, call_id)),
                    timeout=5)
    lines = delivery_lines(node, call_id)
    steps = [re.sub(r" (after|in|\().*$", "", line) for line in lines]
    assert steps[:1] == ["started: from +15550199 to 200"], lines
    for expected in ("queued", "offered to agent 1001", "ringing agent 1001",
                     "answered by agent 1001", "connected to agent 1001 from support",
                     "with agent 1001 ended by caller", "ended: remote hung up"):
        assert any(step.startswith(expected) for step in steps), (expected, lines)
    assert steps.index("offered to agent 1001") < steps.index("answered by agent 1001")
    assert not [line for line in call_lines(node) if "abandoned" in line]
