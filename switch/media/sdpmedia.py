"""SDP as a media anchor sees it (over :mod:`switch.sip.sdp`): read where a party's audio is
and which payload formats it takes, and rewrite a description so that it points at the engine.

Theory of operation
-------------------
An anchor sits in the middle of the offer/answer exchange (RFC 3264) and changes only what
routes media through it, as rtpengine does: the connection address (``c=``, session and media
level) and the origin address, the audio ``m=`` port, ``a=rtcp`` (RFC 3605, the odd port of
the pair), and the format list when it transcodes or strips codecs. Everything else (codec
parameters, ``ptime``, direction, unknown attributes) passes through untouched. The engine
anchors one audio stream; other streams are refused with port 0 (RFC 3264 §6, §8.2) and ICE,
rtcp-mux and SRTP attributes of the audio stream are removed, since the engine speaks plain
RTP/AVP on its own ports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from switch.sip.errors import ParseError
from switch.sip.offer_answer import STATIC_PAYLOAD_TYPES
from switch.sip.sdp import Connection, MediaDescription, SessionDescription

__all__ = ["Format", "MediaInfo", "describe", "keep_formats", "rewrite", "sink_answer"]

_DROPPED = {"candidate", "ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "end-of-candidates",
            "rtcp-mux", "rtcp-mux-only", "crypto", "fingerprint", "setup", "rtcp"}
TELEPHONE_EVENT = "TELEPHONE-EVENT"
DISCARD_PORT = 9  # RFC 863: the engine-side party of an IVR leg receives into the void


@dataclass(frozen=True, slots=True)
class Format:
    """One payload format of an ``m=`` line (``name`` upper case, e.g. ``PCMU``)."""

    pt: int
    name: str
    rate: int = 8000
    channels: int | None = None
    fmtp: str | None = None

    def same_codec(self, other: Format) -> bool:
        return self.name == other.name and self.rate == other.rate

    def rtpmap(self) -> str:
        text = f"{self.pt} {_SDP_NAME.get(self.name, self.name)}/{self.rate}"
        return text + (f"/{self.channels}" if self.channels else "")


_SDP_NAME = {TELEPHONE_EVENT: "telephone-event"}


@dataclass(slots=True)
class MediaInfo:
    """Where a party receives audio and what it takes: the first audio stream of its SDP."""

    address: str
    port: int
    rtcp_port: int
    formats: list[Format] = field(default_factory=list)
    direction: str = "sendrecv"
    index: int = 0
    # Computed once: the relay asks it for every packet (never changed after parsing).
    sink: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.sink = self.port in (0, DISCARD_PORT) or self.address in ("0.0.0.0", "::")

    @property
    def telephone_event(self) -> Format | None:
        return next((f for f in self.formats if f.name == TELEPHONE_EVENT), None)

    @property
    def voice(self) -> list[Format]:
        return [f for f in self.formats if f.name != TELEPHONE_EVENT]

    @property
    def is_sink(self) -> bool:
        """Port 9 or a zero address: this party never takes media (IVR engine side, hold)."""
        return self.sink


def describe(text: str) -> tuple[SessionDescription, MediaInfo]:
    """Parse ``text`` and return it with its first audio stream; ``ValueError`` if none."""
    try:
        sdp = SessionDescription.parse(text)
    except ParseError as exc:
        raise ValueError(f"Failed to parse SDP: {exc.reason}") from exc
    for index, media in enumerate(sdp.media):
        if media.media != "audio":
            continue
        connection = sdp.connection_for(media)
        if connection is None:
            raise ValueError("SDP audio stream without a connection address")
        try:
            rtcp = media.rtcp
            rtpmaps = media.rtpmaps()
        except ParseError as exc:
            raise ValueError(f"Failed to parse SDP: {exc.reason}") from exc
        formats = []
        for fmt in media.formats:
            if not fmt.isdigit():
                continue
            pt = int(fmt)
            if pt in rtpmaps:
                m = rtpmaps[pt]
                formats.append(Format(pt, m.encoding.upper(), m.clock_rate, m.channels,
                                      media.fmtp(pt)))
            elif pt in STATIC_PAYLOAD_TYPES:
                name, rate, _ = STATIC_PAYLOAD_TYPES[pt]
                formats.append(Format(pt, name, rate, None, media.fmtp(pt)))
        return sdp, MediaInfo(connection.address, media.port,
                              rtcp[0] if rtcp else media.port + 1, formats,
                              sdp.direction_for(media), index)
    raise ValueError("SDP has no audio stream")


def rewrite(sdp: SessionDescription, info: MediaInfo, address: str, port: int,
            formats: list[Format] | None = None) -> str:
    """``sdp`` pointed at ``address:port`` (RTCP on ``port + 1``), with ``formats`` (default:
    unchanged) on its audio stream; other streams refused."""
    addrtype = "IP6" if ":" in address else "IP4"
    sdp.origin.address, sdp.origin.addrtype = address, addrtype
    if sdp.connection is not None:
        sdp.connection = Connection(address, addrtype)
    for index, media in enumerate(sdp.media):
        if index != info.index:
            sdp.media[index] = MediaDescription(media.media, 0, media.proto, media.formats[:1])
            continue
        media.port = port
        media.port_count = None
        media.connections = [Connection(address, addrtype)] if media.connections else []
        if sdp.connection is None and not media.connections:
            media.connections = [Connection(address, addrtype)]
        media.proto = "RTP/AVP"
        if formats is not None:
            media.formats = [str(f.pt) for f in formats]
            kept = [(k, v) for k, v in media.attributes if k not in ("rtpmap", "fmtp")]
            media.attributes[:] = [("rtpmap", f.rtpmap()) for f in formats]
            media.attributes += [("fmtp", f"{f.pt} {f.fmtp}") for f in formats if f.fmtp]
            media.attributes += kept
        media.attributes[:] = [(k, v) for k, v in media.attributes if k not in _DROPPED]
        media.add_attribute("rtcp", str(port + 1))
    return sdp.serialize().decode("utf-8", "surrogateescape")


# RFC 3264 §6.1: the answer's direction mirrors the offer's.
_MIRROR = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive",
           "sendrecv": "sendrecv"}


def keep_formats(sdp: str, payload_types: set[int]) -> str:
    """``sdp`` with its audio stream offering only ``payload_types`` (their rtpmap and fmtp
    lines kept, the others' dropped); other streams and lines as they were. Unchanged when
    nothing would be left."""
    lines = sdp.splitlines()
    out: list[str] = []
    in_audio = False
    for line in lines:
        if line.startswith("m="):
            in_audio = line.startswith("m=audio ")
            if in_audio:
                parts = line.split()
                kept = [pt for pt in parts[3:] if pt.isdigit() and int(pt) in payload_types]
                if not kept:
                    return sdp
                line = " ".join(parts[:3] + kept)
        elif in_audio and line.startswith(("a=rtpmap:", "a=fmtp:")):
            pt = line.split(":", 1)[1].split(" ", 1)[0]
            if pt.isdigit() and int(pt) not in payload_types:
                continue
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def sink_answer(engine_offer: str, version: int = 1) -> str:
    """The SDP answer of the engine-side party of an IVR leg (see docs/media.md): the first
    voice codec and telephone-event of the engine's offer, at the engine's own address on the
    discard port 9, so the engine relays nothing anywhere but still sends prompts to the
    caller and reads the caller's DTMF. Works with rtpengine and the builtin.

    The direction mirrors the offer (a caller putting us on hold with ``sendonly`` gets
    ``recvonly``, RFC 3264 §6.1), and ``version`` is the origin's version: both engines pass
    this origin on to the caller, and a changed answer in a re-INVITE must carry a higher
    version (§8)."""
    _, info = describe(engine_offer)
    # G.711 first: the engines play prompts and music in G.711 only, and a caller's first
    # codec may be one they relay but cannot speak (G.722, Opus...).
    g711 = [f for f in info.voice if f.name in ("PCMU", "PCMA")]
    chosen = (g711 or info.voice)[:1]
    if not chosen:
        raise ValueError("the engine's offer has no voice codec")
    if info.telephone_event is not None:
        chosen.append(info.telephone_event)
    family = "IP6" if ":" in info.address else "IP4"
    lines = ["v=0", f"o=- 1 {version} IN {family} {info.address}", "s=-",
             f"c=IN {family} {info.address}", "t=0 0",
             f"m=audio {DISCARD_PORT} RTP/AVP {' '.join(str(f.pt) for f in chosen)}"]
    lines += [f"a=rtpmap:{f.rtpmap()}" for f in chosen]
    lines += [f"a=fmtp:{f.pt} {f.fmtp}" for f in chosen if f.fmtp]
    lines += ["a=ptime:20", f"a={_MIRROR.get(info.direction, 'sendrecv')}"]
    return "\r\n".join(lines) + "\r\n"
