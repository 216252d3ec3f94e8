"""Flow versions: edit a draft, validate it, publish it as the next version number. Pure.

Why versions: an admin publishing a new menu must not change the flow under a caller who is
half-way through the old one (their menu options would change between two key presses). A
session keeps the :class:`Flow` object of the version it started on (``IvrSession(flow,
version, ...)``); the store only decides what *new* calls get, and keeps every published
version so a running call's version, and the audit trail, stay readable.

The store holds plain data for drafts (exactly what the API or a YAML file gave) and
validated :class:`Flow` objects for published versions; publishing validates with the same
rules as the config loader (:func:`switch.ivr.validate.load_flow`), so a bad draft can be
saved and shown with its problems, but never reaches a call. Persistence (the SQL store) is a
layer above: it saves what :meth:`FlowStore.export` returns and replays it with
:meth:`FlowStore.restore`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .schema import Flow
from .validate import FlowError, flow_problems, load_flow


class UnknownFlow(LookupError):
    """No such flow, draft or version."""


@dataclass(frozen=True, slots=True)
class Published:
    version: int
    flow: Flow
    data: Any  # the plain data it was published from (for export and diff)


class FlowStore:
    """Drafts and published versions of every flow, by name. ``known_*`` are the routing
    names the validator checks queue, skill and tier references against (None: unchecked)."""

    def __init__(self, *, known_queues: set[str] | None = None,
                 known_skills: set[str] | None = None,
                 known_tiers: set[str] | None = None) -> None:
        self._context: dict[str, set[str] | None] = {
            "known_queues": known_queues, "known_skills": known_skills,
            "known_tiers": known_tiers}
        self._drafts: dict[str, Any] = {}
        self._versions: dict[str, list[Published]] = {}
        self._current: dict[str, int] = {}

    @classmethod
    def from_config(cls, flows: Mapping[str, Any], **known: set[str] | None) -> FlowStore:
        """A store with each configured flow published as version 1 (raises FlowError with
        every problem of every flow)."""
        store = cls(**known)
        problems = [line for name, data in flows.items()
                    for line in flow_problems(name, data, **store._context)]
        if problems:
            raise FlowError(problems)
        for name, data in flows.items():
            store.save_draft(name, data)
            store.publish(name)
        return store

    def names(self) -> list[str]:
        return sorted(set(self._drafts) | set(self._current))

    # -- drafts --------------------------------------------------------------------------

    def save_draft(self, name: str, data: Any) -> list[str]:
        """Store ``data`` as the draft of ``name`` (kept even when invalid, so an editor can
        save work in progress); returns its problems."""
        self._drafts[name] = copy.deepcopy(data)
        return self.validate(name)

    def draft(self, name: str) -> Any:
        if name not in self._drafts:
            raise UnknownFlow(f"flow {name!r} has no draft")
        return copy.deepcopy(self._drafts[name])

    def discard_draft(self, name: str) -> None:
        self._drafts.pop(name, None)

    def validate(self, name: str) -> list[str]:
        """The draft's problems (``ivr.NAME.path: message`` lines); empty when publishable."""
        if name not in self._drafts:
            raise UnknownFlow(f"flow {name!r} has no draft")
        return flow_problems(name, self._drafts[name], **self._context)

    # -- versions ------------------------------------------------------------------------

    def publish(self, name: str) -> int:
        """Validate the draft and make it the next version, used by calls that start from
        now on; returns the version number (1, 2, ...). FlowError lists the problems."""
        if name not in self._drafts:
            raise UnknownFlow(f"flow {name!r} has no draft")
        data = copy.deepcopy(self._drafts[name])
        flow = load_flow(name, data, **self._context)
        history = self._versions.setdefault(name, [])
        version = len(history) + 1
        history.append(Published(version, flow, data))
        self._current[name] = version
        return version

    def activate(self, name: str, version: int) -> None:
        """Make an earlier (or later) published version current again: a rollback."""
        self.get(name, version)
        self._current[name] = version

    def current(self, name: str) -> tuple[int, Flow]:
        """(version, flow) that a new call to ``name`` runs."""
        if name not in self._current:
            raise UnknownFlow(f"flow {name!r} has no published version")
        version = self._current[name]
        return version, self._versions[name][version - 1].flow

    def get(self, name: str, version: int) -> Flow:
        history = self._versions.get(name, [])
        if not 1 <= version <= len(history):
            raise UnknownFlow(f"flow {name!r} has no version {version}")
        return history[version - 1].flow

    def versions(self, name: str) -> list[int]:
        return [p.version for p in self._versions.get(name, [])]

    # -- persistence ---------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """Everything as plain data: ``{name: {draft, current, versions: [data, ...]}}``."""
        out: dict[str, Any] = {}
        for name in self.names():
            out[name] = {"draft": copy.deepcopy(self._drafts.get(name)),
                         "current": self._current.get(name),
                         "versions": [copy.deepcopy(p.data)
                                      for p in self._versions.get(name, [])]}
        return out

    def restore(self, exported: Mapping[str, Any]) -> None:
        """Load what :meth:`export` gave; every version is validated again (the routing
        configuration may have changed: a version naming a removed queue is refused)."""
        for name, item in exported.items():
            versions: Iterable[Any] = item.get("versions") or []
            history = [Published(i, load_flow(name, data, **self._context), data)
                       for i, data in enumerate(versions, start=1)]
            self._versions[name] = history
            if item.get("current") is not None:
                self.activate(name, int(item["current"]))
            if item.get("draft") is not None:
                self._drafts[name] = copy.deepcopy(item["draft"])
