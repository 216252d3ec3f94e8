"""Turning plain data into a :class:`Flow`, refusing bad flows with the path of the problem.

Every problem is one line that starts with the flow's path in the node configuration, so the
node's config loader only has to prefix the file name::

    ivr.main.nodes.menu1.options.3: target 'sales_q' does not exist (did you mean 'sales'?)
    ivr.main.nodes.orphan: unreachable from start 'greeting'
    ivr.main.nodes.loop_a: loop with no exit (loop_a -> loop_b -> loop_a)

Checks, in order (later ones need the earlier ones to pass):

1. **Schema** (:mod:`switch.ivr.schema`): types, unknown keys, regexes compile, skill
   expressions parse, time zones exist, holiday dates parse, URLs are http(s).
2. **Targets**: ``start`` and every ``next``/option/branch/``on_failure`` name a node.
3. **Reachability**: every node can be reached from ``start`` (a node nobody can reach is a
   mistake: usually a misspelt target elsewhere).
4. **Loops**, two rules over the nodes reachable from start:

   - *Loop with no exit*: every node must be able to reach a terminal node (queue, transfer,
     voicemail, callback, hangup, or an answer without ``next``). Nodes that cannot are
     stuck; each cycle among them is reported once, at its first node in the file, with the
     cycle. A menu whose invalid-digit and timeout retries end in ``on_failure`` is never
     stuck by itself: its exits count. A missing target counts as an exit here, since it is
     already reported in step 2.
   - *Loop without caller input*: every cycle must pass through a menu or collect node.
     Play, condition, set, lookup and survey nodes run without the caller doing anything,
     so a cycle of only those would repeat (a lookup retrying a dead service, a condition
     re-tested for ever) until the engine's step bound hangs up. A cycle through a menu is
     fine: each turn waits for the caller, and the menu's retries are bounded.

5. **References** to the node's configuration, when given: queue names (``queue`` and
   ``callback`` nodes), skills used in ``skills`` expressions, customer tiers in conditions.
"""

from __future__ import annotations

import difflib
import typing
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from routing.expressions import check_skills, parse

from .schema import (
    DIGIT,
    NAME,
    NODE_ID,
    NODE_MODELS,
    CallbackNode,
    ConditionNode,
    Flow,
    HoursWhen,
    QueueNode,
    TierWhen,
    VariableWhen,
    is_terminal,
)
from .values import VARIABLE

_WHEN_MODELS: dict[str, type[BaseModel]] = {
    "when:hours": HoursWhen, "when:tier": TierWhen, "when:variable": VariableWhen}


# What the schema's name patterns mean, for errors a person can act on.
_PATTERN_HELP = {
    NODE_ID: "a node id (letters, digits, _ and -, starting with a letter or _)",
    VARIABLE.pattern: "a variable name (letters, digits and _, not starting with a digit)",
    DIGIT: "a menu key (one of 0-9, * and #)",
    NAME: "a name (letters, digits, _ . and -)",
}


class FlowError(ValueError):
    """A flow cannot be used; ``lines`` holds one ``ivr.NAME.path: problem`` per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def flow_problems(name: str, data: Any, *, known_queues: set[str] | None = None,
                  known_skills: set[str] | None = None,
                  known_tiers: set[str] | None = None) -> list[str]:
    """Every problem of the flow ``name`` given as plain data (a YAML/JSON mapping), one
    ``ivr.NAME.path: message`` line each; empty when the flow is good. ``known_*`` are the
    routing configuration's names; None skips that check."""
    _, problems = _check(name, data, known_queues, known_skills, known_tiers)
    return problems


def load_flow(name: str, data: Any, known_queues: set[str] | None = None, *,
              known_skills: set[str] | None = None,
              known_tiers: set[str] | None = None) -> Flow:
    """The validated :class:`Flow`, or :class:`FlowError` listing every problem."""
    flow, problems = _check(name, data, known_queues, known_skills, known_tiers)
    if problems or flow is None:
        raise FlowError(problems)
    return flow


def routing_names(routing: Mapping[str, Any] | None) -> dict[str, set[str]]:
    """``known_queues``, ``known_skills`` and ``known_tiers`` from a routing section given as
    plain data (the node config's ``routing:``); no section means no queues at all."""
    section = routing or {}

    def ids(key: str, field: str) -> set[str]:
        items = section.get(key) or []
        return {str(i.get(field)) for i in items if isinstance(i, Mapping)}

    return {"known_queues": ids("queues", "id"),
            "known_skills": {str(s) for s in section.get("skills") or []},
            "known_tiers": ids("customer_tiers", "name")}


