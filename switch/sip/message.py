"""SIP messages: parse from bytes, build, and serialize (RFC 3261 §7, §20).

Theory of operation: :func:`parse_message` turns one complete message (a datagram, or a frame
cut from a stream) into a :class:`Request` or :class:`Response`. Header values are kept raw and
in order; the structured views (``vias``, ``cseq``, ``from_``...) are parsed on first use and
cached, and they raise :class:`ParseError` carrying the status to answer. ``serialize`` always
recomputes Content-Length from the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from .errors import ParseError
from .headers import (
    TOKEN,
    CSeq,
    Headers,
    NameAddr,
    Via,
    parse_cseq,
    parse_name_addr,
    parse_via,
    split_list,
)
from .uri import Uri, parse_uri

MAX_MESSAGE_SIZE = 65535
SIP_VERSION = "SIP/2.0"

# Request-Line = Method SP Request-URI SP SIP-Version CRLF
_REQUEST_LINE = re.compile(r"^([A-Za-z0-9\-.!%*_+`'~]+) (\S+) (SIP/\d+\.\d+)$")
# Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF
_STATUS_LINE = re.compile(r"^(SIP/\d+\.\d+) ([0-9]{3}) ?(.*)$", re.DOTALL)
_HEADER_NAME = TOKEN

# Headers without which a request cannot be processed at all (RFC 3261 §8.1.1).
MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")


@dataclass(eq=False)
class Message:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    # -- structured views (parsed lazily, cached; raise ParseError) ---------------------------

    @cached_property
    def vias(self) -> list[Via]:
        values = self.headers.getall("Via")
        if not values:
            raise ParseError("missing Via")
        return [parse_via(v) for v in values]

    @property
    def top_via(self) -> Via:
        return self.vias[0]

    @cached_property
    def cseq(self) -> CSeq:
        value = self._single("CSeq")
        return parse_cseq(value)

    @cached_property
    def call_id(self) -> str:
        value = self._single("Call-ID").strip()
        if not value or any(c in value for c in " \t"):
            raise ParseError("malformed Call-ID")
        return value

    @cached_property
    def from_(self) -> NameAddr:
        return parse_name_addr(self._single("From"))

    @cached_property
    def to(self) -> NameAddr:
        return parse_name_addr(self._single("To"))

    @cached_property
    def contacts(self) -> list[NameAddr]:
        """Contact addresses; ``[]`` when absent. ``Contact: *`` is handled by the registrar."""
        return [parse_name_addr(v) for v in self.headers.getall("Contact") if v.strip() != "*"]

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("Content-Type")
        return value.split(";")[0].strip().lower() if value else None

    def header_int(self, name: str) -> int | None:
        """Integer header such as Expires or Max-Forwards; ParseError if not a number."""
        value = self.headers.get(name)
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit() or len(value) > 10:
            raise ParseError(f"{name} is not a number: {value[:20]!r}")
        return int(value)

    def _single(self, name: str) -> str:
        values = self.headers.fields(name)
        if not values:
            raise ParseError(f"missing {name}")
        if len(values) > 1 and len(set(v.strip() for v in values)) > 1:
            raise ParseError(f"more than one {name} header")
        return values[0]

    def validate(self) -> None:
        """Check the headers every element relies on; raise ParseError with status to answer."""
        for name in MANDATORY:
            if self.headers.get(name) is None:
                raise ParseError(f"missing {name}")
        _ = (self.vias, self.cseq, self.call_id, self.from_, self.to)

    # -- output -------------------------------------------------------------------------------

    def start_line(self) -> str:
        raise NotImplementedError

    def serialize(self) -> bytes:
        lines = [self.start_line()]
        for name, value in self.headers:
            if name == "Content-Length":
                continue
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass(eq=False)
class Request(Message):
    method: str = "OPTIONS"
    uri: Uri = field(default_factory=lambda: parse_uri("sip:invalid"))
    version: str = SIP_VERSION

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def validate(self) -> None:
        super().validate()
        if self.cseq.method != self.method:
            raise ParseError("CSeq method does not match the request method")

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


@dataclass(eq=False)
class Response(Message):
    status: int = 200
    reason: str = "OK"
    version: str = SIP_VERSION

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


# --------------------------------------------------------------------------------------------
# Parsing


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    # Tolerate leading CRLFs (keepalives, RFC 3261 §7.5) and bare-LF line ends.
    data = data.lstrip(b"\r\n")
    idx = data.find(b"\r\n\r\n")
    if idx >= 0:
        return data[:idx], data[idx + 4:]
    idx = data.find(b"\n\n")
    if idx >= 0:
        return data[:idx], data[idx + 2:]
    raise ParseError("message lacks the blank line that ends the headers")


def _unfold(head: str) -> list[str]:
    """Split into lines and join continuation lines (RFC 3261 §7.3.1 header folding)."""
    lines: list[str] = []
    for raw in re.split(r"\r\n|\n", head):
        if raw[:1] in (" ", "\t"):
            if not lines:
                raise ParseError("message starts with a continuation line")
            lines[-1] = lines[-1].rstrip(" \t") + " " + raw.strip(" \t")
        else:
            lines.append(raw)
    return lines


def parse_message(data: bytes, *, datagram: bool = True) -> Request | Response:
    """Parse one complete SIP message.

    Over a datagram, octets past Content-Length are discarded and a missing Content-Length
    means "the rest of the packet" (RFC 3261 §18.3); a body shorter than Content-Length is an
    error. Raises :class:`ParseError` (status 400, 413 or 505) on malformed input.
    """
    if len(data) > MAX_MESSAGE_SIZE:
        raise ParseError("message too large", status=413)
    head_bytes, body = _split_head(data)
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError:
        head = head_bytes.decode("utf-8", "surrogateescape")
    lines = _unfold(head)
    start, header_lines = lines[0], lines[1:]
    headers = Headers()
    for line in header_lines:
        name, sep, value = line.partition(":")
        name = name.rstrip(" \t")
        if not sep or not _HEADER_NAME.match(name):
            raise ParseError(f"malformed header line: {line[:60]!r}")
        headers.add(name, value.strip(" \t"))

    body = _frame_body(headers, body, datagram=datagram)
    message: Request | Response
    status_match = _STATUS_LINE.match(start)
    if status_match:
        version, code, reason = status_match.groups()
        if version != SIP_VERSION:
            raise ParseError(f"unsupported SIP version {version}", status=505)
        message = Response(headers=headers, body=body, status=int(code), reason=reason,
                           version=version)
        return message
    request_match = _REQUEST_LINE.match(start)
    if not request_match:
        raise ParseError(f"malformed start line: {start[:60]!r}")
    method, uri_text, version = request_match.groups()
    if version != SIP_VERSION:
        raise ParseError(f"unsupported SIP version {version}", status=505)
    message = Request(headers=headers, body=body, method=method, uri=parse_uri(uri_text),
                      version=version)
    return message


def _frame_body(headers: Headers, body: bytes, *, datagram: bool) -> bytes:
    values = headers.fields("Content-Length")
    if not values:
        if datagram:
            return body
        raise ParseError("stream message lacks Content-Length")
    if len({v.strip() for v in values}) > 1:
        raise ParseError("conflicting Content-Length headers")
    text = values[0].strip()
    if not text.isdigit() or len(text) > 10:
        raise ParseError(f"bad Content-Length: {text[:20]!r}")
    length = int(text)
    if length > len(body):
        raise ParseError("Content-Length is larger than the body")
    return body[:length]


# --------------------------------------------------------------------------------------------
# Building


REASONS: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 301: "Moved Permanently",
    302: "Moved Temporarily", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type", 416: "Unsupported URI Scheme",
    420: "Bad Extension", 421: "Extension Required", 423: "Interval Too Brief",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
    500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable",
    504: "Server Time-out", 505: "Version Not Supported", 513: "Message Too Large",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
}

# Headers copied from a request into its responses (RFC 3261 §8.2.6.2).
_COPIED = ("Via", "From", "To", "Call-ID", "CSeq")


def make_response(request: Request, status: int, reason: str | None = None, *,
                  to_tag: str | None = None, body: bytes = b"",
                  extra: list[tuple[str, str]] | None = None) -> Response:
    """Build a response to ``request`` that copies Via, From, To, Call-ID and CSeq.

    ``to_tag`` is added to To when it has none (every non-100 response of a UAS needs one).
    """
    headers = Headers()
    for name in _COPIED:
        for value in request.headers.fields(name):
            if name == "To" and to_tag is not None and status != 100:
                try:
                    to = parse_name_addr(value)
                except ParseError:
                    to = None
                if to is not None and to.tag is None:
                    value = f"{value};tag={to_tag}"
            headers.add(name, value)
    if status == 100 and request.headers.get("Timestamp"):
        headers.add("Timestamp", request.headers.get("Timestamp") or "")
    for name, value in extra or ():
        headers.add(name, value)
    return Response(headers=headers, body=body, status=status,
                    reason=reason if reason is not None else REASONS.get(status, "Unknown"))


def split_comma_values(value: str) -> list[str]:
    """Public helper for callers that must split a list header they read raw."""
    return split_list(value)
