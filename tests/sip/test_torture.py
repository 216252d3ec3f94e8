"""Every RFC 4475 / RFC 5118 message is parsed or rejected as the RFC says, and round-trips."""

from __future__ import annotations

import pytest

from switch.sip.errors import ParseError
from switch.sip.message import Request, Response, parse_message

from .torture_cases import CASES, TortureCase

VALID = [c for c in CASES if c.valid]
INVALID = [c for c in CASES if not c.valid]


def _parse_valid(case: TortureCase) -> Request | Response:
    message = parse_message(case.data())
    message.validate()
    return message


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
def test_valid_message_parses_with_its_fields(case: TortureCase) -> None:
    message = _parse_valid(case)
    assert case.parse_checks is not None, "every valid case asserts its fields"
    case.parse_checks(message)


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.name)
def test_invalid_message_is_rejected_with_the_rfc_status(case: TortureCase) -> None:
    with pytest.raises(ParseError) as caught:
        message = parse_message(case.data())
        message.validate()
    assert caught.value.status == case.status
    assert caught.value.reason  # says what broke


def _semantic(message: Request | Response) -> tuple[object, ...]:
    fields = [(n, v) for n, v in message.headers if n != "Content-Length"]
    views: tuple[object, ...] = ()
    if isinstance(message, Request) or message.headers.get("Via"):
        views = (message.vias, message.cseq, message.call_id, message.from_, message.to,
                 message.contacts)
    return (message.start_line(), fields, message.body, views)


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
def test_valid_message_round_trips(case: TortureCase) -> None:
    first = _parse_valid(case)
    wire = first.serialize()
    second = parse_message(wire, datagram=False)  # serialized output frames on a stream too
    second.validate()
    assert _semantic(second) == _semantic(first)
    assert second.serialize() == wire  # and serializing is a fixed point
    if case.parse_checks is not None:
        case.parse_checks(second)


def test_table_covers_every_fixture() -> None:
    from .torture_cases import TORTURE_DIR

    on_disk = {p.relative_to(TORTURE_DIR).as_posix() for p in TORTURE_DIR.glob("*/*.dat")}
    assert on_disk == {c.file for c in CASES}
    assert len([c for c in CASES if c.file.startswith("rfc4475/")]) == 50  # 49 + test.dat
    assert len([c for c in CASES if c.file.startswith("rfc5118/")]) == 12


def test_fixtures_are_byte_exact() -> None:
    # git must not have normalised line ends: every fixture still has its CRLFs, and the
    # binary part of mpart01 its NULs
    for case in CASES:
        data = case.data()
        assert b"\r\n" in data, case.name
    assert b"\x00" in next(c for c in CASES if c.name == "mpart01").data()
