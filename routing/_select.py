"""Pick the router core: the compiled one when it loads, else the reference.

``ROUTING_PURE=1`` forces the reference. ``ROUTING_REQUIRE_COMPILED=1`` turns a missing
extension into an ImportError (``make test`` sets it, so a broken build cannot hide).
"""

from __future__ import annotations

import os

from routing.reference import ReferenceRouter

CompiledRouter: type | None
try:
    from routing.compiled import CompiledRouter as _Compiled

    CompiledRouter = _Compiled
except ImportError:  # the extension is not built
    if os.environ.get("ROUTING_REQUIRE_COMPILED") == "1":
        raise
    CompiledRouter = None

if os.environ.get("ROUTING_PURE") == "1" or CompiledRouter is None:
    Router: type = ReferenceRouter
else:
    Router = CompiledRouter

__all__ = ["CompiledRouter", "ReferenceRouter", "Router"]
