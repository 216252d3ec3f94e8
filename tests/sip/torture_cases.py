"""What RFC 4475 §3 and RFC 5118 §4 say about each torture message: the single source of truth.

Each :class:`TortureCase` names a fixture under ``tests/sip/torture/`` and records:

- ``valid``: the RFC's verdict on the message. Valid messages must parse and ``validate()``
  (and their structured views must read); invalid ones must raise ``ParseError`` from
  ``parse_message`` or ``validate()``.
- ``parse_checks``: for valid messages, a function asserting the fields the test is about
  (the escaped URIs, odd header spellings, multipart parts, IPv6 references).
- ``udp_answer``: what a node (UAS, registrar and proxy for its own domain) sends back when the
  message arrives over UDP: the final status code (provisional responses such as 100 Trying
  are ignored), ``"drop"`` when no response must be sent, or a tuple of acceptable outcomes
  (first is what the RFC prefers) where the RFC leaves a choice or the answer depends on node
  policy (an unauthenticated INVITE or REGISTER is challenged or refused before its content
  is looked at; a Request-URI outside the node's domains gets 404).
- ``rfc_note``: the RFC's reasoning, paraphrased.

``status`` is the ``ParseError.status`` the parser raises for invalid messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from switch.sip.message import Request, Response
from switch.sip.uri import SipUri, parse_sip_uri

TORTURE_DIR = Path(__file__).resolve().parent / "torture"

Outcome = int | Literal["drop"]
Answer = Outcome | tuple[Outcome, ...]
Message = Request | Response

# Acceptable answers of the node for valid requests, by kind (node policy decides among them).
OPTIONS_ANSWER: tuple[Outcome, ...] = (200, 401, 403, 404, 407)
REGISTER_ANSWER: tuple[Outcome, ...] = (401, 403, 404)  # registrations always need auth
INVITE_ANSWER: tuple[Outcome, ...] = (401, 403, 404, 407, 480, 488)
# An INVITE whose To already carries a tag is a mid-dialog request; with no such dialog the
# node answers 481 (RFC 3261 §12.2.2), which is as correct as any out-of-dialog answer above.
IN_DIALOG_INVITE_ANSWER: tuple[Outcome, ...] = (481, *INVITE_ANSWER)
UNKNOWN_METHOD: tuple[Outcome, ...] = (501, 405)  # RFC 3261 §8.2.1; 501 when not recognised


@dataclass(frozen=True)
class TortureCase:
    file: str
    section: str
    valid: bool
    udp_answer: Answer
    rfc_note: str
    parse_checks: Callable[[Message], None] | None = None
    status: int = 400

    @property
    def name(self) -> str:
        return self.file.rsplit("/", 1)[-1].removesuffix(".dat")

    @property
    def path(self) -> Path:
        return TORTURE_DIR / self.file

    def data(self) -> bytes:
        return self.path.read_bytes()

    def acceptable(self) -> tuple[Outcome, ...]:
        """``udp_answer`` as a tuple of acceptable outcomes."""
        return self.udp_answer if isinstance(self.udp_answer, tuple) else (self.udp_answer,)


# --------------------------------------------------------------------------------------------
# Field checks of the valid messages


def _req(m: Message) -> Request:
    assert isinstance(m, Request), m
    return m


def _sip(uri: object) -> SipUri:
    assert isinstance(uri, SipUri), uri
    return uri


def _wsinv(m: Message) -> None:
    r = _req(m)
    assert r.method == "INVITE"
    assert _sip(r.uri).host == "chair-dnrc.example.com" and r.uri.has_param("unknownparam")
    assert r.to.tag == "1918181833n" and r.from_.tag == "98asjd8"
    assert r.from_.display_name == 'J Rosenberg \\"'
    assert r.header_int("Max-Forwards") == 68
    assert r.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert (r.cseq.seq, r.cseq.method) == (9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in r.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"), ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239")]
    assert r.headers.get("Subject") == ""  # "s :" compact form, empty value
    assert r.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert r.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    (contact,) = r.contacts
    assert contact.display_name == 'Quoted string ""' and contact.param("q") == "0.33"
    assert contact.param("newparam") == "newvalue" and contact.param("secondparam") == ""
    assert r.content_type == "application/sdp" and len(r.body) == 150


def _intmeth(m: Message) -> None:
    r = _req(m)
    assert r.method == "!interesting-Method0123456789_*+`.%indeed'~"
    uri = _sip(r.uri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com" and not uri.params and not uri.headers
    assert r.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert _sip(r.to.uri).user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert r.from_.display == "token1~` token2'+_ token3*%!.-"
    assert r.from_.param("fromParam''~+*_!.-%") == '"работающий"'
    assert r.from_.tag == "_token~1'+`*%!-."
    assert r.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert r.cseq.method == r.method
    assert r.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert r.top_via.branch == "z9hG4bK-.!%66*_+`'~"


def _esc01(m: Message) -> None:
    r = _req(m)
    uri = _sip(r.uri)
    assert uri.user_unescaped == "sips:user@example.com" and uri.host == "example.net"
    assert _sip(r.to.uri).matches(parse_sip_uri("sip:user@example.com"))
    assert _sip(r.from_.uri).user_unescaped == "I have spaces"
    (contact,) = r.contacts
    assert _sip(contact.uri).matches(
        parse_sip_uri("sip:caller@host5.example.net;lr;name=value%2541"))
    assert r.call_id == "esc01.239409asdfakjkn23onasd0-3234"  # "i:" compact form


def _escnull(m: Message) -> None:
    r = _req(m)
    assert _sip(r.to.uri).user_unescaped == "null-\x00-null"
    assert [_sip(c.uri).user_unescaped for c in r.contacts] == ["\x00", "\x00\x00"]


def _esc02(m: Message) -> None:
    r = _req(m)
    assert r.method == "RE%47IST%45R" and r.method != "REGISTER"
    assert r.cseq.method == "RE%47IST%45R"
    assert r.to.display_name == "%Z%45"
    # "C%6Fntact" is another header, not Contact: the names are not unescaped
    assert len(r.contacts) == 2
    assert r.headers.fields("C%6Fntact") == ["<sip:alias2@host2.example.com>"]
    assert r.top_via.branch == "z9hG4bK209%fzsnel234"


def _lwsdisp(m: Message) -> None:
    r = _req(m)
    assert r.from_.display == "caller" and r.from_.tag == "323"


def _longreq(m: Message) -> None:
    r = _req(m)
    assert len(r.vias) == 34 and r.top_via.host == "sip33.example.com"
    assert r.to.display_name is not None and "extremeextreme" in r.to.display_name
    assert _sip(r.to.uri).port == 6000
    assert r.from_.tag is not None and len(r.from_.tag) > 100
    assert r.call_id.startswith("longreq.onereally")
    assert r.headers.get("Unknown-" + "Long" * 20 + "-Name") is not None
    assert _sip(r.contacts[0].uri).user is not None and r.content_type == "application/sdp"


def _dblreq(m: Message) -> None:
    r = _req(m)
    assert r.method == "REGISTER" and r.body == b""  # the INVITE after it is ignored


def _semiuri(m: Message) -> None:
    uri = _sip(_req(m).uri)
    assert uri.user == "user;par=u%40example.net" and uri.host == "example.com"
    assert not uri.params
    assert _req(m).headers.getall("Accept")[-1] == "message/sipfrag"


def _transports(m: Message) -> None:
    assert [v.transport for v in _req(m).vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def _mpart01(m: Message) -> None:
    r = _req(m)
    assert r.method == "MESSAGE" and r.content_type == "multipart/mixed"
    text, binary = r.parts
    assert text.content_type == "text/plain" and text.body == b"Hello"
    assert binary.content_type == "application/octet-stream"
    assert len(binary.body) == 342 and b"\x00" in binary.body
    assert r.top_via.rport == ""


def _unreason(m: Message) -> None:
    assert isinstance(m, Response) and m.status == 200
    assert m.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"


def _noreason(m: Message) -> None:
    assert isinstance(m, Response) and (m.status, m.reason) == (100, "")


def _badbranch(m: Message) -> None:
    assert _req(m).top_via.branch == "z9hG4bK"


def _unkscm(m: Message) -> None:
    uri = _req(m).uri
    assert not isinstance(uri, SipUri) and uri.scheme == "nobodyknowsthisscheme"


def _novelsc(m: Message) -> None:
    uri = _req(m).uri
    assert not isinstance(uri, SipUri) and str(uri) == "soap.beep://192.0.2.103:3002"


def _unksm2(m: Message) -> None:
    r = _req(m)
    assert str(r.to.uri) == "isbn:2983792873" and str(r.from_.uri) == "http://www.example.com"
    assert str(r.contacts[0].uri) == "name:John_Smith"


def _bext01(m: Message) -> None:
    r = _req(m)
    assert r.headers.getall("Require") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert len(r.headers.getall("Proxy-Require")) == 2


def _invut(m: Message) -> None:
    assert _req(m).content_type == "application/unknownformat"


def _regaut01(m: Message) -> None:
    assert _req(m).headers.get("Authorization") == "NoOneKnowsThisScheme opaque-data=here"


def _bcast(m: Message) -> None:
    assert isinstance(m, Response) and m.vias[1].host == "255.255.255.255"


def _zeromf(m: Message) -> None:
    assert _req(m).header_int("Max-Forwards") == 0


def _cparam01(m: Message) -> None:
    (contact,) = _req(m).contacts
    # addr-spec form: ";unknownparam" is a contact parameter, not a URI parameter
    assert not _sip(contact.uri).params and contact.param("unknownparam") == ""


def _cparam02(m: Message) -> None:
    (contact,) = _req(m).contacts
    assert _sip(contact.uri).has_param("unknownparam") and not contact.params


def _regescrt(m: Message) -> None:
    (contact,) = _req(m).contacts
    assert _sip(contact.uri).headers == (("Route", "%3Csip:sip.example.com%3E"),)


def _sdp01(m: Message) -> None:
    assert _req(m).headers.get("Accept") == "text/nobodyKnowsThis"


def _inv2543(m: Message) -> None:
    r = _req(m)
    assert r.top_via.branch is None and r.from_.tag is None
    assert "Max-Forwards" not in r.headers
    assert r.body.startswith(b"v=0")


def _ipv6_good(m: Message) -> None:
    r = _req(m)
    assert _sip(r.uri).host == "[2001:db8::10]" and _sip(r.uri).port is None
    assert r.top_via.host == "[2001:db8::9:1]"
    assert _sip(r.contacts[0].uri).host_address == "2001:db8::1"


def _port_ambiguous(m: Message) -> None:
    uri = _sip(_req(m).uri)
    assert uri.host == "[2001:db8::10:5070]" and uri.port is None


def _port_unambiguous(m: Message) -> None:
    uri = _sip(_req(m).uri)
    assert uri.host == "[2001:db8::10]" and uri.port == 5070


def _received_delim(m: Message) -> None:
    via = _req(m).top_via
    assert via.received == "[2001:db8::9:255]" and via.received_host == "2001:db8::9:255"


def _received_no_delim(m: Message) -> None:
    via = _req(m).top_via
    assert via.received == "2001:db8::9:255" and via.received_host == "2001:db8::9:255"
    assert via.branch == "z9hG4bKas3"


def _sdp_v6(m: Message) -> None:
    r = _req(m)
    assert r.content_type == "application/sdp" and b"IP6" in r.body
    # Content-Length is smaller than what follows (see the fixtures' README): body is cut
    assert len(r.body) == int(r.headers.get("Content-Length") or -1)


def _mult_ip_header(m: Message) -> None:
    vias = _req(m).vias
    assert [(v.host, v.port) for v in vias] == [
        ("[2001:db8::9:1]", 6050), ("192.0.2.1", None), ("[2001:db8::9:255]", None)]
    assert vias[2].received == "192.0.2.200"


def _mapped(m: Message) -> None:
    r = _req(m)
    assert [(v.host, v.port) for v in r.vias] == [
        ("[::ffff:192.0.2.10]", 19823), ("[::ffff:192.0.2.2]", None)]
    assert _sip(r.contacts[0].uri).host_address == "::ffff:c000:202"
    _sdp_v6(m)


def _abnf_3(m: Message) -> None:
    r = _req(m)
    # RFC 5118 §4.10: tolerated, and it names the same address as the two-colon form
    assert _sip(r.uri).host == "[2001:db8:::192.0.2.1]"
    assert _sip(r.uri).host_address == "2001:db8::c000:201"
    assert _sip(r.uri).matches(parse_sip_uri("sip:user@[2001:db8::192.0.2.1]"))


def _abnf_2(m: Message) -> None:
    assert _sip(_req(m).uri).host_address == "2001:db8::c000:201"
    assert _sip(_req(m).to.uri).host == "[2001:db8::192.0.2.1]"


# --------------------------------------------------------------------------------------------
# The table


def _c(file: str, section: str, valid: bool, answer: Answer, note: str,
       checks: Callable[[Message], None] | None = None, status: int = 400) -> TortureCase:
    return TortureCase(file, section, valid, answer, note, checks, status)


R = "rfc4475/"
V6 = "rfc5118/"

CASES: tuple[TortureCase, ...] = (
    # ---- RFC 4475 §3.1.1: valid messages
    _c(R + "wsinv.dat", "RFC 4475 §3.1.1.1", True, IN_DIALOG_INVITE_ANSWER,
       "Short tortuous INVITE: folding, odd whitespace, compact forms, escaped quotes, unknown"
       " headers and params. Must parse.", _wsinv),
    _c(R + "intmeth.dat", "RFC 4475 §3.1.1.2", True, UNKNOWN_METHOD,
       "Every legal character in method, URI user/password, display names, tags, Call-ID and"
       " header names; NUL/BEL/DEL as quoted-pairs. Must parse; the method is unknown.",
       _intmeth),
    _c(R + "esc01.dat", "RFC 4475 §3.1.1.3", True, INVITE_ANSWER,
       "Valid % escaping in Request-URI, To, From and Contact; To equals sip:user@example.com"
       " after unescaping.", _esc01),
    _c(R + "escnull.dat", "RFC 4475 §3.1.1.4", True, REGISTER_ANSWER,
       "Escaped NULs (%00) in URIs are legal and must not truncate anything.", _escnull),
    _c(R + "esc02.dat", "RFC 4475 §3.1.1.5", True, UNKNOWN_METHOD,
       "% that is not an escape: the method RE%47IST%45R is not REGISTER (unknown, 501) and"
       " C%6Fntact is not Contact.", _esc02),
    _c(R + "lwsdisp.dat", "RFC 4475 §3.1.1.6", True, OPTIONS_ANSWER,
       "No LWS between a token display name and <. Legal.", _lwsdisp),
    _c(R + "longreq.dat", "RFC 4475 §3.1.1.7", True, INVITE_ANSWER,
       "Very long header values, names and many Via spellings; must not be truncated.",
       _longreq),
    _c(R + "dblreq.dat", "RFC 4475 §3.1.1.8", True, REGISTER_ANSWER,
       "A REGISTER with Content-Length 0 and an INVITE after it in the same datagram: process"
       " the REGISTER, ignore the trailing octets (one answer only).", _dblreq),
    _c(R + "semiuri.dat", "RFC 4475 §3.1.1.9", True, OPTIONS_ANSWER,
       "';par=u%40example.net' is part of the user, not a URI parameter.", _semiuri),
    _c(R + "transports.dat", "RFC 4475 §3.1.1.10", True, OPTIONS_ANSWER,
       "Via transports UDP, SCTP, TLS, UNKNOWN, TCP are all legal tokens.", _transports),
    _c(R + "mpart01.dat", "RFC 4475 §3.1.1.11", True,
       (405, 501, 200, 202, 401, 403, 404, 407, 415),
       "MESSAGE with a multipart/mixed body whose binary part holds NULs: frame by"
       " Content-Length, accept as well formed.", _mpart01),
    _c(R + "unreason.dat", "RFC 4475 §3.1.1.12", True, "drop",
       "Response with a UTF-8 reason phrase; legal. A stray response is dropped.", _unreason),
    _c(R + "noreason.dat", "RFC 4475 §3.1.1.13", True, "drop",
       "Response with an empty reason phrase; legal. A stray response is dropped.", _noreason),
    # ---- RFC 4475 §3.1.2: invalid messages
    _c(R + "badinv01.dat", "RFC 4475 §3.1.2.1", False, 400,
       "Extra ';' and ',' without parameters in Via and Contact: 400."),
    _c(R + "clerr.dat", "RFC 4475 §3.1.2.2", False, 400,
       "Content-Length larger than the body: over UDP answer 400."),
    _c(R + "ncl.dat", "RFC 4475 §3.1.2.3", False, 400,
       "Negative Content-Length: answer an error (400); over TCP close the connection."),
    _c(R + "scalar02.dat", "RFC 4475 §3.1.2.4", False, 400,
       "CSeq of 2**65 (and overlarge Max-Forwards/Expires): 400 because of the CSeq."),
    _c(R + "scalarlg.dat", "RFC 4475 §3.1.2.5", False, "drop",
       "Response with overlarge CSeq, Retry-After and warn-code: discard it."),
    _c(R + "quotbal.dat", "RFC 4475 §3.1.2.6", False, 400,
       "Unterminated quoted display name in To: 400."),
    _c(R + "ltgtruri.dat", "RFC 4475 §3.1.2.7", False, 400,
       "Request-URI enclosed in <>: 400."),
    _c(R + "lwsruri.dat", "RFC 4475 §3.1.2.8", False, 400,
       "LWS inside the Request-URI: 400."),
    _c(R + "lwsstart.dat", "RFC 4475 §3.1.2.9", False, 400,
       "Several SP between Request-Line elements: rejecting as malformed is acceptable."),
    _c(R + "trws.dat", "RFC 4475 §3.1.2.10", False, 400,
       "SP after SIP-Version at the end of the Request-Line: rejecting is acceptable."),
    _c(R + "escruri.dat", "RFC 4475 §3.1.2.11", False, 400,
       "Escaped headers in the Request-URI are not allowed: 400."),
    _c(R + "baddate.dat", "RFC 4475 §3.1.2.12", False, 400,
       "Date with a non-GMT zone violates the grammar: 400 is reasonable."),
    _c(R + "regbadct.dat", "RFC 4475 §3.1.2.13", False, 400,
       "Contact URI with escaped headers not enclosed in <>: 400 is reasonable."),
    _c(R + "badaspec.dat", "RFC 4475 §3.1.2.14", False, 400,
       "Whitespace inside <> around the addr-spec in To: 400."),
    _c(R + "baddn.dat", "RFC 4475 §3.1.2.15", False, 400,
       "Unquoted display names with non-token characters (a comma): 400."),
    _c(R + "badvers.dat", "RFC 4475 §3.1.2.16", False, 505,
       "SIP/7.0: 505 Version Not Supported.", status=505),
    _c(R + "mismatch01.dat", "RFC 4475 §3.1.2.17", False, 400,
       "CSeq method differs from the Request-Line method: 400."),
    _c(R + "mismatch02.dat", "RFC 4475 §3.1.2.18", False, (501, 400),
       "Unknown method and a CSeq method mismatch: 501 preferred, 400 acceptable."),
    _c(R + "bigcode.dat", "RFC 4475 §3.1.2.19", False, "drop",
       "Response code 4294967301 (not 3 digits): drop the response."),
    # ---- RFC 4475 §3.2: transaction layer
    _c(R + "badbranch.dat", "RFC 4475 §3.2.1", True, (400, *OPTIONS_ANSWER),
       "branch is only the magic cookie: may be rejected with 400 (statelessly) or treated"
       " as an RFC 2543 transaction.", _badbranch),
    # ---- RFC 4475 §3.3: application layer
    _c(R + "insuf.dat", "RFC 4475 §3.3.1", False, (400, "drop"),
       "No Call-ID, From or To: must not break; ideally answer 400."),
    _c(R + "unkscm.dat", "RFC 4475 §3.3.2", True, 416,
       "Unknown scheme in the Request-URI: well formed; answer 416.", _unkscm),
    _c(R + "novelsc.dat", "RFC 4475 §3.3.3", True, (416, 404),
       "Registered but unusual scheme soap.beep: 416 if never accepted, else 404.", _novelsc),
    _c(R + "unksm2.dat", "RFC 4475 §3.3.4", True, 400,
       "Non-SIP schemes in To/From/Contact parse; a registrar answers 400 (To must be a SIP"
       " or SIPS AOR).", _unksm2),
    _c(R + "bext01.dat", "RFC 4475 §3.3.5", True, 420,
       "Unknown options in Require and Proxy-Require: 420 with Unsupported.", _bext01),
    _c(R + "invut.dat", "RFC 4475 §3.3.6", True, (415, *INVITE_ANSWER),
       "Body of unknown type: an endpoint answers 415 (after auth and Request-URI checks).",
       _invut),
    _c(R + "regaut01.dat", "RFC 4475 §3.3.7", True, REGISTER_ANSWER,
       "Authorization with an unknown scheme: a registrar that authenticates challenges (401)"
       " with a scheme it understands.", _regaut01),
    _c(R + "multi01.dat", "RFC 4475 §3.3.8", False, 400,
       "Several Call-ID, To, From, Max-Forwards and CSeq values: 400."),
    _c(R + "mcl01.dat", "RFC 4475 §3.3.9", False, 400,
       "Several Content-Length values: answer an error; over TCP close the connection."),
    _c(R + "bcast.dat", "RFC 4475 §3.3.10", True, "drop",
       "200 OK whose second Via is 255.255.255.255: well formed, but drop it (never forward"
       " to a broadcast address).", _bcast),
    _c(R + "zeromf.dat", "RFC 4475 §3.3.11", True, (200, 483, 401, 403, 404, 407),
       "Max-Forwards 0 on OPTIONS: a proxy answers 483, an endpoint processes it (200).",
       _zeromf),
    _c(R + "cparam01.dat", "RFC 4475 §3.3.12", True, REGISTER_ANSWER,
       "Contact in addr-spec form: ';unknownparam' is a contact-param, not a URI param.",
       _cparam01),
    _c(R + "cparam02.dat", "RFC 4475 §3.3.13", True, REGISTER_ANSWER,
       "Contact in name-addr form: ';unknownparam' inside <> is a URI parameter.",
       _cparam02),
    _c(R + "regescrt.dat", "RFC 4475 §3.3.14", True, REGISTER_ANSWER,
       "Contact URI with an escaped Route header inside <>: legal.", _regescrt),
    _c(R + "sdp01.dat", "RFC 4475 §3.3.15", True, (406, 400, *INVITE_ANSWER),
       "Accept lacks application/sdp: 406 (or 400, as every INVITE UA must support SDP).",
       _sdp01),
    # ---- RFC 4475 §3.4: backward compatibility
    _c(R + "inv2543.dat", "RFC 4475 §3.4.1", True, INVITE_ANSWER,
       "RFC 2543 INVITE: no branch, no From tag, no Content-Length, no Max-Forwards; accept.",
       _inv2543),
    # test.dat is in the RFC 4475 archive but no section describes it
    _c(R + "test.dat", "RFC 4475 archive (undescribed)", False, "drop",
       "Request-Line without SIP-Version, a header line without a colon, no Via: malformed,"
       " and without a Via no response can be routed."),
    # ---- RFC 5118 §4: IPv6
    _c(V6 + "ipv6-good.dat", "RFC 5118 §4.1", True, REGISTER_ANSWER,
       "IPv6 references in Request-URI, Via and Contact.", _ipv6_good),
    _c(V6 + "ipv6-bad.dat", "RFC 5118 §4.2", False, 400,
       "IPv6 address without brackets in the Request-URI: 400."),
    _c(V6 + "port-ambiguous.dat", "RFC 5118 §4.3", True, REGISTER_ANSWER,
       "[2001:db8::10:5070] is an address with no port.", _port_ambiguous),
    _c(V6 + "port-unambiguous.dat", "RFC 5118 §4.4", True, REGISTER_ANSWER,
       "[2001:db8::10]:5070 is an address and port 5070.", _port_unambiguous),
    _c(V6 + "via-received-param-with-delim.dat", "RFC 5118 §4.5", True, 481,
       "received=[IPv6] must be accepted; an out-of-dialog BYE gets 481.", _received_delim),
    _c(V6 + "via-received-param-no-delim.dat", "RFC 5118 §4.5", True, OPTIONS_ANSWER,
       "received=IPv6 without brackets must be accepted too.", _received_no_delim),
    _c(V6 + "ipv6-in-sdp.dat", "RFC 5118 §4.6", True, INVITE_ANSWER,
       "IPv6 in SDP. Content-Length is shorter than the body here: over UDP the rest is"
       " discarded (RFC 3261 §18.3).", _sdp_v6),
    _c(V6 + "mult-ip-in-header.dat", "RFC 5118 §4.7", True, 481,
       "IPv6 and IPv4 Vias mixed; an out-of-dialog BYE gets 481.", _mult_ip_header),
    _c(V6 + "mult-ip-in-sdp.dat", "RFC 5118 §4.8", True, INVITE_ANSWER,
       "IPv4 and IPv6 streams in one SDP (Content-Length short, as above).", _sdp_v6),
    _c(V6 + "ipv4-mapped-ipv6.dat", "RFC 5118 §4.9", True, INVITE_ANSWER,
       "IPv4-mapped IPv6 addresses in Via, Contact and SDP (Content-Length short).", _mapped),
    _c(V6 + "ipv6-bug-abnf-3-colons.dat", "RFC 5118 §4.10", True, OPTIONS_ANSWER,
       "RFC 3261's ABNF allows ':::' before an embedded IPv4 address; implementations must"
       " tolerate it (same address as the two-colon form).", _abnf_3),
    _c(V6 + "ipv6-correct-abnf-2-colons.dat", "RFC 5118 §4.10", True, OPTIONS_ANSWER,
       "The correct two-colon form.", _abnf_2),
)

BY_NAME: dict[str, TortureCase] = {case.name: case for case in CASES}

__all__ = ["BY_NAME", "CASES", "TORTURE_DIR", "Answer", "Outcome", "TortureCase"]
