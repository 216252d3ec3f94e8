"""The ng control protocol's messages: framing, commands, validation (rtpengine's README, "The
NG Control Protocol").

Theory of operation
-------------------
A datagram is ``<cookie> <bencoded dictionary>``; the reply repeats the cookie so the client
matches replies to requests and the server recognises retransmissions. Every request has a
``command``; every reply a ``result`` (``ok``, ``pong``, or ``error`` with ``error-reason`` and
no other key). This module is the shared vocabulary of both ends: the engine validates a
request into a :class:`Command` (or a clear :class:`NgError`), the client builds requests and
turns error replies into exceptions.

Only the subset the node needs is understood (``COMMANDS``); anything else is an error reply
naming the command, as rtpengine answers ``Unrecognized command``. Flags are compared the way
rtpengine compares them: case-insensitive, with ``-`` and space interchangeable; flags of the
form ``codec-<op>-<codec>`` fold into the ``codec`` dictionary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .bencode import BencodeError, decode, encode

__all__ = ["COMMANDS", "Command", "NgError", "build_message", "error_reply", "parse_message",
           "validate"]

MAX_DATAGRAM = 65507

# command -> keys that must be present (rtpengine README, one section per message)
COMMANDS: dict[str, tuple[str, ...]] = {
    "ping": (),
    "offer": ("call-id", "from-tag", "sdp"),
    "answer": ("call-id", "from-tag", "to-tag", "sdp"),
    "delete": ("call-id",),
    "query": ("call-id",),
    "list": (),
    "statistics": (),
    "play media": ("call-id",),
    "stop media": ("call-id",),
    "play DTMF": ("call-id",),
    "start recording": ("call-id",),
    "stop recording": ("call-id",),
    "pause recording": ("call-id",),
    # builtin extensions (supervision: switch/media/supervision.py)
    "subscribe request": ("call-id", "to-tag"),
    "subscribe answer": ("call-id", "to-tag", "sdp"),
    "supervise": ("call-id", "to-tag", "mode"),
    "unsubscribe": ("call-id", "to-tag"),
}
_BY_FOLDED = {name.lower(): name for name in COMMANDS}
_CODEC_OPS = ("strip", "offer", "transcode", "mask", "accept", "except", "consume")


class NgError(ValueError):
    """A request that cannot be served; ``reason`` goes to ``error-reason`` verbatim."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_message(data: bytes) -> tuple[str, dict[str, Any]]:
    """Split ``<cookie> <dict>``. Raises :class:`NgError`; when the cookie itself could not be
    read ``error.cookie`` is absent and no reply can be matched (the engine drops it)."""
    space = data.find(b" ")
    if space <= 0 or space > 256:
        raise NgError("no message cookie")
    try:
        cookie = data[:space].decode("ascii")
    except UnicodeDecodeError as exc:
        raise NgError("message cookie is not ASCII") from exc
    try:
        body = decode(data[space + 1:])
    except BencodeError as exc:
        raise _with_cookie(NgError(f"Failed to decode bencode: {exc.reason} "
                                   f"(offset {exc.offset})"), cookie) from exc
    if not isinstance(body, dict):
        raise _with_cookie(NgError("Could not decode dictionary"), cookie)
    return cookie, body


def _with_cookie(error: NgError, cookie: str) -> NgError:
    error.cookie = cookie  # type: ignore[attr-defined]
    return error


def build_message(cookie: str, body: dict[str, Any]) -> bytes:
    return cookie.encode("ascii") + b" " + encode(body)


def error_reply(reason: str) -> dict[str, Any]:
    """The only legal shape of an error reply: no key but these two."""
    return {"result": "error", "error-reason": reason}


def fold_flag(flag: str) -> str:
    """rtpengine's flag comparison: case-insensitive, ``-`` and ``_`` the same as a space."""
    return flag.replace("-", " ").replace("_", " ").strip().lower()


@dataclass(slots=True)
class Command:
    """A validated request. ``flags`` are folded (:func:`fold_flag`); ``codec`` maps an
    operation (``transcode``, ``mask``, ``strip``...) to codec names in upper case."""

    name: str
    call_id: str = ""
    from_tag: str | None = None
    to_tag: str | None = None
    sdp: str | None = None
    flags: frozenset[str] = frozenset()
    codec: dict[str, list[str]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def get_str(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if isinstance(value, int):
            return str(value)
        if not isinstance(value, str):
            raise NgError(f"'{key}' must be a string")
        return value

    def get_int(self, key: str, default: int | None = None) -> int | None:
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        raise NgError(f"'{key}' must be an integer")


def validate(body: dict[str, Any]) -> Command:
    """Check a request dictionary and return the :class:`Command`; raise :class:`NgError`."""
    name = body.get("command")
    if not isinstance(name, str):
        raise NgError("No command given" if name is None else "'command' must be a string")
    canonical = _BY_FOLDED.get(name.lower())
    if canonical is None:
        raise NgError(f"Unrecognized command '{name[:40]}'")
    for key in COMMANDS[canonical]:
        if key not in body:
            raise NgError(f"No {key} in message")
    command = Command(canonical, raw=body)
    command.call_id = command.get_str("call-id") or ""
    command.from_tag = command.get_str("from-tag")
    command.to_tag = command.get_str("to-tag")
    command.sdp = command.get_str("sdp")
    flags, codec = _flags(body.get("flags", []))
    command.flags = frozenset(flags)
    codec_dict = body.get("codec", {})
    if not isinstance(codec_dict, dict):
        raise NgError("'codec' must be a dictionary")
    for op, names in codec_dict.items():
        if op not in _CODEC_OPS:
            continue  # rtpengine has more codec operations; ignore those we do not implement
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise NgError(f"'codec.{op}' must be a list of strings")
        codec.setdefault(op, []).extend(n.upper() for n in names)
    command.codec = codec
    if canonical in ("play media", "stop media", "play DTMF") and not (
            command.from_tag or "all" in command.flags):
        raise NgError("No participant party specified")
    return command


def _flags(value: Any) -> tuple[set[str], dict[str, list[str]]]:
    if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
        raise NgError("'flags' must be a list of strings")
    flags: set[str] = set()
    codec: dict[str, list[str]] = {}
    for flag in value:
        if flag.lower().startswith("codec-"):
            op, _, name = flag[6:].partition("-")
            if op in _CODEC_OPS and name:
                codec.setdefault(op, []).append(name.upper())
                continue
        flags.add(fold_flag(flag))
    return flags, codec
