"""The IVR flow format: one frozen pydantic model per node type, chosen by ``type:``.

A flow is plain data (YAML or JSON)::

    start: greeting
    nodes:
      greeting: {type: play, prompt: "Welcome to Example.", next: menu}
      menu: {type: menu, prompt: "Press 1 for sales.", options: {"1": sales}, on_failure: bye}
      sales: {type: queue, queue: sales}
      bye: {type: hangup}

Every model forbids unknown keys and checks what one field can check (a regex compiles, a
skill expression parses, a time zone exists, a URL is http(s)): a typo refuses to load with the
field's path instead of becoming a silent default. What needs the whole flow (targets exist,
every node reachable, no loop without an exit) or the node's configuration (queue names) is
checked by :mod:`switch.ivr.validate`, which is also the one entry point that turns plain data
into a :class:`Flow`. docs/ivr.md documents every field.

Each node states its outgoing edges (:meth:`edges`, with the field path of each, so problems
name the exact field) and whether it ends the IVR (``TERMINAL``) or waits for the caller
(``WAITS_FOR_CALLER``): the validator's graph rules and the engine both read these.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from routing.expressions import ExpressionError, parse

from .hours import HoursSpec
from .values import VARIABLE, parse_json_path

NODE_ID = r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$"
NodeId = Annotated[str, Field(pattern=NODE_ID)]
VarName = Annotated[str, Field(pattern=VARIABLE.pattern)]
DIGIT = r"^[0-9*#]$"
Digit = Annotated[str, Field(pattern=DIGIT)]
# The three experience measures contact centers report, with their answer scales.
SURVEY_SCALES: dict[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
_SIP_URI = re.compile(r"^sips?:[^\s@]+@[^\s@]+$|^sips?:[A-Za-z0-9.\-\[\]:]+$")
_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")
NAME = r"^[A-Za-z0-9_.\-]{1,64}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _scalar_text(value: Any) -> Any:
    """YAML reads ``equals: 1`` and ``equals: yes`` as int and bool; compare them as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


ScalarText = Annotated[str, BeforeValidator(_scalar_text)]


def _json_path(value: str) -> str:
    parse_json_path(value)
    return value


JsonPathText = Annotated[str, AfterValidator(_json_path)]


class Prompt(Strict):
    """What to play: ``{tts: "text"}`` (optionally with ``voice``) or ``{file: "x.wav"}``; a
    plain string is TTS. TTS text may hold ``{variable}`` placeholders. Files are relative to
    the flow's ``prompt_dir`` and may not climb out of it."""

    tts: str | None = Field(default=None, min_length=1, max_length=4000)
    file: str | None = Field(default=None, min_length=1, max_length=255)
    voice: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_+\-]{1,32}$")

    @model_validator(mode="after")
    def _one_source(self) -> Prompt:
        if (self.tts is None) == (self.file is None):
            raise ValueError("a prompt is either {tts: text} or {file: path}, exactly one")
        if self.file is not None:
            if self.voice is not None:
                raise ValueError("voice applies to tts prompts only")
            normal = posixpath.normpath(self.file)
            if self.file.startswith("/") or normal.startswith(".."):
                raise ValueError(f"prompt file {self.file!r} must be a relative path inside"
                                 " the prompt directory")
        return self


def _prompt(value: Any) -> Any:
    return {"tts": value} if isinstance(value, str) else value


PromptField = Annotated[Prompt, BeforeValidator(_prompt)]


def _digit_keys(value: Any) -> Any:
    # YAML reads ``options: {1: sales}`` with an int key.
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


class _Node(Strict):
    TERMINAL: ClassVar[bool] = False  # ends the IVR (hands the call on or hangs up)
    WAITS_FOR_CALLER: ClassVar[bool] = False  # a menu or collect: the caller decides
    description: str | None = Field(default=None, max_length=500)

    def edges(self) -> list[tuple[str, str]]:
        """(field path, target node) of every way out, in a stable order."""
        return []


class PlayNode(_Node):
    type: Literal["play"]
    prompt: PromptField
    next: NodeId

    def edges(self) -> list[tuple[str, str]]:
        return [("next", self.next)]


class MenuNode(_Node):
    """Plays ``prompt`` (digits barge in); a listed digit goes to its option. A wrong digit
    (then ``invalid`` plays) or ``timeout`` seconds of silence (then ``no_input`` plays) uses
    one of ``retries`` further tries; when they run out the call goes to ``on_failure``."""

    WAITS_FOR_CALLER: ClassVar[bool] = True
    type: Literal["menu"]
    prompt: PromptField
    options: Annotated[dict[Digit, NodeId], BeforeValidator(_digit_keys)] = Field(min_length=1)
    timeout: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=9)
    invalid: PromptField | None = None
    no_input: PromptField | None = None
    on_failure: NodeId

    def edges(self) -> list[tuple[str, str]]:
        return [(f"options.{d}", t) for d, t in self.options.items()] + [
            ("on_failure", self.on_failure)]


