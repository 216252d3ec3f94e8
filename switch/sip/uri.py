"""SIP and SIPS URIs (RFC 3261 §19.1, §25.1) and their comparison rules (§19.1.4).

A URI of another scheme (``tel:``, ``http:``, ``urn:``...) is kept as an opaque
:class:`AbsoluteUri`: a proxy or registrar must carry it, not understand it.

Parsing keeps every component as written (escapes included), so a URI re-serializes to the
same text; comparison (:meth:`SipUri.matches`) unescapes, as §19.1.4 requires.

Grammar notes that decide what is accepted:

- ``@`` may appear only once in a SIP URI (it is neither in ``user-unreserved``,
  ``param-unreserved`` nor ``hnv-unreserved``), so the userinfo is everything before the first
  ``@``. The user part may hold ``;``, ``?``, ``/``, ``$``... (RFC 4475 §3.1.1.2 intmeth,
  §3.1.1.9 semiuri), which is why ``?`` is looked for only after the userinfo.
- ``host`` is a hostname, an IPv4 address or a bracketed IPv6 reference (RFC 5118). An IPv6
  reference is checked against RFC 4291, tolerating the ``:::`` before an embedded IPv4 address
  that RFC 3261's own ABNF produces (RFC 5118 §4.10: "tolerate both of the above constructs").
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from . import _accel
from .errors import ParseError

# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
# hostname = *( domainlabel "." ) toplabel [ "." ]; IPv4address (loosely: digits and dots)
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?")
# user = 1*( unreserved / escaped / user-unreserved )
#   user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
_USER = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+")
# password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
_PASSWORD = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*")
# pname/pvalue = 1*paramchar; paramchar = param-unreserved / unreserved / escaped
#   param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"
_PARAMCHARS = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|%[0-9A-Fa-f]{2})+")
# hname/hvalue: hnv-unreserved / unreserved / escaped; hnv-unreserved = "[" "]" "/" "?" ":" "+" "$"
_HCHARS = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]|%[0-9A-Fa-f]{2})*")
_FORBIDDEN = frozenset(" \t\r\n<>\"\x00")

# Parameters whose presence in only one of two URIs makes them differ (§19.1.4): user, ttl,
# method and maddr by the text; transport because "a URI omitting any component with a default
# value will not match a URI explicitly containing that component" (sip:bob@biloxi.com versus
# sip:bob@biloxi.com;transport=udp is one of the RFC's unequal pairs).
_SIGNIFICANT_PARAMS = ("user", "ttl", "method", "maddr", "transport")


def _unescape(text: str) -> str:
    return unquote(text, errors="surrogateescape") if "%" in text else text


def check_ipv6_reference(ref: str) -> str:
    """Validate ``[IPv6address]``; return the address in compressed form (for comparison)."""
    if len(ref) < 4 or ref[0] != "[" or ref[-1] != "]":
        raise ParseError(f"bad IPv6 reference: {ref[:60]!r}")
    inner = ref[1:-1]
    try:
        return ipaddress.IPv6Address(inner).compressed
    except ValueError:
        pass
    # RFC 5118 §4.10: RFC 3261's ABNF (from RFC 2373) derives "x:::a.b.c.d"; read it as "::".
    head, sep, tail = inner.partition(":::")
    if sep and "." in tail and ":" not in tail and "::" not in head:
        try:
            return ipaddress.IPv6Address(f"{head}::{tail}").compressed
        except ValueError:
            pass
    raise ParseError(f"bad IPv6 reference: {ref[:60]!r}")


def parse_host(text: str) -> str:
    """Check a ``host`` (hostname, IPv4address or IPv6reference) and return it as written."""
    if text[:1] == "[":
        check_ipv6_reference(text)
        return text
    if not _HOSTNAME.fullmatch(text):
        raise ParseError(f"bad host: {text[:60]!r}")
    return text


def parse_hostport(text: str, what: str = "URI") -> tuple[str, int | None]:
    """``host [":" port]`` into (host, port); ParseError names ``what`` it came from."""
    if text[:1] == "[":
        end = text.find("]")
        if end < 0:
            raise ParseError(f"unterminated IPv6 reference in {what}: {text[:60]!r}")
        host, rest = text[:end + 1], text[end + 1:]
        if rest and rest[0] != ":":
            raise ParseError(f"junk after IPv6 reference in {what}: {text[:60]!r}")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_ = text.partition(":")
        port_text = port_text_ if sep else None
    try:
        parse_host(host)
    except ParseError:
        raise ParseError(f"bad host in {what}: {text[:60]!r}") from None
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not port_text.isascii() or len(port_text) > 5:
        raise ParseError(f"bad port in {what}: {text[:60]!r}")
    port = int(port_text)
    if port > 65535:
        raise ParseError(f"{what} port out of range: {port}")
    return host, port


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """A URI of a scheme the core does not interpret, kept verbatim."""

    scheme: str
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class SipUri:
    """``sip:`` or ``sips:`` URI. ``params`` and ``headers`` keep their order and raw values."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = field(default=())
    headers: tuple[tuple[str, str], ...] = field(default=())

    # -- accessors ----------------------------------------------------------------------------

    def param(self, name: str) -> str | None:
        """Value of a URI parameter (case-insensitive name); ``""`` for a flag without value."""
        lname = name.lower()
        for key, value in self.params:
            if key.lower() == lname:
                return "" if value is None else value
        return None

    def has_param(self, name: str) -> bool:
        lname = name.lower()
        return any(key.lower() == lname for key, _ in self.params)

    @property
    def transport(self) -> str | None:
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def is_ipv6(self) -> bool:
        return self.host.startswith("[")

    @property
    def host_address(self) -> str:
        """Host for lookups: lower-cased, IPv6 without brackets and in compressed form."""
        if self.host.startswith("["):
            return check_ipv6_reference(self.host)
        return self.host.lower()

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else _unescape(self.user)

    def with_params(self, **updates: str | None) -> SipUri:
        """Copy with parameters replaced (``None`` value means a flag); order is kept."""
        params = [(k, v) for k, v in self.params if k.lower() not in updates]
        params.extend(updates.items())
        return SipUri(self.scheme, self.user, self.password, self.host, self.port,
                      tuple(params), self.headers)

    def without_params(self, *names: str) -> SipUri:
        drop = {n.lower() for n in names}
        params = tuple((k, v) for k, v in self.params if k.lower() not in drop)
        return SipUri(self.scheme, self.user, self.password, self.host, self.port, params,
                      self.headers)

    # -- rendering and comparison -------------------------------------------------------------

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        for key, value in self.params:
            out.append(f";{key}" if value is None else f";{key}={value}")
        if self.headers:
            out.append("?" + "&".join(f"{k}={v}" for k, v in self.headers))
        return "".join(out)

    def matches(self, other: SipUri) -> bool:
        """RFC 3261 §19.1.4 equality (not ``==``, which is structural)."""
        if self.scheme.lower() != other.scheme.lower():
            return False
        # userinfo is case-sensitive, compared after unescaping
        if (self.user is None) != (other.user is None):
            return False
        if _unescape(self.user or "") != _unescape(other.user or ""):
            return False
        if (self.password is None) != (other.password is None) or _unescape(
                self.password or "") != _unescape(other.password or ""):
            return False
        if self.port != other.port:
            return False
        try:
            if self.host_address != other.host_address:
                return False
        except ParseError:
            return False
        mine = _param_map(self.params)
        theirs = _param_map(other.params)
        for name in mine.keys() & theirs.keys():
            if mine[name] != theirs[name]:
                return False
        for name in _SIGNIFICANT_PARAMS:
            if (name in mine) != (name in theirs):
                return False
        # headers: all must be present in both and match, in any order
        return _header_map(self.headers) == _header_map(other.headers)

    def aor(self) -> str:
        """Address of record key: ``scheme:user@host`` lower-cased host, no port/params."""
        scheme = "sip" if self.scheme.lower() in ("sip", "sips") else self.scheme.lower()
        user = _unescape(self.user) if self.user is not None else ""
        return f"{scheme}:{user}@{self.host.lower()}" if user else f"{scheme}:{self.host.lower()}"


