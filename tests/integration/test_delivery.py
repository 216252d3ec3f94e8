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

import json
import re
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.integration.calls_support import (
    call_ids,
    call_lines,
    delivery_config,
    delivery_lines,
    in_order,
)
from tests.integration.conftest import ROOT_DIR, RunningNode, require
from tests.integration.ctl import ctl, ctl_json
from tests.integration.peers.baresip import Baresip
from tests.integration.sipclient import wait_for
from tests.integration.test_calls import media_port_base
from tests.util import free_port

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
    node = start_node(config=delivery_config(agents=2))
    two_way_audio_through_the_queue(node, tmp_path)


def two_way_audio_through_the_queue(node: RunningNode, tmp_path: Path) -> None:
    """A baresip agent (1001, 880 Hz) registers and answers; a baresip caller (440 Hz) dials
    the queue: each must hear the other's tone; the agent sees the number masked."""
    require("baresip", "baresip-core")
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
                     extra_config=(*sound, f"snd_path {caller_rec}"),
                     extra_args=("-s",)) as caller:
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


# --- SIPp agents on static contacts ------------------------------------------------------------

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
KIT = Path(__file__).resolve().parents[2] / "loadtest" / "scenarios"


class SippAgent:
    """A SIPp UAS standing in for an agent's phone at 127.0.0.1:PORT, stopped by PID."""

    def __init__(self, scenario: Path, directory: Path, *extra: str) -> None:
        self.port = free_port()
        self.scenario = scenario
        self.directory = directory
        self.extra = extra
        self.proc: subprocess.Popen[str] | None = None

    @property
    def contact(self) -> str:
        return f"sip:agent@127.0.0.1:{self.port}"

    def __enter__(self) -> SippAgent:
        sipp = require("sipp", "sip-tester")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sipp, "-nostdin", "-sf", str(self.scenario), "-i", "127.0.0.1",
             "-p", str(self.port), "-mi", "127.0.0.1", "-mp", str(media_port_base()),
             "-timeout", "60s", "-trace_err", "-trace_stat", "-stf", "stats.csv", "-fd", "1",
             *self.extra], cwd=self.directory, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, text=True)
        time.sleep(0.3)  # SIPp binds before it reads a packet
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)  # SIPp: stop, write the statistics
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def errors(self) -> str:
        return "\n".join(p.read_text()[-1500:] for p in self.directory.glob("*errors.log"))


def queue_call(node: RunningNode, tmp_path: Path, *, max_wait_ms: int, calls: int = 1,
               media: bool = False) -> subprocess.CompletedProcess[str]:
    """SIPp callers of the queue on 200 (the kit's scenario): each waits for the node's BYE,
    or hangs up itself after ``max_wait_ms``; with ``media``, they send audio."""
    sipp = require("sipp", "sip-tester")
    host, port = node.addr("udp")
    # SIPp binds an RTP port even without audio: never its default 6000 (shared by parallel
    # SIPp runs: other tests, benchmarks).
    audio = ["-mi", "127.0.0.1", "-mp", str(media_port_base())]
    return subprocess.run(
        [sipp, "-nostdin", "-sf", str(KIT / "queue_caller.xml"), "-s", "200",
         *audio, *(["-set", "media", "1"] if media else []),
         "-set", "max_wait", str(max_wait_ms), "-recv_timeout", str(max_wait_ms + 10_000),
         "-m", str(calls), "-l", str(calls), "-r", "5", "-i", "127.0.0.1",
         "-p", str(free_port()), "-timeout", f"{max_wait_ms // 1000 + 30}s", "-trace_err",
         f"{host}:{port}"], capture_output=True, text=True, timeout=max_wait_ms / 1000 + 60,
        cwd=tmp_path)


def steps_of(node: RunningNode, call_id: str) -> list[str]:
    return [re.sub(r" \(reservation.*$", "", line) for line in delivery_lines(node, call_id)]


