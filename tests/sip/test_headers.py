"""Header fields: the multi-map and its fast paths, compact forms, lists, params, Via,
name-addr, CSeq. (Credentials: ``test_auth.py``, ``digest_header.parse_authorization``.)"""

from __future__ import annotations

import pytest

from switch.sip.errors import ParseError
from switch.sip.headers import (
    Headers,
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


def test_subset_groups_fields_in_the_order_asked() -> None:
    h = Headers([("To", "<sip:b@h>"), ("v", "SIP/2.0/UDP a"), ("X-Other", "1"),
                 ("Via", "SIP/2.0/UDP b"), ("call-id", "c"), ("From", "<sip:a@h>;tag=1")])
    copied = h.subset(("Via", "From", "To", "Call-ID", "CSeq"))
    assert list(copied) == [("Via", "SIP/2.0/UDP a"), ("Via", "SIP/2.0/UDP b"),
                            ("From", "<sip:a@h>;tag=1"), ("To", "<sip:b@h>"), ("Call-ID", "c")]
    assert copied.get("i") == "c" and "cseq" not in copied
    copied.set("To", "<sip:b@h>;tag=2")  # the copy is independent of the original
    assert h.get("To") == "<sip:b@h>" and copied.fields("to") == ["<sip:b@h>;tag=2"]


def test_extend_and_set_normalise_names_like_add() -> None:
    h = Headers()
    h.extend([("i", "c"), ("x-custom", "1"), ("cseq", "1 OPTIONS"), ("X-CUSTOM", "2")])
    assert [name for name, _ in h] == ["Call-ID", "x-custom", "CSeq", "X-CUSTOM"]
    assert h.fields("X-Custom") == ["1", "2"] and h.get("call-id") == "c"
    h.set("x-custom", "3")  # several fields: one remains, where the first was
    assert list(h) == [("Call-ID", "c"), ("x-custom", "3"), ("CSeq", "1 OPTIONS")]
    h.set("CALL-ID", "d")  # one field: replaced in place, spelling made canonical
    assert next(iter(h)) == ("Call-ID", "d") and len(h) == 3
    assert list(Headers(list(h))) == list(h)


def test_single_names_what_is_missing_or_repeated() -> None:
    h = Headers([("i", "c"), ("To", "<sip:a@h>"), ("t", "<sip:b@h>")])
    assert h.single("Call-ID") == "c"
    with pytest.raises(ParseError, match="missing CSeq"):
        h.single("CSeq")
    with pytest.raises(ParseError, match="more than one To header"):
        h.single("To")


def test_from_parsed_adopts_the_parser_output() -> None:
    items = [("Via", "SIP/2.0/UDP a"), ("Call-ID", "c")]
    keys = ["via", "call-id"]
    h = Headers.from_parsed(items, keys)
    assert h.get("v") == "SIP/2.0/UDP a" and h.get("i") == "c" and list(h) == items
    clone = h.copy()
    clone.add("CSeq", "1 BYE")
    assert "CSeq" not in h and len(h) == 2


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
