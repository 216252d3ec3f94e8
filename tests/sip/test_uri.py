"""SIP URIs: parsing (RFC 3261 §19.1, §25.1; RFC 5118) and comparison (§19.1.4)."""

from __future__ import annotations

import pytest

from switch.sip.errors import ParseError
from switch.sip.uri import AbsoluteUri, SipUri, parse_sip_uri, parse_uri

# RFC 3261 §19.1.4: "The URIs within each of the following sets are equivalent"
EQUAL = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
]
# "The URIs within each of the following sets are not equivalent"
NOT_EQUAL = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    # "equality is not transitive"
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_rfc3261_equal_pairs(a: str, b: str) -> None:
    assert parse_sip_uri(a).matches(parse_sip_uri(b))
    assert parse_sip_uri(b).matches(parse_sip_uri(a))


@pytest.mark.parametrize(("a", "b"), NOT_EQUAL)
def test_rfc3261_unequal_pairs(a: str, b: str) -> None:
    assert not parse_sip_uri(a).matches(parse_sip_uri(b))
    assert not parse_sip_uri(b).matches(parse_sip_uri(a))


def test_other_comparison_rules() -> None:
    # maddr, user, ttl and method present in only one URI make them differ
    for param in ("maddr=10.0.0.1", "user=phone", "ttl=1", "method=INVITE"):
        assert not parse_sip_uri("sip:a@h").matches(parse_sip_uri(f"sip:a@h;{param}"))
    assert not parse_sip_uri("sip:a@h").matches(parse_sip_uri("sips:a@h"))
    assert not parse_sip_uri("sip:a:pw@h").matches(parse_sip_uri("sip:a@h"))
    assert parse_sip_uri("sip:a@[2001:db8::1]").matches(parse_sip_uri("sip:a@[2001:DB8:0::1]"))


def test_user_part_may_hold_semicolons_and_question_marks() -> None:
    uri = parse_sip_uri("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u%40example.net" and uri.host == "example.com"
    uri = parse_sip_uri("sip:a?b/c$d@example.com;lr?X=1")
    assert (uri.user, uri.params, uri.headers) == ("a?b/c$d", (("lr", None),), (("X", "1"),))


def test_escapes_are_kept_and_unescaped_on_demand() -> None:
    uri = parse_sip_uri("sip:sips%3Auser%40example.com@example.net")
    assert uri.user == "sips%3Auser%40example.com"
    assert uri.user_unescaped == "sips:user@example.com"
    assert str(uri) == "sip:sips%3Auser%40example.com@example.net"


@pytest.mark.parametrize(("text", "host", "port"), [
    ("sip:[2001:db8::10]", "[2001:db8::10]", None),
    ("sip:[2001:db8::10]:5070", "[2001:db8::10]", 5070),
    ("sip:[2001:db8::10:5070]", "[2001:db8::10:5070]", None),
    ("sip:u@[::ffff:192.0.2.2]:5060;transport=tcp", "[::ffff:192.0.2.2]", 5060),
    ("sip:u@[2001:db8:::192.0.2.1]", "[2001:db8:::192.0.2.1]", None),  # RFC 5118 §4.10
])
def test_ipv6_references(text: str, host: str, port: int | None) -> None:
    uri = parse_sip_uri(text)
    assert (uri.host, uri.port) == (host, port)
    assert uri.is_ipv6


@pytest.mark.parametrize("text", [
    "sip:2001:db8::10", "sip:[2001:db8::10", "sip:[2001:db8::g]", "sip:[1:::2]",
    "sip:[2001:db8::1:::192.0.2.1]", "sip:a@h:99999", "sip:a@h:x", "sip:@h", "sip:a@",
    "sip:a b@h", "sip:<a@h>", "sip:a@h;", "sip:a@h;=x", "sip:a@h?x", "nodata", ":x", "sip:",
])
def test_malformed_uris_are_refused(text: str) -> None:
    with pytest.raises(ParseError):
        parse_uri(text)


def test_other_schemes_are_opaque() -> None:
    uri = parse_uri("tel:+1-201-555-0123")
    assert isinstance(uri, AbsoluteUri) and str(uri) == "tel:+1-201-555-0123"
    with pytest.raises(ParseError) as caught:
        parse_sip_uri("nobodyKnowsThisScheme:totallyopaquecontent")
    assert caught.value.status == 416


def test_with_params_and_aor() -> None:
    uri = parse_sip_uri("sip:%61lice@AtLanTa.com:5070;transport=tcp")
    assert uri.aor() == "sip:alice@atlanta.com"
    assert uri.with_params(transport="udp", lr=None).params == (("transport", "udp"),
                                                                ("lr", None))
    assert isinstance(uri.without_params("transport"), SipUri)
    assert uri.transport == "tcp"
