"""Splitting a message head into its start line and raw header fields (the parser's hot path).

``split_head(head)`` takes the octets before the empty line and returns ``(start_line, items,
keys)``: ``items`` are ``(canonical name, value)`` pairs in order, values unfolded (RFC 3261
§7.3.1) and stripped of surrounding whitespace; ``keys`` are the lower-cased canonical names
that :class:`~switch.sip.headers.Headers` looks fields up by. Nothing else is interpreted here:
structured headers are parsed lazily by the message views.

Two implementations give identical results: :func:`split_head_py` below, the reference, and
``cext._sipparse.split_head``, a compiled twin used when it is built. ``SIP_PURE=1`` in the
environment forces the reference (the router's ``ROUTING_PURE`` convention); ``_accel`` selects.
"""

from __future__ import annotations

from collections.abc import Callable

from . import _accel
from .errors import ParseError
from .headers import TOKEN, canonical_name, header_key

SplitHead = Callable[[bytes], "tuple[str, list[tuple[str, str]], list[str]]"]

# raw field name as written -> (canonical name, lookup key); bounded, names come off the wire
_NAME_CACHE: dict[str, tuple[str, str]] = {}
_NAME_CACHE_MAX = 2048


def _name(raw: str) -> tuple[str, str]:
    entry = _NAME_CACHE.get(raw)
    if entry is not None:
        return entry
    # field-name HCOLON: HCOLON = *( SP / HTAB ) ":" SWS, so whitespace before ":" is legal
    name = raw.rstrip(" \t")
    if not name or not TOKEN.match(name):
        raise ParseError(f"malformed header name: {raw[:40]!r}")
    entry = (canonical_name(name), header_key(name))
    if len(_NAME_CACHE) < _NAME_CACHE_MAX:
        _NAME_CACHE[raw] = entry
    return entry


def _lines(text: str) -> list[str]:
    crlf = text.count("\r\n")
    if crlf == text.count("\n") and crlf == text.count("\r"):
        lines = text.split("\r\n")
    else:
        if text.count("\r") != crlf:
            raise ParseError("bare CR in message head")
        lines = text.replace("\r\n", "\n").split("\n")
    if "\n " in text or "\n\t" in text:
        lines = _unfold(lines)
    return lines


def _unfold(lines: list[str]) -> list[str]:
    """Join continuation lines (a line starting with SP/HTAB continues the previous one)."""
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if len(out) < 2:
                raise ParseError("continuation line before the first header field")
            out[-1] = out[-1].rstrip(" \t") + " " + line.strip(" \t")
        else:
            out.append(line)
    return out


def split_head_py(head: bytes) -> tuple[str, list[tuple[str, str]], list[str]]:
    """Reference implementation (see the module docstring)."""
    # Octets that are not UTF-8 (RFC 4475 has some) survive as surrogates and serialize back.
    text = head.decode("utf-8", "surrogateescape")
    lines = _lines(text)
    items: list[tuple[str, str]] = []
    keys: list[str] = []
    for i in range(1, len(lines)):
        line = lines[i]
        raw, sep, value = line.partition(":")
        if not sep:
            raise ParseError(f"header line lacks a colon: {line[:60]!r}")
        canonical, key = _name(raw)
        items.append((canonical, value.strip(" \t")))
        keys.append(key)
    start = lines[0]
    if not start:
        raise ParseError("empty start line")
    return start, items, keys


split_head: SplitHead = split_head_py
if _accel.compiled is not None:
    _accel.compiled.bind_head(_name, split_head_py)
    split_head = _accel.compiled.split_head

IMPLEMENTATION = _accel.IMPLEMENTATION
