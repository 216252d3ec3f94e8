"""The IVR interpreter: one :class:`IvrSession` per call, pure.

Theory of operation. A session walks one validated :class:`Flow` (pinned at the version the
call started on) for one call. It never touches media, SIP, HTTP or a clock: the runner feeds
it events (:mod:`switch.ivr.commands`) with the current time, executes the actions it returns
in order, publishes the notices, and calls :meth:`IvrSession.on_timer` at
:meth:`IvrSession.next_deadline`. That makes every path (timeouts, barge-in, a lookup that
never answers) testable with a fake clock in microseconds.

Nodes that need nothing from outside (condition, set, survey) run straight through; a node
that waits (a prompt, the caller's digits, a lookup) parks the session in a state until the
matching event or deadline arrives. The session is a state machine: ``_TABLE`` maps
``(state, input)`` to a handler and the states it may leave the session in. An input with no
entry is absorbed: the caller presses keys whenever they like and late reports from the
runner race with deadlines, so those are facts to ignore, not bugs. Using a session before
:meth:`start`, or starting it twice, is a bug in the runner and raises :class:`IvrError`.

Safety. At most ``max_steps`` steps (node entries and retries) may run between two digits
from the caller, so a flow that would spin (a menu timing out into itself for ever) ends.
Any error inside the session (the step bound, a bug) ends the call the same way: a
:class:`FlowFailed` notice naming the node, then ``Hangup("ivr_error")``. A flow bug must
cost one call, never the node.

Clocks. ``now`` is the runner's monotonic clock, used for deadlines. Business hours need wall
time: ``wall_offset`` (wall clock minus monotonic clock, measured once by the runner) turns
``now`` into UTC seconds. Tests pass an epoch as ``now`` and leave the offset at 0.
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from .commands import (
    CallerHungUp,
    CancelLookup,
    Command,
    DigitPressed,
    Enqueue,
    FlowFailed,
    Hangup,
    IvrEvent,
    LookupCompleted,
    LookupFailed,
    PlayPrompt,
    PromptFinished,
    RequestCallback,
    ResolvedInSelfService,
    StartLookup,
    StartVoicemail,
    StepTaken,
    StopPrompt,
    SurveyQuestion,
    SurveyRequested,
    Transfer,
    VariableSet,
)
from .hours import is_open
from .schema import (
    SURVEY_SCALES,
    AnswerNode,
    CallbackNode,
    CollectNode,
    ConditionNode,
    Flow,
    HangupNode,
    HoursWhen,
    LookupNode,
    MenuNode,
    PlayNode,
    Prompt,
    QueueNode,
    SetNode,
    SurveyNode,
    TierWhen,
    TransferNode,
    VoicemailNode,
)
from .values import as_text, extract, parse_json_path, render

log = logging.getLogger(__name__)

MAX_STEPS = 100


class IvrError(Exception):
    """The runner used a session wrongly (not started, started twice)."""


class _FlowBroken(Exception):
    """The flow cannot go on (step bound, an empty callback number...)."""


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the switch knows about the call when the IVR starts."""

    call_id: str
    caller: str  # the caller's number (From user part); "" when anonymous
    number: str  # the dialled number
    tier: str | None = None  # a customer tier already known (a trunk header, a prior lookup)


class State(Enum):
    IDLE = "idle"  # created; start() not called yet
    PLAYING = "playing"  # a prompt the caller cannot interrupt (play, answer, goodbye)
    PROMPTING = "prompting"  # a menu or collect prompt: a digit barges in
    WAITING_INPUT = "waiting for input"  # menu or collect: prompt over, deadline armed
    WAITING_LOOKUP = "waiting for lookup"  # HTTP request out, deadline armed
    FINISHED = "finished"  # handed on, hung up, abandoned or failed


class Input(Enum):
    START = "start"
    PROMPT_FINISHED = "prompt finished"
    DIGIT = "digit"
    TIMER = "deadline passed"
    LOOKUP_COMPLETED = "lookup completed"
    LOOKUP_FAILED = "lookup failed"
    HUNG_UP = "caller hung up"


