"""A deliberately small SIP client for integration tests: raw text over real sockets.

It shares no code with the node (its own message builder, response reader and RFC 7616 digest),
so a bug in the node's parser or digest code cannot hide behind the same bug here. It speaks
UDP (from any 127/8 source address), TCP (Content-Length framing) and WebSocket (RFC 7118,
subprotocol "sip", one message per frame).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import socket
import time
from dataclasses import dataclass, field

from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

# Compact header forms (RFC 3261 §7.3.3) the node may use in answers.
_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
            "l": "content-length", "c": "content-type", "k": "supported", "s": "subject",
            "e": "content-encoding"}


@dataclass
class SipResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    raw: bytes = b""

    def all(self, name: str) -> list[str]:
        key = name.lower()
        return [v for n, v in self.headers if _COMPACT.get(n.lower(), n.lower()) == key]

    def get(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def header_names(self) -> list[str]:
        """Header names, canonical lower-case long forms, in order (with repeats)."""
        return [_COMPACT.get(n.lower(), n.lower()) for n, _ in self.headers]


def parse_response(data: bytes) -> SipResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    match = re.match(r"SIP/2\.0 (\d{3}) ?(.*)$", lines[0])
    if match is None:
        raise AssertionError(f"not a SIP response: {data[:200]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return SipResponse(int(match.group(1)), match.group(2), headers, body, data)


def challenge_params(value: str) -> dict[str, str]:
    """Parameters of a ``Digest ...`` challenge (WWW-Authenticate value)."""
    scheme, _, rest = value.strip().partition(" ")
    assert scheme.lower() == "digest", value
    return {k.lower(): (v[1:-1] if v.startswith('"') else v)
            for k, v in re.findall(r'([A-Za-z0-9_-]+)\s*=\s*("[^"]*"|[^\s,]+)', rest)}


def _hash(algorithm: str, text: str) -> str:
    name = "sha256" if algorithm.upper().startswith("SHA-256") else "md5"
    return hashlib.new(name, text.encode()).hexdigest()


def digest_authorization(challenge: str, method: str, uri: str, username: str, password: str,
                         *, nc: int = 1, cnonce: str | None = None) -> str:
    """An Authorization value answering ``challenge`` (RFC 7616 §3.4, qop=auth when offered)."""
    params = challenge_params(challenge)
    algorithm = params.get("algorithm", "MD5")
    realm, nonce = params["realm"], params["nonce"]
    ha1 = _hash(algorithm, f"{username}:{realm}:{password}")
    ha2 = _hash(algorithm, f"{method}:{uri}")
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
             f"algorithm={algorithm}"]
    if "auth" in [q.strip() for q in params.get("qop", "").split(",")]:
        cnonce = cnonce or secrets.token_hex(8)
        nc_text = f"{nc:08x}"
        response = _hash(algorithm, f"{ha1}:{nonce}:{nc_text}:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", f"nc={nc_text}", f'cnonce="{cnonce}"']
    else:
        response = _hash(algorithm, f"{ha1}:{nonce}:{ha2}")
    parts.append(f'response="{response}"')
    if "opaque" in params:
        parts.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(parts)


def pick_challenge(response: SipResponse, algorithm: str | None = None) -> str:
    """The WWW-Authenticate value for ``algorithm`` (MD5 when no algorithm= is given); by
    default the first one we support, as RFC 7616 §3.7 tells clients to choose."""
    for value in response.all("www-authenticate"):
        offered = challenge_params(value).get("algorithm", "MD5").upper()
        if offered == (algorithm or offered).upper() and offered in ("MD5", "SHA-256"):
            return value
    raise AssertionError(f"no {algorithm} challenge in {response.all('www-authenticate')}")


class SipConnection:
    """One client socket (udp, tcp or ws) to the node; ``send``/``recv`` whole messages."""

    def __init__(self, transport: str, server: tuple[str, int], *, source_ip: str = "127.0.0.1",
                 ws_path: str = "/") -> None:
        self.transport = transport
        self.server = server
        self._buffer = b""
        self._ws: ClientConnection | None = None
        self._stack = contextlib.ExitStack()
        self._sock: socket.socket | None = None
        if transport == "udp":
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.bind((source_ip, 0))
            self.local = self._sock.getsockname()
        elif transport == "tcp":
            self._sock = socket.create_connection(server, timeout=5,
                                                  source_address=(source_ip, 0))
            self.local = self._sock.getsockname()
        elif transport == "ws":
            self._ws = self._stack.enter_context(ws_connect(
                f"ws://{server[0]}:{server[1]}{ws_path}", subprotocols=["sip"], open_timeout=5))
            self.local = ("invalid.invalid", 0)  # RFC 7118 §5: WS clients use a fake host
        else:
            raise ValueError(transport)

    @property
    def subprotocol(self) -> str | None:
        return self._ws.subprotocol if self._ws is not None else None

    def close(self) -> None:
        self._stack.close()
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> SipConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        if self._ws is not None:
            self._ws.send(data.decode("utf-8"))
        elif self.transport == "udp":
            assert self._sock is not None
            self._sock.sendto(data, self.server)
        else:
            assert self._sock is not None
            self._sock.sendall(data)

    def recv(self, timeout: float = 3.0) -> bytes | None:
        """One whole message, or None when nothing came within ``timeout``."""
        if self._ws is not None:
            try:
                frame = self._ws.recv(timeout=timeout)
            except TimeoutError:
                return None
            return frame.encode() if isinstance(frame, str) else frame
        assert self._sock is not None
        if self.transport == "udp":
            self._sock.settimeout(timeout)
            try:
                return self._sock.recv(65535)
            except TimeoutError:
                return None
        deadline = time.monotonic() + timeout
        while True:
            message = self._take_stream_message()
            if message is not None:
                return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(65535)
            except TimeoutError:
                return None
            except ConnectionResetError:
                # a refused connection (e.g. a banned source) is reset by the node: no answer
                return None
            if not chunk:
                return None
            self._buffer += chunk

    def _take_stream_message(self) -> bytes | None:
        self._buffer = self._buffer.lstrip(b"\r\n")  # CRLF keepalive pongs
        head, sep, rest = self._buffer.partition(b"\r\n\r\n")
        if not sep:
            return None
        match = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
        length = int(match.group(1)) if match else 0
        if len(rest) < length:
            return None
        message = head + sep + rest[:length]
        self._buffer = rest[length:]
        return message

    def recv_response(self, timeout: float = 3.0, *, skip_provisional: bool = True
                      ) -> SipResponse | None:
        deadline = time.monotonic() + timeout
        while True:
            data = self.recv(max(0.0, deadline - time.monotonic()))
            if data is None:
                return None
            if not data.startswith(b"SIP/2.0"):
                continue  # a request from the node (e.g. an OPTIONS qualify): not ours
            response = parse_response(data)
            if skip_provisional and response.status < 200:
                continue
            return response

    def request(self, data: bytes, timeout: float = 3.0) -> SipResponse | None:
        """Send and wait for the final answer; over UDP retransmit like a non-INVITE client
        transaction (RFC 3261 §17.1.2.2: Timer E from T1 = 0.5 s, doubling up to T2 = 4 s)."""
        self.send(data)
        if self.transport != "udp":
            return self.recv_response(timeout)
        deadline = time.monotonic() + timeout
        interval = 0.5
        while True:
            wait = min(interval, deadline - time.monotonic())
            if wait <= 0:
                return None
            response = self.recv_response(wait)
            if response is not None:
                return response
            if time.monotonic() >= deadline:
                return None
            self.send(data)
            interval = min(interval * 2, 4.0)


class SipUser:
    """Builds requests for one user on one connection (fresh branch per request)."""

    def __init__(self, conn: SipConnection, user: str, domain: str = "switchboard.local") -> None:
        self.conn = conn
        self.user = user
        self.domain = domain
        self.call_id = secrets.token_hex(10) + "@test"
        self.from_tag = secrets.token_hex(6)
        self.cseq = 0

    @property
    def via_transport(self) -> str:
        return {"udp": "UDP", "tcp": "TCP", "ws": "WS"}[self.conn.transport]

    def registrar_uri(self) -> str:
        host, port = self.conn.server
        return f"sip:{host}:{port}"

    def build(self, method: str, uri: str, *, headers: list[str] | None = None,
              body: bytes = b"", call_id: str | None = None, cseq: int | None = None,
              contact: bool = True) -> bytes:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        host, port = self.conn.local
        sent_by = f"{host}:{port}" if port else host
        transport_param = self.conn.transport
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/{self.via_transport} {sent_by};branch=z9hG4bK{secrets.token_hex(8)};"
            "rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@{self.domain}>;tag={self.from_tag}",
            f"To: <sip:{self.user}@{self.domain}>",
            f"Call-ID: {call_id or self.call_id}",
            f"CSeq: {cseq} {method}",
            *([f"Contact: <sip:{self.user}@{sent_by};transport={transport_param}>"]
              if contact else []),
            "User-Agent: switchboard-integration-tests",
            *(headers or []),
            f"Content-Length: {len(body)}",
            "",
            "",
        ]
        return "\r\n".join(lines).encode() + body

    def register(self, password: str | None, *, expires: int = 600,
                 algorithm: str | None = None, timeout: float = 3.0
                 ) -> tuple[SipResponse | None, SipResponse | None]:
        """REGISTER, and when challenged answer with ``password``: (first, final) answers."""
        uri = self.registrar_uri()
        first = self.conn.request(self.build("REGISTER", uri, headers=[f"Expires: {expires}"]),
                                  timeout)
        if first is None or first.status != 401 or password is None:
            return first, first
        auth = digest_authorization(pick_challenge(first, algorithm), "REGISTER", uri,
                                    self.user, password)
        final = self.conn.request(self.build("REGISTER", uri, headers=[
            f"Expires: {expires}", f"Authorization: {auth}"]), timeout)
        return first, final

    def authed(self, method: str, password: str, *, headers: list[str] | None = None,
               contact: bool = True, algorithm: str | None = None, timeout: float = 3.0
               ) -> SipResponse | None:
        """Send ``method`` to the node, answering one digest challenge with ``password``."""
        uri = self.registrar_uri()
        first = self.conn.request(self.build(method, uri, headers=headers, contact=contact),
                                  timeout)
        if first is None or first.status != 401:
            return first
        auth = digest_authorization(pick_challenge(first, algorithm), method, uri, self.user,
                                    password)
        return self.conn.request(self.build(method, uri, contact=contact, headers=[
            *(headers or []), f"Authorization: {auth}"]), timeout)

    def bindings(self, password: str, timeout: float = 3.0) -> list[str]:
        """Contacts the registrar holds for this user: a REGISTER without Contact is a query
        (RFC 3261 §10.2.3) answered 200 with every current binding."""
        final = self.authed("REGISTER", password, contact=False, timeout=timeout)
        assert final is not None and final.status == 200, (
            f"binding query answered {final.status if final else None}: "
            f"{final.raw[:300] if final else b''!r}")
        return [c for value in final.all("contact") for c in split_contacts(value)]

    def options(self, timeout: float = 3.0) -> SipResponse | None:
        return self.conn.request(self.build("OPTIONS", self.registrar_uri(),
                                            headers=["Accept: application/sdp"]), timeout)


def split_contacts(value: str) -> list[str]:
    """Split a Contact header value on commas outside <> and quotes."""
    out, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(value):
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            out.append(value[start:index].strip())
            start = index + 1
    out.append(value[start:].strip())
    return [item for item in out if item]


def wait_for(condition: object, timeout: float = 5.0, interval: float = 0.1) -> bool:
    """Poll ``condition()`` until true or ``timeout``; for eventually-true facts, not timing."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if condition():
                return True
        time.sleep(interval)
    return False
