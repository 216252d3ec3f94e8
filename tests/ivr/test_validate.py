"""The validator refuses bad flows with the node path of every problem."""

from __future__ import annotations

from typing import Any

import pytest

from switch.ivr.schema import Flow
from switch.ivr.validate import FlowError, flow_problems, load_flow

QUEUES = {"support", "sales", "vip"}
BYE = {"type": "hangup"}


def problems(nodes: dict[str, Any], start: str | None = None, **kw: Any) -> list[str]:
    data = {"start": start or next(iter(nodes)), "nodes": nodes}
    return flow_problems("main", data, **kw)


def menu(options: dict[str, str], on_failure: str = "bye", **kw: Any) -> dict[str, Any]:
    return {"type": "menu", "prompt": "Choose.", "options": options,
            "on_failure": on_failure, **kw}


def play(next_: str) -> dict[str, Any]:
    return {"type": "play", "prompt": "Hello.", "next": next_}


def test_a_good_flow_has_no_problems_and_loads() -> None:
    data = {"start": "hello", "nodes": {"hello": play("menu1"),
                                        "menu1": menu({"1": "sales_q"}),
                                        "sales_q": {"type": "queue", "queue": "sales"},
                                        "bye": BYE}}
    assert flow_problems("main", data, known_queues=QUEUES) == []
    flow = load_flow("main", data, QUEUES)
    assert isinstance(flow, Flow) and flow.start == "hello"


def test_missing_target_names_the_field_and_suggests() -> None:
    assert problems({"menu1": menu({"1": "sales", "3": "sales_q"}),
                     "sales": {"type": "queue", "queue": "sales"}, "bye": BYE}) == [
        "ivr.main.nodes.menu1.options.3: target 'sales_q' does not exist"
        " (did you mean 'sales'?)"]


def test_missing_start() -> None:
    assert problems({"bye": BYE}, start="greting") == [
        "ivr.main.start: node 'greting' does not exist"]


def test_missing_targets_in_every_kind_of_edge() -> None:
    lines = problems({
        "cond": {"type": "condition", "branches": [{"when": {"tier": "vip"}, "next": "x1"}],
                 "else": "x2"},
        "col": {"type": "collect", "variable": "acct", "next": "x3", "on_failure": "cond"},
        "look": {"type": "lookup", "url": "http://crm/{caller}", "next": "col",
                 "on_failure": "x4"},
    }, start="look")
    assert lines == [
        "ivr.main.nodes.cond.branches[0].next: target 'x1' does not exist",
        "ivr.main.nodes.cond.else: target 'x2' does not exist",
        "ivr.main.nodes.col.next: target 'x3' does not exist",
        "ivr.main.nodes.look.on_failure: target 'x4' does not exist",
    ]


def test_unreachable_node() -> None:
    assert problems({"greeting": play("bye"), "orphan": play("bye"), "bye": BYE}) == [
        "ivr.main.nodes.orphan: unreachable from start 'greeting'"]


def test_loop_with_no_exit_names_the_node_and_the_cycle() -> None:
    lines = problems({"start": play("menu_a"),
                      "menu_a": menu({"1": "menu_b"}, on_failure="menu_b"),
                      "menu_b": menu({"1": "menu_a", "2": "menu_b"}, on_failure="menu_a")})
    assert lines == ["ivr.main.nodes.menu_a: loop with no exit (menu_a -> menu_b -> menu_a)"]


def test_loop_of_plays_is_refused_once() -> None:
    assert problems({"loop_a": play("loop_b"), "loop_b": play("loop_a")}) == [
        "ivr.main.nodes.loop_a: loop with no exit (loop_a -> loop_b -> loop_a)"]


def test_a_menu_looping_back_to_itself_is_fine_when_it_has_an_exit() -> None:
    assert problems({"menu1": menu({"1": "q", "9": "menu1"}, on_failure="menu1"),
                     "q": {"type": "queue", "queue": "support"}, "bye": BYE},
                    ) == ["ivr.main.nodes.bye: unreachable from start 'menu1'"]
    assert problems({"menu1": menu({"1": "q", "9": "again"}),
                     "again": play("menu1"),
                     "q": {"type": "queue", "queue": "support"}, "bye": BYE}) == []


def test_loop_without_caller_input_is_refused_even_with_an_exit() -> None:
    hours = {"timezone": "Europe/London", "weekly": {"mon": ["09:00-17:00"]}}
    lines = problems({
        "wait": play("check"),
        "check": {"type": "condition", "branches": [{"when": {"hours": hours}, "next": "wait"}],
                  "else": "bye"},
        "bye": BYE})
    assert lines == ["ivr.main.nodes.wait: loop without caller input (wait -> check -> wait);"
                     " every loop must pass through a menu or collect node"]


def test_a_lookup_retrying_itself_is_refused() -> None:
    lines = problems({"look": {"type": "lookup", "url": "http://crm/{caller}", "next": "bye",
                               "on_failure": "look"}, "bye": BYE})
    assert lines == ["ivr.main.nodes.look: loop without caller input (look -> look);"
                     " every loop must pass through a menu or collect node"]


