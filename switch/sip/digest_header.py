"""Grammar of the HTTP/SIP authentication headers (RFC 7235 §2.1, RFC 3261 §25.1, RFC 7616 §3).

Parses WWW-Authenticate / Proxy-Authenticate (one or more challenges) and Authorization /
Proxy-Authorization (one set of credentials) into :class:`AuthParams`, and renders them back.
Hostile input gets an :class:`AuthError` (a :class:`ParseError`, status 400) and nothing else:
values are bounded in length, quoted strings must close, parameters may not repeat.

::

    challenge   = auth-scheme [ 1*SP #auth-param ]
    auth-param  = token BWS "=" BWS ( token / quoted-string )
    quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE ;  quoted-pair = "\\" CHAR
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import ParseError

__all__ = ["MAX_AUTH_HEADER", "AuthError", "AuthParams", "parse_authorization",
           "parse_www_authenticate", "render_auth"]


class AuthError(ParseError):
    """An Authorization/WWW-Authenticate value is malformed or unusable (answer 400)."""


_TOKEN_CHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN = re.compile(_TOKEN_CHARS)
_WS = " \t\r\n"
# The everyday shape of one parameter, matched in one step: name BWS "=" BWS (quoted-string /
# token) BWS, then "," or the end. Anything else (a new challenge, bad quoting, junk) is left
# to the character scanner below, which gives the precise error. The quoted-string content is
# unrolled (runs of qdtext between quoted-pairs, never CR, LF or NUL): one character class per
# run instead of an alternation per character, a third faster on a digest response.
_PARAM_FAST = re.compile(
    rf'[ \t\r\n]*({_TOKEN_CHARS})[ \t\r\n]*=[ \t\r\n]*'
    rf'(?:"([^"\\\r\n\x00]*(?:\\[^\r\n\x00][^"\\\r\n\x00]*)*)"|({_TOKEN_CHARS}))'
    rf'[ \t\r\n]*(,|\Z)')
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
MAX_AUTH_HEADER = 8192  # longer values are refused: no legitimate challenge is that big


@dataclass(frozen=True, slots=True)
class AuthParams:
    """One challenge or one set of credentials: the scheme and its parameters.

    Parameter names are lower-cased; values are unquoted and unescaped.
    """

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.params.get(name.lower())

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"


class _Scanner:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_AUTH_HEADER:
            raise AuthError(f"authentication header longer than {MAX_AUTH_HEADER} characters")
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def token(self, what: str) -> str:
        match = _TOKEN.match(self.text, self.pos)
        if not match:
            raise AuthError(f"expected {what} at offset {self.pos} of authentication header")
        self.pos = match.end()
        return match.group(0)

    def quoted(self) -> str:
        # caller saw the opening quote
        self.pos += 1
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\\":
                if self.pos + 1 >= len(text):
                    break
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            if char in "\r\n\x00":
                raise AuthError("control character inside a quoted string")
            out.append(char)
            self.pos += 1
        raise AuthError("unterminated quoted string in authentication header")


def _parse_params(scanner: _Scanner, allow_next_challenge: bool) -> dict[str, str]:
    """Read ``#auth-param``; stop (position unchanged) where a new challenge starts."""
    params: dict[str, str] = {}
    fast = _PARAM_FAST.match
    text, end = scanner.text, len(scanner.text)
    while True:
        found = fast(text, scanner.pos)
        if found is not None:
            name, quoted, token, _ = found.groups()
            name = name.lower()
            if name in params:
                raise AuthError(f"parameter {name[:40]!r} given twice")
            if quoted is None:
                params[name] = token
            else:
                params[name] = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
            scanner.pos = found.end()
            if scanner.pos >= end:
                return params
            continue
        scanner.skip_ws()
        while scanner.peek() == ",":  # empty list elements are legal (RFC 7230 §7)
            scanner.pos += 1
            scanner.skip_ws()
        if scanner.at_end():
            return params
        start = scanner.pos
        name = scanner.token("parameter name").lower()
        scanner.skip_ws()
        if scanner.peek() != "=":
            if allow_next_challenge and params:
                scanner.pos = start  # "..., Basic realm=x": the next challenge begins here
                return params
            raise AuthError(f"parameter {name[:40]!r} lacks '='")
        scanner.pos += 1
        scanner.skip_ws()
        value = scanner.quoted() if scanner.peek() == '"' else scanner.token(f"value of {name!r}")
        if name in params:
            raise AuthError(f"parameter {name[:40]!r} given twice")
        params[name] = value
        scanner.skip_ws()
        if scanner.at_end():
            return params
        if scanner.peek() != ",":
            raise AuthError(f"expected ',' after parameter {name[:40]!r}")
        scanner.pos += 1


