"""Small helpers shared by test packages."""

from __future__ import annotations

import socket


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
