"""Text-to-speech prompts: rendered once by espeak-ng, cached by content as 8 kHz WAV files.

Theory of operation
-------------------
A prompt is identified by what it says and how: SHA-256 of (voice, rate, text). The first
request renders it (``espeak-ng --stdout`` reading the text on stdin, so no text is ever taken
for a flag), resamples espeak-ng's 22,050 Hz to 8 kHz mono 16-bit PCM
(:func:`switch.media.audio.resample`, in a worker thread since it is pure Python), and writes
``DATA_DIR/tts/<hash>.wav`` through a temporary name and a rename, so a reader never sees half
a file. Later requests find the file. Concurrent requests for the same prompt share one render.
The file plays on both engines (``play media`` with ``file``), since rtpengine reads WAV too.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from pathlib import Path

from .audio import build_wav, read_wav, resample

__all__ = ["TtsCache", "TtsError"]


class TtsError(RuntimeError):
    """espeak-ng is missing or failed; the message carries its complaint."""


class TtsCache:
    def __init__(self, data_dir: Path, voice: str = "en-us", rate: int = 160,
                 program: str = "espeak-ng") -> None:
        self.folder = data_dir / "tts"
        self.voice = voice
        self.rate = rate
        self.program = program
        self._inflight: dict[str, asyncio.Future[Path]] = {}
        self.renders = 0  # how many times espeak-ng actually ran (tests check the cache)

    def key(self, text: str, voice: str | None = None, rate: int | None = None) -> str:
        material = f"{voice or self.voice}\0{rate or self.rate}\0{text}".encode()
        return hashlib.sha256(material).hexdigest()[:32]

    def path_for(self, text: str, voice: str | None = None, rate: int | None = None) -> Path:
        return self.folder / f"{self.key(text, voice, rate)}.wav"

    async def render(self, text: str, voice: str | None = None, rate: int | None = None,
                     ) -> Path:
        """The WAV file of ``text``, rendering it only if no one has before."""
        if not text.strip():
            raise TtsError("nothing to say: empty prompt text")
        path = self.path_for(text, voice, rate)
        if path.exists():
            return path
        key = path.stem
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            await self._render(text, voice or self.voice, rate or self.rate, path)
            future.set_result(path)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            del self._inflight[key]
            if future.done() and not future.cancelled():
                future.exception()  # mark retrieved: waiters got it, or nobody waited
        return path

    async def _render(self, text: str, voice: str, rate: int, path: Path) -> None:
        program = shutil.which(self.program)
        if program is None:
            raise TtsError(f"{self.program} is not installed (Debian package espeak-ng)")
        process = await asyncio.create_subprocess_exec(
            program, "-v", voice, "-s", str(rate), "-b", "1", "--stdout",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate(text.encode("utf-8"))
        if process.returncode != 0 or not out:
            raise TtsError(f"espeak-ng failed (exit {process.returncode}): "
                           f"{err.decode(errors='replace').strip()[:200]}")
        self.renders += 1
        wav = await asyncio.to_thread(_to_8k_wav, out)
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(wav)
        temporary.replace(path)


def _to_8k_wav(data: bytes) -> bytes:
    rate, pcm, _, _ = read_wav(data)
    if pcm is None:
        raise TtsError("espeak-ng did not produce PCM audio")
    return build_wav(resample(pcm, rate))
