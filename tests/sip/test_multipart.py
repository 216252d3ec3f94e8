"""Multipart bodies (RFC 2046 §5.1)."""

from __future__ import annotations

import pytest

from switch.sip.errors import ParseError
from switch.sip.multipart import boundary_of, parse_multipart

BODY = (b"preamble\r\n--xyz\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"
        b"\r\n--xyz  \r\n\r\nno headers, default text/plain\r\n--xyz--\r\nepilogue")


def test_parts_with_preamble_padding_and_epilogue() -> None:
    sdp, plain = parse_multipart('multipart/mixed; boundary="xyz"', BODY)
    assert sdp.content_type == "application/sdp" and sdp.body == b"v=0\r\n"
    assert plain.content_type == "text/plain"
    assert plain.body == b"no headers, default text/plain"


def test_alternative_starting_with_the_delimiter() -> None:
    body = b"--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1\r\nContent-Type: text/html\r\n" \
           b"\r\n<p>hi</p>\r\n--b1--"
    parts = parse_multipart("multipart/alternative;boundary=b1", body)
    assert [(p.content_type, p.body) for p in parts] == [("text/plain", b"hi"),
                                                          ("text/html", b"<p>hi</p>")]


@pytest.mark.parametrize(("ctype", "body"), [
    ("multipart/mixed", BODY),  # no boundary
    ("multipart/mixed;boundary=abc", BODY),  # boundary not in the body
    ('multipart/mixed;boundary="xyz"', BODY.replace(b"--xyz--", b"--xyz")),  # never closes
    ("multipart/mixed;boundary=" + "x" * 71, BODY),
])
def test_broken_multiparts_are_parse_errors(ctype: str, body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_multipart(ctype, body)


def test_boundary_may_be_quoted() -> None:
    assert boundary_of('multipart/mixed; boundary="a b:c"') == "a b:c"
