"""Pure media cores: RTP/RTCP, G.711, bencode and ng, ports, quality, SDP rewriting."""

from __future__ import annotations

import os

import pytest

from switch.media import bencode, codecs
from switch.media.ng import NgError, build_message, parse_message, validate
from switch.media.ports import PortRange, PortsExhausted
from switch.media.quality import QualityMonitor, ReceiveStats, mos
from switch.media.rtp import (
    RTCP_RR,
    RTCP_SR,
    ReportBlock,
    RtcpPacket,
    RtpError,
    RtpPacket,
    is_rtcp,
    is_rtp,
    parse_compound,
)
from switch.media.sdpmedia import describe, rewrite, sink_answer
from switch.media.session import answer_formats, offer_formats

from .helpers import sdp

# -- RTP / RTCP ---------------------------------------------------------------------------------


def test_rtp_round_trip_with_csrc_extension_and_padding() -> None:
    packet = RtpPacket(96, 65535, 0xFFFFFFFF, 0xDEADBEEF, b"abc", True, [1, 2],
                       (0xBEDE, b"\x01\x02\x03\x04"), 4)
    data = packet.serialize()
    assert is_rtp(data) and not is_rtcp(data)
    assert RtpPacket.parse(data) == packet
    plain = RtpPacket(0, 1, 160, 7, b"\xff" * 160)
    assert RtpPacket.parse(plain.serialize()) == plain
    assert len(plain.serialize()) == 172


@pytest.mark.parametrize("bad", [b"", b"\x80" * 11, b"\x40" + b"\0" * 11,
                                 b"\x8f" + b"\0" * 11, b"\x90" + b"\0" * 13,
                                 b"\xa0" + b"\0" * 11])
def test_rtp_parse_rejects_broken_packets(bad: bytes) -> None:
    with pytest.raises(RtpError):
        RtpPacket.parse(bad)


def test_rtcp_compound_round_trip() -> None:
    block = ReportBlock(0x1234, 25, -3, 70000, 160, 5, 6)
    sr = RtcpPacket(RTCP_SR, 99, [block], ntp=(1 << 40) + 5, rtp_timestamp=8000,
                    packet_count=50, octet_count=8000)
    rr = RtcpPacket(RTCP_RR, 98, [block])
    sdes = RtcpPacket(202, raw=b"\x00\x00\x00\x01\x01\x03abc\x00")
    data = sr.serialize() + rr.serialize() + sdes.serialize()
    assert is_rtcp(data)
    parsed = parse_compound(data)
    assert parsed[0] == sr and parsed[1] == rr
    assert parsed[2].packet_type == 202 and parsed[2].raw.startswith(sdes.raw)
    with pytest.raises(RtpError):
        parse_compound(data[:-3])


# -- G.711 --------------------------------------------------------------------------------------


def test_g711_known_values() -> None:
    # ITU-T G.711: zero is 0xFF in µ-law and 0xD5 in A-law; full scale saturates
    assert codecs.linear_to_ulaw(b"\x00\x00") == b"\xff"
    assert codecs.linear_to_alaw(b"\x00\x00") == b"\xd5"
    assert codecs.linear_to_ulaw((32767).to_bytes(2, "little", signed=True)) == b"\x80"
    assert codecs.linear_to_ulaw((-32768).to_bytes(2, "little", signed=True)) == b"\x00"
    assert codecs.linear_to_alaw((32767).to_bytes(2, "little", signed=True)) == b"\xaa"
    assert codecs.ulaw_to_linear(b"\x80") == (32124).to_bytes(2, "little", signed=True)
    assert codecs.alaw_to_linear(b"\xaa") == (32256).to_bytes(2, "little", signed=True)


def test_g711_matches_audioop_bit_for_bit() -> None:
    audioop = pytest.importorskip("audioop")
    pcm = os.urandom(4000)
    assert codecs.linear_to_ulaw(pcm) == audioop.lin2ulaw(pcm, 2)
    assert codecs.linear_to_alaw(pcm) == audioop.lin2alaw(pcm, 2)
    every = bytes(range(256))
    assert codecs.ulaw_to_linear(every) == audioop.ulaw2lin(every, 2)
    assert codecs.alaw_to_linear(every) == audioop.alaw2lin(every, 2)


