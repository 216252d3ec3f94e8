"""Dialogs (RFC 3261 §12): creation on both sides, route sets, CSeq, in-dialog requests."""

from __future__ import annotations

import pytest

from switch.sip.dialog import Dialog, DialogId, DialogState, Role
from switch.sip.errors import ParseError, ProtocolError
from switch.sip.message import Request, Response, make_response, parse_message

from .txn_helpers import Harness, key_of, request_bytes

VIA = "SIP/2.0/UDP 127.0.0.1:5060"


def _parse_request(data: bytes) -> Request:
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


def _invite(extra: str = "") -> Request:
    return _parse_request(request_bytes("INVITE", extra=extra))


def _answer(invite: Request, status: int = 200, *, record_route: list[str] | None = None,
            contact: str = "<sip:bob@192.0.2.20:5080>") -> Response:
    extra = [("Contact", contact)]
    extra += [("Record-Route", rr) for rr in record_route or []]
    response = make_response(invite, status, to_tag="bobtag", extra=extra)
    parsed = parse_message(response.serialize())
    assert isinstance(parsed, Response)
    return parsed


# -- UAS side ----------------------------------------------------------------------------------


def test_uas_dialog_from_invite() -> None:
    invite = _invite("Record-Route: <sip:p1.example.com;lr>\r\n"
                     "Record-Route: <sip:p2.example.com;lr>\r\n")
    dialog = Dialog.as_uas(invite, _answer(invite))
    assert dialog.role is Role.UAS and dialog.state is DialogState.CONFIRMED
    assert dialog.id == DialogId("call-1@192.0.2.10", "bobtag", "from1")
    assert dialog.id == DialogId.for_incoming(_parse_request(
        request_bytes("BYE", to_tag="bobtag", cseq=2)))
    assert str(dialog.remote_target) == "sip:alice@192.0.2.10:5070"
    # UAS keeps Record-Route in order (§12.1.1)
    assert dialog.route_set == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert dialog.remote_seq == 1 and dialog.local_seq is None


def test_uas_bye_goes_to_the_caller_contact_through_the_route_set() -> None:
    invite = _invite("Record-Route: <sip:p1.example.com;lr>\r\n")
    dialog = Dialog.as_uas(invite, _answer(invite))
    bye = dialog.create_request("BYE", via=VIA)
    assert bye.method == "BYE" and str(bye.uri) == "sip:alice@192.0.2.10:5070"
    assert bye.headers.getall("Route") == ["<sip:p1.example.com;lr>"]
    assert bye.from_.tag == "bobtag" and bye.to.tag == "from1"  # our tag in From now
    assert bye.call_id == invite.call_id
    assert bye.top_via.branch and bye.top_via.branch.startswith("z9hG4bK")
    assert bye.headers.get("Contact") is None  # BYE is not a target refresh
    first = bye.cseq.seq
    reinvite = dialog.create_request("INVITE", via=VIA)
    assert reinvite.cseq.seq == first + 1  # §12.2.1.1: local CSeq increments
    assert reinvite.headers.get("Contact") == "<sip:bob@192.0.2.20:5080>"
    assert str(dialog.next_hop()) == "sip:p1.example.com;lr"


def test_uas_rejects_lower_cseq_with_500_and_accepts_higher() -> None:
    invite = _invite()
    dialog = Dialog.as_uas(invite, _answer(invite))
    assert dialog.receive_request(_parse_request(
        request_bytes("INFO", to_tag="bobtag", cseq=5))) is None
    assert dialog.remote_seq == 5
    late = _parse_request(request_bytes("INFO", to_tag="bobtag", cseq=4))
    assert dialog.receive_request(late) == 500  # §12.2.2: out of order
    assert dialog.remote_seq == 5
    ack = _parse_request(request_bytes("ACK", to_tag="bobtag", cseq=1))
    assert dialog.receive_request(ack) is None  # ACK carries its INVITE's CSeq


def test_target_refresh_moves_the_remote_target() -> None:
    invite = _invite()
    dialog = Dialog.as_uas(invite, _answer(invite))
    reinvite = _parse_request(request_bytes("INVITE", to_tag="bobtag", cseq=2).replace(
        b"Contact: <sip:alice@192.0.2.10:5070>", b"Contact: <sip:alice@198.51.100.9:6000>"))
    assert dialog.receive_request(reinvite) is None
    assert str(dialog.remote_target) == "sip:alice@198.51.100.9:6000"


def test_bye_terminates_and_later_requests_get_481() -> None:
    invite = _invite()
    dialog = Dialog.as_uas(invite, _answer(invite))
    assert dialog.receive_request(_parse_request(
        request_bytes("BYE", to_tag="bobtag", cseq=2))) is None
    assert dialog.terminated
    assert dialog.receive_request(_parse_request(
        request_bytes("INFO", to_tag="bobtag", cseq=3))) == 481
    with pytest.raises(ProtocolError, match="terminated"):
        dialog.create_request("INFO", via=VIA)