S, In = State, Input
# Where running nodes may leave the session: any waiting state, or finished.
_RUN = frozenset({S.PLAYING, S.PROMPTING, S.WAITING_INPUT, S.WAITING_LOOKUP, S.FINISHED})
_END = frozenset({S.FINISHED})
_TABLE: dict[tuple[State, Input], tuple[str, frozenset[State]]] = {
    (S.IDLE, In.START): ("_on_start", _RUN),
    (S.PLAYING, In.PROMPT_FINISHED): ("_on_played", _RUN),
    (S.PROMPTING, In.PROMPT_FINISHED): ("_on_prompted", frozenset({S.WAITING_INPUT})),
    (S.PROMPTING, In.DIGIT): ("_on_barge_in", _RUN),
    (S.WAITING_INPUT, In.DIGIT): ("_on_digit", _RUN),
    (S.WAITING_INPUT, In.TIMER): ("_on_input_timeout", _RUN),
    (S.WAITING_LOOKUP, In.LOOKUP_COMPLETED): ("_on_lookup_completed", _RUN),
    (S.WAITING_LOOKUP, In.LOOKUP_FAILED): ("_on_lookup_failed", _RUN),
    (S.WAITING_LOOKUP, In.TIMER): ("_on_lookup_timeout", _RUN),
    **{(state, In.HUNG_UP): ("_on_hung_up", _END)
       for state in (S.PLAYING, S.PROMPTING, S.WAITING_INPUT, S.WAITING_LOOKUP)},
}
_INPUTS: dict[type, Input] = {
    PromptFinished: In.PROMPT_FINISHED, DigitPressed: In.DIGIT,
    LookupCompleted: In.LOOKUP_COMPLETED, LookupFailed: In.LOOKUP_FAILED,
    CallerHungUp: In.HUNG_UP,
}


@dataclass(frozen=True, slots=True)
class _Then:
    """What a PLAYING session does when the prompt ends: go to a node, or hang up."""

    goto: str | None = None
    hangup: str = ""
    outcome: str = ""