def test_transcoding_round_trip_is_stable() -> None:
    every = bytes(range(256))
    # decoding and re-encoding is idempotent after one pass in each law
    once = codecs.transcode(codecs.transcode(every, "PCMU", "PCMA"), "PCMA", "PCMU")
    twice = codecs.transcode(codecs.transcode(once, "PCMU", "PCMA"), "PCMA", "PCMU")
    assert once == twice
    assert codecs.transcode(every, "PCMA", "PCMA") is every
    pcm = codecs.tone((440,), 100)
    back = codecs.alaw_to_linear(codecs.transcode(codecs.linear_to_ulaw(pcm), "PCMU", "PCMA"))
    worst = max(abs(int.from_bytes(pcm[i:i + 2], "little", signed=True)
                    - int.from_bytes(back[i:i + 2], "little", signed=True))
                for i in range(0, len(pcm), 2))
    assert worst < 700  # one quantisation step of the coarser segment
    with pytest.raises(ValueError):
        codecs.transcode_table("PCMU", "G722")


# -- bencode and ng -----------------------------------------------------------------------------


def test_bencode_round_trip() -> None:
    value = {"command": "offer", "flags": ["trust-address", "SIP source address"],
             "n": -42, "nested": {"list": [1, "two", b"\xff\x00"]}, "sdp": "v=0\r\n"}
    data = bencode.encode(value)
    assert data.startswith(b"d7:command5:offer")
    assert bencode.decode(data) == value
    assert bencode.encode({"b": 1, "a": 2}) == b"d1:ai2e1:bi1ee"  # keys sorted (BEP 3)


@pytest.mark.parametrize("bad", [b"", b"i", b"i-0e", b"i03e", b"ie", b"5:abc", b"l", b"d",
                                 b"di1ei2ee", b"d1:a", b"x", b"i1ei2e", b"99999999999:x",
                                 b"l" * 100 + b"e" * 100])
def test_bencode_rejects_malformed_input_cleanly(bad: bytes) -> None:
    with pytest.raises(bencode.BencodeError):
        bencode.decode(bad)


def test_bencode_refuses_what_it_cannot_encode() -> None:
    with pytest.raises(TypeError):
        bencode.encode({"x": 1.5})


def test_ng_message_round_trip_and_validation() -> None:
    data = build_message("123_4", {"command": "offer", "call-id": "c", "from-tag": "f",
                                   "sdp": "v=0", "flags": ["Trust-Address", "codec-mask-PCMU"],
                                   "codec": {"transcode": ["pcma"]}})
    cookie, body = parse_message(data)
    assert cookie == "123_4"
    command = validate(body)
    assert command.name == "offer" and command.call_id == "c" and command.from_tag == "f"
    assert "trust address" in command.flags
    assert command.codec == {"mask": ["PCMU"], "transcode": ["PCMA"]}
    assert validate({"command": "PLAY dtmf", "call-id": "c", "from-tag": "x"}).name == "play DTMF"


@pytest.mark.parametrize(("body", "reason"), [
    ({}, "No command"), ({"command": 5}, "must be a string"),
    ({"command": "fly"}, "Unrecognized command"),
    ({"command": "offer", "call-id": "c", "from-tag": "f"}, "No sdp"),
    ({"command": "answer", "call-id": "c", "from-tag": "f", "sdp": "x"}, "No to-tag"),
    ({"command": "play media", "call-id": "c"}, "No participant"),
    ({"command": "delete", "call-id": "c", "flags": "fatal"}, "'flags' must be a list"),
    ({"command": "offer", "call-id": "c", "from-tag": "f", "sdp": "v", "codec": []},
     "'codec' must be a dictionary"),
])
def test_ng_validation_errors_are_clear(body: dict[str, object], reason: str) -> None:
    with pytest.raises(NgError, match=reason):
        validate(body)  # type: ignore[arg-type]


def test_ng_framing_errors() -> None:
    with pytest.raises(NgError, match="cookie") as info:
        parse_message(b"nocookie")
    assert not hasattr(info.value, "cookie")
    with pytest.raises(NgError, match="bencode") as info:
        parse_message(b"c1 d7:command")
    assert info.value.cookie == "c1"  # type: ignore[attr-defined]
    with pytest.raises(NgError, match="dictionary"):
        parse_message(b"c1 i1e")


# -- ports --------------------------------------------------------------------------------------


def test_ports_even_odd_pairs_leak_count_and_exhaustion() -> None:
    ports = PortRange(30001, 30010)  # rounded up to 30002: pairs 30002..30008
    assert ports.pairs == 4
    got = [ports.allocate("call-1") for _ in range(4)]
    assert got == [30002, 30004, 30006, 30008] and ports.in_use == 4
    with pytest.raises(PortsExhausted, match="no free RTP port pair"):
        ports.allocate("call-2")
    ports.release(30004)
    assert ports.allocate("call-3") == 30004  # the only free one
    for port in got:
        ports.release(port)
    assert ports.in_use == 0 and ports.free == 4
    with pytest.raises(KeyError):
        ports.release(30002)
    with pytest.raises(ValueError):
        PortRange(30000, 30000)


