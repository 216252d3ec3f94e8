"""Flow versions: drafts, validate, publish; a call stays on the version it started with."""

from __future__ import annotations

from typing import Any

import pytest

from switch.ivr.commands import Enqueue
from switch.ivr.demo import demo_flows
from switch.ivr.validate import FlowError
from switch.ivr.versions import FlowStore, UnknownFlow

from .driver import Caller


def flow_data(queue: str, prompt: str = "Press 1.") -> dict[str, Any]:
    return {"start": "m", "nodes": {
        "m": {"type": "menu", "prompt": prompt, "options": {"1": "q"}, "on_failure": "q"},
        "q": {"type": "queue", "queue": queue}}}


def test_draft_validate_publish_current() -> None:
    store = FlowStore(known_queues={"support", "sales"})
    assert store.save_draft("main", flow_data("support")) == []
    assert store.publish("main") == 1
    version, flow = store.current("main")
    assert version == 1 and flow.nodes["q"].queue == "support"  # type: ignore[union-attr]
    assert store.save_draft("main", flow_data("sales")) == []
    assert store.current("main")[0] == 1  # a draft changes nothing until published
    assert store.publish("main") == 2
    assert store.versions("main") == [1, 2] and store.current("main")[0] == 2
    assert store.get("main", 1).nodes["q"].queue == "support"  # type: ignore[union-attr]
    assert store.names() == ["main"]


def test_a_bad_draft_is_kept_but_never_published() -> None:
    store = FlowStore(known_queues={"support"})
    problems = store.save_draft("main", flow_data("suport"))
    assert problems == ["ivr.main.nodes.q.queue: unknown queue 'suport' (routing.queues has:"
                        " support)"]
    assert store.validate("main") == problems
    assert store.draft("main")["nodes"]["q"]["queue"] == "suport"
    with pytest.raises(FlowError) as info:
        store.publish("main")
    assert info.value.lines == problems
    with pytest.raises(UnknownFlow):
        store.current("main")


def test_drafts_are_copies() -> None:
    store = FlowStore()
    data = flow_data("support")
    store.save_draft("main", data)
    data["nodes"]["q"]["queue"] = "changed"
    assert store.draft("main")["nodes"]["q"]["queue"] == "support"
    store.draft("main")["start"] = "x"
    assert store.validate("main") == []


def test_a_call_in_progress_stays_on_its_version() -> None:
    store = FlowStore()
    store.save_draft("main", flow_data("support", "Old menu."))
    store.publish("main")
    early = Caller(store.current("main")[1])
    early.start()
    early.prompt_ends()

    store.save_draft("main", flow_data("sales", "New menu."))
    store.publish("main")
    late = Caller(store.current("main")[1])
    late.start()
    late.prompt_ends()

    early.press("1")
    late.press("1")
    assert early.texts() == ["Old menu."] and early.of(Enqueue)[0].queue == "support"
    assert late.texts() == ["New menu."] and late.of(Enqueue)[0].queue == "sales"
    assert early.session.version == 1 and early.session.flow is store.get("main", 1)


def test_activate_rolls_back() -> None:
    store = FlowStore()
    for queue in ("a", "b"):
        store.save_draft("main", flow_data(queue))
        store.publish("main")
    store.activate("main", 1)
    assert store.current("main")[0] == 1
    with pytest.raises(UnknownFlow):
        store.activate("main", 3)


def test_unknown_names() -> None:
    store = FlowStore()
    for call in (lambda: store.publish("x"), lambda: store.validate("x"),
                 lambda: store.draft("x"), lambda: store.get("x", 1)):
        with pytest.raises(UnknownFlow):
            call()
    store.discard_draft("x")


def test_from_config_publishes_every_flow_or_refuses_them_all() -> None:
    store = FlowStore.from_config(demo_flows(), known_queues={"support", "sales", "vip"})
    assert store.current("main")[0] == 1
    with pytest.raises(FlowError) as info:
        FlowStore.from_config({**demo_flows(), "other": flow_data("nope")},
                              known_queues={"support", "sales", "vip"})
    assert info.value.lines == ["ivr.other.nodes.q.queue: unknown queue 'nope'"
                                " (routing.queues has: sales, support, vip)"]


def test_export_and_restore() -> None:
    store = FlowStore()
    for queue in ("a", "b"):
        store.save_draft("main", flow_data(queue))
        store.publish("main")
    store.activate("main", 1)
    store.save_draft("main", flow_data("c"))
    saved = store.export()
    again = FlowStore()
    again.restore(saved)
    assert again.versions("main") == [1, 2] and again.current("main")[0] == 1
    assert again.get("main", 2) == store.get("main", 2)
    assert again.draft("main")["nodes"]["q"]["queue"] == "c"
    # Restoring re-validates: a version naming a queue that no longer exists is refused.
    with pytest.raises(FlowError):
        FlowStore(known_queues={"a"}).restore(saved)
