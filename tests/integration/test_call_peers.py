"""Calls to the IVR from real peers we did not write, and the call-ending paths they exercise.

- baresip dials 300 with a 440 Hz source and records what it *receives* (``sndfile``): the
  node's 1000 Hz tone prompt must be in that recording, and its RFC 4733 key must route the call;
- pjsua2 dials 300 and sends its key as SIP INFO (``application/dtmf-relay``);
- a raw-socket caller that asks for a 90 s session timer and then goes silent is hung up by the
  node's session timer (RFC 4028 §10) after 90 - min(32, 90/3) = 60 s (``slow``);
- a raw-socket caller that CANCELs right after its INVITE leaves nothing behind, whichever of
  the CANCEL and the 200 OK won (RFC 3261 §9).

The raw-socket caller here is written from RFC 3261 and shares no code with the node.
"""

from __future__ import annotations

import collections
import json
import re
import secrets
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integration.calls_support import (
    TONE_HZ,
    call_ids,
    call_lines,
    calls_config,
    prepare_prompts,
)
from tests.integration.conftest import ROOT_DIR, RunningNode, require
from tests.integration.ctl import ctl_json
from tests.integration.peers.baresip import Baresip
from tests.integration.sipclient import wait_for

pytestmark = pytest.mark.integration


# --- helpers: the node's log ----------------------------------------------------------------

def events_of(node: RunningNode, call_id: str) -> list[str]:
    """The node's event lines for one of its calls, without the ``call ID `` prefix."""
    prefix = f"call {call_id} "
    return [line.removeprefix(prefix) for line in call_lines(node) if line.startswith(prefix)]


def ended_lines(node: RunningNode, call_id: str) -> list[str]:
    return [line for line in events_of(node, call_id) if line.startswith("ended: ")]


def the_only_call(node: RunningNode) -> str:
    ids = call_ids(node)
    assert len(ids) == 1, call_lines(node)
    return ids[0]


def media_is_idle(node: RunningNode) -> bool:
    media = ctl_json(node, "media")
    return bool(media["calls"] == 0 and media["engine"]["ports"]["in use"] == 0)


# --- 1. baresip hears the prompt --------------------------------------------------------------

