"""A test tenant for calls: the demo with a deterministic IVR flow on 300 (no business-hours
branch, a tone prompt whose frequency tests can find), and helpers to read call events from
the node's log."""

from __future__ import annotations

import array
import math
import re
import wave
from pathlib import Path
from typing import Any

from switch.demo import demo_data
from tests.integration.conftest import RunningNode

TONE_HZ = 1000
FLOW = {
    "start": "welcome",
    "nodes": {
        "welcome": {"type": "play", "prompt": {"file": "tone1000.wav"}, "next": "menu"},
        "menu": {"type": "menu", "prompt": "Press 1 for support, 2 for sales, 3 for our hours.",
                 "options": {"1": "support", "2": "sales", "3": "hours"},
                 "timeout": 8, "retries": 1, "on_failure": "support"},
        "hours": {"type": "answer", "topic": "opening_hours",
                  "prompt": "We are open every day from eight to eight."},
        "support": {"type": "queue", "queue": "support"},
        "sales": {"type": "queue", "queue": "sales"},
    },
}


def calls_config(**extra: Any) -> dict[str, Any]:
    data = demo_data()
    data["ivr"] = {**data["ivr"], "test": FLOW}
    data["numbers"] = {**data["numbers"], "300": "ivr:test"}
    data.update(extra)
    return data


def write_tone(path: Path, hz: int = TONE_HZ, seconds: float = 1.5) -> Path:
    """16-bit mono 8 kHz WAV of a sine tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = array.array("h", (int(12000 * math.sin(2 * math.pi * hz * n / 8000))
                                for n in range(int(8000 * seconds))))
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(samples.tobytes())
    return path


def prepare_prompts(node: RunningNode) -> None:
    write_tone(node.data_dir / "prompts" / "tone1000.wav")


def call_lines(node: RunningNode) -> list[str]:
    return [line.split("switch.calls.events: ", 1)[1] for line in node.stderr().splitlines()
            if "switch.calls.events: " in line]


def call_ids(node: RunningNode) -> list[str]:
    return [m.group(1) for line in call_lines(node)
            if (m := re.match(r"call (\S+) started", line))]


def delivery_config(agents: int = 3, *, offer_timeout: float = 8.0,
                    contacts: dict[str, str] | None = None, **calls: Any) -> dict[str, Any]:
    """The calls tenant with a small routing section: agents 1001.. all able to take queue
    ``support`` (number 200), so a test decides who answers by who is there. ``contacts``
    gives agents static contacts; ``calls`` adds to the ``calls:`` section."""
    data = calls_config()
    ids = [str(1001 + n) for n in range(agents)]
    data["routing"] = {
        "skills": ["support"],
        "agents": [{"id": agent, "skills": {"support": 5}} for agent in ids],
        "queues": [{"id": "support", "expression": "support >= 1", "strategy": "longest_idle",
                    "offer_timeout": offer_timeout}],
        "max_missed_offers": 0,
    }
    data["numbers"] = {"200": "queue:support"}
    data["ivr"] = {}
    for account in data["accounts"]:
        if contacts and account["username"] in contacts:
            account["contact"] = contacts[account["username"]]
    data["calls"] = {"auto_ready": True, **calls}
    return data


def delivery_lines(node: RunningNode, call_id: str) -> list[str]:
    prefix = f"call {call_id} "
    return [line.removeprefix(prefix) for line in call_lines(node) if line.startswith(prefix)]


def in_order(steps: list[str], wanted: list[str]) -> bool:
    """Each of ``wanted`` starts a step, after the step that matched the one before."""
    at = 0
    for prefix in wanted:
        at = next((i for i in range(at, len(steps)) if steps[i].startswith(prefix)), -1)
        if at < 0:
            return False
        at += 1
    return True