def _param_map(params: tuple[tuple[str, str | None], ...]) -> dict[str, str]:
    # parameter names and values compare case-insensitively after unescaping (§19.1.4)
    return {_unescape(k).lower(): _unescape(v or "").lower() for k, v in params}


def _header_map(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {_unescape(k).lower(): _unescape(v) for k, v in headers}


Uri = SipUri | AbsoluteUri


def parse_uri_py(text: str) -> Uri:
    """Parse a Request-URI or the URI inside a name-addr. Raises :class:`ParseError`.

    The reference; :data:`parse_uri` is this or its compiled twin (see ``_accel``).
    """
    colon = text.find(":")
    if colon <= 0:
        raise ParseError(f"URI lacks a scheme: {text[:60]!r}")
    scheme = text[:colon]
    lscheme = scheme.lower()
    if lscheme != "sip" and lscheme != "sips" and not _SCHEME.fullmatch(scheme):
        raise ParseError(f"URI lacks a scheme: {text[:60]!r}")
    if not _FORBIDDEN.isdisjoint(text):
        raise ParseError(f"URI contains whitespace, quotes or angle brackets: {text[:60]!r}")
    if lscheme != "sip" and lscheme != "sips":
        if colon + 1 == len(text):
            raise ParseError(f"URI has nothing after the scheme: {text[:60]!r}")
        return AbsoluteUri(lscheme, text)
    return _parse_sip(lscheme, text, colon + 1)


# The everyday shape (plain user, hostname or IPv4, port, simple params) in one match; anything
# else takes the general path below, which accepts the full grammar.
_COMMON_SIP = re.compile(
    r"(?:([A-Za-z0-9\-_.!~*'()&=+$,]+)@)?([A-Za-z0-9][A-Za-z0-9\-.]*)(?::([0-9]{1,5}))?"
    r"((?:;[A-Za-z0-9\-_.!~*'()/:&+$]+(?:=[A-Za-z0-9\-_.!~*'()/:&+$]+)?)*)")


def _parse_sip(scheme: str, text: str, start: int) -> SipUri:
    common = _COMMON_SIP.fullmatch(text, start)
    if common is not None:
        user, host, port_text, params_text = common.groups()
        port = int(port_text) if port_text is not None else None
        if port is None or port <= 65535:
            params: tuple[tuple[str, str | None], ...] = ()
            if params_text:
                params = tuple((n, v if sep else None) for n, sep, v in
                               (item.partition("=") for item in params_text[1:].split(";")))
            return SipUri(scheme, user, None, host, port, params, ())
    rest = text[start:]
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1:]
        user, sep, pw = userinfo.partition(":")
        if not _USER.fullmatch(user):
            raise ParseError(f"empty user or illegal characters in URI user: {userinfo[:60]!r}")
        if sep:
            if not _PASSWORD.fullmatch(pw):
                raise ParseError(f"illegal characters in URI password: {userinfo[:60]!r}")
            password = pw
    headers: tuple[tuple[str, str], ...] = ()
    qmark = rest.find("?")
    if qmark >= 0:
        rest, header_part = rest[:qmark], rest[qmark + 1:]
        headers = _parse_uri_headers(header_part)
    hostport, *param_items = rest.split(";")
    host, port = parse_hostport(hostport)
    plist: list[tuple[str, str | None]] = []
    for item in param_items:
        name, sep, value = item.partition("=")
        if not _PARAMCHARS.fullmatch(name) or (sep and not _PARAMCHARS.fullmatch(value)):
            raise ParseError(f"bad URI parameter: {item[:60]!r}")
        plist.append((name, value if sep else None))
    return SipUri(scheme, user, password, host, port, tuple(plist), headers)


def _parse_uri_headers(text: str) -> tuple[tuple[str, str], ...]:
    # headers = "?" header *( "&" header ); header = hname "=" hvalue
    out = []
    for item in text.split("&"):
        name, sep, value = item.partition("=")
        if not sep or not name or not _HCHARS.fullmatch(name) or not _HCHARS.fullmatch(value):
            raise ParseError(f"bad URI header: {item[:60]!r}")
        out.append((name, value))
    return tuple(out)


parse_uri = parse_uri_py
if _accel.compiled is not None:
    _accel.compiled.bind_uri(SipUri, parse_uri_py)
    parse_uri = _accel.compiled.parse_uri


def parse_sip_uri(text: str) -> SipUri:
    """Like :func:`parse_uri` but the scheme must be ``sip`` or ``sips``."""
    uri = parse_uri(text)
    if not isinstance(uri, SipUri):
        raise ParseError(f"not a SIP URI: {text[:60]!r}", status=416)
    return uri
