"""``/ctl``: run-time inspection and control for operators (what ``switchboard ctl`` calls).

Registrations, bans (list, lift), transactions in flight and a config reload. These are
operator powers, so every request must come from an address in ``http.control_from`` (this
host only by default), whatever address the HTTP listener binds: anyone else gets 403.

The router only talks to a :class:`ControlPort`; the node implements it, so the API never
reaches into the node's parts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from ..control import ReloadOutcome


class ControlPort(Protocol):
    def list_registrations(self) -> list[dict[str, Any]]: ...
    def list_bans(self) -> list[dict[str, Any]]: ...
    def lift_ban(self, source: str, username: str | None = None) -> list[dict[str, Any]]: ...
    def list_transactions(self) -> list[dict[str, Any]]: ...
    def reload(self) -> ReloadOutcome: ...
    async def media_statistics(self) -> dict[str, Any]: ...
    def list_agents(self) -> list[dict[str, Any]]: ...
    def list_calls(self) -> list[dict[str, Any]]: ...
    def transfer(self, call_id: str, target: str) -> dict[str, Any]: ...
    def supervise(self, call_id: str, supervisor: str | None,
                  mode: str | None) -> dict[str, Any]: ...
    def agent_command(self, agent_id: str, action: str, reason: str = "",
                      number: str | None = None) -> dict[str, Any]: ...


def control_router(port: ControlPort, allowed: Callable[[str], bool]) -> APIRouter:
    def local_only(request: Request) -> None:
        host = request.client.host if request.client else ""
        if not allowed(host):
            raise HTTPException(403, f"control endpoints are not open to {host or 'unknown'}"
                                     " (http.control_from)")

    router = APIRouter(prefix="/ctl", tags=["control"], dependencies=[Depends(local_only)])

    @router.get("/registrations", summary="Registered AORs and their contacts")
    async def registrations() -> list[dict[str, Any]]:
        return port.list_registrations()

    @router.get("/bans", summary="Active bans: source, scope, username, reason, time left")
    async def bans() -> list[dict[str, Any]]:
        return port.list_bans()

    @router.delete("/bans/{source}", summary="Lift the bans of a source (or of one username)")
    async def lift(source: str, username: str | None = None) -> JSONResponse:
        lifted = port.lift_ban(source, username)
        if not lifted:
            who = f"{source} (username {username!r})" if username is not None else source
            return JSONResponse({"detail": f"no active ban for {who}"}, status_code=404)
        return JSONResponse({"lifted": lifted})

    @router.get("/transactions", summary="SIP transactions in flight")
    async def transactions() -> list[dict[str, Any]]:
        return port.list_transactions()

    @router.get("/media", summary="Media engine: calls and the engine's counters")
    async def media() -> dict[str, Any]:
        return await port.media_statistics()

    @router.get("/agents", summary="Agents: state, reason, calls, reachable phones")
    async def agents() -> list[dict[str, Any]]:
        return port.list_agents()

    @router.post("/agents/{agent_id}/{action}",
                 summary="login, logout, ready, not_ready (?reason=), mobile (?number=: "
                         "calls go to that number through the trunk), phones (back), or "
                         "dial (?number=: ring the agent, then call the customer)")
    async def agent(agent_id: str, action: str, reason: str = "",
                    number: str | None = None) -> JSONResponse:
        try:
            return JSONResponse(port.agent_command(agent_id, action, reason, number))
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409)

    @router.get("/calls", summary="Queued and connected calls: queue, stage, agent, seconds")
    async def calls() -> list[dict[str, Any]]:
        return port.list_calls()

    @router.post("/calls/{call_id}/supervise",
                 summary="A supervisor joins (?supervisor=&mode=listen|whisper|barge), or the "
                         "mode changes (?mode=)")
    async def supervise(call_id: str, supervisor: str | None = None,
                        mode: str | None = None) -> JSONResponse:
        try:
            return JSONResponse(port.supervise(call_id, supervisor, mode))
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409)

    @router.post("/calls/{call_id}/transfer",
                 summary="Blind transfer (?to=queue:NAME | agent:ID | number:NUMBER)")
    async def transfer(call_id: str, to: str) -> JSONResponse:
        try:
            return JSONResponse(port.transfer(call_id, to))
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409)

    @router.delete("/calls/{call_id}/supervise", summary="The supervisor leaves the call")
    async def unsupervise(call_id: str) -> JSONResponse:
        try:
            return JSONResponse(port.supervise(call_id, None, None))
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=404)

    @router.post("/reload", summary="Re-read and apply the config file (or refuse it)")
    async def reload() -> JSONResponse:
        outcome = port.reload()
        return JSONResponse(outcome.as_dict(), status_code=200 if outcome.applied else 422)

    return router
