"""Audio files for the player and the recorder: WAV in and out, resampling to 8 kHz, G.711
frames, tones. Pure: bytes in, bytes out (the edges read and write the files).

Theory of operation
-------------------
Calls carry 8 kHz G.711 in 20 ms frames (160 samples, RFC 3551 §4.5.14 and §4.2's default
packetisation), so every prompt is turned into that once, when loaded, and the player's timer
only picks the next ready-made frame. Accepted inputs:

* WAV with 16-bit linear PCM (format 1), any rate and channel count (mixed down to mono,
  resampled to 8 kHz), or WAV already in G.711 (format 6 A-law, 7 µ-law, 8 kHz mono);
* raw G.711 files named ``.ul``/``.ulaw``/``.pcmu`` or ``.al``/``.alaw``/``.pcma``.

Resampling (espeak-ng speaks at 22,050 Hz) low-passes with a Hann-windowed sinc below the new
Nyquist frequency and interpolates; slow in pure Python but run once per prompt, since prompts
are cached by content (:mod:`switch.media.tts`).
"""

from __future__ import annotations

import io
import math
import struct
import wave
from array import array

from .codecs import CODECS, G711Codec, tone, transcode

__all__ = ["FRAME_SAMPLES", "AudioError", "build_wav", "frames", "load_frames", "read_wav",
           "resample", "tone_wav"]

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
_RAW_G711 = {".ul": "PCMU", ".ulaw": "PCMU", ".pcmu": "PCMU", ".al": "PCMA", ".alaw": "PCMA",
             ".pcma": "PCMA"}


class AudioError(ValueError):
    """A file the player cannot use; the message says why."""


def read_wav(data: bytes) -> tuple[int, bytes | None, bytes | None, str | None]:
    """(rate, linear PCM mono or None, G.711 bytes or None, G.711 law or None)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a RIFF/WAVE file")
    fmt = _chunk(data, b"fmt ")
    if fmt is None or len(fmt) < 16:
        raise AudioError("WAV file without a fmt chunk")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag is the GUID's
        tag = struct.unpack_from("<H", fmt, 24)[0]
    body = _chunk(data, b"data")
    if body is None:
        raise AudioError("WAV file without a data chunk")
    if tag in (6, 7):
        if rate != RATE or channels != 1:
            raise AudioError(f"G.711 WAV must be 8000 Hz mono, not {rate} Hz x {channels}")
        return rate, None, body, "PCMA" if tag == 6 else "PCMU"
    if tag != 1 or bits != 16:
        raise AudioError(f"WAV format {tag} with {bits}-bit samples: only 16-bit PCM or G.711")
    samples = array("h")
    samples.frombytes(body[:len(body) - len(body) % (2 * channels)])
    if channels > 1:
        samples = array("h", (sum(samples[i:i + channels]) // channels
                              for i in range(0, len(samples), channels)))
    return rate, samples.tobytes(), None, None


def _chunk(data: bytes, name: bytes) -> bytes | None:
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if cid == name:
            return data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    return None


def resample(pcm: bytes, rate: int, target: int = RATE, taps: int = 8) -> bytes:
    """Linear PCM from ``rate`` to ``target``: windowed-sinc low-pass, then interpolation."""
    if rate == target:
        return pcm
    src = array("h")
    src.frombytes(pcm)
    ratio = rate / target
    cutoff = min(1.0, target / rate) * 0.9
    count = int(len(src) / ratio)
    out = array("h", bytes(2 * count))
    n = len(src)
    window = [0.5 + 0.5 * math.cos(math.pi * k / (taps + 1)) for k in range(-taps, taps + 1)]
    for i in range(count):
        centre = i * ratio
        base = int(centre)
        acc = 0.0
        norm = 0.0
        for k in range(-taps, taps + 1):
            j = base + k
            if 0 <= j < n:
                x = (j - centre) * cutoff
                weight = window[k + taps] * (math.sin(math.pi * x) / (math.pi * x) if x else 1.0)
                acc += src[j] * weight
                norm += weight
        out[i] = max(-32768, min(32767, int(acc / norm))) if norm else 0
    return out.tobytes()


def frames(encoded: bytes, codec: G711Codec) -> list[bytes]:
    """Cut G.711 into 160-octet frames, the last padded with the codec's silence."""
    out = [encoded[i:i + FRAME_SAMPLES] for i in range(0, len(encoded), FRAME_SAMPLES)]
    if out and len(out[-1]) < FRAME_SAMPLES:
        out[-1] += codec.silence_frame(FRAME_SAMPLES - len(out[-1]))
    return out


def load_frames(name: str, data: bytes, codec: G711Codec) -> list[bytes]:
    """The 20 ms frames of a file's audio in ``codec``; raises :class:`AudioError`."""
    lowered = name.lower()
    for suffix, raw_law in _RAW_G711.items():
        if lowered.endswith(suffix):
            return frames(transcode(data, raw_law, codec.name), codec)
    rate, pcm, g711, law = read_wav(data)
    if g711 is not None and law is not None:
        return frames(transcode(g711, law, codec.name), codec)
    assert pcm is not None
    return frames(codec.from_linear(resample(pcm, rate)), codec)


def build_wav(pcm: bytes, channels: int = 1, rate: int = RATE) -> bytes:
    """A 16-bit PCM WAV file (interleaved when stereo)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def tone_wav(frequencies: tuple[float, ...], milliseconds: int, pause_ms: int = 0,
             level: float = 0.25) -> bytes:
    """A tone file (e.g. ringback 440+480 Hz, 2 s on, 4 s off) for ``play media``: files
    work with both engines, so tones are files too."""
    pcm = tone(frequencies, milliseconds, level=level) + bytes(2 * RATE * pause_ms // 1000)
    return build_wav(pcm)


def g711_of(name: str) -> G711Codec | None:
    return CODECS.get(name.upper())
