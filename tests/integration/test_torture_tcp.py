"""Every RFC 4475 / RFC 5118 torture message, byte-exact, sent to the real node over TCP.

The expected answers are those of ``tests/integration/test_torture_udp.py`` (the table in
``tests/sip/torture_cases.py``): a stream answers as a datagram does. Each case gets its own
connection and its answers come back on it (RFC 3261 §18.2.2). Over a stream the node must
also keep a connection whose message was framed, even when that message is malformed, and
close only one it can no longer frame (RFC 4475 §3.1.2.3).

Where the RFCs make a stream behave differently, :data:`OVER_STREAM` says so, with the reason:
the stream is framed by Content-Length (RFC 3261 §18.3), so a message without a usable one
gets 400 and the connection closes, one whose Content-Length promises more than follows waits
for the rest, and octets past Content-Length are the start of the next message rather than
discarded. (In the RFC 5118 SDP fixtures Content-Length is a few octets short: those octets
stay buffered as an incomplete next message and change nothing.)

Fixtures that share a transaction key (branch, sent-by, method: RFC 3261 §17.2.3) go in
different rounds, as over UDP; the rounds run one after another on one node, which is enough
here: a non-INVITE server transaction over a reliable transport ends with its final response
(Timer J is 0, §17.2.2), and no two INVITE fixtures share a key. A round ends once every case
has its answers (and its close, where one is due) and the connections have been quiet for a
moment, so a late or extra answer is still seen.
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import RunningNode, launch_node
from tests.integration.sipclient import SipConnection, SipUser, parse_response
from tests.integration.test_torture_udp import rounds
from tests.sip.torture_cases import CASES, INVITE_ANSWER, Outcome, TortureCase

pytestmark = pytest.mark.integration

ROUND_SECONDS = 5.0  # upper bound on a round; a passing round ends much sooner
QUIET_SECONDS = 0.75  # silence on every connection before a settled round ends


@dataclass(frozen=True)
class OverStream:
    """How the stream answer differs from the datagram one (None: as over UDP)."""

    answer: tuple[Outcome, ...] | None = None  # acceptable outcomes of the (first) request
    closes: bool = False  # the node closes the connection after answering
    then: tuple[Outcome, ...] = ()  # acceptable answers of a second request on the stream
    why: str = ""


OVER_STREAM: dict[str, OverStream] = {
    "inv2543": OverStream(
        (400,), closes=True,
        why="RFC 3261 §18.3: Content-Length MUST be used on streams. RFC 4475 §3.4.1 accepts"
            " this RFC 2543 INVITE without one over UDP, but a stream cannot be framed"
            " without it: 400 (saying so), then close."),
    "ncl": OverStream(
        closes=True,
        why="RFC 4475 §3.1.2.3: a negative Content-Length gets 400; over TCP the connection"
            " is then closed (the next message cannot be found)."),
    "mcl01": OverStream(
        closes=True,
        why="RFC 4475 §3.3.9: several Content-Length values get 400; over TCP the connection"
            " is then closed."),
    "clerr": OverStream(
        ("drop",),
        why="RFC 4475 §3.1.2.2: over a stream a Content-Length larger than what arrived means"
            " the rest is still on its way; the receiver can only wait (and close the"
            " connection if nothing comes). No answer, the connection stays open."),
    "dblreq": OverStream(
        closes=True, then=INVITE_ANSWER,
        why="RFC 4475 §3.1.1.8: over UDP the INVITE after the REGISTER is ignored; on a"
            " stream (RFC 3261 §18.3) it is the next message and gets its own answer. Its"
            " Content-Length (150) leaves 5 octets that cannot be framed: close."),
}


def expectation(case: TortureCase) -> tuple[tuple[Outcome, ...], OverStream]:
    over = OVER_STREAM.get(case.name, OverStream())
    return (over.answer if over.answer is not None else case.acceptable()), over


@dataclass
class StreamOutcome:
    statuses: list[int] = field(default_factory=list)  # every status received, in order
    methods: list[str] = field(default_factory=list)  # CSeq method of each
    closed: bool = False  # the node closed (FIN or reset) within the round
    pending: bytes = b""

    @property
    def finals(self) -> list[int]:
        return [status for status in self.statuses if status >= 200]

    def take(self, data: bytes) -> None:
        """Cut the responses out of what arrived (the node always sends Content-Length)."""
        self.pending += data
        while (end := self.pending.find(b"\r\n\r\n")) >= 0:
            head = parse_response(self.pending[:end + 4])
            total = end + 4 + int(head.get("Content-Length") or 0)
            if len(self.pending) < total:
                return
            self.statuses.append(head.status)
            self.methods.append((head.get("CSeq") or "").rsplit(" ", 1)[-1])
            self.pending = self.pending[total:]

    def settled(self, case: TortureCase) -> bool:
        answers, over = expectation(case)
        wanted = (0 if "drop" in answers else 1) + (1 if over.then else 0)
        return len(self.finals) >= wanted and (self.closed or not over.closes)


@dataclass
class Torture:
    outcomes: dict[str, StreamOutcome] = field(default_factory=dict)
    survived: list[str] = field(default_factory=list)  # problems afterwards ([] = fine)
    framing_drops: int = -1


def _read(sock: socket.socket, outcome: StreamOutcome) -> bool:
    """Read what is there; False once the node has closed the connection."""
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return True
    except ConnectionResetError:
        data = b""
    if not data:
        outcome.closed = True
        return False
    outcome.take(data)
    return True


def _run_round(node: RunningNode, cases: list[TortureCase], torture: Torture) -> None:
    selector = selectors.DefaultSelector()
    sockets: list[socket.socket] = []
    try:
        for case in cases:
            sock = socket.create_connection(node.addr("tcp"), timeout=5)
            sockets.append(sock)
            sock.sendall(case.data())
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, case)
            torture.outcomes[case.name] = StreamOutcome()
        deadline = time.monotonic() + ROUND_SECONDS
        quiet_since = time.monotonic()
        while (now := time.monotonic()) < deadline:
            if now - quiet_since >= QUIET_SECONDS and all(
                    torture.outcomes[c.name].settled(c) for c in cases):
                break
            for key, _ in selector.select(min(0.05, deadline - now)):
                quiet_since = time.monotonic()
                conn, case = key.fileobj, key.data
                assert isinstance(conn, socket.socket)
                if not _read(conn, torture.outcomes[case.name]):
                    selector.unregister(conn)
    finally:
        selector.close()
        for sock in sockets:
            sock.close()


def _check_survival(node: RunningNode, torture: Torture) -> None:
    if not node.alive():
        torture.survived.append("node died")
        return
    with SipConnection("tcp", node.addr("tcp")) as conn:
        response = SipUser(conn, "1018").options()
    if response is None or response.status != 200:
        torture.survived.append(f"OPTIONS over TCP afterwards got {response}")
    health = node.healthz()
    if health["status"] != "ok":
        torture.survived.append("/healthz not ok")
    torture.framing_drops = health["transport"]["drops"]["framing"]


@pytest.fixture(scope="module")
def torture(tmp_path_factory: pytest.TempPathFactory) -> Torture:
    result = Torture()
    node = launch_node(Path(tmp_path_factory.mktemp("torture-tcp")))
    try:
        for cases in rounds(CASES):
            _run_round(node, cases, result)
        _check_survival(node, result)
    finally:
        code, in_time = node.stop()
    if not (in_time and code == 0):
        result.survived.append(f"stop code {code}, in time {in_time}")
    return result


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_torture_answer_over_tcp(torture: Torture, case: TortureCase) -> None:
    got = torture.outcomes[case.name]
    acceptable, over = expectation(case)
    finals = got.finals
    if finals:
        outcome: int | str = finals[0]
    elif got.statuses:
        outcome = f"only provisional {got.statuses}"
    else:
        outcome = "drop"
    why = over.why or case.rfc_note
    assert outcome in acceptable, (
        f"{case.file} ({case.section}) over TCP: node answered {got.statuses or 'nothing'},"
        f" expected {acceptable} — {why}")
    if outcome == "drop":
        assert not got.statuses, got.statuses
    if over.then:
        # Two requests on the stream, each with one final answer, in order (dblreq).
        assert len(finals) == 2 and finals[1] in over.then, (got.statuses, why)
        assert [m for s, m in zip(got.statuses, got.methods, strict=True) if s >= 200] == [
            "REGISTER", "INVITE"]
    else:
        # No retransmissions on a reliable transport: one request, at most one final.
        assert len(finals) <= 1, got.statuses
    assert got.closed == over.closes, (
        f"{case.name}: connection {'closed' if got.closed else 'left open'} by the node — "
        f"{why if over.closes else 'a framed message, even a malformed one, keeps the stream'}")
    assert got.pending == b"", got.pending[:200]


def test_node_survives_the_torture_batch_over_tcp(torture: Torture) -> None:
    assert len(torture.outcomes) == len(CASES)  # every case was sent
    assert torture.survived == []
    # The streams that could not be framed were counted: ncl, mcl01, inv2543, dblreq.
    closing = [name for name, over in OVER_STREAM.items() if over.closes]
    assert torture.framing_drops == len(closing)
