"""An outbound leg over the real endpoint, fake clock: ringing, answer and ACK (every 2xx),
CANCEL only after a provisional (§9.1), the 2xx that crosses our CANCEL, busy, Timer B, the
callee's BYE."""

from __future__ import annotations

from switch.callcontrol import vocabulary as v
from switch.callcontrol.outbound import OutboundLeg, OutState
from switch.sip.address import Peer
from switch.sip.message import Request, parse_message

from .harness import LOCAL, OFFER, Harness

AGENT = Peer("udp", "192.0.2.10", 5070)
VIA = "SIP/2.0/UDP 127.0.0.1:5060"


def agent_invite() -> Request:
    text = ("INVITE sip:1001@192.0.2.10:5070 SIP/2.0\r\n"
            f"Via: {VIA}\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:200@switchboard.local>;tag=ours1\r\n"
            "To: <sip:1001@switchboard.local>\r\n"
            "Call-ID: out-1\r\nCSeq: 1 INVITE\r\n"
            "Contact: <sip:switchboard@127.0.0.1:5060>\r\n"
            "Content-Type: application/sdp\r\n"
            f"Content-Length: {len(OFFER)}\r\n\r\n{OFFER}")
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def place(h: Harness) -> OutboundLeg:
    leg = h.ua.place(agent_invite(), AGENT, via=VIA)
    h.pump()
    return leg


def respond(h: Harness, status: int, *, tag: str | None = "agent9", body: str = "",
            method: str = "INVITE", cseq: int = 1) -> None:
    [invite] = [m for m in h.sent if isinstance(m, Request) and m.method == method][:1]
    to = "<sip:1001@switchboard.local>" + (f";tag={tag}" if tag else "")
    text = (f"SIP/2.0 {status} X\r\nVia: {invite.headers.get('Via')}\r\n"
            f"From: {invite.headers.get('From')}\r\nTo: {to}\r\n"
            f"Call-ID: {invite.call_id}\r\nCSeq: {cseq} {method}\r\n"
            "Contact: <sip:1001@192.0.2.10:5070>\r\n"
            + ("Content-Type: application/sdp\r\n" if body else "")
            + f"Content-Length: {len(body)}\r\n\r\n{body}")
    h.endpoint.receive(text.encode(), AGENT, LOCAL, h.now)
    h.pump()


def test_ringing_then_answer_is_acked_every_time() -> None:
    h = Harness()
    leg = place(h)
    assert h.requests("INVITE")
    respond(h, 100, tag=None)
    respond(h, 180)
    assert h.events == [v.LegRinging(leg.leg_id, 180)]
    respond(h, 200, body=OFFER)
    respond(h, 200, body=OFFER)  # a retransmission: ACKed again (§13.2.2.4)
    assert leg.state is OutState.CONFIRMED and leg.remote_sdp == OFFER
    assert h.events[-1] == v.LegAnswered(leg.leg_id)
    acks = h.requests("ACK")
    assert len(acks) == 2 and acks[0].to.tag == "agent9"


def test_cancel_waits_for_a_provisional() -> None:
    h = Harness()
    leg = place(h)
    leg.cancel()
    h.pump()
    assert h.requests("CANCEL") == []  # §9.1: not before a provisional
    respond(h, 180)
    assert len(h.requests("CANCEL")) == 1
    respond(h, 487)
    assert leg.ended and h.events[-1] == v.LegEnded(leg.leg_id, v.CANCELLED, 487)


def test_a_2xx_that_crosses_our_cancel_is_acked_then_ended_with_bye() -> None:
    h = Harness()
    leg = place(h)
    respond(h, 180)
    leg.cancel()
    h.pump()
    respond(h, 200, body=OFFER)
    assert h.requests("ACK") and h.requests("BYE")
    assert h.events[-1] == v.LegEnded(leg.leg_id, v.CANCELLED, None)


def test_busy_and_no_answer() -> None:
    h = Harness()
    busy = place(h)
    respond(h, 486)
    assert busy.ended and h.events[-1] == v.LegEnded(busy.leg_id, v.REJECTED, 486)
    h2 = Harness()
    silent = place(h2)
    h2.advance(40)  # Timer B = 64*T1
    assert silent.ended and h2.events[-1] == v.LegEnded(silent.leg_id, v.TRANSPORT, 408)


def test_the_callee_hangs_up() -> None:
    h = Harness()
    leg = place(h)
    respond(h, 200, body=OFFER)
    bye = ("BYE sip:switchboard@127.0.0.1:5060 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-agentbye\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:1001@switchboard.local>;tag=agent9\r\n"
           "To: <sip:200@switchboard.local>;tag=ours1\r\nCall-ID: out-1\r\n"
           "CSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n")
    h.receive(bye.encode())
    assert [r.status for r in h.responses("BYE")] == [200]
    assert h.events[-1] == v.LegEnded(leg.leg_id, v.BY_REMOTE, None)
    assert leg.leg_id not in h.ua.outbound


def test_giving_up_on_a_silent_phone_still_cancels_a_late_ringing() -> None:
    h = Harness()
    leg = place(h)
    leg.give_up()
    h.pump()
    assert h.events == [v.LegEnded(leg.leg_id, v.TRANSPORT, None)]
    respond(h, 180)
    assert h.requests("CANCEL"), "a late provisional gets the CANCEL we owed (§9.1)"
    respond(h, 487)
    assert leg.ended
    assert [e for e in h.events if isinstance(e, v.LegEnded)] == h.events[-1:]


def test_giving_up_then_a_late_answer_is_acked_and_ended() -> None:
    h = Harness()
    leg = place(h)
    leg.give_up()
    h.pump()
    respond(h, 200, body=OFFER)
    assert h.requests("ACK") and h.requests("BYE")
    assert not [e for e in h.events if isinstance(e, v.LegAnswered)]
