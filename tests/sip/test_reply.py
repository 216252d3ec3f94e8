"""``reply`` (the node's hot-path response builder) gives the bytes ``make_response`` gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from switch.sip.errors import ParseError
from switch.sip.message import Request, make_response, parse_message
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
