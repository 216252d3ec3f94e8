"""The IVR runner: carries out an :class:`~switch.ivr.engine.IvrSession`'s commands on a call.

The interpreter is pure; this edge owns the I/O: prompts rendered (TTS, cached) and played
through the media port, HTTP look-ups (httpx, bounded by the step's timeout), the caller's
digits fed back (RFC 4733 from the engine, or SIP INFO from the leg), and the end of prompts
reported. A prompt's end is known from its length (the engine's reply, else the WAV header),
so both engines behave the same: the builtin one and rtpengine, which reports no playback end.

Prompts play one after another: a new one waits for the one before. ``StopPrompt`` (barge-in)
stops the engine and drops the queue; dropped prompts are not reported (the session only waits
for the last one it asked for). A digit that arrives while a play command is on its way stops
that play as soon as it starts.

A queue node hands the call to call delivery (``enqueue``; music on hold only when the node
has no router); a callback request is published as an event for the dialler to come; a
transfer node is published and the call ends (transfers from the IVR itself, before any
agent, are not done yet: agents transfer with REFER). Voicemail is recorded by the engine (a
beep, then the caller, in a stereo WAV); a survey node's questions are asked after the agent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import commands as cmd
from .engine import CallFacts, IvrSession
from .schema import Prompt
from .survey import PostCallSurvey

log = logging.getLogger(__name__)


class CallPort(Protocol):
    @property
    def call_id(self) -> str: ...
    @property
    def caller(self) -> str: ...
    @property
    def number(self) -> str: ...
    @property
    def caller_tag(self) -> str: ...

    def hang_up(self, reason: str) -> None: ...
    def publish(self, event: object) -> None: ...


class MediaPort(Protocol):
    async def play(self, call_id: str, caller_tag: str, path: Path, *,
                   loop: bool = False) -> float: ...
    async def stop(self, call_id: str, caller_tag: str) -> None: ...
    async def tts(self, text: str, voice: str | None = None) -> Path: ...
    async def record(self, call_id: str) -> None: ...
    async def stop_recording(self, call_id: str) -> None: ...


Lookup = Callable[[str, str, float], Awaitable[tuple[int, Any]]]  # (url, method, timeout)


class QueuedService(Protocol):
    """What takes a queued call over (call delivery's queue session)."""

    def start(self, now: float) -> None: ...
    def digit(self, digit: str, now: float) -> None: ...
    def stop(self) -> None: ...


# (the flow's queue node, what to do when the agent hangs up: True when it takes the call on)
Enqueuer = Callable[[cmd.Enqueue, Callable[[], bool] | None], QueuedService]


class IvrRunner:
    """One call's IVR; implements call control's ServiceSession."""

    def __init__(self, call: CallPort, session: IvrSession, media: MediaPort, *,
                 prompt_dir: Path, hold_music: Path, lookup: Lookup, beep: Path | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 nudge: Callable[[], None] = lambda: None,
                 enqueue: Enqueuer | None = None) -> None:
        self.call = call
        self.enqueue = enqueue  # call delivery: the queue takes the call over
        self._queued: QueuedService | None = None
        self._survey: PostCallSurvey | None = None
        self.session = session
        self.media = media
        self.prompt_dir = prompt_dir
        self.hold_music = hold_music
        self.beep = beep
        self.lookup = lookup
        self._recording = False
        self.clock = clock
        self.nudge = nudge  # tells call control a deadline may have moved
        self._queue: deque[tuple[int, Prompt]] = deque()
        self._playing: tuple[int, float] | None = None  # (seq, ends at)
        self._starting = False  # a play command is on its way to the engine
        self._stopped = False
        self._generation = 0  # bumped by StopPrompt: late plays of older prompts are stopped
        self._tasks: set[asyncio.Task[None]] = set()

    # -- ServiceSession -----------------------------------------------------------------------

    def start(self, now: float) -> None:
        self._apply(self.session.start(now))

    def digit(self, digit: str, now: float) -> None:
        if self._survey is not None:
            self._survey.digit(digit)
        elif self._queued is not None:
            self._queued.digit(digit, now)
        elif not self._stopped and not self.session.finished:
            self._apply(self.session.handle(cmd.DigitPressed(digit), now))

    def stop(self) -> None:
        self._stopped = True
        if self._queued is not None:
            self._queued.stop()
        for task in self._tasks:
            task.cancel()
        if self._recording:  # the caller hung up while leaving a message: keep what it said
            self._recording = False
            self._spawn(self._end_recording())
        if not self.session.finished:
            self._apply(self.session.handle(cmd.CallerHungUp(), self.clock()))

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self.session.next_deadline(),
                                 self._playing[1] if self._playing else None) if d is not None]
        return min(deadlines) if deadlines else None

    def on_timer(self, now: float) -> None:
        if self._playing is not None and now >= self._playing[1]:
            seq, _ = self._playing
            self._playing = None
            self._play_next()
            if not self._queue and self._playing is None and not self._starting:
                self._apply(self.session.handle(cmd.PromptFinished(seq), now))
        deadline = self.session.next_deadline()
        if deadline is not None and deadline <= now and not self.session.finished:
            self._apply(self.session.on_timer(now))

    # -- commands -----------------------------------------------------------------------------

    def _apply(self, commands: list[cmd.Command]) -> None:
        for command in commands:
            if isinstance(command, cmd.PlayPrompt):
                self._queue.append((command.seq, command.prompt))
                if self._playing is None and not self._starting:
                    self._play_next()
            elif isinstance(command, cmd.StopPrompt):
                self._stop_prompts()
            elif isinstance(command, cmd.StartLookup):
                self._spawn(self._lookup(command))
            elif isinstance(command, cmd.Enqueue):
                self._hold(command)
            elif isinstance(command, cmd.Hangup):
                self._stopped = True
                self.call.hang_up(f"ivr: {command.reason}")
            elif isinstance(command, cmd.StartVoicemail):
                self._spawn(self._voicemail(command))
            elif isinstance(command, cmd.RequestCallback):
                # Kept for the outbound dialler (call delivery); the flow tells the caller.
                self.call.publish(CallbackRequested(self.call.call_id, command.number,
                                                    command.queue))
            elif isinstance(command, cmd.Transfer):
                self._not_yet(command)
            elif isinstance(command, cmd.CancelLookup):
                pass  # the session ignores a late answer itself
            else:
                self.call.publish(IvrStep(self.call.call_id, command))
        self.nudge()

    def _play_next(self) -> None:
        if self._stopped or not self._queue:
            return
        seq, prompt = self._queue.popleft()
        self._starting = True
        self._spawn(self._play(seq, prompt, self._generation))

    async def _play(self, seq: int, prompt: Prompt, generation: int) -> None:
        try:
            path = await self._resolve(prompt)
            seconds = await self.media.play(self.call.call_id, self.call.caller_tag, path)
        except Exception as exc:
            log.warning("call %s: prompt %d not played: %s", self.call.call_id, seq, exc)
            seconds = 0.0
        self._starting = False
        if generation != self._generation:  # barged in meanwhile: silence it
            await self._silence()
            return
        self._playing = (seq, self.clock() + seconds)
        self.nudge()

    def _stop_prompts(self) -> None:
        self._queue.clear()
        self._generation += 1
        was_playing = self._playing is not None
        self._playing = None
        if was_playing:
            self._spawn(self._silence())

    async def _silence(self) -> None:
        try:
            await self.media.stop(self.call.call_id, self.call.caller_tag)
        except Exception as exc:
            log.debug("call %s: stop media: %s", self.call.call_id, exc)

    async def _resolve(self, prompt: Prompt) -> Path:
        if prompt.tts is not None:
            return await self.media.tts(prompt.tts, prompt.voice)
        assert prompt.file is not None
        return self.prompt_dir / prompt.file

    async def _lookup(self, command: cmd.StartLookup) -> None:
        try:
            status, body = await asyncio.wait_for(
                self.lookup(command.url, command.method, command.timeout), command.timeout)
            event: cmd.IvrEvent = cmd.LookupCompleted(status, body)
        except Exception as exc:  # timeout, refused, bad JSON: the fallback branch
            event = cmd.LookupFailed(type(exc).__name__ + (f": {exc}" if str(exc) else ""))
        if not self._stopped and not self.session.finished:
            self._apply(self.session.handle(event, self.clock()))

    async def _voicemail(self, command: cmd.StartVoicemail) -> None:
        """The prompt, then a beep and the caller's message for at most ``max_seconds``."""
        call_id, tag = self.call.call_id, self.call.caller_tag
        try:
            for prompt in ([command.prompt] if command.prompt is not None else []):
                await asyncio.sleep(await self.media.play(call_id, tag,
                                                          await self._resolve(prompt)))
            # The recording starts with the beep, so the message opens with a known mark (and
            # the engine side of the stereo file is not silent).
            await self.media.record(call_id)
            self._recording = True
            self.call.publish(VoicemailStarted(call_id, command.mailbox, command.max_seconds))
            if self.beep is not None:
                await self.media.play(call_id, tag, self.beep)
            await asyncio.sleep(command.max_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("call %s: voicemail failed: %s", call_id, exc)
        if self._recording:
            self._recording = False
            await self._end_recording()
        if not self._stopped:
            self._stopped = True
            self.call.hang_up("ivr: voicemail recorded")

    async def _end_recording(self) -> None:
        try:
            await self.media.stop_recording(self.call.call_id)
        except Exception as exc:
            log.warning("call %s: recording not finished: %s", self.call.call_id, exc)

    def _hold(self, command: cmd.Enqueue) -> None:
        """Queued: call delivery takes the call over (music on hold until an agent answers);
        without it (no router), music on hold only."""
        self.call.publish(CallQueued(self.call.call_id, command.queue, command.priority,
                                     command.skills, command.tier))
        if self.enqueue is not None:
            after = self._after_agent if self.session.survey else None
            self._queued = self.enqueue(command, after)
            self._queued.start(self.clock())
        else:
            self._spawn(self._play_hold())

    async def _play_hold(self) -> None:
        try:
            await self.media.play(self.call.call_id, self.call.caller_tag, self.hold_music,
                                  loop=True)
        except Exception as exc:
            log.warning("call %s: hold music not played: %s", self.call.call_id, exc)

    def _after_agent(self) -> bool:
        """The agent hung up and the flow asked for a survey: the caller stays for it."""
        self._queued = None
        self._survey = PostCallSurvey(self.call.call_id, self.session.survey, say=self._say,
                                      publish=self.call.publish)
        self._spawn(self._run_survey(self._survey))
        return True

    async def _run_survey(self, survey: PostCallSurvey) -> None:
        try:
            await survey.run()
        except Exception as exc:
            log.warning("call %s: survey failed: %s", self.call.call_id, exc)
        self._stopped = True
        self.call.hang_up("survey done")

    async def _say(self, what: Prompt | str) -> float:
        prompt = Prompt(tts=what) if isinstance(what, str) else what
        return await self.media.play(self.call.call_id, self.call.caller_tag,
                                     await self._resolve(prompt))

    def _not_yet(self, command: cmd.Command) -> None:
        what = type(command).__name__
        self.call.publish(IvrStep(self.call.call_id, command))
        log.info("call %s: %s requested; it lands with a later issue, ending the call",
                 self.call.call_id, what)
        self._stopped = True
        self.call.hang_up(f"ivr: {what} not available yet")

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


# -- events for the bus -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class IvrStep:
    """Every notice of the interpreter (steps, variables, self-service, survey), per call."""

    call_id: str
    notice: object


@dataclass(frozen=True, slots=True)
class VoicemailStarted:
    """The caller is leaving a message in ``mailbox`` (the engine's ``recording`` event names
    the file when it is written)."""

    call_id: str
    mailbox: str
    max_seconds: int


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    """The caller asked to be called back at ``number`` by ``queue``."""

    call_id: str
    number: str
    queue: str


@dataclass(frozen=True, slots=True)
class CallQueued:
    """The flow (or a queue's number) put the call in a queue."""

    call_id: str
    queue: str
    priority: int
    skills: str | None
    tier: str | None


class QueueHold:
    """A number that leads straight to a queue: the caller hears music on hold (the router
    connects an agent with call delivery); implements call control's ServiceSession."""

    def __init__(self, call: CallPort, queue: str, media: MediaPort, hold_music: Path) -> None:
        self.call = call
        self.queue = queue
        self.media = media
        self.hold_music = hold_music
        self._task: asyncio.Task[None] | None = None

    def start(self, now: float) -> None:
        self.call.publish(CallQueued(self.call.call_id, self.queue, 0, None, None))
        self._task = asyncio.ensure_future(self._play())

    async def _play(self) -> None:
        try:
            await self.media.play(self.call.call_id, self.call.caller_tag, self.hold_music,
                                  loop=True)
        except Exception as exc:
            log.warning("call %s: hold music not played: %s", self.call.call_id, exc)

    def digit(self, digit: str, now: float) -> None:
        pass  # leaving a voicemail or asking for a callback from the queue: call delivery

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def next_deadline(self) -> float | None:
        return None

    def on_timer(self, now: float) -> None:
        pass


def new_session(flow_name: str, store: Any, call: CallPort, now: float, *,
                api_base: str | None) -> IvrSession:
    """A session on the flow's current published version (the call stays on it)."""
    version, flow = store.current(flow_name)
    facts = CallFacts(call.call_id, call.caller, call.number)
    return IvrSession(flow, version, facts, now, wall_offset=time.time() - time.monotonic(),
                      api_base=api_base)
