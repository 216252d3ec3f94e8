"""ICT (§17.1.1 + RFC 6026) and NICT (§17.1.2), timer by timer with a fake clock."""

from __future__ import annotations

import pytest

from switch.sip.address import Peer
from switch.sip.events import ResponseReceived, TransactionTimedOut, TransportFailed
from switch.sip.message import Request
from switch.sip.transaction import State

from .txn_helpers import Harness, outgoing, response_bytes

REMOTE_UDP = Peer("udp", "192.0.2.20", 5080)
REMOTE_TCP = Peer("tcp", "192.0.2.20", 5080, conn_id=4)
T1 = 0.5


def _relative(h: Harness, start: float) -> list[float]:
    return [round(t - start, 6) for t in h.sent_at]


# -- INVITE client transaction -----------------------------------------------------------------


def test_ict_timer_a_doubles_until_timer_b_over_udp() -> None:
    h = Harness()
    start = h.now
    invite = outgoing("INVITE")
    key = h.send(invite, REMOTE_UDP)
    assert h.state(key) is State.CALLING
    h.advance(64 * T1 - 0.001)
    # Timer A: T1, 2*T1, 4*T1... after the first send: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5
    assert _relative(h, start) == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(isinstance(m, Request) and m.method == "INVITE" for m, _ in h.take())
    assert h.events() == []
    h.advance(0.001)  # Timer B = 64*T1
    [event] = h.events()
    assert isinstance(event, TransactionTimedOut) and event.key == key
    assert event.request is invite
    assert h.state(key) is State.TERMINATED and h.endpoint.get_timer() is None


def test_ict_reliable_transport_sends_once_then_timer_b() -> None:
    h = Harness()
    key = h.send(outgoing("INVITE", transport="TCP"), REMOTE_TCP)
    h.advance(64 * T1 - 0.001)
    assert len(h.take()) == 1
    h.advance(0.001)
    assert isinstance(h.events()[0], TransactionTimedOut)
    assert h.state(key) is State.TERMINATED


def test_ict_provisional_stops_retransmission_and_timer_b() -> None:
    h = Harness()
    invite = outgoing("INVITE")
    key = h.send(invite, REMOTE_UDP)
    h.advance(0.7)
    assert len(h.take()) == 2
    h.feed(response_bytes(invite, 180), REMOTE_UDP)
    assert h.state(key) is State.PROCEEDING
    [event] = h.events()
    assert isinstance(event, ResponseReceived) and event.response.status == 180
    h.advance(300)  # an INVITE may ring for ever: no Timer B in Proceeding
    assert h.take() == [] and h.events() == [] and h.state(key) is State.PROCEEDING
    h.feed(response_bytes(invite, 183), REMOTE_UDP)
    assert [e.response.status for e in h.events()] == [183]  # type: ignore[union-attr]


def test_ict_non_2xx_final_is_acked_and_timer_d_absorbs_retransmissions() -> None:
    h = Harness()
    invite = outgoing("INVITE")
    invite.headers.add("Route", "<sip:proxy.example.com;lr>")
    key = h.send(invite, REMOTE_UDP)
    h.take()
    h.feed(response_bytes(invite, 486, to_tag="busy1"), REMOTE_UDP)
    assert h.state(key) is State.COMPLETED
    [(ack, peer)] = h.take()
    assert peer == REMOTE_UDP
    # §17.1.1.3: same R-URI, Call-ID, From, CSeq number and top Via; To with the tag; Route.
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert str(ack.uri) == str(invite.uri)
    assert ack.top_via.branch == invite.top_via.branch and len(ack.vias) == 1
    assert ack.cseq.seq == invite.cseq.seq and ack.cseq.method == "ACK"
    assert ack.to.tag == "busy1" and ack.from_.tag == invite.from_.tag
    assert ack.call_id == invite.call_id
    assert ack.headers.getall("Route") == ["<sip:proxy.example.com;lr>"]
    [event] = h.events()
    assert isinstance(event, ResponseReceived) and event.response.status == 486
    # A retransmitted 486 (our ACK was lost) is ACKed again and not passed up.
    h.advance(5)
    h.feed(response_bytes(invite, 486, to_tag="busy1"), REMOTE_UDP)
    assert [m.method for m, _ in h.take() if isinstance(m, Request)] == ["ACK"]
    assert h.events() == []
    h.advance(32 - 5 - 0.001)
    assert h.state(key) is State.COMPLETED
    h.advance(0.001)  # Timer D = 32 s over UDP
    assert h.state(key) is State.TERMINATED
    h.feed(response_bytes(invite, 486, to_tag="busy1"), REMOTE_UDP)
    assert h.take() == [] and h.events() == []  # now a stray


def test_ict_timer_d_is_zero_over_reliable_transport() -> None:
    h = Harness()
    invite = outgoing("INVITE", transport="TCP")
    key = h.send(invite, REMOTE_TCP)
    h.feed(response_bytes(invite, 603), REMOTE_TCP)
    assert h.state(key) is State.TERMINATED
    assert [m.method for m, _ in h.take() if isinstance(m, Request)] == ["INVITE", "ACK"]


