"""Keepalive of registered contacts ("qualify"), as pure scheduling: ``now`` in, probes and
events out, plus the next deadline.

Why: failover (a later issue) must know when an agent's phone stopped answering, not find out
when a customer's call rings into the void. Per transport:

- UDP: an OPTIONS every ``interval`` seconds (RFC 3261 §11 allows OPTIONS to probe a UA). Any
  final response, even 404 or 501, proves the phone is there. No answer within ``timeout`` is a
  miss; ``misses`` misses in a row make the endpoint unreachable.
- TCP/TLS: the connection is the liveness signal; we send a CRLFCRLF ping (RFC 5626 §4.4.1)
  every interval so a dead peer or NAT binding shows up as a write failure or reset. Losing the
  connection makes the endpoint unreachable at once.
- WS/WSS: the WebSocket layer pings on its own (RFC 6455 §5.5.2); a raw CRLF would be an odd
  SIP message to a browser. A lost connection makes the endpoint unreachable.

Each transition is reported once: EndpointUnreachable when a reachable endpoint is lost,
EndpointReachable when it answers (or re-registers) again.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Literal

from ..sip.address import Peer
from .locations import ContactExpired, ContactRefreshed, ContactRegistered, ContactRemoved

ProbeKind = Literal["options", "ping"]
TargetKey = tuple[str, str]  # (aor, contact)


@dataclass(frozen=True, slots=True)
class EndpointUnreachable:
    aor: str
    contact: str
    reason: str


@dataclass(frozen=True, slots=True)
class EndpointReachable:
    aor: str
    contact: str


QualifyEvent = EndpointUnreachable | EndpointReachable


@dataclass(frozen=True, slots=True)
class Probe:
    """Send this now: an OPTIONS (``options``) or a CRLFCRLF (``ping``) to ``peer``."""

    probe_id: int
    kind: ProbeKind
    aor: str
    contact: str
    peer: Peer


@dataclass(slots=True)
class _Target:
    aor: str
    contact: str
    peer: Peer
    next_probe: float
    reachable: bool = True
    misses: int = 0
    outstanding: int | None = None  # probe id awaiting an answer
    outstanding_since: float = 0.0
    deadline: float | None = None
    key: TargetKey | None = None  # (aor, contact), shared by the table and the heap

    @property
    def kind(self) -> ProbeKind | None:
        if self.peer.transport == "udp":
            return "options"  # keep probing while unreachable: an answer means recovery
        if self.peer.transport in ("tcp", "tls") and self.reachable:
            return "ping"  # a lost connection stays lost until the phone registers again
        return None


class Qualifier:
    def __init__(self, interval: float, timeout: float, misses: int) -> None:
        self.interval = interval
        self.timeout = timeout
        self.misses = misses
        self._targets: dict[TargetKey, _Target] = {}
        self._probes: dict[int, TargetKey] = {}
        # (deadline, key): lazily cleaned; ties order by key (no sequence: smaller entries).
        self._heap: list[tuple[float, TargetKey]] = []
        self._next_probe_id = 0

    # -- inputs -----------------------------------------------------------------------------

    def observe(self, event: object, now: float) -> list[QualifyEvent]:
        """Follow the registrar: track new contacts, forget removed ones."""
        if isinstance(event, ContactRegistered | ContactRefreshed):
            key = (event.aor, event.contact)
            target = self._targets.get(key)
            if target is None:
                self._targets[key] = target = _Target(event.aor, event.contact, event.peer,
                                                      next_probe=now + self.interval, key=key)
                self._schedule(target)
                return []
            # A refresh is proof of life, possibly from a new address or connection.
            target.peer = event.peer
            target.misses = 0
            self._forget_outstanding(target)
            target.next_probe = now + self.interval
            recovered = not target.reachable
            target.reachable = True
            self._schedule(target)
            return [EndpointReachable(target.aor, target.contact)] if recovered else []
        if isinstance(event, ContactRemoved | ContactExpired):
            target = self._targets.pop((event.aor, event.contact), None)
            if target is not None:
                self._forget_outstanding(target)
        return []

    def answered(self, probe_id: int, now: float) -> list[QualifyEvent]:
        """Any final response to a probe OPTIONS; late answers count too."""
        key = self._probes.pop(probe_id, None)
        target = self._targets.get(key) if key else None
        if target is None:
            return []
        if target.outstanding == probe_id:
            target.outstanding = None
            self._schedule(target)
        target.misses = 0
        if not target.reachable:
            target.reachable = True
            return [EndpointReachable(target.aor, target.contact)]
        return []

    def failed(self, probe_id: int, now: float) -> list[QualifyEvent]:
        """The probe's transaction timed out or its transport failed: a miss, if not counted."""
        key = self._probes.pop(probe_id, None)
        target = self._targets.get(key) if key else None
        if target is None or target.outstanding != probe_id:
            return []
        target.outstanding = None
        self._schedule(target)
        return self._miss(target, "qualify OPTIONS failed")

    def connection_lost(self, peer: Peer, now: float) -> list[QualifyEvent]:
        """A stream connection closed: every contact that lived on it is unreachable."""
        events: list[QualifyEvent] = []
        for target in self._targets.values():
            same = target.peer.transport == peer.transport and (
                target.peer.conn_id == peer.conn_id if peer.conn_id is not None
                else (target.peer.host, target.peer.port) == (peer.host, peer.port))
            if same and target.reachable:
                target.reachable = False
                self._forget_outstanding(target)
                self._schedule(target)
                events.append(EndpointUnreachable(target.aor, target.contact,
                                                  "connection lost"))
        return events

    def poll(self, now: float) -> tuple[list[Probe], list[QualifyEvent]]:
        """Probes to send now and events from timed-out probes."""
        probes: list[Probe] = []
        events: list[QualifyEvent] = []
        while self._heap and self._heap[0][0] <= now:
            when, key = heapq.heappop(self._heap)
            target = self._targets.get(key)
            if target is None or target.deadline != when:
                continue
            if target.outstanding is not None and target.outstanding_since + self.timeout <= now:
                self._probes.pop(target.outstanding, None)
                target.outstanding = None
                events.extend(self._miss(target, f"no answer to qualify OPTIONS within"
                                                 f" {self.timeout:g} s"))
            kind = target.kind
            if kind is not None and target.outstanding is None and target.next_probe <= now:
                self._next_probe_id += 1
                probe = Probe(self._next_probe_id, kind, target.aor, target.contact, target.peer)
                probes.append(probe)
                if kind == "options":
                    target.outstanding = probe.probe_id
                    target.outstanding_since = now
                    self._probes[probe.probe_id] = key
                target.next_probe = now + self.interval
            self._schedule(target)
        return probes, events

    # -- queries ----------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        while self._heap:
            when, key = self._heap[0]
            target = self._targets.get(key)
            if target is not None and target.deadline == when:
                return when
            heapq.heappop(self._heap)
        return None

    def is_reachable(self, aor: str, contact: str) -> bool | None:
        target = self._targets.get((aor, contact))
        return None if target is None else target.reachable

    def __len__(self) -> int:
        return len(self._targets)

    @property
    def unreachable(self) -> int:
        return sum(1 for target in self._targets.values() if not target.reachable)

    # -- internals --------------------------------------------------------------------------

    def _miss(self, target: _Target, reason: str) -> list[QualifyEvent]:
        target.misses += 1
        if target.reachable and target.misses >= self.misses:
            target.reachable = False
            return [EndpointUnreachable(target.aor, target.contact,
                                        f"{reason} ({target.misses} in a row)")]
        return []

    def _forget_outstanding(self, target: _Target) -> None:
        if target.outstanding is not None:
            self._probes.pop(target.outstanding, None)
            target.outstanding = None

    def _schedule(self, target: _Target) -> None:
        if target.outstanding is not None:
            deadline: float | None = target.outstanding_since + self.timeout
        elif target.kind is not None:
            deadline = target.next_probe
        else:
            deadline = None
        target.deadline = deadline
        if deadline is not None:
            if target.key is None:
                target.key = (target.aor, target.contact)
            heapq.heappush(self._heap, (deadline, target.key))
