"""Stream framing by Content-Length (RFC 3261 §18.3) with CRLF keepalives (RFC 5626)."""

from __future__ import annotations

import pytest

from switch.sip.errors import ParseError
from switch.sip.framing import StreamFramer
from switch.sip.message import parse_message

from .torture_cases import BY_NAME


def _msg(body: bytes = b"", cl: str | None = None) -> bytes:
    length = str(len(body)) if cl is None else cl
    return (b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
            b"l: " + length.encode() + b"\r\n\r\n" + body)


def test_back_to_back_messages_are_cut_by_content_length() -> None:
    a, b = _msg(b"hello"), _msg(b"\r\n\r\nbody with a blank line")
    framer = StreamFramer()
    assert framer.feed(a + b) == [a, b]
    assert framer.buffered == 0


@pytest.mark.parametrize("chunk", [1, 2, 7, 64])
def test_byte_by_byte_delivery_gives_the_same_messages(chunk: int) -> None:
    stream = b"\r\n\r\n" + _msg(b"x" * 10) + b"\r\n" + _msg() + _msg(b"tail")
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(0, len(stream), chunk):
        out.extend(framer.feed(stream[i:i + chunk]))
    assert out == [_msg(b"x" * 10), _msg(), _msg(b"tail")]
    assert framer.keepalives_seen == 2
    assert framer.pings_seen == 1  # only the CRLFCRLF run is a ping that wants a pong


def test_missing_content_length_is_a_framing_error() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n"
    with pytest.raises(ParseError, match="lacks Content-Length") as caught:
        StreamFramer().feed(data)
    assert caught.value.status == 400


@pytest.mark.parametrize("name", ["ncl", "mcl01"])
def test_torture_framing_errors_close_the_stream(name: str) -> None:
    with pytest.raises(ParseError) as caught:
        StreamFramer().feed(BY_NAME[name].data())
    assert caught.value.status == 400


def test_oversize_header_block_and_body_get_413() -> None:
    framer = StreamFramer(max_message=200)
    with pytest.raises(ParseError) as caught:
        framer.feed(b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"y" * 300)
    assert caught.value.status == 413
    with pytest.raises(ParseError) as caught:
        StreamFramer(max_message=200).feed(_msg(cl="5000"))
    assert caught.value.status == 413


def test_incomplete_body_waits_for_more() -> None:
    framer = StreamFramer()
    data = _msg(b"0123456789")
    assert framer.feed(data[:-3]) == []
    assert framer.buffered == len(data) - 3
    assert framer.feed(data[-3:]) == [data]


def test_framed_torture_messages_parse_as_stream_messages() -> None:
    data = BY_NAME["mpart01"].data()  # binary body with NULs and CRLFs inside
    (framed,) = StreamFramer().feed(data)
    message = parse_message(framed, datagram=False)
    assert len(message.parts) == 2


def test_parse_message_limits_size() -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(_msg(b"z" * 100), max_size=64)
    assert caught.value.status == 413