def test_ports_reuse_the_least_recently_freed_pair() -> None:
    ports = PortRange(30000, 30007)
    first = ports.allocate("a")
    ports.release(first)
    assert ports.allocate("b") != first  # next-fit: stray packets for "a" hit a closed port
    assert ports.owners() == {30002: "b"}


# -- quality ------------------------------------------------------------------------------------


def test_loss_and_jitter_on_synthetic_streams() -> None:
    clean = ReceiveStats()
    for n in range(500):
        clean.update(n & 0xFFFF, n * 160, n * 0.020)
    assert clean.lost == 0 and clean.jitter_ms < 0.01 and clean.mos() > 4.3

    lossy = ReceiveStats()
    for n in range(65000, 65000 + 1000):  # across the sequence wrap
        if n % 20 == 0:
            continue  # 5 % loss
        lossy.update(n & 0xFFFF, n * 160, n * 0.020 + (0.010 if n % 2 else 0.0))
    assert lossy.expected == 1000 - 1 and lossy.lost == 49
    assert lossy.loss_fraction == pytest.approx(0.049, abs=0.002)
    # alternating 10 ms of extra delay: |D| = 80 units each packet -> J converges to 80
    assert lossy.jitter_ms == pytest.approx(10.0, abs=0.5)
    assert 3.5 < lossy.mos() < 4.0  # G.107 with G.711 PLC: 5 % random loss costs ~0.5


def test_mos_model_and_threshold_hysteresis() -> None:
    assert mos(0.0, 0.0) == pytest.approx(4.41, abs=0.03)
    assert mos(0.05, 20.0) < mos(0.01, 20.0) < mos(0.0, 20.0)
    assert mos(0.5, 200.0) < 2.0
    monitor = QualityMonitor(threshold=3.5, hysteresis=0.2)
    assert [monitor.check(v) for v in (4.2, 3.4, 3.3, 3.6, 3.8, 3.0)] == [
        None, "degraded", None, None, "recovered", "degraded"]


# -- SDP ----------------------------------------------------------------------------------------


def test_sdp_rewrite_points_at_the_engine_and_keeps_the_rest() -> None:
    text = sdp(4000, "0 8 101").replace("a=ptime:20", "a=ptime:20\r\na=rtcp-mux\r\na=x-foo:1")
    text += "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    parsed, info = describe(text)
    assert info.port == 4000 and info.rtcp_port == 4001 and info.address == "127.0.0.1"
    assert [f.name for f in info.formats] == ["PCMU", "PCMA", "TELEPHONE-EVENT"]
    assert info.telephone_event is not None and info.telephone_event.pt == 101
    out = rewrite(parsed, info, "10.9.8.7", 30000)
    assert "m=audio 30000 RTP/AVP 0 8 101" in out and "c=IN IP4 10.9.8.7" in out
    assert "o=- 1 1 IN IP4 10.9.8.7" in out and "a=rtcp:30001" in out
    assert "a=x-foo:1" in out and "a=ptime:20" in out and "a=fmtp:101 0-16" in out
    assert "rtcp-mux" not in out and "m=video 0 " in out
    with pytest.raises(ValueError, match="no audio"):
        describe("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n")
    with pytest.raises(ValueError, match="Failed to parse SDP"):
        describe("hello")


def test_codec_negotiation_transcode_mask_strip() -> None:
    _, caller = describe(sdp(4000, "0 101"))
    out = offer_formats(caller.formats, {"transcode": ["PCMA"], "mask": ["PCMU"]})
    assert [(f.pt, f.name) for f in out] == [(8, "PCMA"), (101, "TELEPHONE-EVENT")]
    _, callee = describe(sdp(5000, "8 101"))
    back = answer_formats(caller.formats, callee.formats, {})
    assert [(f.pt, f.name) for f in back] == [(0, "PCMU"), (101, "TELEPHONE-EVENT")]
    with pytest.raises(ValueError):
        offer_formats(caller.formats, {"strip": ["ALL"]})
    _, g722 = describe(sdp(5000, "8").replace("RTP/AVP 8", "RTP/AVP 9")
                       .replace("a=rtpmap:8 PCMA/8000", "a=rtpmap:9 G722/8000"))
    with pytest.raises(ValueError, match="no codec in common"):
        answer_formats([f for f in caller.formats if f.name == "G722"], g722.formats, {})


def test_sink_answer_for_the_ivr_leg() -> None:
    answer = sink_answer(sdp(30010, "8 0 101"))
    _, info = describe(answer)
    assert info.port == 9 and info.is_sink and info.direction == "sendrecv"
    assert [f.name for f in info.formats] == ["PCMA", "TELEPHONE-EVENT"]
