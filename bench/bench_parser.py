"""SIP parser throughput on one core: ours versus sippy's ``SipRequest`` in the same run.

Each iteration parses one datagram and reads what a server needs to route it: the top Via
branch, Call-ID, CSeq, From tag and To tag. The REGISTER case times the node's own path: the
parse, ``validate()`` (every view the endpoint checks before a request reaches the registrar)
and ``digest_header.parse_authorization`` of the Authorization header (what the registrar's
``DigestChallenger.verify`` runs), then reads the Contact URI, username and response; sippy
parses the same message and reads the same fields. Bodies are not parsed by either side
(sippy's ``init_body`` and our SDP parser are left out).

The peer: sippy (github.com/sippy/b2bua) is never vendored. ``_peer()`` looks for it on
``sys.path``, then in a private venv under /tmp that it creates with ``pip install sippy``
if needed; if that fails the peer is skipped with a note in the results.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from switch.sip import _accel
from switch.sip.digest_header import parse_authorization
from switch.sip.message import Request, parse_message

PEER_VENV = "/tmp/switchboard-bench-sippy"
DURATION = float(os.environ.get("BENCH_PARSER_SECONDS", "3"))
ROUNDS = 6

SDP = (
    b"v=0\r\n"
    b"o=- 1804289383 1804289383 IN IP4 203.0.113.20\r\n"
    b"s=SBC\r\n"
    b"c=IN IP4 203.0.113.20\r\n"
    b"t=0 0\r\n"
    b"m=audio 16384 RTP/AVP 8 0 18 101\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:18 G729/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

INVITE = (
    b"INVITE sip:+4930123456789@sbc.example.net:5060;user=phone SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK-524287-1---b0e6b9d2ef6a8d4a;rport\r\n"
    b"Max-Forwards: 69\r\n"
    b"Record-Route: <sip:203.0.113.7;lr;ftag=as5f1c3a2e>\r\n"
    b"Contact: <sip:+4915112345678@203.0.113.7:5060;transport=udp>\r\n"
    b"To: <sip:+4930123456789@sbc.example.net;user=phone>\r\n"
    b"From: \"Caller Name\" <sip:+4915112345678@carrier.example.com;user=phone>"
    b";tag=as5f1c3a2e\r\n"
    b"Call-ID: 3c26700e5f1c3a2e0d3f7a6b1c2d4e5f@203.0.113.7\r\n"
    b"CSeq: 102 INVITE\r\n"
    b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO\r\n"
    b"Supported: replaces, timer\r\n"
    b"Session-Expires: 1800;refresher=uac\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n"
    b"\r\n" + SDP
)

REGISTER = (
    b"REGISTER sip:pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.33:5070;branch=z9hG4bK.8rWxW2vJy;rport\r\n"
    b"From: <sip:1001@pbx.example.com>;tag=Rq4vbjmHC\r\n"
    b"To: <sip:1001@pbx.example.com>\r\n"
    b"CSeq: 21 REGISTER\r\n"
    b"Call-ID: 0Tz3Jv8WCl\r\n"
    b"Max-Forwards: 70\r\n"
    b"Supported: replaces, outbound, gruu\r\n"
    b"Authorization: Digest realm=\"pbx.example.com\", nonce=\"1712345678.abcdef0123456789\","
    b" algorithm=MD5, username=\"1001\", uri=\"sip:pbx.example.com\","
    b" response=\"8a2b7f0c1d9e3a4b5c6d7e8f90a1b2c3\", cnonce=\"5d3f1a\", nc=00000002, qop=auth\r\n"
    b"Contact: <sip:1001@192.0.2.33:5070;transport=udp>;expires=600"
    b";+sip.instance=\"<urn:uuid:5a8c7c44-24d3-4c7b-8a4b-1a2b3c4d5e6f>\"\r\n"
    b"Expires: 600\r\n"
    b"User-Agent: Linphone/5.2.0\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def _ours_invite(data: bytes) -> tuple[Any, ...]:
    m = parse_message(data)
    return (m.top_via.branch, m.call_id, m.cseq.seq, m.cseq.method, m.from_.tag, m.to.tag)


def _ours_register(data: bytes) -> tuple[Any, ...]:
    """What the node does with a REGISTER before the digest arithmetic (endpoint, registrar)."""
    m = parse_message(data)
    assert isinstance(m, Request)
    m.validate()
    creds = parse_authorization(m.headers.get("Authorization") or "").params
    return (m.top_via.branch, m.call_id, m.cseq.seq, m.from_.tag, m.to.tag,
            m.contacts[0].uri, creds["username"], creds["response"])


def _sippy_funcs(module: Any) -> tuple[Callable[[bytes], Any], Callable[[bytes], Any]]:
    sip_request = module.SipRequest

    def invite(data: bytes) -> tuple[Any, ...]:
        r = sip_request(data.decode())
        cseq = r.getHFBody("cseq")
        return (r.getHFBody("via").getBranch(), str(r.getHFBody("call-id")), cseq.getCSeqNum(),
                cseq.getCSeqMethod(), r.getHFBody("from").getTag(), r.getHFBody("to").getTag())

    def register(data: bytes) -> tuple[Any, ...]:
        r = sip_request(data.decode())
        cseq = r.getHFBody("cseq")
        auth = r.getHFBody("authorization")
        return (r.getHFBody("via").getBranch(), str(r.getHFBody("call-id")), cseq.getCSeqNum(),
                r.getHFBody("from").getTag(), r.getHFBody("to").getTag(),
                r.getHFBody("contact").getUrl(), auth.username, auth.response)

    return invite, register


def _round(func: Callable[[bytes], Any], data: bytes, seconds: float) -> float:
    """Messages per second over about ``seconds``."""
    n = 0
    batch = 100
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(batch):
            func(data)
        n += batch
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - started)


Contestant = tuple[Callable[[bytes], Any], Callable[[], None]]
"""A parse function and what to do before each of its rounds (pick the implementation)."""


def _nothing() -> None:
    return None


def _rates(contestants: list[Contestant], data: bytes) -> list[float]:
    """Best of ROUNDS for each contestant, the rounds interleaved so that the load of this
    shared machine hits every contestant alike."""
    best = [0.0] * len(contestants)
    for func, before in contestants:
        before()
        func(data)
    for _ in range(ROUNDS):
        for i, (func, before) in enumerate(contestants):
            before()
            best[i] = max(best[i], _round(func, data, DURATION / ROUNDS))
    _accel.set_compiled(True)
    return best


def _sippy_site() -> str | None:
    matches = glob.glob(f"{PEER_VENV}/lib/python3*/site-packages")
    return matches[0] if matches else None


def _peer() -> tuple[Any | None, str]:
    """sippy's SipRequest module, or (None, why not)."""
    try:
        from sippy import SipRequest  # type: ignore[import-not-found, unused-ignore]

        return SipRequest, "sippy from sys.path"
    except ImportError:
        pass
    site = _sippy_site()
    if site is None:
        try:
            subprocess.run([sys.executable, "-m", "venv", PEER_VENV], check=True,
                           capture_output=True, timeout=120)
            subprocess.run([f"{PEER_VENV}/bin/pip", "install", "-q", "sippy"], check=True,
                           capture_output=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"sippy could not be installed ({exc.__class__.__name__}); peer skipped"
        site = _sippy_site()
    if site is None:
        return None, "sippy venv has no site-packages; peer skipped"
    sys.path.append(site)
    try:
        from sippy import SipRequest

        return SipRequest, f"sippy from {site}"
    except Exception as exc:  # an incompatible sippy must not break the other numbers
        return None, f"sippy import failed: {exc!r}; peer skipped"


def _implementations() -> list[tuple[str, Callable[[], None]]]:
    """The parser implementations to measure: the pure reference always, the compiled twin
    when it is loaded (both in this process; the switch costs one C call per parse)."""
    impls: list[tuple[str, Callable[[], None]]] = [
        ("pure", lambda: _accel.set_compiled(False))]
    if _accel.compiled is not None:
        impls.insert(0, ("compiled", lambda: _accel.set_compiled(True)))
    return impls


def _measure(ours: Mapping[str, Callable[[bytes], Any]],
             peer: Mapping[str, Callable[[bytes], Any]] | None) -> dict[str, Any]:
    impls = _implementations()
    out: dict[str, Any] = {label: {} for label, _ in impls}
    for kind, data in (("invite", INVITE), ("register", REGISTER)):
        contestants: list[Contestant] = [(ours[kind], before) for _, before in impls]
        if peer is not None:
            # every parser must have read the same fields, or the comparison means nothing
            theirs = peer[kind](data)
            for label, before in impls:
                before()
                mine = ours[kind](data)
                if [str(x) for x in mine] != [str(x) for x in theirs]:
                    raise AssertionError(f"{kind} ({label}): parsers disagree: "
                                         f"{mine} != {theirs}")
            contestants.append((peer[kind], _nothing))
        rates = _rates(contestants, data)
        for (label, _), rate in zip(impls, rates, strict=False):
            row: dict[str, Any] = {"bytes": len(data), "ours_msgs_per_s": round(rate)}
            if peer is not None:
                row["sippy_msgs_per_s"] = round(rates[-1])
                row["ratio"] = round(rate / rates[-1], 2)
            out[label][kind] = row
    return out


def main() -> dict[str, Any]:
    module, note = _peer()
    peer = None
    if module is not None:
        invite, register = _sippy_funcs(module)
        peer = {"invite": invite, "register": register}
    ours = {"invite": _ours_invite, "register": _ours_register}
    results: dict[str, Any] = {"peer": note, "implementation": _accel.IMPLEMENTATION}
    results.update(_measure(ours, peer))
    return results


def _count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def summarize(record: dict[str, Any]) -> str:
    res = record["results"]
    labels = [label for label in ("compiled", "pure") if label in res]
    lines = [f"Messages parsed per second on one core; every column from the same run, rounds "
             f"interleaved (peer: {res['peer']}). INVITE: the parse plus the fields a server "
             f"routes by (top Via branch, Call-ID, CSeq, From and To tags). REGISTER: the "
             f"node's own path, i.e. the parse, `validate()` and "
             f"`digest_header.parse_authorization` of the Authorization header, then the same "
             f"fields plus Contact URI, username and response; sippy parses the message (its "
             f"constructor checks that Via, From, To and CSeq are present) and reads those "
             f"fields.\n",
             "| message | bytes | " + " | ".join(f"{label} msg/s" for label in labels)
             + " | sippy msg/s | " + " | ".join(f"{label} / sippy" for label in labels) + " |",
             "|---" * (3 + 2 * len(labels)) + "|"]
    for kind in ("invite", "register"):
        rows = [res[label][kind] for label in labels]
        lines.append(f"| {kind.upper()} | {rows[0]['bytes']} | "
                     + " | ".join(f"{row['ours_msgs_per_s']:,}" for row in rows)
                     + f" | {_count(rows[0].get('sippy_msgs_per_s'))} | "
                     + " | ".join(f"{row.get('ratio', 'n/a')}" for row in rows) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
