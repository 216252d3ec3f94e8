"""Bytes in, bytes out through the sans-I/O endpoint, with a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from switch.sip.address import Listener, Peer
from switch.sip.endpoint import Endpoint
from switch.sip.errors import ProtocolError
from switch.sip.events import (
    AckReceived,
    CancelReceived,
    MalformedReceived,
    RequestReceived,
    ResponseReceived,
)
from switch.sip.message import Request, Response, make_response
from switch.sip.transaction import State

from .txn_helpers import (
    TCP_LOCAL,
    TCP_PEER,
    UDP_PEER,
    Harness,
    key_of,
    outgoing,
    request_bytes,
    response_bytes,
)


def _received(h: Harness) -> RequestReceived:
    events = h.events()
    assert len(events) == 1 and isinstance(events[0], RequestReceived), events
    return events[0]


# -- OPTIONS through the TU (NIST) -------------------------------------------------------------


def test_options_answered_by_the_tu() -> None:
    h = Harness()
    h.feed(request_bytes("OPTIONS"))
    event = _received(h)
    assert event.request.method == "OPTIONS" and event.peer == UDP_PEER
    assert h.take() == []  # no 100 Trying for non-INVITE (§17.2.2)
    h.endpoint.respond(event.request, make_response(event.request, 200), h.now)
    [(response, peer)] = h.take()
    assert isinstance(response, Response) and response.status == 200
    assert peer == Peer("udp", "192.0.2.10", 5070)
    assert response.to.tag  # the core added the UAS tag (§8.2.6.2)
    assert response.call_id == "call-1@192.0.2.10"


def test_retransmitted_options_gets_the_same_answer_and_no_new_event() -> None:
    h = Harness()
    h.feed(request_bytes("OPTIONS"))
    event = _received(h)
    h.feed(request_bytes("OPTIONS"))  # retransmission before the TU answered: absorbed
    assert h.events() == [] and h.take() == []
    h.endpoint.respond(event.request, make_response(event.request, 200), h.now)
    first = h.take_responses()
    h.advance(1.0)
    h.feed(request_bytes("OPTIONS"))
    again = h.take_responses()
    assert [r.serialize() for r in again] == [r.serialize() for r in first]
    assert h.events() == []


def test_respond_twice_final_is_a_protocol_error() -> None:
    h = Harness()
    h.feed(request_bytes("OPTIONS"))
    request = _received(h).request
    h.endpoint.respond(request, make_response(request, 200), h.now)
    with pytest.raises(ProtocolError, match="Completed"):
        h.endpoint.respond(request, make_response(request, 500), h.now)


def test_respond_without_transaction_is_a_protocol_error() -> None:
    h = Harness()
    h.feed(request_bytes("OPTIONS"))
    request = _received(h).request
    h.endpoint.respond(request, make_response(request, 200), h.now)
    h.advance(32.0)  # Timer J ends the transaction
    assert h.endpoint.pending == 0
    with pytest.raises(ProtocolError, match="no server transaction"):
        h.endpoint.respond(request, make_response(request, 200), h.now)


# -- Via stamping and response routing (§18.2.1, §18.2.2, RFC 3581) ---------------------------


def test_received_added_when_source_differs_and_response_goes_to_sent_by_port() -> None:
    h = Harness()
    h.feed(request_bytes("OPTIONS", via_host="pc.example.com", via_port=5090),
           peer=Peer("udp", "198.51.100.7", 40000))
    request = _received(h).request
    assert request.top_via.received == "198.51.100.7"
    assert request.top_via.rport is None
    h.endpoint.respond(request, make_response(request, 200), h.now)
    [(response, peer)] = h.take()
    assert peer == Peer("udp", "198.51.100.7", 5090)
    assert isinstance(response, Response)
    assert response.top_via.received == "198.51.100.7"


def test_no_received_when_source_matches_sent_by() -> None:
    h = Harness()
    h.feed(request_bytes("OPTIONS"))
    request = _received(h).request
    assert request.top_via.received is None


def test_rport_filled_and_response_goes_to_source_port() -> None:
    h = Harness()
    h.feed(request_bytes("OPTIONS", rport=True), peer=Peer("udp", "192.0.2.10", 31000))
    request = _received(h).request
    via = request.top_via
    # RFC 3581 §4: rport gets the source port and received is added even if it matches.
    assert via.rport == "31000" and via.received == "192.0.2.10"
    h.endpoint.respond(request, make_response(request, 200), h.now)
    [(_, peer)] = h.take()
    assert peer == Peer("udp", "192.0.2.10", 31000)


def test_default_port_when_sent_by_has_none() -> None:
    h = Harness()
    h.feed(request_bytes("OPTIONS", via_port=None), peer=Peer("udp", "192.0.2.10", 31000))
    request = _received(h).request
    h.endpoint.respond(request, make_response(request, 200), h.now)
    [(_, peer)] = h.take()
    assert peer == Peer("udp", "192.0.2.10", 5060)


def test_stream_response_goes_back_over_the_same_connection() -> None:
    h = Harness()
    h.feed(request_bytes("OPTIONS", transport="TCP", via_port=5070), peer=TCP_PEER,
           local=TCP_LOCAL)
    event = _received(h)
    assert event.local == TCP_LOCAL
    h.endpoint.respond(event.request, make_response(event.request, 200), h.now)
    [(_, peer)] = h.take()
    assert peer == TCP_PEER and peer.conn_id == 7
    assert h.endpoint.pending == 0  # Timer J is zero over reliable transports


# -- malformed input ---------------------------------------------------------------------------


def test_missing_call_id_gets_400_with_reason_and_next_message_is_served() -> None:
    h = Harness()
    bad = request_bytes("OPTIONS").replace(b"Call-ID: call-1@192.0.2.10\r\n", b"")
    h.feed(bad)
    [response] = h.take_responses()
    assert response.status == 400
    assert "Call-ID" in response.reason
    assert "Call-ID" in (response.headers.get("Warning") or "")
    [event] = h.events()
    assert isinstance(event, MalformedReceived) and event.answered and event.status == 400
    h.feed(request_bytes("OPTIONS", branch="z9hG4bKnext"))
    assert isinstance(_received(h), RequestReceived)


def test_unparseable_header_line_still_gets_400_when_via_is_readable() -> None:
    h = Harness()
    bad = request_bytes("OPTIONS").replace(b"Max-Forwards: 70\r\n", b"Max Forwards 70\r\n")
    h.feed(bad, peer=Peer("udp", "192.0.2.10", 31000))
    [(response, peer)] = h.take()
    assert isinstance(response, Response) and response.status == 400
    assert peer == Peer("udp", "192.0.2.10", 5070)
    assert response.call_id == "call-1@192.0.2.10"
    assert response.to.tag


def test_cseq_method_mismatch_is_400() -> None:
    h = Harness()
    h.feed(request_bytes("OPTIONS", cseq_method="INVITE"))
    [response] = h.take_responses()
    assert response.status == 400 and "CSeq" in response.reason


def test_bad_version_is_505() -> None:
    h = Harness()
    h.feed(request_bytes("OPTIONS").replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1))
    [response] = h.take_responses()
    assert response.status == 505


@pytest.mark.parametrize("junk", [
    b"\x00\x01\x02garbage",
    b"hello world\r\n\r\n",
    b"OPTIONS sip:x SIP/2.0\r\nFrom: a\r\n\r\n",  # no Via: nowhere to answer
    b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n",   # a broken response is never answered
])
def test_unanswerable_junk_is_dropped_and_reported(junk: bytes) -> None:
    h = Harness()
    h.feed(junk)
    assert h.take() == []
    [event] = h.events()
    assert isinstance(event, MalformedReceived) and not event.answered
    h.feed(request_bytes("OPTIONS"))
    assert isinstance(_received(h), RequestReceived)


def test_malformed_ack_is_never_answered() -> None:
    h = Harness()
    h.feed(request_bytes("ACK").replace(b"Call-ID: call-1@192.0.2.10\r\n", b""))
    assert h.take() == []
    assert isinstance(h.events()[0], MalformedReceived)


def test_stray_response_and_stray_ack_are_dropped() -> None:
    h = Harness()
    ours = outgoing("OPTIONS", branch="z9hG4bKnotours")
    h.feed(response_bytes(ours, 200))
    h.feed(request_bytes("ACK", to_tag="x"))
    assert h.take() == [] and h.events() == []


# -- INVITE server side ------------------------------------------------------------------------


def test_invite_100_180_200_ack() -> None:
    h = Harness()
    h.feed(request_bytes("INVITE", rport=True))
    invite = _received(h).request
    h.advance(0.2)  # the TU is slow: the IST answers 100 Trying after 200 ms (§17.2.1)
    [trying] = h.take_responses()
    assert trying.status == 100 and trying.to.tag is None
    ringing = make_response(invite, 180, to_tag="uas1")
    h.endpoint.respond(invite, ringing, h.now)
    assert [r.status for r in h.take_responses()] == [180]
    h.endpoint.respond(invite, make_response(invite, 200, to_tag="uas1"), h.now)
    assert [r.status for r in h.take_responses()] == [200]
    h.advance(0.5)  # §13.3.1.4: 2xx retransmitted at T1
    assert [r.status for r in h.take_responses()] == [200]
    h.feed(request_bytes("ACK", branch="z9hG4bKack2", to_tag="uas1", rport=True))
    [event] = h.events()
    assert isinstance(event, AckReceived) and event.request.method == "ACK"
    h.advance(40.0)
    assert h.take() == []  # no more 2xx after the ACK
    assert h.events() == []  # duplicate/late nothing


def test_tu_answering_fast_suppresses_100_trying() -> None:
    h = Harness()
    h.feed(request_bytes("INVITE"))
    invite = _received(h).request
    h.advance(0.1)
    h.endpoint.respond(invite, make_response(invite, 180, to_tag="t"), h.now)
    h.advance(0.2)
    assert [r.status for r in h.take_responses()] == [180]


def test_2xx_retransmitted_until_ack_with_capped_backoff() -> None:
    h = Harness()
    h.feed(request_bytes("INVITE"))
    invite = _received(h).request
    start = h.now
    h.endpoint.respond(invite, make_response(invite, 200, to_tag="uas1"), h.now)
    h.take()
    h.advance(10.0)
    sends = [t - start for t in h.fired_at]
    # T1, then doubling, capped at T2 = 4 s: 0.5, 1.5, 3.5, 7.5, 11.5...
    assert sends[:4] == pytest.approx([0.5, 1.5, 3.5, 7.5])
    assert len(h.take_responses()) == 4
    h.feed(request_bytes("ACK", branch="z9hG4bKack", to_tag="uas1"))
    assert isinstance(h.events()[-1], AckReceived)
    h.advance(40)
    assert h.take() == []


def test_cancel_race_pending_invite() -> None:
    h = Harness()
    h.feed(request_bytes("INVITE", branch="z9hG4bKinv"))
    invite = _received(h).request
    h.endpoint.respond(invite, make_response(invite, 180, to_tag="uas9"), h.now)
    h.take()
    h.feed(request_bytes("CANCEL", branch="z9hG4bKinv"))
    responses = h.take_responses()
    assert [(r.status, r.cseq.method) for r in responses] == [(200, "CANCEL"), (487, "INVITE")]
    assert {r.to.tag for r in responses} == {"uas9"}  # §9.2: same To tag
    [event] = h.events()
    assert isinstance(event, CancelReceived) and event.invite is invite
    # The TU's 200 lost the race: the transaction is already Completed.
    with pytest.raises(ProtocolError):
        h.endpoint.respond(invite, make_response(invite, 200, to_tag="uas9"), h.now)
    h.feed(request_bytes("ACK", branch="z9hG4bKinv", to_tag="uas9"))  # ACK for the 487
    assert h.events() == []
    assert h.state(key_of(invite)) is State.CONFIRMED


def test_cancel_after_final_answer_gets_200_and_no_487() -> None:
    h = Harness()
    h.feed(request_bytes("INVITE", branch="z9hG4bKinv"))
    invite = _received(h).request
    h.endpoint.respond(invite, make_response(invite, 200, to_tag="u"), h.now)
    h.take()
    h.feed(request_bytes("CANCEL", branch="z9hG4bKinv"))
    assert [(r.status, r.cseq.method) for r in h.take_responses()] == [(200, "CANCEL")]
    assert h.events() == []


def test_cancel_without_invite_gets_481() -> None:
    h = Harness()
    h.feed(request_bytes("CANCEL", branch="z9hG4bKnothing"))
    [response] = h.take_responses()
    assert response.status == 481
    assert h.events() == []


def test_draining_refuses_new_dialogs_but_serves_in_dialog_requests() -> None:
    h = Harness()
    h.endpoint.draining = True
    h.feed(request_bytes("INVITE"))
    [response] = h.take_responses()
    assert response.status == 503 and response.headers.get("Retry-After")
    assert h.events() == []
    h.feed(request_bytes("BYE", branch="z9hG4bKbye", to_tag="t1", cseq=2))
    assert isinstance(_received(h), RequestReceived)


# -- client side -------------------------------------------------------------------------------


def test_client_options_gets_response_event() -> None:
    h = Harness()
    request = outgoing("OPTIONS")
    dest = Peer("udp", "192.0.2.20", 5080)
    key = h.endpoint.send_request(request, dest, h.now)
    [(sent, peer)] = h.take()
    assert isinstance(sent, Request) and peer == dest
    h.feed(response_bytes(request, 200), peer=dest)
    [event] = h.events()
    assert isinstance(event, ResponseReceived) and event.key == key
    assert event.response.status == 200


def test_send_request_adds_a_branch_when_missing() -> None:
    h = Harness()
    request = outgoing("OPTIONS")
    request.headers.set("Via", "SIP/2.0/UDP 127.0.0.1:5060")
    key = h.endpoint.send_request(request, UDP_PEER, h.now)
    assert key.startswith("z9hG4bK") and request.top_via.branch == key.split("|")[0]


def test_send_request_without_via_is_a_protocol_error() -> None:
    request = outgoing("OPTIONS")
    request.headers.remove("Via")
    with pytest.raises(ProtocolError, match="Via"):
        Endpoint().send_request(request, UDP_PEER, 0.0)


def test_transport_error_fails_client_transaction() -> None:
    h = Harness()
    dest = Peer("tcp", "192.0.2.20", 5080, conn_id=3)
    key = h.endpoint.send_request(outgoing("OPTIONS", transport="TCP"), dest, h.now)
    h.endpoint.transport_error(Peer("tcp", "192.0.2.20", 5080, conn_id=3), h.now)
    [event] = h.events()
    assert type(event).__name__ == "TransportFailed" and event.key == key  # type: ignore[union-attr]
    assert h.endpoint.pending == 0


@pytest.mark.parametrize("name, status", [("badinv01", 400), ("badvers", 505)])
def test_request_with_unreadable_via_is_answered_at_its_source(name: str, status: int) -> None:
    """RFC 4475 §3.1.2.1 and §3.1.2.16 want an answer although the Via cannot be parsed."""
    data = (Path(__file__).parent / "torture" / "rfc4475" / f"{name}.dat").read_bytes()
    endpoint = Endpoint()
    source = Peer("udp", "127.0.0.1", 5555)
    endpoint.receive(data, source, Listener("udp", "127.0.0.1", 5060), 0.0)
    ((out, destination),) = endpoint.datagrams_to_send()
    assert destination == source
    assert out.startswith(f"SIP/2.0 {status} ".encode())
