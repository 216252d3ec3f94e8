"""Calls and legs of the builtin engine, and the codec negotiation of offer and answer (pure).

Theory of operation
-------------------
The model is rtpengine's: a call (by SIP Call-ID) has one *leg* per party (by SIP tag, its
"monologue"), and each leg owns an even/odd pair of local ports. A party sends to and receives
from its own leg's ports only (symmetric RTP, RFC 4961): packets that the caller sends to its
leg go out of the callee's leg to the callee, and back. So the offer from A allocates A's pair
and B's pair and returns A's SDP pointing at B's pair (what B will send to); the answer from B
returns B's SDP pointing at A's pair.

Codecs. Every party receives with the payload numbers of the SDP the engine gave it, so a
leg's ``incoming`` formats are those. For each format a leg receives from its party, a *route*
says how the peer gets it: the same codec with the peer's payload number (passthrough, only
the PT octet may change), or the other G.711 law through a 256-byte translate table
(transcoding, requested with rtpengine's ``codec`` options ``transcode``/``mask``), or nothing
(dropped and counted). telephone-event is routed like a codec, so DTMF passes through, and is
always read by the leg's RFC 4733 detector on the way.

Source learning and locking (the RTP-bleed defence): a leg learns its party's real address
from the first packet whose source IP is the one the party's SDP gave (or a ``received from``
address), and from then on is *locked*: packets from any other address or port are dropped and
counted as errors, never forwarded. Sends go to the learned address (symmetric RTP) or, before
the first packet, to the SDP's.

A leg whose SDP receives on the discard port 9 or a zero address is a *sink*: nothing is
relayed to it (the engine-side party of an IVR leg).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .codecs import CODECS, transcode_table
from .dtmf import DtmfReceiver
from .quality import QualityMonitor, ReceiveStats
from .sdpmedia import TELEPHONE_EVENT, Format, MediaInfo

__all__ = ["Call", "Leg", "Route", "StreamCounters", "answer_formats", "build_routes",
           "offer_formats"]

Address = tuple[str, int]


@dataclass(slots=True)
class StreamCounters:
    """rtpengine's per-stream ``stats``: what arrived on one local port."""

    packets: int = 0
    bytes: int = 0
    errors: int = 0
    last_packet: float = 0.0  # wall clock, as rtpengine shows it

    def as_dict(self) -> dict[str, int]:
        return {"packets": self.packets, "bytes": self.bytes, "errors": self.errors}


@dataclass(slots=True)
class Route:
    """How a payload type received from a leg's party goes out to the peer's party."""

    out_pt: int
    table: bytes | None  # G.711 law translation, None for passthrough
    codec: str  # the codec name as received (for the recorder and DTMF)


