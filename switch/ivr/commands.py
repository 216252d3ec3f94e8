"""What goes into an IVR session and what comes out: frozen dataclasses, nothing else.

Inputs are *events* the runner saw on the call, named in the past tense (a prompt finished,
a digit was pressed, a lookup completed, the caller hung up). Timers are not events: the
runner calls :meth:`IvrSession.on_timer` at :meth:`IvrSession.next_deadline`.

Outputs come in two families, in one ordered list:

- :class:`Action`: something the runner must do on media or SIP (play, stop, look up,
  enqueue, transfer, record voicemail, file a callback, hang up).
- :class:`Notice`: something that happened, for the event bus and the metrics layer
  (every step, every variable set, self-service resolution, survey wanted, flow failure).
  The runner publishes these and does nothing else with them.

Keeping both in one list keeps their order: a ``StepTaken`` always precedes the action the
step caused, which is what a call timeline on a wallboard needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .schema import Prompt

DTMF = frozenset("0123456789*#ABCD")


# -- events in ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PromptFinished:
    """The prompt played to its end. ``seq`` is the ``PlayPrompt.seq`` it answers; the
    session acts on the last prompt it asked for only, so a late report of an earlier
    (stopped or queued) prompt is ignored. None means "the last one"."""

    seq: int | None = None


@dataclass(frozen=True, slots=True)
class DigitPressed:
    digit: str  # one DTMF key: 0-9 * # A-D (RFC 4733 events 0-15)

    def __post_init__(self) -> None:
        if self.digit not in DTMF:
            raise ValueError(f"{self.digit!r} is not a DTMF digit")


@dataclass(frozen=True, slots=True)
class LookupCompleted:
    """The customer system answered: HTTP ``status`` and the decoded JSON ``body`` (None
    when the body was not JSON). A non-2xx status takes the lookup's fallback branch."""

    status: int
    body: Any = None


@dataclass(frozen=True, slots=True)
class LookupFailed:
    reason: str  # connection refused, timed out, TLS error...


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    pass


IvrEvent = PromptFinished | DigitPressed | LookupCompleted | LookupFailed | CallerHungUp


# -- outputs ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Action:
    """Base of what the runner executes."""


@dataclass(frozen=True, slots=True)
class Notice:
    """Base of what the runner only publishes (events for metrics)."""


@dataclass(frozen=True, slots=True)
class PlayPrompt(Action):
    """Play ``prompt`` (TTS text already rendered, file path already under prompt_dir). With
    ``barge_in`` a digit stops it. Prompts queue: report PromptFinished for each, or only for
    the last; the session waits for ``seq`` of the last one it asked for."""

    prompt: Prompt
    barge_in: bool
    seq: int


@dataclass(frozen=True, slots=True)
class StopPrompt(Action):
    """Stop the prompt playing and drop queued ones (a digit barged in)."""


@dataclass(frozen=True, slots=True)
class StartLookup(Action):
    """HTTP request; answer LookupCompleted or LookupFailed. The session also times it out
    itself at ``timeout`` s, so a runner that never answers cannot hold the call."""

    url: str
    method: str
    timeout: float


@dataclass(frozen=True, slots=True)
class CancelLookup(Action):
    """The session gave up on the lookup (timeout, hang-up): drop the request and its answer."""


@dataclass(frozen=True, slots=True)
class Enqueue(Action):
    queue: str
    priority: int
    skills: str | None
    tier: str | None
    variables: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Transfer(Action):
    target: str  # sip:/sips: URI or a number


@dataclass(frozen=True, slots=True)
class StartVoicemail(Action):
    """Play ``prompt`` (if any), a beep, then record at most ``max_seconds``."""

    mailbox: str
    prompt: Prompt | None
    max_seconds: int


@dataclass(frozen=True, slots=True)
class RequestCallback(Action):
    number: str
    queue: str
    variables: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Hangup(Action):
    reason: str


@dataclass(frozen=True, slots=True)
class StepTaken(Notice):
    """Every step: ``kind`` is a node type on entering a node (``menu``, ``lookup``...) or
    what happened inside one (``menu_choice``, ``no_input``, ``lookup_failed``...)."""

    node: str
    kind: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class VariableSet(Notice):
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class ResolvedInSelfService(Notice):
    node: str
    topic: str | None


@dataclass(frozen=True, slots=True)
class SurveyQuestion:
    measure: str  # csat | nps | ces
    prompt: Prompt
    low: int  # the answer scale, e.g. 1..5 for CSAT
    high: int


@dataclass(frozen=True, slots=True)
class SurveyRequested(Notice):
    """Ask these after the agent hangs up (the runner keeps the caller on the line)."""

    node: str
    questions: tuple[SurveyQuestion, ...]


@dataclass(frozen=True, slots=True)
class FlowFailed(Notice):
    """The flow could not go on at ``node`` (a bug in the flow or the engine); a Hangup
    follows. The step bound reports here too."""

    node: str
    reason: str


Command = Action | Notice
