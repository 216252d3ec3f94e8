"""Node configuration: YAML validated by pydantic v2, refusing anything it does not know.

Every model forbids extra keys, so a typo (``registrar.max_expire``) stops the node at load
with the path of the bad field and what was expected, never a silent default (design §3).
:func:`load_config` turns pydantic's errors into one line per problem::

    switchboard.yaml: registrar.max_expires: Input should be a valid integer, got 'x'

Secrets (passwords, HA1 hashes, the nonce secret) are :class:`SecretStr`: they print as
``**********`` and the error formatter never echoes the value it rejected for them.
The ``routing:`` section belongs to the routing core and is passed through untouched here.
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

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A dialled number or account name as it appears in a Request-URI user part.
_NUMBER = re.compile(r"^\+?[A-Za-z0-9_.\-*#]{1,64}$")
# Where a configured number leads; the call-control issue interprets the target.
_TARGET = re.compile(r"^(ivr|queue|agent):[A-Za-z0-9_.\-]{1,64}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
# Names of fields whose rejected input must never be echoed in an error message.
_SECRET_FIELDS = frozenset({"password", "ha1", "nonce_secret"})


def _check_listener(value: str) -> str:
    Listener.parse(value)
    return value


# ``udp:HOST:PORT`` and friends, checked one by one so errors carry the list index.
ListenerText = Annotated[str, AfterValidator(_check_listener)]


_SECTIONS = frozenset({"node", "http", "tls", "security", "registrar", "numbers"})


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
    """Sources that fail digest auth ``threshold`` times within ``window`` s are banned."""

    threshold: int = Field(default=10, ge=1)
    window: float = Field(default=60.0, gt=0)
    duration: float = Field(default=300.0, gt=0)


class SecuritySection(Strict):
    # Carrier trunks: INVITEs from these sources to configured numbers need no challenge.
    trusted_sources: list[IpNetwork] = []
    rate_limit: RateLimitSection = RateLimitSection()
    auth_ban: AuthBanSection = AuthBanSection()
    nonce_ttl: float = Field(default=300.0, gt=0, le=86400)
    digest_algorithms: list[Literal["SHA-256", "MD5"]] = Field(default=["SHA-256", "MD5"],
                                                               min_length=1)
    max_message_size: int = Field(default=65535, ge=1024, le=65535)

    @field_validator("trusted_sources", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        out = []
        for item in value:
            try:
                out.append(ipaddress.ip_network(str(item), strict=False))
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from exc
        return out

    def is_trusted(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        return any(addr in net for net in self.trusted_sources)


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


class Account(Strict):
    """An agent's SIP login. Give ``password`` or ``ha1`` (hex MD5 or SHA-256 of
    ``username:realm:password``, RFC 7616 §3.4.2), not both."""

    username: str = Field(pattern=_NUMBER.pattern)
    password: SecretStr | None = None
    ha1: SecretStr | None = None
    display_name: str | None = Field(default=None, max_length=128)

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
    accounts: list[Account] = []
    # Dialled number -> target (``ivr:main``, ``queue:support``, ``agent:1001``).
    numbers: dict[str, str] = {}
    # The routing core's configuration; validated by routing.config, not here.
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

    @property
    def parsed_listeners(self) -> list[Listener]:
        return [Listener.parse(item) for item in self.listeners]

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


def parse_config(data: Any, source: str = "config") -> SwitchConfig:
    """Validate already-loaded YAML data; raise ConfigError with one line per problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of sections"])
    try:
        return SwitchConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source)) from None


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