def test_the_stuck_part_is_reported_not_the_way_into_it() -> None:
    lines = problems({"in": play("a"), "a": play("b"), "b": play("c"), "c": play("b")})
    assert lines == ["ivr.main.nodes.b: loop with no exit (b -> c -> b)"]


@pytest.mark.parametrize(("node", "line"), [
    ({"type": "collect", "variable": "acct", "pattern": "[0-9", "next": "bye",
      "on_failure": "bye"},
     "ivr.main.nodes.n.pattern: pattern '[0-9' does not compile: unterminated character set"
     " at position 0"),
    ({"type": "queue", "queue": "support", "skills": "billing >= "},
     "ivr.main.nodes.n.skills: expected a level 0..10 after '>=' at column 12 in"
     " 'billing >= '"),
    ({"type": "condition", "else": "bye", "branches": [
        {"when": {"hours": {"timezone": "Europe/Pariss"}}, "next": "bye"}]},
     "ivr.main.nodes.n.branches[0].when.hours.timezone: unknown time zone 'Europe/Pariss'"
     " (an IANA name such as 'Europe/Paris')"),
    ({"type": "condition", "else": "bye", "branches": [
        {"when": {"hours": {"timezone": "UTC", "holidays": ["2026-02-30"]}}, "next": "bye"}]},
     "ivr.main.nodes.n.branches[0].when.hours.holidays[0].date: Input should be a valid date"
     " or datetime, day value is outside expected range, got '2026-02-30'"),
    ({"type": "condition", "else": "bye", "branches": [{"when": {"colour": "red"},
                                                         "next": "bye"}]},
     "ivr.main.nodes.n.branches[0].when: a condition is {hours: ...}, {tier: ...} or"
     " {variable: ..., equals|in|matches: ...}"),
    ({"type": "condition", "else": "bye", "branches": [
        {"when": {"variable": "x", "equals": "1", "matches": "1"}, "next": "bye"}]},
     "ivr.main.nodes.n.branches[0].when: give exactly one of equals, in or matches"),
    ({"type": "menu", "prompt": "x", "options": {"1": "bye"}, "on_failure": "bye",
      "timout": 3},
     "ivr.main.nodes.n.timout: unknown key (expected one of: description, invalid, no_input,"
     " on_failure, options, prompt, retries, timeout, type)"),
    ({"type": "menu", "prompt": "x", "options": {"11": "bye"}, "on_failure": "bye"},
     "ivr.main.nodes.n.options.11: '11' is not a menu key (one of 0-9, * and #)"),
    ({"type": "menu", "prompt": "x", "options": {"1": "bye"}, "on_failure": "bye",
      "retries": -1},
     "ivr.main.nodes.n.retries: Input should be greater than or equal to 0, got -1"),
    ({"type": "play", "prompt": {"tts": "x", "file": "x.wav"}, "next": "bye"},
     "ivr.main.nodes.n.prompt: a prompt is either {tts: text} or {file: path}, exactly one"),
    ({"type": "play", "prompt": {"file": "../../etc/passwd"}, "next": "bye"},
     "ivr.main.nodes.n.prompt: prompt file '../../etc/passwd' must be a relative path inside"
     " the prompt directory"),
    ({"type": "lookup", "url": "ftp://crm/{caller}", "next": "bye", "on_failure": "bye"},
     "ivr.main.nodes.n.url: url 'ftp://crm/{caller}' must start with http://, https:// or"
     " {api}"),
    ({"type": "lookup", "url": "{api}/c/{caller}", "next": "bye", "on_failure": "bye",
      "timeout": 60},
     "ivr.main.nodes.n.timeout: Input should be less than or equal to 10, got 60"),
    ({"type": "lookup", "url": "{api}/c", "set": {"tier": "customer..tier"}, "next": "bye",
      "on_failure": "bye"},
     "ivr.main.nodes.n.set.tier: JSON path 'customer..tier': expected a key at column 10"),
    ({"type": "collect", "variable": "acct", "min": 5, "max": 4, "next": "bye",
      "on_failure": "bye"},
     "ivr.main.nodes.n: min (5) is greater than max (4)"),
    ({"type": "transfer", "to": "mailto:x@y"},
     "ivr.main.nodes.n.to: transfer target 'mailto:x@y' is neither a sip:/sips: URI nor a"
     " number like +441234567890"),
    ({"type": "survey", "questions": {"csat": "How was it?", "mood": "?"}, "next": "bye"},
     "ivr.main.nodes.n.questions.mood: key 'mood': Input should be 'csat', 'nps' or 'ces'"),
    ({"type": "tranfser", "to": "100"},
     "ivr.main.nodes.n: unknown node type 'tranfser'; expected one of play, menu, collect,"
     " condition, lookup, set, answer, queue, transfer, voicemail, callback, survey, hangup"),
    ({"to": "100"},
     "ivr.main.nodes.n: a node needs a type: one of play, menu, collect, condition, lookup,"
     " set, answer, queue, transfer, voicemail, callback, survey, hangup"),
])
def test_schema_problems_name_the_node_path(node: dict[str, Any], line: str) -> None:
    assert problems({"n": node, "bye": BYE}) == [line]