def _trace_messages(log: str) -> list[str]:
    """SIP messages in a baresip ``-s`` trace (colours stripped)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", log)
    return [m.group(1) for m in re.finditer(
        r"^(?:UDP|TCP) \S+ -> \S+\n(.*?)(?=^#\s*$|\Z)", text, re.MULTILINE | re.DOTALL)]


def _sdp_of(message: str) -> list[str]:
    _, _, body = message.replace("\r\n", "\n").partition("\n\n")
    return [line for line in body.splitlines() if re.match(r"^[a-z]=", line)]


def _spectrum(samples: np.ndarray, rate: int) -> tuple[float, float, float]:
    """(rms, frequency of the strongest bin, share of the energy within ±50 Hz of it)."""
    rms = float(np.sqrt(np.mean(samples ** 2)))
    power = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    peak = float(freqs[int(power.argmax())])
    near = power[np.abs(freqs - peak) <= 50].sum()
    return rms, peak, float(near / power.sum())


def test_baresip_caller_hears_the_tone_prompt_and_its_rfc4733_key_routes_the_call(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    require("baresip", "baresip-core")
    node = start_node(config=calls_config())
    prepare_prompts(node)
    host, port = node.addr("udp")
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    with Baresip(tmp_path / "baresip", ["<sip:+15550123@127.0.0.1>;regint=0"],
                 extra_modules=("sndfile.so",),
                 # ausine only produces 48 kHz stereo; sndfile writes <time>-dec.wav (what
                 # baresip decoded, i.e. received) and -enc.wav (what it sent) per call.
                 extra_config=("ausrc_srate 48000", "ausrc_channels 2",
                               f"snd_path {recordings}"),
                 extra_args=("-s",)) as ua:
        assert ua.dial(f"sip:300@{host}:{port}")["ok"], ua.log()[-2000:]
        established = ua.wait_event({"CALL_ESTABLISHED", "CALL_CLOSED"}, timeout=10)
        assert established["type"] == "CALL_ESTABLISHED", (established, ua.log()[-3000:])
        time.sleep(3.0)  # the 1.5 s tone, then the menu prompt starts
        assert ua.send_dtmf("2")["ok"]
        assert wait_for(lambda: any("queued in sales" in line for line in call_lines(node)),
                        timeout=5), call_lines(node)
        assert ua.hangup()["ok"]
        closed = ua.wait_event({"CALL_CLOSED"}, timeout=10)
        messages = _trace_messages(ua.log())
    # baresip has quit: its WAV files are complete.

    # What baresip offered: G.711 both laws and RFC 4733 events; what the node answered.
    [offer] = [m for m in messages if m.startswith("INVITE sip:300@")]
    offer_sdp = _sdp_of(offer)
    assert any(re.match(r"a=rtpmap:0 PCMU/8000", line) for line in offer_sdp), offer_sdp
    assert any(re.match(r"a=rtpmap:8 PCMA/8000", line) for line in offer_sdp), offer_sdp
    assert any(re.match(r"a=rtpmap:\d+ telephone-event/8000", line) for line in offer_sdp), \
        offer_sdp
    answers = [m for m in messages
               if m.startswith("SIP/2.0 200") and re.search(r"(?im)^CSeq: \d+ INVITE", m)]
    assert answers, messages
    answer_sdp = _sdp_of(answers[0])
    assert any(re.match(r"a=rtpmap:\d+ telephone-event/8000", line) for line in answer_sdp), \
        answer_sdp

    # What baresip received: the node's 1000 Hz prompt first.
    [received] = sorted(recordings.glob("*-dec.wav"))
    with wave.open(str(received)) as reader:
        rate, channels = reader.getframerate(), reader.getnchannels()
        assert reader.getsampwidth() == 2, reader.getsampwidth()
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    samples = pcm.reshape(-1, channels)[:, 0].astype(np.float64)
    assert len(samples) >= 2 * rate, f"only {len(samples) / rate:.2f} s received"
    window = rate // 2
    loud = [start for start in range(0, min(2 * rate, len(samples) - rate), window // 5)
            if np.sqrt(np.mean(samples[start:start + window] ** 2)) > 1000]
    assert loud, "no audio above the noise floor in the first 2 s baresip received"
    # One second of the tone, from the first loud half-second (jitter buffer delay aside).
    rms, peak, purity = _spectrum(samples[loud[0]:loud[0] + rate], rate)
    assert rms > 3000, f"received prompt too quiet: rms {rms:.0f}"
    assert abs(peak - TONE_HZ) <= 20, f"strongest frequency {peak:.1f} Hz, not {TONE_HZ}"
    assert purity > 0.8, f"only {purity:.0%} of the energy near {peak:.1f} Hz"

    # What the node saw.
    call_id = the_only_call(node)
    assert wait_for(lambda: ended_lines(node, call_id), timeout=5), events_of(node, call_id)
    lines = events_of(node, call_id)
    assert lines[0].startswith("started: from +15550123 to 300 (ivr:test)"), lines
    assert any(line.startswith("answered in ") for line in lines), lines
    assert "digit 2 (rfc4733)" in lines, lines
    assert "ivr menu menu_choice 2" in [line.strip() for line in lines], lines
    assert "queued in sales (music on hold)" in lines, lines
    assert ended_lines(node, call_id) == [lines[-1]], lines
    assert lines[-1].startswith("ended: remote hung up (answered"), (lines, closed)
    assert wait_for(lambda: media_is_idle(node), timeout=5), ctl_json(node, "media")


# --- 2. pjsua2 sends its key as SIP INFO -----------------------------------------------------

def pjsua2_call(uri: str, *args: str, timeout: float = 60) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "tests.integration.peers.pjsua2_call", "--uri", uri, *args]
    proc = subprocess.run(cmd, cwd=ROOT_DIR, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"pjsua2 script failed (rc {proc.returncode})\n{proc.stdout[-2000:]}\n"
        f"{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def test_pjsua2_caller_sends_its_key_as_sip_info_and_is_queued(
        start_node: Callable[..., RunningNode]) -> None:
    node = start_node(config=calls_config())
    prepare_prompts(node)
    host, port = node.addr("udp")
    result = pjsua2_call(f"sip:300@{host}:{port}", "--digits", "2", "--dtmf-method", "info",
                         "--before-dtmf", "2.5", "--hold", "1.5")
    assert result["confirmed"], result
    assert result["digits_sent"] == "2" and result["dtmf_method"] == "SIP_INFO", result
    assert result["info_responses"] == [200], result
    assert result["disconnected"], result
    assert result["states"][-1] == "DISCONNECTED" and "CONFIRMED" in result["states"], result

    call_id = the_only_call(node)
    assert wait_for(lambda: ended_lines(node, call_id), timeout=5), events_of(node, call_id)
    lines = events_of(node, call_id)
    assert "digit 2 (info)" in lines, lines
    assert not any(line.startswith("digit ") and line != "digit 2 (info)" for line in lines), \
        lines  # one key, heard once (no RFC 4733 duplicate)
    assert "ivr menu menu_choice 2" in [line.strip() for line in lines], lines
    assert "queued in sales (music on hold)" in lines, lines
    assert ended_lines(node, call_id) == [lines[-1]], lines
    assert lines[-1].startswith("ended: remote hung up (answered"), lines
    assert wait_for(lambda: media_is_idle(node), timeout=5), ctl_json(node, "media")


# --- a raw-socket caller ---------------------------------------------------------------------

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
            "l": "content-length", "c": "content-type", "k": "supported", "x": "session-expires"}


@dataclass
class Message:
    first: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    @property
    def is_response(self) -> bool:
        return self.first.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        return int(self.first.split()[1]) if self.is_response else 0

    @property
    def method(self) -> str:
        if self.is_response:
            return self.cseq[1]
        return self.first.split()[0]

    @property
    def cseq(self) -> tuple[int, str]:
        number, method = (self.get("cseq") or "0 NONE").split()
        return int(number), method

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    def get(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def to_tag(self) -> str | None:
        match = re.search(r";\s*tag=([^;>\s]+)", self.get("to") or "")
        return match.group(1) if match else None

    def __str__(self) -> str:
        return self.raw.decode("utf-8", "replace")


def parse(data: bytes) -> Message:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
            continue
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers.append((_COMPACT.get(key, key), value.strip()))
    return Message(lines[0], headers, body, data)


@dataclass
class Dialog:
    """One call attempt of the raw caller (the INVITE's identifiers)."""

    call_id: str
    from_tag: str
    branch: str
    uri: str
    to_tag: str | None = None
    remote_target: str | None = None
    cseq: int = 1


@dataclass
class RawCaller:
    """A UDP user agent on 127.0.0.1: it sends what the test says and keeps every message
    it receives (its socket stays open, so it can be a caller that went quiet)."""

    server: tuple[str, int]
    sock: socket.socket = field(init=False)
    rtp: socket.socket = field(init=False)
    inbox: collections.deque[Message] = field(default_factory=collections.deque)
    seen: list[Message] = field(default_factory=list)
    last_sent: bytes = b""

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        # An RTP port the node's media can reach (we never read it: the kernel drops excess).
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))

    def close(self) -> None:
        self.sock.close()
        self.rtp.close()

    @property
    def local(self) -> str:
        host, port = self.sock.getsockname()
        return f"{host}:{port}"

    def send(self, text: str, body: bytes = b"") -> None:
        head = text.strip("\n").replace("\n", "\r\n")
        data = (head + f"\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        self.sock.sendto(data, self.server)
        self.last_sent = data

    def resend(self) -> None:
        """Retransmit the last message (same branch: the same transaction)."""
        self.sock.sendto(self.last_sent, self.server)

    def receive(self, timeout: float) -> Message | None:
        """The next message (queued or arriving within ``timeout``)."""
        if self.inbox:
            return self.inbox.popleft()
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65535)
        except TimeoutError:
            return None
        message = parse(data)
        self.seen.append(message)
        return message

    def wait(self, match: Callable[[Message], bool], timeout: float,
             on_other: Callable[[Message], None] | None = None) -> Message | None:
        """The first message matching ``match`` within ``timeout``; others go to ``on_other``
        (or back to the inbox, in order)."""
        deadline = time.monotonic() + timeout
        skipped: list[Message] = []
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                message = self.receive(remaining)
                if message is None:
                    return None
                if match(message):
                    return message
                if on_other is not None:
                    on_other(message)
                else:
                    skipped.append(message)
            return None
        finally:
            self.inbox.extendleft(reversed(skipped))

    def sdp(self) -> bytes:
        port = self.rtp.getsockname()[1]
        return ("v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
                "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
                ).encode()

    def invite(self, number: str, extra: tuple[str, ...] = ()) -> Dialog:
        host, port = self.server
        dialog = Dialog(call_id=secrets.token_hex(8) + "@raw.test",
                        from_tag=secrets.token_hex(4),
                        branch="z9hG4bK" + secrets.token_hex(8),
                        uri=f"sip:{number}@{host}:{port}")
        self.send(f"""INVITE {dialog.uri} SIP/2.0
Via: SIP/2.0/UDP {self.local};branch={dialog.branch};rport
Max-Forwards: 70
From: <sip:+15550177@127.0.0.1>;tag={dialog.from_tag}
To: <{dialog.uri}>
Call-ID: {dialog.call_id}
CSeq: 1 INVITE
Contact: <sip:caller@{self.local}>
{chr(10).join(extra)}
Content-Type: application/sdp""".replace("\n\n", "\n"), self.sdp())
        return dialog

    def cancel(self, dialog: Dialog) -> None:
        """RFC 3261 §9.1: the INVITE's Request-URI, Call-ID, From, To, branch; CSeq n CANCEL."""
        self.send(f"""CANCEL {dialog.uri} SIP/2.0
Via: SIP/2.0/UDP {self.local};branch={dialog.branch};rport
Max-Forwards: 70
From: <sip:+15550177@127.0.0.1>;tag={dialog.from_tag}
To: <{dialog.uri}>
Call-ID: {dialog.call_id}
CSeq: 1 CANCEL""")

    def ack_failure(self, dialog: Dialog, response: Message) -> None:
        """ACK of a non-2xx final answer: part of the INVITE transaction (same branch)."""
        self.send(f"""ACK {dialog.uri} SIP/2.0
Via: SIP/2.0/UDP {self.local};branch={dialog.branch};rport
Max-Forwards: 70
From: <sip:+15550177@127.0.0.1>;tag={dialog.from_tag}
To: {response.get("to")}
Call-ID: {dialog.call_id}
CSeq: 1 ACK""")

    def _in_dialog(self, dialog: Dialog, method: str, cseq: int) -> None:
        target = dialog.remote_target or dialog.uri
        self.send(f"""{method} {target} SIP/2.0
Via: SIP/2.0/UDP {self.local};branch=z9hG4bK{secrets.token_hex(8)};rport
Max-Forwards: 70
From: <sip:+15550177@127.0.0.1>;tag={dialog.from_tag}
To: <{dialog.uri}>;tag={dialog.to_tag}
Call-ID: {dialog.call_id}
CSeq: {cseq} {method}""")

    def ack_2xx(self, dialog: Dialog, response: Message) -> None:
        """ACK of a 2xx: its own transaction, to the remote target (RFC 3261 §13.2.2.4)."""
        dialog.to_tag = response.to_tag()
        contact = re.search(r"<([^>]+)>", response.get("contact") or "")
        dialog.remote_target = contact.group(1) if contact else dialog.uri
        self._in_dialog(dialog, "ACK", 1)

    def bye(self, dialog: Dialog) -> None:
        dialog.cseq += 1
        self._in_dialog(dialog, "BYE", dialog.cseq)

    def reply(self, request: Message, status: int, reason: str) -> None:
        vias = "\n".join(f"Via: {via}" for via in request.all("via"))
        self.send(f"""SIP/2.0 {status} {reason}
{vias}
From: {request.get("from")}
To: {request.get("to")}
Call-ID: {request.get("call-id")}
CSeq: {request.get("cseq")}""")


