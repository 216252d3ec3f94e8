"""Digest access authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760).

Theory of operation
-------------------
The server side, :class:`DigestChallenger`, is stateless about *issued* nonces: a nonce is
``base64url(issue-ms | instance-salt | counter | HMAC(secret, realm | those fields)[:16])``, so any
node that holds the secret can check that it issued the nonce, and when. The only state is a
bounded map ``nonce -> highest nonce-count seen`` that refuses replays (RFC 7616 §3.4: the server
"SHOULD" check nc; a nonce answered without qop may be used once only, RFC 7616 §5.2).

Outcomes are designed to reveal nothing useful: an unknown user and a wrong password give the
same :class:`AuthResult` (same reason, same hashing work, constant-time comparison), and
``stale`` is set only when the credentials were *right* but the nonce can no longer be used
(expired, or its nonce-count was replayed), so the client may retry with a fresh nonce without
asking its user again (RFC 7616 §3.3 "stale").

Algorithms: MD5 and SHA-256 (plus SHA-512-256 when the local hashlib has it), each also as
``-sess`` (RFC 7616 §3.4.2: ``HA1 = H(H(user:realm:password):nonce:cnonce)``); the session forms
are accepted only when listed in ``algorithms``. qop: ``auth`` and ``auth-int`` (the latter only
when offered; its HA2 covers the body).

The client side, :class:`DigestClient`, answers a challenge (tests, benchmarks, outbound trunks).
The header grammar lives in :mod:`switch.sip.digest_header` (re-exported here).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .digest_header import (
    AuthError,
    AuthParams,
    parse_authorization,
    parse_www_authenticate,
    render_auth,
)
from .errors import ParseError
from .uri import SipUri, parse_uri

__all__ = [
    "AuthError",
    "AuthParams",
    "AuthResult",
    "DigestChallenger",
    "DigestClient",
    "ha1",
    "parse_authorization",
    "parse_www_authenticate",
    "render_auth",
]


# -- hashing ------------------------------------------------------------------------------------

def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha512_256(data: bytes) -> str:
    return hashlib.new("sha512_256", data).hexdigest()


_HASHES: dict[str, Callable[[bytes], str]] = {"MD5": _md5, "SHA-256": _sha256}
if "sha512_256" in hashlib.algorithms_available:  # RFC 7616 §3.2, RFC 8760 §2
    _HASHES["SHA-512-256"] = _sha512_256

# Preference when a client picks among offered algorithms (strongest first, RFC 7616 §3.7).
_STRENGTH = ("SHA-512-256", "SHA-256", "MD5")


def _split_algorithm(name: str) -> tuple[str, bool]:
    """``"sha-256-SESS"`` -> ``("SHA-256", True)``; raises AuthError when unknown."""
    upper = name.upper()
    sess = upper.endswith("-SESS")
    base = upper[:-5] if sess else upper
    if base not in _HASHES:
        raise AuthError(f"unsupported digest algorithm {name[:40]!r}")
    return base, sess


def _canonical(name: str) -> str | None:
    """RFC 7616 spelling (``SHA-256-sess``) of an algorithm name, None when unsupported."""
    try:
        base, sess = _split_algorithm(name)
    except AuthError:
        return None
    return base + "-sess" if sess else base


def ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """``H(username:realm:password)`` in lowercase hex (RFC 7616 §3.4.2), for stored accounts.

    ``algorithm`` may carry ``-sess``; the stored value is the same (the session part is added
    per nonce at verification time).
    """
    base, _ = _split_algorithm(algorithm)
    return _HASHES[base](_octets(f"{username}:{realm}:{password}"))


def _octets(text: str) -> bytes:
    # surrogateescape gives back the exact octets of a header read from the wire, so a
    # non-UTF-8 username hashes as its sender hashed it and never raises
    return text.encode("utf-8", "surrogateescape")


def _response(hash_fn: Callable[[bytes], str], ha1_hex: str, nonce: str, nc: str | None,
              cnonce: str | None, qop: str | None, method: str, uri: str, body: bytes,
              sess: bool) -> str:
    """RFC 7616 §3.4.1 (with RFC 2069 compatibility when qop is absent)."""
    if sess:
        ha1_hex = hash_fn(_octets(f"{ha1_hex}:{nonce}:{cnonce or ''}"))
    if qop == "auth-int":
        ha2 = hash_fn(_octets(f"{method}:{uri}:{hash_fn(body)}"))
    else:
        ha2 = hash_fn(_octets(f"{method}:{uri}"))
    if qop is None:
        return hash_fn(_octets(f"{ha1_hex}:{nonce}:{ha2}"))
    return hash_fn(_octets(f"{ha1_hex}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))


# -- server side --------------------------------------------------------------------------------

LookupHa1 = Callable[[str, str, str], str | None]
"""``lookup_ha1(username, realm, algorithm)`` -> lowercase hex HA1 or None for an unknown user.
``algorithm`` is the base hash name (``"MD5"``, ``"SHA-256"``), never with ``-sess``."""

BAD_CREDENTIALS = "bad credentials"  # one reason for unknown user and wrong password

_NONCE_LAYOUT = struct.Struct(">q6s6s")  # issue time in ms, instance salt, counter
_NONCE_MAC_LEN = 16
_NONCE_RAW_LEN = _NONCE_LAYOUT.size + _NONCE_MAC_LEN
_NONCE_MS_SHIFT = 8 * (_NONCE_LAYOUT.size - 8)  # the payload as an int, shifted to its ms
_NONCE_TEXT = re.compile(r"[A-Za-z0-9_\-]{48}")
_NC = re.compile(r"[0-9A-Fa-f]{8}")
_HEX = re.compile(r"[0-9a-f]+")
_USED_ONCE = 1 << 40  # nc recorded for a nonce answered without qop: no further use


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Outcome of :meth:`DigestChallenger.verify`.

    ``stale`` is True only when the credentials were right but the nonce cannot be used (expired
    or nonce-count replayed): answer 401 with ``challenge(now, stale=True)``.
    ``reason`` is for logs; it never distinguishes an unknown user from a wrong password.
    """

    ok: bool
    username: str | None = None
    stale: bool = False
    reason: str = ""
    algorithm: str | None = None


