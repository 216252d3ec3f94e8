"""Bencode, the encoding of rtpengine's ng control protocol (BitTorrent BEP 3 §bencoding).

Theory of operation
-------------------
Four types: integers ``i<n>e``, byte strings ``<len>:<bytes>``, lists ``l...e`` and
dictionaries ``d<key><value>...e``. The ng protocol sends text (call ids, tags, SDP) as byte
strings, so :func:`decode` gives ``str`` for every string that is valid UTF-8 and ``bytes``
otherwise (a ``play media`` ``blob`` stays binary); :func:`encode` accepts both, plus ``bool``
(as 0/1, for convenience) and nothing else, so a programming error is a ``TypeError`` here and
never a malformed datagram on the wire.

BEP 3 wants dictionary keys sorted; rtpengine does not insist (its docs say so), so the decoder
accepts any order, and the encoder sorts them, being strict in what it sends.

Decoding untrusted input never raises anything but :class:`BencodeError` (with the offset
where it broke); a nesting limit keeps a hostile datagram from exhausting the stack.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BencodeError", "Value", "decode", "encode"]

Value = Any  # int | str | bytes | list[Value] | dict[str, Value]
MAX_DEPTH = 32


class BencodeError(ValueError):
    """Input that is not bencode; ``offset`` is where decoding stopped."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"bencode: {reason} at offset {offset}")
        self.reason = reason
        self.offset = offset


def encode(value: Value) -> bytes:
    """Bencode ``value`` (``int``, ``bool``, ``str``, ``bytes``, ``list``/``tuple``, ``dict``)."""
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Value, out: list[bytes]) -> None:
    if isinstance(value, bool | int):
        out.append(b"i%de" % int(value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, list | tuple):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, dict):
        out.append(b"d")
        keys = []
        for key in value:
            if not isinstance(key, str | bytes):
                raise TypeError(f"bencode dictionary keys must be strings, not {type(key)}")
            keys.append((key.encode("utf-8") if isinstance(key, str) else key, key))
        for raw_key, key in sorted(keys):
            out.append(b"%d:" % len(raw_key))
            out.append(raw_key)
            _encode(value[key], out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def decode(data: bytes) -> Value:
    """Decode one complete value; trailing bytes are an error."""
    value, end = _decode(data, 0, 0)
    if end != len(data):
        raise BencodeError("trailing data", end)
    return value


def decode_prefix(data: bytes, start: int = 0) -> tuple[Value, int]:
    """Decode one value at ``start``; return it and the offset just after it."""
    return _decode(data, start, 0)


def _decode(data: bytes, pos: int, depth: int) -> tuple[Value, int]:
    if depth > MAX_DEPTH:
        raise BencodeError("nesting too deep", pos)
    if pos >= len(data):
        raise BencodeError("unexpected end", pos)
    lead = data[pos]
    if lead == 0x69:  # 'i'
        end = data.find(b"e", pos + 1)
        if end < 0:
            raise BencodeError("unterminated integer", pos)
        text = data[pos + 1:end]
        # BEP 3: no leading zeros, no "-0"
        if (not text or not text.lstrip(b"-").isdigit() or text.startswith(b"-0")
                or (text.startswith(b"0") and len(text) > 1) or text.count(b"-") > 1):
            raise BencodeError(f"bad integer {text[:20]!r}", pos)
        return int(text), end + 1
    if 0x30 <= lead <= 0x39:  # a digit: a string length
        colon = data.find(b":", pos)
        if colon < 0 or not data[pos:colon].isdigit() or colon - pos > 10:
            raise BencodeError("bad string length", pos)
        length = int(data[pos:colon])
        start = colon + 1
        if start + length > len(data):
            raise BencodeError("string runs past the end", pos)
        raw = data[start:start + length]
        try:
            return raw.decode("utf-8"), start + length
        except UnicodeDecodeError:
            return raw, start + length
    if lead == 0x6C:  # 'l'
        items: list[Value] = []
        pos += 1
        while pos < len(data) and data[pos] != 0x65:
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        if pos >= len(data):
            raise BencodeError("unterminated list", pos)
        return items, pos + 1
    if lead == 0x64:  # 'd'
        result: dict[str, Value] = {}
        pos += 1
        while pos < len(data) and data[pos] != 0x65:
            if not 0x30 <= data[pos] <= 0x39:
                raise BencodeError("dictionary key is not a string", pos)
            key, pos = _decode(data, pos, depth + 1)
            if not isinstance(key, str):
                raise BencodeError("dictionary key is not UTF-8", pos)
            value, pos = _decode(data, pos, depth + 1)
            result[key] = value
        if pos >= len(data):
            raise BencodeError("unterminated dictionary", pos)
        return result, pos + 1
    raise BencodeError(f"unexpected byte {bytes([lead])!r}", pos)
