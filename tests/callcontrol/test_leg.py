"""An inbound leg over the real endpoint, fake clock: answer, ACK, BYE, CANCEL, re-INVITE,
glare, INFO digits, session timers, reliable provisionals."""

from __future__ import annotations

from switch.callcontrol import vocabulary as v
from switch.callcontrol.leg import LegState
from switch.sip import events as sip

from .harness import ANSWER, OFFER, Harness, ack_bytes, in_dialog, invite_bytes


def answered(h: Harness, extra: str = "") -> object:
    leg = h.invite(extra=extra)
    leg.answer(ANSWER, h.now)
    h.pump()
    return leg


def test_answer_then_ack_confirms_and_carries_our_sdp() -> None:
    h = Harness()
    leg = h.invite()
    assert h.events[0:0] == [] and leg.state is LegState.INVITED
    leg.answer(ANSWER, h.now)
    h.pump()
    [ok] = [r for r in h.responses("INVITE") if r.status == 200]
    assert ok.to.tag == leg.local_tag and ok.body.decode() == ANSWER
    assert ok.headers.get("Contact") == "<sip:switchboard@127.0.0.1:5060>"
    assert "timer" in (ok.headers.get("Supported") or "")
    h.receive(ack_bytes(leg))
    assert leg.state is LegState.CONFIRMED
    assert [type(e) for e in h.events] == [v.LegAnswered, v.LegConfirmed]


def test_2xx_is_retransmitted_until_ack_then_bye_when_none_comes() -> None:
    h = Harness()
    leg = h.invite()
    leg.answer(ANSWER, h.now)
    h.pump()
    h.advance(40)  # Timer L = 64*T1 = 32 s
    oks = [r for r in h.responses("INVITE") if r.status == 200]
    assert len(oks) > 3  # retransmitted (T1, 2T1, ... capped at T2)
    bye = h.requests("BYE")[0]
    assert "RFC 3261" in (bye.headers.get("Reason") or "")
    assert isinstance(h.events[-1], v.LegEnded) and h.events[-1].reason == v.NO_ACK
    assert leg.state is LegState.ENDING


def test_cancel_before_answer_ends_the_leg_with_487() -> None:
    h = Harness()
    leg = h.invite()
    h.receive(invite_bytes(method="CANCEL", body=""))
    assert [r.status for r in h.responses("CANCEL")] == [200]
    assert 487 in [r.status for r in h.responses("INVITE")]
    assert leg.state is LegState.ENDED
    assert h.events == [v.LegEnded(leg.leg_id, v.CANCELLED, 487)]
    leg.answer(ANSWER, h.now)  # the media answer arrives late: the CANCEL won
    h.pump()
    assert 200 not in [r.status for r in h.responses("INVITE")]
    assert leg.leg_id not in h.ua.legs


def test_cancel_crossing_our_2xx_changes_nothing() -> None:
    h = Harness()
    leg = answered(h)
    h.receive(invite_bytes(method="CANCEL", body=""))
    assert [r.status for r in h.responses("CANCEL")] == [200]
    assert 487 not in [r.status for r in h.responses("INVITE")]
    h.receive(ack_bytes(leg))
    assert leg.state is LegState.CONFIRMED


def test_bye_from_the_caller() -> None:
    h = Harness()
    leg = answered(h)
    h.receive(ack_bytes(leg))
    h.receive(in_dialog(leg, "BYE", 2, branch="z9hG4bK-bye"))
    assert [r.status for r in h.responses("BYE")] == [200]
    assert h.events[-1] == v.LegEnded(leg.leg_id, v.BY_REMOTE, None)
    assert leg.leg_id not in h.ua.legs
    # A BYE for the finished dialog is not claimed: the policy answers 481.
    h.receive(in_dialog(leg, "BYE", 3, branch="z9hG4bK-bye2"))
    assert isinstance(h.unclaimed[-1], sip.RequestReceived)


def test_our_hangup_sends_bye_to_the_caller() -> None:
    h = Harness()
    leg = answered(h)
    h.receive(ack_bytes(leg))
    leg.hangup(h.now)
    h.pump()
    bye = h.requests("BYE")[0]
    assert bye.to.tag == "from1" and bye.from_.tag == leg.local_tag
    assert str(bye.uri) == "sip:alice@192.0.2.10:5070"
    assert bye.cseq.seq >= 1
    assert h.events[-1].reason == v.BY_LOCAL  # type: ignore[union-attr]