class DigestChallenger:
    """Issues digest challenges and verifies the answers for one realm.

    ``secret`` is shared by every node of a cluster so that nonces issued by one are accepted
    by all; ``old_secrets`` still verify (key rotation). ``max_nonces`` bounds the replay map.
    """

    def __init__(self, realm: str, secret: bytes, *,
                 algorithms: Sequence[str] = ("SHA-256", "MD5"),
                 nonce_ttl: float = 300.0, qops: Sequence[str] = ("auth",),
                 max_nonces: int = 100_000, max_clock_skew: float = 30.0,
                 old_secrets: Sequence[bytes] = (), salt: bytes | None = None) -> None:
        if len(secret) < 16:
            raise ValueError("digest nonce secret must be at least 16 bytes")
        if not algorithms:
            raise ValueError("at least one digest algorithm is required")
        canonical = [_canonical(name) for name in algorithms]
        if None in canonical:
            raise ValueError(f"unsupported digest algorithm in {list(algorithms)!r}")
        for qop in qops:
            if qop not in ("auth", "auth-int"):
                raise ValueError(f"unsupported qop {qop!r}")
        self.realm = realm
        self.algorithms = tuple(name for name in canonical if name is not None)
        self.nonce_ttl = nonce_ttl
        self.qops = tuple(qops)
        self.max_nonces = max_nonces
        self.max_clock_skew = max_clock_skew
        self._keys = (secret, *old_secrets)
        # per-instance salt + counter make nonces unique without entropy on the hot path
        self._salt = salt if salt is not None else secrets.token_bytes(6)
        if len(self._salt) != 6:
            raise ValueError("salt must be 6 bytes")
        self._counter = 0
        # nonce -> highest nc, LRU order. Keyed by the nonce's payload (issue ms, salt,
        # counter) as an int: it names a nonce whose MAC was verified just as well as its
        # 48-character text, in half the memory (the map holds up to max_nonces entries).
        self._seen: OrderedDict[int, int] = OrderedDict()
        self._floor_ms: int | None = None  # nonces issued at or before this were evicted
        # opaque is derived, not stored, so every node (and every rotated key) agrees on it
        self._opaques = [base64.urlsafe_b64encode(
            hmac.digest(key, b"opaque\0" + realm.encode(), "sha256")[:12]).decode()
            for key in self._keys]
        self.opaque = self._opaques[0]
        self._mac_prefix = b"nonce\0" + realm.encode() + b"\0"
        self._dummy_ha1 = hmac.digest(secret, b"dummy-ha1\0" + realm.encode(), "sha256").hex()

    def reconfigure(self, *, algorithms: Sequence[str], nonce_ttl: float) -> None:
        """New algorithms and nonce lifetime (config reload); issued nonces and the replay
        map are kept, so no client has to start over and no nonce can be replayed."""
        canonical = [_canonical(name) for name in algorithms]
        if not canonical or None in canonical:
            raise ValueError(f"unsupported digest algorithm in {list(algorithms)!r}")
        self.algorithms = tuple(name for name in canonical if name is not None)
        self.nonce_ttl = nonce_ttl

    # -- nonces ---------------------------------------------------------------------------------

    def _mac(self, key: bytes, payload: bytes) -> bytes:
        return hmac.digest(key, self._mac_prefix + payload, "sha256")[:_NONCE_MAC_LEN]

    def make_nonce(self, now: float) -> str:
        self._counter = (self._counter + 1) % (1 << 48)
        payload = _NONCE_LAYOUT.pack(int(now * 1000), self._salt,
                                     self._counter.to_bytes(6, "big"))
        return base64.urlsafe_b64encode(payload + self._mac(self._keys[0], payload)).decode()

    def nonce_issued_at(self, nonce: str) -> float | None:
        """Issue time (seconds) of a nonce we (or a peer with the secret) issued, else None."""
        ms = self._nonce_ms(nonce)
        return None if ms is None else ms / 1000.0

    def _nonce_ms(self, nonce: str) -> int | None:
        if not _NONCE_TEXT.fullmatch(nonce):
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce)
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _NONCE_RAW_LEN:
            return None
        payload, mac = raw[:_NONCE_LAYOUT.size], raw[_NONCE_LAYOUT.size:]
        for key in self._keys:
            if hmac.compare_digest(mac, self._mac(key, payload)):
                break
        else:
            return None
        issued_ms: int = _NONCE_LAYOUT.unpack(payload)[0]
        return issued_ms

    # -- challenge ------------------------------------------------------------------------------

    def challenge(self, now: float, stale: bool = False) -> list[str]:
        """WWW-Authenticate values, one per algorithm, strongest first (RFC 7616 §3.7)."""
        nonce = self.make_nonce(now)
        values = []
        for algorithm in self.algorithms:
            params = [("realm", self.realm), ("nonce", nonce), ("opaque", self.opaque),
                      ("algorithm", algorithm), ("qop", ",".join(self.qops))]
            if stale:
                params.append(("stale", "true"))
            values.append(render_auth("Digest", params, quote=("qop",)))
        return values

    # -- verification ---------------------------------------------------------------------------

    def verify(self, authorization: str, method: str, lookup_ha1: LookupHa1, now: float, *,
               request_uri: str | None = None, body: bytes = b"") -> AuthResult:
        """Check an Authorization value for ``method`` (and ``request_uri`` when given).

        Never raises for bad input: a malformed header is ``AuthResult(ok=False)`` with the
        parse reason (answer 400 or a fresh challenge, the caller's choice).
        """
        try:
            creds = parse_authorization(authorization)
        except AuthError as exc:
            return AuthResult(False, reason=f"malformed credentials: {exc.reason}")
        return self.verify_params(creds, method, lookup_ha1, now,
                                  request_uri=request_uri, body=body)

    def verify_params(self, creds: AuthParams, method: str, lookup_ha1: LookupHa1, now: float,
                      *, request_uri: str | None = None, body: bytes = b"") -> AuthResult:
        if not creds.is_digest:
            return AuthResult(False, reason=f"scheme {creds.scheme[:20]!r} is not Digest")
        p = creds.params
        username, realm, nonce = p.get("username"), p.get("realm"), p.get("nonce")
        uri, response = p.get("uri"), p.get("response")
        if username is None or realm is None or nonce is None or uri is None or response is None:
            return AuthResult(False, reason="credentials lack username/realm/nonce/uri/response")
        offered = p.get("algorithm", "MD5")  # absent means MD5 (RFC 7616 §3.3)
        algorithm = _canonical(offered)
        if algorithm is None or algorithm not in self.algorithms:
            return AuthResult(False, username, reason=f"algorithm {offered[:20]!r} not offered")
        base, sess = _split_algorithm(algorithm)
        if realm != self.realm:
            return AuthResult(False, username, reason="realm mismatch")
        issued_ms = self._nonce_ms(nonce)
        if issued_ms is None:
            return AuthResult(False, username, reason="nonce not issued by us")
        if request_uri is not None and not _same_uri(uri, request_uri):
            return AuthResult(False, username, reason="digest uri differs from Request-URI")
        opaque = p.get("opaque")
        if opaque is not None and not any(
                hmac.compare_digest(opaque.encode("utf-8", "replace"), mine.encode())
                for mine in self._opaques):
            return AuthResult(False, username, reason="opaque mismatch")
        qop, nc_text, cnonce = p.get("qop"), p.get("nc"), p.get("cnonce")
        if qop is not None:
            if qop not in self.qops:
                return AuthResult(False, username, reason=f"qop {qop[:20]!r} not offered")
            if nc_text is None or cnonce is None or not _NC.fullmatch(nc_text):
                return AuthResult(False, username, reason="qop without valid nc and cnonce")
        elif sess:
            return AuthResult(False, username, reason="-sess algorithm requires qop")
        if p.get("userhash", "false").lower() == "true":
            return AuthResult(False, username, reason="userhash not offered")

        # The same work for unknown and known users: hash with a dummy HA1 when unknown.
        stored = lookup_ha1(username, realm, base)
        known = stored is not None
        expected = _response(_HASHES[base], (stored or self._dummy_ha1).lower(), nonce, nc_text,
                             cnonce, qop, method, uri, body, sess)
        supplied = response.lower()
        if not _HEX.fullmatch(supplied):
            supplied = "x" * len(expected)
        if not (hmac.compare_digest(expected.encode(), supplied.encode()) and known):
            return AuthResult(False, username, reason=BAD_CREDENTIALS)

        # Credentials are right: now decide whether the nonce may still be used.
        age = now - issued_ms / 1000.0
        if age > self.nonce_ttl or age < -self.max_clock_skew:
            return AuthResult(False, username, stale=True, reason="nonce expired",
                              algorithm=algorithm)
        if not self._accept_count(nonce, issued_ms, int(nc_text, 16) if nc_text else None):
            return AuthResult(False, username, stale=True, reason="nonce count replayed",
                              algorithm=algorithm)
        return AuthResult(True, username, algorithm=algorithm)

    def _accept_count(self, nonce: str, issued_ms: int, nc: int | None) -> bool:
        """Record a use of ``nonce`` (verified: we issued it) with count ``nc`` (None: no qop,
        single use)."""
        key = int.from_bytes(base64.urlsafe_b64decode(nonce)[:_NONCE_LAYOUT.size], "big")
        seen = self._seen.get(key)
        if seen is None:
            # An unknown nonce issued before an evicted one may have been used already: refuse
            # (the client gets stale=true and a fresh nonce), so eviction never opens a replay.
            if self._floor_ms is not None and issued_ms <= self._floor_ms:
                return False
            seen = 0
        if seen == _USED_ONCE or (nc is None and seen > 0) or (nc is not None and nc <= seen):
            return False
        self._seen[key] = _USED_ONCE if nc is None else nc
        self._seen.move_to_end(key)
        while len(self._seen) > self.max_nonces:
            evicted, _ = self._seen.popitem(last=False)
            evicted_ms = evicted >> _NONCE_MS_SHIFT
            if self._floor_ms is None or evicted_ms > self._floor_ms:
                self._floor_ms = evicted_ms
        return True

    @property
    def tracked_nonces(self) -> int:
        return len(self._seen)