@dataclass(eq=False, slots=True)
class Leg:
    """One party of a call: its SDP, its local ports, what it has sent us."""

    tag: str
    port: int  # local RTP port (RTCP is port + 1)
    created: float
    media: MediaInfo | None = None  # the party's own SDP audio stream
    incoming: list[Format] = field(default_factory=list)  # formats in the SDP we gave it
    peer: Leg | None = None
    routes: dict[int, Route] = field(default_factory=dict)
    send_format: Format | None = None  # codec the engine sends to it (player, tones)
    te_pt: int | None = None  # telephone-event payload type it receives
    te_in_pt: int | None = None  # telephone-event payload type it sends
    expect_ips: set[str] = field(default_factory=set)
    rtp_source: Address | None = None  # learned and locked
    rtcp_source: Address | None = None
    rtp_in: StreamCounters = field(default_factory=StreamCounters)
    rtcp_in: StreamCounters = field(default_factory=StreamCounters)
    quality: ReceiveStats = field(default_factory=ReceiveStats)
    monitor: QualityMonitor = field(default_factory=QualityMonitor)
    dtmf: DtmfReceiver = field(default_factory=DtmfReceiver)
    last_rx: float | None = None  # monotonic time of the last RTP packet from the party
    armed_at: float | None = None  # monotonic time media was expected from (answer)
    lost_reported: bool = False
    # Seconds of silence that mean the party is gone, when shorter than the engine's own
    # (an agent's phone: the call then goes to a backup agent); set by ``answer``.
    media_timeout: float | None = None
    playing: bool = False  # a player or DTMF injection owns the stream toward the party
    # Relayed packets rewritten to continue the engine's stream toward this party:
    # (the source SSRC, sequence offset, timestamp offset); see engine._splice.
    splice: tuple[int, int, int] | None = None
    mixer: Any = None  # a supervised call's Mixer: no direct relay, the tick mixes
    mix_mode: str = ""  # a supervisor's leg: the mode it joined with
    label: str = ""
    call_id: str = ""
    is_caller: bool = False  # the recorder's left channel
    # set by the engine (the edge): its transports, player and recorder for this leg
    rtp_tx: Any = None
    rtcp_tx: Any = None
    outbound: Any = None
    recorder: Any = None

    @property
    def sink(self) -> bool:
        return self.media is None or self.media.is_sink

    def destination(self) -> Address | None:
        """Where RTP for this party goes: the learned source, else its SDP address."""
        if self.sink or self.media is None:
            return None
        return self.rtp_source or (self.media.address, self.media.port)

    def rtcp_destination(self) -> Address | None:
        if self.sink or self.media is None:
            return None
        return self.rtcp_source or (self.media.address, self.media.rtcp_port)

    def renegotiated(self, media: MediaInfo) -> None:
        """The party's SDP now says ``media``. When its address or port moved (a new party
        behind the same tag: the agent that replaces the engine's sink, or the next agent),
        what was learned and locked is forgotten: the new party is learned afresh."""
        old = self.media
        if old is not None and (old.address, old.port) != (media.address, media.port):
            self.rtp_source = self.rtcp_source = None
            self.last_rx = None
            self.lost_reported = False
        self.media = media

    def accepts_source(self, addr: Address, rtcp: bool = False) -> bool:
        """Strict learning then locking (module docstring)."""
        locked = self.rtcp_source if rtcp else self.rtp_source
        if locked is not None:
            return addr == locked
        if self.expect_ips and addr[0] not in self.expect_ips:
            return False
        if rtcp:
            self.rtcp_source = addr
        else:
            self.rtp_source = addr
        return True

    def query(self, now_wall: float, local_address: str) -> dict[str, Any]:
        """This leg in rtpengine's ``query`` shape (README, ``query`` message)."""
        streams = []
        for counters, port, dest, advertised, kind in (
                (self.rtp_in, self.port, self.destination(),
                 (self.media.address, self.media.port) if self.media else None, "RTP"),
                (self.rtcp_in, self.port + 1, self.rtcp_destination(),
                 (self.media.address, self.media.rtcp_port) if self.media else None, "RTCP")):
            stream: dict[str, Any] = {"local port": port, "local address": local_address,
                                      "flags": [kind], "stats": counters.as_dict()}
            if dest:
                stream["endpoint"] = _endpoint(dest)
            if advertised:
                stream["advertised endpoint"] = _endpoint(advertised)
            if counters.last_packet:
                stream["last packet"] = int(counters.last_packet)
            streams.append(stream)
        return {"tag": self.tag, "created": int(self.created), "label": self.label,
                "in dialogue with": self.peer.tag if self.peer else "",
                "medias": [{"index": 1, "type": "audio", "protocol": "RTP/AVP",
                            "codec": (f"{self.send_format.name}/{self.send_format.rate}"
                                      if self.send_format else ""),
                            "streams": streams, "flags": ["initialized"]}],
                "quality": _bencodable(self.quality.snapshot()),
                "locked": self.rtp_source is not None}


def _bencodable(snapshot: dict[str, float | int]) -> dict[str, int]:
    """Bencode has no floats: MOS x10 (as rtpengine reports it), loss in permille, ms."""
    return {"packets": int(snapshot["packets"]), "lost": int(snapshot["lost"]),
            "loss permille": round(float(snapshot["loss"]) * 1000),
            "jitter ms": round(float(snapshot["jitter_ms"])),
            "MOS": round(float(snapshot["mos"]) * 10)}


def _endpoint(addr: Address) -> dict[str, Any]:
    return {"family": "IPv6" if ":" in addr[0] else "IPv4", "address": addr[0], "port": addr[1]}