class IvrSession:
    """One call's walk through one flow version (see the module docstring)."""

    def __init__(self, flow: Flow, version: int, call: CallFacts, now: float, *,
                 wall_offset: float = 0.0, api_base: str | None = None,
                 max_steps: int = MAX_STEPS) -> None:
        self.flow = flow
        self.version = version
        self.call = call
        self.created_at = now
        self._wall_offset = wall_offset
        self._api_base = api_base
        self._max_steps = max_steps
        self._vars: dict[str, str] = {"call_id": call.call_id, "caller": call.caller,
                                      "number": call.number}
        if call.tier:
            self._vars["tier"] = call.tier
        self._state = State.IDLE
        self._node = flow.start
        self._then = _Then()
        self._attempts = 0  # failed tries at the current menu or collect
        self._digits = ""  # a collect node's entry so far
        self._deadline: float | None = None
        self._seq = 0  # of the last PlayPrompt; only its PromptFinished counts
        self._steps = 0  # since the caller last pressed a digit
        self._secret: set[str] = set()  # collected with sensitive: true
        self._out: list[Command] = []
        self.outcome: str | None = None  # queued, transferred, voicemail, callback, hangup,
        # abandoned (the caller hung up in the IVR) or failed
        self.resolved_in_self_service = False
        self.survey: tuple[SurveyQuestion, ...] = ()

    # -- the runner's surface ------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def node(self) -> str:
        """The node the call is at (or ended at)."""
        return self._node

    @property
    def variables(self) -> Mapping[str, str]:
        return MappingProxyType(self._vars)

    @property
    def finished(self) -> bool:
        return self._state is State.FINISHED

    def start(self, now: float) -> list[Command]:
        if self._state is not State.IDLE:
            raise IvrError("the session has already started")
        return self._dispatch(In.START, None, now)

    def handle(self, event: IvrEvent, now: float) -> list[Command]:
        if self._state is State.IDLE:
            raise IvrError(f"{type(event).__name__} before start()")
        if type(event) not in _INPUTS:
            raise IvrError(f"{event!r} is not an IVR event")
        if isinstance(event, PromptFinished) and event.seq not in (None, self._seq):
            return []  # an earlier prompt of a queue, or one that was stopped
        return self._dispatch(_INPUTS[type(event)], event, now)

    def next_deadline(self) -> float | None:
        return self._deadline

    def on_timer(self, now: float) -> list[Command]:
        if self._deadline is None or now < self._deadline:
            return []  # early or stale: the deadline moved since the runner armed it
        self._deadline = None
        return self._dispatch(In.TIMER, None, now)

    # -- dispatch ------------------------------------------------------------------------

    def _dispatch(self, kind: Input, event: Any, now: float) -> list[Command]:
        entry = _TABLE.get((self._state, kind))
        if entry is None:
            log.debug("ivr %s: %s absorbed in state %s", self.call.call_id, kind.value,
                      self._state.value)
            return []
        name, allowed = entry
        self._out = []
        handler: Callable[[Any, float], None] = getattr(self, name)
        try:
            handler(event, now)
            if self._state not in allowed:
                raise IvrError(f"{kind.value} left the session in {self._state.value}")
        except _FlowBroken as exc:
            self._fail(str(exc))
        except Exception as exc:
            log.exception("ivr %s: error at node %s", self.call.call_id, self._node)
            self._fail(f"{type(exc).__name__}: {exc}")
        out, self._out = self._out, []
        return out

    def _fail(self, reason: str) -> None:
        if self._state is State.WAITING_LOOKUP:
            self._out.append(CancelLookup())
        self._out += [FlowFailed(self._node, reason), Hangup("ivr_error")]
        self._finish("failed")

    def _finish(self, outcome: str) -> None:
        self._state = State.FINISHED
        self._deadline = None
        self.outcome = outcome

    # -- handlers (named in _TABLE) ------------------------------------------------------

    def _on_start(self, _: None, now: float) -> None:
        self._run(self.flow.start, now)

    def _on_played(self, _: PromptFinished, now: float) -> None:
        then = self._then
        if then.goto is not None:
            self._run(then.goto, now)
        else:
            self._out.append(Hangup(then.hangup))
            self._finish(then.outcome)

    def _on_prompted(self, _: PromptFinished, now: float) -> None:
        node = self._current(MenuNode, CollectNode)
        self._wait_input(now + node.timeout)

    def _on_barge_in(self, event: DigitPressed, now: float) -> None:
        self._out.append(StopPrompt())
        self._on_digit(event, now)

    def _on_digit(self, event: DigitPressed, now: float) -> None:
        self._steps = 0
        self._deadline = None
        node = self._current(MenuNode, CollectNode)
        if isinstance(node, MenuNode):
            target = node.options.get(event.digit)
            if target is not None:
                self._step_event("menu_choice", event.digit)
                self._run(target, now)
            else:
                self._step_event("invalid_input", event.digit)
                self._retry(node, node.invalid, now)
            return
        if event.digit == node.terminator:
            self._collect_done(node, now)
            return
        self._digits += event.digit
        if len(self._digits) >= node.max:
            self._collect_done(node, now)
        else:
            self._wait_input(now + node.digit_timeout)

    def _on_input_timeout(self, _: None, now: float) -> None:
        node = self._current(MenuNode, CollectNode)
        if isinstance(node, CollectNode) and self._digits:
            self._collect_done(node, now)  # the caller stopped typing: take the entry
            return
        self._step_event("no_input", f"{node.timeout:g} s")
        self._retry(node, node.no_input, now)

    def _on_lookup_completed(self, event: LookupCompleted, now: float) -> None:
        node = self._current(LookupNode)
        self._deadline = None
        if not 200 <= event.status < 300 or not isinstance(event.body, dict | list):
            what = "body is not JSON" if 200 <= event.status < 300 else f"HTTP {event.status}"
            self._lookup_fallback(node, what, now)
            return
        self._step_event("lookup_ok", f"HTTP {event.status}")
        for name, path in node.assign.items():
            found, value = extract(event.body, parse_json_path(path))
            text = as_text(value) if found else None
            if text is not None:
                self._set(name, text)
        self._run(node.next, now)

    def _on_lookup_failed(self, event: LookupFailed, now: float) -> None:
        self._deadline = None
        self._lookup_fallback(self._current(LookupNode), event.reason, now)

    def _on_lookup_timeout(self, _: None, now: float) -> None:
        node = self._current(LookupNode)
        self._out.append(CancelLookup())
        self._lookup_fallback(node, f"no answer within {node.timeout:g} s", now)

    def _on_hung_up(self, _: CallerHungUp, now: float) -> None:
        if self._state is State.WAITING_LOOKUP:
            self._out.append(CancelLookup())
        self._step_event("caller_hung_up", self._state.value)
        self._finish("abandoned")

    # -- running nodes -------------------------------------------------------------------

    def _run(self, node_id: str, now: float) -> None:
        """Enter ``node_id`` and run on through nodes that need nothing from outside."""
        target: str | None = node_id
        while target is not None:
            self._count_step()
            node = self.flow.nodes[target]
            self._node, self._attempts, self._digits = target, 0, ""
            self._step_event(node.type, _describe(node))
            target = self._enter(node, now)

    def _enter(self, node: Any, now: float) -> str | None:
        """Start ``node``; the next node to run now, or None when waiting or finished."""
        if isinstance(node, PlayNode):
            self._play_then(node.prompt, _Then(goto=node.next))
        elif isinstance(node, MenuNode | CollectNode):
            self._prompt_for_input(node, None, now)
        elif isinstance(node, ConditionNode):
            return self._condition(node, now)
        elif isinstance(node, LookupNode):
            self._start_lookup(node, now)
        elif isinstance(node, SetNode):
            for name, template in node.variables.items():
                self._set(name, render(template, self._vars))
            return node.next
        elif isinstance(node, AnswerNode):
            self.resolved_in_self_service = True
            self._out.append(ResolvedInSelfService(self._node, node.topic))
            self._play_then(node.prompt, _Then(goto=node.next) if node.next else _Then(
                hangup="resolved_in_self_service", outcome="self_service"))
        elif isinstance(node, SurveyNode):
            self.survey = tuple(SurveyQuestion(m, self._prompt(p), *SURVEY_SCALES[m])
                                for m, p in node.questions.items())
            self._out.append(SurveyRequested(self._node, self.survey))
            return node.next
        elif isinstance(node, QueueNode):
            self._out.append(Enqueue(node.queue, node.priority, node.skills,
                                     self._vars.get(node.tier_variable) or None,
                                     self._shared_vars()))
            self._finish("queued")
        elif isinstance(node, TransferNode):
            self._out.append(Transfer(node.to))
            self._finish("transferred")
        elif isinstance(node, VoicemailNode):
            prompt = self._prompt(node.prompt) if node.prompt else None
            self._out.append(StartVoicemail(node.mailbox, prompt, node.max_seconds))
            self._finish("voicemail")
        elif isinstance(node, CallbackNode):
            number = render(node.number, self._vars).strip()
            if not number:
                raise _FlowBroken(f"callback number {node.number!r} is empty"
                                  " (an anonymous caller?)")
            self._out.append(RequestCallback(number, node.queue, self._shared_vars()))
            self._play_then(node.prompt, _Then(hangup="callback_requested",
                                               outcome="callback"))
        elif isinstance(node, HangupNode):
            self._play_then(node.prompt, _Then(hangup=node.reason, outcome="hangup"))
        else:  # pragma: no cover - the schema admits no other node
            raise IvrError(f"no handler for node type {type(node).__name__}")
        return None

    def _condition(self, node: ConditionNode, now: float) -> str:
        for i, branch in enumerate(node.branches):
            when = branch.when
            if isinstance(when, HoursWhen):
                holds = is_open(when.hours, now + self._wall_offset)
            elif isinstance(when, TierWhen):
                holds = self._vars.get("tier", "") in when.tier
            else:
                value = self._vars.get(when.variable, "")
                holds = (value == when.equals if when.equals is not None
                         else value in when.in_ if when.in_ is not None
                         else re.fullmatch(when.matches or "", value) is not None)
            if holds:
                self._step_event("branch", f"branches[{i}]")
                return branch.next
        self._step_event("branch", "else")
        return node.else_

    def _start_lookup(self, node: LookupNode, now: float) -> None:
        url = node.url
        if self._api_base is not None:
            url = url.replace("{api}", self._api_base.rstrip("/"))
        url = render(url, self._vars, quote=lambda v: quote(v, safe=""),
                     keep=frozenset({"api"}))
        self._out.append(StartLookup(url, node.method, node.timeout))
        self._state = State.WAITING_LOOKUP
        self._deadline = now + node.timeout

    def _lookup_fallback(self, node: LookupNode, reason: str, now: float) -> None:
        self._step_event("lookup_failed", reason)
        self._run(node.on_failure, now)

    def _prompt_for_input(self, node: MenuNode | CollectNode, first: Prompt | None,
                          now: float) -> None:
        prompts = [p for p in (first, node.prompt) if p is not None]
        for prompt in prompts:
            self._play(prompt, barge_in=True)
        if prompts:
            self._state = State.PROMPTING
        else:
            self._wait_input(now + node.timeout)

    def _retry(self, node: MenuNode | CollectNode, sorry: Prompt | None, now: float) -> None:
        self._attempts += 1
        self._digits = ""
        if self._attempts > node.retries:
            self._step_event("retries_exhausted", f"{self._attempts} failed tries")
            self._run(node.on_failure, now)
            return
        self._count_step()
        self._step_event("retry", f"try {self._attempts + 1} of {node.retries + 1}")
        self._prompt_for_input(node, sorry, now)

    def _collect_done(self, node: CollectNode, now: float) -> None:
        entry = self._digits
        if len(entry) >= node.min and (node.pattern is None
                                       or re.fullmatch(node.pattern, entry) is not None):
            self._step_event("collected", f"{len(entry)} digits")
            self._set(node.variable, entry, sensitive=node.sensitive)
            self._run(node.next, now)
        else:
            self._step_event("invalid_input", f"{len(entry)} digits")
            self._retry(node, node.invalid, now)

    # -- small helpers -------------------------------------------------------------------

    def _current(self, *kinds: type[Any]) -> Any:
        node = self.flow.nodes[self._node]
        if not isinstance(node, kinds):
            raise IvrError(f"node {self._node!r} is a {node.type}, not expected here")
        return node

    def _count_step(self) -> None:
        self._steps += 1
        if self._steps > self._max_steps:
            raise _FlowBroken(f"more than {self._max_steps} steps without caller input"
                              " (a loop in the flow?)")

    def _step_event(self, kind: str, detail: str = "") -> None:
        self._out.append(StepTaken(self._node, kind, detail))

    def _set(self, name: str, value: str, *, sensitive: bool = False) -> None:
        self._vars[name] = value
        if sensitive:
            self._secret.add(name)
        else:
            self._secret.discard(name)
        self._out.append(VariableSet(name, "***" if sensitive else value))

    def _shared_vars(self) -> dict[str, str]:
        """Variables handed beyond the IVR (router, agent desktop, callback list): all but
        sensitive ones, which only the flow itself (templates, lookups) may use."""
        return {k: v for k, v in self._vars.items() if k not in self._secret}

    def _prompt(self, prompt: Prompt) -> Prompt:
        """The prompt as the runner plays it: TTS text rendered with the call's variables
        and the flow's default voice, file paths under the flow's prompt_dir."""
        if prompt.tts is not None:
            return prompt.model_copy(update={"tts": render(prompt.tts, self._vars),
                                             "voice": prompt.voice or self.flow.voice})
        if self.flow.prompt_dir and prompt.file is not None:
            return prompt.model_copy(
                update={"file": posixpath.join(self.flow.prompt_dir, prompt.file)})
        return prompt

    def _play(self, prompt: Prompt, *, barge_in: bool) -> None:
        self._seq += 1
        self._out.append(PlayPrompt(self._prompt(prompt), barge_in, self._seq))

    def _play_then(self, prompt: Prompt | None, then: _Then) -> None:
        """Play a prompt the caller cannot interrupt, then ``then``; no prompt: at once."""
        if prompt is not None:
            self._play(prompt, barge_in=False)
            self._then = then
            self._state = State.PLAYING
        elif then.goto is not None:  # pragma: no cover - every node with goto has a prompt
            raise IvrError("a prompt-less continuation must hang up")
        else:
            self._out.append(Hangup(then.hangup))
            self._finish(then.outcome)

    def _wait_input(self, deadline: float) -> None:
        self._state = State.WAITING_INPUT
        self._deadline = deadline


def _describe(node: Any) -> str:
    """A short detail for the StepTaken of entering ``node`` (never a collected secret)."""
    if isinstance(node, QueueNode | CallbackNode):
        return node.queue
    if isinstance(node, TransferNode):
        return node.to
    if isinstance(node, VoicemailNode):
        return node.mailbox
    if isinstance(node, HangupNode):
        return node.reason
    if isinstance(node, AnswerNode):
        return node.topic or ""
    return ""
