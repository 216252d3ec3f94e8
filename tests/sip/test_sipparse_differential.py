"""The compiled parser twin against the pure reference: same results, same errors.

Each compiled function (``cext._sipparse``) handles the everyday shape of its input and hands
the rest to the reference, so these tests check two things: on every input both give equal
values (and the same ``ParseError`` reason and status), and the fast paths really take the
everyday messages (no silent fallback). Inputs: every torture fixture, every header value in
them, and hypothesis-generated heads and values.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switch.sip import _accel, headers, message, rawhead, uri
from switch.sip.errors import ParseError
from switch.sip.message import _split_message, parse_message

from .torture_cases import CASES

REQUIRE = os.environ.get("SIP_REQUIRE_COMPILED", "") not in ("", "0")
EXAMPLES = settings(max_examples=int(os.environ.get("SIP_FUZZ_EXAMPLES", "400")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# (public name, module it lives in): each is the compiled twin when the extension is loaded
FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "split_head": rawhead.split_head,
    "parse_uri": uri.parse_uri,
    "parse_via": headers.parse_via,
    "parse_name_addr": headers.parse_name_addr,
    "parse_cseq": headers.parse_cseq,
    "split_list": headers.split_list,
    "parse_message": message.parse_message,
    "parse_stream_message": lambda data: message.parse_message(data, datagram=False),
}

compiled_only = pytest.mark.skipif(_accel.compiled is None,
                                   reason="cext._sipparse not built (or SIP_PURE=1)")


def test_compiled_twin_loaded_when_required() -> None:
    """Fails when the build was expected (SIP_REQUIRE_COMPILED=1) but the twin is not in use."""
    if not REQUIRE:
        pytest.skip("SIP_REQUIRE_COMPILED is not set")
    assert _accel.IMPLEMENTATION == "compiled", "cext._sipparse did not load"
    assert rawhead.split_head is not rawhead.split_head_py
    assert headers.parse_via is not headers.parse_via_py


def _outcome(func: Callable[[Any], Any], arg: Any) -> tuple[str, Any]:
    try:
        value = func(arg)
    except ParseError as exc:
        return "error", (type(exc), exc.reason, exc.status)
    if isinstance(value, message.Message):
        # messages compare by identity: compare what they hold
        fields = {k: v for k, v in vars(value).items() if k != "headers"}
        return "ok", (type(value), fields, list(value.headers), value.headers._keys,
                      value.serialize())
    return "ok", (type(value), value, repr(value))


def assert_same(name: str, arg: Any) -> None:
    func = FUNCTIONS[name]
    _accel.set_compiled(True)
    try:
        fast = _outcome(func, arg)
    finally:
        _accel.set_compiled(False)
    try:
        reference = _outcome(func, arg)
    finally:
        _accel.set_compiled(True)
    assert fast == reference, f"{name}({arg!r})"


def _heads() -> list[bytes]:
    heads = []
    for case in CASES:
        try:
            head, _ = _split_message(case.data())
        except ParseError:
            continue
        heads.append(head)
    return heads


def _values() -> list[tuple[str, str]]:
    """(header name, value) of every field of every fixture that splits."""
    out = []
    for head in _heads():
        try:
            _, items, _ = rawhead.split_head_py(head)
        except ParseError:
            continue
        out.extend(items)
    return out


HEADER_FUNCTIONS = {
    "Via": ("parse_via", "split_list"), "From": ("parse_name_addr",),
    "To": ("parse_name_addr",), "Contact": ("parse_name_addr", "split_list"),
    "Route": ("parse_name_addr", "split_list"), "Record-Route": ("parse_name_addr", "split_list"),
    "CSeq": ("parse_cseq",),
}


@compiled_only
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_torture_messages(case: Any) -> None:
    data = case.data()
    for variant in (data, data.replace(b"\r\n", b"\n"), b"\r\n" + data, data[:-3],
                    data + b"junk"):
        assert_same("parse_message", variant)
        assert_same("parse_stream_message", variant)


@compiled_only
@pytest.mark.parametrize("head", _heads(), ids=lambda h: h[:30].decode("latin-1"))
def test_torture_heads(head: bytes) -> None:
    assert_same("split_head", head)
    for variant in (head.replace(b"\r\n", b"\n"), head + b"\r\n", head[:len(head) // 2]):
        assert_same("split_head", variant)


@compiled_only
def test_torture_header_values() -> None:
    for name, value in _values():
        for func in HEADER_FUNCTIONS.get(name, ()):
            assert_same(func, value)
            for item in headers.split_list_py(value) if '"' not in value else []:
                assert_same(func, item)
        assert_same("split_list", value)
        assert_same("parse_uri", value)
        assert_same("parse_name_addr", value)


@compiled_only
def test_torture_request_uris() -> None:
    for head in _heads():
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) == 3:
            assert_same("parse_uri", parts[1].decode("utf-8", "surrogateescape"))


# A SIP-flavoured alphabet: every delimiter the grammars care about, letters, digits, a
# non-ASCII letter, and control characters, so the generated text hits every branch.
SIP_CHARS = st.sampled_from(list("sipSIPaZ019 \t;:=,@<>\"\\/.[]?&+-_%*!'~`()$#\r\n\x00é"))
SIP_TEXT = st.text(SIP_CHARS, max_size=60)

# Values that are close to the fast shapes, so that both sides of each boundary are taken.
TOKENS = st.text(st.sampled_from(list("abcXYZ019-.!%*_+`'~")), min_size=1, max_size=8)
PARAMS = st.lists(st.tuples(st.one_of(TOKENS, TOKENS, st.just(""), st.just("branch"),
                                      st.just("received")),
                            st.one_of(st.none(), TOKENS, TOKENS.map(lambda t: f'"{t}"'),
                                      st.sampled_from(["", "1.2.3.4", "[::1]", "::1", '"a;b"']))),
                  max_size=3).map(lambda ps: "".join(
                      f";{k}" if v is None else f";{k}={v}" for k, v in ps))
HOSTS = st.one_of(TOKENS, st.sampled_from(["example.com", "192.0.2.1", "[2001:db8::1]", "a-",
                                           "-a", "h_h", "x.y."]))
PORTS = st.one_of(st.just(""), st.just(":5060"), st.sampled_from(
    [":5060", ":0", ":65535", ":65536", ":", ":123456", ":05060"]))
URIS = st.builds(lambda s, u, h, p, q: f"{s}:{u}{h}{p}{q}",
                 st.sampled_from(["sip", "sip", "SIP", "sips", "tel", "sipx"]),
                 st.one_of(st.just(""), TOKENS.map(lambda t: f"{t}@")), HOSTS, PORTS, PARAMS)
VIAS = st.builds(lambda proto, t, ws, h, p, q: f"{proto}{t}{ws}{h}{p}{q}",
                 st.sampled_from(["SIP/2.0/"] * 4 + ["sip/2.0/", "SIP / 2.0 / ", "SIP/2.1/"]),
                 st.sampled_from(["UDP", "tcp", "WS", "", "T LS"]),
                 st.sampled_from([" ", " ", "\t", "  ", ""]),
                 HOSTS, PORTS, PARAMS)
DISPLAYS = st.one_of(st.just(""), TOKENS.map(lambda t: f"{t} "), TOKENS.map(lambda t: f'"{t}" '),
                     st.sampled_from(['"a\\"b" ', "Bob Smith ", "Bob<", '"open ', " ", '""']))
NAME_ADDRS = st.builds(lambda d, u, q: f"{d}<{u}>{q}", DISPLAYS, URIS, PARAMS)
CSEQS = st.builds(lambda ws, n, sp, m: f"{ws}{n}{sp}{m}", st.sampled_from(["", " ", "\t"]),
                  st.integers(min_value=-1, max_value=2**33).map(str),
                  st.sampled_from([" ", "\t", "", "  "]), TOKENS)
# (credentials-shaped text still exercises the other parsers; the one credentials parser,
# digest_header.parse_authorization, is pure and tested in test_auth.py)
CREDENTIALS = st.builds(
    lambda scheme, items: f"{scheme} " + ", ".join(f"{k}={v}" for k, v in items),
    st.sampled_from(["Digest", "Bearer", "Di gest", ""]),
    st.lists(st.tuples(TOKENS, st.one_of(TOKENS, TOKENS.map(lambda t: f'"{t}, x"'),
                                         st.just('"a\\"b"'), st.just("a b"))), max_size=4))


@compiled_only
@EXAMPLES
@given(value=st.one_of(SIP_TEXT, URIS, VIAS, NAME_ADDRS, CSEQS, CREDENTIALS))
def test_generated_values(value: str) -> None:
    for name in FUNCTIONS:
        if name not in ("split_head", "parse_message", "parse_stream_message"):
            assert_same(name, value)


FIELD_LINES = st.one_of(
    st.builds(lambda n, ws, v: f"{n}{ws}:{v}", st.sampled_from(
        ["Via", "v", "From", "f", "To", "Call-ID", "i", "CSeq", "Content-Length", "l",
         "X-Custom", "bad name", "", "Contact"]),
        st.sampled_from(["", " ", "\t"]), st.one_of(SIP_TEXT, VIAS, NAME_ADDRS, CSEQS)),
    SIP_TEXT)
LINE_ENDS = st.sampled_from(["\r\n", "\r\n", "\r\n", "\n", "\r", "\r\n "])


@compiled_only
@EXAMPLES
@given(start=st.sampled_from(["INVITE sip:a@b SIP/2.0", "SIP/2.0 200 OK", "", " x",
                              "SIP/2.0 99 Low", "SIP/2.0 200", "sip/2.0 180 Ringing",
                              "OPTIONS sip:a@b SIP/2.0 ", "OPTIONS  sip:a@b SIP/2.0",
                              "BYE <sip:a@b> SIP/2.0", "INFO sip:a@b SIP/3.0", "X@ sip:b SIP/2.0"]),
       lines=st.lists(st.tuples(FIELD_LINES, LINE_ENDS), max_size=8))
def test_generated_heads(start: str, lines: list[tuple[str, str]]) -> None:
    text = start + "".join(end + line for line, end in lines)
    head = text.encode("utf-8", "surrogateescape")
    assert_same("split_head", head)
    for body in (b"", b"\r\n\r\nv=0\r\n", b"\r\nContent-Length: 5\r\n\r\nv=0\r\n",
                 b"\r\nl: 2\r\n\r\nv=0\r\n"):
        assert_same("parse_message", head + body)
        assert_same("parse_stream_message", head + body)


@compiled_only
def test_everyday_messages_take_the_fast_paths() -> None:
    """The benchmark's INVITE and REGISTER paths (the REGISTER one is the node's: validate()
    and the Authorization header) go through no reference function at all."""
    from bench.bench_parser import INVITE, REGISTER, _ours_invite, _ours_register

    assert _accel.compiled is not None
    for data, path in ((INVITE, _ours_invite), (REGISTER, _ours_register)):
        before = _accel.compiled.fallbacks()
        message = parse_message(data)
        message.validate()
        _ = (message.top_via.branch, message.from_.tag, message.to.tag, message.contacts)
        path(data)
        assert _accel.compiled.fallbacks() == before
