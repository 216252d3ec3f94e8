"""Node configuration: YAML validated by pydantic v2, refusing anything it does not know.

Every model forbids extra keys, so a typo (``registrar.max_expire``) stops the node at load
with the path of the bad field and what was expected, never a silent default (design §3).
:func:`load_config` turns pydantic's errors into one line per problem::

    switchboard.yaml: registrar.max_expires: Input should be a valid integer, got 'x'

Secrets (passwords, HA1 hashes, the nonce secret) are :class:`SecretStr`: they print as
``**********`` and the error formatter never echoes the value it rejected for them.
The ``routing:`` section belongs to the routing core: :func:`parse_config` validates it with
the router's own validation and reports its problems under ``routing.``. Cross-references are
checked last (:func:`reference_problems`): a number must lead to a queue, IVR flow or account
that exists, and no two listeners may claim the same socket.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .sip.address import Listener
from .sip.uri import SipUri, parse_uri

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A dialled number or account name as it appears in a Request-URI user part.
_NUMBER = re.compile(r"^\+?[A-Za-z0-9_.\-*#]{1,64}$")
# Where a configured number leads; the call-control issue interprets the target.
_TARGET = re.compile(r"^(ivr|queue|agent):[A-Za-z0-9_.\-]{1,64}$|^login:mobile$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
# Names of fields whose rejected input must never be echoed in an error message.
_SECRET_FIELDS = frozenset({"password", "ha1", "nonce_secret"})


def _check_listener(value: str) -> str:
    Listener.parse(value)
    return value


# ``udp:HOST:PORT`` and friends, checked one by one so errors carry the list index.
ListenerText = Annotated[str, AfterValidator(_check_listener)]


_SECTIONS = frozenset({"node", "http", "tls", "security", "registrar", "numbers", "ivr",
                       "media", "calls", "trunks", "queue_policies"})
_LOOPBACK = ["127.0.0.0/8", "::1/128"]


def _networks(value: Any) -> Any:
    """A list of addresses or CIDR networks; the error names the item that is neither."""
    if not isinstance(value, list):
        return value
    out = []
    for item in value:
        try:
            out.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an IP address or CIDR network") from exc
    return out


def _in_any(host: str, networks: list[IpNetwork]) -> bool:
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return any(addr in net for net in networks)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_hostport(text: str, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT`` or ``:PORT`` -> (host, port); ValueError explains."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port out of range in {text!r}")
    return host.strip("[]") or default_host, port


class NodeSection(Strict):
    name: str = Field(default="switchboard", min_length=1, max_length=64)
    domain: str = Field(default="switchboard.local", min_length=1, max_length=253,
                        pattern=r"^[A-Za-z0-9.\-\[\]:]+$")
    # Digest realm (RFC 7616 §3.3); the domain when not set.
    realm: str | None = Field(default=None, min_length=1, max_length=253)
    # Other host names this node answers for (the To/Request-URI host of REGISTER and OPTIONS).
    aliases: list[str] = []
    # Accept REGISTER for any domain (AORs are keyed by user only). The demo turns this on so a
    # newcomer's softphone works with whatever host they type (127.0.0.1, localhost, the IP).
    accept_any_domain: bool = False
    data_dir: Path = Path("data")
    # Key of the digest nonces (RFC 7616 §3.3); random per start when not set, which only means
    # a restart makes clients re-authenticate once (stale=true).
    nonce_secret: SecretStr | None = None

    @property
    def effective_realm(self) -> str:
        return self.realm or self.domain


class HttpSection(Strict):
    listen: str = "127.0.0.1:8080"
    # Who may use the control endpoints (``switchboard ctl``: bans, registrations, reload):
    # this host only, unless the operator lists more, whatever address ``listen`` binds.
    control_from: list[IpNetwork] = Field(
        default_factory=lambda: [ipaddress.ip_network(n) for n in _LOOPBACK])

    @field_validator("control_from", mode="before")
    @classmethod
    def _control_networks(cls, value: Any) -> Any:
        return _networks(value)

    def control_allowed(self, host: str) -> bool:
        return _in_any(host, self.control_from)

    @field_validator("listen")
    @classmethod
    def _hostport(cls, value: str) -> str:
        parse_hostport(value)
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_hostport(self.listen)


class TlsSection(Strict):
    """Certificate for tls:/wss: listeners; a dev certificate is made in data_dir when absent."""

    cert: Path | None = None
    key: Path | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> TlsSection:
        if (self.cert is None) != (self.key is None):
            raise ValueError("set both cert and key, or neither (a dev certificate is generated)")
        return self


class RateLimitSection(Strict):
    """Token bucket per source IP, applied before parsing (datagrams and new connections)."""

    rate: float = Field(default=200.0, gt=0, description="messages per second, sustained")
    burst: int = Field(default=400, ge=1, description="messages allowed at once")
    # A carrier trunk's volume is legitimate (and load tests come from it); bans still apply.
    exempt_trusted: bool = True


class AuthBanSection(Strict):
    """Digest failures within ``window`` s (switch/registrar/bans.py): ``user_threshold``
    failures of one username from one source block that username there; failures for
    ``max_users`` usernames, or ``source_threshold`` in all, ban the whole source. Bans last
    ``duration`` s. Trusted sources and ``allow_list`` are never banned."""

    user_threshold: int = Field(default=10, ge=1)
    source_threshold: int = Field(default=30, ge=1)
    max_users: int = Field(default=5, ge=1)
    window: float = Field(default=60.0, gt=0)
    duration: float = Field(default=300.0, gt=0)
    allow_list: list[IpNetwork] = []

    @field_validator("allow_list", mode="before")
    @classmethod
    def _allow_networks(cls, value: Any) -> Any:
        return _networks(value)


class SecuritySection(Strict):
    # Carrier trunks: INVITEs from these sources to configured numbers need no challenge.
    trusted_sources: list[IpNetwork] = []
    rate_limit: RateLimitSection = RateLimitSection()
    auth_ban: AuthBanSection = AuthBanSection()
    nonce_ttl: float = Field(default=300.0, gt=0, le=86400)
    # MD5 only by default: JsSIP, SIPp, baresip (and other phones) give up on a SHA-256
    # challenge even when an MD5 one follows it, so offering SHA-256 locks them out. List
    # [SHA-256, MD5] (RFC 7616/8760) when every phone of the site supports SHA-256.
    digest_algorithms: list[Literal["SHA-256", "MD5"]] = Field(default=["MD5"], min_length=1)
    max_message_size: int = Field(default=65535, ge=1024, le=65535)

    @field_validator("trusted_sources", mode="before")
    @classmethod
    def _trusted_networks(cls, value: Any) -> Any:
        return _networks(value)

    @field_validator("digest_algorithms")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"an algorithm is listed twice: {value}")
        return value

    def is_trusted(self, host: str) -> bool:
        return _in_any(host, self.trusted_sources)

    def never_ban(self, host: str) -> bool:
        """Trusted trunks and the allow-list are never banned (their failures are logged)."""
        return _in_any(host, self.trusted_sources) or _in_any(host, self.auth_ban.allow_list)


class RegistrarSection(Strict):
    """Registration intervals (RFC 3261 §10.2.1.1, §10.3 step 7) and keepalive of contacts."""

    min_expires: int = Field(default=60, ge=1)
    max_expires: int = Field(default=3600, ge=1)
    default_expires: int = Field(default=600, ge=1)
    max_contacts: int = Field(default=5, ge=1, le=100)
    qualify_interval: float = Field(default=30.0, gt=0)
    qualify_timeout: float = Field(default=5.0, gt=0)
    qualify_misses: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> RegistrarSection:
        if not self.min_expires <= self.default_expires <= self.max_expires:
            raise ValueError("need min_expires <= default_expires <= max_expires")
        return self


class MediaSection(Strict):
    """Where calls' audio is anchored: the builtin engine (started by the node) or a real
    rtpengine (``rtpengine://HOST:PORT``, its ng control port)."""

    engine: str = Field(default="builtin", pattern=r"^(builtin|rtpengine://[^\s:/]+:\d{1,5})$")
    # The address the builtin engine binds RTP to and puts in SDP.
    interface: str = "127.0.0.1"
    port_min: int = Field(default=30000, ge=1024, le=65534)
    port_max: int = Field(default=40000, ge=1025, le=65535)
    # Seconds without RTP from a caller before the engine reports "media lost".
    media_timeout: float = Field(default=30.0, gt=0, le=3600)
    # Where the node hears the engine's events (DTMF, media lost). Port 0 picks one for the
    # builtin engine; for rtpengine give a fixed one and start rtpengine with
    # --dtmf-log-dest=HOST:PORT.
    events: str = "127.0.0.1:0"

    @field_validator("events")
    @classmethod
    def _events_address(cls, value: str) -> str:
        parse_hostport(value)
        return value

    @model_validator(mode="after")
    def _range(self) -> MediaSection:
        if self.port_max - self.port_min < 3:
            raise ValueError("port_max must be at least port_min + 3 (one RTP/RTCP pair each"
                             " way)")
        return self


class CallsSection(Strict):
    """Session timers (RFC 4028) of answered calls, and how calls reach agents."""

    session_expires: int = Field(default=1800, ge=90, le=86400)
    min_se: int = Field(default=90, ge=90, le=86400)
    # An agent account that registers (or has a static contact) is logged in and ready on
    # the queues of its skills. Off by default: agents then log in through the API.
    auto_ready: bool = False
    # An agent whose phone did not answer an offer at all (408, 480, 503, transport error) is
    # unreachable: offered nothing until it registers again or this many seconds pass.
    unreachable_retry: float = Field(default=30.0, gt=0, le=3600)
    # Seconds of silence from a connected agent's phone that mean its network dropped: the
    # caller goes back to the queue, first, for the next or a backup agent (builtin engine;
    # with rtpengine its own media timeout decides). Phones must not suppress silence.
    agent_media_timeout: float = Field(default=1.5, ge=0.5, le=300)
    # Customer numbers are masked toward agents ("*******0123") unless this allows them.
    show_caller_number: bool = False
    # Which trunk outbound calls take (default: the first in trunks).
    outbound_trunk: str | None = None


class QueuePolicy(Strict):
    """What a caller waiting in a queue hears and may do (the router decides who answers)."""

    # "You are number 2 in the queue; your expected wait is about 3 minutes", every so many
    # seconds over the music (0: never).
    announce_every: float = Field(default=30.0, ge=0, le=3600)
    # Keys the caller may press while waiting: "1": voicemail, "2": callback.
    keys: dict[str, Literal["voicemail", "callback"]] = {}
    voicemail_seconds: int = Field(default=120, ge=3, le=600)
    # Record answered calls (stereo WAV: caller left, agent right) under DATA_DIR/media.
    record: bool = False

    @field_validator("keys")
    @classmethod
    def _digits(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key not in "0123456789*#" or len(key) != 1:
                raise ValueError(f"key {key!r} is not one of 0-9, * or #")
        return value


class Trunk(Strict):
    """A carrier's SIP trunk for outbound calls (agents' calls to customers, mobile login).
    Only authenticated agents and the API reach it: an unauthenticated INVITE never does."""

    # Where outbound INVITEs go: "sip:gw.carrier.example:5060;transport=tcp".
    uri: str
    # The number customers see when the agent's own may not be shown (the company's).
    caller_id: str = Field(default="anonymous", pattern=r"^(\+?[0-9]{3,20}|anonymous)$")

    @field_validator("uri")
    @classmethod
    def _sip_uri(cls, value: str) -> str:
        try:
            uri = parse_uri(value)
        except Exception as exc:
            raise ValueError(f"trunk uri {value!r} is not a SIP URI: {exc}") from None
        if not isinstance(uri, SipUri) or not uri.host:
            raise ValueError(f"trunk uri {value!r} is not a SIP URI with a host")
        return value


class Account(Strict):
    """An agent's SIP login. Give ``password`` or ``ha1`` (hex MD5 or SHA-256 of
    ``username:realm:password``, RFC 7616 §3.4.2), not both."""

    username: str = Field(pattern=_NUMBER.pattern)
    password: SecretStr | None = None
    ha1: SecretStr | None = None
    display_name: str | None = Field(default=None, max_length=128)
    # Digits an agent enters after calling the mobile-login number (numbers: login:mobile).
    pin: SecretStr | None = Field(default=None)
    # A fixed SIP URI where the agent is rung without registering (a desk phone or gateway
    # on a fixed address; load tests): "sip:1001@10.0.0.7:5060;transport=tcp".
    contact: str | None = None

    @field_validator("pin")
    @classmethod
    def _digits(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[0-9]{4,12}", value.get_secret_value()):
            raise ValueError("pin must be 4 to 12 digits")
        return value

    @field_validator("contact")
    @classmethod
    def _sip_contact(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            uri = parse_uri(value)
        except Exception as exc:
            raise ValueError(f"contact {value!r} is not a SIP URI: {exc}") from None
        if not isinstance(uri, SipUri) or not uri.host:
            raise ValueError(f"contact {value!r} is not a SIP URI with a host")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> Account:
        if (self.password is None) == (self.ha1 is None):
            raise ValueError("give exactly one of password or ha1")
        if self.ha1 is not None:
            value = self.ha1.get_secret_value()
            if not _HEX.match(value) or len(value) not in (32, 64):
                raise ValueError("ha1 must be 32 (MD5) or 64 (SHA-256) hex digits")
        return self

    @property
    def ha1_algorithm(self) -> str | None:
        if self.ha1 is None:
            return None
        return "MD5" if len(self.ha1.get_secret_value()) == 32 else "SHA-256"


class SwitchConfig(Strict):
    node: NodeSection = NodeSection()
    listeners: list[ListenerText] = Field(default=["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"],
                                          min_length=1)
    http: HttpSection = HttpSection()
    tls: TlsSection = TlsSection()
    security: SecuritySection = SecuritySection()
    registrar: RegistrarSection = RegistrarSection()
    media: MediaSection = MediaSection()
    calls: CallsSection = CallsSection()
    accounts: list[Account] = []
    # Carrier trunks by name; outbound calls use the first (or calls.outbound_trunk).
    trunks: dict[str, Trunk] = {}
    # Per queue (by the routing section's queue id): announcements, keys, recording.
    queue_policies: dict[str, QueuePolicy] = {}
    # Dialled number -> target (``ivr:main``, ``queue:support``, ``agent:1001``).
    numbers: dict[str, str] = {}
    # IVR flows by name (what ``ivr:NAME`` targets lead to), checked by the IVR's own schema
    # and validator (switch/ivr/validate.py) against the routing section's queues and tiers.
    ivr: dict[str, dict[str, Any]] = {}
    # The routing core's configuration (skills, queues, agents): routing.config validates it.
    routing: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        # A section whose keys are all commented out is null in YAML: read it as "defaults".
        if isinstance(data, dict):
            return {k: ({} if v is None and k in _SECTIONS else v) for k, v in data.items()}
        return data

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, value: dict[str, str]) -> dict[str, str]:
        for number, target in value.items():
            if not _NUMBER.match(str(number)):
                raise ValueError(f"number {number!r} is not a dialable user part")
            if not _TARGET.match(target):
                raise ValueError(f"target {target!r} of {number!r} should look like ivr:NAME,"
                                 " queue:NAME or agent:USERNAME")
        return value

    @model_validator(mode="after")
    def _unique_accounts(self) -> SwitchConfig:
        seen: set[str] = set()
        for account in self.accounts:
            if account.username in seen:
                raise ValueError(f"account {account.username!r} is listed twice")
            seen.add(account.username)
        return self

    @field_validator("ivr")
    @classmethod
    def _flow_names(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", str(name)):
                raise ValueError(f"flow name {name!r} should be letters, digits, _ . or -")
        return value

    @property
    def parsed_listeners(self) -> list[Listener]:
        return [Listener.parse(item) for item in self.listeners]

    def outbound(self) -> Trunk | None:
        """The trunk outbound calls take, if any."""
        name = self.calls.outbound_trunk or next(iter(self.trunks), None)
        return self.trunks.get(name) if name is not None else None

    def account(self, username: str) -> Account | None:
        for account in self.accounts:
            if account.username == username:
                return account
        return None


class ConfigError(Exception):
    """The configuration cannot be used; ``lines`` holds one message per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _loc_text(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _expected_keys(loc: tuple[int | str, ...]) -> list[str] | None:
    """Field names allowed where an unknown key ``loc`` was found, for a helpful hint."""
    model: type[BaseModel] = SwitchConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        candidates = getattr(annotation, "__args__", None) or (annotation,)
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return sorted(model.model_fields)


def format_errors(error: ValidationError, source: str) -> list[str]:
    """One ``source: path: message`` line per pydantic error, secrets never echoed."""
    lines = []
    for item in error.errors():
        loc = tuple(item["loc"])
        path = _loc_text(loc)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            keys = _expected_keys(loc)
            message = "unknown key" + (f" (expected one of: {', '.join(keys)})" if keys else "")
        elif not any(str(part) in _SECRET_FIELDS for part in loc) and "input" in item:
            shown = item["input"]
            if not isinstance(shown, dict | list) and repr(shown) not in message:
                message += f", got {shown!r}"
        lines.append(f"{source}: {path}: {message}")
    return lines


def routing_problems(config: SwitchConfig) -> list[str]:
    """The ``routing:`` section through the router's own validation, as ``routing.PATH:``
    lines (a misspelt key, an unknown strategy, an agent's unknown skill...)."""
    if config.routing is None:
        return []
    from routing.config import load_config as load_routing
    from routing.model import ConfigError as RoutingConfigError

    try:
        load_routing(config.routing)
    except RoutingConfigError as exc:
        return [f"routing.{line}" for line in exc.problems]
    return []


def _routing_queues(config: SwitchConfig) -> set[str] | None:
    queues = (config.routing or {}).get("queues")
    if not isinstance(queues, list):
        return None
    return {str(q.get("id")) for q in queues if isinstance(q, dict)}


def reference_problems(config: SwitchConfig) -> list[str]:
    """Cross-references no single field can check, one ``path: message`` line each."""
    out: list[str] = []
    queues = _routing_queues(config)
    accounts = {a.username for a in config.accounts}
    for number, target in config.numbers.items():
        kind, _, name = target.partition(":")
        where = f"numbers.{number}"
        if kind == "queue" and queues is None:
            out.append(f"{where}: {target!r} needs a routing: section with queues")
        elif kind == "queue" and queues is not None and name not in queues:
            out.append(f"{where}: queue {name!r} does not exist (routing.queues has: "
                       f"{', '.join(sorted(queues)) or 'none'})")
        elif kind == "ivr" and name not in config.ivr:
            out.append(f"{where}: IVR flow {name!r} does not exist (ivr has: "
                       f"{', '.join(sorted(config.ivr)) or 'none'})")
        elif kind == "agent" and name not in accounts:
            out.append(f"{where}: agent {name!r} has no account in accounts")
        if number in accounts and target != f"agent:{number}":
            out.append(f"{where}: also an agent's username; calls to it would never reach"
                       " the agent")
    from .ivr.validate import config_problems as flow_problems

    for queue in config.queue_policies:
        if queues is None or queue not in queues:
            out.append(f"queue_policies.{queue}: no such queue in routing.queues")
    trunk = config.calls.outbound_trunk
    if trunk is not None and trunk not in config.trunks:
        out.append(f"calls.outbound_trunk: trunk {trunk!r} does not exist (trunks has: "
                   f"{', '.join(sorted(config.trunks)) or 'none'})")
    out.extend(flow_problems(config.ivr, config.routing))  # lines start "ivr.NAME."
    out.extend(listener_clashes(config.listeners))
    return out


def listener_clashes(listeners: list[str]) -> list[str]:
    """Two listeners on one socket: the same transport twice, or two stream transports (TCP,
    TLS, WS, WSS all take a TCP port) on one address and port. Port 0 never clashes."""
    out: list[str] = []
    seen: dict[tuple[str, str, int], int] = {}
    for index, text in enumerate(listeners):
        item = Listener.parse(text)
        if item.port == 0:
            continue
        socket_kind = "udp" if item.transport == "udp" else "tcp"
        key = (socket_kind, item.host, item.port)
        if key in seen:
            first = listeners[seen[key]]
            what = "is listed twice" if first == text else f"takes the same TCP port as {first}"
            out.append(f"listeners[{index}]: {text} {what} (listeners[{seen[key]}])")
        else:
            seen[key] = index
    return out


def parse_config(data: Any, source: str = "config") -> SwitchConfig:
    """Validate already-loaded YAML data; raise ConfigError with one line per problem: the
    node's sections, then the routing section, then the cross-references."""
    if data is None:
        raise ConfigError([f"{source}: the configuration is empty (a mapping of sections is"
                           " expected; see examples/switchboard.yaml)"])
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of sections"])
    try:
        config = SwitchConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source)) from None
    problems = routing_problems(config)
    # References into routing are only meaningful once routing itself is valid.
    problems += reference_problems(config) if not problems else []
    if problems:
        raise ConfigError([f"{source}: {line}" for line in problems])
    return config


def load_config(path: str | Path) -> SwitchConfig:
    """Read and validate a YAML file; ConfigError names the file, the field and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{path.name}: {where}invalid YAML: {problem}"]) from None
    return parse_config(data, path.name)
