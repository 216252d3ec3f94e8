"""Run every benchmark (``make bench``) and rebuild ``docs/benchmarks.md``.

Each ``bench/bench_*.py`` module has ``main() -> dict`` returning JSON-able results; this runner
writes them to ``bench/results/<name>.json`` (with machine facts and a timestamp) and then
renders the summary. ``python -m bench.run parser registrar`` runs only the named ones.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
    }


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem.removeprefix("bench_") for p in ROOT.glob("bench_*.py"))
    RESULTS.mkdir(exist_ok=True)
    failed = []
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== bench {name}", flush=True)
        started = time.time()
        try:
            result = module.main()
        except Exception as exc:  # a failing benchmark must not hide the others
            print(f"   FAILED: {exc!r}", flush=True)
            failed.append(name)
            continue
        record = {"name": name, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "seconds": round(time.time() - started, 1), "machine": machine(),
                  "results": result}
        (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    from bench.report import render

    render()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
