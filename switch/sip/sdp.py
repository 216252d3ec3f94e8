"""Session Description Protocol (RFC 4566, clarified by RFC 8866): parse, inspect, serialize.

Theory of operation
-------------------
A description is a session part and a list of media sections, each a dataclass that keeps every
line it was given (attributes in order, unknown ones included), so ``serialize(parse(x))`` gives
back ``x`` for any description written with CRLF line ends. Parsing is strict about what would
make the description meaningless (no ``v=0`` first, no ``o=``, a line that is not
``<letter>=<value>``, a bad ``m=`` or ``c=`` or ``rtpmap``) and raises :class:`ParseError`; it
is tolerant of what real stacks send (LF line ends, a missing final newline, blank lines, an
empty ``s=``, lines slightly out of the RFC's order, ``m=`` lines without formats).

Grammar (RFC 4566 §9 / RFC 8866 §9), in the order the serializer writes it::

    session  = v o s [i] [u] *e *p [c] *b 1*( t *r ) [z] [k] *a *media
    media    = m [i] *c *b [k] *a
    m=<media> <port>[/<number of ports>] <proto> 1*(SP <fmt>)
    c=<nettype> <addrtype> <connection-address>    ; IP4 a.b.c.d[/ttl[/n]], IP6 addr[/n]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import ParseError

__all__ = ["DIRECTIONS", "Connection", "MediaDescription", "Origin", "RtpMap",
           "SessionDescription", "Timing"]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")  # RFC 4566 §6 / RFC 3264 §5.1
MAX_SDP = 65535

_LINE = re.compile(r"([a-z])=(.*)")
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
# m=<media> <port>[/<n>] <proto> <fmt>...
_MEDIA = re.compile(r"([!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+) ([0-9]{1,5})(?:/([0-9]{1,5}))?"
                    r" (\S+)((?: +\S+)*) *")
# a=rtpmap:<pt> <encoding>/<clock>[/<channels>]
_RTPMAP = re.compile(r"([0-9]{1,3}) +([^/\s]+)/([0-9]+)(?:/([0-9]+))?\s*")


def _fail(reason: str) -> ParseError:
    return ParseError(f"SDP: {reason}", status=400)


@dataclass(slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>``."""

    username: str = "-"
    session_id: str = "0"
    version: int = 0
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"

    @classmethod
    def parse(cls, value: str) -> Origin:
        parts = value.split()
        if len(parts) != 6 or not parts[1].isdigit() or not parts[2].isdigit():
            raise _fail(f"bad o= line {value[:80]!r}")
        return cls(parts[0], parts[1], int(parts[2]), parts[3], parts[4], parts[5])

    def __str__(self) -> str:
        return (f"{self.username} {self.session_id} {self.version} {self.nettype} "
                f"{self.addrtype} {self.address}")


@dataclass(slots=True)
class Connection:
    """``c=`` line. ``ttl`` only for IP4 multicast; ``count`` for a multicast address range."""

    address: str
    addrtype: str = "IP4"
    nettype: str = "IN"
    ttl: int | None = None
    count: int | None = None

    @classmethod
    def parse(cls, value: str) -> Connection:
        parts = value.split()
        if len(parts) != 3:
            raise _fail(f"bad c= line {value[:80]!r}")
        nettype, addrtype, address = parts
        ttl = count = None
        if "/" in address:
            address, *extra = address.split("/")
            try:
                numbers = [int(x) for x in extra]
            except ValueError as exc:
                raise _fail(f"bad multicast suffix in c= line {value[:80]!r}") from exc
            if addrtype.upper() == "IP4" and len(numbers) in (1, 2):
                ttl, count = numbers[0], numbers[1] if len(numbers) == 2 else None
            elif addrtype.upper() == "IP6" and len(numbers) == 1:
                count = numbers[0]
            else:
                raise _fail(f"bad multicast suffix in c= line {value[:80]!r}")
        if addrtype.upper() == "IP6" and ":" not in address and address != "::":
            raise _fail(f"IP6 connection address without ':' {address[:60]!r}")
        return cls(address, addrtype, nettype, ttl, count)

    @property
    def is_hold_address(self) -> bool:
        """RFC 2543 hold (RFC 3264 §8.4): c=IN IP4 0.0.0.0."""
        return self.address == "0.0.0.0"

    def __str__(self) -> str:
        text = f"{self.nettype} {self.addrtype} {self.address}"
        if self.ttl is not None:
            text += f"/{self.ttl}"
        if self.count is not None:
            text += f"/{self.count}"
        return text


@dataclass(slots=True)
class Timing:
    """``t=<start> <stop>`` with its ``r=`` repeat lines (kept verbatim)."""

    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, value: str) -> Timing:
        parts = value.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise _fail(f"bad t= line {value[:80]!r}")
        return cls(int(parts[0]), int(parts[1]))


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]`` (RFC 4566 §6)."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    def __str__(self) -> str:
        text = f"{self.payload_type} {self.encoding}/{self.clock_rate}"
        return text + (f"/{self.channels}" if self.channels is not None else "")


