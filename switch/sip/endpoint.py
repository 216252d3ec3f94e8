"""The sans-I/O SIP endpoint: transactions, response routing and hostile-input handling.

Theory of operation (the aioquic model). The edge (``switch/transport/driver.py``) calls
:meth:`Endpoint.receive` with each complete message and the loop's ``now``, and
:meth:`Endpoint.handle_timer` when the deadline from :meth:`Endpoint.get_timer` passes. The
endpoint never does I/O: bytes to send are pulled with :meth:`datagrams_to_send`, events for the
transaction user (TU) with :meth:`next_event`. The TU answers with :meth:`respond` and starts
client transactions with :meth:`send_request`; both take ``now`` as well.

Every received request is (1) parsed, (2) stamped with ``received``/``rport`` on its top Via
(RFC 3261 §18.2.1, RFC 3581 §4), (3) validated, then (4) matched to a server transaction
(§17.2.3): a retransmission goes to its transaction, an ACK to its INVITE transaction (or, for
a 2xx, to the INVITE transaction still waiting for it), a CANCEL to the INVITE it targets (§9.2),
anything else creates a transaction and surfaces as :class:`RequestReceived`. Responses match a
client transaction by branch and CSeq method (§17.1.3); strays are dropped.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import re
from collections import deque

from .address import DEFAULT_PORTS, Listener, Peer
from .errors import ParseError, ProtocolError
from .events import CancelReceived, Event, MalformedReceived, RequestReceived
from .headers import Headers, Via, canonical_name, parse_name_addr, parse_via
from .message import COPIED_HEADERS, REASONS, Request, Response, make_response, parse_message
from .timers import TimerValues
from .transaction import (
    ClientInvite,
    ClientNonInvite,
    ClientTransaction,
    Input,
    ServerInvite,
    ServerNonInvite,
    ServerTransaction,
    State,
    Transaction,
    client_key,
    new_branch,
    new_tag,
    response_client_key,
    server_key,
)

log = logging.getLogger(__name__)

# The headers a response copies from its request (§8.2.6.2); all a 400 for junk can carry.
_ANSWER_HEADERS = frozenset(COPIED_HEADERS)
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")
# Transports where messages are cut from a byte stream by Content-Length (RFC 3261 §18.3).
_BYTE_STREAMS = frozenset({"tcp", "tls"})


def stamp_via(via: Via, peer: Peer) -> Via:
    """§18.2.1: add ``received`` when the source differs from sent-by; RFC 3581 §4: fill an
    empty ``rport`` with the source port, and then always add ``received``."""
    updates: dict[str, str | None] = {}
    if via.host.strip("[]").lower() != peer.host.lower():
        updates["received"] = peer.host
    if via.rport is not None:
        updates["rport"] = str(peer.port)
        updates["received"] = peer.host
    return via.with_params(**updates) if updates else via


def response_destination(via: Via, peer: Peer) -> Peer:
    """Where responses to a request go (§18.2.2, RFC 3581 §4).

    Streams: back over the connection the request came in on. Datagrams: to the source address
    (which ``received`` records), at the source port when the client asked for ``rport``, else
    at the sent-by port (default 5060).
    """
    if peer.is_stream:
        return peer
    if via.rport is not None:
        return Peer(peer.transport, peer.host, peer.port)
    return Peer(peer.transport, peer.host, via.port or DEFAULT_PORTS.get(peer.transport, 5060))


class Endpoint:
    """All SIP transactions of one node; pure (time is an argument)."""

    def __init__(self, *, user_agent: str = "switchboard", t1: float = 0.5, t2: float = 4.0,
                 t4: float = 5.0) -> None:
        self.user_agent = user_agent
        self.timers = TimerValues(t1, t2, t4)
        # While draining (shutdown), new dialogs are refused with 503; transactions finish.
        self.draining = False
        self._client: dict[str, ClientTransaction] = {}
        self._server: dict[str, ServerTransaction] = {}
        # ACK for a 2xx carries a new branch (§17.1.1.3 does not apply to it): it is found by
        # dialog identity and CSeq number instead (§13.3.1.4).
        self._awaiting_ack: dict[tuple[str, str, str, int], ServerInvite] = {}
        self._heap: list[tuple[float, int, Transaction, Input]] = []
        self._order = itertools.count()
        # Completed non-INVITE server transactions over UDP (§17.2.2): until Timer J their
        # only job is to answer a retransmitted request with the last response. They are kept
        # as key -> (response bytes, destination), not as transaction objects holding parsed
        # messages: at thousands of requests a second, 64*T1 of full objects is hundreds of
        # thousands of live objects and long garbage-collector pauses. Timer J has one
        # duration, so deadlines arrive in order and a FIFO replaces the heap.
        # Entries hold only atomic values (bytes, str, int, float), so the collector untracks
        # the tuples and never walks them again.
        self._absorbing: dict[str, tuple[bytes, str, str, int]] = {}
        self._absorb_until: deque[tuple[float, str]] = deque()
        self._outbox: list[tuple[bytes, Peer]] = []
        self._events: deque[Event] = deque()

    # ---------------------------------------------------------------------------------------
    # Pull-based outputs

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """Absolute deadline of the earliest armed timer, or None."""
        heap = self._heap
        earliest = self._absorb_until[0][0] if self._absorb_until else None
        while heap:
            deadline, _, tx, timer = heap[0]
            if tx.deadlines.get(timer) == deadline:
                return deadline if earliest is None or deadline < earliest else earliest
            heapq.heappop(heap)  # stopped, re-armed or terminated since it was pushed
        return earliest

    def handle_timer(self, now: float) -> None:
        fifo, absorbing = self._absorb_until, self._absorbing
        while fifo and fifo[0][0] <= now:  # Timer J of completed UDP NISTs
            absorbing.pop(fifo.popleft()[1], None)
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, tx, timer = heapq.heappop(heap)
            tx.fire(timer, deadline, now)

    # ---------------------------------------------------------------------------------------
    # The Core protocol the transactions call back into

    def send(self, data: bytes, peer: Peer) -> None:
        """Queue raw bytes (transactions use it; so may the TU, e.g. for an ACK to a 2xx)."""
        self._outbox.append((data, peer))

    def emit(self, event: Event) -> None:
        self._events.append(event)

    def schedule(self, tx: Transaction, timer: Input, deadline: float) -> None:
        if timer is Input.TIMER_J and isinstance(tx, ServerNonInvite) \
                and tx.last_wire is not None and tx.peer.conn_id is None \
                and self._server.get(tx.key) is tx:
            # The NIST entered Completed (§17.2.2): keep only what absorbing needs.
            del self._server[tx.key]
            peer = tx.peer
            self._absorbing[tx.key] = (tx.last_wire, peer.transport, peer.host, peer.port)
            self._absorb_until.append((deadline, tx.key))
            return
        heapq.heappush(self._heap, (deadline, next(self._order), tx, timer))

    def terminated(self, tx: Transaction) -> None:
        if isinstance(tx, ClientTransaction):
            if self._client.get(tx.key) is tx:
                del self._client[tx.key]
        elif isinstance(tx, ServerTransaction) and self._server.get(tx.key) is tx:
            del self._server[tx.key]
            if isinstance(tx, ServerInvite) and tx.ack_key is not None:
                self._awaiting_ack.pop(tx.ack_key, None)

    # ---------------------------------------------------------------------------------------
    # Introspection

    def transaction(self, key: str) -> Transaction | None:
        """The live transaction object (a completed UDP NIST has none: see ``state_of``)."""
        return self._client.get(key) or self._server.get(key)

    def state_of(self, key: str) -> State | None:
        """The §17 state of transaction ``key``, or None once it has terminated."""
        tx = self.transaction(key)
        if tx is not None:
            return tx.state
        return State.COMPLETED if key in self._absorbing else None

    def snapshot(self) -> list[dict[str, object]]:
        """Every transaction not yet terminated, for operators (``switchboard ctl
        transactions``): key, side, method, §17 state, peer, Call-ID, next timer deadline.
        Completed UDP non-INVITE server transactions are only response bytes by now, so they
        show their key, method (the key's last part) and destination."""
        rows: list[dict[str, object]] = []
        for side, table in (("client", self._client), ("server", self._server)):
            for key, tx in list(table.items()):
                rows.append({
                    "key": key, "side": side, "method": tx.request.method,
                    "state": tx.state.value, "peer": str(tx.peer),
                    "call_id": tx.request.headers.get("Call-ID"),
                    "next_deadline": min(tx.deadlines.values(), default=None)})
        deadlines = dict((key, when) for when, key in self._absorb_until)
        for key, (_, transport, host, port) in list(self._absorbing.items()):
            rows.append({
                "key": key, "side": "server", "method": _key_method(key),
                "state": State.COMPLETED.value, "peer": str(Peer(transport, host, port)),
                "call_id": None, "next_deadline": deadlines.get(key)})
        return rows

    @property
    def pending(self) -> int:
        """Transactions not yet terminated (the driver waits for 0 on a graceful close)."""
        return len(self._client) + len(self._server) + len(self._absorbing)

    @property
    def unfinished(self) -> int:
        """Transactions still owing a final response or an ACK (a graceful close waits for 0)."""
        txs: list[Transaction] = [*self._client.values(), *self._server.values()]
        return sum(1 for tx in txs if tx.unfinished)

    # ---------------------------------------------------------------------------------------
    # Commands from the TU

    def send_request(self, request: Request, peer: Peer, now: float) -> str:
        """Start a client transaction (ICT for INVITE, NICT otherwise) and return its key.

        The TU supplies the top Via (its sent-by); a missing branch is generated. ACK is not a
        transaction (§17.1.1.3 / §13.2.2.4): it is sent once and its key is returned.
        """
        vias = request.headers.getall("Via")
        if not vias:
            raise ProtocolError(f"{request.method} needs a Via with our sent-by before sending")
        top = parse_via(vias[0])
        branch = top.branch
        if not branch:
            branch = new_branch()
            request.headers.remove_first("Via")
            request.headers.prepend("Via", str(top.with_params(branch=branch)))
            vars(request).pop("vias", None)  # drop the cached view of the old Via
        key = client_key(branch, request.method)
        if request.method == "ACK":
            self.send(request.serialize(), peer)
            return key
        if key in self._client:
            raise ProtocolError(f"branch {branch} is already used by a {request.method}"
                                " client transaction")
        tx: ClientTransaction
        if request.method == "INVITE":
            tx = ClientInvite(self, key, request, peer, self.timers)
        else:
            tx = ClientNonInvite(self, key, request, peer, self.timers)
        self._client[key] = tx
        tx.start(now)
        return key

    def respond(self, request: Request, response: Response, now: float) -> None:
        """Send ``response`` through the server transaction of ``request``.

        A non-100 response without a To tag gets the transaction's tag (§8.2.6.2). A 2xx to
        INVITE is retransmitted by the core until the ACK arrives (§13.3.1.4, RFC 6026).
        """
        key = server_key(request)
        tx = self._server.get(key)
        if tx is None:
            if key in self._absorbing:
                raise ProtocolError(f"ServerNonInvite cannot send a response in state"
                                    f" Completed (transaction {key})")
            raise ProtocolError(f"no server transaction for {request.method}"
                                f" {request.call_id}: it terminated or was never received")
        if response.status > 100:
            self._ensure_to_tag(tx, response)
        tx.respond(response, now)
        if isinstance(tx, ServerInvite) and tx.state is State.ACCEPTED:
            tx.ack_key = (request.call_id, request.from_.tag or "", tx.to_tag or "",
                          request.cseq.seq)
            self._awaiting_ack[tx.ack_key] = tx

    def send_stateless(self, response: Response, peer: Peer) -> None:
        """Send a response outside any transaction (e.g. 400 for junk, 503 under load)."""
        self.send(response.serialize(), peer)

    def transport_error(self, peer: Peer, now: float) -> None:
        """The transport lost ``peer`` (a closed connection): fail its transactions (§17.1.4)."""
        def same(other: Peer) -> bool:
            if peer.conn_id is not None and other.conn_id is not None:
                return peer.conn_id == other.conn_id and peer.transport == other.transport
            return (peer.transport, peer.host, peer.port) == (other.transport, other.host,
                                                              other.port)
        txs: list[Transaction] = [*self._client.values(), *self._server.values()]
        for tx in txs:
            if same(tx.peer) and not tx.terminated:
                tx.transport_error(now)

    # ---------------------------------------------------------------------------------------
    # Input from the network

    def receive(self, data: bytes, peer: Peer, local: Listener, now: float) -> None:
        try:
            # Each WebSocket message carries exactly one SIP message (RFC 7118 §5), so WS and
            # WSS frame bodies as datagrams do: Content-Length is only needed on TCP and TLS.
            message = parse_message(data, datagram=peer.transport not in _BYTE_STREAMS)
        except ParseError as error:
            self._reject_unparsed(data, peer, error)
            return
        if isinstance(message, Response):
            self._receive_response(message, peer, now)
        else:
            self._receive_request(message, peer, local, now)

    def _receive_response(self, response: Response, peer: Peer, now: float) -> None:
        try:
            key = response_client_key(response)
        except ParseError as error:
            self.emit(MalformedReceived(peer, error.reason, error.status))
            return
        tx = self._client.get(key) if key else None
        if tx is None:
            log.debug("stray response %s from %s dropped", response.status, peer)
            return
        tx.receive_response(response, now)

    def _receive_request(self, request: Request, peer: Peer, local: Listener,
                         now: float) -> None:
        headers = request.headers
        try:
            vias = headers.getall("Via")
            if not vias:
                raise ParseError("missing Via")
            original = parse_via(vias[0])
        except ParseError as error:
            if not headers.fields("Via"):  # nowhere to send an answer (§18.2.2 needs the Via)
                self.emit(MalformedReceived(peer, error.reason, error.status))
                return
            # A Via that is present but broken (RFC 4475 badinv01) still deserves its 400:
            # answer the source address, as RFC 3581 would, echoing the raw Via.
            self._reject(request.method, headers, peer, peer, error)
            return
        via = stamp_via(original, peer)
        if via is not original:
            headers.remove_first("Via")
            headers.prepend("Via", str(via))
        if len(vias) == 1:
            # The one hop is parsed already: validate() need not parse the text just written.
            request.__dict__["vias"] = [via]
        destination = response_destination(via, peer)
        try:
            request.validate()
        except ParseError as error:
            self._reject(request.method, headers, destination, peer, error)
            return

        if request.method == "ACK":
            self._receive_ack(request, peer, now)
            return
        key = server_key(request)
        existing = self._server.get(key)
        if existing is not None:
            existing.receive_request(request, now)  # a retransmission (§17.2.3)
            return
        absorbed = self._absorbing.get(key)
        if absorbed is not None:  # §17.2.2: Completed resends the final response
            wire, transport, host, port = absorbed
            self._outbox.append((wire, Peer(transport, host, port)))
            return
        if self.draining and request.to.tag is None and request.method != "CANCEL":
            refuse = make_response(request, 503, to_tag=new_tag(),
                                   extra=[("Retry-After", "5"), ("Server", self.user_agent)])
            self.send_stateless(refuse, destination)
            return
        tx: ServerTransaction
        if request.method == "INVITE":
            tx = ServerInvite(self, key, request, destination, self.timers, local)
        else:
            tx = ServerNonInvite(self, key, request, destination, self.timers, local)
        self._server[key] = tx
        tx.start(now)
        if request.method == "CANCEL":
            self._answer_cancel(tx, request, now)
        else:
            self.emit(RequestReceived(request, peer, local))

    def _receive_ack(self, ack: Request, peer: Peer, now: float) -> None:
        tx = self._server.get(server_key(ack))
        if not isinstance(tx, ServerInvite):
            ack_key = (ack.call_id, ack.from_.tag or "", ack.to.tag or "", ack.cseq.seq)
            tx = self._awaiting_ack.get(ack_key)
        if tx is None:
            log.debug("stray ACK %s from %s dropped", ack.call_id, peer)
            return
        tx.receive_ack(ack, peer, now)

    def _answer_cancel(self, tx: ServerTransaction, cancel: Request, now: float) -> None:
        """§9.2: 200 to the CANCEL and 487 to a still-pending INVITE, or 481 when none."""
        invite_tx = self._server.get(server_key(cancel, "INVITE"))
        server = [("Server", self.user_agent)]
        if not isinstance(invite_tx, ServerInvite):
            tx.respond(make_response(cancel, 481, to_tag=new_tag(), extra=server), now)
            return
        # §9.2: the CANCEL's response SHOULD carry the To tag of the INVITE's responses.
        tag = invite_tx.to_tag or new_tag()
        tx.respond(make_response(cancel, 200, to_tag=tag, extra=server), now)
        if invite_tx.state is State.PROCEEDING:
            invite_tx.respond(make_response(invite_tx.request, 487, to_tag=tag, extra=server),
                              now)
            self.emit(CancelReceived(cancel, invite_tx.request))

    # ---------------------------------------------------------------------------------------
    # Malformed input

    def _reject_unparsed(self, data: bytes, peer: Peer, error: ParseError) -> None:
        """A message that did not parse: answer it if a Via can be salvaged, else drop it."""
        salvaged = _salvage_request(data)
        if salvaged is None:
            log.info("dropped unparseable message from %s: %s", peer, error.reason)
            self.emit(MalformedReceived(peer, error.reason, error.status))
            return
        method, headers = salvaged
        try:
            via = stamp_via(parse_via(headers.getall("Via")[0]), peer)
        except ParseError:
            # The Via itself is broken (RFC 4475 badinv01, badvers): §18.2.2 cannot be
            # followed, so answer the source address, as RFC 3581 would, echoing the raw Via.
            self._reject(method, headers, peer, peer, error)
            return
        headers.remove_first("Via")
        headers.prepend("Via", str(via))
        self._reject(method, headers, response_destination(via, peer), peer, error)

    def _reject(self, method: str, headers: Headers, destination: Peer, peer: Peer,
                error: ParseError) -> None:
        """Answer ``error.status`` with the reason in the phrase and a Warning (§21.4.1)."""
        if method == "ACK":  # an ACK is never answered (§17.1.1.3)
            self.emit(MalformedReceived(peer, error.reason, error.status))
            return
        detail = _UNPRINTABLE.sub(" ", error.reason).replace('"', "'")[:120]
        answer = Headers()
        for name, value in headers:
            if name in _ANSWER_HEADERS:
                if name == "To":
                    value = _with_tag(value)
                answer.add(name, value)
        answer.add("Server", self.user_agent)
        answer.add("Warning", f'399 {self.user_agent} "{detail}"')
        reason = f"{REASONS.get(error.status, 'Bad Request')} ({detail})"
        self.send_stateless(Response(headers=answer, status=error.status, reason=reason),
                            destination)
        log.info("answered %s to malformed %s from %s: %s", error.status, method, peer,
                 error.reason)
        self.emit(MalformedReceived(peer, error.reason, error.status, answered=True))

    def _ensure_to_tag(self, tx: ServerTransaction, response: Response) -> None:
        cached = response.__dict__.get("to")  # a view left by switch.sip.reply: no re-parse
        if cached is not None and cached.tag is not None:
            return
        raw = response.headers.get("To")
        if raw is None:
            return
        try:
            if parse_name_addr(raw).tag is not None:
                return
        except ParseError:
            return
        tx.to_tag = tx.to_tag or new_tag()
        response.headers.set("To", f"{raw};tag={tx.to_tag}")
        vars(response).pop("to", None)  # drop a cached view of the old To


def _key_method(key: str) -> str:
    """The method part of a server transaction key (see ``transaction.server_key``)."""
    parts = key.split("|")
    return parts[5] if parts[0] == "2543" and len(parts) > 5 else parts[-1]


def _with_tag(value: str) -> str:
    """To of a core-generated error response gets a tag when it parses and has none."""
    try:
        if parse_name_addr(value).tag is None:
            return f"{value};tag={new_tag()}"
    except ParseError:
        pass
    return value


def _salvage_request(data: bytes) -> tuple[str, Headers] | None:
    """Read the method and the headers needed to answer from bytes that failed to parse.

    Returns None for a response (never answered) or when no Via header can be found.
    """
    head = data.lstrip(b"\r\n").split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    lines = re.split(r"\r?\n", head.decode("utf-8", "replace"))
    start = lines[0].strip()
    if not start or start.upper().startswith("SIP/"):
        return None
    method = start.split(" ", 1)[0]
    headers = Headers()
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and len(headers):
            continue  # folded continuation of a header we may not keep: skip it
        name, sep, value = line.partition(":")
        if not sep:
            continue
        cname = canonical_name(name.strip())
        if cname in _ANSWER_HEADERS:
            headers.add(cname, value.strip())
    try:
        if not headers.getall("Via"):
            return None
    except ParseError:
        return None
    return method, headers
