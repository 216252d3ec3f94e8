"""Hypothesis fuzz: the parser and every structured view raise nothing but ParseError.

Inputs are arbitrary bytes and mutations of the valid torture messages (byte flips,
truncation, duplicated or removed lines, inserted NUL/CR/LF, huge numbers). A few hundred
examples per test keep this to seconds in CI.
"""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switch.sip.errors import ParseError
from switch.sip.framing import StreamFramer
from switch.sip.message import Request, parse_message
from switch.sip.uri import SipUri, parse_uri

from .torture_cases import CASES

SEEDS = [c.data() for c in CASES if c.valid]
FUZZ = settings(max_examples=int(os.environ.get("SIP_FUZZ_EXAMPLES", "400")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def exercise(data: bytes) -> None:
    """Parse and touch every view; only ParseError may escape."""
    try:
        message = parse_message(data)
    except ParseError:
        return
    for view in ("validate", "vias", "top_via", "cseq", "call_id", "from_", "to", "contacts",
                 "content_type", "parts"):
        try:
            value = getattr(message, view)
            if callable(value):
                value()
        except ParseError:
            pass
    for name in ("Max-Forwards", "Expires"):
        with contextlib.suppress(ParseError):
            message.header_int(name)
    if isinstance(message, Request) and isinstance(message.uri, SipUri):
        other = message.uri
        assert other.matches(other)
        # the host was validated while parsing, so normalising it cannot fail
        _ = (other.host_address, other.aor(), str(other))
        assert parse_uri(str(other)) == other  # a parsed URI renders back to itself
    with contextlib.suppress(ParseError):
        message.serialize()


def _lines_mutation(data: bytes, index: int, mode: int) -> bytes:
    lines = data.split(b"\r\n")
    i = index % len(lines)
    if mode == 0:
        del lines[i]
    elif mode == 1:
        lines.insert(i, lines[i])
    else:
        lines[i], lines[-1 - i] = lines[-1 - i], lines[i]
    return b"\r\n".join(lines)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 6))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == 0 and data:  # flip a byte
            data[pos] = draw(st.integers(0, 255))
        elif kind == 1:  # truncate
            del data[pos:]
        elif kind == 2:  # insert NUL / CR / LF / quote / bracket
            data[pos:pos] = draw(st.sampled_from([b"\x00", b"\r", b"\n", b"\r\n ", b'"', b"<",
                                                  b"[", b";", b",", b"%", b"\\", b"@", b":"]))
        elif kind == 3:  # huge numbers
            data[pos:pos] = draw(st.sampled_from([b"99999999999999999999999", b"-1", b"65536",
                                                  b"4294967296", b"0"]))
        elif kind == 4:
            data = bytearray(_lines_mutation(bytes(data), pos, draw(st.integers(0, 2))))
        elif kind == 5:  # delete a span
            del data[pos:pos + draw(st.integers(1, 20))]
        else:  # duplicate a span
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 40))]
    return bytes(data)


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_parse_error(data: bytes) -> None:
    exercise(data)


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_head_after_a_request_line(tail: bytes) -> None:
    exercise(b"INVITE sip:a@b.example SIP/2.0\r\n" + tail + b"\r\n\r\n")


@FUZZ
@given(mutated())
def test_mutated_torture_messages_raise_only_parse_error(data: bytes) -> None:
    exercise(data)


@FUZZ
@given(mutated(), st.integers(1, 64))
def test_framer_raises_only_parse_error(data: bytes, chunk: int) -> None:
    framer = StreamFramer(max_message=4096)
    try:
        for i in range(0, len(data), chunk):
            for message in framer.feed(data[i:i + chunk]):
                exercise(message)
    except ParseError:
        pass


@FUZZ
@given(st.text(max_size=200))
def test_uri_parser_raises_only_parse_error(text: str) -> None:
    for candidate in (text, "sip:" + text, "sips:user@" + text):
        try:
            uri = parse_uri(candidate)
        except ParseError:
            continue
        if isinstance(uri, SipUri):
            try:
                uri.matches(uri)
            except ParseError:
                pytest.fail(f"a parsed URI must compare with itself: {candidate!r}")
