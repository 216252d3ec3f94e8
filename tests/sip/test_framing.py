"""Stream framing by Content-Length (RFC 3261 §18.3) with CRLF keepalives (RFC 5626).

A framing error closes the stream, but first the stream answers as a datagram would: the
messages framed before the error are handed over, and so is the head that broke framing
when the core can read and answer it (see ``switch/sip/framing.py``).
"""

from __future__ import annotations

import pytest

from switch.sip.errors import ParseError
from switch.sip.framing import FramingError, StreamFramer
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


def test_missing_content_length_is_a_framing_error_that_carries_the_head() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n"
    with pytest.raises(FramingError, match="lacks Content-Length") as caught:
        StreamFramer().feed(data + b"body the stream cannot delimit")
    assert caught.value.status == 400
    assert caught.value.head == data  # the head with its blank line, without the body
    assert caught.value.framed == []


def test_head_of_an_unframeable_message_is_refused_by_the_stream_parser() -> None:
    """The head goes to the core, which must refuse it for the same reason (and answer 400),
    never take it for a message: RFC 3261 §18.3, Content-Length is mandatory on streams."""
    inv2543 = BY_NAME["inv2543"].data()  # RFC 4475 §3.4.1: no Content-Length
    with pytest.raises(FramingError) as caught:
        StreamFramer().feed(inv2543)
    head = caught.value.head
    assert head is not None and inv2543.startswith(head) and head.endswith(b"\r\n\r\n")
    with pytest.raises(ParseError, match="lacks Content-Length") as refused:
        parse_message(head, datagram=False)
    assert refused.value.status == 400


@pytest.mark.parametrize(("name", "reason"), [
    ("ncl", "bad Content-Length"),  # RFC 4475 §3.1.2.3: negative
    ("mcl01", "more than one Content-Length"),  # RFC 4475 §3.3.9
])
def test_torture_framing_errors_close_the_stream_with_an_answerable_head(
        name: str, reason: str) -> None:
    data = BY_NAME[name].data()
    with pytest.raises(FramingError, match=reason) as caught:
        StreamFramer().feed(data)
    assert caught.value.status == 400
    head = caught.value.head
    assert head is not None and data.startswith(head)
    with pytest.raises(ParseError, match=reason):
        parse_message(head, datagram=False)


def test_messages_framed_before_an_error_are_not_lost() -> None:
    """RFC 4475 §3.1.1.8 (dblreq) over a stream: the REGISTER (Content-Length 0) and the
    INVITE after it are framed; the 5 octets past the INVITE's Content-Length are junk."""
    with pytest.raises(FramingError) as caught:
        StreamFramer().feed(BY_NAME["dblreq"].data())
    register, invite = caught.value.framed
    assert register.startswith(b"REGISTER ") and register.endswith(b"Content-Length: 0\r\n\r\n")
    assert invite.startswith(b"INVITE ")
    assert caught.value.head == b"C\r\n\r\n"  # the core finds no Via in it: no answer


def test_a_failed_framer_refuses_more_input() -> None:
    framer = StreamFramer()
    with pytest.raises(FramingError):
        framer.feed(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n")
    with pytest.raises(FramingError, match="already failed") as caught:
        framer.feed(_msg())  # well formed, but the stream lost its place before it
    assert caught.value.head is None and caught.value.framed == []


def test_folded_content_length_frames() -> None:
    """RFC 3261 §7.3.1: a header value may be folded onto the next line."""
    data = (b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n  4\r\nVia: SIP/2.0/TCP h\r\n"
            b"\r\nbody")
    assert StreamFramer().feed(data + _msg()) == [data, _msg()]


def test_oversize_header_block_and_body_get_413_and_no_head() -> None:
    """An oversize head is never handed to the core (it may be a request it would serve);
    an oversize datagram is dropped unanswered too."""
    framer = StreamFramer(max_message=200)
    with pytest.raises(FramingError) as caught:
        framer.feed(b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"y" * 300)
    assert (caught.value.status, caught.value.head) == (413, None)
    with pytest.raises(FramingError) as caught:
        StreamFramer(max_message=200).feed(_msg() + _msg(cl="5000"))
    assert (caught.value.status, caught.value.head) == (413, None)
    assert caught.value.framed == [_msg()]


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
