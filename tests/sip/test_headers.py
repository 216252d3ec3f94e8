"""Header fields: the multi-map, compact forms, lists, params, Via, name-addr, credentials."""

from __future__ import annotations

import pytest

from switch.sip.errors import ParseError
from switch.sip.headers import (
    Headers,
    parse_credentials,
    parse_cseq,
    parse_name_addr,
    parse_params,
    parse_via,
    split_list,
)


def test_headers_are_case_insensitive_and_expand_compact_forms() -> None:
    h = Headers([("v", "SIP/2.0/UDP a"), ("VIA", "SIP/2.0/UDP b, SIP/2.0/UDP c"),
                 ("x-Custom", "1"), ("i", "cid")])
    assert h.get("via") == "SIP/2.0/UDP a"
    assert h.getall("Via") == ["SIP/2.0/UDP a", "SIP/2.0/UDP b", "SIP/2.0/UDP c"]
    assert h.get("X-CUSTOM") == "1" and h.get("Call-ID") == "cid" and "call-id" in h
    assert [name for name, _ in h] == ["Via", "Via", "x-Custom", "Call-ID"]
    assert h.remove_first("Via") == "SIP/2.0/UDP a"
    assert h.remove_first("Via") == "SIP/2.0/UDP b"
    assert h.fields("Via") == ["SIP/2.0/UDP c"]
    h.set("x-custom", "2")
    h.prepend("Route", "<sip:r;lr>")
    clone = h.copy()
    clone.remove("Route")
    assert h.get("Route") == "<sip:r;lr>" and clone.get("Route") is None
    assert h.get("X-Custom") == "2" and len(h) == 4


def test_list_splitting_respects_quotes_and_brackets() -> None:
    value = '"a, b" <sip:x@h;p=1,2>, <sip:y@h>, z'
    assert split_list(value) == ['"a, b" <sip:x@h;p=1,2>', "<sip:y@h>", "z"]
    with pytest.raises(ParseError):
        split_list('"unterminated, x')


def test_params_refuse_empty_items_and_keep_quotes() -> None:
    assert parse_params(' ; a = 1 ;b; c="x;y"') == [("a", "1"), ("b", None), ("c", '"x;y"')]
    for bad in (";;", ";a;;b", ";a=", ';a="x'):
        with pytest.raises(ParseError):
            parse_params(bad)


def test_via_with_lws_ipv6_and_received() -> None:
    via = parse_via("SIP / 2.0 / udp [2001:db8::9:1]:5070 ; branch = z9hG4bKx ;"
                    " received=2001:db8::9:255;rport")
    assert (via.transport, via.host, via.port, via.branch) == ("UDP", "[2001:db8::9:1]", 5070,
                                                                "z9hG4bKx")
    assert via.received_host == "2001:db8::9:255" and via.rport == ""
    assert str(via.with_params(rport="5070")).endswith(";rport=5070")
    for bad in ("SIP/2.0/UDP", "SIP/2.0/UDP h;branch=", "SIP/3.0/UDP h", "SIP/2.0/UDP h:0",
                "SIP/2.0/UDP [::1", "SIP/2.0/UDP h;received=notanip:x"):
        with pytest.raises(ParseError):
            parse_via(bad)


def test_name_addr_forms() -> None:
    a = parse_name_addr('"J \\"Quoted\\" R" <sip:j@h;lr>;tag=1')
    assert a.display_name == 'J "Quoted" R' and a.tag == "1"
    b = parse_name_addr("caller<sip:c@h>;tag=2")
    assert b.display == "caller"
    c = parse_name_addr("sip:c@h;tag=3;unknownparam")
    assert c.tag == "3" and c.param("unknownparam") == "" and not c.uri.params  # type: ignore[union-attr]
    for bad in ("Bell, Alexander <sip:a@h>", '"open <sip:a@h>', "< sip:a@h >",
                "sip:a@h?Route=x", "<sip:a@h> junk", "", "*"):
        with pytest.raises(ParseError):
            parse_name_addr(bad)


def test_cseq_bounds() -> None:
    assert parse_cseq(" 0009  INVITE ").seq == 9
    for bad in ("2147483648 INVITE", "1", "x INVITE", "-1 INVITE"):
        with pytest.raises(ParseError):
            parse_cseq(bad)


def test_credentials() -> None:
    scheme, params = parse_credentials(
        'Digest username="1001", realm="a, b", nc=00000001, qop=auth, uri="sip:h"')
    assert scheme == "Digest"
    assert params == {"username": "1001", "realm": "a, b", "nc": "00000001", "qop": "auth",
                      "uri": "sip:h"}
    with pytest.raises(ParseError):
        parse_credentials('Digest username="x')
