"""SDP (RFC 4566 / RFC 8866): parsing, accessors, round trips, broken input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switch.sip.errors import ParseError
from switch.sip.sdp import Connection, MediaDescription, RtpMap, SessionDescription

# byte-exact RFC 4475 / RFC 5118 fixtures kept in the project (tests/sip/torture)
TORTURE = Path(__file__).resolve().parent / "torture"

# Every line type of RFC 4566 §5, in the order the RFC prescribes.
FULL = (
    b"v=0\r\n"
    b"o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n"
    b"s=SDP Seminar\r\n"
    b"i=A Seminar on the session description protocol\r\n"
    b"u=http://www.example.com/seminars/sdp.pdf\r\n"
    b"e=j.doe@example.com (Jane Doe)\r\n"
    b"p=+1 617 555-6011\r\n"
    b"c=IN IP4 224.2.17.12/127\r\n"
    b"b=CT:128\r\n"
    b"t=2873397496 2873404696\r\n"
    b"r=7d 1h 0 25h\r\n"
    b"z=2882844526 -1h 2898848070 0\r\n"
    b"k=prompt\r\n"
    b"a=recvonly\r\n"
    b"m=audio 49170 RTP/AVP 0\r\n"
    b"i=voice\r\n"
    b"c=IN IP4 224.2.17.12/127/2\r\n"
    b"b=AS:64\r\n"
    b"k=prompt\r\n"
    b"a=x-unknown:kept as is\r\n"
    b"m=video 51372/2 RTP/AVP 99\r\n"
    b"a=rtpmap:99 h263-1998/90000\r\n"
)


def body_of(path: Path) -> bytes:
    raw = path.read_bytes()
    return raw.partition(b"\r\n\r\n")[2]


def test_full_description_parses_and_round_trips() -> None:
    sdp = SessionDescription.parse(FULL)
    assert sdp.origin.username == "jdoe" and sdp.origin.version == 2890842807
    assert sdp.session_name == "SDP Seminar" and sdp.emails == ["j.doe@example.com (Jane Doe)"]
    assert sdp.connection == Connection("224.2.17.12", "IP4", "IN", ttl=127)
    assert sdp.timings[0].start == 2873397496 and sdp.timings[0].repeats == ["7d 1h 0 25h"]
    assert sdp.zone == "2882844526 -1h 2898848070 0" and sdp.key == "prompt"
    audio, video = sdp.media
    assert audio.connection == Connection("224.2.17.12", "IP4", "IN", ttl=127, count=2)
    assert audio.title == "voice" and audio.bandwidths == ["AS:64"]
    assert audio.attribute("x-unknown") == "kept as is"
    assert sdp.direction_for(audio) == "recvonly"  # inherited from the session level
    assert video.port == 51372 and video.port_count == 2
    assert video.rtpmaps() == {99: RtpMap(99, "h263-1998", 90000)}
    assert sdp.serialize() == FULL


@pytest.mark.parametrize("name", ["ipv6-in-sdp.dat", "mult-ip-in-sdp.dat",
                                  "ipv4-mapped-ipv6.dat"])
def test_rfc5118_bodies(name: str) -> None:
    body = body_of(TORTURE / "rfc5118" / name)
    sdp = SessionDescription.parse(body)
    assert sdp.serialize() == body
    if name == "ipv6-in-sdp.dat":
        assert sdp.origin.addrtype == "IP6" and sdp.origin.address == "2001:db8::20"
        assert sdp.connection == Connection("2001:db8::20", "IP6")
        assert [m.media for m in sdp.media] == ["audio", "video"]
        assert sdp.media[0].rtpmaps()[2].encoding == "G726-32"
    if name == "mult-ip-in-sdp.dat":
        audio, video = sdp.media
        assert sdp.connection is None and sdp.session_name == ""
        assert sdp.connection_for(audio) == Connection("192.0.2.1", "IP4")
        assert sdp.connection_for(video) == Connection("2001:db8::1", "IP6")


@pytest.mark.parametrize("name", ["ipv6-in-sdp.dat", "mult-ip-in-sdp.dat"])
def test_rfc5118_bodies_cut_at_content_length(name: str) -> None:
    # The fixtures' Content-Length is short (see the fixture README): what a UDP receiver keeps
    # after §18.3 truncation must still parse, its last line cut short.
    raw = (TORTURE / "rfc5118" / name).read_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    length = int(next(line for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")).split(b":")[1])
    sdp = SessionDescription.parse(body[:length])
    assert len(sdp.media) == 2


SDP_BODIES = ["baddate.dat", "bcast.dat", "esc01.dat", "inv2543.dat", "sdp01.dat",
              "lwsstart.dat", "wsinv.dat", "longreq.dat"]


@pytest.mark.parametrize("name", SDP_BODIES)
def test_rfc4475_sdp_bodies_round_trip(name: str) -> None:
    body = body_of(TORTURE / "rfc4475" / name)
    assert SessionDescription.parse(body).serialize() == body


def test_tolerates_lf_blank_lines_and_no_final_newline() -> None:
    text = "v=0\no=- 1 1 IN IP4 127.0.0.1\n\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0 8\na=sendonly"
    sdp = SessionDescription.parse(text.encode())
    assert sdp.media[0].formats == ["0", "8"] and sdp.media[0].direction == "sendonly"
    assert sdp.serialize() == text.replace("\n\n", "\n").replace("\n", "\r\n").encode() + b"\r\n"


def test_media_accessors() -> None:
    sdp = SessionDescription.parse(
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 192.0.2.4\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
        b"a=rtcp:4001 IN IP4 192.0.2.5\r\na=rtcp-mux\r\na=inactive\r\n"
        b"m=audio 0 RTP/AVP\r\n")
    audio, disabled = sdp.media
    assert audio.fmtp(101) == "0-16" and audio.fmtp("0") is None
    assert audio.ptime == 20 and audio.rtcp_mux
    assert audio.rtcp == (4001, Connection("192.0.2.5", "IP4"))
    assert audio.direction == "inactive" and sdp.direction_for(disabled) == "sendrecv"
    audio.direction = "sendrecv"
    assert audio.attributes_named("sendrecv") == [""] and not audio.has_attribute("inactive")
    audio.direction = None
    assert audio.direction is None
    with pytest.raises(ValueError):
        audio.direction = "both"
    assert disabled.rejected and disabled.formats == []
    audio.remove_attribute("rtpmap")
    assert audio.rtpmaps() == {}


def test_ipv6_multicast_count() -> None:
    assert Connection.parse("IN IP6 FF15::101/3") == Connection("FF15::101", "IP6", count=3)
    assert str(Connection.parse("IN IP4 224.2.1.1/127/3")) == "IN IP4 224.2.1.1/127/3"


def test_built_description_serializes() -> None:
    sdp = SessionDescription(media=[MediaDescription("audio", 5000, "RTP/AVP", ["0"])])
    sdp.media[0].add_attribute("sendonly")
    assert SessionDescription.parse(sdp.serialize()) == sdp


@pytest.mark.parametrize(("text", "why"), [
    ("", "v=0"),
    ("o=- 1 1 IN IP4 h\r\n", "v=0"),
    ("v=0\r\ns=-\r\n", "lacks o="),
    ("v=0\r\no=- 1 1 IN IP4 h\r\nx=1\r\n", "unknown session line"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\nnot a line\r\n", "not <type>=<value>"),
    ("v=0\r\no=- one 1 IN IP4 h\r\n", "bad o="),
    ("v=0\r\no=- 1 1 IN IP4 h\r\no=- 1 1 IN IP4 h\r\n", "second o="),
    ("v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4\r\n", "bad c="),
    ("v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP6 1.2.3.4\r\n", "IP6"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 224.0.0.1/a\r\n", "multicast"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\nt=now 0\r\n", "bad t="),
    ("v=0\r\no=- 1 1 IN IP4 h\r\nr=1d\r\n", "r= before"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 99999 RTP/AVP 0\r\n", "port out of range"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio x RTP/AVP 0\r\n", "bad m="),
    ("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\nt=0 0\r\n", "not allowed in a media"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\na=bad name\r\n", "attribute name"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\nv=0\r\n", "second v="),
    ("v=0\r\no=- 1 1 IN IP4 h\x00\r\n", "NUL"),
])
def test_broken_descriptions_raise_parse_error(text: str, why: str) -> None:
    with pytest.raises(ParseError) as info:
        SessionDescription.parse(text.encode())
    assert why in info.value.reason and info.value.status == 400


def test_bad_rtpmap_and_rtcp_raise_parse_error() -> None:
    media = MediaDescription(attributes=[("rtpmap", "0 PCMU"), ("rtcp", "x")])
    with pytest.raises(ParseError):
        media.rtpmaps()
    with pytest.raises(ParseError):
        _ = media.rtcp


def test_oversize_description_is_refused() -> None:
    with pytest.raises(ParseError):
        SessionDescription.parse(b"v=0\r\n" + b"a=x\r\n" * 20000)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_bytes_raise_only_parse_error(data: bytes) -> None:
    try:
        sdp = SessionDescription.parse(b"v=0\r\no=- 1 1 IN IP4 h\r\n" + data)
    except ParseError:
        return
    for media in sdp.media:
        try:
            media.rtpmaps()
            _ = media.rtcp
        except ParseError:
            pass
    # whatever parsed serializes and parses back to the same structure
    assert SessionDescription.parse(sdp.serialize()) == sdp


_LINES = st.sampled_from([
    "c=IN IP4 10.0.0.1", "c=IN IP6 ::1", "b=AS:64", "a=sendonly", "a=rtpmap:0 PCMU/8000",
    "a=fmtp:101 0-15", "i=info", "m=audio 4000 RTP/AVP 0 8", "m=video 0 RTP/AVP 31",
    "a=x:y", "k=clear:abc", "t=0 0", "r=7d 1h 0 25h", "x=?", "m=bad", "c=IN IP4",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINES, max_size=12))
def test_fuzz_line_sequences(lines: list[str]) -> None:
    text = "\r\n".join(["v=0", "o=- 1 1 IN IP4 h", "s=-", *lines]) + "\r\n"
    try:
        sdp = SessionDescription.parse(text.encode())
    except ParseError:
        return
    assert SessionDescription.parse(sdp.serialize()).serialize() == sdp.serialize()
