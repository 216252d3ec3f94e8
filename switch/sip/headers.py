"""Header fields: an ordered, case-insensitive multi-map, plus the structured headers the core
needs to understand (Via, name-addr headers, CSeq).

Header values are stored raw (already unfolded); structured views are parsed on demand, so a
proxy can forward a header it does not understand byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from .errors import ParseError
from .uri import Uri, parse_uri

# RFC 3261 §7.3.3 and the IANA registry: compact forms.
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact", "b": "Referred-By", "c": "Content-Type", "d": "Request-Disposition",
    "e": "Content-Encoding", "f": "From", "i": "Call-ID", "j": "Reject-Contact",
    "k": "Supported", "l": "Content-Length", "m": "Contact", "o": "Event", "r": "Refer-To",
    "s": "Subject", "t": "To", "u": "Allow-Events", "v": "Via", "x": "Session-Expires",
    "y": "Identity",
}

# Canonical spelling of well-known names, so serialized messages look conventional.
_CANONICAL: dict[str, str] = {
    name.lower(): name
    for name in (
        *COMPACT_FORMS.values(), "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info",
        "Allow", "Authentication-Info", "Authorization", "Call-Info", "Content-Disposition",
        "Content-Language", "CSeq", "Date", "Error-Info", "Expires", "In-Reply-To",
        "Max-Forwards", "Min-Expires", "MIME-Version", "Organization", "Priority",
        "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "Record-Route",
        "Reply-To", "Require", "Retry-After", "Route", "Server", "Timestamp", "Unsupported",
        "User-Agent", "Warning", "WWW-Authenticate", "RSeq", "RAck", "Path", "Min-SE",
        "Subscription-State", "Replaces", "P-Asserted-Identity", "Privacy", "Reason",
    )
}

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")

# Headers whose value is a comma-separated list that may be split into several lines.
# (WWW-Authenticate & co. contain commas inside one value and are never split.)
_NOT_LIST = frozenset({
    "www-authenticate", "authorization", "proxy-authenticate", "proxy-authorization",
    "date", "call-id", "cseq", "from", "to", "content-length", "content-type", "subject",
    "user-agent", "server", "max-forwards", "expires", "min-expires", "retry-after",
    "timestamp", "organization", "authentication-info",
})


def canonical_name(name: str) -> str:
    """Expand compact forms and normalise the spelling of well-known header names."""
    if len(name) == 1:
        full = COMPACT_FORMS.get(name.lower())
        if full:
            return full
    return _CANONICAL.get(name.lower(), name)


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quotes and angle brackets."""
    items: list[str] = []
    depth_angle = 0
    in_quote = False
    start = 0
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if in_quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif ch == "<":
            depth_angle += 1
        elif ch == ">":
            depth_angle = max(0, depth_angle - 1)
        elif ch == "," and depth_angle == 0:
            items.append(value[start:i].strip())
            start = i + 1
        i += 1
    if in_quote:
        raise ParseError("unbalanced quotes in header value")
    items.append(value[start:].strip())
    return [item for item in items if item]


def parse_params(text: str) -> list[tuple[str, str | None]]:
    """``;a=b;c`` (leading ``;`` optional) into ordered pairs; quoted values are kept quoted."""
    params: list[tuple[str, str | None]] = []
    for raw in _split_outside_quotes(text, ";"):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not TOKEN.match(name):
            raise ParseError(f"bad header parameter name: {name[:40]!r}")
        params.append((name, value.strip() if sep else None))
    return params


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    in_quote = False
    start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if in_quote and ch == "\\":
            i += 2
            continue
        if ch == '"':
            in_quote = not in_quote
        elif ch == sep and not in_quote:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if in_quote:
        raise ParseError("unbalanced quotes in header parameters")
    parts.append(text[start:])
    return parts


def render_params(params: list[tuple[str, str | None]] | tuple[tuple[str, str | None], ...]
                  ) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


def param_value(params: list[tuple[str, str | None]] | tuple[tuple[str, str | None], ...],
                name: str) -> str | None:
    lname = name.lower()
    for key, value in params:
        if key.lower() == lname:
            return "" if value is None else value
    return None


class Headers:
    """Ordered header fields with case-insensitive, compact-form-aware access.

    Each entry is one header field line as received (a comma list stays one entry); ``getall``
    splits list headers so ``Via: a, b`` and two ``Via`` lines read the same.
    """

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in items or ():
            self.add(name, value)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def copy(self) -> Headers:
        clone = Headers()
        clone._items = list(self._items)
        return clone

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value))

    def prepend(self, name: str, value: str) -> None:
        self._items.insert(0, (canonical_name(name), value))

    def get(self, name: str) -> str | None:
        """First field value of ``name`` (raw, unsplit), or None."""
        lname = canonical_name(name).lower()
        for key, value in self._items:
            if key.lower() == lname:
                return value
        return None

    def fields(self, name: str) -> list[str]:
        """Every field line of ``name``, unsplit."""
        lname = canonical_name(name).lower()
        return [value for key, value in self._items if key.lower() == lname]

    def getall(self, name: str) -> list[str]:
        """Every value of ``name``; comma lists are split unless the header is not a list."""
        lname = canonical_name(name).lower()
        values = self.fields(name)
        if lname in _NOT_LIST:
            return values
        out: list[str] = []
        for value in values:
            out.extend(split_list(value))
        return out

    def set(self, name: str, value: str) -> None:
        """Replace every field of ``name`` by one, at the position of the first."""
        cname = canonical_name(name)
        lname = cname.lower()
        for i, (key, _) in enumerate(self._items):
            if key.lower() == lname:
                self._items[i] = (cname, value)
                self._items = [item for j, item in enumerate(self._items)
                               if j == i or item[0].lower() != lname]
                return
        self._items.append((cname, value))

    def remove(self, name: str) -> None:
        lname = canonical_name(name).lower()
        self._items = [item for item in self._items if item[0].lower() != lname]

    def remove_first(self, name: str) -> str | None:
        """Remove the first value of a list header (e.g. the top Via) and return it."""
        lname = canonical_name(name).lower()
        for i, (key, value) in enumerate(self._items):
            if key.lower() == lname:
                parts = split_list(value) if lname not in _NOT_LIST else [value]
                if len(parts) <= 1:
                    del self._items[i]
                else:
                    self._items[i] = (key, ", ".join(parts[1:]))
                return parts[0] if parts else value
        return None


