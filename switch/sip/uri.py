"""SIP and SIPS URIs (RFC 3261 §19.1) and their comparison rules (§19.1.4).

A URI of another scheme (``tel:``, ``http:``, ``urn:``...) is kept as an opaque
:class:`AbsoluteUri`: a proxy or registrar must carry it, not understand it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from .errors import ParseError

# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# hostport = host [ ":" port ]; host = hostname / IPv4address / IPv6reference
_HOSTPORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?::([0-9]{1,5}))?$")
# user-unreserved and unreserved characters, plus escapes; anything else in userinfo is illegal
_USERINFO = re.compile(r"^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/:]|%[0-9A-Fa-f]{2})*$")
_TOKEN_CHARS = re.compile(r"^(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|%[0-9A-Fa-f]{2})+$")

# Parameters whose presence in only one of two URIs makes them differ (§19.1.4).
_SIGNIFICANT_PARAMS = ("user", "ttl", "method", "maddr")


def _unescape(text: str) -> str:
    return unquote(text, errors="surrogateescape")


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
        if _unescape(self.user or "") != _unescape(other.user or "") or (
            self.user is None) != (other.user is None):
            return False
        if _unescape(self.password or "") != _unescape(other.password or ""):
            return False
        if self.host.lower() != other.host.lower() or self.port != other.port:
            return False
        mine = {k.lower(): _unescape(v or "").lower() for k, v in self.params}
        theirs = {k.lower(): _unescape(v or "").lower() for k, v in other.params}
        for name in set(mine) & set(theirs):
            if mine[name] != theirs[name]:
                return False
        for name in _SIGNIFICANT_PARAMS:
            if (name in mine) != (name in theirs):
                return False
        # headers: all must match, in any order
        mine_h = {k.lower(): _unescape(v) for k, v in self.headers}
        theirs_h = {k.lower(): _unescape(v) for k, v in other.headers}
        return mine_h == theirs_h

    def aor(self) -> str:
        """Address of record key: ``scheme:user@host`` lower-cased host, no port/params."""
        scheme = "sip" if self.scheme.lower() in ("sip", "sips") else self.scheme.lower()
        user = _unescape(self.user) if self.user is not None else ""
        return f"{scheme}:{user}@{self.host.lower()}" if user else f"{scheme}:{self.host.lower()}"


Uri = SipUri | AbsoluteUri


def parse_uri(text: str) -> Uri:
    """Parse a Request-URI or the URI inside a name-addr. Raises :class:`ParseError`."""
    match = _SCHEME.match(text)
    if not match:
        raise ParseError(f"URI lacks a scheme: {text[:60]!r}")
    scheme = match.group(1)
    if any(c in text for c in " \t\r\n<>"):
        raise ParseError(f"URI contains whitespace or angle brackets: {text[:60]!r}")
    if scheme.lower() not in ("sip", "sips"):
        return AbsoluteUri(scheme.lower(), text)
    rest = text[match.end():]
    headers: list[tuple[str, str]] = []
    if "?" in rest:
        rest, _, header_part = rest.partition("?")
        for item in header_part.split("&"):
            if not item:
                continue
            name, _, value = item.partition("=")
            headers.append((name, value))
    user = password = None
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        if not _USERINFO.match(userinfo):
            raise ParseError(f"illegal characters in URI userinfo: {userinfo[:60]!r}")
        if ":" in userinfo:
            user, _, password = userinfo.partition(":")
        else:
            user = userinfo
        if user == "":
            raise ParseError("URI userinfo has an empty user")
    hostport, *param_items = rest.split(";")
    host_match = _HOSTPORT.match(hostport)
    if not host_match:
        raise ParseError(f"bad host in URI: {hostport[:60]!r}")
    host, port_text = host_match.group(1), host_match.group(2)
    port = int(port_text) if port_text is not None else None
    if port is not None and port > 65535:
        raise ParseError(f"URI port out of range: {port}")
    params: list[tuple[str, str | None]] = []
    for item in param_items:
        if not item:
            raise ParseError("empty URI parameter")
        name, sep, value = item.partition("=")
        if not _TOKEN_CHARS.match(name) or (sep and not value):
            raise ParseError(f"bad URI parameter: {item[:60]!r}")
        params.append((name, value if sep else None))
    return SipUri(scheme.lower(), user, password, host, port, tuple(params), tuple(headers))


def parse_sip_uri(text: str) -> SipUri:
    """Like :func:`parse_uri` but the scheme must be ``sip`` or ``sips``."""
    uri = parse_uri(text)
    if not isinstance(uri, SipUri):
        raise ParseError(f"not a SIP URI: {text[:60]!r}", status=416)
    return uri