Attribute = tuple[str, str | None]  # (name, value); value None for a property attribute


class _Attributes:
    """Attribute accessors shared by the session and media levels."""

    attributes: list[Attribute]

    def attribute(self, name: str) -> str | None:
        """Value of the first ``a=name[:value]`` ("" for a property attribute), else None."""
        for key, value in self.attributes:
            if key == name:
                return "" if value is None else value
        return None

    def attributes_named(self, name: str) -> list[str]:
        return [value or "" for key, value in self.attributes if key == name]

    def has_attribute(self, name: str) -> bool:
        return any(key == name for key, _ in self.attributes)

    def remove_attribute(self, name: str) -> None:
        self.attributes[:] = [(k, v) for k, v in self.attributes if k != name]

    def add_attribute(self, name: str, value: str | None = None) -> None:
        self.attributes.append((name, value))

    @property
    def direction(self) -> str | None:
        """The direction attribute given at this level, None when absent."""
        for key, value in self.attributes:
            if value is None and key in DIRECTIONS:
                return key
        return None

    @direction.setter
    def direction(self, value: str | None) -> None:
        if value is not None and value not in DIRECTIONS:
            raise ValueError(f"not an SDP direction: {value!r}")
        kept = [(k, v) for k, v in self.attributes if not (v is None and k in DIRECTIONS)]
        if value is not None:
            kept.append((value, None))
        self.attributes[:] = kept


@dataclass(slots=True)
class MediaDescription(_Attributes):
    """One ``m=`` section with its own lines."""

    media: str = "audio"
    port: int = 0
    proto: str = "RTP/AVP"
    formats: list[str] = field(default_factory=list)
    port_count: int | None = None
    title: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[str] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)

    @classmethod
    def parse_m_line(cls, value: str) -> MediaDescription:
        match = _MEDIA.fullmatch(value)
        if not match:
            raise _fail(f"bad m= line {value[:80]!r}")
        port = int(match.group(2))
        if port > 65535:
            raise _fail(f"m= port out of range: {port}")
        count = int(match.group(3)) if match.group(3) else None
        return cls(match.group(1), port, match.group(4), match.group(5).split(), count)

    @property
    def connection(self) -> Connection | None:
        return self.connections[0] if self.connections else None

    @property
    def rejected(self) -> bool:
        """Port 0: a stream refused in an answer or disabled in an offer (RFC 3264 §6, §8.2)."""
        return self.port == 0

    def rtpmaps(self) -> dict[int, RtpMap]:
        """Payload type -> rtpmap, for every well-formed ``a=rtpmap`` line."""
        maps: dict[int, RtpMap] = {}
        for value in self.attributes_named("rtpmap"):
            match = _RTPMAP.fullmatch(value)
            if not match:
                raise _fail(f"bad rtpmap {value[:60]!r}")
            channels = int(match.group(4)) if match.group(4) else None
            pt = int(match.group(1))
            maps[pt] = RtpMap(pt, match.group(2), int(match.group(3)), channels)
        return maps

    def fmtp(self, fmt: str | int) -> str | None:
        """Parameters of ``a=fmtp:<fmt> <params>`` for one format, else None."""
        wanted = str(fmt)
        for value in self.attributes_named("fmtp"):
            pt, _, params = value.partition(" ")
            if pt == wanted:
                return params.strip()
        return None

    @property
    def ptime(self) -> int | None:
        value = self.attribute("ptime")
        try:
            return int(float(value)) if value else None
        except ValueError:
            return None

    @property
    def rtcp(self) -> tuple[int, Connection | None] | None:
        """``a=rtcp:<port> [<nettype> <addrtype> <address>]`` (RFC 3605)."""
        value = self.attribute("rtcp")
        if not value:
            return None
        port, _, rest = value.partition(" ")
        if not port.isdigit():
            raise _fail(f"bad a=rtcp {value[:60]!r}")
        return int(port), Connection.parse(rest) if rest.strip() else None

    @property
    def rtcp_mux(self) -> bool:
        return self.has_attribute("rtcp-mux")

    def m_line(self) -> str:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        return " ".join([self.media, port, self.proto, *self.formats])


