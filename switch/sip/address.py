"""Where a message came from or goes to: the one type shared by the core and the transports."""

from __future__ import annotations

from dataclasses import dataclass

TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
STREAM_TRANSPORTS = frozenset({"tcp", "tls", "ws", "wss"})
SECURE_TRANSPORTS = frozenset({"tls", "wss"})
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "ws": 80, "wss": 443}


@dataclass(frozen=True, slots=True)
class Peer:
    """A remote transport address.

    ``conn_id`` names the stream connection a message arrived on (None for UDP, or when any
    connection to ``host:port`` will do). Sending to a Peer with a ``conn_id`` reuses that
    connection, which is how responses and requests reach registered TCP/TLS/WS clients that
    cannot accept inbound connections (RFC 5626 style reuse, RFC 7118 §5).
    """

    transport: str
    host: str
    port: int
    conn_id: int | None = None

    @property
    def is_stream(self) -> bool:
        return self.transport in STREAM_TRANSPORTS

    @property
    def is_secure(self) -> bool:
        return self.transport in SECURE_TRANSPORTS

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        conn = f"#{self.conn_id}" if self.conn_id is not None else ""
        return f"{self.transport}:{host}:{self.port}{conn}"


@dataclass(frozen=True, slots=True)
class Listener:
    """A local listening address, as given by ``--sip udp:127.0.0.1:5060``."""

    transport: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Listener:
        transport, sep, rest = text.partition(":")
        transport = transport.lower()
        if not sep or transport not in TRANSPORTS:
            raise ValueError(f"listener must look like udp:HOST:PORT (one of {TRANSPORTS}),"
                             f" got {text!r}")
        host, sep, port_text = rest.rpartition(":")
        if not sep or not port_text.isdigit() or not host:
            raise ValueError(f"listener needs HOST:PORT after the transport, got {text!r}")
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ValueError(f"listener port out of range in {text!r}")
        return cls(transport, host.strip("[]"), port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"
