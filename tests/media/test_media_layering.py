"""The pure media cores stay free of I/O and clocks (design §3), like switch/sip."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.util import top_level_imports

ROOT = Path(__file__).resolve().parents[2]
PURE_MEDIA_FILES = [
    "switch/media/rtp.py", "switch/media/codecs.py", "switch/media/dtmf.py",
    "switch/media/bencode.py", "switch/media/ng.py", "switch/media/ports.py",
    "switch/media/quality.py", "switch/media/sdpmedia.py", "switch/media/audio.py",
    "switch/media/player.py", "switch/media/recorder.py", "switch/media/session.py",
    "switch/media/mixer.py",
]
FORBIDDEN = {"asyncio", "socket", "time", "datetime", "selectors", "ssl", "threading",
             "uvloop", "subprocess", "random", "os", "shutil"}




@pytest.mark.parametrize("rel", PURE_MEDIA_FILES)
def test_pure_media_module_imports_no_io_or_clock(rel: str) -> None:
    assert not top_level_imports(ROOT / rel) & FORBIDDEN


def test_every_media_module_is_classified() -> None:
    edges = {"switch/media/__init__.py", "switch/media/__main__.py", "switch/media/engine.py",
             "switch/media/commands.py", "switch/media/client.py", "switch/media/events.py",
             "switch/media/supervisor.py", "switch/media/tts.py", "switch/media/ivr.py",
             "switch/media/supervision.py"}
    found = {p.relative_to(ROOT).as_posix() for p in (ROOT / "switch/media").glob("*.py")}
    assert found == edges | set(PURE_MEDIA_FILES), "classify new media modules here"
