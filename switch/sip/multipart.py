"""Multipart bodies (RFC 2046 §5.1): multipart/mixed, /alternative, /related, /signed...

SIP carries them for SDP plus ISUP, for S/MIME (RFC 3261 §23) and for things like
application/resource-lists. The parser cuts the parts by the boundary given in Content-Type;
it does not decode Content-Transfer-Encoding (SIP bodies are "binary", RFC 3261 §7.4.1) nor
recurse into nested multiparts (call :func:`parse_multipart` again on a part).

Grammar (RFC 2046 §5.1.1): ``dash-boundary = "--" boundary``; the first delimiter may start
the body; every later one is ``CRLF dash-boundary``; the close delimiter has ``--`` appended;
text before the first delimiter (preamble) and after the close delimiter (epilogue) is ignored.
A part is MIME headers, an empty line, then its content; a part with no headers starts with
the empty line and is ``text/plain`` by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ParseError
from .headers import Headers, param_value, parse_params, unquote_string

# boundary := 0*69<bchars> bcharsnospace (RFC 2046 §5.1.1)
_BCHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ")
MAX_PARTS = 64


@dataclass(eq=False)
class BodyPart:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        value = self.headers.get("Content-Type")
        return value.split(";")[0].strip().lower() if value else "text/plain"


def boundary_of(content_type: str) -> str:
    """The ``boundary`` parameter of a multipart Content-Type value."""
    _, sep, params_text = content_type.partition(";")
    value = param_value(parse_params(params_text), "boundary") if sep else None
    if value is None:
        raise ParseError("multipart Content-Type lacks a boundary", status=400)
    value = unquote_string(value)
    if not 1 <= len(value) <= 70 or value.endswith(" ") or not _BCHARS.issuperset(value):
        raise ParseError(f"bad multipart boundary: {value[:72]!r}")
    return value


def parse_multipart(content_type: str, body: bytes) -> list[BodyPart]:
    """Split ``body`` into its parts. Raises ParseError for a body that does not close."""
    delimiter = b"--" + boundary_of(content_type).encode("ascii")
    if body.startswith(delimiter):
        pos = 0
    else:
        pos = body.find(b"\r\n" + delimiter)
        if pos < 0:
            raise ParseError("multipart body lacks its first boundary delimiter", status=400)
        pos += 2
    parts: list[BodyPart] = []
    while True:
        after = pos + len(delimiter)
        if body[after:after + 2] == b"--":
            return parts  # close delimiter; the epilogue is ignored
        # transport-padding (LWSP) then CRLF end the delimiter line
        line_end = body.find(b"\r\n", after)
        if line_end < 0 or body[after:line_end].strip(b" \t"):
            raise ParseError("malformed multipart boundary line", status=400)
        content_start = line_end + 2
        nxt = body.find(b"\r\n" + delimiter, content_start - 2)
        if nxt < 0:
            raise ParseError("multipart body lacks its close delimiter", status=400)
        if len(parts) >= MAX_PARTS:
            raise ParseError(f"more than {MAX_PARTS} body parts", status=400)
        parts.append(_parse_part(body[content_start:max(nxt, content_start)]))
        pos = nxt + 2


def _parse_part(raw: bytes) -> BodyPart:
    if raw.startswith(b"\r\n"):
        return BodyPart(Headers(), raw[2:])
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        head, content = raw, b""
    else:
        head, content = raw[:end], raw[end + 4:]
    headers = Headers()
    unfolded: list[str] = []
    for line in head.decode("utf-8", "surrogateescape").split("\r\n"):
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip(" \t")
        else:
            unfolded.append(line)
    for line in unfolded:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ParseError(f"malformed body-part header: {line[:60]!r}", status=400)
        headers.add(name.strip(" \t"), value.strip(" \t"))
    return BodyPart(headers, content)
