"""``python -m switch.media``: run the builtin media engine on its own (as rtpengine runs).

    python -m switch.media --listen-ng 127.0.0.1:2223 --interface 127.0.0.1 \\
        --port-min 30000 --port-max 40000 --events 127.0.0.1:PORT --data-dir DIR \\
        [--media-timeout SECONDS]

One JSON line on stdout says it is ready and where (``--listen-ng`` port 0 picks a free port),
like the node's ready line; logs go to stderr. SIGTERM or SIGINT stops it (exit 0); a bad flag
exits 2, a port that cannot be bound exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from .engine import Engine, EngineConfig

log = logging.getLogger("switch.media")


def _hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


def parse_args(argv: list[str] | None = None) -> EngineConfig:
    parser = argparse.ArgumentParser(prog="python -m switch.media",
                                     description="switchboard's builtin media engine")
    parser.add_argument("--listen-ng", type=_hostport, default=("127.0.0.1", 2223),
                        help="UDP address for ng commands (port 0: any free port)")
    parser.add_argument("--interface", default="127.0.0.1", help="address for RTP")
    parser.add_argument("--port-min", type=int, default=30000)
    parser.add_argument("--port-max", type=int, default=40000)
    parser.add_argument("--events", type=_hostport, default=None,
                        help="UDP address that receives JSON events (DTMF, media lost...)")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--media-timeout", type=float, default=10.0,
                        help="seconds without RTP from a party before 'media_lost'")
    parser.add_argument("--mos-threshold", type=float, default=3.5)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when stdin closes (the node that started it is gone)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not 1024 <= args.port_min < args.port_max <= 65535:
        parser.error("need 1024 <= --port-min < --port-max <= 65535")
    return EngineConfig(args.interface, args.listen_ng, args.port_min, args.port_max,
                        args.events, args.data_dir, args.media_timeout, args.mos_threshold,
                        args.exit_with_parent)


class _ParentGone(asyncio.Protocol):
    """The read end of the pipe the node holds: EOF means the node is gone."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop.set()


async def _watch_parent(stop: asyncio.Event) -> None:
    """Stop when stdin (a pipe from the supervising node) closes: a node killed with SIGKILL
    cannot stop its engine, so the engine notices on its own and does not linger."""
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: _ParentGone(stop), sys.stdin)


async def serve(config: EngineConfig) -> int:
    engine = Engine(config)
    try:
        host, port = await engine.start()
    except OSError as exc:
        print(f"cannot listen on {config.listen_ng[0]}:{config.listen_ng[1]}: {exc.strerror}",
              file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if config.exit_with_parent:
        await _watch_parent(stop)
    print(json.dumps({"event": "ready", "ng": f"{host}:{port}", "interface": config.interface,
                      "ports": [config.port_min, config.port_max], "pid": os.getpid()}),
          flush=True)
    await stop.wait()
    await engine.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.run(serve(config))
    return uvloop.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())
