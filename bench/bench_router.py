"""Router benchmark: decisions per second and latency per decision, compiled vs reference.

Scenario (the issue's): N agents with 8 of 200 skills each, 2,000 queues whose expressions
name one or two skills with a minimum level, and a backlog of waiting calls. Every agent is
busy; the measured loop ends a random connected call (the agent becomes free and the router
picks the best waiting call it can serve: one OfferCall decision) and accepts that offer. The
latency of the command that produced the decision is recorded per decision.
``waiting`` is counted when the measured loop starts (it was counted after it until
2026-11-23, which showed 80,000 for a loop that starts with the issue's 100,000).

The reference core scans all agents and calls per decision, so it is measured on a smaller
setup and on fewer decisions; the compiled core is measured at both sizes so the ratio is
like for like. ``scaling`` runs the compiled core from 1,000 to 100,000 agents.
"""

from __future__ import annotations

import gc
import random
import resource
import statistics
import time
import tracemalloc
from pathlib import Path
from typing import Any

from routing import CompiledRouter, ReferenceRouter, load_config
from routing.commands import AcceptOffer, AgentLogin, EndCall, EnqueueCall
from routing.decisions import OfferCall

ROOT = Path(__file__).resolve().parent.parent


def build_config(agents: int, skills: int, queues: int, seed: int = 7) -> Any:
    rnd = random.Random(seed)
    names = [f"s{i}" for i in range(skills)]
    qs = []
    for i in range(queues):
        a, b = rnd.sample(names, 2)
        expr = f"{a} >= {rnd.randint(1, 5)}" + (f" and {b}" if rnd.random() < 0.2 else "")
        qs.append({"id": f"q{i}", "expression": expr, "priority": rnd.randint(0, 3)})
    ags = [{"id": f"a{i}", "skills": {s: rnd.randint(1, 10) for s in rnd.sample(names, 8)}}
           for i in range(agents)]
    return load_config({"skills": names, "agents": ags, "queues": qs, "offer_timeout": 1e9})


def prepare(router_cls: Any, cfg: Any, calls: int, seed: int = 11) -> tuple[Any, list[str]]:
    """Enqueue ``calls`` calls, then log everyone in and accept every offer: all busy."""
    rnd = random.Random(seed)
    r = router_cls(cfg, seed=1)
    queue_ids = [q.id for q in cfg.queues]
    for i in range(calls):
        r.handle(EnqueueCall(f"c{i}", rnd.choice(queue_ids)), i * 1e-4)
    connected = []
    for a in cfg.agents:
        for d in r.handle(AgentLogin(a.id), 50.0):
            if isinstance(d, OfferCall):
                r.handle(AcceptOffer(d.call_id, d.agent_id), 50.0)
                connected.append(d.call_id)
    return r, connected


def measure(r: Any, connected: list[str], decisions: int, seed: int = 5) -> dict[str, Any]:
    rnd = random.Random(seed)
    lat: list[float] = []
    made = 0
    now = 100.0
    gc.disable()
    started = time.perf_counter()
    for _ in range(decisions * 3):
        if made >= decisions or not connected:
            break
        k = rnd.randrange(len(connected))
        connected[k], connected[-1] = connected[-1], connected[k]
        call_id = connected.pop()
        now += 0.001
        t0 = time.perf_counter_ns()
        out = r.handle(EndCall(call_id), now)
        lat.append((time.perf_counter_ns() - t0) / 1000)
        for d in out:
            if isinstance(d, OfferCall):
                made += 1
                t0 = time.perf_counter_ns()
                r.handle(AcceptOffer(d.call_id, d.agent_id), now)
                lat.append((time.perf_counter_ns() - t0) / 1000)
                connected.append(d.call_id)
    elapsed = time.perf_counter() - started
    gc.enable()
    lat.sort()
    return {"decisions": made, "commands": len(lat), "seconds": round(elapsed, 3),
            "decisions_per_s": round(made / elapsed) if elapsed else 0,
            "commands_per_s": round(len(lat) / elapsed) if elapsed else 0,
            "p50_us": round(statistics.median(lat), 2) if lat else None,
            "p99_us": round(lat[int(len(lat) * 0.99)], 2) if lat else None}


