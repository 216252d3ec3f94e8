"""RTP and RTCP packets (RFC 3550) as dataclasses with ``parse`` and ``serialize``.

Theory of operation
-------------------
The relay's hot path does not build these objects: it reads the two or three header fields it
needs straight from the bytes (:func:`peek_payload_type`, :func:`is_rtp`, :data:`HEADER`),
because one dataclass per packet at 50 packets/s per leg would be most of the relay's cost.
The dataclasses are for everything else (player, DTMF, recorder, tests) and for RTCP, which is
rare (about one packet per 5 s per stream, RFC 3550 §6.2).

Only what a G.711 anchor needs is modelled: the fixed RTP header with CSRCs and a header
extension skipped over (§5.1, §5.3.1), padding (§5.1 P bit), and the RTCP sender and receiver
reports (§6.4) with their report blocks, inside a compound packet (§6.1). Other RTCP types
(SDES, BYE, APP, feedback) are kept as opaque parts so a compound packet still parses.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = ["HEADER", "RTCP_RR", "RTCP_SR", "ReportBlock", "RtcpPacket", "RtpPacket",
           "is_rtcp", "is_rtp", "parse_compound", "peek_payload_type"]

HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC (§5.1)
RTCP_SR = 200
RTCP_RR = 201
_RTCP_HEAD = struct.Struct("!BBH")  # V/P/RC, PT, length in 32-bit words minus one (§6.4.1)
_SENDER_INFO = struct.Struct("!IIIII")  # NTP msw, NTP lsw, RTP ts, packets, octets
_BLOCK = struct.Struct("!IIIIII")  # SSRC, fraction|cumulative lost, ext seq, jitter, LSR, DLSR


class RtpError(ValueError):
    """A datagram that is not a valid RTP or RTCP packet."""


def is_rtp(data: bytes) -> bool:
    """Version 2 and not an RTCP packet type (RFC 5761 §4: PT 64-95 would collide)."""
    return len(data) >= 12 and data[0] >> 6 == 2 and not 192 <= data[1] <= 223


def is_rtcp(data: bytes) -> bool:
    return len(data) >= 8 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


def peek_payload_type(data: bytes) -> int:
    return data[1] & 0x7F


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet (RFC 3550 §5.1); ``extension`` is (profile, data) when X is set."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: list[int] = field(default_factory=list)
    extension: tuple[int, bytes] | None = None
    padding: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < 12:
            raise RtpError(f"RTP packet of {len(data)} octets is shorter than its header")
        first, second, sequence, timestamp, ssrc = HEADER.unpack_from(data)
        if first >> 6 != 2:
            raise RtpError(f"RTP version {first >> 6}, expected 2")
        cc = first & 0x0F
        pos = 12 + 4 * cc
        if pos > len(data):
            raise RtpError("RTP CSRC list runs past the packet")
        csrc = list(struct.unpack_from(f"!{cc}I", data, 12)) if cc else []
        extension = None
        if first & 0x10:  # §5.3.1: 16-bit profile, 16-bit length in words, then the data
            if pos + 4 > len(data):
                raise RtpError("RTP header extension runs past the packet")
            profile, words = struct.unpack_from("!HH", data, pos)
            end = pos + 4 + 4 * words
            if end > len(data):
                raise RtpError("RTP header extension runs past the packet")
            extension = (profile, bytes(data[pos + 4:end]))
            pos = end
        end = len(data)
        padding = 0
        if first & 0x20:  # §5.1: the last octet counts the padding octets, itself included
            padding = data[-1]
            if padding == 0 or pos + padding > end:
                raise RtpError("bad RTP padding count")
            end -= padding
        return cls(second & 0x7F, sequence, timestamp, ssrc, bytes(data[pos:end]),
                   bool(second & 0x80), csrc, extension, padding)

    def serialize(self) -> bytes:
        first = 0x80 | len(self.csrc) | (0x10 if self.extension else 0) | (
            0x20 if self.padding else 0)
        out = [HEADER.pack(first, (0x80 if self.marker else 0) | (self.payload_type & 0x7F),
                           self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF,
                           self.ssrc & 0xFFFFFFFF)]
        if self.csrc:
            out.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension:
            profile, data = self.extension
            data = data + b"\0" * (-len(data) % 4)
            out.append(struct.pack("!HH", profile, len(data) // 4) + data)
        out.append(self.payload)
        if self.padding:
            out.append(b"\0" * (self.padding - 1) + bytes([self.padding]))
        return b"".join(out)


@dataclass(slots=True)
class ReportBlock:
    """A reception report (RFC 3550 §6.4.1): what the reporter saw of source ``ssrc``."""

    ssrc: int
    fraction_lost: int  # of 256, since the previous report
    cumulative_lost: int  # signed 24 bits
    highest_sequence: int  # extended: cycles << 16 | sequence
    jitter: int  # in timestamp units
    lsr: int = 0
    dlsr: int = 0

    @classmethod
    def parse(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, lost, ext, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        return cls(ssrc, lost >> 24, cumulative, ext, jitter, lsr, dlsr)

    def serialize(self) -> bytes:
        lost = ((self.fraction_lost & 0xFF) << 24) | (self.cumulative_lost & 0xFFFFFF)
        return _BLOCK.pack(self.ssrc, lost, self.highest_sequence & 0xFFFFFFFF,
                           self.jitter & 0xFFFFFFFF, self.lsr, self.dlsr)


@dataclass(slots=True)
class RtcpPacket:
    """One RTCP packet of a compound datagram. SR and RR are parsed (§6.4.1, §6.4.2); any other
    type keeps its body in ``raw``."""

    packet_type: int
    ssrc: int = 0
    reports: list[ReportBlock] = field(default_factory=list)
    ntp: int = 0  # SR: 64-bit NTP timestamp
    rtp_timestamp: int = 0
    packet_count: int = 0
    octet_count: int = 0
    raw: bytes = b""

    def serialize(self) -> bytes:
        if self.packet_type == RTCP_SR:
            body = struct.pack("!I", self.ssrc) + _SENDER_INFO.pack(
                self.ntp >> 32, self.ntp & 0xFFFFFFFF, self.rtp_timestamp & 0xFFFFFFFF,
                self.packet_count & 0xFFFFFFFF, self.octet_count & 0xFFFFFFFF)
        elif self.packet_type == RTCP_RR:
            body = struct.pack("!I", self.ssrc)
        else:
            body = self.raw
            body += b"\0" * (-len(body) % 4)
            return _RTCP_HEAD.pack(0x80, self.packet_type, len(body) // 4) + body
        body += b"".join(block.serialize() for block in self.reports)
        return _RTCP_HEAD.pack(0x80 | len(self.reports), self.packet_type,
                               len(body) // 4) + body


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Every packet of a compound RTCP datagram (§6.1); raises :class:`RtpError`."""
    packets: list[RtcpPacket] = []
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise RtpError("RTCP header runs past the datagram")
        first, ptype, words = _RTCP_HEAD.unpack_from(data, pos)
        if first >> 6 != 2:
            raise RtpError(f"RTCP version {first >> 6}, expected 2")
        end = pos + 4 + 4 * words
        if end > len(data):
            raise RtpError("RTCP packet runs past the datagram")
        count = first & 0x1F
        body_at = pos + 4
        if ptype in (RTCP_SR, RTCP_RR):
            blocks_at = body_at + 4 + (_SENDER_INFO.size if ptype == RTCP_SR else 0)
            if blocks_at + count * _BLOCK.size > end:
                raise RtpError("RTCP report blocks run past the packet")
            packet = RtcpPacket(ptype, struct.unpack_from("!I", data, body_at)[0])
            if ptype == RTCP_SR:
                msw, lsw, ts, pkts, octets = _SENDER_INFO.unpack_from(data, body_at + 4)
                packet.ntp, packet.rtp_timestamp = (msw << 32) | lsw, ts
                packet.packet_count, packet.octet_count = pkts, octets
            packet.reports = [ReportBlock.parse(data, blocks_at + i * _BLOCK.size)
                              for i in range(count)]
        else:
            packet = RtcpPacket(ptype, raw=bytes(data[body_at:end]))
        packets.append(packet)
        pos = end
    return packets
