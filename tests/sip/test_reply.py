"""``reply`` (the node's hot-path response builder) gives the bytes ``make_response`` gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from switch.sip.errors import ParseError
from switch.sip.headers import parse_name_addr
from switch.sip.message import (
    COPIED_HEADERS,
    Request,
    Response,
    make_response,
    parse_message,
)
from switch.sip.reply import reply

from .torture_cases import TORTURE_DIR
from .txn_helpers import request_bytes

FIXTURES = sorted(TORTURE_DIR.rglob("*.dat"))


def _validated(data: bytes) -> Request | None:
    try:
        message = parse_message(data)
        if not isinstance(message, Request):
            return None
        message.validate()
    except ParseError:
        return None
    return message


SAMPLES = [data for data in (request_bytes("OPTIONS"), request_bytes("REGISTER"),
                             request_bytes("BYE", to_tag="theirs"),
                             *(path.read_bytes() for path in FIXTURES))
           if _validated(data) is not None]


@pytest.mark.parametrize("data", SAMPLES)
@pytest.mark.parametrize("status", [100, 200, 401, 481])
def test_reply_equals_make_response(data: bytes, status: int) -> None:
    request = _validated(data)
    assert request is not None
    extra = [("Server", "test"), ("Allow", "INVITE, ACK")]
    fast = reply(request, status, to_tag="ourtag", extra=extra)
    general = make_response(request, status, to_tag="ourtag", extra=extra)
    assert fast.serialize() == general.serialize()
    # The cached To view of the fast response reads as the parsed header would.
    reparsed = parse_message(fast.serialize())
    assert fast.to == reparsed.to


def test_reply_without_validation_falls_back() -> None:
    request = parse_message(request_bytes("OPTIONS"))
    assert isinstance(request, Request)
    assert reply(request, 200, to_tag="t").serialize() == \
        make_response(request, 200, to_tag="t").serialize()


def test_samples_cover_the_torture_fixtures() -> None:
    assert len(FIXTURES) > 40 and len(SAMPLES) > 20, Path(TORTURE_DIR)


def test_reply_copies_the_8_2_6_2_fields_and_leaves_a_to_view() -> None:
    second_via = "Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKp\r\n"
    request = _validated(request_bytes("REGISTER", extra=second_via))
    assert request is not None
    response = reply(request, 200, to_tag="ours", extra=[("server", "test")])
    names = [name for name, _ in response.headers]
    assert names == [*COPIED_HEADERS[:1], *COPIED_HEADERS, "Server"]
    view = Response.to.peek(response)
    assert view is not None and view.tag == "ours"
    assert Request.to.peek(request) is not None and request.to.tag is None  # request untouched


def test_reply_after_a_to_was_added_takes_the_general_path() -> None:
    request = _validated(request_bytes("OPTIONS"))
    assert request is not None
    request.headers.add("To", "<sip:other@h>")
    fast = reply(request, 200, to_tag="t")
    assert fast.serialize() == make_response(request, 200, to_tag="t").serialize()


def test_view_descriptors_peek_preset_and_reset() -> None:
    request = parse_message(request_bytes("OPTIONS"))
    assert isinstance(request, Request)
    assert Request.to.peek(request) is None  # never parses
    to = request.to
    assert Request.to.peek(request) is to
    Request.to.reset(request)
    assert Request.to.peek(request) is None and request.to == to
    request.headers.set("To", "<sip:x@h>;tag=9")
    Request.to.preset(request, parse_name_addr("<sip:x@h>;tag=9"))
    assert request.to.tag == "9"
