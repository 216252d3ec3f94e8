"""Cutting SIP messages out of a byte stream (TCP, TLS) by Content-Length (RFC 3261 §18.3).

A stream carries messages back to back; the only way to find where one ends is the blank line
that ends its headers plus the Content-Length header, which is mandatory on streams. CRLFs
between messages are keepalives (RFC 5626 §3.5.1, §4.4.1: a "CRLFCRLF" ping, answered by
a "CRLF" pong, which the transport sends): they are skipped and counted.

A framing error is unrecoverable on a stream (RFC 4475 §3.1.2.3, §3.3.9: "the connection
should be closed"), so :meth:`StreamFramer.feed` raises :class:`FramingError`. Two things
ride on that error so that a stream answers like a datagram would before it closes:

- ``framed``: the messages cut out before the error in the same read. They are complete and
  deserve their answers (RFC 4475 §3.1.1.8 dblreq: a request followed by junk in one read).
- ``head``: the header block of the message that could not be framed, when it is complete and
  within the size limit. The transport hands it to the SIP core, whose stream parser refuses
  it for the same reason (no, several or a bad Content-Length) and answers 400 from its Via,
  From, To, Call-ID and CSeq, as it answers a malformed datagram. An oversize message gets no
  head: its header block may be a valid request the node must not serve, and an oversize
  datagram is dropped unanswered too.
"""

from __future__ import annotations

from .errors import ParseError

_MAX_HEAD_DEFAULT = 65535


class FramingError(ParseError):
    """The stream cannot be cut any further (RFC 3261 §18.3); the connection must close.

    ``framed`` holds the complete messages cut before the error in the same :meth:`feed`
    call (deliver them first); ``head`` the unframeable message's header block with its
    blank line, or None when there is nothing the core could answer.
    """

    def __init__(self, reason: str, status: int = 400, *, head: bytes | None = None,
                 framed: list[bytes] | None = None) -> None:
        super().__init__(reason, status)
        self.head = head
        self.framed: list[bytes] = framed if framed is not None else []


class StreamFramer:
    """Incremental framer: ``feed(bytes) -> list of complete messages``."""

    __slots__ = ("_buffer", "_failed", "_run", "keepalives_seen", "max_message", "pings_seen")

    def __init__(self, max_message: int = _MAX_HEAD_DEFAULT) -> None:
        self.max_message = max_message
        self._buffer = bytearray()
        self.keepalives_seen = 0  # CRLF runs skipped between messages
        self.pings_seen = 0  # of which "CRLFCRLF" pings that want a CRLF pong
        self._run = b""  # the CR/LF run in progress (it may arrive split over reads)
        self._failed = False  # after a framing error the stream cannot be resynchronised

    @property
    def buffered(self) -> int:
        """Octets of an incomplete message waiting for more data."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Complete messages in the stream so far; :class:`FramingError` when it breaks."""
        if self._failed:
            raise FramingError("the stream already failed to frame")
        out: list[bytes] = []
        try:
            self._cut(data, out)
        except FramingError as error:
            self._failed = True
            error.framed = out
            raise
        return out

    def _cut(self, data: bytes, out: list[bytes]) -> None:
        buf = self._buffer
        buf += data
        while buf:
            self._skip_keepalives(buf)
            if not buf:
                return
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self.max_message:
                    raise FramingError(f"header block over {self.max_message} octets",
                                       status=413)
                return
            head = bytes(buf[:end + 4])
            total = len(head) + _content_length(head)
            if total > self.max_message:
                raise FramingError(f"message of {total} octets is over the"
                                   f" {self.max_message} limit", status=413)
            if len(buf) < total:
                return
            out.append(bytes(buf[:total]))
            del buf[:total]

    def _skip_keepalives(self, buf: bytearray) -> int | None:
        n = 0
        while n < len(buf) and buf[n] in (0x0D, 0x0A):
            n += 1
        if n == 0:
            self._run = b""
            return 0
        if not self._run:
            self.keepalives_seen += 1
        was_ping = b"\r\n\r\n" in self._run
        self._run = (self._run + bytes(buf[:n]))[-4:]
        if not was_ping and b"\r\n\r\n" in self._run:
            self.pings_seen += 1
        del buf[:n]
        return n


def _content_length(head: bytes) -> int:
    """Content-Length (or its compact form ``l``) of a head ending in CRLFCRLF.

    Raises :class:`FramingError` carrying ``head`` when the header is missing, repeated or
    not a number: RFC 3261 §18.3 makes it mandatory on streams, and RFC 4475 §3.1.2.3 (ncl)
    and §3.3.9 (mcl01) call the other two framing errors that close the connection.
    """
    found: bytes | None = None
    in_length = False  # the previous line was Content-Length: a folded line continues it
    for line in head[:-4].split(b"\r\n")[1:]:
        if line[:1] in (b" ", b"\t"):
            if in_length and found is not None:  # RFC 3261 §7.3.1: LWS folding
                found = (found + b" " + line.strip(b" \t")).strip(b" \t")
            continue
        name, sep, value = line.partition(b":")
        lname = name.rstrip(b" \t").lower()
        in_length = bool(sep) and lname in (b"content-length", b"l")
        if in_length:
            if found is not None:
                raise FramingError("more than one Content-Length header", head=head)
            found = value.strip(b" \t")
    if found is None:
        raise FramingError("stream message lacks Content-Length (RFC 3261 §18.3: a stream"
                           " cannot be framed without it)", head=head)
    if not found.isdigit() or len(found) > 10:
        raise FramingError(f"bad Content-Length: {found[:20]!r}", head=head)
    return int(found)
