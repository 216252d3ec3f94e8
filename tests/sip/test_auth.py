"""Digest authentication (RFC 7616, RFC 3261 §22): vectors, round trips and hostile input."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switch.sip import digest_header
from switch.sip.auth import (
    _HASHES,
    BAD_CREDENTIALS,
    AuthError,
    AuthParams,
    DigestChallenger,
    DigestClient,
    _response,
    ha1,
    parse_authorization,
    parse_www_authenticate,
    render_auth,
)
from switch.sip.errors import ParseError

SECRET = b"0123456789abcdef-cluster-secret"
REALM = "switchboard.test"
URI = "sip:switchboard.test"
ACCOUNTS = {"1001": "s3cret", "1002": "other"}


def lookup(username: str, realm: str, algorithm: str) -> str | None:
    password = ACCOUNTS.get(username)
    return None if password is None else ha1(username, realm, password, algorithm)


def server(**kw: object) -> DigestChallenger:
    return DigestChallenger(REALM, SECRET, **kw)  # type: ignore[arg-type]


def answer(chal: DigestChallenger, now: float, user: str = "1001", password: str = "s3cret",
           method: str = "REGISTER", uri: str = URI) -> tuple[DigestClient, str]:
    client = DigestClient(user, password)
    return client, client.authorize(chal.challenge(now), method, uri)


# -- published vectors --------------------------------------------------------------------------

RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


@pytest.mark.parametrize(("algorithm", "expected"), [
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
])
def test_rfc7616_section_3_9_1_example(algorithm: str, expected: str) -> None:
    key = ha1("Mufasa", "http-auth@example.org", "Circle of Life", algorithm)
    got = _response(_HASHES[algorithm], key, RFC7616_NONCE, "00000001", RFC7616_CNONCE, "auth",
                    "GET", "/dir/index.html", b"", False)
    assert got == expected


def test_rfc7616_client_reproduces_the_published_authorization() -> None:
    challenge = ('Digest realm="http-auth@example.org", qop="auth, auth-int", '
                 f'algorithm=SHA-256, nonce="{RFC7616_NONCE}", '
                 'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
    client = DigestClient("Mufasa", "Circle of Life", cnonce_source=lambda: RFC7616_CNONCE)
    creds = parse_authorization(client.authorize([challenge], "GET", "/dir/index.html"))
    assert creds.get("response") == (
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
    assert creds.get("nc") == "00000001" and creds.get("qop") == "auth"
    assert creds.get("opaque") == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def test_rfc2617_section_3_5_example() -> None:
    header = ('Digest username="Mufasa", realm="testrealm@host.com", '
              'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
              'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
              'opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    creds = parse_authorization(header)
    p = creds.params
    key = ha1(p["username"], p["realm"], "Circle Of Life")
    assert _response(_HASHES["MD5"], key, p["nonce"], p["nc"], p["cnonce"], p["qop"], "GET",
                     p["uri"], b"", False) == p["response"]


def test_client_prefers_the_strongest_algorithm() -> None:
    chal = server(algorithms=("MD5", "SHA-256"))
    client = DigestClient("1001", "s3cret")
    assert client.choose(chal.challenge(0.0)).get("algorithm") == "SHA-256"


def test_challenge_lists_sha256_first_with_the_same_nonce() -> None:
    values = server().challenge(100.0)
    parsed = [parse_www_authenticate(v)[0] for v in values]
    assert [c.get("algorithm") for c in parsed] == ["SHA-256", "MD5"]
    assert parsed[0].get("nonce") == parsed[1].get("nonce")
    assert all(c.get("qop") == "auth" and c.get("realm") == REALM for c in parsed)
    assert 'qop="auth"' in values[0] and "stale" not in values[0]
    assert "stale=true" in server().challenge(1.0, stale=True)[0]


# -- round trips --------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5", "SHA-256-sess", "MD5-sess"])
def test_round_trip_each_algorithm(algorithm: str) -> None:
    chal = server(algorithms=(algorithm,))
    _, header = answer(chal, 10.0)
    result = chal.verify(header, "REGISTER", lookup, 11.0, request_uri=URI)
    assert result.ok and result.username == "1001" and result.algorithm == algorithm


def test_auth_int_covers_the_body() -> None:
    chal = server(qops=("auth-int",))
    client = DigestClient("1001", "s3cret")
    header = client.authorize(chal.challenge(0.0), "INVITE", URI, body=b"v=0\r\n")
    assert chal.verify(header, "INVITE", lookup, 1.0, body=b"v=0\r\n").ok
    header = client.reauthorize("INVITE", URI, body=b"v=0\r\n")
    assert chal.verify(header, "INVITE", lookup, 1.0, body=b"tampered").reason == BAD_CREDENTIALS


def test_nonce_reuse_with_increasing_nc_is_accepted() -> None:
    chal = server()
    client, header = answer(chal, 0.0)
    assert chal.verify(header, "REGISTER", lookup, 1.0).ok
    for step in range(2, 5):
        again = client.reauthorize("REGISTER", URI)
        assert parse_authorization(again).get("nc") == f"{step:08x}"
        assert chal.verify(again, "REGISTER", lookup, 2.0).ok


def test_another_node_with_the_secret_accepts_the_nonce() -> None:
    node_a, node_b = server(), server()
    _, header = answer(node_a, 50.0)
    assert node_b.verify(header, "REGISTER", lookup, 51.0).ok


def test_rotated_secret_still_verifies() -> None:
    old = server()
    _, header = answer(old, 0.0)
    new = DigestChallenger(REALM, b"a-brand-new-secret-value", old_secrets=(SECRET,))
    assert new.verify(header, "REGISTER", lookup, 1.0).ok


# -- refusals -----------------------------------------------------------------------------------

def test_wrong_password_and_unknown_user_look_the_same() -> None:
    chal = server()
    _, wrong = answer(chal, 0.0, password="guess")
    _, unknown = answer(chal, 0.0, user="9999", password="guess")
    r1 = chal.verify(wrong, "REGISTER", lookup, 1.0)
    r2 = chal.verify(unknown, "REGISTER", lookup, 1.0)
    assert not r1.ok and not r2.ok
    assert (r1.stale, r1.reason) == (r2.stale, r2.reason) == (False, BAD_CREDENTIALS)


def test_expired_nonce_with_right_credentials_is_stale() -> None:
    chal = server(nonce_ttl=30.0)
    _, header = answer(chal, 0.0)
    result = chal.verify(header, "REGISTER", lookup, 31.0)
    assert not result.ok and result.stale and result.username == "1001"


def test_expired_nonce_with_wrong_password_is_not_stale() -> None:
    chal = server(nonce_ttl=30.0)
    _, header = answer(chal, 0.0, password="guess")
    result = chal.verify(header, "REGISTER", lookup, 31.0)
    assert not result.ok and not result.stale and result.reason == BAD_CREDENTIALS


def test_nonce_from_the_future_beyond_skew_is_stale() -> None:
    chal = server(max_clock_skew=5.0)
    _, header = answer(chal, 100.0)
    assert chal.verify(header, "REGISTER", lookup, 90.0).stale
    assert chal.verify(answer(chal, 100.0)[1], "REGISTER", lookup, 97.0).ok


def test_replayed_and_lower_nc_are_refused() -> None:
    chal = server()
    client, first = answer(chal, 0.0)
    second = client.reauthorize("REGISTER", URI)
    assert chal.verify(second, "REGISTER", lookup, 1.0).ok  # nc=2 first
    replay_lower = chal.verify(first, "REGISTER", lookup, 1.0)  # nc=1 afterwards
    replay_same = chal.verify(second, "REGISTER", lookup, 1.0)
    for result in (replay_lower, replay_same):
        assert not result.ok and result.stale and result.reason == "nonce count replayed"


def test_nonce_without_qop_is_single_use() -> None:
    chal = server()
    nonce = chal.make_nonce(0.0)
    rfc2069 = render_auth("Digest", [("realm", REALM), ("nonce", nonce)])
    client = DigestClient("1001", "s3cret")
    header = client.authorize([rfc2069], "REGISTER", URI)
    assert "qop" not in parse_authorization(header).params
    assert chal.verify(header, "REGISTER", lookup, 1.0).ok
    assert chal.verify(header, "REGISTER", lookup, 1.0).reason == "nonce count replayed"


def test_forged_and_tampered_nonces_are_refused() -> None:
    chal = server()
    forger = DigestChallenger(REALM, b"not-the-real-secret-at-all")
    _, header = answer(forger, 0.0)
    assert chal.verify(header, "REGISTER", lookup, 1.0).reason == "nonce not issued by us"
    nonce = chal.make_nonce(0.0)
    raw = bytearray(base64.urlsafe_b64decode(nonce))
    raw[0] ^= 1  # move the issue time: the MAC must catch it
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode()
    client = DigestClient("1001", "s3cret")
    header = client.authorize([f'Digest realm="{REALM}", nonce="{tampered}", qop="auth"'],
                              "REGISTER", URI)
    assert chal.verify(header, "REGISTER", lookup, 1.0).reason == "nonce not issued by us"


def test_wrong_realm_is_refused() -> None:
    other = DigestChallenger("elsewhere", SECRET)
    _, header = answer(other, 0.0)
    assert server().verify(header, "REGISTER", lookup, 1.0).reason == "realm mismatch"


def test_digest_uri_must_match_request_uri_as_a_uri() -> None:
    chal = server()
    client, header = answer(chal, 0.0, uri="sip:SwitchBoard.test;newparam=5")
    # §19.1.4: host case-insensitive, an unknown parameter on one side only is ignored
    assert chal.verify(header, "REGISTER", lookup, 1.0, request_uri="sip:switchboard.test").ok
    other = client.reauthorize("REGISTER", "sip:switchboard.test")
    result = chal.verify(other, "REGISTER", lookup, 1.0, request_uri="sip:evil.test")
    assert result.reason == "digest uri differs from Request-URI"


def test_wrong_method_fails() -> None:
    chal = server()
    _, header = answer(chal, 0.0, method="INVITE")
    assert chal.verify(header, "REGISTER", lookup, 1.0).reason == BAD_CREDENTIALS


def test_opaque_mismatch_and_missing_fields() -> None:
    chal = server()
    _, header = answer(chal, 0.0)
    creds = parse_authorization(header)
    creds.params["opaque"] = "nope"
    assert chal.verify_params(creds, "REGISTER", lookup, 1.0).reason == "opaque mismatch"
    del creds.params["response"]
    assert not chal.verify_params(creds, "REGISTER", lookup, 1.0).ok
    assert not chal.verify('Basic dXNlcjpwYXNz', "REGISTER", lookup, 1.0).ok


def test_algorithm_not_offered_and_bad_nc() -> None:
    chal = server(algorithms=("SHA-256",))
    md5 = DigestChallenger(REALM, SECRET, algorithms=("MD5",))
    _, header = answer(md5, 0.0)
    assert "not offered" in chal.verify(header, "REGISTER", lookup, 1.0).reason
    _, header = answer(chal, 0.0)
    bad_nc = header.replace("nc=00000001", "nc=1")
    assert chal.verify(bad_nc, "REGISTER", lookup, 1.0).reason == "qop without valid nc and cnonce"


def test_non_hex_response_is_just_bad_credentials() -> None:
    chal = server()
    _, header = answer(chal, 0.0)
    creds = parse_authorization(header)
    creds.params["response"] = "ü" * 64
    assert chal.verify_params(creds, "REGISTER", lookup, 1.0).reason == BAD_CREDENTIALS


def test_replay_map_is_bounded_and_eviction_does_not_reopen_replays() -> None:
    chal = server(max_nonces=3)
    headers = [answer(chal, float(t))[1] for t in range(5)]
    for header in headers:
        assert chal.verify(header, "REGISTER", lookup, 10.0).ok
    assert chal.tracked_nonces == 3
    for header in headers:  # evicted or not, every replay is refused
        assert not chal.verify(header, "REGISTER", lookup, 10.0).ok
    assert chal.verify(answer(chal, 6.0)[1], "REGISTER", lookup, 10.0).ok


def test_evicted_nonce_sets_the_floor_at_its_issue_time() -> None:
    # The replay map is keyed by the nonce's payload as an int; the floor is read back from it.
    chal = server(max_nonces=1)
    first, second = answer(chal, 1.25)[1], answer(chal, 2.5)[1]
    assert chal.verify(first, "REGISTER", lookup, 3.0).ok
    assert chal.verify(second, "REGISTER", lookup, 3.0).ok  # evicts the first
    assert chal.tracked_nonces == 1
    assert chal._floor_ms == 1250
    # a nonce issued at the floor (never used) is refused as stale, a later one is accepted
    at_floor, later = answer(chal, 1.25)[1], answer(chal, 2.75)[1]
    refused = chal.verify(at_floor, "REGISTER", lookup, 3.0)
    assert not refused.ok and refused.stale
    assert chal.verify(later, "REGISTER", lookup, 3.0).ok


# -- header parsing -----------------------------------------------------------------------------

def test_parse_quoted_escapes_tokens_and_spacing() -> None:
    creds = parse_authorization(
        'Digest  username = "a\\"b\\\\c" ,realm="r, with comma",nonce=abc,, uri="sip:x"')
    assert creds.scheme == "Digest"
    assert creds.params == {"username": 'a"b\\c', "realm": "r, with comma", "nonce": "abc",
                            "uri": "sip:x"}
    rendered = render_auth("Digest", list(creds.params.items()))
    assert parse_authorization(rendered) == creds


def test_parse_credentials_as_the_node_sees_them() -> None:
    # (was headers.parse_credentials' test: commas inside quotes, lower-cased names, tokens)
    creds = parse_authorization(
        'Digest username="1001", realm="a, b", NC=00000001, qop=auth, uri="sip:h"')
    assert creds.scheme == "Digest" and creds.is_digest
    assert creds.params == {"username": "1001", "realm": "a, b", "nc": "00000001",
                            "qop": "auth", "uri": "sip:h"}
    assert creds.get("Realm") == "a, b"
    with pytest.raises(ParseError):
        parse_authorization('Digest username="x')


def test_parse_the_benchmark_register_credentials() -> None:
    from bench.bench_parser import REGISTER

    value = REGISTER.split(b"Authorization: ", 1)[1].split(b"\r\n", 1)[0].decode()
    creds = parse_authorization(value)
    assert creds.get("username") == "1001" and creds.get("nc") == "00000002"
    assert creds.get("response") == "8a2b7f0c1d9e3a4b5c6d7e8f90a1b2c3"


# The one-step parameter match with the quoted-string content as RFC 3261 §25.1 writes it (an
# alternation per character); digest_header uses the unrolled, faster equivalent.
_TOKEN_CHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM_AS_WRITTEN = re.compile(
    rf'[ \t\r\n]*({_TOKEN_CHARS})[ \t\r\n]*=[ \t\r\n]*'
    rf'(?:"((?:[^"\\\r\n\x00]|\\[^\r\n\x00])*)"|({_TOKEN_CHARS}))[ \t\r\n]*(,|\Z)')


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.sampled_from('ab "\\\r\n\x00,=é\t'), max_size=24))
def test_unrolled_parameter_match_equals_the_grammar(tail: str) -> None:
    for text in (tail, f'realm="{tail}', f"realm={tail}", f'r = "a\\{tail}'):
        fast = digest_header._PARAM_FAST.match(text)
        written = _PARAM_AS_WRITTEN.match(text)
        assert (fast and (fast.groups(), fast.end())) == (written and (written.groups(),
                                                                        written.end()))


def test_parse_username_star() -> None:
    creds = parse_authorization("Digest username*=UTF-8''J%C3%A4s%C3%B8n, realm=x")
    assert creds.get("username") == "Jäsøn"


def test_parse_several_challenges_in_one_value() -> None:
    challenges = parse_www_authenticate(
        'Digest realm="a", nonce="n1", algorithm=SHA-256, Basic realm="b"')
    assert [c.scheme for c in challenges] == ["Digest", "Basic"]
    assert challenges[1].params == {"realm": "b"}


@pytest.mark.parametrize("bad", [
    "", "Digest realm=", 'Digest realm="open', 'Digest realm="a" nonce="b"', "Digest =x",
    'Digest realm="a", realm="b"', "Digest realm=a b", "Dig\x00est realm=a",
    "Digest username*=latin1''x", "Digest username*=UTF-8''%zz", 'Digest realm="a\\',
    "Digest realm=" + "a" * 9000, 'Digest realm="bad\r\nline"',
])
def test_malformed_headers_raise_auth_error(bad: str) -> None:
    with pytest.raises(AuthError) as info:
        parse_authorization(bad)
    assert isinstance(info.value, ParseError) and info.value.status == 400
    assert not server().verify(bad, "REGISTER", lookup, 0.0).ok


def test_client_skips_challenges_it_cannot_parse() -> None:
    chal = server()
    values = ["Negotiate YII==", *chal.challenge(0.0)]
    header = DigestClient("1001", "s3cret").authorize(values, "REGISTER", URI)
    assert chal.verify(header, "REGISTER", lookup, 1.0).ok


def test_client_refuses_unusable_challenges() -> None:
    client = DigestClient("1001", "x")
    with pytest.raises(AuthError):
        client.authorize(['Digest realm="a", nonce="n", algorithm=SHA-1', 'Basic realm="a"'],
                         "REGISTER", URI)
    with pytest.raises(AuthError):
        client.reauthorize("REGISTER", URI)
    assert "x" not in repr(client).replace("DigestClient", "")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from('Digest realm=",\\ \tnoce\x00\r\nü*\'%'), max_size=80))
def test_fuzz_parser_raises_only_auth_error(text: str) -> None:
    for parse in (parse_authorization, parse_www_authenticate):
        with contextlib.suppress(AuthError):
            parse(text)
    assert not server().verify(text, "REGISTER", lookup, 0.0).ok


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_fuzz_any_text(text: str) -> None:
    try:
        result = parse_authorization(text)
        assert isinstance(result, AuthParams)
    except AuthError:
        pass
    server().verify(text, "REGISTER", lookup, 0.0)


def test_non_utf8_username_from_the_wire_hashes_its_octets() -> None:
    # headers are decoded with surrogateescape: the octet 0xff arrives as "\udcff"
    name = "caf\udcff"
    accounts = {name: "pw"}

    def lookup_raw(username: str, realm: str, algorithm: str) -> str | None:
        password = accounts.get(username)
        return None if password is None else ha1(username, realm, password, algorithm)

    chal = server()
    client = DigestClient(name, "pw")
    header = client.authorize(chal.challenge(0.0), "REGISTER", URI)
    assert chal.verify(header, "REGISTER", lookup_raw, 1.0).ok
    expected = hashlib.md5(b"caf\xff:" + REALM.encode() + b":pw").hexdigest()
    assert ha1(name, REALM, "pw", "MD5") == expected


_WORD = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                max_size=20)


@settings(max_examples=100, deadline=None)
@given(_WORD, _WORD, st.sampled_from(["SHA-256", "MD5", "MD5-sess"]))
def test_round_trip_any_account(username: str, password: str, algorithm: str) -> None:
    chal = server(algorithms=(algorithm,))

    def one_account(user: str, realm: str, alg: str) -> str | None:
        return ha1(user, realm, password, alg) if user == username else None

    header = DigestClient(username, password).authorize(chal.challenge(0.0), "INVITE", URI)
    assert parse_authorization(header).get("username") == username
    assert chal.verify(header, "INVITE", one_account, 1.0, request_uri=URI).ok


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
                       st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
                               max_size=30), max_size=6))
def test_render_parse_round_trip(params: dict[str, str]) -> None:
    params.pop("username*", None)
    value = render_auth("Digest", list(params.items()), quote=params.keys())
    assert parse_authorization(value).params == params
