"""The registrar as a pure transaction user: REGISTER + source + ``now`` -> response + events.

It follows RFC 3261 §10.3 in order: the domain of the Request-URI (step 1), authentication
(step 3, digest per RFC 7616 via the injected challenger), authorization (step 4: the
authenticated user must be the user of the To AOR, else 403), then the contacts (step 6:
expiry, 423 Interval Too Brief with Min-Expires; step 7: the location service applies them
atomically) and a 200 listing every current binding with its remaining expiry (step 8).

Authentication failures look the same whatever their cause: an unknown user and a wrong
password get the same 401 (only the fresh nonce differs), so the registrar is no oracle for
account names. Each failure goes to the security log (switch/registrar/seclog.py, with the
real reason, for operators and fail2ban) and is counted per (source, username) by
:class:`switch.registrar.bans.Bans`: a username that keeps failing from a source is blocked
there, a source that behaves like a scanner is banned outright; requests from a blocked pair
are dropped unanswered.

Nothing here reads a clock: the node passes ``now`` and, optionally, the Date header text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..config import RegistrarSection
from ..sip.address import Peer
from ..sip.auth import BAD_CREDENTIALS
from ..sip.errors import ParseError
from ..sip.message import Request, Response
from ..sip.reply import reply as build_reply
from ..sip.uri import SipUri
from . import seclog
from .bans import Bans, BanStarted
from .locations import (
    BindingEvent,
    ContactRegistered,
    ContactUpdate,
    LocationService,
    OutOfOrder,
)

HA1Lookup = Callable[[str, str, str], str | None]  # (username, realm, algorithm) -> HA1 hex


class AuthOutcome(Protocol):
    """What :class:`switch.sip.auth.AuthResult` offers (read-only)."""

    @property
    def ok(self) -> bool: ...
    @property
    def username(self) -> str | None: ...
    @property
    def stale(self) -> bool: ...
    @property
    def reason(self) -> str: ...


class Challenger(Protocol):
    """The part of :class:`switch.sip.auth.DigestChallenger` the node relies on."""

    def challenge(self, now: float, stale: bool = False) -> list[str]: ...
    def verify(self, authorization: str, method: str, lookup_ha1: HA1Lookup, now: float, *,
               request_uri: str | None = None, body: bytes = b"") -> AuthOutcome: ...


def local_tag(request: Request, secret: bytes) -> str:
    """A To tag for our responses, derived from the request's dialog-forming identity.

    Deterministic (no randomness in the pure core, and two identical failures give identical
    responses); keyed with the node secret so it reveals nothing.
    """
    try:
        seed = f"{request.call_id}|{request.from_.tag or ''}"
    except ParseError:
        seed = request.headers.get("Call-ID") or ""
    return hashlib.blake2s(seed.encode("utf-8", "surrogateescape"), key=secret[:32],
                           digest_size=8).hexdigest()


_REALM = re.compile(r'realm\s*=\s*"([^"]*)"', re.IGNORECASE)


@dataclass(slots=True)
class AuthCheck:
    username: str | None = None      # set when the credentials are good
    challenge: list[str] = field(default_factory=list)  # header values when not
    events: list[object] = field(default_factory=list)
    drop: bool = False  # the source may not try this username now: send nothing


# What the challenger's failure reasons mean for the security log.
_NONCE_REASONS = {"nonce expired": seclog.STALE_NONCE,
                  "nonce count replayed": seclog.REPLAYED_NONCE,
                  "nonce not issued by us": seclog.FOREIGN_NONCE}


class Authenticator:
    """Digest authentication of a request against the accounts, shared by REGISTER (401,
    WWW-Authenticate/Authorization) and INVITE (407, Proxy-Authenticate/Proxy-Authorization,
    RFC 3261 §22.3)."""

    def __init__(self, challenger: Challenger, lookup_ha1: HA1Lookup, realm: str,
                 bans: Bans, known_user: Callable[[str], bool] | None = None) -> None:
        self.challenger = challenger
        self.lookup_ha1 = lookup_ha1
        self.realm = realm
        self.bans = bans
        # Only for the security log's reason (unknown-user vs wrong-password): never for the
        # answer, which is the same either way.
        self.known_user = known_user or (lambda name: False)

    def check(self, request: Request, header: str, peer: Peer, now: float) -> AuthCheck:
        credentials = self._credentials_for_our_realm(request, header)
        if credentials is None:
            return AuthCheck(challenge=self.challenger.challenge(now))
        # §22.4: the digest uri must name this request's Request-URI (no replay elsewhere).
        result = self.challenger.verify(credentials, request.method, self.lookup_ha1, now,
                                        request_uri=str(request.uri), body=request.body)
        tried = result.username or ""
        if self.bans.is_blocked(peer.host, tried, now):
            return AuthCheck(drop=True)  # said in the log when the ban started
        if result.ok and result.username:
            self.bans.record_success(peer.host, result.username)
            return AuthCheck(username=result.username)
        reason = self._reason(result.reason, tried)
        seclog.auth_failed(peer, result.username, reason, request.method)
        if reason == seclog.STALE_NONCE:
            # RFC 7616 §3.3: a good digest over an expired nonce is no failure; ask again.
            return AuthCheck(challenge=self.challenger.challenge(now, stale=True))
        check = AuthCheck(challenge=self.challenger.challenge(now, stale=result.stale))
        ban = self.bans.record_failure(peer.host, tried, now)
        if ban is not None:
            seclog.ban_started(ban)
            check.events.append(BanStarted(ban))
        return check

    def _reason(self, verdict: str, username: str) -> str:
        if verdict in _NONCE_REASONS:
            return _NONCE_REASONS[verdict]
        if verdict == BAD_CREDENTIALS:
            return seclog.WRONG_PASSWORD if self.known_user(username) else seclog.UNKNOWN_USER
        return seclog.BAD_CREDENTIALS

    def _credentials_for_our_realm(self, request: Request, header: str) -> str | None:
        for value in request.headers.fields(header):
            match = _REALM.search(value)
            if match and match.group(1) == self.realm:
                return value
        return None


@dataclass(slots=True)
class RegistrarResult:
    response: Response | None  # None: send nothing (a blocked source)
    events: list[object] = field(default_factory=list)


class Registrar:
    def __init__(self, settings: RegistrarSection, locations: LocationService,
                 auth: Authenticator, *, domain: str, serves_host: Callable[[str], bool],
                 secret: bytes) -> None:
        self.settings = settings
        self.locations = locations
        self.auth = auth
        self.domain = domain
        self.serves_host = serves_host
        self.secret = secret

    def aor_for(self, user: str) -> str:
        """Canonical AOR: the user at our domain, whatever host the client typed."""
        return f"sip:{user}@{self.domain}"

    def handle(self, request: Request, peer: Peer, now: float,
               date: str | None = None) -> RegistrarResult:
        tag = local_tag(request, self.secret)

        def reply(status: int, reason: str | None = None,
                  extra: list[tuple[str, str]] | None = None) -> Response:
            return build_reply(request, status, reason, to_tag=tag, extra=extra)

        # Step 1: the Request-URI names a domain we serve.
        uri = request.uri
        if not isinstance(uri, SipUri):
            return RegistrarResult(reply(416))
        if not self.serves_host(uri.host):
            return RegistrarResult(reply(404, "Domain Not Served"))
        # The AOR of a REGISTER must be a SIP or SIPS URI (RFC 4475 §3.3.4 unksm2 wants 400);
        # that is the request's syntax, checked before a challenge is spent on it.
        if not isinstance(request.to.uri, SipUri):
            return RegistrarResult(reply(400, "Bad Request (To must be a SIP or SIPS URI)"))
        # Step 3: authenticate.
        check = self.auth.check(request, "Authorization", peer, now)
        if check.drop:
            return RegistrarResult(None)
        if check.username is None:
            extra = [("WWW-Authenticate", value) for value in check.challenge]
            return RegistrarResult(reply(401, extra=extra), check.events)
        # Step 4: the authenticated user may only register its own AOR.
        to_uri = request.to.uri
        if not isinstance(to_uri, SipUri) or to_uri.user is None:
            return RegistrarResult(reply(404, "Address Of Record Not Found"))
        if to_uri.user != check.username:
            return RegistrarResult(reply(403, "Forbidden (To user is not the authenticated"
                                              " user)"))
        if not self.serves_host(to_uri.host):
            return RegistrarResult(reply(404, "Domain Not Served"))
        aor = self.aor_for(to_uri.user)
        try:
            return self._update(request, reply, aor, peer, now, date)
        except ParseError as exc:
            return RegistrarResult(reply(exc.status, f"Bad Request ({exc.reason})"))

    def _update(self, request: Request, reply: Callable[..., Response], aor: str, peer: Peer,
                now: float, date: str | None) -> RegistrarResult:
        settings = self.settings
        header_expires = request.header_int("Expires")
        raw_contacts = [v.strip() for v in request.headers.getall("Contact")]
        call_id, cseq = request.call_id, request.cseq.seq
        try:
            if "*" in raw_contacts:
                # §10.3 step 6: "*" only alone and only with Expires: 0.
                if len(raw_contacts) != 1 or header_expires != 0:
                    return RegistrarResult(reply(400, "Bad Request (Contact: * needs Expires: 0"
                                                      " and no other contact)"))
                removed = self.locations.remove_all(aor, call_id=call_id, cseq=cseq, now=now)
                return RegistrarResult(self._ok(request, reply, aor, now, date), list(removed))
            updates: list[ContactUpdate] = []
            for contact in request.contacts:
                if not isinstance(contact.uri, SipUri):
                    return RegistrarResult(reply(400, "Bad Request (Contact must be a SIP URI)"))
                expires = self._expires(contact.param("expires"), header_expires)
                if 0 < expires < settings.min_expires:
                    return RegistrarResult(reply(423, extra=[("Min-Expires",
                                                              str(settings.min_expires))]))
                updates.append(ContactUpdate(
                    uri=contact.uri, expires=min(expires, settings.max_expires),
                    q=_q_value(contact.param("q")),
                    instance_id=contact.param("+sip.instance"),
                    reg_id=_int_or_none(contact.param("reg-id"))))
            events: list[BindingEvent] = []
            if updates:
                events = self.locations.apply(aor, updates, call_id=call_id, cseq=cseq,
                                              peer=peer, now=now,
                                              user_agent=request.headers.get("User-Agent"))
                for event in events:
                    if isinstance(event, ContactRegistered):
                        seclog.registered(peer, _user_of(aor), aor, event.contact,
                                          event.expires)
        except OutOfOrder:
            # §10.3 step 7: the whole request fails and no binding changes.
            return RegistrarResult(reply(500, "Server Internal Error (out of order REGISTER)",
                                         extra=[("Retry-After", "1")]))
        return RegistrarResult(self._ok(request, reply, aor, now, date), list(events))

    def _expires(self, param: str | None, header: int | None) -> int:
        # §10.2.1.1: the Contact's expires parameter, else the Expires header, else our default.
        if param is not None:
            text = param.strip()
            if not text.isdigit() or len(text) > 10:
                raise ParseError(f"Contact expires is not a number: {text[:20]!r}")
            return int(text)
        if header is not None:
            return header
        return self.settings.default_expires

    def _ok(self, request: Request, reply: Callable[..., Response], aor: str, now: float,
            date: str | None) -> Response:
        extra: list[tuple[str, str]] = []
        for binding in self.locations.lookup(aor, now):
            params = f";expires={binding.remaining(now)}"
            if binding.q is not None:
                params += f";q={binding.q:g}"
            if binding.instance_id is not None:
                params += f";+sip.instance={binding.instance_id}"
            if binding.reg_id is not None:
                params += f";reg-id={binding.reg_id}"
            extra.append(("Contact", f"<{binding.contact}>{params}"))
        if date is not None:
            extra.append(("Date", date))
        return reply(200, extra=extra)

    # -- time -------------------------------------------------------------------------------

    def expire(self, now: float) -> list[object]:
        return list(self.locations.expire(now))

    def next_deadline(self) -> float | None:
        return self.locations.next_expiry()


def _user_of(aor: str) -> str:
    return aor.removeprefix("sip:").partition("@")[0]


def _q_value(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ParseError(f"Contact q is not a number: {text[:20]!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ParseError("Contact q must be between 0 and 1")
    return value


def _int_or_none(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    return int(text)
