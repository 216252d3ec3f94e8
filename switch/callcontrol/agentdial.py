"""Where an agent is rung and the INVITE that rings it (pure).

An agent is reached at every registered contact of its account (desk phone, softphone,
browser: forked in parallel, the first to answer wins) and at the account's static
``contact`` URI from the config (desk phones and gateways on fixed addresses; load tests).

Where a registered contact is sent (RFC 3261 §8.1.2 says: to the Contact URI):

- a binding made over TCP/TLS/WS goes back on the connection it was registered on (RFC 5626
  §5, RFC 7118 §5): a browser's contact (``...invalid``) cannot be reached any other way;
- over UDP, to the Contact's address, unless the phone is behind NAT: its Contact names a
  private address (RFC 1918, shared, link-local) other than where the REGISTER came from, or a
  host name; then to the REGISTER's source (what Kamailio's nathelper calls fixing a NATed
  contact). A phone may register a Contact elsewhere than itself (a registration service,
  SIPp's registering process for its answering one) and is rung there.

A static URI is sent to its own host, port and transport.

The INVITE carries the caller as the agent may see it: the customer's number is masked
unless the tenant's policy shows it (``calls.show_caller_number``), and the display name says
which queue the call comes from.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass

from ..registrar.locations import Binding
from ..sip.address import DEFAULT_PORTS, TRANSPORTS, Listener, Peer
from ..sip.message import Request, parse_message
from ..sip.uri import SipUri, parse_uri


@dataclass(frozen=True, slots=True)
class Destination:
    """One place to ring: the Request-URI and the transport address it goes to."""

    uri: str
    peer: Peer
    kind: str  # "registered" | "static"


def destinations(bindings: list[Binding], static_contact: str | None) -> list[Destination]:
    """Every place an agent can be rung, registered contacts first."""
    out = [Destination(str(b.uri), _binding_peer(b), "registered") for b in bindings]
    if static_contact is not None:
        uri = parse_uri(static_contact)
        if isinstance(uri, SipUri):
            transport = (uri.transport or "udp").lower()
            if transport not in TRANSPORTS:
                transport = "udp"
            if uri.scheme == "sips" and transport == "udp":
                transport = "tls"
            port = uri.port or DEFAULT_PORTS[transport]
            out.append(Destination(static_contact, Peer(transport, uri.host.strip("[]"), port),
                                   "static"))
    return out


def trunk_destination(trunk_uri: str, number: str) -> Destination:
    """``number`` at the carrier's trunk: ``sip:NUMBER@gw:port;transport=...``."""
    uri = parse_uri(trunk_uri)
    if not isinstance(uri, SipUri):
        raise ValueError(f"trunk uri {trunk_uri!r} is not a SIP URI")
    [place] = destinations([], trunk_uri)
    host = f"[{uri.host}]" if ":" in uri.host else uri.host
    port = f":{uri.port}" if uri.port else ""
    params = "".join(f";{k}" + (f"={v}" if v is not None else "") for k, v in uri.params)
    return Destination(f"{uri.scheme}:{_user_part(number)}@{host}{port}{params}", place.peer,
                       "trunk")


def _binding_peer(binding: Binding) -> Peer:
    source = binding.peer
    if source.is_stream:
        return source
    host = binding.uri.host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return source  # a host name: the source is where the phone surely is
    natted = not address.is_global and not address.is_loopback and host != source.host
    if natted or address.is_unspecified:
        return source
    transport = (binding.uri.transport or "udp").lower()
    if transport != "udp":
        return source
    return Peer("udp", host, binding.uri.port or DEFAULT_PORTS["udp"])


def mask_number(number: str, keep: int = 4) -> str:
    """``+15550100`` -> ``*****0100``: enough for an agent to confirm, not to dial."""
    if len(number) <= keep:
        return "*" * len(number)
    return "*" * (len(number) - keep) + number[-keep:]


@dataclass(frozen=True, slots=True)
class CallerShown:
    """The caller as the agent's phone shows it."""

    user: str
    display: str


def caller_shown(caller: str, queue: str, *, show_number: bool) -> CallerShown:
    user = caller if show_number else mask_number(caller)
    return CallerShown(_user_part(user), f"{queue} queue")


def _user_part(text: str) -> str:
    """Characters allowed unescaped in a SIP URI user part (RFC 3261 §25.1) and ``*``."""
    return "".join(ch for ch in text if ch.isalnum() or ch in "-_.!~*'()&=+$,;?/") or "anonymous"


def agent_invite(destination: Destination, *, agent: str, domain: str, local: Listener,
                 shown: CallerShown, sdp: str, server: str,
                 call_id: str | None = None) -> Request:
    """A complete INVITE to ``destination`` with our From tag, Call-ID, Via and Contact; To
    is the agent's address of record (for a trunk: the dialled URI)."""
    host = f"[{local.host}]" if ":" in local.host else local.host
    transport = local.transport.upper()
    suffix = "" if local.transport == "udp" else f";transport={local.transport}"
    body = sdp.encode()
    display = f'"{shown.display}" ' if shown.display else ""
    to = destination.uri if destination.kind == "trunk" else f"sip:{agent}@{domain}"
    text = (
        f"INVITE {destination.uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {host}:{local.port};branch=z9hG4bK{secrets.token_hex(10)}"
        ";rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: {display}<sip:{shown.user}@{domain}>;tag={secrets.token_hex(6)}\r\n"
        f"To: <{to}>\r\n"
        f"Call-ID: {call_id or secrets.token_hex(12)}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:switchboard@{host}:{local.port}{suffix}>\r\n"
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO\r\n"
        f"User-Agent: {server}\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n")
    message = parse_message(text.encode() + body)
    assert isinstance(message, Request)
    return message


def via_of(request: Request) -> str:
    """The sent-by part of our own Via (for the ACK and BYE the leg sends later)."""
    top = request.headers.get("Via") or ""
    return top.split(";", 1)[0]