def _parse_one(scanner: _Scanner, allow_next: bool) -> AuthParams:
    scanner.skip_ws()
    scheme = scanner.token("authentication scheme")
    if not scanner.at_end() and scanner.peek() not in _WS:
        raise AuthError(f"authentication scheme {scheme[:40]!r} not followed by a space")
    return AuthParams(scheme, _parse_params(scanner, allow_next))


def parse_authorization(value: str) -> AuthParams:
    """Parse an Authorization / Proxy-Authorization value (the node's one credentials
    parser: the registrar and INVITE authentication both come here through
    :meth:`switch.sip.auth.DigestChallenger.verify`). Raises :class:`AuthError` only."""
    if not isinstance(value, str):
        raise AuthError("authentication header is not text")
    creds = _parse_one(_Scanner(value), allow_next=False)
    username_ext = creds.params.pop("username*", None)
    if username_ext is not None:  # RFC 7616 §3.4.4 (RFC 5987 ext-value)
        if "username" in creds.params:
            raise AuthError("both username and username* given")
        creds.params["username"] = _decode_ext_value(username_ext)
    return creds


def parse_www_authenticate(value: str) -> list[AuthParams]:
    """Parse a WWW-Authenticate / Proxy-Authenticate value (one or more challenges)."""
    if not isinstance(value, str):
        raise AuthError("authentication header is not text")
    scanner = _Scanner(value)
    challenges = [_parse_one(scanner, allow_next=True)]
    while not scanner.at_end():
        challenges.append(_parse_one(scanner, allow_next=True))
        scanner.skip_ws()
    return challenges


def _decode_ext_value(text: str) -> str:
    charset, sep, rest = text.partition("'")
    _lang, sep2, encoded = rest.partition("'")
    if not (sep and sep2) or charset.upper() != "UTF-8":
        raise AuthError("username* is not a UTF-8 ext-value")
    try:
        raw = bytearray()
        i = 0
        while i < len(encoded):
            if encoded[i] == "%":
                raw.append(int(encoded[i + 1:i + 3], 16))
                i += 3
            else:
                raw.extend(encoded[i].encode("ascii"))
                i += 1
        return raw.decode("utf-8")
    except (ValueError, IndexError, UnicodeError) as exc:
        raise AuthError("username* is badly percent-encoded") from exc


_QUOTED_PARAMS = frozenset({"realm", "nonce", "opaque", "username", "uri", "response",
                            "cnonce", "domain"})


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_auth(scheme: str, params: Iterable[tuple[str, str]], *,
                quote: Iterable[str] = ()) -> str:
    """Serialize a challenge/credentials; quotes the parameters RFC 7616 wants quoted
    (plus those named in ``quote``, e.g. ``qop`` in a challenge, §3.3)."""
    also = {name.lower() for name in quote}
    parts = []
    for name, value in params:
        lname = name.lower()
        quoted = lname in _QUOTED_PARAMS or lname in also or not _TOKEN.fullmatch(value)
        parts.append(f"{name}={_quote(value) if quoted else value}")
    return f"{scheme} " + ", ".join(parts)
