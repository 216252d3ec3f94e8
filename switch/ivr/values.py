"""Flow variables: names, ``{name}`` templates and the JSON-path subset of lookups. Pure.

A call's variables are a flat ``str -> str`` mapping (the caller's number, the dialled number,
what a lookup found, what a ``set`` node wrote). Strings only, on purpose: they end up in TTS
text, URLs, events and the router's enqueue, and a flat string map crosses every one of those
boundaries unchanged.

Templates substitute ``{name}`` with the variable's value, and a variable that is not set
renders as the empty string: a prompt must still play when a lookup found no name. Braces
that do not hold an identifier (``{ }``, ``{1}``) are left as written.

The JSON path subset is what a customer system's answer needs and no more:
``[$.]segment(.segment | [index])*`` such as ``customer.tier``, ``$.tickets[0].id``. No
wildcards, filters or recursion, so a path selects at most one value and cannot be slow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

# Variable names: identifiers, so they work as ``{name}`` placeholders.
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SEGMENT = re.compile(r"[A-Za-z0-9_\-]+")
_INDEX = re.compile(r"\[(\d{1,6})\]")

JsonPath = tuple[str | int, ...]


def placeholders(text: str) -> list[str]:
    """Variable names a template uses, in order of appearance."""
    return _PLACEHOLDER.findall(text)


def render(text: str, variables: Mapping[str, str], *,
           quote: Callable[[str], str] | None = None,
           keep: frozenset[str] = frozenset()) -> str:
    """Substitute ``{name}`` placeholders; ``quote`` escapes each value (URLs), names in
    ``keep`` stay literal (``{api}``, filled by the runner when the engine is not told)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in keep:
            return match.group(0)
        value = variables.get(name, "")
        return quote(value) if quote is not None else value

    return _PLACEHOLDER.sub(one, text)


def parse_json_path(text: str) -> JsonPath:
    """``customer.tier`` -> ("customer", "tier"); ``$.a[0].b`` -> ("a", 0, "b").

    Raises ValueError naming the column of the first character it cannot read."""
    pos = 0
    if text.startswith("$"):
        pos = 1
        if text.startswith("$."):
            pos = 2
    parts: list[str | int] = []
    expect_segment = True
    while pos < len(text):
        if expect_segment:
            match = _SEGMENT.match(text, pos)
            if match is None:
                raise ValueError(f"JSON path {text!r}: expected a key at column {pos + 1}")
            parts.append(match.group(0))
            pos = match.end()
            expect_segment = False
            continue
        index = _INDEX.match(text, pos)
        if index is not None:
            parts.append(int(index.group(1)))
            pos = index.end()
        elif text[pos] == "." and pos + 1 < len(text):
            pos += 1
            expect_segment = True
        else:
            raise ValueError(f"JSON path {text!r}: unexpected {text[pos]!r} at column {pos + 1}"
                             " (use key.key and [index])")
    if not parts:
        raise ValueError(f"JSON path {text!r} selects nothing")
    return tuple(parts)


def extract(body: Any, path: JsonPath) -> tuple[bool, Any]:
    """Follow ``path`` into decoded JSON: (True, value), or (False, None) when any step is
    missing or of the wrong kind (a lookup answer without the field is not an error)."""
    value = body
    for part in path:
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return False, None
            value = value[part]
        else:
            if not isinstance(value, dict) or part not in value:
                return False, None
            value = value[part]
    return True, value


def as_text(value: Any) -> str | None:
    """A JSON value as a variable's text: booleans as ``true``/``false`` (as YAML and JSON
    write them, so ``equals: true`` compares equal), numbers as written, objects and arrays
    as compact JSON; ``null`` means "not set" (None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
