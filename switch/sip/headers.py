"""Header fields: an ordered, case-insensitive multi-map, plus the structured headers the core
needs to understand (Via, name-addr headers, CSeq).

Header values are stored raw (already unfolded); structured views are parsed on demand, so a
proxy can forward a header it does not understand byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from . import _accel
from .errors import ParseError
from .uri import Uri, check_ipv6_reference, parse_hostport, parse_uri

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


class _KeyCache(dict[str, str]):
    """name -> lookup key; a hit is one C-level dict lookup, a miss computes (bounded: names
    come from the network)."""

    def __missing__(self, name: str) -> str:
        key = canonical_name(name).lower()
        if len(self) < 4096:
            self[name] = key
        return key


_LOOKUP_CACHE = _KeyCache()


class _NameCache(dict[str, str]):
    """name -> canonical spelling, cached like :class:`_KeyCache` (bounded the same way)."""

    def __missing__(self, name: str) -> str:
        canonical = canonical_name(name)
        if len(self) < 4096:
            self[name] = canonical
        return canonical


_CANONICAL_CACHE = _NameCache()


def canonical_name(name: str) -> str:
    """Expand compact forms and normalise the spelling of well-known header names."""
    if len(name) == 1:
        full = COMPACT_FORMS.get(name.lower())
        if full:
            return full
    return _CANONICAL.get(name.lower(), name)


def header_key(name: str) -> str:
    """The lookup key of a header name: its canonical name, lower-cased (cached)."""
    return _LOOKUP_CACHE[name]


# One list element: runs of anything but , " < plus whole quoted strings and <...> spans.
_LIST_ITEM = re.compile(r'(?:[^,"<]+|"(?:[^"\\]|\\.)*"|<[^>]*>)+', re.DOTALL)


def split_list_py(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quotes and angle brackets."""
    if '"' not in value and "<" not in value:
        return [item for item in (part.strip() for part in value.split(",")) if item]
    items: list[str] = []
    pos = 0
    n = len(value)
    match = _LIST_ITEM.match
    while pos < n:
        found = match(value, pos)
        if found is None:
            if value[pos] == ",":
                pos += 1
                continue
            # an opening quote or "<" that never closes
            raise ParseError("unbalanced quotes or angle brackets in header value")
        item = found.group().strip()
        if item:
            items.append(item)
        pos = found.end() + 1  # skip the comma (or run past the end)
    return items


# generic-param = token [ EQUAL gen-value ]; gen-value = token / host / quoted-string
# (an unbracketed IPv6 address is allowed too: RFC 3261 defines received = IPv4address /
# IPv6address, and RFC 5118 §4.5 asks to accept both the bracketed and the bare form)
_GEN_VALUE = re.compile(
    r'[A-Za-z0-9\-.!%*_+`\'~]+|\[?[0-9A-Fa-f:.]+\]?|"(?:[^"\\]|\\.)*"', re.DOTALL)


_TOKEN_RE = r"[A-Za-z0-9\-.!%*_+`'~]+"
# One header parameter: ;name or ;name=value, value a token, an IPv6 address or quoted-string.
_PARAM_RE = re.compile(
    rf"[ \t]*;[ \t]*({_TOKEN_RE})(?:[ \t]*=[ \t]*(\[?[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*\]?|{_TOKEN_RE}"
    r'|"(?:[^"\\]|\\.)*"))?', re.DOTALL)
# A whole run of them (the common case, checked in one match and then cut by finditer).
_SIMPLE_PARAMS = re.compile(rf"(?:{_PARAM_RE.pattern})*[ \t]*", re.DOTALL)