def config_problems(flows: Mapping[str, Any], routing: Mapping[str, Any] | None) -> list[str]:
    """Every problem of a node configuration's ``ivr:`` section, checked against its
    ``routing:`` section: the lines :func:`switch.config.reference_problems` reports."""
    known = routing_names(routing)
    return [line for name, data in flows.items() for line in flow_problems(name, data, **known)]


def _check(name: str, data: Any, queues: set[str] | None, skills: set[str] | None,
           tiers: set[str] | None) -> tuple[Flow | None, list[str]]:
    prefix = f"ivr.{name}"
    if isinstance(data, Flow):  # already parsed: only the whole-flow checks remain
        lines = graph_problems(data) or reference_problems(data, queues, skills, tiers)
        return data, [f"{prefix}.{line}" for line in lines]
    if not isinstance(data, Mapping):
        return None, [f"{prefix}: a flow is a mapping with start and nodes, got "
                      f"{type(data).__name__}"]
    try:
        flow = Flow.model_validate(dict(data))
    except ValidationError as exc:
        return None, [f"{prefix}.{line}" for line in schema_problems(exc)]
    lines = graph_problems(flow)
    if not lines:
        lines = reference_problems(flow, queues, skills, tiers)
    return flow, [f"{prefix}.{line}" for line in lines]


# -- 1. schema ----------------------------------------------------------------------------