def run_core(router_cls: Any, agents: int, queues: int, calls: int, decisions: int,
             trace_memory: bool = False) -> dict[str, Any]:
    cfg = build_config(agents, 200, queues)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace_memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    r, connected = prepare(router_cls, cfg, calls)
    setup = time.perf_counter() - t0
    mem = None
    if trace_memory:
        mem = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    waiting = sum(r.queue_length(q.id) for q in cfg.queues)
    result = measure(r, connected, decisions)
    result.update({"agents": agents, "queues": queues, "calls": calls, "waiting": waiting,
                   "setup_s": round(setup, 1),
                   "rss_growth_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                           - rss0) / 1024, 1)})
    if mem is not None:
        result["traced_mb"] = round(mem / 2**20, 1)
    return result


def main() -> dict[str, Any]:
    if CompiledRouter is None:
        raise RuntimeError("cext._router is not built: run `make build`")
    full = run_core(CompiledRouter, 20_000, 2_000, 120_000, 20_000, trace_memory=True)
    small_c = run_core(CompiledRouter, 1_000, 2_000, 6_000, 1_000)
    small_r = run_core(ReferenceRouter, 1_000, 2_000, 6_000, 200)
    scaling = []
    for n in (1_000, 3_000, 10_000, 30_000, 100_000):
        row = run_core(CompiledRouter, n, 2_000, n + min(5 * n, 100_000), 10_000)
        scaling.append(row)
    ref_scaling = [run_core(ReferenceRouter, 300, 2_000, 1_800, 200), small_r]
    plot(scaling, ref_scaling)
    return {"full_compiled": full, "small_compiled": small_c, "small_reference": small_r,
            "speedup_small": round(small_c["decisions_per_s"] / small_r["decisions_per_s"], 1),
            "scaling_compiled": scaling, "scaling_reference": ref_scaling,
            "plot": "docs/router-scaling.png"}


def plot(scaling: list[dict[str, Any]], ref: list[dict[str, Any]]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the plot is optional; the JSON has the numbers
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for rows, label in ((scaling, "compiled"), (ref, "reference")):
        xs = [r["agents"] for r in rows]
        ax.plot(xs, [r["p50_us"] for r in rows], "o-", label=f"{label} p50")
        ax.plot(xs, [r["p99_us"] for r in rows], "s--", label=f"{label} p99")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("agents (waiting calls 5x agents up to 100k; 2,000 queues; 200 skills)")
    ax.set_ylabel("latency per command (µs)")
    ax.set_title("Router cost vs size")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "router-scaling.png", dpi=100)
    plt.close(fig)


def summarize(record: dict[str, Any]) -> str:
    res = record["results"]
    f, sc, sr = res["full_compiled"], res["small_compiled"], res["small_reference"]
    lines = [
        "| core | agents | queues | waiting calls | decisions/s | p50 µs | p99 µs | memory |",
        "|---|---|---|---|---|---|---|---|",
        f"| compiled | {f['agents']:,} | {f['queues']:,} | {f['waiting']:,} | "
        f"{f['decisions_per_s']:,} | {f['p50_us']} | {f['p99_us']} | "
        f"{f.get('traced_mb')} MB traced |",
    ]
    for row, name in ((sc, "compiled"), (sr, "reference")):
        lines.append(f"| {name} | {row['agents']:,} | {row['queues']:,} | {row['waiting']:,} | "
                     f"{row['decisions_per_s']:,} | {row['p50_us']} | {row['p99_us']} | |")
    lines.append("")
    lines.append(f"Compiled vs reference at the same size: **{res['speedup_small']}x** "
                 "decisions per second. Latency is per command (EndCall that yields the offer, "
                 "then AcceptOffer). Scaling (compiled): " + ", ".join(
                     f"{r['agents']:,} agents p50 {r['p50_us']} µs / p99 {r['p99_us']} µs"
                     for r in res["scaling_compiled"]) + ". Plot: docs/router-scaling.png.")
    return "\n".join(lines)


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
