"""The skill expression language: parse, evaluate, widen, reject bad input (never eval)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.expressions import (
    And,
    Compare,
    ExpressionError,
    Has,
    Not,
    Or,
    check_skills,
    evaluate,
    parse,
    unparse,
)


def test_precedence_not_and_or() -> None:
    assert parse("billing >= 5 and (mandarin or cantonese)") == And((
        Compare("billing", ">=", 5), Or((Has("mandarin"), Has("cantonese")))))
    assert parse("a or b and not c") == Or((Has("a"), And((Has("b"), Not(Has("c"))))))
    assert parse("x == 3") == Compare("x", "=", 3)


@pytest.mark.parametrize(("text", "skills", "expected"), [
    ("billing", {"billing": 1}, True),
    ("billing", {}, False),
    ("billing >= 5 and (mandarin or cantonese)", {"billing": 5, "cantonese": 2}, True),
    ("billing >= 5 and (mandarin or cantonese)", {"billing": 4, "cantonese": 2}, False),
    ("billing < 5", {}, True),  # a missing skill is level 0
    ("billing != 3", {"billing": 3}, False),
    ("not sales", {"sales": 2}, False),
    ("x > 2 and x <= 4", {"x": 4}, True),
])
def test_evaluate(text: str, skills: dict[str, int], expected: bool) -> None:
    assert evaluate(parse(text), skills) is expected


def test_widening_relaxes_only_positive_thresholds() -> None:
    expr = parse("billing >= 8")
    assert not evaluate(expr, {"billing": 6}, relax=1)
    assert evaluate(expr, {"billing": 6}, relax=2)
    assert not evaluate(expr, {}, relax=10)  # never below "has the skill"
    assert evaluate(parse("not billing >= 8"), {"billing": 6}, relax=2)  # not under a not


@pytest.mark.parametrize(("text", "column"), [
    ("", 1), ("billing >=", 11), ("a and", 6), ("(a", 3), ("a b", 3), ("a >= 11", 6),
    ("a $ b", 3), ("__import__('os')", 12), ("and", 1),
])
def test_bad_expressions_point_at_the_problem(text: str, column: int) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert f"column {column}" in str(info.value)


def test_unknown_skills_are_listed() -> None:
    assert check_skills(parse("a and (b or c)"), ["a", "c"]) == ["b"]


names = st.sampled_from(["a", "b", "c"])
leaf = st.one_of(st.builds(Has, names),
                 st.builds(Compare, names, st.sampled_from([">=", ">", "<=", "<", "=", "!="]),
                           st.integers(0, 10)))
exprs = st.recursive(leaf, lambda kids: st.one_of(
    st.builds(Not, kids), st.builds(And, st.lists(kids, min_size=2, max_size=3).map(tuple)),
    st.builds(Or, st.lists(kids, min_size=2, max_size=3).map(tuple))), max_leaves=8)


@given(exprs, st.dictionaries(names, st.integers(1, 10)), st.integers(0, 3))
def test_unparse_round_trips_and_relax_is_monotone(expr: object, skills: dict[str, int],
                                                   relax: int) -> None:
    again = parse(unparse(expr))  # type: ignore[arg-type]
    assert evaluate(again, skills) == evaluate(expr, skills)  # type: ignore[arg-type]
    if evaluate(expr, skills, relax):  # type: ignore[arg-type]
        assert evaluate(expr, skills, relax + 1)  # type: ignore[arg-type]