def test_uas_early_dialog_confirmed_by_2xx() -> None:
    invite = _invite()
    dialog = Dialog.as_uas(invite, _answer(invite, 180))
    assert dialog.state is DialogState.EARLY
    dialog.confirm()
    assert not dialog.terminated and dialog.state.value == "confirmed"


def test_invite_without_contact_cannot_create_a_dialog() -> None:
    invite = _parse_request(request_bytes("INVITE").replace(
        b"Contact: <sip:alice@192.0.2.10:5070>\r\n", b""))
    with pytest.raises(ParseError, match="Contact"):
        Dialog.as_uas(invite, _answer(invite))


# -- UAC side ----------------------------------------------------------------------------------


def test_uac_dialog_reverses_record_route_and_builds_ack_for_2xx() -> None:
    invite = _invite()
    ok = _answer(invite, record_route=["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"])
    dialog = Dialog.as_uac(invite, ok)
    assert dialog.role is Role.UAC and dialog.state is DialogState.CONFIRMED
    assert dialog.id == DialogId(invite.call_id, "from1", "bobtag")
    assert dialog.route_set == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    ack = dialog.create_ack(invite, via=VIA)
    # §13.2.2.4: same CSeq number, method ACK, new branch, R-URI = remote target
    assert ack.method == "ACK" and ack.cseq.seq == invite.cseq.seq
    assert ack.cseq.method == "ACK"
    assert ack.top_via.branch != invite.top_via.branch
    assert str(ack.uri) == "sip:bob@192.0.2.20:5080"
    assert ack.headers.getall("Route") == dialog.route_set
    assert ack.to.tag == "bobtag" and ack.from_.tag == "from1"
    bye = dialog.create_request("BYE", via=VIA)
    assert bye.cseq.seq == invite.cseq.seq + 1


def test_uac_early_dialog_confirmed_and_route_set_recomputed_by_2xx() -> None:
    invite = _invite()
    early = _answer(invite, 180, record_route=["<sip:old.example.com;lr>"])
    dialog = Dialog.as_uac(invite, early)
    assert dialog.state is DialogState.EARLY
    dialog.receive_response(invite, _answer(invite, 200,
                                            record_route=["<sip:new.example.com;lr>"],
                                            contact="<sip:bob@203.0.113.5>"))
    assert dialog.state.value == "confirmed"
    assert dialog.route_set == ["<sip:new.example.com;lr>"]
    assert str(dialog.remote_target) == "sip:bob@203.0.113.5"


def test_uac_early_dialog_ends_on_failure_and_confirmed_dialog_on_481() -> None:
    invite = _invite()
    dialog = Dialog.as_uac(invite, _answer(invite, 183))
    dialog.receive_response(invite, _answer(invite, 486))
    assert dialog.terminated
    confirmed = Dialog.as_uac(invite, _answer(invite, 200))
    info = confirmed.create_request("INFO", via=VIA)
    confirmed.receive_response(info, _answer(info, 500))
    assert confirmed.state is DialogState.CONFIRMED
    confirmed.receive_response(info, _answer(info, 481))
    assert confirmed.terminated


def test_strict_router_takes_the_request_uri() -> None:
    invite = _invite()
    dialog = Dialog.as_uac(invite, _answer(invite, record_route=[
        "<sip:p2.example.com>", "<sip:strict.example.com;transport=udp>"]))
    bye = dialog.create_request("BYE", via=VIA)
    # §12.2.1.1: first route lacks lr: it becomes the R-URI (without its transport param)
    assert str(bye.uri) == "sip:strict.example.com"
    assert bye.headers.getall("Route") == ["<sip:p2.example.com>",
                                           "<sip:bob@192.0.2.20:5080>"]


def test_response_without_to_tag_creates_no_dialog() -> None:
    invite = _invite()
    trying = parse_message(make_response(invite, 100).serialize())
    assert isinstance(trying, Response)
    with pytest.raises(ParseError, match="tag"):
        Dialog.as_uac(invite, trying)


def test_ack_and_cancel_are_not_built_by_create_request() -> None:
    invite = _invite()
    dialog = Dialog.as_uac(invite, _answer(invite))
    with pytest.raises(ProtocolError):
        dialog.create_request("ACK", via=VIA)


# -- dialog + endpoint: a whole call, UAS side -------------------------------------------------


def test_call_through_endpoint_uas_dialog_and_bye() -> None:
    h = Harness()
    h.feed(request_bytes("INVITE"))
    invite = h.request()
    ok = make_response(invite, 200, to_tag="bobtag",
                       extra=[("Contact", "<sip:100@127.0.0.1:5060>")])
    dialog = Dialog.as_uas(invite, ok)
    h.endpoint.respond(invite, ok, h.now)
    h.feed(request_bytes("ACK", branch="z9hG4bKack", to_tag="bobtag"))
    assert type(h.events()[0]).__name__ == "AckReceived"
    bye = dialog.create_request("BYE", via=VIA)
    key = h.send(bye)
    assert key_of(invite) != key
    sent = [m for m, _ in h.take() if isinstance(m, Request)]
    assert sent[-1].method == "BYE" and str(sent[-1].uri) == "sip:alice@192.0.2.10:5070"