def schema_problems(error: ValidationError) -> list[str]:
    """pydantic's errors as ``path: message`` lines, without the union tags in the path."""
    lines = []
    for item in error.errors():
        raw = tuple(item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        kind = item["type"]
        if kind == "union_tag_invalid":
            message = (f"unknown node type {item['ctx']['tag']!r}; expected one of "
                       + ", ".join(NODE_MODELS))
        elif kind == "union_tag_not_found":
            message = "a node needs a type: one of " + ", ".join(NODE_MODELS)
        elif kind == "extra_forbidden":
            keys = _expected_keys(raw)
            message = "unknown key" + (f" (expected one of: {', '.join(keys)})" if keys else "")
        elif kind == "string_pattern_mismatch" and item["ctx"]["pattern"] in _PATTERN_HELP:
            message = f"{item['input']!r} is not {_PATTERN_HELP[item['ctx']['pattern']]}"
        elif raw and raw[-1] == "[key]":
            message = f"key {item['input']!r}: {message}"
        elif "input" in item and not isinstance(item["input"], dict | list) \
                and repr(item["input"]) not in message:
            message += f", got {item['input']!r}"
        lines.append(f"{_path(raw)}: {message}")
    return lines


def _path(raw: tuple[int | str, ...]) -> str:
    parts = list(raw)
    if len(parts) > 2 and parts[0] == "nodes":
        del parts[2]  # the node type, which pydantic's discriminated union adds
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "[key]" and not part.startswith("when:"):
            text += ("." if text else "") + part
    return text or "(top level)"


def _expected_keys(raw: tuple[int | str, ...]) -> list[str] | None:
    """The keys allowed where an unknown key was found, for a helpful hint."""
    model: type[BaseModel] | None = Flow
    parts = list(raw[:-1])
    i = 0
    while i < len(parts):
        part = parts[i]
        if model is Flow and part == "nodes" and i + 2 < len(parts):
            model = NODE_MODELS.get(str(parts[i + 2]))  # nodes.ID.TYPE
            i += 3
            continue
        if isinstance(part, str) and part in _WHEN_MODELS:
            model = _WHEN_MODELS[part]  # the tag of a condition's union
        elif isinstance(part, str):
            field = None if model is None else next(
                (f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return None
            found = list(_models_in(field.annotation))
            model = found[0] if len(found) == 1 else None  # several: a tag follows
            if typing.get_origin(field.annotation) is dict:
                i += 1  # the next part is a key of the mapping
        i += 1
    if model is None:
        return None
    return sorted(f.alias or n for n, f in model.model_fields.items())


def _models_in(annotation: Any) -> Iterable[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


# -- 2-4. the graph ----------------------------------------------------------------------

def _hint(target: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(target, list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def graph_problems(flow: Flow) -> list[str]:
    """Missing targets, unreachable nodes and loops (rules in the module docstring), as
    ``path: message`` lines relative to the flow."""
    nodes = flow.nodes
    out: list[str] = []
    if flow.start not in nodes:
        out.append(f"start: node {flow.start!r} does not exist{_hint(flow.start, nodes)}")
    for node_id, node in nodes.items():
        for field, target in node.edges():
            if target not in nodes:
                out.append(f"nodes.{node_id}.{field}: target {target!r} does not exist"
                           f"{_hint(target, nodes)}")
    if flow.start not in nodes:
        return out
    graph = {n: [t for _, t in node.edges() if t in nodes] for n, node in nodes.items()}
    broken = {n for n, node in nodes.items() if any(t not in nodes for _, t in node.edges())}
    reach = _reachable(graph, flow.start)
    out += [f"nodes.{n}: unreachable from start {flow.start!r}" for n in nodes if n not in reach]

    order = {n: i for i, n in enumerate(nodes)}
    finishing = _reachable(_reverse(graph), *(n for n in reach
                                              if is_terminal(nodes[n]) or n in broken))
    stuck = reach - finishing
    for scc in _cycles(graph, stuck, order):
        out.append(f"nodes.{scc[0]}: loop with no exit ({_cycle_text(graph, scc)})")
    automatic = {n for n in reach if not nodes[n].WAITS_FOR_CALLER}
    for scc in _cycles(graph, automatic, order):
        if not set(scc) <= stuck:
            out.append(f"nodes.{scc[0]}: loop without caller input ({_cycle_text(graph, scc)});"
                       " every loop must pass through a menu or collect node")
    return out


def _reachable(graph: Mapping[str, list[str]], *starts: str) -> set[str]:
    seen = set(starts)
    todo = deque(starts)
    while todo:
        for target in graph.get(todo.popleft(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _reverse(graph: Mapping[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {n: [] for n in graph}
    for source, targets in graph.items():
        for target in targets:
            out[target].append(source)
    return out


def _cycles(graph: Mapping[str, list[str]], within: set[str],
            order: Mapping[str, int]) -> list[list[str]]:
    """Strongly connected components of ``graph`` restricted to ``within`` that contain a
    cycle, each as its nodes in file order (Tarjan's algorithm, iterative)."""
    sub = {n: [t for t in graph[n] if t in within] for n in sorted(within, key=order.__getitem__)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sub:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, pos = work.pop()
            if pos == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if pos < len(sub[node]):
                work.append((node, pos + 1))
                target = sub[node][pos]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in sub[node]:
                    found.append(sorted(component, key=order.__getitem__))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return sorted(found, key=lambda c: order[c[0]])


def _cycle_text(graph: Mapping[str, list[str]], scc: list[str]) -> str:
    """The shortest cycle through the component's first node, as ``a -> b -> a``."""
    members, first = set(scc), scc[0]
    previous: dict[str, str] = {}
    todo = deque([first])
    while todo:
        node = todo.popleft()
        for target in graph[node]:
            if target == first:
                path = [node]
                while path[-1] != first:
                    path.append(previous[path[-1]])
                return " -> ".join([*reversed(path), first])
            if target in members and target not in previous:
                previous[target] = node
                todo.append(target)
    return first  # unreachable for a real cycle


# -- 5. references ------------------------------------------------------------------------

def reference_problems(flow: Flow, queues: set[str] | None, skills: set[str] | None,
                       tiers: set[str] | None) -> list[str]:
    """Names the flow uses that the routing configuration must define."""
    out: list[str] = []
    for node_id, node in flow.nodes.items():
        where = f"nodes.{node_id}"
        if isinstance(node, QueueNode | CallbackNode) and queues is not None \
                and node.queue not in queues:
            out.append(f"{where}.queue: unknown queue {node.queue!r} (routing.queues has: "
                       f"{', '.join(sorted(queues)) or 'none'})")
        if isinstance(node, QueueNode) and node.skills is not None and skills is not None:
            for skill in check_skills(parse(node.skills), skills):
                out.append(f"{where}.skills: unknown skill {skill!r} in {node.skills!r}")
        if isinstance(node, ConditionNode) and tiers is not None:
            for i, branch in enumerate(node.branches):
                if isinstance(branch.when, TierWhen):
                    for tier in branch.when.tier:
                        if tier not in tiers:
                            out.append(f"{where}.branches[{i}].when.tier: unknown customer tier"
                                       f" {tier!r} (routing.customer_tiers has: "
                                       f"{', '.join(sorted(tiers)) or 'none'})")
    return out
