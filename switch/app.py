"""Composition root: one node = transports + SIP endpoint + driver + registrar + policy +
qualify + HTTP, on one asyncio (uvloop) loop.

This is the only place that reads the clock for the pure parts: every call into the
registrar, policy, guard and qualifier passes ``now`` (wall-clock seconds, so stateless digest
nonces mean the same to every node sharing a secret). One loop timer covers binding expiry and
qualify probes; the endpoint's own timers are run by the driver.

Shutdown (SIGTERM/SIGINT, or :meth:`Node.request_stop`): the policy turns new INVITE, REGISTER
and OPTIONS away with 503 + Retry-After, in-flight transactions get a short grace period to
finish, then HTTP and the transports close. The whole sequence stays under 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gc
import logging
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from .api.app import create_app
from .callcontrol.service import CallService, MediaPort, ServiceFactory
from .config import Account, AuthBanSection, ConfigError, SwitchConfig, parse_hostport
from .control import (
    ReloadOutcome,
    ban_row,
    bans_view,
    plan_reload,
    registrations_view,
)
from .events.bus import EventBus
from .looptimer import LoopTimer
from .policy import CallArrived, Policy, host_matcher
from .registrar import seclog
from .registrar.bans import BanEnded, Bans
from .registrar.guard import RateLimiter
from .registrar.locations import (
    ContactExpired,
    ContactRefreshed,
    ContactRegistered,
    ContactRemoved,
    LocationService,
)
from .registrar.qualify import EndpointReachable, EndpointUnreachable, Probe, Qualifier
from .registrar.registrar import Authenticator, Registrar
from .sip import events as sip_events
from .sip.address import Listener, Peer
from .sip.auth import DigestChallenger, ha1
from .sip.endpoint import Endpoint
from .sip.headers import Headers
from .sip.message import Request
from .sip.uri import SipUri, parse_uri
from .transport.certs import ensure_dev_certificate
from .transport.driver import Driver
from .transport.manager import TransportManager

log = logging.getLogger("switch.node")

ConfigSource = Callable[[], SwitchConfig]  # re-reads the config file (raises ConfigError)

# Grace for unfinished transactions after the node stops accepting work; with HTTP and
# transport shutdown the whole stop stays well under the 5 s promised for SIGTERM.
DRAIN_SECONDS = 2.0
# First-generation threshold of the cyclic garbage collector (CPython's default is 700).
GC_GEN0_THRESHOLD = 10_000


def make_ha1_lookup(config: SwitchConfig) -> Any:
    """(username, realm, algorithm) -> HA1 hex, or None for unknown users / other realms."""
    realm_ok = config.node.effective_realm
    accounts: dict[str, Account] = {a.username: a for a in config.accounts}
    cache: dict[tuple[str, str], str] = {}

    def lookup(username: str, realm: str, algorithm: str) -> str | None:
        account = accounts.get(username)
        if account is None or realm != realm_ok:
            return None
        base = algorithm.upper().removesuffix("-SESS")
        if account.ha1 is not None:
            return account.ha1.get_secret_value().lower() if account.ha1_algorithm == base \
                else None
        key = (username, base)
        if key not in cache:
            assert account.password is not None
            cache[key] = ha1(username, realm, account.password.get_secret_value(), base)
        return cache[key]

    return lookup


def ban_limits(section: AuthBanSection) -> dict[str, Any]:
    return {"user_threshold": section.user_threshold,
            "source_threshold": section.source_threshold, "max_users": section.max_users,
            "window": section.window, "duration": section.duration}


def _log_event(event: object) -> None:
    """One line per event worth an operator's attention; routine ones at debug level."""
    if isinstance(event, EndpointUnreachable):
        log.info("endpoint unreachable: %s %s (%s)", event.aor, event.contact, event.reason)
    elif isinstance(event, EndpointReachable):
        log.info("endpoint reachable again: %s %s", event.aor, event.contact)
    elif isinstance(event, CallArrived):
        log.debug("INVITE %s from %s to %s admitted (%s)", event.call_id,
                  event.user or event.source, event.number, event.target)
    elif log.isEnabledFor(logging.DEBUG):
        log.debug("%s", event)


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the message path.

    Everything built at start-up (config, FastAPI app, modules) lives as long as the process:
    ``gc.freeze()`` moves it out of the collector's sight, so full collections no longer walk
    it. A larger first-generation threshold makes young collections rarer; each message
    allocates a few hundred objects that are nearly all freed by reference counting.
    Process-wide, so the command calls it once the node has started (not tests).
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the node owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Node:
    def __init__(self, config: SwitchConfig, *, version: str, http: str | None = None,
                 config_source: ConfigSource | None = None) -> None:
        self.config = config
        self._config_source = config_source  # None: nothing to reload (the built-in demo)
        self.version = version
        self.http_listen = http or config.http.listen
        self.bus = EventBus()
        self.started_at = time.time()
        self.draining = False
        self.listeners: list[Listener] = []
        self.http_url = ""
        self._stopped = asyncio.Event()
        # Binding expiry, qualify probes and ban ends: wall time, as registrations show it.
        self._timer = LoopTimer(time.time, self._on_timer, early_ok=True)
        self._probes: dict[str, int] = {}  # endpoint transaction key -> qualify probe id
        # Stream connections kept open for registered contacts (RFC 5626 §5): which bindings
        # hold each pin, so the last unregister/expiry of a connection releases it.
        self._pins: dict[int, set[tuple[str, str]]] = {}
        self._pinned_by: dict[tuple[str, str], int] = {}
        self._date_second = -1
        self._date_text = ""
        self._http_task: asyncio.Task[None] | None = None
        self._http: _Uvicorn | None = None
        self._build()

    # -- construction -----------------------------------------------------------------------

    def _build(self) -> None:
        cfg = self.config
        secret = (cfg.node.nonce_secret.get_secret_value().encode()
                  if cfg.node.nonce_secret else secrets.token_bytes(32))
        realm = cfg.node.effective_realm
        sec = cfg.security
        self.limiter = RateLimiter(sec.rate_limit.rate, sec.rate_limit.burst)
        self._rate_exempt = sec.rate_limit.exempt_trusted
        self._trusted_cache: dict[str, bool] = {}
        self.bans = Bans(**ban_limits(sec.auth_ban), exempt=self._never_ban)
        self.challenger = DigestChallenger(realm, secret,
                                           algorithms=tuple(sec.digest_algorithms),
                                           nonce_ttl=sec.nonce_ttl)
        self._usernames = frozenset(a.username for a in cfg.accounts)
        self.auth = Authenticator(self.challenger, make_ha1_lookup(cfg), realm, self.bans,
                                  known_user=self._usernames.__contains__)
        self.locations = LocationService(cfg.registrar.max_contacts)
        self.registrar = Registrar(cfg.registrar, self.locations, self.auth,
                                   domain=cfg.node.domain, serves_host=host_matcher(cfg),
                                   secret=secret)
        self.policy = Policy(cfg, self.registrar, self.auth, self.bans, secret=secret,
                             server=f"switchboard/{self.version}")
        self.qualifier = Qualifier(cfg.registrar.qualify_interval, cfg.registrar.qualify_timeout,
                                   cfg.registrar.qualify_misses)
        self.endpoint = Endpoint(user_agent=f"switchboard/{self.version}")
        # Transports and driver need each other: the transport callbacks bind late.
        self.transports = TransportManager(
            self._on_message, admit=self._admit, on_connection_lost=self._on_connection_lost,
            on_send_failed=self._on_send_failed, tls_context=self._tls_context(),
            max_message=sec.max_message_size, clock=time.time)
        self.bus.subscribe(_log_event)
        # SIP timers run on the monotonic clock (a wall-clock step must not fire or stall
        # Timer B or a session timer); wall time is only for nonces, Date and expiries.
        self.driver = Driver(self.endpoint, self.transports, on_event=self._on_event,
                             clock=time.monotonic)
        self.media: MediaPort | None = None
        self.calls: CallService | None = None
        self._call_stack: Any = None
        self.policy.calls_enabled = False  # until a media engine answers (start_calls)

    def _tls_context(self) -> ssl.SSLContext | None:
        if not any(item.split(":", 1)[0] in ("tls", "wss") for item in self.config.listeners):
            return None
        if self.config.tls.cert is not None and self.config.tls.key is not None:
            cert, key = self.config.tls.cert, self.config.tls.key
        else:
            cert, key = ensure_dev_certificate(self.config.node.data_dir)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        return context

    # -- transport callbacks ----------------------------------------------------------------

    def _admit(self, peer: Peer) -> bool:
        """Before parsing: banned sources and floods are dropped silently."""
        now = time.time()
        if self.bans.is_banned(peer.host, now):
            return False
        if self._rate_exempt and self._is_trusted(peer.host):
            return True
        return self.limiter.allow(peer.host, now)

    def _never_ban(self, host: str) -> bool:
        return self.config.security.never_ban(host)

    def _is_trusted(self, host: str) -> bool:
        trusted = self._trusted_cache.get(host)
        if trusted is None:
            if len(self._trusted_cache) > 10_000:
                self._trusted_cache.clear()
            trusted = self._trusted_cache[host] = self.config.security.is_trusted(host)
        return trusted

    def _on_message(self, data: bytes, peer: Peer, local: Listener) -> None:
        self.driver.receive(data, peer, local)

    def _on_connection_lost(self, peer: Peer) -> None:
        self.driver.connection_lost(peer)  # its transactions fail fast (TransportFailed)
        if self.calls is not None:
            self.calls.connection_lost(peer)
        if peer.conn_id is not None:
            for binding in self._pins.pop(peer.conn_id, ()):
                self._pinned_by.pop(binding, None)
        self._publish_all(self.qualifier.connection_lost(peer, time.time()))
        self._arm_timer()

    def _on_send_failed(self, peer: Peer) -> None:
        """A message could not leave (e.g. a TCP contact no longer accepts connections):
        fail its transactions (§17.1.4); a stream contact is then unreachable."""
        self.driver.connection_lost(peer)
        if peer.is_stream:
            self._publish_all(self.qualifier.connection_lost(peer, time.time()))
            self._arm_timer()

    # -- endpoint events --------------------------------------------------------------------

    def _on_event(self, event: object) -> None:
        if self.calls is not None and self.calls.handle_sip(event):  # type: ignore[arg-type]
            return  # a dialog's request, or a response/timeout of a leg's transaction
        now = time.time()
        if isinstance(event, sip_events.RequestReceived):
            request = event.request
            # Only REGISTER answers carry a Date (RFC 3261 §10.3 step 8); skip the work else.
            date = self._date(now) if request.method == "REGISTER" else None
            decision = self.policy.handle(request, event.peer, now, date=date)
            if decision.response is not None:
                self.driver.respond(request, decision.response)
            self._publish_all(decision.events, now)
            if decision.admit is not None and self.calls is not None:
                self.calls.admit(request, event.peer, event.local, decision.admit)
            if decision.response is not None and decision.response.status >= 400:
                log.debug("%s from %s -> %d", request.method, event.peer,
                          decision.response.status)
        elif isinstance(event, sip_events.ResponseReceived):
            probe = self._probes.get(event.key)
            if probe is not None and event.response.status >= 200:
                del self._probes[event.key]
                self._publish_all(self.qualifier.answered(probe, now))
        elif isinstance(event, sip_events.TransactionTimedOut | sip_events.TransportFailed):
            probe = self._probes.pop(event.key, None)
            if probe is not None:
                self._publish_all(self.qualifier.failed(probe, now))
        elif isinstance(event, sip_events.MalformedReceived):
            log.debug("malformed message from %s: %s (%s)", event.peer, event.reason,
                      event.status)
        self._arm_timer()

    def _date(self, now: float) -> str:
        """RFC 1123 Date text for ``now``, formatted once per second."""
        second = int(now)
        if second != self._date_second:
            self._date_second = second
            self._date_text = email.utils.formatdate(second, usegmt=True)
        return self._date_text

    def _publish_all(self, events: list[Any] | Any, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for event in events:
            self.bus.publish(event)
            if isinstance(event, ContactRegistered | ContactRefreshed):
                self._pin_binding(event.aor, event.contact, event.peer, now + event.expires)
            elif isinstance(event, ContactRemoved | ContactExpired):
                self._unpin_binding(event.aor, event.contact)
            # The qualifier follows the registrar's binding events; its own events go out too.
            for follow_up in self.qualifier.observe(event, now):
                self.bus.publish(follow_up)

    def _pin_binding(self, aor: str, contact: str, peer: Peer, until: float) -> None:
        """A registered contact's connection is its only way in (RFC 5626 §5): keep it open
        while a binding on it lives, even when idle."""
        binding = (aor, contact)
        previous = self._pinned_by.get(binding)
        if previous is not None and previous != peer.conn_id:
            self._unpin_binding(aor, contact)  # the contact moved to another connection
        if peer.conn_id is None:
            return
        self._pinned_by[binding] = peer.conn_id
        self._pins.setdefault(peer.conn_id, set()).add(binding)
        conn = self.transports.connection(peer.conn_id)
        current = conn.pinned_until if conn is not None else 0.0
        self.transports.pin(peer.conn_id, max(until, current))

    def _unpin_binding(self, aor: str, contact: str) -> None:
        """The binding is gone: the last one of a connection releases its pin."""
        conn_id = self._pinned_by.pop((aor, contact), None)
        if conn_id is None:
            return
        holders = self._pins.get(conn_id)
        if holders is not None:
            holders.discard((aor, contact))
            if not holders:
                del self._pins[conn_id]
                self.transports.pin(conn_id, 0.0)  # idle rules apply again

    # -- our timer: binding expiry and qualify probes ---------------------------------------

    def _arm_timer(self) -> None:
        deadlines = [d for d in (self.registrar.next_deadline(), self.qualifier.next_deadline(),
                                 self.bans.next_deadline()) if d is not None]
        stopped = self._stopped.is_set()
        self._timer.arm(min(deadlines) if deadlines and not stopped else None)

    def _on_timer(self) -> None:
        now = time.time()
        self._publish_all(self.registrar.expire(now), now)
        self._bans_ended(self.bans.expire(now))
        probes, events = self.qualifier.poll(now)
        self._publish_all(events, now)
        for probe in probes:
            self._send_probe(probe, now)
        self._arm_timer()

    def _send_probe(self, probe: Probe, now: float) -> None:
        if probe.kind == "ping":
            self.transports.send(b"\r\n\r\n", probe.peer)  # RFC 5626 §4.4.1 CRLFCRLF
            return
        try:
            key = self.driver.send_request(self._options_request(probe), probe.peer)
        except Exception:
            log.exception("could not send qualify OPTIONS to %s", probe.contact)
            self._publish_all(self.qualifier.failed(probe.probe_id, now))
            return
        self._probes[key] = probe.probe_id

    def _options_request(self, probe: Probe) -> Request:
        listener = self.transports.listener_for(probe.peer.transport, probe.peer.host)
        host = listener.host if listener else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        port = listener.port if listener else 5060
        headers = Headers()
        headers.add("Via", f"SIP/2.0/{probe.peer.transport.upper()} {host}:{port}"
                           f";branch=z9hG4bK{uuid.uuid4().hex};rport")
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<sip:qualify@{self.config.node.domain}>;tag={uuid.uuid4().hex[:12]}")
        headers.add("To", f"<{probe.contact}>")
        headers.add("Call-ID", uuid.uuid4().hex)
        headers.add("CSeq", "1 OPTIONS")
        headers.add("User-Agent", f"switchboard/{self.version}")
        uri = parse_uri(probe.contact)
        if not isinstance(uri, SipUri):
            raise ValueError(f"contact is not a SIP URI: {probe.contact}")
        return Request(headers=headers, method="OPTIONS", uri=uri)

    # -- operator control (switchboard ctl, SIGHUP) ----------------------------------------

    def _bans_ended(self, ended: list[BanEnded]) -> None:
        for event in ended:
            seclog.ban_ended(event)
            self.bus.publish(event)

    def list_bans(self) -> list[dict[str, Any]]:
        return bans_view(self.bans, time.time())

    def lift_ban(self, source: str, username: str | None = None) -> list[dict[str, Any]]:
        """End the bans of ``source`` (only the ``username`` block when given); the lifted
        bans, logged and published."""
        ended = self.bans.lift(source, username)
        self._bans_ended(ended)
        self._arm_timer()
        now = time.time()
        return [ban_row(event.ban, now) for event in ended]

    def list_registrations(self) -> list[dict[str, Any]]:
        return registrations_view(self.locations, self.qualifier, time.time())

    async def media_statistics(self) -> dict[str, Any]:
        if self._call_stack is None:
            return {"ready": False}
        stats: dict[str, Any] = await self._call_stack.statistics()
        return {"ready": self.policy.calls_enabled, "calls": self.calls.active_calls
                if self.calls is not None else 0, "engine": stats}

    def list_agents(self) -> list[dict[str, Any]]:
        delivery = getattr(self._call_stack, "delivery", None)
        return delivery.agents_view() if delivery is not None else []

    def agent_command(self, agent_id: str, action: str, reason: str = "",
                      number: str | None = None) -> dict[str, Any]:
        """Log an agent in or out, set it ready / not ready, or move its calls to a mobile
        number and back (ValueError: refused)."""
        delivery = getattr(self._call_stack, "delivery", None)
        if delivery is None:
            raise ValueError("no routing: section, so there are no agents")
        if action == "dial":
            if not number:
                raise ValueError("dial needs a number (?number=+15550123)")
            call_id = self._call_stack.clicktodial.dial(agent_id, number)
            return {"agent": agent_id, "state": delivery.agent_state(agent_id), "reason": "",
                    "call": call_id}
        result: dict[str, Any] = delivery.agent_command(agent_id, action, reason, number)
        return result

    def list_calls(self) -> list[dict[str, Any]]:
        delivery = getattr(self._call_stack, "delivery", None)
        return delivery.calls_view() if delivery is not None else []

    def supervise(self, call_id: str, supervisor: str | None, mode: str | None) -> dict[str, Any]:
        """Start (``supervisor`` and ``mode``), change (``mode``) or end (neither) the
        supervision of a call; ValueError when refused."""
        supervisors = getattr(self._call_stack, "supervisors", None)
        if supervisors is None:
            raise ValueError("no routing: section, so there are no agents' calls")
        if supervisor:
            return dict(supervisors.start(call_id, supervisor, mode or "listen"))
        if mode:
            return dict(supervisors.change(call_id, mode))
        return dict(supervisors.stop(call_id))

    def transfer(self, call_id: str, target: str) -> dict[str, Any]:
        """Blind transfer of a connected call to ``queue:NAME``, ``agent:ID`` or
        ``number:NUMBER`` (ValueError: refused)."""
        delivery = getattr(self._call_stack, "delivery", None)
        if delivery is None:
            raise ValueError("no routing: section, so there are no agents' calls")
        kind, _, name = target.partition(":")
        if not name:
            raise ValueError("the target looks like queue:NAME, agent:ID or number:NUMBER")
        return dict(delivery.transfer(call_id, kind, name))

    def list_transactions(self) -> list[dict[str, Any]]:
        now = self.driver.now()  # the driver's clock: deadlines are on it
        rows = self.endpoint.snapshot()
        for row in rows:
            deadline = row.pop("next_deadline")
            row["next_timer_in"] = (round(deadline - now, 3)
                                    if isinstance(deadline, int | float) else None)
        return rows

    def reload(self) -> ReloadOutcome:
        """Re-read the config file, validate it fully, apply it; or refuse with the problems
        (field paths) and keep running on the old one."""
        if self._config_source is None:
            return ReloadOutcome(False, ["nothing to reload: the node runs the built-in demo"
                                         " (start it with --config FILE)"])
        try:
            new = self._config_source()
        except ConfigError as exc:
            for line in exc.lines:
                log.error("reload refused, keeping the running configuration: %s", line)
            return ReloadOutcome(False, list(exc.lines))
        return self.apply_config(new)

    def apply_config(self, new: SwitchConfig) -> ReloadOutcome:
        """Apply a validated configuration to the running node (see switch/control.py for
        what waits for a restart). Registrations, bans and transactions are kept."""
        plan = plan_reload(self.config, new)
        cfg = self.config = plan.config
        sec = cfg.security
        now = time.time()
        if (sec.rate_limit.rate, sec.rate_limit.burst) != (self.limiter.rate,
                                                           self.limiter.burst):
            self.limiter = RateLimiter(sec.rate_limit.rate, sec.rate_limit.burst)
        self._rate_exempt = sec.rate_limit.exempt_trusted
        self._trusted_cache.clear()
        self.bans.configure(**ban_limits(sec.auth_ban))
        self.challenger.reconfigure(algorithms=sec.digest_algorithms, nonce_ttl=sec.nonce_ttl)
        self._usernames = frozenset(a.username for a in cfg.accounts)
        self.auth.lookup_ha1 = make_ha1_lookup(cfg)
        self.auth.known_user = self._usernames.__contains__
        self.locations.max_contacts = cfg.registrar.max_contacts
        self.registrar.settings = cfg.registrar
        self.registrar.serves_host = host_matcher(cfg)
        self.policy.reconfigure(cfg)
        self.qualifier.interval = cfg.registrar.qualify_interval
        self.qualifier.timeout = cfg.registrar.qualify_timeout
        self.qualifier.misses = cfg.registrar.qualify_misses
        removed = 0
        for username in plan.removed_accounts:
            events = self.locations.drop(self.registrar.aor_for(username), "account removed")
            removed += len(events)
            self._publish_all(events, now)
        self._arm_timer()
        log.info("configuration reloaded (%d accounts, %d numbers)%s", len(cfg.accounts),
                 len(cfg.numbers), "; waiting for a restart: " + ", ".join(plan.needs_restart)
                 if plan.needs_restart else "")
        return ReloadOutcome(True, needs_restart=plan.needs_restart,
                             removed_registrations=removed)

    # -- calls ------------------------------------------------------------------------------

    async def start_media(self) -> None:
        """Start (or reach) the media engine and answer calls; the node keeps running as a
        registrar when the engine cannot be had (calls then get 503)."""
        from .calls import CallStack

        self._call_stack = CallStack(self)
        try:
            await self._call_stack.start()
        except Exception as exc:
            log.error("media engine unavailable, calls will be refused with 503: %s", exc)

    def start_calls(self, media: MediaPort, services: ServiceFactory) -> CallService:
        """Answer calls from now on, anchoring media through ``media``."""
        self.media = media
        self.calls = CallService(
            self.driver, media, services, server=f"switchboard/{self.version}",
            publish=self.bus.publish, clock=self.driver.now,
            session_interval=self.config.calls.session_expires,
            min_se=self.config.calls.min_se)
        self.policy.calls_enabled = True
        return self.calls

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, listeners: list[Listener]) -> dict[str, Any]:
        """Bind everything; return the ready record with the real (port-0 resolved) addresses."""
        self.listeners = await self.transports.start(listeners)
        await self._start_http()
        return {"event": "ready", "sip": [str(item) for item in self.listeners],
                "http": self.http_url, "version": self.version}

    async def _start_http(self) -> None:
        host, port = parse_hostport(self.http_listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            why = (f"the address cannot be resolved ({exc.strerror})"
                   if isinstance(exc, socket.gaierror) else exc.strerror or str(exc))
            raise OSError(exc.errno, f"cannot listen on http {host}:{port}: {why}") from exc
        sock.listen(128)
        sock.setblocking(False)
        real_port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.http_url = f"http://{shown}:{real_port}"
        from .ivr.demo import demo_customer, uses_demo_customers

        # The demo flow looks its callers up in a small customer system served here.
        customers = demo_customer if uses_demo_customers(self.config.ivr) else None
        app = create_app(self.status, version=self.version, control=self,
                         control_allowed=lambda host: self.config.http.control_allowed(host),
                         demo_customers=customers)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._http = _Uvicorn(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[sock]))

    def status(self) -> dict[str, Any]:
        return {
            "status": "draining" if self.draining else "ok",
            "version": self.version,
            "uptime": round(time.time() - self.started_at, 3),
            "listeners": [str(item) for item in self.listeners],
            "node": self.config.node.name,
            "registrations": {"aors": self.locations.aor_count,
                              "contacts": len(self.locations),
                              "unreachable": self.qualifier.unreachable},
            "connections": self.transports.connections,
            "calls": self.calls.active_calls if self.calls is not None else 0,
            "media": {"ready": self.policy.calls_enabled,
                      **(self._call_stack.status() if self._call_stack is not None else {})},
            "transport": self.transports.stats(),
        }

    def request_stop(self) -> None:
        if not self.draining:
            log.info("stopping: refusing new calls and registrations, finishing transactions")
        self.draining = True
        self.policy.draining = True
        self.endpoint.draining = True
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        """Graceful stop: refuse new work, let unfinished transactions finish (bounded)."""
        self.request_stop()
        if self.calls is not None:
            await self.calls.close()  # BYE to every caller, media freed
        await self.driver.close(DRAIN_SECONDS)
        if self._call_stack is not None:
            await self._call_stack.stop()
        await self.stop_now()
        log.info("stopped")

    async def stop_now(self) -> None:
        """Close everything without a grace period (also after a failed start)."""
        self.draining = self.policy.draining = self.endpoint.draining = True
        self._stopped.set()
        self._timer.cancel()
        if self._http is not None:
            self._http.should_exit = True
        if self._http_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._http_task, timeout=2.0)
        await self.transports.stop()
        await self.driver.close()