def _same_uri(digest_uri: str, request_uri: str) -> bool:
    """RFC 3261 §22.4: the digest uri names the Request-URI; compare them as URIs (§19.1.4)."""
    if digest_uri == request_uri:
        return True
    try:
        a, b = parse_uri(digest_uri), parse_uri(request_uri)
    except ParseError:
        return False
    if isinstance(a, SipUri) and isinstance(b, SipUri):
        return a.matches(b)
    return str(a).lower() == str(b).lower()


# -- client side --------------------------------------------------------------------------------

class DigestClient:
    """Answers digest challenges for one account (tests, benchmarks, outbound trunks).

    Picks the strongest offered algorithm it supports, prefers qop=auth, counts nc per nonce.
    """

    def __init__(self, username: str, password: str, *,
                 cnonce_source: Callable[[], str] | None = None) -> None:
        self.username = username
        self._password = password
        self._cnonce = cnonce_source or (lambda: secrets.token_hex(8))
        self._nc: dict[str, int] = {}
        self._challenge: AuthParams | None = None

    def __repr__(self) -> str:  # never show the password
        return f"DigestClient(username={self.username!r})"

    def choose(self, challenges: Iterable[str | AuthParams]) -> AuthParams:
        """The challenge we will answer: strongest algorithm we support (RFC 7616 §3.7)."""
        best: tuple[int, AuthParams] | None = None
        for item in challenges:
            try:  # another scheme's odd syntax (token68...) must not hide a usable Digest
                options = parse_www_authenticate(item) if isinstance(item, str) else [item]
            except AuthError:
                continue
            for challenge in options:
                if not challenge.is_digest or challenge.get("nonce") is None:
                    continue
                try:
                    base, _ = _split_algorithm(challenge.get("algorithm") or "MD5")
                except AuthError:
                    continue
                rank = _STRENGTH.index(base)
                if best is None or rank < best[0]:
                    best = (rank, challenge)
        if best is None:
            raise AuthError("no digest challenge with a supported algorithm", status=401)
        return best[1]

    def authorize(self, challenges: Iterable[str | AuthParams], method: str, uri: str,
                  body: bytes = b"") -> str:
        """Authorization value answering the best of ``challenges`` (remembered for reuse)."""
        self._challenge = self.choose(challenges)
        return self.reauthorize(method, uri, body)

    def reauthorize(self, method: str, uri: str, body: bytes = b"") -> str:
        """Answer the remembered challenge again with the next nonce-count (RFC 7616 §3.4)."""
        challenge = self._challenge
        if challenge is None:
            raise AuthError("no challenge to answer yet", status=401)
        nonce = challenge.params["nonce"]
        realm = challenge.get("realm") or ""
        algorithm = challenge.get("algorithm") or "MD5"
        base, sess = _split_algorithm(algorithm)
        offered = [q.strip() for q in (challenge.get("qop") or "").split(",") if q.strip()]
        qop = "auth" if "auth" in offered else "auth-int" if "auth-int" in offered else None
        params = [("username", self.username), ("realm", realm), ("nonce", nonce),
                  ("uri", uri)]
        nc_text = cnonce = None
        if qop is not None:
            self._nc[nonce] = self._nc.get(nonce, 0) + 1
            nc_text, cnonce = f"{self._nc[nonce]:08x}", self._cnonce()
        elif sess:
            raise AuthError("challenge asks for a -sess algorithm without qop", status=401)
        digest = _response(_HASHES[base], ha1(self.username, realm, self._password, base),
                           nonce, nc_text, cnonce, qop, method, uri, body, sess)
        params.append(("response", digest))
        if "algorithm" in challenge.params:
            params.append(("algorithm", algorithm))
        if cnonce is not None and nc_text is not None and qop is not None:
            params += [("cnonce", cnonce), ("qop", qop), ("nc", nc_text)]
        opaque = challenge.get("opaque")
        if opaque is not None:
            params.append(("opaque", opaque))
        return render_auth("Digest", params)
