"""A fake-clock caller for IVR sessions: presses keys, lets prompts end, lets time pass."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from switch.ivr.commands import (
    Action,
    Command,
    DigitPressed,
    IvrEvent,
    Notice,
    PlayPrompt,
    PromptFinished,
    StepTaken,
)
from switch.ivr.engine import CallFacts, IvrSession, State
from switch.ivr.schema import Flow
from switch.ivr.validate import load_flow

T = TypeVar("T")


def local(text: str, zone: str = "Europe/London") -> float:
    """``"2026-03-02 10:00"`` in ``zone`` as UTC epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def utc(text: str) -> float:
    return local(text, "UTC")


# A Monday morning in London: the demo is open.
MONDAY_10 = local("2026-03-02 10:00")


def flow_of(nodes: dict[str, Any], start: str | None = None, **extra: Any) -> Flow:
    data = {"start": start or next(iter(nodes)), "nodes": nodes, **extra}
    return load_flow("test", data)


class Caller:
    """Drives one session like a runner would, recording everything it returned."""

    def __init__(self, flow: Flow, *, now: float = MONDAY_10, caller: str = "+441632960001",
                 number: str = "100", tier: str | None = None, **options: Any) -> None:
        self.now = now
        self.session = IvrSession(flow, 1, CallFacts("call-1", caller, number, tier), now,
                                  **options)
        self.out: list[Command] = []

    def _take(self, commands: list[Command]) -> list[Command]:
        self.out += commands
        return commands

    def start(self) -> list[Command]:
        return self._take(self.session.start(self.now))

    def send(self, event: IvrEvent) -> list[Command]:
        return self._take(self.session.handle(event, self.now))

    def last_play(self) -> PlayPrompt:
        return [c for c in self.out if isinstance(c, PlayPrompt)][-1]

    def prompt_ends(self) -> list[Command]:
        """The last prompt asked for plays to its end."""
        return self.send(PromptFinished(self.last_play().seq))

    def listen(self) -> list[Command]:
        """Prompts play out until the session waits for something else."""
        out: list[Command] = []
        while self.session.state in (State.PLAYING, State.PROMPTING):
            out += self.prompt_ends()
        return out

    def press(self, digits: str) -> list[Command]:
        out: list[Command] = []
        for digit in digits:
            out += self.send(DigitPressed(digit))
        return out

    def wait(self, seconds: float) -> list[Command]:
        """Let ``seconds`` pass, firing every deadline on the way (as the runner would)."""
        target = self.now + seconds
        out: list[Command] = []
        while (deadline := self.session.next_deadline()) is not None and deadline <= target:
            self.now = deadline
            out += self._take(self.session.on_timer(deadline))
        self.now = target
        return out

    # -- reading what came out ---------------------------------------------------------------

    def of(self, kind: type[T]) -> list[T]:
        return [c for c in self.out if isinstance(c, kind)]

    def actions(self) -> list[Action]:
        return self.of(Action)

    def notices(self) -> list[Notice]:
        return self.of(Notice)

    def steps(self) -> list[tuple[str, str]]:
        return [(s.node, s.kind) for s in self.of(StepTaken)]

    def visited(self) -> list[str]:
        """Nodes entered, in order (a StepTaken whose kind is the node's type)."""
        nodes = self.session.flow.nodes
        return [s.node for s in self.of(StepTaken) if nodes[s.node].type == s.kind]

    def texts(self) -> list[str]:
        return [p.prompt.tts or p.prompt.file or "" for p in self.of(PlayPrompt)]
