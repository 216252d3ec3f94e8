"""Drive the user-agent layer over a real sans-I/O endpoint with a fake clock: a caller's
messages go in as bytes, what the node sends comes out as parsed messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from switch.callcontrol import vocabulary as v
from switch.callcontrol.leg import InboundLeg
from switch.callcontrol.useragent import UserAgent
from switch.sip import events as sip
from switch.sip.address import Listener, Peer
from switch.sip.endpoint import Endpoint
from switch.sip.message import Request, Response, parse_message

LOCAL = Listener("udp", "127.0.0.1", 5060)
CALLER = Peer("udp", "192.0.2.10", 5070)
OFFER = ("v=0\r\no=alice 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
         "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
         "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
ANSWER = OFFER.replace("alice", "switchboard").replace("192.0.2.10", "127.0.0.1")


class EndpointPort:
    """The driver's two TU commands over an endpoint, on the harness's clock."""

    def __init__(self, harness: Harness) -> None:
        self.h = harness

    def respond(self, request: Request, response: Response) -> None:
        self.h.endpoint.respond(request, response, self.h.now)

    def send_request(self, request: Request, peer: Peer) -> str:
        return self.h.endpoint.send_request(request, peer, self.h.now)


@dataclass
class Harness:
    now: float = 1000.0
    endpoint: Endpoint = field(default_factory=Endpoint)
    events: list[v.LegEvent] = field(default_factory=list)
    unclaimed: list[sip.Event] = field(default_factory=list)
    sent: list[Request | Response] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ua = UserAgent(EndpointPort(self), server="switchboard/test",
                            on_event=self.events.append)

    # -- the caller's side ---------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        self.endpoint.receive(data, CALLER, LOCAL, self.now)
        self.pump()

    def pump(self) -> None:
        self.ua.flush_events()  # events of commands given outside handle()
        while (event := self.endpoint.next_event()) is not None:
            if not self.ua.handle(event, self.now):
                self.unclaimed.append(event)
        for data, _peer in self.endpoint.datagrams_to_send():
            message = parse_message(data)
            self.sent.append(message)

    def advance(self, seconds: float) -> None:
        """Move the clock, firing every endpoint and leg deadline on the way."""
        end = self.now + seconds
        while True:
            deadlines = [d for d in (self.endpoint.get_timer(), self.ua.next_deadline())
                         if d is not None and d <= end]
            if not deadlines:
                break
            self.now = max(self.now, min(deadlines))
            self.endpoint.handle_timer(self.now)
            self.pump()
            self.ua.on_timer(self.now)
            self.pump()
        self.now = end

    def invite(self, extra: str = "", body: str = OFFER, call_id: str = "c1") -> InboundLeg:
        self.receive(invite_bytes(extra=extra, body=body, call_id=call_id))
        event = self.unclaimed.pop()
        assert isinstance(event, sip.RequestReceived) and event.request.method == "INVITE"
        leg = self.ua.accept_invite(event.request, event.peer, event.local, self.now)
        self.pump()
        assert leg is not None
        return leg

    def responses(self, method: str | None = None) -> list[Response]:
        return [m for m in self.sent if isinstance(m, Response)
                and (method is None or m.cseq.method == method)]

    def requests(self, method: str) -> list[Request]:
        return [m for m in self.sent if isinstance(m, Request) and m.method == method]


def invite_bytes(*, extra: str = "", body: str = OFFER, call_id: str = "c1",
                 branch: str = "z9hG4bK-inv1", cseq: int = 1, to_tag: str | None = None,
                 method: str = "INVITE", content_type: str = "application/sdp") -> bytes:
    to = "<sip:100@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    raw = body.encode()
    head = (f"{method} sip:100@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 192.0.2.10:5070;branch={branch}\r\n"
            "Max-Forwards: 70\r\n"
            "From: \"Alice\" <sip:alice@192.0.2.10>;tag=from1\r\n"
            f"To: {to}\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            "Contact: <sip:alice@192.0.2.10:5070>\r\n"
            + (f"Content-Type: {content_type}\r\n" if raw else "")
            + extra
            + f"Content-Length: {len(raw)}\r\n\r\n")
    return head.encode() + raw


def in_dialog(leg: InboundLeg, method: str, cseq: int, *, branch: str, body: str = "",
              extra: str = "", content_type: str = "application/sdp") -> bytes:
    return invite_bytes(method=method, cseq=cseq, branch=branch, body=body, extra=extra,
                        to_tag=leg.local_tag, call_id=leg.invite.call_id,
                        content_type=content_type)


def ack_bytes(leg: InboundLeg, *, cseq: int = 1, branch: str = "z9hG4bK-ack1") -> bytes:
    return in_dialog(leg, "ACK", cseq, branch=branch)
