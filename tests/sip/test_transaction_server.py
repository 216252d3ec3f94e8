"""IST (§17.2.1 + RFC 6026) and NIST (§17.2.2), timer by timer with a fake clock."""

from __future__ import annotations

import pytest

from switch.sip.errors import ProtocolError
from switch.sip.events import (
    AckReceived,
    AckTimedOut,
    CancelReceived,
    RequestReceived,
    TransactionTimedOut,
    TransportFailed,
)
from switch.sip.message import Request
from switch.sip.transaction import (
    ClientInvite,
    Input,
    ServerInvite,
    ServerNonInvite,
    State,
    Transaction,
)

from .txn_helpers import TCP_LOCAL, TCP_PEER, Harness, key_of, request_bytes

T1 = 0.5


def _invite(h: Harness, **kwargs: object) -> Request:
    h.feed(request_bytes("INVITE", **kwargs))  # type: ignore[arg-type]
    [event] = h.events()
    assert isinstance(event, RequestReceived)
    return event.request


def _statuses(h: Harness) -> list[int]:
    return [r.status for r in h.take_responses()]


# -- INVITE server transaction -----------------------------------------------------------------


def test_ist_timer_g_retransmits_final_capped_at_t2_until_timer_h() -> None:
    h = Harness()
    invite = _invite(h)
    h.respond(invite, 486)
    start = h.now
    key = key_of(invite)
    assert h.state(key) is State.COMPLETED
    h.advance(64 * T1 - 0.001)
    # Timer G: 0.5, 1, 2, 4, 4... between sends (capped at T2), all copies of the 486
    assert [round(t - start, 6) for t in h.sent_at] == [
        0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert set(_statuses(h)) == {486}
    assert h.events() == []
    h.advance(0.001)  # Timer H = 64*T1: the ACK never came
    [event] = h.events()
    assert isinstance(event, TransactionTimedOut) and event.request is invite
    assert h.state(key) is State.TERMINATED


def test_ist_ack_confirms_then_timer_i_absorbs_ack_retransmissions() -> None:
    h = Harness()
    invite = _invite(h)
    h.respond(invite, 404)
    h.advance(0.6)  # one Timer G retransmission
    assert _statuses(h) == [404, 404]
    key = key_of(invite)
    h.feed(request_bytes("ACK", to_tag="uas1"))
    assert h.state(key) is State.CONFIRMED
    assert h.events() == []  # ACK of a non-2xx is the transaction's business only
    h.advance(3)
    assert h.take() == []  # G stopped
    h.feed(request_bytes("ACK", to_tag="uas1"))
    h.feed(request_bytes("INVITE"))
    assert h.take() == [] and h.events() == []  # absorbed in Confirmed
    h.advance(5 - 3 - 0.001)
    assert h.state(key) is State.CONFIRMED
    h.advance(0.001)  # Timer I = T4
    assert h.state(key) is State.TERMINATED


def test_ist_reliable_no_timer_g_and_timer_i_zero() -> None:
    h = Harness()
    h.feed(request_bytes("INVITE", transport="TCP"), TCP_PEER, TCP_LOCAL)
    [event] = h.events()
    assert isinstance(event, RequestReceived)
    invite = event.request
    h.respond(invite, 480)
    h.advance(20)
    assert [(m.status, p) for m, p in h.take()] == [(480, TCP_PEER)]  # type: ignore[union-attr]
    h.feed(request_bytes("ACK", transport="TCP", to_tag="uas1"), TCP_PEER, TCP_LOCAL)
    assert h.state(key_of(invite)) is State.TERMINATED


def test_ist_100_trying_after_200ms_and_retransmitted_invite_gets_last_provisional() -> None:
    h = Harness()
    start = h.now
    invite = _invite(h)
    h.feed(request_bytes("INVITE"))  # retransmission before anything was sent: nothing to say
    assert h.take() == []
    h.advance_to(start + 0.199)
    assert h.take() == []
    h.advance_to(start + 0.2)  # §17.2.1: 200 ms without a TU answer
    assert _statuses(h) == [100]
    h.feed(request_bytes("INVITE"))
    assert _statuses(h) == [100]
    h.respond(invite, 180)
    h.feed(request_bytes("INVITE"))
    assert _statuses(h) == [180, 180]
    assert h.events() == []
    assert h.state(key_of(invite)) is State.PROCEEDING


def test_ist_retransmitted_invite_in_completed_gets_the_final_again() -> None:
    h = Harness()
    invite = _invite(h)
    h.respond(invite, 503)
    h.take()
    h.feed(request_bytes("INVITE"))
    assert _statuses(h) == [503]
    assert h.events() == []


def test_ist_accepted_2xx_retransmission_timer_l_and_ack_timeout() -> None:
    h = Harness()
    invite = _invite(h)
    h.respond(invite, 200)
    start = h.now
    key = key_of(invite)
    assert h.state(key) is State.ACCEPTED
    h.feed(request_bytes("INVITE"))  # RFC 6026 §7.1: absorbed in Accepted
    h.advance(64 * T1 - 0.001)
    times = [round(t - start, 6) for t in h.sent_at]
    assert times == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert set(_statuses(h)) == {200}
    assert h.events() == []
    h.advance(0.001)  # Timer L = 64*T1, and §13.3.1.4 gives up: the TU should send BYE
    [event] = h.events()
    assert isinstance(event, AckTimedOut) and event.invite is invite
    assert event.response.status == 200
    assert h.state(key) is State.TERMINATED
    h.feed(request_bytes("ACK", branch="z9hG4bKlate", to_tag="uas1"))  # too late: a stray
    assert h.events() == [] and h.take() == []


def test_ist_ack_for_2xx_surfaces_once_and_duplicates_are_absorbed() -> None:
    h = Harness()
    invite = _invite(h)
    h.respond(invite, 200)
    h.take()
    ack = request_bytes("ACK", branch="z9hG4bKack77", to_tag="uas1")
    h.feed(ack)
    h.feed(ack)
    events = h.events()
    assert len(events) == 1 and isinstance(events[0], AckReceived)
    assert events[0].request.method == "ACK"
    h.advance(10)
    assert h.take() == []
    assert h.state(key_of(invite)) is State.ACCEPTED  # until Timer L
    h.advance(32)
    assert h.state(key_of(invite)) is State.TERMINATED and h.events() == []


def test_ist_ack_with_wrong_to_tag_does_not_stop_2xx() -> None:
    h = Harness()
    invite = _invite(h)
    h.respond(invite, 200)
    h.take()
    h.feed(request_bytes("ACK", branch="z9hG4bKack78", to_tag="someone-else"))
    assert h.events() == []
    h.advance(T1)
    assert _statuses(h) == [200]


def test_ist_2xx_over_reliable_is_not_retransmitted() -> None:
    h = Harness()
    h.feed(request_bytes("INVITE", transport="TCP"), TCP_PEER, TCP_LOCAL)
    invite = h.request()
    h.respond(invite, 200)
    h.advance(31)
    assert _statuses(h) == [200]
    h.feed(request_bytes("ACK", transport="TCP", branch="z9hG4bKa2", to_tag="uas1"),
           TCP_PEER, TCP_LOCAL)
    assert isinstance(h.events()[0], AckReceived)


def test_ist_illegal_tu_calls_raise() -> None:
    h = Harness()
    invite = _invite(h)
    h.respond(invite, 486)
    with pytest.raises(ProtocolError, match="Completed"):
        h.respond(invite, 180)
    with pytest.raises(ProtocolError):
        h.respond(invite, 200)


def test_ist_another_2xx_in_accepted_is_sent() -> None:
    h = Harness()
    invite = _invite(h)
    h.respond(invite, 200)
    h.respond(invite, 200)  # RFC 6026 §7.1: TU retransmissions are passed down
    assert _statuses(h) == [200, 200]


def test_ist_transport_error() -> None:
    h = Harness()
    h.feed(request_bytes("INVITE", transport="TCP"), TCP_PEER, TCP_LOCAL)
    invite = h.request()
    h.endpoint.transport_error(TCP_PEER, h.now)
    [event] = h.events()
    assert isinstance(event, TransportFailed) and event.key == key_of(invite)


# -- RFC 2543 fallback matching (§17.2.3) ------------------------------------------------------


def test_rfc2543_branch_without_cookie_matches_retransmission_ack_and_cancel() -> None:
    h = Harness()
    invite = _invite(h, branch="old2543branch")
    assert key_of(invite).startswith("2543|")
    h.respond(invite, 180)
    h.feed(request_bytes("INVITE", branch="old2543branch"))
    assert _statuses(h) == [180, 180] and h.events() == []
    h.feed(request_bytes("CANCEL", branch="old2543branch"))
    assert [(r.status, r.cseq.method) for r in h.take_responses()] == [
        (200, "CANCEL"), (487, "INVITE")]
    assert isinstance(h.events()[0], CancelReceived)
    h.feed(request_bytes("ACK", branch="old2543branch", to_tag="uas1"))
    assert h.state(key_of(invite)) is State.CONFIRMED


def test_rfc2543_different_cseq_is_a_new_transaction() -> None:
    h = Harness()
    _invite(h, branch="nocookie")
    h.feed(request_bytes("INVITE", branch="nocookie", cseq=2))
    assert isinstance(h.events()[0], RequestReceived)


def test_same_branch_from_another_sent_by_is_another_transaction() -> None:
    h = Harness()
    _invite(h, branch="z9hG4bKshared")
    h.feed(request_bytes("INVITE", branch="z9hG4bKshared", via_host="192.0.2.99"))
    assert isinstance(h.events()[0], RequestReceived)


# -- non-INVITE server transaction -------------------------------------------------------------


def test_nist_timer_j_and_retransmissions_over_udp() -> None:
    h = Harness()
    h.feed(request_bytes("REGISTER"))
    request = h.request()
    key = key_of(request)
    assert h.state(key) is State.TRYING
    h.feed(request_bytes("REGISTER"))  # Trying: absorbed, no response yet
    assert h.take() == []
    h.respond(request, 183)
    assert h.state(key) is State.PROCEEDING
    h.feed(request_bytes("REGISTER"))
    assert _statuses(h) == [183, 183]
    h.respond(request, 200)
    assert h.state(key) is State.COMPLETED
    h.advance(20)
    assert _statuses(h) == [200]  # the NIST never retransmits on its own
    h.feed(request_bytes("REGISTER"))  # the 200 was lost: the retransmission gets it again
    assert _statuses(h) == [200]
    assert h.events() == []
    h.advance(64 * T1 - 20 - 0.001)
    assert h.state(key) is State.COMPLETED
    h.advance(0.001)  # Timer J = 64*T1 over UDP
    assert h.state(key) is State.TERMINATED
    h.feed(request_bytes("REGISTER"))  # after J a retransmission is a new request
    assert isinstance(h.events()[0], RequestReceived)


def test_nist_timer_j_zero_over_reliable() -> None:
    h = Harness()
    h.feed(request_bytes("BYE", transport="TCP", to_tag="x"), TCP_PEER, TCP_LOCAL)
    request = h.request()
    h.respond(request, 200)
    assert h.state(key_of(request)) is State.TERMINATED


# -- the tables themselves ---------------------------------------------------------------------


@pytest.mark.parametrize("machine", [ClientInvite, ServerInvite, ServerNonInvite])
def test_tables_only_reach_known_states_and_are_callable(machine: type[Transaction]) -> None:
    for (state, event), (next_state, action) in machine.TABLE.items():
        assert isinstance(state, State) and isinstance(next_state, State)
        assert isinstance(event, Input) and callable(action)
        assert state is not State.TERMINATED  # nothing leaves Terminated


def test_ist_table_follows_rfc6026_figure() -> None:
    table = ServerInvite.TABLE
    assert table[(State.PROCEEDING, Input.TU_2XX)][0] is State.ACCEPTED
    assert table[(State.PROCEEDING, Input.TU_FINAL)][0] is State.COMPLETED
    assert table[(State.COMPLETED, Input.ACK)][0] is State.CONFIRMED
    assert table[(State.ACCEPTED, Input.TIMER_L)][0] is State.TERMINATED
    assert (State.CONFIRMED, Input.TU_FINAL) not in table
