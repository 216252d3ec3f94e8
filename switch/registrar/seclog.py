"""The security log: one line per authentication outcome and ban, for people and fail2ban.

Logger ``switch.security``. Every line starts with a fixed phrase and ``source=ADDRESS``, so a
fail2ban filter can anchor on it (docs/security.md has one, and a test runs it through
``fail2ban-regex``)::

    auth failed: source=192.0.2.7 user="1001" reason=wrong-password method=REGISTER transport=udp
    registered: source=192.0.2.8 user="1002" aor=sip:1002@example.com contact=... expires=600
    ban started: source=192.0.2.7 scope=user user="1001" for=300s reason=...
    ban ended: source=192.0.2.7 scope=user user="1001" why=lifted

Never a password, an HA1 or an Authorization header: only what the client sent in the clear
(its username) and our verdict. The username is attacker-chosen, so it is quoted with every
character outside printable ASCII, the quote and the backslash escaped: a crafted username
cannot forge a second line, or a ``source=`` that would make fail2ban ban someone else.
"""

from __future__ import annotations

import logging

from ..sip.address import Peer
from .bans import Ban, BanEnded

log = logging.getLogger("switch.security")

MAX_USERNAME = 64

# Why an authentication failed, as the log names it (stable words: filters match on them).
WRONG_PASSWORD = "wrong-password"
UNKNOWN_USER = "unknown-user"
STALE_NONCE = "stale-nonce"
REPLAYED_NONCE = "replayed-nonce"
FOREIGN_NONCE = "foreign-nonce"  # a nonce we never issued (or from before a key change)
BAD_CREDENTIALS = "bad-credentials"  # malformed, wrong realm/uri/algorithm/qop
BLOCKED = "blocked"  # the source may not try this username now (a ban is active)


def quote_user(username: str | None) -> str:
    """``"name"`` with anything that could break the line escaped; ``-`` when absent."""
    if username is None:
        return "-"
    out = []
    for char in username[:MAX_USERNAME]:
        if char in '"\\' or not " " <= char <= "~":
            out.append(f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
        else:
            out.append(char)
    suffix = "..." if len(username) > MAX_USERNAME else ""
    return '"' + "".join(out) + suffix + '"'


def auth_failed(peer: Peer, username: str | None, reason: str, method: str) -> None:
    log.warning("auth failed: source=%s user=%s reason=%s method=%s transport=%s",
                peer.host, quote_user(username), reason, _token(method), peer.transport)


def registered(peer: Peer, username: str, aor: str, contact: str, expires: int) -> None:
    log.info("registered: source=%s user=%s aor=%s contact=%s expires=%d transport=%s",
             peer.host, quote_user(username), _token(aor), _token(contact), expires,
             peer.transport)


def ban_started(ban: Ban) -> None:
    log.warning("ban started: source=%s scope=%s user=%s for=%gs reason=%s", ban.source,
                ban.scope, quote_user(ban.username), ban.until - ban.started_at, ban.reason)


def ban_ended(event: BanEnded) -> None:
    ban = event.ban
    log.info("ban ended: source=%s scope=%s user=%s why=%s", ban.source, ban.scope,
             quote_user(ban.username), event.why)


def _token(text: str) -> str:
    """A value we parsed (method, URI): printable, no spaces, bounded."""
    cleaned = "".join(c if "!" <= c <= "~" else "?" for c in text[:200])
    return cleaned or "-"
