"""The post-call survey: asked once the agent hangs up, when the flow passed a survey node.

Each question (CSAT 1-5, NPS 0-10, CES 1-7) is played, then the caller's keys are read: one
key, or two for NPS's 10 (``1`` then ``0``), ended by ``#`` or by a pause of ``PAUSE``
seconds; an answer outside the scale is asked again once; no answer moves on. Every answer is
a :class:`SurveyAnswered` event (the KPI engine's CSAT/NPS/CES); then a thank-you and the node
hangs up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .commands import SurveyQuestion
from .schema import Prompt

log = logging.getLogger(__name__)

PAUSE = 3.0  # seconds after the last key before an answer counts
WAIT = 8.0  # seconds for the first key
THANKS = "Thank you for your feedback. Goodbye."


@dataclass(frozen=True, slots=True)
class SurveyAnswered:
    call_id: str
    measure: str  # csat | nps | ces
    score: int


class PostCallSurvey:
    def __init__(self, call_id: str, questions: tuple[SurveyQuestion, ...], *,
                 say: Callable[[Prompt | str], Awaitable[float]],
                 publish: Callable[[object], None]) -> None:
        """``say`` plays a prompt (or a text, by TTS) to the caller: the seconds it lasts."""
        self.call_id = call_id
        self.questions = questions
        self.say = say
        self.publish = publish
        self.keys: asyncio.Queue[str] = asyncio.Queue()

    def digit(self, digit: str) -> None:
        self.keys.put_nowait(digit)

    async def run(self) -> None:
        for question in self.questions:
            for _ in range(2):  # a second chance after an answer outside the scale
                score = await self._ask(question)
                if score is None:
                    break
                if question.low <= score <= question.high:
                    self.publish(SurveyAnswered(self.call_id, question.measure, score))
                    break
        await asyncio.sleep(await self.say(THANKS))

    async def _ask(self, question: SurveyQuestion) -> int | None:
        while not self.keys.empty():  # keys pressed before the question do not count
            self.keys.get_nowait()
        await self.say(question.prompt)
        typed = ""
        timeout = WAIT + PAUSE
        while len(typed) < 2:
            try:
                key = await asyncio.wait_for(self.keys.get(), timeout)
            except TimeoutError:
                break
            if key == "#":
                break
            if key.isdigit():
                typed += key
                timeout = PAUSE
        return int(typed) if typed else None