class CollectNode(_Node):
    """Collects ``min``..``max`` digits into ``variable``: ends on ``terminator``, on ``max``
    digits, or ``digit_timeout`` s after the last digit. ``timeout`` is the wait for the first
    digit. A short entry or one not matching ``pattern`` (whole entry) uses a retry
    (``invalid`` plays; ``no_input`` after silence), then ``on_failure``."""

    WAITS_FOR_CALLER: ClassVar[bool] = True
    type: Literal["collect"]
    prompt: PromptField | None = None
    variable: VarName
    min: int = Field(default=1, ge=1, le=32)
    max: int = Field(default=16, ge=1, le=32)
    terminator: Literal["#", "*"] | None = "#"
    pattern: str | None = Field(default=None, max_length=200)
    timeout: float = Field(default=5.0, gt=0, le=60)
    digit_timeout: float = Field(default=3.0, gt=0, le=30)
    retries: int = Field(default=2, ge=0, le=9)
    invalid: PromptField | None = None
    no_input: PromptField | None = None
    # Digits such as a PIN: the value is masked in events (VariableSet shows ***).
    sensitive: bool = False
    next: NodeId
    on_failure: NodeId

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern {value!r} does not compile: {exc}") from None
        return value

    @model_validator(mode="after")
    def _bounds(self) -> CollectNode:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    def edges(self) -> list[tuple[str, str]]:
        return [("next", self.next), ("on_failure", self.on_failure)]


class HoursWhen(Strict):
    hours: HoursSpec


class TierWhen(Strict):
    """The caller's ``tier`` variable (from the call or a lookup) is one of these."""

    tier: Annotated[list[str], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)] = (
        Field(min_length=1))


class VariableWhen(Strict):
    """``variable`` equals a value, is ``in`` a list, or ``matches`` a regex (whole value).
    A variable that is not set is the empty string."""

    variable: VarName
    equals: ScalarText | None = None
    in_: list[ScalarText] | None = Field(default=None, alias="in")
    matches: str | None = None

    @field_validator("matches")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern {value!r} does not compile: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_test(self) -> VariableWhen:
        if sum(x is not None for x in (self.equals, self.in_, self.matches)) != 1:
            raise ValueError("give exactly one of equals, in or matches")
        return self


def _when_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((f"when:{k}" for k in ("hours", "tier", "variable") if k in value), None)
    kinds: dict[type[BaseModel], str] = {
        HoursWhen: "when:hours", TierWhen: "when:tier", VariableWhen: "when:variable"}
    return kinds.get(type(value))


When = Annotated[
    Annotated[HoursWhen, Tag("when:hours")] | Annotated[TierWhen, Tag("when:tier")]
    | Annotated[VariableWhen, Tag("when:variable")],
    Discriminator(_when_kind, custom_error_type="when_kind",
                  custom_error_message="a condition is {hours: ...}, {tier: ...} or"
                                       " {variable: ..., equals|in|matches: ...}"),
]


class Branch(Strict):
    when: When
    next: NodeId


class ConditionNode(_Node):
    """The first branch whose ``when`` holds decides; none holds: ``else``."""

    type: Literal["condition"]
    branches: list[Branch] = Field(min_length=1)
    else_: NodeId = Field(alias="else")

    def edges(self) -> list[tuple[str, str]]:
        return [(f"branches[{i}].next", b.next) for i, b in enumerate(self.branches)] + [
            ("else", self.else_)]


class LookupNode(_Node):
    """Asks a customer system about the caller: ``url`` (``{caller}``, any ``{variable}``,
    and ``{api}`` = the node's own HTTP base) answers JSON; ``set`` copies fields into
    variables. A transport error, a non-2xx status, a body that is not JSON or ``timeout``
    seconds without an answer take ``on_failure``, the fallback branch."""

    type: Literal["lookup"]
    url: str = Field(min_length=1, max_length=2000)
    method: Literal["GET", "POST"] = "GET"
    timeout: float = Field(default=2.0, gt=0, le=10)
    assign: dict[VarName, JsonPathText] = Field(default_factory=dict, alias="set")
    next: NodeId
    on_failure: NodeId

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "{api}")):
            raise ValueError(f"url {value!r} must start with http://, https:// or {{api}}")
        return value

    def edges(self) -> list[tuple[str, str]]:
        return [("next", self.next), ("on_failure", self.on_failure)]


