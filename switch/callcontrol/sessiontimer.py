"""Session timers (RFC 4028): a dead call must not hang forever.

A session is refreshed by a re-INVITE or UPDATE at least every ``Session-Expires`` seconds by
one side, the refresher. The UAS (us, for incoming calls) decides from the INVITE:

- ``Session-Expires`` below our ``Min-SE`` is refused with 422 and our ``Min-SE`` (§6);
- the interval is the caller's ``Session-Expires``, else ours, never below either ``Min-SE``
  (§9);
- the refresher is what the caller asked for; when it did not say, the caller refreshes if it
  supports timers (``Supported: timer``, as JsSIP does), else we do (§9: a UAC that does not
  support the extension cannot refresh);
- the 2xx carries ``Session-Expires: N;refresher=uac|uas`` and, when the caller supports the
  extension, ``Require: timer`` (§9).

Deadlines (§10): the refresher refreshes at half the interval; the other side, having heard
nothing, sends BYE at ``interval - min(32, interval / 3)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..sip.headers import split_list
from ..sip.message import Request

DEFAULT_INTERVAL = 1800  # RFC 4028 §4 recommends 1800 s
MIN_SE = 90              # §5: never below 90 s

_SE = re.compile(r"^\s*(\d{1,10})\s*(?:;(.*))?$")


class TooSmall(Exception):
    """The caller's interval is under our minimum: answer 422 with ``Min-SE: min_se``."""

    def __init__(self, min_se: int) -> None:
        super().__init__(f"Session-Expires below Min-SE {min_se}")
        self.min_se = min_se


@dataclass(frozen=True, slots=True)
class SessionTimer:
    interval: int
    we_refresh: bool
    caller_supports: bool

    def response_headers(self) -> list[tuple[str, str]]:
        refresher = "uas" if self.we_refresh else "uac"
        headers = [("Session-Expires", f"{self.interval};refresher={refresher}")]
        if self.caller_supports:
            headers.append(("Require", "timer"))
        return headers

    def deadline(self, refreshed_at: float) -> float:
        """When we act next: refresh (we are the refresher) or give up with BYE (§10)."""
        if self.we_refresh:
            return refreshed_at + self.interval / 2
        return refreshed_at + self.interval - min(32, self.interval / 3)


def _option_tags(request: Request, name: str) -> set[str]:
    return {tag.lower() for value in request.headers.getall(name) for tag in split_list(value)}


def negotiate(request: Request, *, interval: int = DEFAULT_INTERVAL,
              min_se: int = MIN_SE) -> SessionTimer:
    """The session timer of an incoming INVITE; TooSmall when it must be refused (422)."""
    supports = "timer" in _option_tags(request, "Supported") | _option_tags(request, "Require")
    their_min = request.header_int("Min-SE") or MIN_SE
    floor = max(min_se, their_min)
    raw = request.headers.get("Session-Expires")  # the compact form "x" is expanded at parse
    asked: int | None = None
    refresher: str | None = None
    if raw is not None:
        match = _SE.match(raw)
        if match is not None:
            asked = int(match.group(1))
            params = match.group(2) or ""
            found = re.search(r"refresher\s*=\s*(uac|uas)", params, re.IGNORECASE)
            refresher = found.group(1).lower() if found else None
    if asked is not None and asked < min_se:
        raise TooSmall(min_se)
    chosen = max(asked if asked is not None else interval, floor)
    if refresher is None:
        refresher = "uac" if supports else "uas"
    elif refresher == "uac" and not supports:
        refresher = "uas"  # §9: a caller without the extension cannot be the refresher
    return SessionTimer(chosen, we_refresh=refresher == "uas", caller_supports=supports)
