"""What a queued caller hears and may do while it waits (a part of :class:`Delivery`).

- music on hold, and every ``announce_every`` seconds (per queue: ``queue_policies``) its place
  and the expected wait, read out over the music ("You are number 2 in the queue. Your
  expected wait is about 3 minutes."): the place counts the callers of the same queue who came
  before it; the wait is the router's estimate at enqueue, less the time already waited;
- keys (per queue): ``voicemail`` (a prompt, a beep, the caller's message recorded for at most
  ``voicemail_seconds``) or ``callback`` (the number it calls from is kept for a call back);
  either takes the caller out of the router's queue (``AbandonCall``) with an event;
- recording of answered calls per queue (``record``), started when the agent is connected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from routing import commands as rc
from routing import decisions as rd

from .deliverystate import QueueAnnounced, Queued, QueueLeft, Stage, WaitingPolicy

log = logging.getLogger(__name__)

VOICEMAIL_PROMPT = "Please leave your message after the tone."
CALLBACK_PROMPT = ("Thank you. We will call you back at the number you are calling from."
                   " Goodbye.")
DEFAULT_POLICY = WaitingPolicy()


class WaitingMixin:
    if TYPE_CHECKING:  # provided by Delivery
        from .deliverystate import AgentMedia, LegPlacer

        calls: dict[str, Queued]
        legs: LegPlacer
        media: AgentMedia
        hold_music: Any
        beep: Any
        policies: dict[str, WaitingPolicy]
        publish: Callable[[object], None]
        clock: Callable[[], float]

        def submit(self, command: rc.Command) -> list[rd.Decision]: ...
        def _spawn(self, work: Awaitable[None]) -> None: ...

    def policy(self, queue: str) -> WaitingPolicy:
        return self.policies.get(queue, DEFAULT_POLICY)

    async def _music(self, queued: Queued) -> None:
        call = queued.call
        try:
            async with call.media_lock:
                if queued.stage is Stage.WAITING:
                    await self.media.play(call.call_id, call.caller_tag, self.hold_music,
                                          loop=True)
        except Exception as exc:
            log.warning("call %s: hold music not played: %s", call.call_id, exc)

    async def _announcements(self, queued: Queued) -> None:
        """Place and expected wait over the music, every ``announce_every`` seconds."""
        every = self.policy(queued.queue).announce_every
        if every <= 0:
            return
        call = queued.call
        while True:
            await asyncio.sleep(every)
            if queued.stage is not Stage.WAITING or self.calls.get(call.call_id) is not queued:
                return
            try:
                async with call.media_lock:
                    if queued.stage is not Stage.WAITING:
                        return
                    position, minutes = self._queue_place(queued)
                    prompt = await self.media.tts(
                        f"You are number {position} in the queue. Your expected wait is "
                        f"about {'one minute' if minutes == 1 else f'{minutes} minutes'}.")
                    self.publish(QueueAnnounced(call.call_id, position, minutes))
                    seconds = await self.media.play(call.call_id, call.caller_tag, prompt)
                await asyncio.sleep(seconds)
            except Exception as exc:
                log.warning("call %s: announcement not played: %s", call.call_id, exc)
            await self._music(queued)

    def _queue_place(self, queued: Queued) -> tuple[int, int]:
        """(place in its queue from 1, expected wait in whole minutes, at least 1)."""
        ahead = sum(1 for other in self.calls.values()
                    if other.queue == queued.queue and other.stage is Stage.WAITING
                    and other.enqueued_at < queued.enqueued_at)
        minutes = max(1, round((queued.estimate - (self.clock() - queued.enqueued_at)) / 60))
        return ahead + 1, minutes

    # -- keys ---------------------------------------------------------------------------------

    def caller_key(self, call_id: str, digit: str) -> None:
        queued = self.calls.get(call_id)
        if queued is None or queued.stage is not Stage.WAITING:
            return
        policy = self.policy(queued.queue)
        choice = policy.action(digit)
        if choice is None:
            return
        queued.stage = Stage.LEAVING
        for ring in queued.rings.values():
            ring.revoked = True
            for leg in list(ring.legs.values()):
                leg.hangup("caller left the queue")
        waited = round(self.clock() - queued.enqueued_at, 3)
        self.publish(QueueLeft(call_id, queued.queue, choice, queued.call.caller, waited))
        self.submit(rc.AbandonCall(call_id))
        self.legs.flush()
        if choice == "voicemail":
            self._spawn(self._voicemail(queued, policy.voicemail_seconds))
        else:
            self._spawn(self._callback(queued))

    async def _voicemail(self, queued: Queued, max_seconds: int) -> None:
        call = queued.call
        try:
            async with call.media_lock:
                await self.media.stop(call.call_id, call.caller_tag)
                prompt = await self.media.tts(VOICEMAIL_PROMPT)
                seconds = await self.media.play(call.call_id, call.caller_tag, prompt)
            await asyncio.sleep(seconds)
            async with call.media_lock:
                await self.media.record(call.call_id)
                queued.recording = True
                if self.beep is not None:
                    await self.media.play(call.call_id, call.caller_tag, self.beep)
            await asyncio.sleep(max_seconds)
        except Exception as exc:
            log.warning("call %s: voicemail failed: %s", call.call_id, exc)
        await self._stop_recording(queued)
        call.hang_up("voicemail recorded")

    async def _callback(self, queued: Queued) -> None:
        call = queued.call
        try:
            async with call.media_lock:
                await self.media.stop(call.call_id, call.caller_tag)
                prompt = await self.media.tts(CALLBACK_PROMPT)
                seconds = await self.media.play(call.call_id, call.caller_tag, prompt)
            await asyncio.sleep(seconds)
        except Exception as exc:
            log.warning("call %s: callback prompt failed: %s", call.call_id, exc)
        call.hang_up("callback requested")

    # -- recording ----------------------------------------------------------------------------

    async def _record_if_asked(self, queued: Queued) -> None:
        if not self.policy(queued.queue).record or queued.recording:
            return
        try:
            await self.media.record(queued.call.call_id)
            queued.recording = True
        except Exception as exc:
            log.warning("call %s: recording not started: %s", queued.call.call_id, exc)

    async def _stop_recording(self, queued: Queued) -> None:
        if not queued.recording:
            return
        queued.recording = False
        try:
            await self.media.stop_recording(queued.call.call_id)
        except Exception as exc:
            log.warning("call %s: recording not finished: %s", queued.call.call_id, exc)
