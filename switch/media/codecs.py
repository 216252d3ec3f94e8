"""G.711 µ-law and A-law (ITU-T G.711), and transcoding between them, by table look-up.

Theory of operation
-------------------
``audioop`` leaves the standard library in Python 3.13 (design §6), so the codec is written out
here: the encoder follows G.711's segment tables (the same arithmetic as the well-known Sun
reference implementation that ``audioop`` used, so results agree bit for bit with it), and is
evaluated once into look-up tables at import:

* decoding: 256 entries per law (code -> 16-bit sample);
* encoding: 65,536 entries per law (16-bit sample, as unsigned -> code), 64 KiB each;
* transcoding µ <-> A: 256-byte ``bytes.translate`` tables (decode then encode), the cheapest
  per-packet operation Python has: a 160-octet frame costs well under a microsecond, which is
  why the relay can transcode on its hot path.

Linear audio is 16-bit signed little-endian mono PCM (``bytes``), the layout of WAV files and
of ``array('h')`` on the machines we run on.
"""

from __future__ import annotations

import math
import sys
from array import array

__all__ = ["ALAW_SILENCE", "CODECS", "ULAW_SILENCE", "G711Codec", "alaw_to_linear",
           "codec_by_name", "linear_to_alaw", "linear_to_ulaw", "tone", "transcode",
           "ulaw_to_linear"]

ULAW_SILENCE = 0xFF  # µ-law code of +0
ALAW_SILENCE = 0xD5  # A-law code of +8 (the smallest positive step), even bits inverted
_BIAS = 0x84  # G.711 µ-law bias (132): segment boundaries fall on powers of two
_CLIP = 8159  # largest 14-bit magnitude before the bias
_ULAW_SEG_END = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)  # 14-bit + bias
_ALAW_SEG_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)  # 13-bit
assert sys.byteorder == "little", "linear PCM buffers are little-endian (WAV layout)"


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for seg, end in enumerate(ends):
        if value <= end:
            return seg
    return 8


def _encode_ulaw(sample: int) -> int:
    sample >>= 2  # G.711 µ-law works on 14-bit magnitudes
    if sample < 0:
        sample, mask = -sample, 0x7F
    else:
        mask = 0xFF
    sample = min(sample, _CLIP) + (_BIAS >> 2)
    seg = _segment(sample, _ULAW_SEG_END)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((sample >> (seg + 1)) & 0x0F)) ^ mask


def _decode_ulaw(code: int) -> int:
    code = ~code & 0xFF
    magnitude = ((code & 0x0F) << 3) + _BIAS
    magnitude <<= (code & 0x70) >> 4
    return _BIAS - magnitude if code & 0x80 else magnitude - _BIAS


def _encode_alaw(sample: int) -> int:
    sample >>= 3  # A-law works on 13-bit magnitudes
    if sample >= 0:
        mask = 0xD5  # sign bit set, even bits inverted (G.711 A-law)
    else:
        mask = 0x55
        sample = -sample - 1
    seg = _segment(sample, _ALAW_SEG_END)
    if seg >= 8:
        return 0x7F ^ mask
    step = (sample >> 1) if seg < 2 else (sample >> seg)
    return ((seg << 4) | (step & 0x0F)) ^ mask


def _decode_alaw(code: int) -> int:
    code ^= 0x55
    magnitude = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    if seg == 0:
        magnitude += 8
    elif seg == 1:
        magnitude += 0x108
    else:
        magnitude = (magnitude + 0x108) << (seg - 1)
    return magnitude if code & 0x80 else -magnitude


_ULAW_DECODE = array("h", (_decode_ulaw(c) for c in range(256)))
_ALAW_DECODE = array("h", (_decode_alaw(c) for c in range(256)))
# index: the sample as an unsigned 16-bit number (two's complement)
_ULAW_ENCODE = bytes(_encode_ulaw(s - 65536 if s >= 32768 else s) for s in range(65536))
_ALAW_ENCODE = bytes(_encode_alaw(s - 65536 if s >= 32768 else s) for s in range(65536))
ULAW_TO_ALAW = bytes(_ALAW_ENCODE[_ULAW_DECODE[c] & 0xFFFF] for c in range(256))
ALAW_TO_ULAW = bytes(_ULAW_ENCODE[_ALAW_DECODE[c] & 0xFFFF] for c in range(256))


def ulaw_to_linear(data: bytes) -> bytes:
    return array("h", map(_ULAW_DECODE.__getitem__, data)).tobytes()


def alaw_to_linear(data: bytes) -> bytes:
    return array("h", map(_ALAW_DECODE.__getitem__, data)).tobytes()


def linear_to_ulaw(pcm: bytes) -> bytes:
    return bytes(map(_ULAW_ENCODE.__getitem__, memoryview(pcm).cast("H")))


def linear_to_alaw(pcm: bytes) -> bytes:
    return bytes(map(_ALAW_ENCODE.__getitem__, memoryview(pcm).cast("H")))


class G711Codec:
    """One law: its name as in SDP (RFC 3551 §4.5.14), static payload type, silence code."""

    __slots__ = ("decode", "encode", "name", "payload_type", "silence")

    def __init__(self, name: str, payload_type: int, silence: int,
                 decode: object, encode: object) -> None:
        self.name = name
        self.payload_type = payload_type
        self.silence = silence
        self.decode = decode
        self.encode = encode

    def to_linear(self, data: bytes) -> bytes:
        return ulaw_to_linear(data) if self.name == "PCMU" else alaw_to_linear(data)

    def from_linear(self, pcm: bytes) -> bytes:
        return linear_to_ulaw(pcm) if self.name == "PCMU" else linear_to_alaw(pcm)

    def silence_frame(self, samples: int = 160) -> bytes:
        return bytes([self.silence]) * samples


PCMU = G711Codec("PCMU", 0, ULAW_SILENCE, _ULAW_DECODE, _ULAW_ENCODE)
PCMA = G711Codec("PCMA", 8, ALAW_SILENCE, _ALAW_DECODE, _ALAW_ENCODE)
CODECS = {"PCMU": PCMU, "PCMA": PCMA}


def codec_by_name(name: str) -> G711Codec | None:
    return CODECS.get(name.upper())


def transcode_table(source: str, target: str) -> bytes | None:
    """The ``bytes.translate`` table from one law to the other; None when they are equal."""
    source, target = source.upper(), target.upper()
    if source == target:
        return None
    if (source, target) == ("PCMU", "PCMA"):
        return ULAW_TO_ALAW
    if (source, target) == ("PCMA", "PCMU"):
        return ALAW_TO_ULAW
    raise ValueError(f"cannot transcode {source} to {target}")


def transcode(data: bytes, source: str, target: str) -> bytes:
    table = transcode_table(source, target)
    return data if table is None else data.translate(table)


def tone(frequencies: tuple[float, ...], milliseconds: int, rate: int = 8000,
         level: float = 0.25, start_sample: int = 0) -> bytes:
    """Linear PCM of summed sines (dial tones, DTMF in tests), each at ``level`` of full scale."""
    count = rate * milliseconds // 1000
    amplitude = 32767 * level
    out = array("h")
    for n in range(start_sample, start_sample + count):
        value = sum(math.sin(2 * math.pi * f * n / rate) for f in frequencies)
        out.append(max(-32768, min(32767, int(amplitude * value))))
    return out.tobytes()
