"""Mobile login by phone: an agent calls the access number from its mobile, enters its agent
number and PIN, and from then on takes its calls on that phone through the trunk.

The access number is a ``numbers:`` entry ``login:mobile`` (reached from the carrier, a
trusted source: the mobile calls in like any customer). Keys: the agent number then ``#``,
the PIN then ``#`` (three tries; the account's ``pin``), then ``*1`` ready and ``*2`` not
ready for as long as the call lasts. The number the call comes from is where offers go
(``ctl agent ID mobile NUMBER`` does the same from the API). A call service (call control's
ServiceSession) on the answered call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

WAIT = 10.0  # seconds for the keys of one answer
TRIES = 3
WELCOME = "Agent login. Please enter your agent number, then press the hash key."
PIN = "Please enter your PIN, then press the hash key."
WRONG = "That did not match."
GOODBYE = "Goodbye."
READY = "You are logged in on this phone and ready for calls. Press star 2 to pause, " \
        "star 1 to be ready again."
PAUSED = "You are paused."
READY_AGAIN = "You are ready."


class Caller(Protocol):
    @property
    def call_id(self) -> str: ...
    @property
    def caller(self) -> str: ...
    @property
    def caller_tag(self) -> str: ...

    def hang_up(self, reason: str) -> None: ...
    def publish(self, event: object) -> None: ...


@dataclass(frozen=True, slots=True)
class MobileLoginFailed:
    call_id: str
    agent_id: str
    reason: str  # "wrong pin" | "unknown agent" | "no answer"


class MobileLogin:
    def __init__(self, call: Caller, *, say: Callable[[str], Awaitable[float]],
                 check_pin: Callable[[str, str], bool],
                 command: Callable[[str, str, str, str | None], Any]) -> None:
        """``command(agent, action, reason, number)``: call delivery's agent command."""
        self.call = call
        self.say = say
        self.check_pin = check_pin
        self.command = command
        self.keys: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.agent: str | None = None

    # -- ServiceSession -----------------------------------------------------------------------

    def start(self, now: float) -> None:
        self._task = asyncio.ensure_future(self._run())

    def digit(self, digit: str, now: float) -> None:
        self.keys.put_nowait(digit)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def next_deadline(self) -> float | None:
        return None

    def on_timer(self, now: float) -> None:
        pass

    # -- the dialogue -------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            agent = await self._login()
            if agent is None:
                await asyncio.sleep(await self.say(GOODBYE))
                self.call.hang_up("mobile login failed")
                return
            self.agent = agent
            await self.say(READY)
            await self._state_keys(agent)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("call %s: mobile login failed: %s", self.call.call_id, exc)
            self.call.hang_up("mobile login failed")

    async def _login(self) -> str | None:
        agent = ""
        for attempt in range(TRIES):
            if attempt:
                await self.say(WRONG)
            agent = await self._entry(WELCOME)
            pin = await self._entry(PIN)
            if not agent or not pin:
                self._failed(agent, "no answer")
                return None
            if self.check_pin(agent, pin):
                try:
                    self.command(agent, "mobile", "", self.call.caller)
                except ValueError as exc:
                    self._failed(agent, str(exc))
                    return None
                return agent
            self._failed(agent, "wrong pin")
        return None

    async def _entry(self, prompt: str) -> str:
        """Keys up to ``#`` (or a pause), typed while or after ``prompt`` plays, or ahead of
        it (a user who knows the dialogue types on)."""
        await self.say(prompt)
        typed = ""
        while len(typed) < 16:
            try:
                key = await asyncio.wait_for(self.keys.get(), WAIT)
            except TimeoutError:
                break
            if key == "#":
                break
            typed += key
        return typed

    async def _state_keys(self, agent: str) -> None:
        star = False
        while True:
            key = await self.keys.get()
            if key == "*":
                star = True
                continue
            if star and key in ("1", "2"):
                ready = key == "1"
                try:
                    self.command(agent, "ready" if ready else "not_ready", "mobile", None)
                    await self.say(READY_AGAIN if ready else PAUSED)
                except ValueError as exc:
                    log.info("agent %s: %s", agent, exc)
            star = False

    def _failed(self, agent: str, reason: str) -> None:
        # The PIN never appears anywhere: only who tried and why it failed.
        log.warning("mobile login refused: call %s agent %r from %s: %s", self.call.call_id,
                    agent[:16], self.call.caller, reason)
        self.call.publish(MobileLoginFailed(self.call.call_id, agent[:16], reason))