@dataclass(slots=True)
class SessionDescription(_Attributes):
    """A whole description; ``media`` in ``m=`` order."""

    origin: Origin = field(default_factory=Origin)
    session_name: str | None = "-"
    version: int = 0
    information: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[str] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=lambda: [Timing()])
    zone: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)

    # -- parsing --------------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse a description; raises :class:`ParseError` (status 400) when it is broken."""
        if isinstance(data, bytes):
            if len(data) > MAX_SDP:
                raise _fail(f"description longer than {MAX_SDP} octets")
            text = data.decode("utf-8", "surrogateescape")
        else:
            text = data
        if "\x00" in text:
            raise _fail("NUL octet in description")
        lines = [line.rstrip("\r") for line in text.split("\n")]
        lines = [line for line in lines if line.strip()]
        if not lines or lines[0].rstrip() != "v=0":
            raise _fail("description does not start with v=0")
        sdp = cls(origin=_NO_ORIGIN, session_name=None, timings=[])
        current: MediaDescription | None = None
        for number, line in enumerate(lines[1:], start=2):
            match = _LINE.fullmatch(line)
            if not match:
                raise _fail(f"line {number} is not <type>=<value>: {line[:60]!r}")
            kind, value = match.group(1), match.group(2).rstrip(" \t")
            if kind == "m":
                current = MediaDescription.parse_m_line(value)
                sdp.media.append(current)
            elif current is not None:
                _media_line(current, kind, value, number)
            else:
                _session_line(sdp, kind, value, number)
        if sdp.origin is _NO_ORIGIN:
            raise _fail("description lacks o=")
        return sdp

    # -- serializing ----------------------------------------------------------------------------

    def serialize(self) -> bytes:
        out = [f"v={self.version}", f"o={self.origin}"]
        if self.session_name is not None:
            out.append(f"s={self.session_name}")
        _optional(out, "i", self.information)
        _optional(out, "u", self.uri)
        out += [f"e={v}" for v in self.emails] + [f"p={v}" for v in self.phones]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"b={v}" for v in self.bandwidths]
        for timing in self.timings:
            out.append(f"t={timing.start} {timing.stop}")
            out += [f"r={v}" for v in timing.repeats]
        _optional(out, "z", self.zone)
        _optional(out, "k", self.key)
        out += _render_attributes(self.attributes)
        for media in self.media:
            out.append(f"m={media.m_line()}")
            _optional(out, "i", media.title)
            out += [f"c={c}" for c in media.connections] + [f"b={v}" for v in media.bandwidths]
            _optional(out, "k", media.key)
            out += _render_attributes(media.attributes)
        return ("\r\n".join(out) + "\r\n").encode("utf-8", "surrogateescape")

    # -- effective values (media level overrides session level) ---------------------------------

    def connection_for(self, media: MediaDescription) -> Connection | None:
        return media.connection or self.connection

    def direction_for(self, media: MediaDescription) -> str:
        """RFC 3264 §5.1: media direction, else session direction, else sendrecv."""
        return media.direction or self.direction or "sendrecv"


_NO_ORIGIN = Origin("\0")  # sentinel: parse() saw no o= line


def _session_line(sdp: SessionDescription, kind: str, value: str, number: int) -> None:
    if kind == "o":
        if sdp.origin is not _NO_ORIGIN:
            raise _fail("second o= line")
        sdp.origin = Origin.parse(value)
    elif kind == "s":
        sdp.session_name = value
    elif kind == "i":
        sdp.information = value
    elif kind == "u":
        sdp.uri = value
    elif kind == "e":
        sdp.emails.append(value)
    elif kind == "p":
        sdp.phones.append(value)
    elif kind == "c":
        sdp.connection = Connection.parse(value)
    elif kind == "b":
        sdp.bandwidths.append(value)
    elif kind == "t":
        sdp.timings.append(Timing.parse(value))
    elif kind == "r":
        if not sdp.timings:
            raise _fail(f"line {number}: r= before any t=")
        sdp.timings[-1].repeats.append(value)
    elif kind == "z":
        sdp.zone = value
    elif kind == "k":
        sdp.key = value
    elif kind == "a":
        sdp.attributes.append(_parse_attribute(value, number))
    elif kind == "v":
        raise _fail(f"line {number}: second v= line")
    else:
        # RFC 4566 §5: a type letter we do not understand makes the description unusable
        raise _fail(f"line {number}: unknown session line type {kind!r}")


def _media_line(media: MediaDescription, kind: str, value: str, number: int) -> None:
    if kind == "a":
        media.attributes.append(_parse_attribute(value, number))
    elif kind == "c":
        media.connections.append(Connection.parse(value))
    elif kind == "b":
        media.bandwidths.append(value)
    elif kind == "i":
        media.title = value
    elif kind == "k":
        media.key = value
    else:
        raise _fail(f"line {number}: {kind}= is not allowed in a media section")


def _parse_attribute(value: str, number: int) -> Attribute:
    name, sep, rest = value.partition(":")
    if not _TOKEN.fullmatch(name):
        raise _fail(f"line {number}: bad attribute name {name[:40]!r}")
    return (name, rest if sep else None)


def _render_attributes(attributes: list[Attribute]) -> list[str]:
    return [f"a={k}" if v is None else f"a={k}:{v}" for k, v in attributes]


def _optional(out: list[str], kind: str, value: str | None) -> None:
    if value is not None:
        out.append(f"{kind}={value}")
