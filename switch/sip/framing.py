"""Cutting SIP messages out of a byte stream (TCP, TLS) by Content-Length (RFC 3261 §18.3).

A stream carries messages back to back; the only way to find where one ends is the blank line
that ends its headers plus the Content-Length header, which is mandatory on streams. CRLFs
between messages are keepalives (RFC 5626 §3.5.1, §4.4.1: a "CRLFCRLF" ping, answered by
a "CRLF" pong, which the transport sends): they are skipped and counted.

A framing error is unrecoverable on a stream (RFC 4475 §3.1.2.3, §3.3.9: "the connection
should be closed"), so :meth:`StreamFramer.feed` raises :class:`ParseError` and the transport
answers 400/413 if it can and closes the connection.
"""

from __future__ import annotations

from .errors import ParseError

_MAX_HEAD_DEFAULT = 65535


class StreamFramer:
    """Incremental framer: ``feed(bytes) -> list of complete messages``."""

    __slots__ = ("_buffer", "_run", "keepalives_seen", "max_message", "pings_seen")

    def __init__(self, max_message: int = _MAX_HEAD_DEFAULT) -> None:
        self.max_message = max_message
        self._buffer = bytearray()
        self.keepalives_seen = 0  # CRLF runs skipped between messages
        self.pings_seen = 0  # of which "CRLFCRLF" pings that want a CRLF pong
        self._run = b""  # the CR/LF run in progress (it may arrive split over reads)

    @property
    def buffered(self) -> int:
        """Octets of an incomplete message waiting for more data."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buffer
        buf += data
        out: list[bytes] = []
        while buf:
            self._skip_keepalives(buf)
            if not buf:
                break
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self.max_message:
                    raise ParseError(f"header block over {self.max_message} octets",
                                     status=413)
                break
            head_len = end + 4
            length = _content_length(bytes(buf[:end]))
            total = head_len + length
            if total > self.max_message:
                raise ParseError(f"message of {total} octets is over the {self.max_message}"
                                 " limit", status=413)
            if len(buf) < total:
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
        return out

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
    """Content-Length (or its compact form ``l``) of a head; ParseError if missing or bad."""
    found: bytes | None = None
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if not sep or line[:1] in (b" ", b"\t"):
            continue
        lname = name.rstrip(b" \t").lower()
        if lname == b"content-length" or lname == b"l":
            if found is not None:
                raise ParseError("more than one Content-Length header")
            found = value.strip(b" \t")
    if found is None:
        raise ParseError("stream message lacks Content-Length")
    if not found.isdigit() or len(found) > 10:
        raise ParseError(f"bad Content-Length: {found[:20]!r}")
    return int(found)