def test_ict_2xx_goes_to_accepted_and_retransmissions_reach_the_tu_until_timer_m() -> None:
    h = Harness()
    invite = outgoing("INVITE")
    key = h.send(invite, REMOTE_UDP)
    h.take()
    h.feed(response_bytes(invite, 200), REMOTE_UDP)
    assert h.state(key) is State.ACCEPTED
    assert h.take() == []  # the ICT never ACKs a 2xx: that is the TU's dialog (§13.2.2.4)
    assert [e.response.status for e in h.events()] == [200]  # type: ignore[union-attr]
    h.advance(2)
    h.feed(response_bytes(invite, 200), REMOTE_UDP)  # our ACK was lost: the UAS retransmits
    assert [e.response.status for e in h.events()] == [200]  # type: ignore[union-attr]
    h.feed(response_bytes(invite, 200, to_tag="fork2"), REMOTE_UDP)  # another fork answers
    [fork] = h.events()
    assert isinstance(fork, ResponseReceived) and fork.response.to.tag == "fork2"
    h.advance(64 * T1 - 2 - 0.001)
    assert h.state(key) is State.ACCEPTED
    h.advance(0.001)  # Timer M (RFC 6026 §8.4)
    assert h.state(key) is State.TERMINATED
    assert h.events() == []


def test_ict_lost_invite_recovered_by_retransmission() -> None:
    h = Harness()
    invite = outgoing("INVITE")
    key = h.send(invite, REMOTE_UDP)
    h.take()  # this copy is lost on the way
    h.advance(T1)
    [(copy, _)] = h.take()  # Timer A resends the same bytes
    assert isinstance(copy, Request) and copy.serialize() == invite.serialize()
    h.feed(response_bytes(invite, 100), REMOTE_UDP)
    assert h.state(key) is State.PROCEEDING


def test_ict_transport_error_fails_the_transaction() -> None:
    h = Harness()
    key = h.send(outgoing("INVITE", transport="TCP"), REMOTE_TCP)
    h.endpoint.transport_error(REMOTE_TCP, h.now)
    [event] = h.events()
    assert isinstance(event, TransportFailed) and event.key == key
    assert h.state(key) is State.TERMINATED


# -- non-INVITE client transaction -------------------------------------------------------------


def test_nict_timer_e_caps_at_t2_until_timer_f() -> None:
    h = Harness()
    start = h.now
    key = h.send(outgoing("OPTIONS"), REMOTE_UDP)
    assert h.state(key) is State.TRYING
    h.advance(64 * T1 - 0.001)
    # Timer E: 0.5, 1, 2, 4, 4, 4... (capped at T2)
    assert _relative(h, start) == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert h.events() == []
    h.advance(0.001)  # Timer F = 64*T1
    [event] = h.events()
    assert isinstance(event, TransactionTimedOut) and event.key == key
    assert h.state(key) is State.TERMINATED


def test_nict_provisional_switches_timer_e_to_t2() -> None:
    h = Harness()
    start = h.now
    request = outgoing("OPTIONS")
    key = h.send(request, REMOTE_UDP)
    h.advance(0.1)
    h.feed(response_bytes(request, 100), REMOTE_UDP)
    assert h.state(key) is State.PROCEEDING
    h.advance(10)
    # E still fires at its old deadline (0.5), then every T2 (§17.1.2.2)
    assert _relative(h, start) == [0, 0.5, 4.5, 8.5]


def test_nict_final_then_timer_k_and_duplicates_absorbed() -> None:
    h = Harness()
    request = outgoing("OPTIONS")
    key = h.send(request, REMOTE_UDP)
    h.feed(response_bytes(request, 200), REMOTE_UDP)
    h.feed(response_bytes(request, 200), REMOTE_UDP)  # duplicated on the network
    assert [e.response.status for e in h.events()] == [200]  # type: ignore[union-attr]
    assert h.state(key) is State.COMPLETED
    h.take()
    h.advance(5 - 0.001)
    assert h.take() == []  # no retransmission in Completed
    assert h.state(key) is State.COMPLETED
    h.advance(0.001)  # Timer K = T4
    assert h.state(key) is State.TERMINATED


def test_nict_reliable_no_retransmission_and_k_zero() -> None:
    h = Harness()
    request = outgoing("OPTIONS", transport="TCP")
    key = h.send(request, REMOTE_TCP)
    h.advance(10)
    assert len(h.take()) == 1
    h.feed(response_bytes(request, 404), REMOTE_TCP)
    assert h.state(key) is State.TERMINATED
    assert [e.response.status for e in h.events()] == [404]  # type: ignore[union-attr]


def test_nict_lost_request_and_lost_response_recover() -> None:
    h = Harness()
    request = outgoing("REGISTER")
    key = h.send(request, REMOTE_UDP)
    h.take()  # lost
    h.advance(T1)
    assert len(h.take()) == 1  # retransmitted; the server answers, the answer is lost
    h.advance(2 * T1)
    assert len(h.take()) == 1  # retransmitted again; this answer arrives
    h.feed(response_bytes(request, 200), REMOTE_UDP)
    assert h.state(key) is State.COMPLETED
    assert len(h.events()) == 1


def test_client_response_matching_uses_branch_and_cseq_method() -> None:
    h = Harness()
    invite = outgoing("INVITE", branch="z9hG4bKsame")
    key = h.send(invite, REMOTE_UDP)
    cancel_like = outgoing("CANCEL", branch="z9hG4bKsame")
    cancel_key = h.send(cancel_like, REMOTE_UDP)
    assert key != cancel_key
    h.feed(response_bytes(cancel_like, 200), REMOTE_UDP)
    [event] = h.events()
    assert isinstance(event, ResponseReceived) and event.key == cancel_key
    assert h.state(key) is State.CALLING


def test_reusing_a_live_branch_is_a_protocol_error() -> None:
    from switch.sip.errors import ProtocolError

    h = Harness()
    h.send(outgoing("OPTIONS", branch="z9hG4bKdup"), REMOTE_UDP)
    with pytest.raises(ProtocolError, match="already used"):
        h.send(outgoing("OPTIONS", branch="z9hG4bKdup"), REMOTE_UDP)