def test_unknown_key_deep_inside_lists_its_neighbours() -> None:
    lines = problems({"n": {"type": "play", "prompt": {"tts": "x", "vocie": "en"},
                            "next": "bye"}, "bye": BYE})
    assert lines == ["ivr.main.nodes.n.prompt.vocie: unknown key (expected one of: file, tts,"
                     " voice)"]
    lines = flow_problems("main", {"start": "bye", "nodes": {"bye": BYE}, "version": 2})
    assert lines == ["ivr.main.version: unknown key (expected one of: description, nodes,"
                     " prompt_dir, start, voice)"]


def test_unknown_queue_skill_and_tier_need_the_routing_names() -> None:
    nodes = {"cond": {"type": "condition", "else": "q",
                      "branches": [{"when": {"tier": ["vip", "gold"]}, "next": "cb"}]},
             "q": {"type": "queue", "queue": "suport", "skills": "english and klingon"},
             "cb": {"type": "callback", "queue": "sales"}}
    assert problems(nodes) == []
    assert problems(nodes, known_queues=QUEUES, known_skills={"english", "support"},
                    known_tiers={"vip"}) == [
        "ivr.main.nodes.cond.branches[0].when.tier: unknown customer tier 'gold'"
        " (routing.customer_tiers has: vip)",
        "ivr.main.nodes.q.queue: unknown queue 'suport' (routing.queues has: sales, support,"
        " vip)",
        "ivr.main.nodes.q.skills: unknown skill 'klingon' in 'english and klingon'",
    ]


def test_every_problem_is_reported_at_once() -> None:
    lines = problems({"a": play("b"), "b": play("zz"), "c": play("a")})
    assert lines == ["ivr.main.nodes.b.next: target 'zz' does not exist",
                     "ivr.main.nodes.c: unreachable from start 'a'"]


def test_not_a_mapping() -> None:
    assert flow_problems("main", None) == [
        "ivr.main: a flow is a mapping with start and nodes, got NoneType"]
    assert flow_problems("main", {}) == ["ivr.main.start: Field required",
                                         "ivr.main.nodes: Field required"]


def test_yaml_scalars_are_read_as_text() -> None:
    flow = load_flow("main", {"start": "m", "nodes": {
        "m": {"type": "menu", "prompt": "x", "options": {1: "c"}, "on_failure": "c"},
        "c": {"type": "condition", "else": "bye", "branches": [
            {"when": {"variable": "n", "equals": 1}, "next": "bye"},
            {"when": {"variable": "n", "in": [2, True]}, "next": "bye"}]},
        "bye": BYE}})
    menu_node = flow.nodes["m"]
    assert menu_node.type == "menu" and menu_node.options == {"1": "c"}
    cond = flow.nodes["c"]
    assert cond.type == "condition"
    assert [b.when.model_dump(exclude_none=True) for b in cond.branches] == [
        {"variable": "n", "equals": "1"}, {"variable": "n", "in_": ["2", "true"]}]


def test_load_flow_raises_with_every_line() -> None:
    with pytest.raises(FlowError) as info:
        load_flow("main", {"start": "a", "nodes": {"a": play("nowhere")}})
    assert info.value.lines == ["ivr.main.nodes.a.next: target 'nowhere' does not exist"]
    assert str(info.value) == info.value.lines[0]


def test_odd_shapes() -> None:
    node_id = "is not a node id (letters, digits, _ and -, starting with a letter or _)"
    assert flow_problems("main", {"start": "a b", "nodes": {"a b": BYE}}) == [
        f"ivr.main.start: 'a b' {node_id}", f"ivr.main.nodes.a b: 'a b' {node_id}"]
    assert flow_problems("main", {"start": "s", "nodes": {"s": {
        "type": "set", "variables": {"1x": "y"}, "next": "q"},
        "q": {"type": "queue", "queue": "a/b"}}}) == [
        "ivr.main.nodes.s.variables.1x: '1x' is not a variable name (letters, digits and _,"
        " not starting with a digit)",
        "ivr.main.nodes.q.queue: 'a/b' is not a name (letters, digits, _ . and -)"]
    assert flow_problems("main", {"start": "a", "nodes": []}) == [
        "ivr.main.nodes: Input should be a valid dictionary"]
    assert flow_problems("main", {"start": "a", "nodes": {}}) == [
        "ivr.main.nodes: Dictionary should have at least 1 item after validation, not 0"]


def test_an_already_parsed_flow_gets_the_whole_flow_checks() -> None:
    flow = Flow.model_validate({"start": "a", "nodes": {"a": play("zz")}})
    assert flow_problems("main", flow) == ["ivr.main.nodes.a.next: target 'zz' does not exist"]