def test_reinvite_offer_is_answered_by_the_call_and_glare_gets_491_or_500() -> None:
    h = Harness()
    leg = answered(h)
    h.receive(ack_bytes(leg))
    hold = OFFER.replace("a=sendrecv", "a=sendonly")
    h.receive(in_dialog(leg, "INVITE", 2, branch="z9hG4bK-re1", body=hold))
    update = h.events[-1]
    assert isinstance(update, v.LegUpdateOffered) and update.held
    # A second offer while the first is open: 500 with Retry-After (§14.2).
    h.receive(in_dialog(leg, "INVITE", 3, branch="z9hG4bK-re2", body=OFFER))
    refused = [r for r in h.responses("INVITE") if r.status == 500]
    assert refused and refused[0].headers.get("Retry-After")
    leg.answer_update(ANSWER.replace("a=sendrecv", "a=recvonly"), h.now)
    h.pump()
    assert any(r.status == 200 and r.cseq.seq == 2 for r in h.responses("INVITE"))


def test_lower_cseq_in_dialog_is_500() -> None:
    h = Harness()
    leg = answered(h)
    h.receive(ack_bytes(leg))
    h.receive(in_dialog(leg, "OPTIONS", 5, branch="z9hG4bK-o1"))
    h.receive(in_dialog(leg, "OPTIONS", 4, branch="z9hG4bK-o2"))
    assert [r.status for r in h.responses("OPTIONS")] == [200, 500]


def test_info_dtmf_relay_digits() -> None:
    h = Harness()
    leg = answered(h)
    h.receive(ack_bytes(leg))
    h.receive(in_dialog(leg, "INFO", 2, branch="z9hG4bK-i1", body="Signal=5\r\nDuration=160\r\n",
                        content_type="application/dtmf-relay"))
    h.receive(in_dialog(leg, "INFO", 3, branch="z9hG4bK-i2", body="#",
                        content_type="application/dtmf"))
    h.receive(in_dialog(leg, "INFO", 4, branch="z9hG4bK-i3", body="<xml/>",
                        content_type="application/xml"))
    assert [r.status for r in h.responses("INFO")] == [200, 200, 415]
    digits = [e for e in h.events if isinstance(e, v.DigitReceived)]
    assert [(d.digit, d.duration_ms) for d in digits] == [("5", 160), ("#", 100)]


def test_session_expires_without_refresh_ends_with_bye() -> None:
    h = Harness()
    leg = answered(h, extra="Supported: timer\r\nSession-Expires: 90;refresher=uac\r\n")
    [ok] = [r for r in h.responses("INVITE") if r.status == 200]
    assert ok.headers.get("Session-Expires") == "90;refresher=uac"
    assert ok.headers.get("Require") == "timer"
    h.receive(ack_bytes(leg))
    h.advance(50)
    h.receive(in_dialog(leg, "UPDATE", 2, branch="z9hG4bK-u1"))  # a refresh at 50 s
    assert [r.status for r in h.responses("UPDATE")] == [200]
    h.advance(55)
    assert h.requests("BYE") == []  # refreshed: 90 - 30 = 60 s from the refresh
    h.advance(10)
    assert h.requests("BYE")
    assert h.events[-1].reason == v.SESSION_EXPIRED  # type: ignore[union-attr]


def test_we_refresh_when_the_caller_cannot() -> None:
    h = Harness()
    leg = answered(h, extra="Allow: INVITE, ACK, BYE, UPDATE\r\nSession-Expires: 120\r\n")
    [ok] = [r for r in h.responses("INVITE") if r.status == 200]
    assert ok.headers.get("Session-Expires") == "120;refresher=uas"
    assert ok.headers.get("Require") is None
    h.receive(ack_bytes(leg))
    h.advance(61)
    update = h.requests("UPDATE")[0]
    assert update.headers.get("Session-Expires") == "120;refresher=uas"


