"""What operators see and change at run time: the pure half of ``switchboard ctl``.

The views turn the node's state into plain rows (what ``kamctl ul show`` or ``pjsip show
contacts`` print); :func:`plan_reload` decides what a new configuration changes. Both are pure:
the node passes its parts and ``now``, the HTTP edge (``switch/api/control.py``) serialises.

Reload rules: everything that is policy is applied at once (accounts, numbers, IVR flows,
routing, security limits, registrar intervals); what is bound to a socket or to identities
already handed out (listeners, the HTTP address, TLS files, domain, realm, nonce secret, data
directory, message size limit) keeps its old value until a restart, and the reload says so.
Registrations survive a reload; those of accounts the new config no longer has are removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import SwitchConfig
from .registrar.bans import Ban, Bans
from .registrar.locations import LocationService
from .registrar.qualify import Qualifier

# Settings that only take effect at a restart: (section, field) or (top-level key, None).
RESTART_ONLY: tuple[tuple[str, str | None], ...] = (
    ("listeners", None), ("tls", None),
    ("http", "listen"),
    ("node", "domain"), ("node", "realm"), ("node", "nonce_secret"), ("node", "data_dir"),
    ("security", "max_message_size"),
    ("media", None),
)


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    config: SwitchConfig        # what to run: the new config with restart-only values kept
    needs_restart: list[str]    # dotted names of settings that changed but wait for a restart
    removed_accounts: list[str]  # usernames whose registrations go


@dataclass(slots=True)
class ReloadOutcome:
    applied: bool
    problems: list[str] = field(default_factory=list)   # why it was refused
    needs_restart: list[str] = field(default_factory=list)
    removed_registrations: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "problems": self.problems,
                "needs_restart": self.needs_restart,
                "removed_registrations": self.removed_registrations}


def plan_reload(old: SwitchConfig, new: SwitchConfig) -> ReloadPlan:
    kept: dict[str, Any] = {}
    pending: list[str] = []
    for section, name in RESTART_ONLY:
        if name is None:
            if getattr(old, section) != getattr(new, section):
                pending.append(section)
                kept[section] = getattr(old, section)
            continue
        old_part, new_part = getattr(old, section), getattr(new, section)
        if getattr(old_part, name) != getattr(new_part, name):
            pending.append(f"{section}.{name}")
            base = kept.get(section, new_part)
            kept[section] = base.model_copy(update={name: getattr(old_part, name)})
    config = new.model_copy(update=kept) if kept else new
    remaining = {a.username for a in new.accounts}
    removed = sorted(a.username for a in old.accounts if a.username not in remaining)
    return ReloadPlan(config, pending, removed)


# -- views ------------------------------------------------------------------------------------

def registrations_view(locations: LocationService, qualifier: Qualifier,
                       now: float) -> list[dict[str, Any]]:
    """One row per AOR with its live contacts: URI, transport and source, seconds left,
    reachability (None: not probed yet), user agent."""
    by_aor: dict[str, list[dict[str, Any]]] = {}
    for binding in locations:
        if binding.expires_at <= now:
            continue
        by_aor.setdefault(binding.aor, []).append({
            "contact": binding.contact,
            "transport": binding.peer.transport,
            "source": f"{binding.peer.host}:{binding.peer.port}",
            "expires_in": binding.remaining(now),
            "reachable": qualifier.is_reachable(binding.aor, binding.contact),
            "user_agent": binding.user_agent,
            "q": binding.q,
        })
    return [{"aor": aor, "contacts": contacts} for aor, contacts in sorted(by_aor.items())]


def ban_row(ban: Ban, now: float) -> dict[str, Any]:
    return {"source": ban.source, "scope": ban.scope, "username": ban.username,
            "reason": ban.reason, "started_at": ban.started_at, "until": ban.until,
            "remaining": max(0, round(ban.until - now))}


def bans_view(bans: Bans, now: float) -> list[dict[str, Any]]:
    return [ban_row(ban, now) for ban in bans.active(now)]