def _response_to(dialog: Dialog, method: str, final: bool = True) -> Callable[[Message], bool]:
    def match(message: Message) -> bool:
        return (message.is_response and message.get("call-id") == dialog.call_id
                and message.method == method and (message.status >= 200 or not final))
    return match


# --- 3. the session timer ends a caller that went quiet --------------------------------------

@pytest.mark.slow
def test_a_caller_that_stops_refreshing_is_hung_up_by_its_session_timer(
        start_node: Callable[..., RunningNode]) -> None:
    # The media engine would otherwise report "media lost" after 30 s without RTP.
    node = start_node(config=calls_config(media={"media_timeout": 300}))
    prepare_prompts(node)
    caller = RawCaller(node.addr("udp"))
    try:
        dialog = caller.invite("300", ("Supported: timer", "Session-Expires: 90;refresher=uac"))
        ok = caller.wait(_response_to(dialog, "INVITE"), timeout=10)
        assert ok is not None and ok.status == 200, ok and str(ok)
        answered = time.monotonic()
        assert re.fullmatch(r"90\s*;\s*refresher=uac", ok.get("session-expires") or ""), str(ok)
        assert "timer" in [t.strip().lower() for v in ok.all("require") for t in v.split(",")], \
            str(ok)
        caller.ack_2xx(dialog, ok)

        # Now silent: no refresh, no BYE, no RTP. Answer anything but the BYE we wait for
        # (e.g. a qualify OPTIONS) so only the session timer can end the call.
        others: list[str] = []

        def other(message: Message) -> None:
            if message.is_response:
                others.append(message.first)  # e.g. a late 200 retransmission
            else:
                others.append(message.first)
                caller.reply(message, 200, "OK")

        bye = caller.wait(lambda m: not m.is_response and m.method == "BYE"
                          and m.get("call-id") == dialog.call_id,
                          timeout=60 + 10, on_other=other)
        waited = time.monotonic() - answered
        assert bye is not None, (f"no BYE within 70 s of the answer; other messages {others}"
                                 f"\n{call_lines(node)}")
        caller.reply(bye, 200, "OK")
        # RFC 4028 §10: the side that does not refresh sends BYE at
        # interval - min(32, interval / 3) = 60 s after the last refresh (here, the answer).
        assert 58 <= waited <= 66, f"BYE came {waited:.1f} s after the answer"
        call_id = the_only_call(node)
        assert wait_for(lambda: ended_lines(node, call_id), timeout=5), events_of(node, call_id)
        lines = ended_lines(node, call_id)
        assert len(lines) == 1, events_of(node, call_id)
        assert lines[0].startswith("ended: session expired without a refresh"), lines
        assert "(answered, " in lines[0], lines
        assert not any(line.startswith("media ") for line in events_of(node, call_id)), \
            events_of(node, call_id)
        assert wait_for(lambda: media_is_idle(node), timeout=5), ctl_json(node, "media")
    finally:
        caller.close()