def parse_params(text: str) -> list[tuple[str, str | None]]:
    """``;a=b;c`` (leading ``;`` optional) into ordered pairs; quoted values are kept quoted.

    Empty parameters (``;;``) are refused: RFC 4475 §3.1.2.1 (badinv01) is invalid for them.
    """
    params: list[tuple[str, str | None]] = []
    if _SIMPLE_PARAMS.fullmatch(text):
        # every item already checked by the one match: just cut
        return [(m[1], m[2]) for m in _PARAM_RE.finditer(text)]
    text = text.strip(" \t")
    if not text:
        return params
    if text[0] == ";":
        text = text[1:]
    for raw in _split_outside_quotes(text, ";"):
        name, sep, value = raw.partition("=")
        name = name.strip(" \t")
        if not name or not TOKEN.match(name):
            raise ParseError(f"bad or empty header parameter: {raw.strip()[:40]!r}")
        if sep:
            value = value.strip(" \t")
            if not _GEN_VALUE.fullmatch(value):
                raise ParseError(f"bad value of header parameter {name[:40]!r}")
            params.append((name, value))
        else:
            params.append((name, None))
    return params


_PARAM_ITEM = re.compile(r'(?:[^;"]+|"(?:[^"\\]|\\.)*")*', re.DOTALL)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    """Split ``text`` at ``sep`` (";") outside quoted strings."""
    if '"' not in text:
        return text.split(sep)
    parts: list[str] = []
    pos = 0
    n = len(text)
    while True:
        found = _PARAM_ITEM.match(text, pos)
        end = found.end() if found is not None else pos
        if end < n and text[end] != sep:
            raise ParseError("unbalanced quotes in header parameters")
        parts.append(text[pos:end])
        if end >= n:
            return parts
        pos = end + 1


def render_params(params: list[tuple[str, str | None]] | tuple[tuple[str, str | None], ...]
                  ) -> str:
    # A plain loop: twice as fast as join() over a generator for the usual two or three.
    out = ""
    for key, value in params:
        out += f";{key}" if value is None else f";{key}={value}"
    return out


def param_value(params: list[tuple[str, str | None]] | tuple[tuple[str, str | None], ...],
                name: str) -> str | None:
    lname = name.lower()
    for key, value in params:
        if key.lower() == lname:
            return "" if value is None else value
    return None


