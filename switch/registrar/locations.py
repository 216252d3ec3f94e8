"""The location service: address of record -> current contact bindings (RFC 3261 §10.3).

Pure data structure, time passed in as ``now``. One :meth:`LocationService.apply` call is one
REGISTER's step 7: every contact of the request is checked against the stored bindings first,
and only when all of them are acceptable are the changes committed (§10.3 step 7: "committed
if and only if all binding updates and additions succeed"), otherwise :class:`OutOfOrder` is
raised and nothing changes.

Binding identity: a contact carrying ``+sip.instance`` (RFC 5626 §4.1, RFC 5627) is the same
binding as a stored one with the same instance (and ``reg-id``, when given), whatever its URI:
a softphone that restarts on a new port replaces its old binding instead of piling up dead
ones. Without an instance the contact URIs are compared by RFC 3261 §19.1.4.

Capacity: at most ``max_contacts`` bindings per AOR. A new binding beyond the limit evicts the
oldest one (a ContactRemoved with reason "evicted"), because the usual cause is a phone that
re-registered from a new address without unregistering the old one.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..sip.address import Peer
from ..sip.uri import SipUri, parse_uri

# -- events (past tense, frozen; published on the node's bus) ------------------------------


@dataclass(frozen=True, slots=True)
class ContactRegistered:
    aor: str
    contact: str
    expires: int
    peer: Peer


@dataclass(frozen=True, slots=True)
class ContactRefreshed:
    aor: str
    contact: str
    expires: int
    peer: Peer


@dataclass(frozen=True, slots=True)
class ContactRemoved:
    aor: str
    contact: str
    reason: str  # "unregistered" | "evicted" | "account removed"
    # Where the binding was registered from: the node unpins its stream connection.
    peer: Peer | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ContactExpired:
    aor: str
    contact: str
    peer: Peer | None = field(default=None, compare=False)


BindingEvent = ContactRegistered | ContactRefreshed | ContactRemoved | ContactExpired


class OutOfOrder(Exception):
    """A REGISTER with the Call-ID of a binding but a CSeq not higher than the stored one
    (§10.3 step 7): the request fails as a whole with ``status``."""

    status = 500

    def __init__(self, contact: str) -> None:
        super().__init__(f"REGISTER for {contact} is older than the stored binding"
                         " (same Call-ID, CSeq not higher)")
        self.contact = contact


@dataclass(frozen=True, slots=True)
class ContactUpdate:
    """One Contact of a REGISTER after the registrar resolved its expiry (0 = remove)."""

    uri: SipUri
    expires: int
    q: float | None = None
    instance_id: str | None = None
    reg_id: int | None = None


class Binding:
    """One stored contact of an AOR (immutable: a refresh stores a new one).

    Kept compact, because the node holds one per registered phone: the contact URI is stored
    as its text (the same string object the binding events carry, so the qualifier shares
    it) and parsed again only when asked for (``uri``: routing a call, comparing on
    refresh); ``parse_uri(str(uri))`` equals ``uri`` (tests/registrar/test_locations.py).
    """

    __slots__ = (
        "aor",
        "call_id",
        "contact",
        "cseq",
        "expires_at",
        "instance_id",
        "peer",
        "q",
        "reg_id",
        "registered_at",
        "user_agent",
    )

    aor: str
    contact: str
    expires_at: float
    peer: Peer
    call_id: str
    cseq: int
    registered_at: float
    q: float | None
    instance_id: str | None
    reg_id: int | None
    user_agent: str | None

    def __init__(self, aor: str, uri: SipUri | str, expires_at: float, peer: Peer,
                 call_id: str, cseq: int, registered_at: float, q: float | None = None,
                 instance_id: str | None = None, reg_id: int | None = None,
                 user_agent: str | None = None) -> None:
        setter = object.__setattr__
        setter(self, "aor", aor)
        setter(self, "contact", uri if isinstance(uri, str) else str(uri))
        setter(self, "expires_at", expires_at)
        setter(self, "peer", peer)
        setter(self, "call_id", call_id)
        setter(self, "cseq", cseq)
        setter(self, "registered_at", registered_at)
        setter(self, "q", q)
        setter(self, "instance_id", instance_id)
        setter(self, "reg_id", reg_id)
        setter(self, "user_agent", user_agent)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Binding is immutable (cannot set {name})")

    @property
    def uri(self) -> SipUri:
        uri = parse_uri(self.contact)
        assert isinstance(uri, SipUri)  # stored from a SipUri (apply checks it)
        return uri

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in Binding.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Binding):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in Binding.__slots__)
        return f"Binding({inner})"

    def remaining(self, now: float) -> int:
        """Whole seconds left, rounded up so a live binding never shows ``expires=0``."""
        return max(0, math.ceil(self.expires_at - now))

    def same_binding(self, update: ContactUpdate, update_contact: str | None = None) -> bool:
        if update.instance_id is not None and self.instance_id is not None:
            return (update.instance_id == self.instance_id
                    and (update.reg_id is None or self.reg_id is None
                         or update.reg_id == self.reg_id))
        if update_contact is not None and update_contact == self.contact:
            return True  # the same text is the same URI (the usual refresh)
        return self.uri.matches(update.uri)


# User-Agent texts repeat across phones (a fleet runs a few firmware versions): keep one copy.
_USER_AGENTS: dict[str, str] = {}
_USER_AGENTS_MAX = 1024


def _shared_user_agent(text: str | None) -> str | None:
    if text is None:
        return None
    shared = _USER_AGENTS.get(text)
    if shared is None:
        if len(_USER_AGENTS) >= _USER_AGENTS_MAX:
            return text
        shared = _USER_AGENTS[text] = text
    return shared


class LocationService:
    def __init__(self, max_contacts: int = 5) -> None:
        self.max_contacts = max_contacts
        self._bindings: dict[str, list[Binding]] = {}
        # (expires_at, aor): lazily cleaned; a popped entry is re-checked. No tie-breaking
        # sequence: equal times order by AOR, and the entry stays two objects smaller.
        self._heap: list[tuple[float, str]] = []

    # -- queries ----------------------------------------------------------------------------

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Live bindings of ``aor``, highest q first, then most recently registered."""
        live = [b for b in self._bindings.get(aor, ()) if b.expires_at > now]
        return sorted(live, key=lambda b: (-(b.q if b.q is not None else 1.0),
                                           -b.registered_at))

    def __iter__(self) -> Iterator[Binding]:
        for bindings in self._bindings.values():
            yield from bindings

    def __len__(self) -> int:
        return sum(len(b) for b in self._bindings.values())

    @property
    def aor_count(self) -> int:
        return len(self._bindings)

    def next_expiry(self) -> float | None:
        while self._heap:
            when, aor = self._heap[0]
            if any(b.expires_at == when for b in self._bindings.get(aor, ())):
                return when
            heapq.heappop(self._heap)
        return None

    # -- changes ----------------------------------------------------------------------------

    def apply(self, aor: str, updates: list[ContactUpdate], *, call_id: str, cseq: int,
              peer: Peer, now: float, user_agent: str | None = None) -> list[BindingEvent]:
        """Apply one REGISTER's contacts atomically; raise OutOfOrder and change nothing if
        any contact is older than its stored binding."""
        current, events = self._live(aor, now)
        staged = list(current)
        user_agent = _shared_user_agent(user_agent)
        for update in updates:
            contact = str(update.uri)
            index = next((i for i, b in enumerate(staged) if b.same_binding(update, contact)),
                         None)
            if index is not None:
                old = staged[index]
                if old.call_id == call_id and cseq <= old.cseq:
                    raise OutOfOrder(contact)
                if update.expires == 0:
                    del staged[index]
                    events.append(ContactRemoved(aor, old.contact, "unregistered", old.peer))
                    continue
                staged[index] = Binding(
                    aor, contact, now + update.expires, peer, call_id, cseq,
                    old.registered_at, update.q, update.instance_id, update.reg_id, user_agent)
                events.append(ContactRefreshed(aor, contact, update.expires, peer))
            elif update.expires > 0:
                staged.append(Binding(
                    aor, contact, now + update.expires, peer, call_id, cseq, now, update.q,
                    update.instance_id, update.reg_id, user_agent))
                events.append(ContactRegistered(aor, contact, update.expires, peer))
        while len(staged) > self.max_contacts:
            oldest = min(staged, key=lambda b: b.registered_at)
            staged.remove(oldest)
            events.append(ContactRemoved(aor, oldest.contact, "evicted", oldest.peer))
        self._commit(aor, staged)
        return events

    def remove_all(self, aor: str, *, call_id: str, cseq: int,
                   now: float) -> list[BindingEvent]:
        """``Contact: *`` with ``Expires: 0`` (§10.2.2): drop every binding of ``aor``, unless a
        binding with the same Call-ID has a CSeq not lower than the request's."""
        current, events = self._live(aor, now)
        for binding in current:
            if binding.call_id == call_id and cseq <= binding.cseq:
                raise OutOfOrder(binding.contact)
        self._commit(aor, [])
        events.extend(ContactRemoved(aor, b.contact, "unregistered", b.peer) for b in current)
        return events

    def drop(self, aor: str, reason: str) -> list[ContactRemoved]:
        """Remove every binding of ``aor`` on the node's own account (e.g. the account was
        deleted by a config reload), whatever their Call-ID and CSeq."""
        gone = self._bindings.pop(aor, [])
        return [ContactRemoved(aor, b.contact, reason, b.peer) for b in gone]

    def expire(self, now: float) -> list[ContactExpired]:
        """Remove bindings whose time has come; one ContactExpired per binding."""
        events: list[ContactExpired] = []
        while self._heap and self._heap[0][0] <= now:
            _, aor = heapq.heappop(self._heap)
            bindings = self._bindings.get(aor)
            if not bindings:
                continue
            keep = [b for b in bindings if b.expires_at > now]
            events.extend(ContactExpired(aor, b.contact, b.peer) for b in bindings
                          if b.expires_at <= now)
            if keep:
                self._bindings[aor] = keep
            else:
                del self._bindings[aor]
        return events

    def _live(self, aor: str, now: float) -> tuple[list[Binding], list[BindingEvent]]:
        """Live bindings, and ContactExpired for the ones whose time passed unnoticed (the
        caller commits, so they are dropped then)."""
        live: list[Binding] = []
        expired: list[BindingEvent] = []
        for binding in self._bindings.get(aor, ()):
            if binding.expires_at > now:
                live.append(binding)
            else:
                expired.append(ContactExpired(aor, binding.contact, binding.peer))
        return live, expired

    def _commit(self, aor: str, bindings: list[Binding]) -> None:
        before = {id(b) for b in self._bindings.get(aor, ())}
        if bindings:
            self._bindings[aor] = bindings
        else:
            self._bindings.pop(aor, None)
        for binding in bindings:
            if id(binding) not in before:
                heapq.heappush(self._heap, (binding.expires_at, aor))
