"""Render ``docs/benchmarks.md`` from ``bench/results/*.json``.

A benchmark module may define ``summarize(record) -> str`` (Markdown); otherwise its results
are shown as a JSON block.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DOC = ROOT.parent / "docs" / "benchmarks.md"

HEADER = """# Benchmarks

Produced by `make bench` (raw results in `bench/results/*.json`). The machines are shared
and noisy, so every figure that has a peer is measured beside that peer in the same run; read
the ratios, not the absolute numbers.
"""


# What a section measures and against which peer, shown under its heading (the module's
# summarize() gives the figures).
NOTES = {
    "calls": "Routed calls per second on one core (caller -> queue -> agent -> answer -> "
             "talk -> hang-up, SIPp on both sides) with zero failures, beside **sippy**'s "
             "B2BUA and **Kamailio** (stateful proxy) carrying the same SIPp callers and agents "
             "in the same run; and the failover time when an agent's network drops mid-call.",
    "media": "RTP relay of the builtin media engine (issue 14): simultaneous G.711 calls "
             "relayed with under 0.1 % loss on one core, beside **rtpengine** (userspace) "
             "carrying the same load from the same driver with the same ng commands, steps "
             "interleaved.",
    "ivr": "Calls into the IVR with SIPp (issue 14): simultaneous callers hearing prompts and "
           "pressing digits, and call setup per second into the IVR, with the node's and the "
           "media engine's CPU apart. No IVR peer (Asterisk, FreeSWITCH) is installed here; "
           "the same node driving **rtpengine** is measured in the same run as a peer for the "
           "media half.",
}


def render() -> None:
    parts = [HEADER]
    for path in sorted((ROOT / "results").glob("*.json")):
        record = json.loads(path.read_text())
        name = record["name"]
        parts.append(f"\n## {name}\n\n_Run {record['when']}, {record['seconds']} s, "
                     f"Python {record['machine']['python']}, {record['machine']['cpus']} CPUs, "
                     f"load {record['machine']['load_avg'][0]:.2f}._\n")
        if name in NOTES:
            parts.append(NOTES[name] + "\n")
        try:
            module = importlib.import_module(f"bench.bench_{name}")
            summarize = getattr(module, "summarize", None)
        except ImportError:
            summarize = None
        if summarize is not None:
            parts.append(summarize(record))
        else:
            parts.append("```json\n" + json.dumps(record["results"], indent=2) + "\n```\n")
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(parts))


if __name__ == "__main__":
    render()
