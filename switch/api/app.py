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

from .control import ControlPort, control_router
from .docs import add_offline_docs

StatusProvider = Callable[[], dict[str, Any]]


def create_app(status: StatusProvider, *, version: str, control: ControlPort | None = None,
               control_allowed: Callable[[str], bool] | None = None,
               demo_customers: Callable[[str], dict[str, Any] | None] | None = None) -> FastAPI:
    # The docs pages are served from our own assets (no CDN): see docs.py.
    app = FastAPI(title="switchboard", version=version, docs_url=None, redoc_url=None)
    add_offline_docs(app)
    if control is not None:
        app.include_router(control_router(control, control_allowed or (lambda host: False)))

    if demo_customers is not None:
        @app.get("/demo/customers/{caller}", summary="The demo's customer system (IVR look-up)")
        async def demo_customer(caller: str) -> JSONResponse:
            found = demo_customers(caller)
            if found is None:
                return JSONResponse({"detail": "no such customer"}, status_code=404)
            return JSONResponse(found)

    @app.get("/healthz", summary="Liveness, version, uptime and listeners")
    async def healthz() -> JSONResponse:
        body = status()
        # A draining node answers 503 so a load balancer stops sending it work.
        code = 200 if body.get("status") == "ok" else 503
        return JSONResponse(body, status_code=code)

    return app
