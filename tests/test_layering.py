"""The pure cores must not reach for I/O or a clock (design §3), and routing is a library."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Packages (or modules) that must stay sans-I/O: bytes/commands and `now` in, outputs out.
PURE = [
    "switch/sip",
    "switch/callcontrol",
    "routing",
]
# Edges inside pure packages that are allowed to do I/O: call control's run on the node's
# loop (the call service, call delivery and its parts, click to dial, supervision).
EDGE_FILES = {"routing/service.py", "routing/cli.py", "routing/progress.py",
              *(f"switch/callcontrol/{name}.py" for name in (
                  "service", "enginemedia", "delivery", "deliverystate", "incall", "mobile",
                  "waiting", "clicktodial", "supervise", "mobilelogin"))}
FORBIDDEN = {"asyncio", "socket", "time", "datetime", "selectors", "ssl", "threading",
             "uvloop", "redis", "aiomqtt", "trio", "subprocess"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _files(package: str) -> list[Path]:
    base = ROOT / package
    return sorted(base.rglob("*.py")) if base.is_dir() else [base]


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_import_no_io_or_clock(package: str) -> None:
    offenders = []
    for path in _files(package):
        rel = path.relative_to(ROOT).as_posix()
        if rel in EDGE_FILES:
            continue
        bad = _imports(path) & FORBIDDEN
        if bad:
            offenders.append(f"{rel}: {sorted(bad)}")
    assert not offenders, "pure code imports I/O or a clock:\n" + "\n".join(offenders)


def test_routing_never_imports_switch() -> None:
    offenders = [p.relative_to(ROOT).as_posix() for p in _files("routing")
                 if "switch" in _imports(p)]
    assert not offenders, f"routing must not import switch: {offenders}"


_CEXT_IMPORT = re.compile(r"^\s*(?:from|import|cimport)\s+(switch|routing)\b", re.MULTILINE)


def test_cext_imports_neither_switch_nor_routing() -> None:
    offenders = [p.name for p in sorted((ROOT / "cext").rglob("*.p*"))
                 if p.suffix in (".py", ".pyx", ".pxd", ".pyi")
                 and _CEXT_IMPORT.search(p.read_text())]
    assert not offenders, f"cext must import neither switch nor routing: {offenders}"
    assert _CEXT_IMPORT.search("x = 1\nfrom switch.sip import uri\n")


def test_layering_check_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import asyncio\nfrom time import monotonic\n")
    assert _imports(bad) & FORBIDDEN == {"asyncio", "time"}
