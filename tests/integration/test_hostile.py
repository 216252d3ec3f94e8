"""Hostile input against the real node: wrong and unknown credentials, nonce replay, a flood
from one source while another registers, oversize and malformed messages (bans: test_bans.py).

Floods and bans come from other loopback addresses (127.0.0.2, 127.0.0.3: all of 127/8 is
local), so per-source limits can be told apart from the victim on 127.0.0.1.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable

import pytest

from tests.integration.conftest import RunningNode
from tests.integration.sipclient import (
    SipConnection,
    SipResponse,
    SipUser,
    challenge_params,
    digest_authorization,
    pick_challenge,
    wait_for,
)

pytestmark = pytest.mark.integration


def _register_with(user: SipUser, password: str) -> tuple[SipResponse, SipResponse]:
    first, final = user.register(password)
    assert first is not None and first.status == 401, first
    assert final is not None, "no answer to the authenticated REGISTER"
    return first, final


def test_wrong_password_gets_401_with_a_fresh_challenge(node: RunningNode) -> None:
    with SipConnection("udp", node.addr("udp")) as conn:
        first, final = _register_with(SipUser(conn, "1010"), "wrong-password")
    assert final.status == 401, final.raw
    used = challenge_params(pick_challenge(first))["nonce"]
    fresh = challenge_params(pick_challenge(final))
    assert fresh["nonce"] != used
    assert fresh.get("stale", "false").lower() != "true"  # wrong credentials are not stale


def test_unknown_user_is_indistinguishable_from_wrong_password(node: RunningNode) -> None:
    with SipConnection("udp", node.addr("udp")) as conn:
        wrong_first, wrong = _register_with(SipUser(conn, "1011"), "wrong-password")
        unknown_first, unknown = _register_with(SipUser(conn, "7777"), "whatever")
    assert (wrong.status, wrong.reason) == (unknown.status, unknown.reason) == (401, wrong.reason)
    assert wrong.header_names() == unknown.header_names()
    assert wrong_first.header_names() == unknown_first.header_names()
    for a, b in zip(wrong.all("www-authenticate"), unknown.all("www-authenticate"), strict=True):
        pa, pb = challenge_params(a), challenge_params(b)
        assert sorted(pa) == sorted(pb)
        assert {k: v for k, v in pa.items() if k != "nonce"} == \
            {k: v for k, v in pb.items() if k != "nonce"}


def test_replayed_nonce_count_is_refused(node: RunningNode) -> None:
    with SipConnection("udp", node.addr("udp")) as conn:
        user = SipUser(conn, "1012")
        uri = user.registrar_uri()
        first = conn.request(user.build("REGISTER", uri, headers=["Expires: 600"]))
        assert first is not None and first.status == 401
        auth = digest_authorization(pick_challenge(first), "REGISTER", uri, "1012", "demo1012",
                                    nc=1, cnonce="0a1b2c3d")
        ok = conn.request(user.build("REGISTER", uri, headers=["Expires: 600",
                                                               f"Authorization: {auth}"]))
        assert ok is not None and ok.status == 200, ok
        # The very same credentials (nonce, nc=1, cnonce) in a new request: a replay.
        replay = conn.request(user.build("REGISTER", uri, headers=["Expires: 600",
                                                                   f"Authorization: {auth}"]))
        assert replay is not None and replay.status == 401, replay
        assert replay.all("www-authenticate"), replay.raw
        # A higher nc with the same nonce is legitimate (RFC 7616 §3.4).
        auth2 = digest_authorization(pick_challenge(first), "REGISTER", uri, "1012", "demo1012",
                                     nc=2, cnonce="0a1b2c3d")
        again = conn.request(user.build("REGISTER", uri, headers=["Expires: 600",
                                                                  f"Authorization: {auth2}"]))
        assert again is not None and again.status == 200, again


def _options_datagram(source: tuple[str, int], server: tuple[str, int]) -> bytes:
    host, port = source
    return (f"OPTIONS sip:{server[0]}:{server[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:flood@{host}>;tag={secrets.token_hex(4)}\r\n"
            f"To: <sip:{server[0]}:{server[1]}>\r\n"
            f"Call-ID: {secrets.token_hex(8)}@flood\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


def test_flood_from_one_source_is_limited_while_another_registers(
        start_node: Callable[..., RunningNode]) -> None:
    rate, burst = 50, 100
    node = start_node({"security": {"rate_limit": {"rate": rate, "burst": burst}}})
    server = node.addr("udp")
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood.bind(("127.0.0.2", 0))
    datagrams = [_options_datagram(flood.getsockname(), server) for _ in range(15000)]
    sent = answers = 0
    flooding, stop = threading.Event(), threading.Event()

    def send_flood() -> None:
        # ~5,000 datagrams/s for at most 3 s: a flood, not a kernel-buffer overflow test.
        nonlocal sent
        flooding.set()
        deadline = time.monotonic() + 3.0
        for index, datagram in enumerate(datagrams):
            if stop.is_set() or time.monotonic() > deadline:
                break
            flood.sendto(datagram, server)
            sent += 1
            if index % 50 == 49:
                time.sleep(0.01)
        flooding.clear()

    def count_answers() -> None:
        nonlocal answers
        flood.settimeout(0.2)
        while not stop.is_set():
            try:
                flood.recv(65535)
                answers += 1
            except TimeoutError:
                continue

    reader = threading.Thread(target=count_answers, daemon=True)
    sender = threading.Thread(target=send_flood, daemon=True)
    started = time.monotonic()
    reader.start()
    sender.start()
    time.sleep(0.3)
    assert flooding.is_set()
    with SipConnection("udp", server) as conn:
        _, victim = SipUser(conn, "1013").register("demo1013", timeout=5)
    during = flooding.is_set()
    sender.join(timeout=10)
    time.sleep(0.5)
    stop.set()
    reader.join(timeout=2)
    elapsed = time.monotonic() - started
    flood.close()

    assert victim is not None, "the victim got no answer during the flood"
    assert victim.status == 200, victim.raw
    assert during, "the flood ended before the victim was served; the test proved nothing"
    # A token bucket lets through at most burst + rate * elapsed (slack for clock edges).
    allowed = burst + rate * elapsed + 20
    assert answers <= allowed, f"{answers} of {sent} answered; limit ~{allowed:.0f}"
    assert sent > 5 * allowed  # it was a flood
    assert answers >= 1  # the first requests of the burst are served
    # It is a rate limit, not a ban: the source is served again once its bucket refills.
    with SipConnection("udp", server, source_ip="127.0.0.2") as conn:
        assert wait_for(lambda: (r := SipUser(conn, "x").options(timeout=0.5)) is not None
                        and r.status == 200, timeout=6)
    assert node.alive()


def test_oversize_datagram_is_refused_and_node_keeps_serving(
        start_node: Callable[..., RunningNode]) -> None:
    node = start_node({"security": {"max_message_size": 2048}})
    server = node.addr("udp")
    with SipConnection("udp", server) as conn:
        user = SipUser(conn, "1015")
        big = user.build("OPTIONS", user.registrar_uri(),
                         headers=[f"X-Padding: {'a' * 6000}"])
        assert len(big) > 2048
        conn.send(big)
        answer = conn.recv_response(timeout=1.5)
        # Refused: SIP's "Message Too Large" (513, RFC 3261 §21.5.13) or dropped, never served.
        assert answer is None or answer.status in (413, 513), answer.raw if answer else None
        ok = user.options()
        assert ok is not None and ok.status == 200


def test_oversize_stream_message_is_refused(start_node: Callable[..., RunningNode]) -> None:
    node = start_node({"security": {"max_message_size": 2048}})
    with SipConnection("tcp", node.addr("tcp")) as conn:
        user = SipUser(conn, "1016")
        conn.send(user.build("OPTIONS", user.registrar_uri(),
                             headers=[f"X-Padding: {'a' * 6000}"]))
        answer = conn.recv_response(timeout=2)
        assert answer is None or answer.status in (400, 413, 513), answer.raw
    with SipConnection("tcp", node.addr("tcp")) as conn:
        ok = SipUser(conn, "1016").options()
        assert ok is not None and ok.status == 200


def test_malformed_datagram_gets_400_and_node_keeps_serving(node: RunningNode) -> None:
    server = node.addr("udp")
    with SipConnection("udp", server) as conn:
        user = SipUser(conn, "1017")
        # RFC 3261 §18.3: a datagram request whose body is shorter than its Content-Length
        # "SHOULD" get 400; everything needed to answer (Via, CSeq, Call-ID...) is readable.
        short = user.build("OPTIONS", user.registrar_uri()).replace(
            b"Content-Length: 0", b"Content-Length: 500")
        conn.send(short)
        answer = conn.recv_response(timeout=2)
        assert answer is not None and answer.status == 400, answer
        # Junk that is not SIP at all cannot be answered; it is dropped.
        conn.send(b"\x00\xff\xfe junk \r\n\r\n" + secrets.token_bytes(200))
        assert conn.recv_response(timeout=1) is None
        ok = user.options()
        assert ok is not None and ok.status == 200
    assert node.alive()
