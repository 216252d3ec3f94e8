"""Helpers for driving the sans-I/O endpoint with a fake clock (no sockets, no sleeping)."""

from __future__ import annotations

from dataclasses import dataclass, field

from switch.sip.address import Listener, Peer
from switch.sip.endpoint import Endpoint
from switch.sip.events import Event, RequestReceived
from switch.sip.message import Request, Response, make_response, parse_message
from switch.sip.transaction import State, server_key

UDP_LOCAL = Listener("udp", "127.0.0.1", 5060)
TCP_LOCAL = Listener("tcp", "127.0.0.1", 5060)
UDP_PEER = Peer("udp", "192.0.2.10", 5070)
TCP_PEER = Peer("tcp", "192.0.2.10", 40001, conn_id=7)


def request_bytes(method: str = "OPTIONS", *, branch: str = "z9hG4bKabc1", cseq: int = 1,
                  via_host: str = "192.0.2.10", via_port: int | None = 5070,
                  transport: str = "UDP", rport: bool = False, to_tag: str | None = None,
                  call_id: str = "call-1@192.0.2.10", cseq_method: str | None = None,
                  uri: str = "sip:100@127.0.0.1", body: bytes = b"",
                  extra: str = "") -> bytes:
    port = f":{via_port}" if via_port else ""
    rport_param = ";rport" if rport else ""
    to = "<sip:100@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    head = (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {via_host}{port};branch={branch}{rport_param}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@192.0.2.10>;tag=from1\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {cseq_method or method}\r\n"
        "Contact: <sip:alice@192.0.2.10:5070>\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def response_bytes(request: Request, status: int, reason: str = "X", *,
                   to_tag: str | None = "callee1") -> bytes:
    """A response a remote UAS would send to ``request`` (which we sent)."""
    lines = [f"SIP/2.0 {status} {reason}"]
    for value in request.headers.getall("Via"):
        lines.append(f"Via: {value}")
    lines.append(f"From: {request.headers.get('From')}")
    to = request.headers.get("To") or ""
    if to_tag and status > 100 and ";tag=" not in to:
        to += f";tag={to_tag}"
    lines.append(f"To: {to}")
    lines.append(f"Call-ID: {request.call_id}")
    lines.append(f"CSeq: {request.headers.get('CSeq')}")
    if 200 <= status < 300 and request.method == "INVITE":
        lines.append("Contact: <sip:bob@192.0.2.20:5080>")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def outgoing(method: str = "OPTIONS", *, branch: str = "z9hG4bKout1",
             transport: str = "UDP") -> Request:
    """A request our TU would send, already carrying our Via."""
    data = request_bytes(method, branch=branch, via_host="127.0.0.1", via_port=5060,
                         transport=transport, call_id="out-1@127.0.0.1",
                         uri="sip:bob@192.0.2.20:5080")
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


@dataclass
class Harness:
    """An endpoint, a fake clock and the collected outputs."""

    endpoint: Endpoint = field(default_factory=Endpoint)
    now: float = 1000.0
    wire: list[tuple[bytes, Peer]] = field(default_factory=list)
    fired_at: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # when each datagram was queued

    def feed(self, data: bytes, peer: Peer = UDP_PEER, local: Listener = UDP_LOCAL) -> None:
        self.endpoint.receive(data, peer, local, self.now)
        self._collect()

    def advance(self, seconds: float) -> None:
        self.advance_to(self.now + seconds)

    def advance_to(self, when: float) -> None:
        """Fire every timer due up to ``when``, each at its own deadline, in order."""
        for _ in range(10_000):
            deadline = self.endpoint.get_timer()
            if deadline is None or deadline > when:
                break
            self.now = deadline
            self.fired_at.append(deadline)
            self.endpoint.handle_timer(deadline)
            self._collect()
        else:  # pragma: no cover - a runaway timer is a bug
            raise AssertionError("timers never settle")
        self.now = when

    def _collect(self) -> None:
        out = self.endpoint.datagrams_to_send()
        self.wire.extend(out)
        self.sent_at.extend(self.now for _ in out)

    def send(self, request: Request, peer: Peer = UDP_PEER) -> str:
        key = self.endpoint.send_request(request, peer, self.now)
        self._collect()
        return key

    def respond(self, request: Request, status: int, to_tag: str = "uas1") -> None:
        self.endpoint.respond(request, make_response(request, status, to_tag=to_tag), self.now)
        self._collect()

    def state(self, key: str) -> State:
        state = self.endpoint.state_of(key)
        return State.TERMINATED if state is None else state

    def take(self) -> list[tuple[Request | Response, Peer]]:
        self._collect()
        out = [(parse_message(data), peer) for data, peer in self.wire]
        self.wire.clear()
        return out

    def take_responses(self) -> list[Response]:
        out = []
        for message, _ in self.take():
            assert isinstance(message, Response), message
            out.append(message)
        return out

    def request(self) -> Request:
        """The request of the one RequestReceived event waiting (asserts there is one)."""
        events = self.events()
        assert len(events) == 1 and isinstance(events[0], RequestReceived), events
        return events[0].request

    def events(self) -> list[Event]:
        out = []
        while (event := self.endpoint.next_event()) is not None:
            out.append(event)
        return out


def key_of(request: Request) -> str:
    return server_key(request)
