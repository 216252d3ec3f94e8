"""The table of open stream connections: by ``conn_id``, and by (transport, host, port) for reuse.

RFC 3261 §18.2.2 (responses) and RFC 5626 (registered contacts) both want a message for a peer
to go over a connection that is already open to it; the address index finds one. A connection
dialled by host name is also indexed under that name (its alias) so the next send to the same
name finds it instead of dialling again.
"""

from __future__ import annotations

import contextlib

from switch.sip.address import Peer

from .base import Connection

AddrKey = tuple[str, str, int]


class ConnectionTable:
    __slots__ = ("_by_addr", "_conns", "_next_id")

    def __init__(self) -> None:
        self._conns: dict[int, Connection] = {}
        self._by_addr: dict[AddrKey, list[int]] = {}
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._conns)

    def get(self, conn_id: int) -> Connection | None:
        return self._conns.get(conn_id)

    def all(self) -> list[Connection]:
        return list(self._conns.values())

    def add(self, conn: Connection) -> Peer:
        """Give ``conn`` the next id and index it; returns its peer (now with ``conn_id``)."""
        conn_id = self._next_id
        self._next_id += 1
        conn.conn_id = conn_id
        conn.peer = Peer(conn.transport_name, conn.peer.host, conn.peer.port, conn_id)
        self._conns[conn_id] = conn
        self._by_addr.setdefault(conn.addr_key, []).append(conn_id)
        return conn.peer

    def alias(self, conn: Connection, key: AddrKey) -> None:
        """Also find ``conn`` under ``key`` (the host name it was dialled by)."""
        if key != conn.addr_key and conn.conn_id in self._conns:
            conn.dial_key = key
            self._by_addr.setdefault(key, []).append(conn.conn_id)

    def remove(self, conn: Connection) -> bool:
        """Forget ``conn``; False if it was not in the table (refused, or removed before)."""
        if self._conns.pop(conn.conn_id, None) is None:
            return False
        for key in (conn.addr_key, conn.dial_key):
            ids = self._by_addr.get(key) if key is not None else None
            if ids is not None and key is not None:
                with contextlib.suppress(ValueError):
                    ids.remove(conn.conn_id)
                if not ids:
                    del self._by_addr[key]
        return True

    def find(self, transport: str, host: str, port: int) -> Connection | None:
        """The newest open connection of ``transport`` to ``host:port`` (likeliest alive)."""
        ids = self._by_addr.get((transport, host, port))
        if not ids:
            return None
        for conn_id in reversed(ids):
            conn = self._conns.get(conn_id)
            if conn is not None and not conn.closing:
                return conn
        return None

    def idle(self, now: float, timeout: float) -> list[Connection]:
        """Connections unused for ``timeout`` seconds and not pinned past ``now``."""
        return [conn for conn in self._conns.values()
                if conn.pinned_until <= now and now - conn.last_activity >= timeout]