# --- 4. CANCEL right after INVITE ------------------------------------------------------------

def _cancel_once(caller: RawCaller) -> tuple[str, dict[str, Any]]:
    """INVITE and CANCEL back to back; finish the call whichever way it went. Returns the
    branch taken ("cancelled" or "answered") and what was seen."""
    dialog = caller.invite("300")
    caller.cancel(dialog)
    seen: dict[str, Any] = {"call_id": dialog.call_id}
    cancel_answer = caller.wait(_response_to(dialog, "CANCEL"), timeout=5)
    invite_answer = caller.wait(_response_to(dialog, "INVITE"), timeout=5)
    assert invite_answer is not None, f"no final answer to the INVITE: {seen}"
    seen["cancel"] = cancel_answer.status if cancel_answer else None
    seen["invite"] = invite_answer.status
    if invite_answer.status == 487:
        caller.ack_failure(dialog, invite_answer)
        branch = "cancelled"
    else:
        assert invite_answer.status == 200, str(invite_answer)
        caller.ack_2xx(dialog, invite_answer)
        caller.bye(dialog)
        bye_answer = caller.wait(_response_to(dialog, "BYE"), timeout=5)
        if bye_answer is None:  # one retransmission (UDP), then give up
            caller.resend()
            bye_answer = caller.wait(_response_to(dialog, "BYE"), timeout=5)
        assert bye_answer is not None and bye_answer.status == 200, seen
        seen["bye"] = bye_answer.status
        branch = "answered"
    # Anything else the node says about this call in the next moment: a second final answer
    # to the INVITE would contradict the first; a BYE from the node would mean it kept a call.
    time.sleep(0.5)
    late = []
    while (message := caller.receive(0.05)) is not None:
        if message.get("call-id") == dialog.call_id:
            late.append(message)
    finals = {m.status for m in late if m.is_response and m.method == "INVITE"
              and m.status >= 200}
    assert finals <= {invite_answer.status}, (
        f"the INVITE got {invite_answer.status} and then {finals}")
    requests = [m.first for m in late if not m.is_response]
    assert not requests, f"the node sent {requests} after the call was over"
    return branch, seen