def unquote_string(text: str) -> str:
    """The content of a quoted-string with its quoted-pairs resolved (RFC 3261 §25.1)."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        if "\\" not in text:
            return text[1:-1]
        return re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.DOTALL)
    return text


class Headers:
    """Ordered header fields with case-insensitive, compact-form-aware access.

    Each entry is one header field line as received (a comma list stays one entry); ``getall``
    splits list headers so ``Via: a, b`` and two ``Via`` lines read the same. A parallel list
    of lookup keys (canonical name, lower-cased) makes ``get`` a C-level ``list.index``.

    Fast paths for hot code (the parser, response building) are public methods, so nothing
    outside this class touches the two lists: :meth:`from_parsed` adopts the parser's output,
    :meth:`subset` copies chosen fields (RFC 3261 §8.2.6.2), :meth:`extend` appends many.
    """

    __slots__ = ("_items", "_keys")

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        self._keys: list[str] = []
        if items:
            self.extend(items)

    @classmethod
    def from_parsed(cls, items: list[tuple[str, str]], keys: list[str]) -> Headers:
        """Adopt (without copying or checking) fields as ``rawhead.split_head`` returns them.

        The caller promises that every name in ``items`` is already canonical
        (:func:`canonical_name`) and that ``keys[i] == header_key(items[i][0])``; both lists
        then belong to the new object. This is the parser's fast path; anything else should use
        ``Headers(items)``, which normalises the names.
        """
        headers = cls.__new__(cls)
        headers._items = items
        headers._keys = keys
        return headers

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _LOOKUP_CACHE[name] in self._keys

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def copy(self) -> Headers:
        return Headers.from_parsed(list(self._items), list(self._keys))

    def add(self, name: str, value: str) -> None:
        self._items.append((_CANONICAL_CACHE[name], value))
        self._keys.append(_LOOKUP_CACHE[name])

    def extend(self, fields: Iterable[tuple[str, str]]) -> None:
        """``add`` every ``(name, value)`` of ``fields``, in order."""
        items, keys = self._items, self._keys
        for name, value in fields:
            items.append((_CANONICAL_CACHE[name], value))
            keys.append(_LOOKUP_CACHE[name])

    def subset(self, names: Iterable[str]) -> Headers:
        """A new ``Headers`` with only the fields of ``names``, grouped in the order of
        ``names`` (the fields of one name keep their order): e.g. the fields a response copies
        from its request (RFC 3261 §8.2.6.2, :data:`switch.sip.message.COPIED_HEADERS`)."""
        items: list[tuple[str, str]] = []
        keys: list[str] = []
        own_items, own_keys = self._items, self._keys
        for name in names:
            key = _LOOKUP_CACHE[name]
            count = own_keys.count(key)
            if count == 1:  # the usual case: two C-level scans, no Python loop
                items.append(own_items[own_keys.index(key)])
                keys.append(key)
            elif count:
                for own_key, item in zip(own_keys, own_items, strict=True):
                    if own_key == key:
                        items.append(item)
                        keys.append(key)
        return Headers.from_parsed(items, keys)

    def prepend(self, name: str, value: str) -> None:
        self._items.insert(0, (canonical_name(name), value))
        self._keys.insert(0, _LOOKUP_CACHE[name])

    def get(self, name: str) -> str | None:
        """First field value of ``name`` (raw, unsplit), or None."""
        try:
            return self._items[self._keys.index(_LOOKUP_CACHE[name])][1]
        except ValueError:
            return None

    def single(self, name: str) -> str:
        """The value of the one field of ``name``; ParseError (400) when it is missing or
        repeated (From, To, Call-ID, CSeq...: RFC 4475 §3.3.8)."""
        key = _LOOKUP_CACHE[name]
        keys = self._keys
        if keys.count(key) == 1:
            return self._items[keys.index(key)][1]
        if key not in keys:
            raise ParseError(f"missing {name}")
        raise ParseError(f"more than one {name} header")

    def count(self, name: str) -> int:
        """How many field lines of ``name`` there are."""
        return self._keys.count(_LOOKUP_CACHE[name])

    def fields(self, name: str) -> list[str]:
        """Every field line of ``name``, unsplit."""
        key = _LOOKUP_CACHE[name]
        keys = self._keys
        if keys.count(key) == 1:
            return [self._items[keys.index(key)][1]]
        return [value for k, (_, value) in zip(keys, self._items, strict=True) if k == key]

    def getall(self, name: str) -> list[str]:
        """Every value of ``name``; comma lists are split unless the header is not a list."""
        key = _LOOKUP_CACHE[name]
        keys = self._keys
        if keys.count(key) == 1:
            values = [self._items[keys.index(key)][1]]
        else:
            values = [value for k, (_, value) in zip(keys, self._items, strict=True) if k == key]
        if key in _NOT_LIST:
            return values
        out: list[str] = []
        for value in values:
            out.extend(split_list(value))
        return out

    def set(self, name: str, value: str) -> None:
        """Replace every field of ``name`` by one, at the position of the first."""
        cname = _CANONICAL_CACHE[name]
        key = _LOOKUP_CACHE[name]
        count = self._keys.count(key)
        if not count:
            self._items.append((cname, value))
            self._keys.append(key)
            return
        first = self._keys.index(key)
        self._items[first] = (cname, value)
        if count == 1:
            return
        keep = [j for j, k in enumerate(self._keys) if j == first or k != key]
        self._items = [self._items[j] for j in keep]
        self._keys = [self._keys[j] for j in keep]

    def remove(self, name: str) -> None:
        key = _LOOKUP_CACHE[name]
        keep = [j for j, k in enumerate(self._keys) if k != key]
        self._items = [self._items[j] for j in keep]
        self._keys = [self._keys[j] for j in keep]

    def remove_first(self, name: str) -> str | None:
        """Remove the first value of a list header (e.g. the top Via) and return it."""
        key = _LOOKUP_CACHE[name]
        try:
            i = self._keys.index(key)
        except ValueError:
            return None
        field_name, value = self._items[i]
        parts = split_list(value) if key not in _NOT_LIST else [value]
        if len(parts) <= 1:
            del self._items[i]
            del self._keys[i]
        else:
            self._items[i] = (field_name, ", ".join(parts[1:]))
        return parts[0] if parts else value


# --------------------------------------------------------------------------------------------
# Structured headers


# via-parm = sent-protocol LWS sent-by *( SEMI via-params )
# sent-protocol = protocol-name SLASH protocol-version SLASH transport (SLASH allows LWS around)
_SENT_PROTOCOL = re.compile(
    r"SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+", re.IGNORECASE)


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
    def received_host(self) -> str | None:
        """``received`` without IPv6 brackets (RFC 5118 §4.5 allows both spellings)."""
        value = self.received
        if value and value[0] == "[" and value[-1] == "]":
            return value[1:-1]
        return value

    @property
    def rport(self) -> str | None:
        """``""`` when present without a value (RFC 3581 request), the port when filled."""
        return param_value(self.params, "rport")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_params(self, **updates: str | None) -> Via:
        params = [(k, v) for k, v in self.params if k.lower() not in updates]
        params.extend(updates.items())
        return Via(self.transport, self.host, self.port, tuple(params))

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{render_params(self.params)}"


def parse_via_py(value: str) -> Via:
    """Parse one via-parm (a single hop; split a Via list with :func:`split_list` first)."""
    text = value.strip(" \t")
    match = _SENT_PROTOCOL.match(text)
    if not match:
        raise ParseError(f"malformed Via sent-protocol: {value[:80]!r}")
    transport = match.group(1).upper()
    rest = text[match.end():]
    semi = rest.find(";")
    sent_by, params_text = (rest, "") if semi < 0 else (rest[:semi], rest[semi:])
    # sent-by = host [ COLON port ]; COLON may carry whitespace around it
    sent_by = sent_by.strip(" \t")
    if " " in sent_by or "\t" in sent_by:
        sent_by = sent_by.replace(" ", "").replace("\t", "")
    if not sent_by:
        raise ParseError(f"Via lacks sent-by: {value[:80]!r}")
    host, port = parse_hostport(sent_by, "Via")
    if port == 0:
        raise ParseError("Via port out of range: 0")
    params = tuple(parse_params(params_text))
    for key, val in params:
        lkey = key.lower()
        if lkey == "branch" and (not val or not TOKEN.match(val)):
            raise ParseError("Via branch is empty or not a token")
        if lkey == "received" and val is not None:
            _check_received(val)
    return Via(transport, host, port, params)


def _check_received(value: str) -> None:
    # received = IPv4address / IPv6address (RFC 3261 §20.42); RFC 5118 §4.5: also [IPv6]
    if ":" in value:
        check_ipv6_reference(value if value.startswith("[") else f"[{value}]")
    elif not value or value.startswith("["):
        raise ParseError(f"bad Via received: {value[:60]!r}")


@dataclass(frozen=True, slots=True)
class NameAddr:
    """``display-name <uri>;params`` as used by From, To, Contact, Route, Refer-To..."""

    uri: Uri
    display: str | None = None
    params: tuple[tuple[str, str | None], ...] = field(default=())

    @property
    def tag(self) -> str | None:
        return param_value(self.params, "tag")

    @property
    def display_name(self) -> str | None:
        """The display name with quotes removed and quoted-pairs resolved."""
        return None if self.display is None else unquote_string(self.display)

    def param(self, name: str) -> str | None:
        return param_value(self.params, name)

    def with_params(self, **updates: str | None) -> NameAddr:
        params = [(k, v) for k, v in self.params if k.lower() not in updates]
        params.extend(updates.items())
        return NameAddr(self.uri, self.display, tuple(params))

    def __str__(self) -> str:
        display = f"{self.display} " if self.display else ""
        return f"{display}<{self.uri}>{render_params(self.params)}"


# display-name = *(token LWS) / quoted-string
_QUOTED_DISPLAY = re.compile(r'[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*<', re.DOTALL)
# (each token must end at whitespace or "<": no nested quantifier can backtrack exponentially)
_TOKEN_DISPLAY = re.compile(r"[ \t]*((?:[A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+|(?=<)))*)<")


# The everyday name-addr in one match: optional quoted or token display name, <uri>, simple
# params. Anything else (addr-spec form, quoted params, errors) takes the general path.
_COMMON_NAME_ADDR = re.compile(
    r'[ \t]*(?:"((?:[^"\\]|\\.)*)"[ \t]*|((?:[A-Za-z0-9\-.!%*_+`\'~]+[ \t]+)*'
    r"[A-Za-z0-9\-.!%*_+`'~]+)[ \t]*)?<([^<> \t\"]+)>(.*)", re.DOTALL)


def parse_name_addr_py(value: str) -> NameAddr:
    """Parse name-addr or addr-spec with header parameters (RFC 3261 §20.10, §25.1)."""
    common = _COMMON_NAME_ADDR.fullmatch(value)
    if common is not None:
        quoted, token_display, uri_text, tail = common.groups()
        if not tail or _SIMPLE_PARAMS.fullmatch(tail):
            shown = f'"{quoted}"' if quoted is not None else token_display
            return NameAddr(parse_uri(uri_text), shown, tuple(parse_params(tail)))
    text = value.strip(" \t")
    if not text:
        raise ParseError("empty address header")
    if text == "*":
        raise ParseError("'*' is not an address here")
    first = text[0]
    if first == "<" or first == '"' or "<" in text:
        match = (_QUOTED_DISPLAY.match(text) if first == '"' else _TOKEN_DISPLAY.match(text))
        if not match:
            raise ParseError(f"malformed display name: {text[:60]!r}")
        if first == '"':
            display: str | None = '"' + match.group(1) + '"'
        else:
            display = match.group(1).strip(" \t") or None
        end = text.find(">", match.end())
        if end < 0:
            raise ParseError("address lacks closing '>'")
        uri_text = text[match.end():end]
        if uri_text != uri_text.strip(" \t"):
            # RFC 4475 §3.1.2.14 (badaspec): no LWS inside the angle brackets
            raise ParseError(f"whitespace inside <> of an address: {text[:60]!r}")
        uri = parse_uri(uri_text)
        tail = text[end + 1:]
        if tail.strip(" \t") and tail.lstrip(" \t")[0] != ";":
            raise ParseError(f"junk after '>' in address: {text[:60]!r}")
        return NameAddr(uri, display, tuple(parse_params(tail)))
    # addr-spec: URI parameters would be ambiguous, so everything after ';' is a header param
    uri_text, sep, rest = text.partition(";")
    uri_text = uri_text.strip(" \t")
    if "?" in uri_text or "," in uri_text:
        # RFC 3261 §20.10: a URI with a comma, question mark or semicolon needs <>
        # (RFC 4475 §3.1.2.13, regbadct)
        raise ParseError(f"URI with headers must be enclosed in <>: {text[:60]!r}")
    return NameAddr(parse_uri(uri_text), None, tuple(parse_params(rest)) if sep else ())


@dataclass(frozen=True, slots=True)
class CSeq:
    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


# CSeq = 1*DIGIT LWS Method
_CSEQ = re.compile(r"[ \t]*([0-9]{1,10})[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*")


def parse_cseq_py(value: str) -> CSeq:
    match = _CSEQ.fullmatch(value)
    if not match:
        raise ParseError(f"malformed CSeq: {value[:40]!r}")
    seq = int(match.group(1))
    if seq >= 2**31:
        raise ParseError("CSeq number must be less than 2**31")
    return CSeq(seq, match.group(2))


# The compiled twins (same results and errors: they fall back to the references above).
split_list = split_list_py
parse_via = parse_via_py
parse_name_addr = parse_name_addr_py
parse_cseq = parse_cseq_py
if _accel.compiled is not None:
    _accel.compiled.bind_headers(Via, NameAddr, CSeq, parse_via_py, parse_name_addr_py,
                                 parse_cseq_py, split_list_py)
    split_list = _accel.compiled.split_list
    parse_via = _accel.compiled.parse_via
    parse_name_addr = _accel.compiled.parse_name_addr
    parse_cseq = _accel.compiled.parse_cseq
