"""RFC 3264 offer/answer: codecs, DTMF, direction and hold, refused streams, o= versions."""

from __future__ import annotations

import pytest

from switch.sip.offer_answer import (
    Capabilities,
    Codec,
    SdpSession,
    build_answer,
    build_offer,
    codecs_of,
    negotiate_direction,
)
from switch.sip.sdp import SessionDescription

CAPS = Capabilities(address="192.0.2.10", audio_port=30000)


def sdp(*lines: str, conn: str = "IN IP4 198.51.100.7") -> SessionDescription:
    head = ["v=0", "o=alice 2890844526 2890844526 IN IP4 198.51.100.7", "s=-",
            f"c={conn}", "t=0 0"]
    return SessionDescription.parse(("\r\n".join([*head, *lines]) + "\r\n").encode())


def test_static_payload_types_without_rtpmap_in_our_preference_order() -> None:
    result = build_answer(sdp("m=audio 49170 RTP/AVP 8 0 18"), CAPS)
    media = result.answer.media[0]
    assert media.formats == ["0", "8"] and media.port == 30000
    assert media.rtpmaps()[0].encoding == "PCMU" and media.ptime == 20
    assert result.answer.connection is not None
    assert result.answer.connection.address == "192.0.2.10"
    stream = result.streams[0]
    assert stream.accepted and stream.remote_address == "198.51.100.7"
    assert stream.remote_port == 49170 and stream.direction == "sendrecv"
    assert codecs_of(result.streams) == ["PCMU", "PCMA"]
    assert stream.telephone_event_pt is None  # not offered: not answered
    assert "telephone-event" not in result.answer.serialize().decode()


def test_dynamic_payload_numbers_are_reused_and_events_intersected() -> None:
    offer = sdp("m=audio 5004 RTP/AVP 98 100", "a=rtpmap:98 pcma/8000",
                "a=rtpmap:100 telephone-event/8000", "a=fmtp:100 0-11,16")
    result = build_answer(offer, CAPS)
    media = result.answer.media[0]
    assert media.formats == ["98", "100"]  # the offerer's numbers (§6.1)
    assert media.fmtp(100) == "0-11,16"
    assert result.streams[0].telephone_event_pt == 100
    assert result.streams[0].payload_types[0][1] == Codec("PCMA")


def test_no_common_codec_refuses_the_stream_with_port_zero() -> None:
    result = build_answer(sdp("m=audio 5004 RTP/AVP 18 96", "a=rtpmap:96 opus/48000/2"), CAPS)
    media = result.answer.media[0]
    assert media.port == 0 and media.proto == "RTP/AVP" and media.formats
    assert not result.streams[0].accepted
    assert codecs_of(result.streams) == []


def test_same_number_and_order_of_m_lines() -> None:
    offer = sdp("m=video 6000 RTP/AVP 31", "m=audio 5004 RTP/AVP 0",
                "m=audio 5006 RTP/AVP 0", "m=audio 0 RTP/AVP 8", "m=audio 5008 RTP/SAVP 0",
                "m=message 7000 TCP/MSRP *")
    answer = build_answer(offer, CAPS).answer
    assert [(m.media, m.port, m.proto) for m in answer.media] == [
        ("video", 0, "RTP/AVP"), ("audio", 30000, "RTP/AVP"), ("audio", 0, "RTP/AVP"),
        ("audio", 0, "RTP/AVP"), ("audio", 0, "RTP/SAVP"), ("message", 0, "TCP/MSRP")]
    reparsed = SessionDescription.parse(answer.serialize())
    assert len(reparsed.media) == 6


@pytest.mark.parametrize(("offered", "wanted", "expected"), [
    ("sendrecv", "sendrecv", "sendrecv"),
    ("sendonly", "sendrecv", "recvonly"),
    ("recvonly", "sendrecv", "sendonly"),
    ("inactive", "sendrecv", "inactive"),
    ("sendrecv", "sendonly", "sendonly"),
    ("sendrecv", "recvonly", "recvonly"),
    ("sendonly", "sendonly", "inactive"),
    ("recvonly", "recvonly", "inactive"),
    ("sendrecv", "inactive", "inactive"),
])
def test_direction_negotiation(offered: str, wanted: str, expected: str) -> None:
    assert negotiate_direction(offered, wanted) == expected
    caps = Capabilities(address="192.0.2.10", audio_port=30000, direction=wanted)
    result = build_answer(sdp("m=audio 5004 RTP/AVP 0", f"a={offered}"), caps)
    assert result.answer.media[0].direction == expected == result.streams[0].direction


def test_hold_with_session_level_sendonly() -> None:
    offer = sdp("a=sendonly", "m=audio 5004 RTP/AVP 0")
    assert build_answer(offer, CAPS).answer.media[0].direction == "recvonly"


def test_hold_old_form_connection_address_zero() -> None:
    result = build_answer(sdp("m=audio 5004 RTP/AVP 0", conn="IN IP4 0.0.0.0"), CAPS)
    assert result.streams[0].direction == "recvonly"  # we must not send to 0.0.0.0
    held = build_answer(sdp("m=audio 5004 RTP/AVP 0", "a=sendonly", conn="IN IP4 0.0.0.0"), CAPS)
    assert held.streams[0].direction == "recvonly"
    inactive = build_answer(sdp("m=audio 5004 RTP/AVP 0", "a=recvonly",
                                conn="IN IP4 0.0.0.0"), CAPS)
    assert inactive.streams[0].direction == "inactive"


