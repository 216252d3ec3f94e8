"""The skill expression language: small, safe, parsed once (never ``eval``).

Grammar (hand-written tokenizer and recursive-descent parser)::

    expr     := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | atom
    atom     := "(" expr ")" | SKILL [OP LEVEL]
    OP       := ">=" | "<=" | "!=" | "==" | "=" | "<" | ">"
    SKILL    := [A-Za-z_][A-Za-z0-9_.-]*        (not a keyword)
    LEVEL    := 0..10

A bare ``SKILL`` means "has the skill at any level". An agent lacking a skill has level 0 for
comparisons, so ``billing < 5`` holds for an agent without billing. Widening relaxes the
thresholds of ``>=`` and ``>`` by ``relax`` levels, never below "has the skill", and only
outside a ``not`` (so widening can only ever add agents: eligibility grows with time).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAX_LEVEL = 10
KEYWORDS = frozenset({"and", "or", "not"})
OPS = (">=", "<=", "!=", "==", "=", "<", ">")
_TOKEN = re.compile(r"\s*(?:(\()|(\))|(>=|<=|!=|==|=|<|>)|(\d+)|([A-Za-z_][A-Za-z0-9_.\-]*))")


class ExpressionError(ValueError):
    """The expression does not parse; ``position`` is the 0-based column of the problem."""

    def __init__(self, message: str, text: str, position: int) -> None:
        super().__init__(f"{message} at column {position + 1} in {text!r}")
        self.position = position


@dataclass(frozen=True, slots=True)
class Has:
    skill: str


@dataclass(frozen=True, slots=True)
class Compare:
    skill: str
    op: str  # one of OPS, "==" normalised to "="
    level: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Expr, ...]


Expr = Has | Compare | Not | And | Or


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    """Split into (kind, value, column); kinds: ( ) op num name kw end."""
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            col = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ExpressionError(f"unexpected character {text[col]!r}", text, col)
        col = match.start(match.lastindex or 0)
        lparen, rparen, op, num, name = match.groups()
        if lparen:
            tokens.append(("(", "(", col))
        elif rparen:
            tokens.append((")", ")", col))
        elif op:
            tokens.append(("op", "=" if op == "==" else op, col))
        elif num:
            tokens.append(("num", num, col))
        else:
            assert name is not None
            tokens.append(("kw" if name in KEYWORDS else "name", name, col))
        pos = match.end()
    tokens.append(("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, message: str) -> ExpressionError:
        return ExpressionError(message, self.text, self.peek()[2])

    def parse(self) -> Expr:
        if self.peek()[0] == "end":
            raise self.fail("empty expression")
        expr = self.expr()
        if self.peek()[0] != "end":
            raise self.fail(f"unexpected {self.peek()[1]!r}")
        return expr

    def expr(self) -> Expr:
        operands = [self.and_expr()]
        while self.peek()[:2] == ("kw", "or"):
            self.take()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Expr:
        operands = [self.not_expr()]
        while self.peek()[:2] == ("kw", "and"):
            self.take()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> Expr:
        if self.peek()[:2] == ("kw", "not"):
            self.take()
            return Not(self.not_expr())
        return self.atom()

    def atom(self) -> Expr:
        kind, value, _ = self.peek()
        if kind == "(":
            self.take()
            inner = self.expr()
            if self.peek()[0] != ")":
                raise self.fail("expected ')'")
            self.take()
            return inner
        if kind != "name":
            raise self.fail("expected a skill name or '('" if kind != "end"
                            else "expression ends where a skill name was expected")
        self.take()
        if self.peek()[0] != "op":
            return Has(value)
        op = self.take()[1]
        if self.peek()[0] != "num":
            raise self.fail(f"expected a level 0..{MAX_LEVEL} after {op!r}")
        level = int(self.peek()[1])
        if level > MAX_LEVEL:
            raise self.fail(f"level {level} out of range 0..{MAX_LEVEL}")
        self.take()
        return Compare(value, op, level)


def parse(text: str) -> Expr:
    """Parse ``text`` into an expression tree, or raise :class:`ExpressionError`."""
    return _Parser(text).parse()


def skills_of(expr: Expr) -> list[str]:
    """Skill names in order of first appearance."""
    seen: dict[str, None] = {}

    def walk(node: Expr) -> None:
        if isinstance(node, Has | Compare):
            seen.setdefault(node.skill, None)
        elif isinstance(node, Not):
            walk(node.operand)
        else:
            for child in node.operands:
                walk(child)

    walk(expr)
    return list(seen)


def check_skills(expr: Expr, known: Iterable[str]) -> list[str]:
    """Skill names used by ``expr`` that are not in ``known``."""
    names = set(known)
    return [s for s in skills_of(expr) if s not in names]


def threshold(op: str, level: int, relax: int) -> int:
    """The effective level of a comparison after widening by ``relax`` levels."""
    if op == ">=":
        return max(1, level - relax) if level > 0 else level
    if op == ">":
        return max(0, level - relax)
    return level


def compare(have: int, op: str, level: int) -> bool:
    if op == ">=":
        return have >= level
    if op == ">":
        return have > level
    if op == "<=":
        return have <= level
    if op == "<":
        return have < level
    if op == "=":
        return have == level
    return have != level


def evaluate(expr: Expr, skills: Mapping[str, int], relax: int = 0) -> bool:
    """Does an agent with ``skills`` (name -> level) satisfy ``expr`` widened by ``relax``?"""
    if isinstance(expr, Has):
        return skills.get(expr.skill, 0) > 0
    if isinstance(expr, Compare):
        return compare(skills.get(expr.skill, 0), expr.op, threshold(expr.op, expr.level, relax))
    if isinstance(expr, Not):
        return not evaluate(expr.operand, skills, 0)  # widening never reaches under a `not`
    if isinstance(expr, And):
        return all(evaluate(e, skills, relax) for e in expr.operands)
    return any(evaluate(e, skills, relax) for e in expr.operands)


def unparse(expr: Expr) -> str:
    """Canonical text (fully parenthesised where needed); ``parse(unparse(e)) == e``."""
    if isinstance(expr, Has):
        return expr.skill
    if isinstance(expr, Compare):
        return f"{expr.skill} {expr.op} {expr.level}"
    if isinstance(expr, Not):
        return f"not {_wrap(expr.operand)}"
    joiner = " and " if isinstance(expr, And) else " or "
    return joiner.join(_wrap(e) for e in expr.operands)


def _wrap(expr: Expr) -> str:
    return f"({unparse(expr)})" if isinstance(expr, And | Or) else unparse(expr)


def weights(expr: Expr) -> list[str]:
    """Skills that count for best-skill-match scoring: every skill the expression names."""
    return skills_of(expr)