def test_busy_and_no_answer_are_offered_to_the_next_agent(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    with SippAgent(SCENARIOS / "agent_busy.xml", tmp_path / "busy") as busy, \
            SippAgent(SCENARIOS / "agent_no_answer.xml", tmp_path / "silent") as silent, \
            SippAgent(KIT / "agent_answer.xml", tmp_path / "answers",
                      "-set", "answer_delay", "300", "-set", "talk_time", "1000") as answers:
        node = start_node(config=delivery_config(
            agents=3, offer_timeout=2.0,
            contacts={"1001": busy.contact, "1002": silent.contact, "1003": answers.contact}))
        result = queue_call(node, tmp_path, max_wait_ms=15_000)
        assert result.returncode == 0, (result.stdout[-1500:], answers.errors())
        [call_id] = call_ids(node)
        assert wait_for(lambda: any(x.startswith("ended: ") for x in delivery_lines(node, call_id)),
                        timeout=5)
    steps = steps_of(node, call_id)
    wanted = ["offered to agent 1001", "missed by agent 1001: busy (486)",
              "offered to agent 1002", "ringing agent 1002",
              "offer to agent 1002 withdrawn: expired", "offered to agent 1003",
              "answered by agent 1003", "connected to agent 1003 from support",
              "with agent 1003 ended by agent"]
    assert in_order(steps, wanted), (wanted, steps)
    assert steps[-1].startswith("ended: agent hung up"), steps


def test_an_agent_whose_phone_is_not_there_is_skipped_within_a_second(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    nobody = f"sip:agent@127.0.0.1:{free_port()}"  # nothing listens there
    with SippAgent(KIT / "agent_answer.xml", tmp_path / "answers",
                   "-set", "answer_delay", "200", "-set", "talk_time", "800") as answers:
        node = start_node(config=delivery_config(
            agents=2, offer_timeout=10.0, contacts={"1001": nobody, "1002": answers.contact}))
        result = queue_call(node, tmp_path, max_wait_ms=15_000, calls=2)
        assert result.returncode == 0, (result.stdout[-1500:], answers.errors())
        first, second = call_ids(node)
        assert wait_for(lambda: all(any(x.startswith("ended: ") for x in steps_of(node, c))
                                    for c in (first, second)), timeout=5)
    steps = steps_of(node, first)
    assert steps.index("missed by agent 1001: unreachable (no answer)") \
        < steps.index("offered to agent 1002"), steps
    # From the offer to the silent phone to the next agent's ring: about NO_RESPONSE.
    stamps = {line.split(" INFO ")[1].split(": ", 1)[1]: line[:19]
              for line in node.stderr().splitlines() if f"call {first} " in line}
    offered = [t for text, t in stamps.items() if "offered to agent 1001" in text]
    ringing = [t for text, t in stamps.items() if "offered to agent 1002" in text]
    assert offered and ringing
    gap = _seconds(ringing[0]) - _seconds(offered[0])
    assert 0 <= gap <= 2, (offered, ringing)  # whole seconds in the log: 1 s plus rounding
    # The unreachable agent is not offered the second call.
    assert not any("agent 1001" in s for s in steps_of(node, second)), steps_of(node, second)


def _seconds(stamp: str) -> int:
    hours, minutes, seconds = stamp[11:19].split(":")
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds)


def test_the_caller_hanging_up_while_an_agent_rings_is_an_abandon(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    with SippAgent(SCENARIOS / "agent_no_answer.xml", tmp_path / "silent") as silent:
        node = start_node(config=delivery_config(
            agents=1, offer_timeout=20.0, contacts={"1001": silent.contact}))
        result = queue_call(node, tmp_path, max_wait_ms=2500)
        assert result.returncode == 0, result.stdout[-1500:]
        [call_id] = call_ids(node)
        assert wait_for(lambda: any(x.startswith("ended: ") for x in delivery_lines(node, call_id)),
                        timeout=5)
        # The ring was cancelled: the no-answer phone completed its CANCEL dialogue.
        assert wait_for(lambda: _sipp_successes(silent.directory) == 1, timeout=5), \
            silent.errors()
    steps = steps_of(node, call_id)
    abandoned = [s for s in steps if s.startswith("abandoned in support after ")]
    assert abandoned, steps
    waited = float(abandoned[0].split(" after ")[1].removesuffix(" s"))
    assert 2.0 <= waited <= 4.0, abandoned
    assert "offer to agent 1001 withdrawn: abandoned" in steps, steps
    assert not any(s.startswith("answered by") for s in steps), steps


def _sipp_successes(directory: Path) -> int:
    """SuccessfulCall(C) of the last row of a SIPp statistics file (0 if none yet)."""
    for path in directory.glob("*.csv"):
        rows = [line.split(";") for line in path.read_text().splitlines() if line]
        if len(rows) >= 2:
            header, last = rows[0], rows[-1]
            return int(last[header.index("SuccessfulCall(C)")])
    return 0


def test_an_agent_whose_network_drops_mid_call_is_replaced_and_the_caller_stays(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    talk = ("-set", "media", "1", "-set", "answer_delay", "300")
    with SippAgent(KIT / "agent_answer.xml", tmp_path / "first",
                   *talk, "-set", "talk_time", "30000") as first, \
            SippAgent(KIT / "agent_answer.xml", tmp_path / "backup",
                      *talk, "-set", "talk_time", "2000") as backup:
        node = start_node(config=delivery_config(
            agents=2, contacts={"1001": first.contact, "1002": backup.contact}))
        with ThreadPoolExecutor(1) as pool:
            caller = pool.submit(queue_call, node, tmp_path, max_wait_ms=30_000, media=True)
            assert wait_for(lambda: "answered by agent 1001" in node.stderr(), timeout=10)
            time.sleep(2.0)  # they talk
            assert first.proc is not None
            first.proc.send_signal(signal.SIGSTOP)  # its network is gone: nothing in or out
            assert wait_for(lambda: "offered to agent 1002" in node.stderr(), timeout=10)
            result = caller.result(timeout=60)
        first.proc.send_signal(signal.SIGCONT)
    assert result.returncode == 0, (result.stdout[-1500:], backup.errors())
    [call_id] = call_ids(node)
    steps = steps_of(node, call_id)
    wanted = ["answered by agent 1001", "lost agent 1001 (media lost)",
              "offered to agent 1002", "answered by agent 1002",
              "with agent 1002 ended by agent", "ended: agent hung up"]
    assert in_order(steps, wanted), (wanted, steps)
    # One caller leg from start to end: it never dropped.
    assert sum(s.startswith("ended: ") for s in steps) == 1, steps
    assert sum(s.startswith("started: ") for s in steps) == 1, steps


def test_operators_see_agents_and_set_their_state(
        start_node: Callable[..., RunningNode]) -> None:
    desk = f"sip:desk@127.0.0.1:{free_port()}"
    node = start_node(config=delivery_config(agents=3, contacts={"1001": desk}))
    agents = {a["agent"]: a for a in ctl_json(node, "agents")}
    # 1001 has a static contact (auto_ready logs it in); 1002 and 1003 have no phone yet.
    assert agents["1001"]["state"] == "ready" and agents["1001"]["phones"] == 1, agents
    assert agents["1002"]["state"] == "logged_out" and agents["1002"]["phones"] == 0, agents
    paused = ctl_json(node, "agent", "1001", "not-ready", "--reason", "lunch")
    assert paused == {"agent": "1001", "state": "not_ready", "reason": "lunch"}
    assert ctl_json(node, "agent", "1002", "login")["state"] == "ready"
    text = ctl(node, "agents").stdout
    assert re.search(r"^1001\s+not_ready\s+lunch", text, re.MULTILINE), text
    assert "3 agents, 1 ready" in text, text
    refused = ctl(node, "agent", "1002", "login")  # already logged in
    assert refused.returncode == 1 and "409" in refused.stderr, refused.stderr
    unknown = ctl(node, "agent", "4242", "ready")
    assert unknown.returncode == 1 and "4242" in unknown.stderr, unknown.stderr


def test_the_agent_holds_and_resumes_the_caller(start_node: Callable[..., RunningNode],
                                                 tmp_path: Path) -> None:
    with SippAgent(SCENARIOS / "agent_hold.xml", tmp_path / "agent", "-trace_msg") as agent:
        node = start_node(config=delivery_config(agents=1, contacts={"1001": agent.contact}))
        result = queue_call(node, tmp_path, max_wait_ms=20_000, media=True)
        assert result.returncode == 0, (result.stdout[-1500:], agent.errors())
        [call_id] = call_ids(node)
        assert wait_for(lambda: any(s.startswith("ended: ") for s in steps_of(node, call_id)),
                        timeout=5)
        assert wait_for(lambda: _sipp_successes(agent.directory) == 1, timeout=5), \
            agent.errors()
    steps = steps_of(node, call_id)
    wanted = ["connected to agent 1001", "on hold (music) by agent 1001",
              "resumed by agent 1001", "with agent 1001 ended by agent"]
    assert in_order(steps, wanted), (wanted, steps)


def _two_queues(contacts: dict[str, str]) -> dict[str, object]:
    """support (200: agent 1001) and sales (201: agent 1002)."""
    data = delivery_config(agents=2, contacts=contacts)
    routing = data["routing"]
    routing["skills"] = ["support", "sales"]
    routing["agents"][1]["skills"] = {"sales": 5}
    routing["queues"].append({"id": "sales", "expression": "sales >= 1"})
    data["numbers"] = {"200": "queue:support", "201": "queue:sales"}
    return data


def test_an_agent_transfers_the_caller_to_another_queue(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    with SippAgent(SCENARIOS / "agent_transfer.xml", tmp_path / "first", "-trace_msg", "-m", "1",
                   "-set", "refer_to", "201") as first, \
            SippAgent(KIT / "agent_answer.xml", tmp_path / "sales",
                      "-set", "answer_delay", "200", "-set", "talk_time", "1000") as sales:
        node = start_node(config=_two_queues({"1001": first.contact, "1002": sales.contact}))
        result = queue_call(node, tmp_path, max_wait_ms=20_000, media=True)
        assert result.returncode == 0, (result.stdout[-1500:], first.errors(), sales.errors())
        [call_id] = call_ids(node)
        assert wait_for(lambda: any(s.startswith("ended: ") for s in steps_of(node, call_id)),
                        timeout=5)
        assert wait_for(lambda: _sipp_successes(first.directory) == 1, timeout=5), \
            first.errors()
    notify = _messages_of(first.directory)  # complete once SIPp has stopped
    assert "SIP/2.0 200 OK" in _notify_block(notify), notify[-2000:]
    steps = steps_of(node, call_id)
    wanted = ["connected to agent 1001 from support",
              "transferred by agent 1001 to queue:sales", "offered to agent 1002",
              "connected to agent 1002 from sales", "with agent 1002 ended by agent",
              "ended: agent hung up"]
    assert in_order(steps, wanted), (wanted, steps)
    assert sum(s.startswith("started: ") for s in steps) == 1, steps


def test_a_transfer_to_nowhere_is_refused_and_the_call_goes_on(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    with SippAgent(SCENARIOS / "agent_transfer.xml", tmp_path / "first", "-trace_msg", "-m", "1",
                   "-set", "refer_to", "nobody") as first:
        node = start_node(config=delivery_config(agents=1, contacts={"1001": first.contact}))
        result = queue_call(node, tmp_path, max_wait_ms=4_000, media=True)
        assert result.returncode == 0, (result.stdout[-1500:], first.errors())
        [call_id] = call_ids(node)
        assert wait_for(lambda: any(s.startswith("ended: ") for s in steps_of(node, call_id)),
                        timeout=5)
        assert wait_for(lambda: _sipp_successes(first.directory) == 1, timeout=5), \
            first.errors()
    notify = _messages_of(first.directory)
    assert "SIP/2.0 404 Not Found" in _notify_block(notify), notify[-2000:]
    steps = steps_of(node, call_id)
    assert any(s.startswith("transfer by agent 1001 to <sip:nobody@") for s in steps), steps
    assert any(s.startswith("with agent 1001 ended by caller") for s in steps), steps


def _messages_of(directory: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in directory.glob("*_messages.log"))


def _notify_block(messages: str) -> str:
    """The NOTIFY SIPp received, up to the next message of its trace (its sipfrag body
    is the only ``SIP/2.0 NNN`` line in it)."""
    start = messages.index("NOTIFY sip:")
    end = messages.find("-----", start)
    return messages[start:end if end > 0 else None]


def test_a_consult_transfer_hands_the_caller_to_a_colleague(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    """pjsua2 as agent 1001: answers the queue call, calls 1002 (an internal call), then
    REFER with Replaces; 1002 (baresip) takes the caller over, its phone re-INVITEd onto the
    caller's media, and talks until the caller hangs up."""
    require("baresip", "baresip-core")
    # pjsua2 on its null sound device sends no RTP: the media watchdog must not take that
    # for a dropped network during this test.
    node = start_node(config=delivery_config(agents=1, agent_media_timeout=300))
    host, port = node.addr("udp")
    with Baresip(tmp_path / "colleague", [f"<sip:1002@{host}:{port}>;auth_pass=demo1002;"
                                          "answermode=auto;regint=600"],
                 extra_config=("ausrc_srate 48000", "ausrc_channels 2")) as colleague, \
            ThreadPoolExecutor(2) as pool:
        assert colleague.wait_registration() == "OK"
        agent = pool.submit(subprocess.run, [
            sys.executable, "-m", "tests.integration.peers.pjsua2_transfer",
            "--node", f"{host}:{port}", "--talk", "1.5"],
            capture_output=True, text=True, timeout=90, cwd=ROOT_DIR)
        assert wait_for(lambda: "agent 1001 logged in (ready)" in node.stderr(), timeout=15)
        caller = pool.submit(queue_call, node, tmp_path, max_wait_ms=9_000, media=True)
        pj = agent.result(timeout=90)
        result = caller.result(timeout=90)
        assert result.returncode == 0, result.stdout[-1500:]
    results = [line for line in pj.stdout.splitlines() if line.startswith("RESULT ")]
    assert results, (pj.stdout[-3000:], pj.stderr[-3000:])
    outcome = json.loads(results[-1].removeprefix("RESULT "))
    assert outcome == {"registered": True, "answered": True, "consulted": True,
                       "both_ended": True}, (outcome, pj.stderr[-2000:])
    queue_call_id, consult_id = call_ids(node)
    steps = steps_of(node, queue_call_id)
    wanted = ["connected to agent 1001 from support", "transferred by agent 1001 to agent:1002",
              "with agent 1002 ended by caller", "ended: remote hung up"]
    assert in_order(steps, wanted), (wanted, steps)
    assert not any("transfer refused" in s for s in steps), steps  # re-INVITE accepted
    consult = steps_of(node, consult_id)
    assert consult[0].startswith("started: from 1001 to 1002 (agent:1002)"), consult
    assert consult[-1].startswith("ended: transferred"), consult


def test_a_blind_transfer_to_an_agent_rings_its_phone(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    with SippAgent(SCENARIOS / "agent_transfer.xml", tmp_path / "first", "-m", "1",
                   "-set", "refer_to", "1002") as first, \
            SippAgent(KIT / "agent_answer.xml", tmp_path / "second", "-set", "media", "1",
                      "-set", "answer_delay", "200", "-set", "talk_time", "1000") as second:
        data = delivery_config(agents=1, contacts={"1001": first.contact})
        data["accounts"][1]["contact"] = second.contact  # 1002: an account, not a queue agent
        node = start_node(config=data)
        result = queue_call(node, tmp_path, max_wait_ms=20_000, media=True)
        assert result.returncode == 0, (result.stdout[-1500:], first.errors(), second.errors())
        [call_id] = call_ids(node)
        assert wait_for(lambda: any(s.startswith("ended: ") for s in steps_of(node, call_id)),
                        timeout=5)
    steps = steps_of(node, call_id)
    wanted = ["transferred by agent 1001 to agent:1002", "answered by agent 1002",
              "with agent 1002 ended by agent", "ended: agent hung up"]
    assert in_order(steps, wanted), (wanted, steps)


def test_an_operator_transfers_a_call_and_a_refused_ring_brings_the_caller_back(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    busy = SippAgent(SCENARIOS / "agent_busy.xml", tmp_path / "busy")
    with SippAgent(KIT / "agent_answer.xml", tmp_path / "first", "-set", "media", "1",
                   "-set", "answer_delay", "200", "-set", "talk_time", "20000") as first, \
            busy:
        data = _two_queues({"1001": first.contact})
        data["accounts"][2]["contact"] = busy.contact  # 1003: busy, not a queue agent
        node = start_node(config=data)
        with ThreadPoolExecutor(1) as pool:
            caller = pool.submit(queue_call, node, tmp_path, max_wait_ms=12_000, media=True)
            assert wait_for(lambda: any("connected to agent 1001" in line
                                        for line in call_lines(node)), timeout=10)
            [live] = ctl_json(node, "calls")
            moved = ctl_json(node, "transfer", live["call"], "agent:1003")
            assert moved == {"call": live["call"], "target": "agent:1003"}
            assert wait_for(lambda: "missed by agent 1003: busy" in node.stderr(), timeout=5)
            refused = ctl(node, "transfer", "call-nosuch", "queue:sales")
            assert refused.returncode == 1 and "not connected" in refused.stderr
            caller.result(timeout=60)
    steps = steps_of(node, live["call"])
    # Back in the queue after the busy ring: offered again (to 1001, free again).
    assert in_order(steps, ["connected to agent 1001 from support",
                            "transferred by agent 1001 to agent:1003",
                            "missed by agent 1003: busy (486)",
                            "offered to agent 1001"]), steps

