"""What the node answers to each out-of-transaction request: a pure decision table.

Input is a parsed request, its source and ``now``; output is the response (or None when
nothing may be sent, as for ACK) and the events to publish. The checks run in the order of
RFC 3261 §8.2 so the first problem found is the one reported:

1. method inspection (§8.2.1): unknown method 501, known but not offered here 405 + Allow;
2. Request-URI scheme (§8.2.2.1): anything but sip/sips 416;
3. Max-Forwards 0 (§16.3 step 3): 483, except OPTIONS which a UAS may answer (§11);
4. a To tag outside any dialog (§12.2.2): 481 (call control claims the requests of its dialogs);
5. merged requests (§8.2.2.2): same From tag, Call-ID and CSeq on a new branch: 482;
6. Require with option tags we do not support (§8.2.2.3): 420 + Unsupported;
7. draining for shutdown: 503 + Retry-After, so clients go elsewhere;
8. the method itself: REGISTER to the registrar, OPTIONS answered (from anyone; the
   transport's rate limit applies), INVITE per the call admission rules below; BYE, UPDATE,
   INFO and PRACK that reach the policy found no dialog (call control claims the others): 481.

Call admission: an INVITE from a trusted trunk source (a carrier) to a configured number is
accepted without a challenge, as carriers do not answer challenges; any other INVITE must
pass digest auth (407). A call to an IVR flow or a queue is *admitted*: the decision carries
its target and no response, and call control answers it. A call to an agent's extension rings
its phones (an internal call, e.g. to consult before a transfer); a number that looks
external (7+ digits) from an authenticated agent is an outbound call through the trunk
(``outbound:NUMBER``), or 403 when no trunk is configured; a foreign host is 403 (we are not
a proxy); anything else is 404.
Unknown callers learn nothing about numbers: they get the same 407 whatever they dial.
Without a media engine (``calls_enabled`` false) admitted calls get 503.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import SwitchConfig
from .registrar.bans import Bans
from .registrar.registrar import Authenticator, Registrar, local_tag
from .sip.address import Peer
from .sip.errors import ParseError
from .sip.headers import split_list
from .sip.message import Request, Response
from .sip.reply import reply
from .sip.uri import SipUri

# Every method of RFC 3261 and its common extensions; others are 501 (§8.2.1).
KNOWN_METHODS = frozenset({
    "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY",
    "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
})
ALLOWED_METHODS = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "UPDATE", "INFO",
                   "PRACK")
# Option tags we implement (RFC 3261 §19.2): reliable provisionals (RFC 3262) and session
# timers (RFC 4028), both in switch/callcontrol/.
SUPPORTED_OPTIONS: frozenset[str] = frozenset({"100rel", "timer"})
# Methods that only make sense inside a dialog; call control claims the ones that have one.
DIALOG_METHODS = frozenset({"BYE", "UPDATE", "INFO", "PRACK"})
ACCEPTED_BODIES = ("application/sdp",)
# How long a request is remembered for merged-request detection: 64*T1 (§17.2.2 Timer J).
MERGE_WINDOW = 32.0
MERGE_MEMORY = 20000
# What an OPTIONS 200 says we can do (§11.2); the same for every request.
_OPTIONS_HEADERS = (
    ("Allow", ", ".join(ALLOWED_METHODS)),
    ("Accept", ", ".join(ACCEPTED_BODIES)),
    ("Accept-Encoding", "identity"),
    ("Accept-Language", "en"),
    ("Supported", ", ".join(sorted(SUPPORTED_OPTIONS))),
)
_OUTBOUND_NUMBER = re.compile(r"^\+?[0-9]{7,}$")
ANSWERED_TARGETS = ("ivr", "queue", "outbound", "agent", "login")  # call control answers


@dataclass(frozen=True, slots=True)
class CallArrived:
    """An INVITE passed admission (``target`` says where it goes)."""

    call_id: str
    number: str
    target: str
    source: str
    user: str | None  # authenticated account, None for a trusted trunk


@dataclass(slots=True)
class Decision:
    response: Response | None
    events: list[object] = field(default_factory=list)
    admit: str | None = None  # an admitted INVITE's target: call control answers it


def host_matcher(config: SwitchConfig) -> Callable[[str], bool]:
    """Whether a Request-URI/To host is ours: the domain, an alias, localhost, or an IP
    literal (a request addressed to an IP reached us, and we are not a proxy)."""
    names = {config.node.domain.lower(), "localhost",
             *(alias.lower() for alias in config.node.aliases)}
    any_domain = config.node.accept_any_domain

    def serves(host: str) -> bool:
        if any_domain or host.lower() in names:
            return True
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        return True

    return serves


class Policy:
    def __init__(self, config: SwitchConfig, registrar: Registrar, auth: Authenticator,
                 bans: Bans, *, secret: bytes, server: str) -> None:
        self.config = config
        self.registrar = registrar
        self.auth = auth
        self.bans = bans
        self.secret = secret
        self.server = server
        self.serves_host = host_matcher(config)
        self.draining = False
        self.calls_enabled = True  # false without a media engine: admitted calls get 503
        # Oldest first. An OrderedDict, not a dict: evicting from the front of a plain dict
        # makes ``next(iter(...))`` walk every deleted slot before it (4.5 % of the node's CPU
        # under 8,000 OPTIONS/s in the profile of bench_sipp.py).
        self._recent: OrderedDict[tuple[str, str, int, str], tuple[str, float]] = OrderedDict()

    def reconfigure(self, config: SwitchConfig) -> None:
        """A reloaded configuration: numbers, accounts and trusted sources change at once."""
        self.config = config
        self.serves_host = host_matcher(config)

    def handle(self, request: Request, peer: Peer, now: float,
               date: str | None = None) -> Decision:
        if self.bans.is_banned(peer.host, now):
            return Decision(None)  # said once in the log when the ban started
        if request.method == "ACK":
            return Decision(None)  # ACK is never answered (§17.1.1.3); strays are dropped
        try:
            decision = self._decide(request, peer, now, date)
        except ParseError as exc:
            decision = Decision(self._reply(request, exc.status, f"Bad Request ({exc.reason})"))
        if decision.response is not None and "Server" not in decision.response.headers:
            decision.response.headers.add("Server", self.server)
        return decision

    def _decide(self, request: Request, peer: Peer, now: float, date: str | None) -> Decision:
        method = request.method
        if method not in KNOWN_METHODS:
            return self._answer(request, 501, extra=[("Allow", ", ".join(ALLOWED_METHODS))])
        if method not in ALLOWED_METHODS:
            return self._answer(request, 405, extra=[("Allow", ", ".join(ALLOWED_METHODS))])
        if method == "CANCEL":
            # The transaction layer answers CANCELs that match; this one matched nothing.
            return self._answer(request, 481)
        if not isinstance(request.uri, SipUri):
            return self._answer(request, 416)
        max_forwards = request.header_int("Max-Forwards")
        if max_forwards == 0 and method != "OPTIONS":
            return self._answer(request, 483)
        if request.to.tag is not None and method != "REGISTER":
            return self._answer(request, 481)
        if self._merged(request, now):
            return self._answer(request, 482)
        unsupported = [tag for value in request.headers.getall("Require")
                       for tag in split_list(value) if tag.lower() not in SUPPORTED_OPTIONS]
        if unsupported:
            return self._answer(request, 420, extra=[("Unsupported", ", ".join(unsupported))])
        if self.draining and method in ("INVITE", "REGISTER", "OPTIONS"):
            return self._answer(request, 503, "Service Unavailable (shutting down)",
                                extra=[("Retry-After", "5")])
        if method == "REGISTER":
            result = self.registrar.handle(request, peer, now, date)
            return Decision(result.response, result.events)
        if method == "OPTIONS":
            return self._options(request)
        if method == "INVITE":
            return self._invite(request, peer, now)
        return self._answer(request, 481)  # a dialog method for no dialog (§12.2.2)

    # -- methods ----------------------------------------------------------------------------

    def _options(self, request: Request) -> Decision:
        uri = request.uri
        assert isinstance(uri, SipUri)
        if not self.serves_host(uri.host):
            return self._answer(request, 404, "Not Found (domain not served)")
        # §11.2: tell what we can do.
        return self._answer(request, 200, extra=[*_OPTIONS_HEADERS, ("Server", self.server)])

    def _invite(self, request: Request, peer: Peer, now: float) -> Decision:
        if request.body and request.content_type not in (*ACCEPTED_BODIES, "multipart/mixed"):
            return self._answer(request, 415, extra=[("Accept", ", ".join(ACCEPTED_BODIES))])
        uri = request.uri
        assert isinstance(uri, SipUri)
        number = uri.user or ""
        configured = self.config.numbers.get(number)
        if configured is not None and self.config.security.is_trusted(peer.host):
            return self._admit(request, number, configured, peer, None)
        check = self.auth.check(request, "Proxy-Authorization", peer, now)
        if check.drop:
            return Decision(None)
        if check.username is None:
            decision = self._answer(request, 407, extra=[("Proxy-Authenticate", value)
                                                         for value in check.challenge])
            decision.events.extend(check.events)
            return decision
        target = configured
        if target is None and self.config.account(number) is not None:
            target = f"agent:{number}"
        if target is not None and self.serves_host(uri.host):
            return self._admit(request, number, target, peer, check.username)
        if _OUTBOUND_NUMBER.match(number) and self.serves_host(uri.host) \
                and self.config.outbound() is not None:
            # Only here, after digest auth: an unauthenticated INVITE never reaches a trunk.
            return self._admit(request, number, f"outbound:{number}", peer, check.username)
        if _OUTBOUND_NUMBER.match(number) or not self.serves_host(uri.host):
            return self._answer(request, 403, "Forbidden (outbound calls are not enabled)")
        return self._answer(request, 404)

    def _admit(self, request: Request, number: str, target: str, peer: Peer,
               user: str | None) -> Decision:
        arrived = CallArrived(request.call_id, number, target, peer.host, user)
        if target.split(":", 1)[0] not in ANSWERED_TARGETS:  # a target kind of the future
            decision = self._answer(request, 480)
        elif not self.calls_enabled:
            decision = self._answer(request, 503, "Service Unavailable (no media engine)",
                                    extra=[("Retry-After", "30")])
        else:
            decision = Decision(None, admit=target)
        decision.events.append(arrived)
        return decision

    # -- helpers ----------------------------------------------------------------------------

    def _merged(self, request: Request, now: float) -> bool:
        """§8.2.2.2: a request without To tag whose From tag, Call-ID and CSeq match a recent
        request on another branch reached us twice (a fork loop): answer 482."""
        while self._recent:
            oldest_key = next(iter(self._recent))
            if self._recent[oldest_key][1] > now and len(self._recent) < MERGE_MEMORY:
                break
            del self._recent[oldest_key]
        key = (request.from_.tag or "", request.call_id, request.cseq.seq, request.method)
        branch = request.top_via.branch or ""
        seen = self._recent.get(key)
        if seen is not None:
            return seen[0] != branch
        self._recent[key] = (branch, now + MERGE_WINDOW)
        return False

    def _reply(self, request: Request, status: int, reason: str | None = None,
               extra: list[tuple[str, str]] | None = None) -> Response:
        return reply(request, status, reason, to_tag=local_tag(request, self.secret),
                     extra=extra)

    def _answer(self, request: Request, status: int, reason: str | None = None,
                extra: list[tuple[str, str]] | None = None) -> Decision:
        return Decision(self._reply(request, status, reason, extra))
