"""The real node as a subprocess on port 0, driven over real UDP/TCP sockets and HTTP.

The client is a few lines of raw sockets on top of our DigestClient; other helpers test the
node against SIPp, pjsua2, baresip and WebSocket clients.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switch.sip.auth import DigestClient
from switch.sip.message import Response, parse_message

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0  # generous bound for one reply on a loaded 2-core machine (not a speed claim)


class Node:
    def __init__(self, proc: subprocess.Popen[str], ready: dict[str, Any]) -> None:
        self.proc = proc
        self.ready = ready
        self.sip = {item.split(":")[0]: (item.split(":")[1], int(item.split(":")[2]))
                    for item in ready["sip"]}


def start_node(tmp_path: Path, *extra: str) -> Node:
    args = [sys.executable, "-m", "switch", "run", "--sip", "udp:127.0.0.1:0",
            "--sip", "tcp:127.0.0.1:0", "--http", "127.0.0.1:0",
            "--data-dir", str(tmp_path), *extra]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], 30.0)
    line = proc.stdout.readline() if readable else ""
    if not line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"node did not print its ready line; stderr:\n{err}")
    ready = json.loads(line)
    assert ready["event"] == "ready"
    return Node(proc, ready)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    started = start_node(tmp_path_factory.mktemp("node"))
    yield started
    if started.proc.poll() is None:
        started.proc.send_signal(signal.SIGTERM)
        try:
            started.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            started.proc.kill()
            started.proc.wait(timeout=10)


class Client:
    """One SIP UA socket (UDP or TCP) speaking raw bytes to the node."""

    def __init__(self, transport: str, addr: tuple[str, int]) -> None:
        self.transport = transport
        self.addr = addr
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.settimeout(WAIT)
        if transport == "udp":
            self.sock.bind(("127.0.0.1", 0))
        else:
            self.sock.connect(addr)
        self.local = self.sock.getsockname()
        self.buffer = b""
        self.call_id = uuid.uuid4().hex
        self.cseq = 0

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        if self.transport == "udp":
            self.sock.sendto(data, self.addr)
        else:
            self.sock.sendall(data)

    def receive(self) -> Response:
        if self.transport == "udp":
            data, _ = self.sock.recvfrom(65535)
        else:
            data = self._read_stream_message()
        message = parse_message(data, datagram=self.transport == "udp")
        assert isinstance(message, Response)
        return message

    def _read_stream_message(self) -> bytes:
        for _ in range(1000):
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                head = self.buffer[:head_end].decode()
                length = 0
                for line in head.split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() in ("content-length", "l"):
                        length = int(value.strip())
                total = head_end + 4 + length
                if len(self.buffer) >= total:
                    message, self.buffer = self.buffer[:total], self.buffer[total:]
                    return message
            chunk = self.sock.recv(65535)
            if not chunk:
                raise ConnectionError("node closed the connection")
            self.buffer += chunk
        raise AssertionError("no complete message")

    def request(self, method: str, uri: str, *, user: str = "1001", headers: list[str] = (),
                body: bytes = b"") -> Response:
        self.cseq += 1
        host, port = self.local
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/{self.transport.upper()} {host}:{port}"
            f";branch=z9hG4bK{uuid.uuid4().hex};rport",
            "Max-Forwards: 70",
            f"From: <sip:{user}@switchboard.local>;tag={self.call_id[:8]}",
            f"To: <sip:{user}@switchboard.local>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} {method}",
            *headers,
            f"Content-Length: {len(body)}",
        ]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return self.receive()

    def register(self, user: str, password: str, expires: int = 300) -> Response:
        host, port = self.local
        contact = f"Contact: <sip:{user}@{host}:{port};transport={self.transport}>"
        headers = [contact, f"Expires: {expires}"]
        challenge = self.request("REGISTER", "sip:switchboard.local", user=user,
                                 headers=headers)
        assert challenge.status == 401, challenge
        auth = DigestClient(user, password).authorize(
            challenge.headers.getall("WWW-Authenticate"), "REGISTER", "sip:switchboard.local")
        return self.request("REGISTER", "sip:switchboard.local", user=user,
                            headers=[*headers, f"Authorization: {auth}"])


def http_get(node: Node, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(node.ready["http"] + path, timeout=WAIT) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_ready_line_has_real_ports(node: Node) -> None:
    assert set(node.sip) == {"udp", "tcp"}
    assert all(port > 0 for _, port in node.sip.values())
    assert node.ready["http"].startswith("http://127.0.0.1:")
    assert not node.ready["http"].endswith(":0")
    assert node.ready["version"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_with_digest(node: Node, transport: str) -> None:
    client = Client(transport, node.sip[transport])
    try:
        response = client.register("1002" if transport == "udp" else "1003",
                                   "demo1002" if transport == "udp" else "demo1003")
        assert response.status == 200, response
        [contact] = response.headers.getall("Contact")
        assert f":{client.local[1]};transport={transport}>" in contact
        assert ";expires=" in contact
    finally:
        client.close()


def test_wrong_password_is_challenged_again(node: Node) -> None:
    client = Client("udp", node.sip["udp"])
    try:
        response = client.register("1004", "not-the-password")
        assert response.status == 401
        assert response.headers.getall("WWW-Authenticate")
    finally:
        client.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_options_answered(node: Node, transport: str) -> None:
    client = Client(transport, node.sip[transport])
    try:
        response = client.request("OPTIONS", f"sip:service@127.0.0.1:{node.sip[transport][1]}")
        assert response.status == 200
        assert "REGISTER" in (response.headers.get("Allow") or "")
    finally:
        client.close()


def test_trunk_invite_to_demo_number_is_not_challenged(node: Node) -> None:
    client = Client("udp", node.sip["udp"])
    try:
        response = client.request("INVITE", f"sip:200@127.0.0.1:{node.sip['udp'][1]}")
        # Admitted without a challenge (no 407); an INVITE without an SDP offer is refused.
        assert response.status == 488
        assert "SDP offer is required" in response.reason
    finally:
        client.close()


def test_malformed_datagram_gets_400_and_node_keeps_serving(node: Node) -> None:
    client = Client("udp", node.sip["udp"])
    try:
        host, port = client.local
        junk = (f"OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bKjunk1\r\n"
                f"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: junk1\r\n"
                f"CSeq: not-a-number OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()
        client.send(junk)
        response = client.receive()
        assert response.status == 400
        assert "CSeq" in response.reason or "CSeq" in (response.headers.get("Warning") or "")
        client.send(b"\x00\xff garbage that is not SIP at all")  # dropped, no answer possible
        follow_up = client.request("OPTIONS", "sip:127.0.0.1")
        assert follow_up.status == 200
    finally:
        client.close()


def test_healthz(node: Node) -> None:
    status, body = http_get(node, "/healthz")
    assert status == 200
    assert body["status"] == "ok"
    assert body["version"] == node.ready["version"]
    assert body["listeners"] == node.ready["sip"]
    assert isinstance(body["uptime"], int | float) and body["uptime"] >= 0
    assert "demo10" not in json.dumps(body)  # no passwords in health


def test_sigterm_stops_cleanly_within_five_seconds(tmp_path: Path) -> None:
    started = start_node(tmp_path)
    client = Client("udp", started.sip["udp"])
    try:
        assert client.request("OPTIONS", "sip:127.0.0.1").status == 200
    finally:
        client.close()
    started.proc.send_signal(signal.SIGTERM)
    try:
        code = started.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        started.proc.kill()
        started.proc.wait(timeout=10)
        raise AssertionError("node did not stop within 5 s of SIGTERM") from None
    _, err = started.proc.communicate(timeout=10)
    assert code == 0, err
    assert "demo1001" not in err.replace("1001 / demo1001", "")  # only the banner shows it


def test_port_in_use_is_a_clear_start_failure(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "switch", "run", "--sip", f"udp:127.0.0.1:{port}",
             "--http", "127.0.0.1:0", "--data-dir", str(tmp_path)],
            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert f"could not start: cannot listen on udp:127.0.0.1:{port}: Address already in use" \
        in proc.stderr


def test_unresolvable_listener_address_is_named(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "switch", "run", "--sip", "udp:no-such-host.invalid:5060",
         "--http", "127.0.0.1:0", "--data-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "cannot listen on udp:no-such-host.invalid:5060: the address cannot be resolved" \
        in proc.stderr


def test_http_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "switch", "run", "--sip", "udp:127.0.0.1:0",
             "--http", f"127.0.0.1:{port}", "--data-dir", str(tmp_path)],
            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert f"cannot listen on http 127.0.0.1:{port}: Address already in use" in proc.stderr


def test_tls_and_ws_listeners_with_generated_dev_certificate(tmp_path: Path) -> None:
    import ssl

    from websockets.sync.client import connect

    started = start_node(tmp_path, "--sip", "tls:127.0.0.1:0", "--sip", "ws:127.0.0.1:0")
    try:
        sip = {item.split(":")[0]: int(item.split(":")[2]) for item in started.ready["sip"]}
        assert set(sip) == {"udp", "tcp", "tls", "ws"}
        assert (tmp_path / "dev-cert.pem").exists()
        context = ssl.create_default_context(cafile=str(tmp_path / "dev-cert.pem"))
        raw = socket.create_connection(("127.0.0.1", sip["tls"]), timeout=WAIT)
        client = Client("tcp", ("127.0.0.1", sip["tls"]))
        client.sock.close()
        client.sock = context.wrap_socket(raw, server_hostname="localhost")
        client.transport = "tls"
        client.local = client.sock.getsockname()
        assert client.request("OPTIONS", "sip:127.0.0.1").status == 200
        client.close()
        with connect(f"ws://127.0.0.1:{sip['ws']}", subprotocols=["sip"],  # type: ignore[list-item]
                     open_timeout=WAIT) as ws:
            text = ("OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
                    "Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws1\r\n"
                    "Max-Forwards: 70\r\nFrom: <sip:1001@switchboard.local>;tag=w1\r\n"
                    "To: <sip:1001@switchboard.local>\r\nCall-ID: ws-1\r\n"
                    "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
            ws.send(text)
            reply = ws.recv(timeout=WAIT)
            data = reply.encode() if isinstance(reply, str) else reply
            response = parse_message(data)
            assert isinstance(response, Response) and response.status == 200
    finally:
        started.proc.send_signal(signal.SIGTERM)
        started.proc.wait(timeout=10)


def _wait_for_health(node: Node, predicate: Any, what: str) -> dict[str, Any]:
    """Poll /healthz until ``predicate(body)``; bounded in count (not a speed assertion)."""
    import time

    body: dict[str, Any] = {}
    for _ in range(100):
        _, body = http_get(node, "/healthz")
        if predicate(body):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{what} never happened; last health: {body}")


def test_qualify_marks_a_silent_udp_contact_unreachable_then_reachable(tmp_path: Path) -> None:
    import yaml

    from switch.demo import demo_data

    data = demo_data()
    data["registrar"] = {"qualify_interval": 0.3, "qualify_timeout": 0.3, "qualify_misses": 1,
                         "min_expires": 1}
    config = tmp_path / "qualify.yaml"
    config.write_text(yaml.safe_dump(data))
    started = start_node(tmp_path, "--config", str(config))
    client = Client("udp", started.sip["udp"])
    try:
        assert client.register("1005", "demo1005").status == 200
        # The node probes the contact with OPTIONS; this phone stays silent.
        raw, _ = client.sock.recvfrom(65535)
        probe = parse_message(raw)
        assert getattr(probe, "method", None) == "OPTIONS"
        _wait_for_health(started, lambda b: b["registrations"]["unreachable"] == 1,
                         "endpoint unreachable")
        # Now it answers the next probe: reachable again.
        for _ in range(20):
            raw, _ = client.sock.recvfrom(65535)
            request = parse_message(raw)
            if getattr(request, "method", None) == "OPTIONS":
                break
        from switch.sip.message import Request, make_response
        assert isinstance(request, Request)
        client.send(make_response(request, 200, to_tag="phone").serialize())
        _wait_for_health(started, lambda b: b["registrations"]["unreachable"] == 0,
                         "endpoint reachable again")
    finally:
        client.close()
        started.proc.send_signal(signal.SIGTERM)
        started.proc.wait(timeout=10)
