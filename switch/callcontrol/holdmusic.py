"""Music on hold we can ship: a soft synthesized arpeggio, written once as 8 kHz WAV.

No recorded music comes with the node (licences); operators point queues at their own files.
This gives every queue something pleasant and recognisable by default, and gives the tests a
signal with known tones. Made with the standard library only (``math``, ``array``, ``wave``).
"""

from __future__ import annotations

import array
import math
import wave
from pathlib import Path

RATE = 8000
# A calm I-vi-IV-V progression in C, as arpeggios (Hz); each note 0.25 s.
_NOTES = [261.63, 329.63, 392.00, 329.63, 220.00, 261.63, 329.63, 261.63,
          174.61, 220.00, 261.63, 220.00, 196.00, 246.94, 293.66, 246.94]
NOTE_SECONDS = 0.25


def ensure_hold_music(folder: Path) -> Path:
    """``folder/hold-music.wav``, written on first use (16-bit mono, 8 kHz, about 8 s)."""
    path = folder / "hold-music.wav"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    samples = array.array("h")
    per_note = int(RATE * NOTE_SECONDS)
    for _ in range(2):
        for freq in _NOTES:
            for n in range(per_note):
                # a gentle attack and release so notes do not click
                envelope = min(1.0, n / 200, (per_note - n) / 400)
                value = 0.6 * math.sin(2 * math.pi * freq * n / RATE) \
                    + 0.2 * math.sin(2 * math.pi * 2 * freq * n / RATE)
                samples.append(int(9000 * envelope * value))
    return _write(path, samples)


def ensure_beep(folder: Path, hz: float = 1000.0, seconds: float = 0.4) -> Path:
    """The tone before a voicemail recording starts (``folder/beep.wav``)."""
    path = folder / "beep.wav"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    count = int(RATE * seconds)
    samples = array.array("h", (int(10000 * min(1.0, n / 80, (count - n) / 80)
                                    * math.sin(2 * math.pi * hz * n / RATE))
                                for n in range(count)))
    return _write(path, samples)


def _write(path: Path, samples: array.array[int]) -> Path:
    """16-bit mono WAV, written under a temporary name and moved into place whole (a
    concurrent reader never sees half a file)."""
    partial = path.with_suffix(".tmp")
    with wave.open(str(partial), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(samples.tobytes())
    partial.replace(path)
    return path