class SetNode(_Node):
    """Sets variables to templates (``{caller}``, literal text...)."""

    type: Literal["set"]
    variables: dict[VarName, ScalarText] = Field(min_length=1)
    next: NodeId

    def edges(self) -> list[tuple[str, str]]:
        return [("next", self.next)]


class AnswerNode(_Node):
    """A self-service answer: plays ``prompt`` and marks the call resolved in self-service
    (``topic`` names the answer for reports); then ``next``, or hangs up when none."""

    type: Literal["answer"]
    prompt: PromptField
    topic: str | None = Field(default=None, pattern=NAME)
    next: NodeId | None = None

    def edges(self) -> list[tuple[str, str]]:
        return [("next", self.next)] if self.next is not None else []


class QueueNode(_Node):
    """Hands the call to the router: ``queue`` with ``priority``, an optional ``skills``
    expression the agent must also meet, and the customer tier read from ``tier_variable``."""

    TERMINAL: ClassVar[bool] = True
    type: Literal["queue"]
    queue: str = Field(pattern=NAME)
    priority: int = Field(default=0, ge=0, le=1000)
    skills: str | None = None
    tier_variable: VarName = "tier"

    @field_validator("skills")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse(value)
            except ExpressionError as exc:
                raise ValueError(str(exc)) from None
        return value


class TransferNode(_Node):
    TERMINAL: ClassVar[bool] = True
    type: Literal["transfer"]
    to: str

    @field_validator("to")
    @classmethod
    def _target(cls, value: str) -> str:
        if not (_SIP_URI.match(value) or _NUMBER.match(value)):
            raise ValueError(f"transfer target {value!r} is neither a sip:/sips: URI nor a"
                             " number like +441234567890")
        return value


class VoicemailNode(_Node):
    TERMINAL: ClassVar[bool] = True
    type: Literal["voicemail"]
    mailbox: str = Field(pattern=NAME)
    prompt: PromptField | None = None
    max_seconds: int = Field(default=120, ge=5, le=600)


class CallbackNode(_Node):
    """Records a callback request for ``queue`` to ``number`` (a template; the caller by
    default), plays ``prompt`` (a confirmation) and hangs up."""

    TERMINAL: ClassVar[bool] = True
    type: Literal["callback"]
    queue: str = Field(pattern=NAME)
    number: str = Field(default="{caller}", min_length=1, max_length=200)
    prompt: PromptField | None = None


class SurveyNode(_Node):
    """Marks the call as wanting a post-call survey, asked once the agent hangs up: each of
    ``questions`` (csat 1-5, nps 0-10, ces 1-7) with its prompt, in the order given."""

    type: Literal["survey"]
    questions: dict[Literal["csat", "nps", "ces"], PromptField] = Field(min_length=1)
    next: NodeId

    def edges(self) -> list[tuple[str, str]]:
        return [("next", self.next)]


class HangupNode(_Node):
    TERMINAL: ClassVar[bool] = True
    type: Literal["hangup"]
    reason: str = Field(default="normal", pattern=NAME)
    prompt: PromptField | None = None


Node = Annotated[
    PlayNode | MenuNode | CollectNode | ConditionNode | LookupNode | SetNode | AnswerNode
    | QueueNode | TransferNode | VoicemailNode | CallbackNode | SurveyNode | HangupNode,
    Field(discriminator="type"),
]
NODE_MODELS: dict[str, type[_Node]] = {
    "play": PlayNode, "menu": MenuNode, "collect": CollectNode, "condition": ConditionNode,
    "lookup": LookupNode, "set": SetNode, "answer": AnswerNode, "queue": QueueNode,
    "transfer": TransferNode, "voicemail": VoicemailNode, "callback": CallbackNode,
    "survey": SurveyNode, "hangup": HangupNode,
}


def is_terminal(node: _Node) -> bool:
    """The IVR ends at this node (an answer without ``next`` hangs up after its prompt)."""
    return node.TERMINAL or (isinstance(node, AnswerNode) and node.next is None)


class Flow(Strict):
    """A whole flow: ``start`` names the first node; ``voice`` is the default TTS voice and
    ``prompt_dir`` the directory that ``file`` prompts are relative to."""

    start: NodeId
    nodes: dict[Annotated[str, Field(pattern=NODE_ID)], Node] = Field(min_length=1)
    description: str | None = Field(default=None, max_length=2000)
    voice: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_+\-]{1,32}$")
    prompt_dir: str | None = Field(default=None, max_length=500)
