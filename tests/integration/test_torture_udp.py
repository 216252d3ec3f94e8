"""Every RFC 4475 / RFC 5118 torture message, byte-exact, sent to the real node over UDP.

The expected answer per file comes from ``tests/sip/torture_cases.py`` (the parser's table of
what the RFCs say). The answer goes where RFC 3261 §18.2.2 sends it: to the source address
(the ``received`` parameter) and the top Via's sent-by port (5060 when absent), or the source
port with ``rport``. So each case is sent from its own loopback address (127.0.1.N) and from
the sent-by port, with a second socket on 5061 in case the node defaults TLS Vias to it;
separate addresses also keep the answers (and INVITE retransmissions) of cases apart.

Several fixtures reuse one branch, sent-by and method (``z9hG4bKkdjuw`` with REGISTER...):
to a node they are the same transaction (RFC 3261 §17.2.3), so the later one would be absorbed
as a retransmission. The cases are therefore split into rounds with no shared transaction key,
each round against a fresh node. In a round all cases go out at once and the answers are
collected for a few seconds; then that node must still answer OPTIONS and stop cleanly.
"""

from __future__ import annotations

import re
import selectors
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import RunningNode, launch_node
from tests.integration.sipclient import SipConnection, SipUser, parse_response
from tests.sip.torture_cases import CASES, TortureCase

pytestmark = pytest.mark.integration

COLLECT_SECONDS = 3.0
_VIA = re.compile(
    rb"(?im)^(?:via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*[0-9.]+[ \t]*/[ \t]*[A-Za-z]+[ \t]+"
    rb"(\[[^\]]*\]|[^\s;:,]+)(?:[ \t]*:[ \t]*(\d+))?")
_BRANCH = re.compile(rb"branch=([^;,\s]+)")


def _sent_by_port(data: bytes) -> int:
    match = _VIA.search(data)
    return int(match.group(2)) if match and match.group(2) else 5060


def _transaction_key(data: bytes) -> tuple[bytes, ...]:
    """Branch, sent-by and method of the top Via (RFC 3261 §17.2.3), read leniently."""
    via, branch = _VIA.search(data), _BRANCH.search(data)
    host = via.group(1).lower() if via else b""
    return (branch.group(1) if branch else data[:200], host, str(_sent_by_port(data)).encode(),
            data.split(b" ", 1)[0])


def rounds(cases: tuple[TortureCase, ...]) -> list[list[TortureCase]]:
    """Split the cases so that no round holds two with the same transaction key."""
    out: list[list[TortureCase]] = []
    keys: list[set[tuple[bytes, ...]]] = []
    for case in cases:
        key = _transaction_key(case.data())
        for index, taken in enumerate(keys):
            if key not in taken:
                taken.add(key)
                out[index].append(case)
                break
        else:
            keys.append({key})
            out.append([case])
    return out


def _bind(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.setblocking(False)
    return sock


@dataclass
class RoundOutcome:
    answers: dict[str, list[int]] = field(default_factory=dict)  # case -> statuses received
    survived: list[str] = field(default_factory=list)  # problems after a round ([] = fine)


def _run_round(node: RunningNode, cases: list[TortureCase], first_address: int,
               outcome: RoundOutcome) -> None:
    server = node.addr("udp")
    selector = selectors.DefaultSelector()
    sockets: list[socket.socket] = []
    try:
        for offset, case in enumerate(cases):
            address = f"127.0.1.{first_address + offset}"
            data = case.data()
            port = _sent_by_port(data)
            main = _bind(address, port)
            sockets.append(main)
            selector.register(main, selectors.EVENT_READ, case.name)
            if port != 5061:
                extra = _bind(address, 5061)
                sockets.append(extra)
                selector.register(extra, selectors.EVENT_READ, case.name)
            outcome.answers[case.name] = []
            main.sendto(data, server)
        deadline = time.monotonic() + COLLECT_SECONDS
        while (remaining := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(remaining):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65535)
                except BlockingIOError:
                    continue
                if data.startswith(b"SIP/2.0 "):
                    outcome.answers[key.data].append(parse_response(data).status)
    finally:
        selector.close()
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def torture(tmp_path_factory: pytest.TempPathFactory) -> RoundOutcome:
    outcome = RoundOutcome()
    next_address = 1
    for number, cases in enumerate(rounds(CASES)):
        node = launch_node(Path(tmp_path_factory.mktemp(f"torture-round{number}")))
        try:
            _run_round(node, cases, next_address, outcome)
            next_address += len(cases)
            if not node.alive():
                outcome.survived.append(f"round {number}: node died")
            else:
                with SipConnection("udp", node.addr("udp")) as conn:
                    response = SipUser(conn, "1018").options()
                if response is None or response.status != 200:
                    outcome.survived.append(f"round {number}: OPTIONS afterwards got {response}")
                if node.healthz()["status"] != "ok":
                    outcome.survived.append(f"round {number}: /healthz not ok")
        finally:
            code, in_time = node.stop()
        if not (in_time and code == 0):
            outcome.survived.append(f"round {number}: stop code {code}, in time {in_time}")
    return outcome


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_torture_answer_over_udp(torture: RoundOutcome, case: TortureCase) -> None:
    statuses = torture.answers[case.name]
    finals = [s for s in statuses if s >= 200]
    acceptable = case.acceptable()
    if finals:
        outcome: int | str = finals[0]
    elif statuses:
        outcome = f"only provisional {statuses}"
    else:
        outcome = "drop"
    assert outcome in acceptable, (
        f"{case.file} ({case.section}): node answered {statuses or 'nothing'}, RFC expects "
        f"{acceptable} — {case.rfc_note}")
    if "drop" in acceptable and outcome == "drop":
        assert not statuses, statuses
    # One request, one transaction: every final the node (re)sent carries the same status.
    assert len(set(finals)) <= 1, statuses


def test_node_survives_the_torture_batch(torture: RoundOutcome) -> None:
    assert len(torture.answers) == len(CASES)  # every case was sent
    assert torture.survived == []