def test_cancel_right_after_invite_leaves_no_call_and_no_port(
        start_node: Callable[..., RunningNode]) -> None:
    """Five INVITE+CANCEL pairs, one after the other. Each must end with exactly one
    ``ended:`` line that matches the branch taken, no call left, and every RTP port back."""
    node = start_node(config=calls_config())
    prepare_prompts(node)
    caller = RawCaller(node.addr("udp"))
    branches: collections.Counter[str] = collections.Counter()
    rows: list[dict[str, Any]] = []
    problems: list[str] = []

    media: dict[str, Any] = ctl_json(node, "media")

    def settled(ports_before: int) -> bool:
        nonlocal media
        media = ctl_json(node, "media")
        return bool(media["calls"] == 0
                    and media["engine"]["ports"]["in use"] <= ports_before)

    try:
        for attempt in range(5):
            before = set(call_ids(node))
            ports_before = int(media["engine"]["ports"]["in use"])
            branch, seen = _cancel_once(caller)
            branches[branch] += 1
            assert wait_for(lambda b=before: set(call_ids(node)) - b, timeout=5), \
                call_lines(node)
            [call_id] = set(call_ids(node)) - before
            wait_for(lambda c=call_id: ended_lines(node, c), timeout=5)
            # Ports come back when the engine has deleted the call: give it a moment.
            wait_for(lambda p=ports_before: settled(p), timeout=1.5)
            ends = ended_lines(node, call_id)
            row = {"attempt": attempt, "branch": branch, **seen, "node call": call_id,
                   "ended": ends, "calls": media["calls"],
                   "ports in use": media["engine"]["ports"]["in use"]}
            rows.append(row)
            expected_cancel = (200,) if branch == "cancelled" else (200, 481)
            expected_end = ("ended: cancelled before answer (not answered" if branch ==
                            "cancelled" else "ended: remote hung up (answered")
            if seen["cancel"] not in expected_cancel:
                problems.append(f"attempt {attempt}: CANCEL answered {seen['cancel']}")
            if len(ends) != 1 or not ends[0].startswith(expected_end):
                problems.append(f"attempt {attempt}: ended lines {ends}, expected one "
                                f"{expected_end!r}")
            if media["calls"] != 0 or media["engine"]["ports"]["in use"] != 0:
                now_in_use = media["engine"]["ports"]["in use"]
                problems.append(f"attempt {attempt} ({branch}): after the call, calls="
                                f"{media['calls']} RTP port pairs in use={now_in_use} "
                                f"({now_in_use - ports_before:+d} by this call)")
    finally:
        caller.close()
        print(f"CANCEL branches: {dict(branches)}")
        for row in rows:
            print(row)
    assert sum(branches.values()) == 5
    warnings = [line for line in node.stderr().splitlines() if "WARNING" in line]
    assert not problems, "\n".join([*problems, "branches: " + str(dict(branches)),
                                    *map(str, rows), *warnings[-10:]])


