"""Selector of the parser's compiled twin (the yarl/msgpack model, design §8).

``cext._sipparse`` holds fast paths of the parser's hot functions; each recognises the everyday
shape of its input and hands everything else to the pure reference it is bound to, so both give
the same results and the same errors. It is used when it is built, unless ``SIP_PURE=1``.

``set_compiled(False)`` routes every call to the reference at run time (the tests run over
both; the benchmark measures both in one process).
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("SIP_PURE", "") not in ("", "0"):
        return None
    try:
        from cext import _sipparse
    except ImportError:
        return None
    return _sipparse


compiled: ModuleType | None = _load()
"""The extension module, or None when it is not built or ``SIP_PURE`` is set."""

IMPLEMENTATION = "pure" if compiled is None else "compiled"


def set_compiled(enabled: bool) -> None:
    """Turn the compiled fast paths on or off (no effect when the extension is not loaded)."""
    if compiled is not None:
        compiled.set_enabled(enabled)


def active() -> str:
    """``"compiled"`` while the fast paths are in use, else ``"pure"``."""
    return "compiled" if compiled is not None and compiled.enabled() else "pure"
