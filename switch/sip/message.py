"""SIP messages: parse from bytes, build, and serialize (RFC 3261 §7, §20).

Theory of operation: :func:`parse_message` turns one complete message (a datagram, or a frame
cut from a stream) into a :class:`Request` or :class:`Response`. Header values are kept raw and
in order; the structured views (``vias``, ``cseq``, ``from_``...) are parsed on first use and
cached, and they raise :class:`ParseError` carrying the status to answer. ``serialize`` always
recomputes Content-Length from the body.

Code that already holds a view (the endpoint after stamping the top Via, ``reply`` building a
To it has just written) uses the public methods of the view's descriptor instead of touching
``__dict__``: ``Request.to.peek(request)`` (the cached view or None, never parses),
``Response.to.preset(response, view)`` and ``Request.vias.reset(request)`` (after the header
changed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

from . import _accel
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
from .multipart import BodyPart, parse_multipart
from .rawhead import split_head
from .uri import SipUri, Uri, parse_uri

MAX_MESSAGE_SIZE = 65535
SIP_VERSION = "SIP/2.0"

# SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT (case-insensitive, RFC 3261 §7.1)
_VERSION = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
# rfc1123-date = wkday "," SP date1 SP time SP "GMT" (RFC 3261 §20.17: only GMT)
_DATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT")

# Headers without which a request cannot be processed at all (RFC 3261 §8.1.1).
MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")
COPIED_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")
"""The headers a response copies from its request, in this order (RFC 3261 §8.2.6.2); the
only ones a core-generated error answer carries besides its own."""
# Headers that may appear once only (RFC 4475 §3.3.8 multi01: duplicates get 400).
_SINGLE = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length")
# Methods known to be tokens, so the Request-Line check skips the regex for them.
_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK",
                      "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"})


_T = TypeVar("_T")


class cached_property(Generic[_T]):  # a drop-in for functools.cached_property
    """Compute once, then store in the instance ``__dict__`` (which then shadows us).

    ``functools.cached_property`` takes a lock on every first access in Python 3.11, which
    costs more than parsing a CSeq; views are per message and never shared across threads.
    """

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def peek(self, instance: object) -> _T | None:
        """The cached value of ``instance``, or None when not computed yet (never computes)."""
        value: _T | None = instance.__dict__.get(self.name)
        return value

    def preset(self, instance: object, value: _T) -> None:
        """Cache ``value`` for ``instance``; the caller vouches that it equals what the getter
        would compute now (e.g. the view of a header it has just written)."""
        instance.__dict__[self.name] = value

    def reset(self, instance: object) -> None:
        """Forget the cached value (the header changed); the next read computes it again."""
        instance.__dict__.pop(self.name, None)

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached_property[_T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...
    def __get__(self, instance: object | None, owner: type | None = None
                ) -> _T | cached_property[_T]:
        if instance is None:
            return self
        value = self.func(instance)
        instance.__dict__[self.name] = value
        return value


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

    @cached_property
    def top_via(self) -> Via:
        """The first Via hop; parses only that one unless ``vias`` was read already."""
        if "vias" in self.__dict__:
            return self.vias[0]
        value = self.headers.get("Via")
        if value is None:
            raise ParseError("missing Via")
        if "," in value:
            items = split_list(value)
            if not items:
                raise ParseError("empty Via")
            value = items[0]
        return parse_via(value)

    @cached_property
    def cseq(self) -> CSeq:
        value = self.headers.single("CSeq")
        return parse_cseq(value)

    @cached_property
    def call_id(self) -> str:
        # callid = word [ "@" word ]; no LWS inside
        value = self.headers.single("Call-ID").strip(" \t")
        if not value or " " in value or "\t" in value:
            raise ParseError("malformed Call-ID")
        return value

    @cached_property
    def from_(self) -> NameAddr:
        return parse_name_addr(self.headers.single("From"))

    @cached_property
    def to(self) -> NameAddr:
        return parse_name_addr(self.headers.single("To"))

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
        value = value.strip(" \t")
        if not value.isdigit() or not value.isascii() or len(value) > 10:
            raise ParseError(f"{name} is not a number: {value[:20]!r}")
        return int(value)

    @property
    def parts(self) -> list[BodyPart]:
        """Body parts of a multipart body (RFC 2046), or ``[]`` when the body is not one."""
        value = self.headers.get("Content-Type")
        if not value or not value.lstrip(" \t")[:10].lower().startswith("multipart/"):
            return []
        return parse_multipart(value, self.body)

    def validate(self) -> None:
        """Check the headers every element relies on; raise ParseError with status to answer."""
        headers = self.headers
        for name in MANDATORY:
            if name not in headers:
                raise ParseError(f"missing {name}")
        for name in _SINGLE:
            if headers.count(name) > 1:
                raise ParseError(f"more than one {name} header")
        _ = (self.vias, self.cseq, self.call_id, self.from_, self.to, self.contacts)
        date = headers.get("Date")
        if date is not None and not _DATE.fullmatch(date):
            # RFC 4475 §3.1.2.12 (baddate): only GMT dates are legal; 400 is reasonable
            raise ParseError(f"malformed Date (must be an RFC 1123 date in GMT): {date[:40]!r}")

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


def _split_message(data: bytes) -> tuple[bytes, bytes]:
    """Cut the head (start line and headers) from the body at the first empty line."""
    if data[:1] in (b"\r", b"\n"):
        # tolerate leading CRLFs (keepalives, RFC 3261 §7.5)
        data = data.lstrip(b"\r\n")
    idx = data.find(b"\r\n\r\n")
    if idx >= 0:
        lf = data.find(b"\n\n", 0, idx)
        if lf < 0:
            return data[:idx], data[idx + 4:]
        return data[:lf], data[lf + 2:]
    idx = data.find(b"\n\n")
    if idx >= 0:
        # bare-LF line ends: not RFC 3261, but unambiguous and common in hand-written tests
        return data[:idx], data[idx + 2:]
    raise ParseError("message lacks the blank line that ends the headers")


def parse_message_py(data: bytes, *, datagram: bool = True,
                     max_size: int = MAX_MESSAGE_SIZE) -> Request | Response:
    """Parse one complete SIP message (the reference; :data:`parse_message` may be its
    compiled twin, see ``_accel``).

    Over a datagram, octets past Content-Length are discarded and a missing Content-Length
    means "the rest of the packet" (RFC 3261 §18.3); a body shorter than Content-Length is an
    error. Raises :class:`ParseError` (status 400, 413 or 505) on malformed input.
    """
    if len(data) > max_size:
        raise ParseError(f"message of {len(data)} octets is over the {max_size} limit",
                         status=413)
    head, body = _split_message(data)
    start, items, keys = split_head(head)
    headers = Headers.from_parsed(items, keys)
    body = _frame_body(headers, keys, body, datagram=datagram)
    if start[:4].upper() == "SIP/":
        return _parse_status_line(start, headers, body)
    # Request-Line = Method SP Request-URI SP SIP-Version CRLF (exactly one SP each: RFC 4475
    # §3.1.2.7-10 ltgtruri, lwsruri, lwsstart and trws are all answered 400)
    parts = start.split(" ")
    if len(parts) != 3:
        raise ParseError(f"malformed request line (need Method SP URI SP Version):"
                         f" {start[:80]!r}")
    method, uri_text, version = parts
    if method not in _METHODS and not TOKEN.match(method):
        raise ParseError(f"request method is not a token: {method[:40]!r}")
    if version != SIP_VERSION:
        version = _check_version(version)
    if uri_text[:1] == "<":
        # RFC 4475 §3.1.2.7 (ltgtruri)
        raise ParseError("Request-URI must not be enclosed in <>")
    uri = parse_uri(uri_text)
    if isinstance(uri, SipUri) and uri.headers:
        # RFC 3261 §19.1.5; RFC 4475 §3.1.2.11 (escruri): 400
        raise ParseError("Request-URI must not contain URI headers")
    return Request(headers, body, method, uri, version)  # positional: half the cost of keywords


parse_message = parse_message_py
if _accel.compiled is not None:
    _accel.compiled.bind_message(Headers, Request, Response, parse_message_py)
    parse_message = _accel.compiled.parse_message


def _check_version(version: str) -> str:
    if not _VERSION.fullmatch(version):
        raise ParseError(f"malformed SIP-Version: {version[:20]!r}")
    if version.upper() != SIP_VERSION:
        raise ParseError(f"unsupported SIP version {version[:20]}", status=505)
    return SIP_VERSION


def _parse_status_line(start: str, headers: Headers, body: bytes) -> Response:
    # Status-Line = SIP-Version SP Status-Code SP Reason-Phrase; Status-Code = 3DIGIT
    version, sep, rest = start.partition(" ")
    code, _, reason = rest.partition(" ")
    if not sep or len(code) != 3 or not code.isdigit() or not code.isascii():
        raise ParseError(f"malformed status line: {start[:60]!r}")
    status = int(code)
    if not 100 <= status <= 699:
        raise ParseError(f"status code out of range: {status}")
    if version != SIP_VERSION:
        version = _check_version(version)
    return Response(headers, body, status, reason, version)


def _frame_body(headers: Headers, keys: list[str], body: bytes, *, datagram: bool) -> bytes:
    count = keys.count("content-length")
    if count == 0:
        if datagram:
            return body
        raise ParseError("stream message lacks Content-Length")
    if count > 1:
        # RFC 4475 §3.3.9 (mcl01)
        raise ParseError("more than one Content-Length header")
    text = headers.get("Content-Length") or ""
    if not text.isdigit() or not text.isascii() or len(text) > 10:
        # RFC 4475 §3.1.2.3 (ncl): a negative or junk length is a framing error
        raise ParseError(f"bad Content-Length: {text[:20]!r}")
    length = int(text)
    if length > len(body):
        # RFC 4475 §3.1.2.2 (clerr); over UDP octets past Content-Length are dropped instead
        raise ParseError(f"Content-Length {length} is larger than the {len(body)}-octet body")
    return body[:length] if length < len(body) else body


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


def make_response(request: Request, status: int, reason: str | None = None, *,
                  to_tag: str | None = None, body: bytes = b"",
                  extra: list[tuple[str, str]] | None = None) -> Response:
    """Build a response to ``request`` that copies Via, From, To, Call-ID and CSeq.

    ``to_tag`` is added to To when it has none (every non-100 response of a UAS needs one).
    """
    headers = Headers()
    for name in COPIED_HEADERS:
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
