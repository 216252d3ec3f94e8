"""FastAPI app factory. The node serves it with uvicorn inside its own event loop.

``status`` is a callable so the app never reaches into the node: it reports what the
composition root chooses to expose (no secrets, ever: config secrets are SecretStr and are
not part of the status).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

StatusProvider = Callable[[], dict[str, Any]]


def create_app(status: StatusProvider, *, version: str) -> FastAPI:
    app = FastAPI(title="switchboard", version=version)

    @app.get("/healthz", summary="Liveness, version, uptime and listeners")
    async def healthz() -> JSONResponse:
        body = status()
        # A draining node answers 503 so a load balancer stops sending it work.
        code = 200 if body.get("status") == "ok" else 503
        return JSONResponse(body, status_code=code)

    return app
