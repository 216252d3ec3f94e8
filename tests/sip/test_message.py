"""Messages: parse, views, validate, serialize, responses (RFC 3261 §7, §8.2.6, §18.3, §20)."""

from __future__ import annotations

import pytest

from switch.sip import rawhead
from switch.sip.errors import ParseError
from switch.sip.message import Request, Response, make_response, parse_message

INVITE = (b"INVITE sip:bob@example.com SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport\r\n"
          b"Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bK1\r\n"
          b"Max-Forwards: 70\r\nFrom: Alice <sip:alice@example.com>;tag=1928\r\n"
          b"To: <sip:bob@example.com>\r\nCall-ID: a84b4c76e66710\r\nCSeq: 314159 INVITE\r\n"
          b"Contact: <sip:alice@192.0.2.1>\r\nContent-Type: application/sdp\r\n"
          b"Content-Length: 4\r\n\r\nv=0\r\n")

IMPLEMENTATIONS = ["pure"] + (["compiled"] if rawhead.IMPLEMENTATION == "compiled" else [])


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test over the pure reference and (when built) the compiled twin."""
    if request.param == "pure":
        monkeypatch.setattr("switch.sip.message.split_head", rawhead.split_head_py)
    return str(request.param)


def test_request_and_views(impl: str) -> None:
    m = parse_message(INVITE)
    assert isinstance(m, Request) and m.method == "INVITE" and m.body == b"v=0\r"
    m.validate()
    assert m.top_via.branch == "z9hG4bK776" and len(m.vias) == 2
    assert (m.cseq.seq, m.call_id, m.from_.tag, m.to.tag) == (314159, "a84b4c76e66710", "1928",
                                                              None)
    assert m.header_int("Max-Forwards") == 70 and m.content_type == "application/sdp"


def test_serialize_recomputes_content_length_and_round_trips(impl: str) -> None:
    m = parse_message(INVITE)
    m.body = b"v=0\r\n"
    again = parse_message(m.serialize(), datagram=False)
    assert again.body == b"v=0\r\n" and again.headers.get("Content-Length") == "5"
    assert [h for h in again.headers if h[0] != "Content-Length"] == \
        [h for h in m.headers if h[0] != "Content-Length"]


def test_folding_bare_lf_and_leading_crlf(impl: str) -> None:
    folded = INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 314159\r\n\tINVITE")
    assert parse_message(b"\r\n\r\n" + folded).cseq.method == "INVITE"
    lf = parse_message(INVITE.replace(b"\r\n", b"\n"))
    assert lf.call_id == "a84b4c76e66710"


@pytest.mark.parametrize(("mutation", "status"), [
    ((b"SIP/2.0\r\n", b"SIP/3.0\r\n"), 505),
    ((b"INVITE sip", b"INVITE  sip"), 400),
    ((b"Content-Length: 4", b"Content-Length: 40"), 400),
    ((b"Content-Length: 4", b"Content-Length: 4\r\nl: 4"), 400),
    ((b"Max-Forwards: 70", b"Max-Forwards 70"), 400),
    ((b"Call-ID: a84b", b"Call-ID: a8\r4b"), 400),
    ((b"Max-Forwards: 70\r\n", b" folded-first\r\nMax-Forwards: 70\r\n"), 400),
    ((b"\r\n\r\nv=0", b"\r\nv=0"), 400),
])
def test_malformed_messages(impl: str, mutation: tuple[bytes, bytes], status: int) -> None:
    data = INVITE.replace(*mutation)
    with pytest.raises(ParseError) as caught:
        parse_message(data).validate()
    assert caught.value.status == status


def test_stream_messages_need_content_length(impl: str) -> None:
    data = INVITE.replace(b"Content-Length: 4\r\n", b"")
    assert parse_message(data).body == b"v=0\r\n"  # datagram: the rest of the packet
    with pytest.raises(ParseError):
        parse_message(data, datagram=False)


def test_oversize_is_413(impl: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(INVITE + b"x" * 70000)
    assert caught.value.status == 413


def test_responses(impl: str) -> None:
    request = parse_message(INVITE)
    assert isinstance(request, Request)
    response = make_response(request, 180, to_tag="abc")
    parsed = parse_message(response.serialize())
    assert isinstance(parsed, Response) and (parsed.status, parsed.reason) == (180, "Ringing")
    assert parsed.to.tag == "abc" and parsed.headers.getall("Via") == request.headers.getall("Via")
    for bad in (b"SIP/2.0 4294967301 big", b"SIP/2.0 099 Low", b"SIP/2.0 700 High",
                b"SIP/2.0 20 OK"):
        with pytest.raises(ParseError):
            parse_message(bad + b"\r\nVia: SIP/2.0/UDP h\r\n\r\n")


def test_compiled_twin_is_loaded_when_built() -> None:
    import importlib.util
    import os

    built = importlib.util.find_spec("cext._sipparse") is not None
    forced_pure = os.environ.get("SIP_PURE", "") not in ("", "0")
    assert ("compiled" if built and not forced_pure else "pure") == rawhead.IMPLEMENTATION