@dataclass(eq=False, slots=True)
class Call:
    call_id: str
    created: float  # wall clock
    legs: dict[str, Leg] = field(default_factory=dict)
    last_signal: float = 0.0
    caller_tag: str | None = None  # the first offerer: the recorder's left channel
    recording: bool = False
    recording_file: Any = None  # (path, open wave writer), set by the engine
    codec_ops: dict[str, list[str]] = field(default_factory=dict)  # the offer's ``codec``
    mixer: Any = None  # supervision (switch/media/mixer.py)

    def totals(self) -> dict[str, dict[str, int]]:
        rtp, rtcp = StreamCounters(), StreamCounters()
        for leg in self.legs.values():
            for total, part in ((rtp, leg.rtp_in), (rtcp, leg.rtcp_in)):
                total.packets += part.packets
                total.bytes += part.bytes
                total.errors += part.errors
        return {"RTP": rtp.as_dict(), "RTCP": rtcp.as_dict()}

    def query(self, now_wall: float, local_address: str) -> dict[str, Any]:
        return {"created": int(self.created), "last signal": int(self.last_signal),
                "tags": {tag: leg.query(now_wall, local_address)
                         for tag, leg in self.legs.items()},
                "totals": self.totals()}


# -- negotiation ------------------------------------------------------------------------------

def _g711(name: str) -> bool:
    return name in CODECS


def offer_formats(offered: list[Format], codec_ops: dict[str, list[str]]) -> list[Format]:
    """Formats of the offer sent on to the answerer: the offerer's, less ``strip`` and
    ``mask``, plus ``transcode`` codecs the engine can make from one the offerer has."""
    strip = set(codec_ops.get("strip", []))
    mask = set(codec_ops.get("mask", []))
    if "ALL" in strip:
        strip = {f.name for f in offered if f.name != TELEPHONE_EVENT}
    if "ALL" in mask:
        mask = {f.name for f in offered if f.name != TELEPHONE_EVENT}
    out = [f for f in offered if f.name not in strip and f.name not in mask]
    have_g711 = any(_g711(f.name) and f.name not in strip for f in offered)
    used = {f.pt for f in offered}
    for name in codec_ops.get("transcode", []):
        if not _g711(name) or any(f.name == name for f in out) or not have_g711:
            continue
        pt = CODECS[name].payload_type
        if pt in used:
            continue
        voice_end = next((i for i, f in enumerate(out) if f.name == TELEPHONE_EVENT), len(out))
        out.insert(voice_end, Format(pt, name))
        used.add(pt)
    if not any(f.name != TELEPHONE_EVENT for f in out):
        raise ValueError("no codec left to offer after strip/mask")
    return out


def answer_formats(offerer: list[Format], answerer: list[Format],
                   codec_ops: dict[str, list[str]]) -> list[Format]:
    """Formats of the answer returned to the offerer, in the answerer's order of preference,
    with the offerer's payload numbers (RFC 3264 §6.1): for each codec the answerer took,
    that codec if the offerer has it, else the offerer's other G.711 law (transcoded)."""
    strip = set(codec_ops.get("strip", []))
    out: list[Format] = []
    for chosen in answerer:
        if chosen.name == TELEPHONE_EVENT:
            continue
        match = next((f for f in offerer if f.same_codec(chosen) and f.name not in strip), None)
        if match is None and _g711(chosen.name):
            match = next((f for f in offerer if _g711(f.name) and f.name not in strip), None)
        if match is not None and match not in out:
            out.append(match)
    if not out:
        raise ValueError("no codec in common between the offer and the answer")
    te = next((f for f in offerer if f.name == TELEPHONE_EVENT), None)
    if te is not None:
        out.append(te)
    return out


def build_routes(source: Leg, target: Leg) -> dict[int, Route]:
    """Payload types ``source``'s party sends -> how ``target``'s party receives them."""
    routes: dict[int, Route] = {}
    target_formats = target.media.formats if target.media else []
    for fmt in source.incoming:
        same = next((f for f in target_formats if f.same_codec(fmt)), None)
        if same is not None:
            routes[fmt.pt] = Route(same.pt, None, fmt.name)
        elif _g711(fmt.name):
            other = next((f for f in target_formats if _g711(f.name)), None)
            if other is not None:
                routes[fmt.pt] = Route(other.pt, transcode_table(fmt.name, other.name),
                                       fmt.name)
    return routes


def codec_of(leg: Leg, pt: int) -> str | None:
    for fmt in leg.incoming:
        if fmt.pt == pt:
            return fmt.name
    return None