def test_ipv6_offer_and_ipv6_answer() -> None:
    caps = Capabilities(address="2001:db8::10", audio_port=30000)
    result = build_answer(sdp("m=audio 5004 RTP/AVP 0", conn="IN IP6 2001:db8::20"), caps)
    assert result.streams[0].remote_address == "2001:db8::20"
    assert b"c=IN IP6 2001:db8::10\r\n" in result.answer.serialize()
    assert result.answer.origin.addrtype == "IP6"


CHROME_OFFER = "\r\n".join([
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS 6b5f2c1e-8a4e-4d0c-9d55-1b1f3f0e2a77",
    "m=audio 54400 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:3348148302 1 udp 2122260223 127.0.0.1 54400 typ host generation 0 "
    "network-id 1",
    "a=ice-ufrag:Wq3h",
    "a=ice-pwd:n7JmV0ozq4yD4mC3G7QvSgtp",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 5B:0A:23:6E:1C:3F:9D:41:88:02:AE:7B:C4:19:5F:60:D2:3A:77:B1:0E:"
    "94:6C:2F:A8:51:3D:E0:7F:12:C6:BB",
    "a=setup:actpass",
    "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=sendrecv",
    "a=msid:6b5f2c1e-8a4e-4d0c-9d55-1b1f3f0e2a77 0f4d7a4c-5e2b-4b8e-a1c2-3d4e5f607182",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2",
    "a=fmtp:63 111/111",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:13 CN/8000",
    "a=rtpmap:110 telephone-event/48000",
    "a=rtpmap:126 telephone-event/8000",
    "a=ssrc:1263413410 cname:Hj3ZkZ5UqY1VbC6F",
    "a=ssrc:1263413410 msid:6b5f2c1e-8a4e-4d0c-9d55-1b1f3f0e2a77 "
    "0f4d7a4c-5e2b-4b8e-a1c2-3d4e5f607182",
]) + "\r\n"


def test_chrome_jssip_offer_reduced_to_g711_and_telephone_event() -> None:
    offer = SessionDescription.parse(CHROME_OFFER.encode())
    assert offer.serialize() == CHROME_OFFER.encode()  # every WebRTC attribute survives
    caps = Capabilities(address="127.0.0.1", audio_port=40000,
                        protocols=("RTP/AVP", "UDP/TLS/RTP/SAVPF"), rtcp_mux=True,
                        media_attributes=(("setup", "passive"),))
    result = build_answer(offer, caps)
    media = result.answer.media[0]
    assert media.proto == "UDP/TLS/RTP/SAVPF"
    assert media.formats == ["0", "8", "126"]  # telephone-event at 8 kHz, not 48 kHz
    assert media.fmtp(126) == "0-15"  # no fmtp offered: RFC 4733 default 0-15
    assert media.rtcp_mux and media.attribute("setup") == "passive"
    stream = result.streams[0]
    # c=0.0.0.0 under ICE is a placeholder, not the RFC 2543 hold
    assert stream.direction == "sendrecv" and stream.telephone_event_pt == 126
    assert stream.rtcp_mux and codecs_of(result.streams) == ["PCMU", "PCMA"]


def test_chrome_offer_refused_when_we_only_do_plain_rtp() -> None:
    result = build_answer(SessionDescription.parse(CHROME_OFFER.encode()), CAPS)
    assert result.answer.media[0].port == 0


def test_offer_builder_and_answer_round_trip() -> None:
    session = SdpSession(3000000001, address="192.0.2.10")
    offer = build_offer(CAPS, session)
    media = offer.media[0]
    assert media.formats == ["0", "8", "96"]
    assert media.rtpmaps()[96].encoding == "telephone-event" and media.fmtp(96) == "0-16"
    assert media.direction == "sendrecv" and offer.origin.session_id == "3000000001"
    peer = Capabilities(address="198.51.100.7", audio_port=5004, codecs=(Codec("PCMA"),))
    result = build_answer(SessionDescription.parse(offer.serialize()), peer)
    assert result.answer.media[0].formats == ["8", "96"]
    assert result.streams[0].remote_address == "192.0.2.10"
    assert result.streams[0].remote_port == 30000


def test_o_line_version_increments_only_when_the_description_changes() -> None:
    session = SdpSession(42, address="192.0.2.10")
    first = build_offer(CAPS, session)
    assert first.origin.version == 42
    again = build_offer(CAPS, session)  # same description: same version (§8)
    assert again.origin.version == 42
    hold = build_offer(CAPS, session, previous=first, direction="sendonly")
    assert hold.origin.version == 43 and hold.origin.session_id == "42"
    assert hold.media[0].direction == "sendonly"
    resume = build_offer(CAPS, session, previous=hold)
    assert resume.origin.version == 44


def test_re_offer_keeps_m_lines_and_payload_numbers() -> None:
    previous = sdp("m=video 0 RTP/AVP 31", "m=audio 5004 RTP/AVP 0 101",
                   "a=rtpmap:101 telephone-event/8000")
    offer = build_offer(CAPS, SdpSession(7), previous=previous)
    assert [(m.media, m.port) for m in offer.media] == [("video", 0), ("audio", 30000)]
    assert offer.media[1].formats == ["0", "8", "101"]


def test_answer_versions_follow_the_dialog_session() -> None:
    session = SdpSession(99)
    offer = sdp("m=audio 5004 RTP/AVP 0")
    first = build_answer(offer, CAPS, session).answer
    same = build_answer(offer, CAPS, session).answer
    held = build_answer(sdp("m=audio 5004 RTP/AVP 0", "a=sendonly"), CAPS, session).answer
    assert (first.origin.version, same.origin.version, held.origin.version) == (99, 99, 100)