# --------------------------------------------------------------------------------------------
# Structured headers


# via-parm = sent-protocol LWS sent-by *( SEMI via-params ); sent-protocol = name/version/transport
_VIA = re.compile(
    r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?:\s*:\s*([0-9]{1,5}))?\s*(;.*)?$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Via:
    transport: str
    host: str
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = field(default=())

    @property
    def branch(self) -> str | None:
        return param_value(self.params, "branch")

    @property
    def received(self) -> str | None:
        return param_value(self.params, "received")

    @property
    def rport(self) -> str | None:
        """``""`` when present without a value (RFC 3581 request), the port when filled."""
        return param_value(self.params, "rport")

    def with_params(self, **updates: str | None) -> Via:
        params = [(k, v) for k, v in self.params if k.lower() not in updates]
        params.extend(updates.items())
        return Via(self.transport, self.host, self.port, tuple(params))

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{render_params(self.params)}"


def parse_via(value: str) -> Via:
    match = _VIA.match(value.strip())
    if not match:
        raise ParseError(f"malformed Via: {value[:80]!r}")
    transport, host, port_text, rest = match.groups()
    port = int(port_text) if port_text else None
    if port is not None and not 0 < port <= 65535:
        raise ParseError(f"Via port out of range: {port}")
    params = tuple(parse_params(rest or ""))
    branch = param_value(params, "branch")
    if branch is not None and (branch == "" or not TOKEN.match(branch)):
        raise ParseError("Via branch is empty or not a token")
    return Via(transport.upper(), host, port, params)


@dataclass(frozen=True, slots=True)
class NameAddr:
    """``display-name <uri>;params`` as used by From, To, Contact, Route, Refer-To..."""

    uri: Uri
    display: str | None = None
    params: tuple[tuple[str, str | None], ...] = field(default=())

    @property
    def tag(self) -> str | None:
        return param_value(self.params, "tag")

    def param(self, name: str) -> str | None:
        return param_value(self.params, name)

    def with_params(self, **updates: str | None) -> NameAddr:
        params = [(k, v) for k, v in self.params if k.lower() not in updates]
        params.extend(updates.items())
        return NameAddr(self.uri, self.display, tuple(params))

    def __str__(self) -> str:
        display = f"{self.display} " if self.display else ""
        return f"{display}<{self.uri}>{render_params(self.params)}"


_QUOTED_DISPLAY = re.compile(r'^\s*"((?:[^"\\]|\\.)*)"\s*<', re.DOTALL)
_TOKEN_DISPLAY = re.compile(r"^\s*([A-Za-z0-9\-.!%*_+`'~ \t]*?)\s*<")


def parse_name_addr(value: str) -> NameAddr:
    """Parse name-addr or addr-spec with header parameters (RFC 3261 §20.10, §25.1)."""
    text = value.strip()
    if not text:
        raise ParseError("empty address header")
    if text == "*":
        raise ParseError("'*' is not an address here")
    display: str | None = None
    match = _QUOTED_DISPLAY.match(text) or _TOKEN_DISPLAY.match(text)
    if match:
        if text.lstrip().startswith('"'):
            display = '"' + match.group(1) + '"'
        else:
            display = match.group(1).strip() or None
        end = text.find(">", match.end())
        if end < 0:
            raise ParseError("address lacks closing '>'")
        uri = parse_uri(text[match.end():end])
        params = tuple(parse_params(text[end + 1:]))
        return NameAddr(uri, display, params)
    if "<" in text:
        raise ParseError(f"malformed display name: {text[:60]!r}")
    # addr-spec: URI parameters would be ambiguous, so everything after ';' is a header param
    uri_text, sep, rest = text.partition(";")
    return NameAddr(parse_uri(uri_text.strip()), None, tuple(parse_params(rest)) if sep else ())


@dataclass(frozen=True, slots=True)
class CSeq:
    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


_CSEQ = re.compile(r"^\s*([0-9]{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)\s*$")


def parse_cseq(value: str) -> CSeq:
    match = _CSEQ.match(value)
    if not match:
        raise ParseError(f"malformed CSeq: {value[:40]!r}")
    seq = int(match.group(1))
    if seq >= 2**31:
        raise ParseError("CSeq number must be less than 2**31")
    return CSeq(seq, match.group(2))