def test_too_small_session_interval_is_422() -> None:
    h = Harness()
    h.receive(invite_bytes(extra="Session-Expires: 30\r\n"))
    event = h.unclaimed.pop()
    assert isinstance(event, sip.RequestReceived)
    assert h.ua.accept_invite(event.request, event.peer, event.local, h.now) is None
    h.pump()
    [refused] = h.responses("INVITE")[-1:]
    assert refused.status == 422 and refused.headers.get("Min-SE") == "90"


def test_reliable_ringing_waits_for_prack() -> None:
    h = Harness()
    leg = h.invite(extra="Require: 100rel\r\n")
    leg.ring(h.now)
    h.pump()
    [ringing] = [r for r in h.responses("INVITE") if r.status == 180]
    rseq = ringing.headers.get("RSeq")
    assert rseq and ringing.headers.get("Require") == "100rel"
    h.advance(1.6)  # resent at T1 and 2*T1
    assert len([r for r in h.responses("INVITE") if r.status == 180]) == 3
    h.receive(in_dialog(leg, "PRACK", 2, branch="z9hG4bK-p1",
                        extra=f"RAck: {rseq} 1 INVITE\r\n"))
    assert [r.status for r in h.responses("PRACK")] == [200]
    h.advance(10)
    assert len([r for r in h.responses("INVITE") if r.status == 180]) == 3
    h.receive(in_dialog(leg, "PRACK", 3, branch="z9hG4bK-p2",
                        extra=f"RAck: {rseq} 1 INVITE\r\n"))
    assert [r.status for r in h.responses("PRACK")] == [200, 481]


def test_reliable_provisional_without_prack_refuses_the_invite() -> None:
    h = Harness()
    leg = h.invite(extra="Require: 100rel\r\n")
    leg.ring(h.now)
    h.pump()
    h.advance(40)
    assert 504 in [r.status for r in h.responses("INVITE")]
    assert leg.state is LegState.ENDED


def test_glare_their_reinvite_while_ours_is_open_is_491() -> None:
    h = Harness()
    leg = answered(h, extra="Allow: INVITE, ACK, BYE\r\nSession-Expires: 120\r\n")
    h.receive(ack_bytes(leg))
    h.advance(61)  # we refresh with a re-INVITE (the caller did not allow UPDATE)
    [refresh] = h.requests("INVITE")[:1]
    assert refresh.to.tag == "from1" and refresh.body.decode() == ANSWER
    h.receive(in_dialog(leg, "INVITE", 2, branch="z9hG4bK-glare", body=OFFER))
    assert [r.status for r in h.responses("INVITE") if r.cseq.seq == 2] == [491]


def test_our_refresh_reinvite_2xx_is_acked_every_time() -> None:
    h = Harness()
    leg = answered(h, extra="Allow: INVITE, ACK, BYE\r\nSession-Expires: 120\r\n")
    h.receive(ack_bytes(leg))
    h.advance(61)
    refresh = h.requests("INVITE")[0]
    via = refresh.headers.get("Via")
    ok = (f"SIP/2.0 200 OK\r\nVia: {via}\r\n"
          f"From: {refresh.headers.get('From')}\r\nTo: {refresh.headers.get('To')}\r\n"
          f"Call-ID: {refresh.call_id}\r\nCSeq: {refresh.cseq.seq} INVITE\r\n"
          "Contact: <sip:alice@192.0.2.10:5070>\r\nContent-Length: 0\r\n\r\n").encode()
    h.receive(ok)
    h.receive(ok)  # a retransmitted 2xx is ACKed again (RFC 3261 §13.2.2.4)
    acks = [a for a in h.requests("ACK") if a.cseq.seq == refresh.cseq.seq]
    assert len(acks) == 2
    assert leg.state.value == "confirmed" and not h.requests("BYE")


def test_a_wildcard_listener_advertises_the_address_the_caller_used() -> None:
    from switch.sip.address import Listener

    h = Harness()
    h.receive(invite_bytes())
    event = h.unclaimed.pop()
    leg = h.ua.accept_invite(event.request, event.peer,  # type: ignore[union-attr]
                             Listener("udp", "0.0.0.0", 5060), h.now)
    assert leg is not None
    assert leg.settings.contact == "sip:switchboard@127.0.0.1:5060"
    assert leg.settings.via == "SIP/2.0/UDP 127.0.0.1:5060"
