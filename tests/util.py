"""Small helpers shared by test packages."""

from __future__ import annotations

import ast
import socket
from pathlib import Path


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port that is free for ``kind`` on ``host`` right now (bind to 0 and read it back)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port_both(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP (SIP listens on both with the same number)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM, host)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port free for both UDP and TCP")


def top_level_imports(path: Path) -> set[str]:
    """Top-level package names a module imports absolutely (``import a.b``, ``from a import
    b`` -> ``a``); relative imports stay inside the package and are not listed."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names