def test_voicemail_recording_carries_each_party_in_its_own_channel(
        start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    """A caller leaves a voicemail: the engine's stereo WAV has the caller (baresip's 440 Hz)
    on the left and the node's side (the 1 kHz beep) on the right."""
    require("baresip", "baresip-core")
    config = calls_config()
    config["ivr"]["mail"] = {"start": "vm", "nodes": {
        "vm": {"type": "voicemail", "mailbox": "support", "max_seconds": 5}}}
    config["numbers"]["301"] = "ivr:mail"
    node = start_node(config=config)
    host, port = node.addr("udp")
    with Baresip(tmp_path / "baresip", ["<sip:+15550124@127.0.0.1>;regint=0"],
                 extra_config=("ausrc_srate 48000", "ausrc_channels 2")) as ua:
        assert ua.dial(f"sip:301@{host}:{port}")["ok"], ua.log()[-2000:]
        established = ua.wait_event({"CALL_ESTABLISHED", "CALL_CLOSED"}, timeout=10)
        assert established["type"] == "CALL_ESTABLISHED", (established, ua.log()[-3000:])
        # The node hangs up after max_seconds of message.
        assert ua.wait_event({"CALL_CLOSED"}, timeout=15)["type"] == "CALL_CLOSED"
    assert wait_for(lambda: any("recording finished" in line for line in call_lines(node))
                    and any(" ended: " in line for line in call_lines(node)),
                    timeout=10), call_lines(node)
    lines = call_lines(node)
    assert any("voicemail for support (at most 5 s)" in line for line in lines), lines
    assert any("ended: ivr: voicemail recorded (answered" in line for line in lines), lines
    [path] = [line.rsplit(" ", 1)[1] for line in lines if "recording finished" in line]
    with wave.open(path) as reader:
        assert reader.getnchannels() == 2 and reader.getframerate() == 8000
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    stereo = pcm.reshape(-1, 2).astype(np.float64)
    assert len(stereo) >= 2 * 8000, f"only {len(stereo) / 8000:.1f} s recorded"
    caller = stereo[8000:16000, 0]  # the caller talks through the whole message
    node_side = stereo[:3200, 1]    # the beep opens it (0.4 s)
    rms, peak, _ = _spectrum(caller, 8000)
    assert rms > 1000 and abs(peak - 440) <= 20, (rms, peak)
    rms, peak, _ = _spectrum(node_side, 8000)
    assert rms > 1000 and abs(peak - 1000) <= 20, (rms, peak)
    assert ctl_json(node, "media")["engine"]["ports"]["in use"] == 0
