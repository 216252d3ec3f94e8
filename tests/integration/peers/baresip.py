"""Run baresip (Debian ``baresip-core``) as a real SIP peer and drive it over ``ctrl_tcp``.

baresip reads its config from a directory (``-f DIR``); we write a minimal one per test:
no audio devices (``ausine``/``aubridge``), bound to 127.0.0.1, and the ``ctrl_tcp`` module,
which speaks JSON in netstrings (``LEN:JSON,``) on a TCP port. Over that socket baresip sends
events such as ``REGISTER_OK``/``REGISTER_FAIL`` and answers commands such as ``reginfo``.
It can also place a call (``dial``, ``sndcode``, ``hangup``; ``CALL_*`` events), with extra
modules and config lines (e.g. ``sndfile.so`` and ``snd_path DIR`` to record both directions
of each call to WAV; ``ausrc_srate 48000`` and ``ausrc_channels 2``, which ``ausine`` needs).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.util import free_port

MODULES = ["ctrl_tcp.so", "menu.so", "g711.so", "ausine.so", "aubridge.so", "account.so"]


def write_config(directory: Path, accounts: list[str], ctrl_port: int, sip_port: int,
                 extra_modules: tuple[str, ...] = (), extra_config: tuple[str, ...] = (),
                 tone: int = 440) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        "poll_method epoll",
        "call_max_calls 8",
        "audio_player aubridge,nil",
        f"audio_source ausine,{tone}",
        "audio_alert aubridge,nil",
        "net_interface 127.0.0.1",
        f"sip_listen 127.0.0.1:{sip_port}",
        "module_path /usr/lib/baresip/modules",
        *(f"module {name}" for name in [*MODULES, *extra_modules] if name != "account.so"),
        "module_tmp account.so",
        f"ctrl_tcp_listen 127.0.0.1:{ctrl_port}",
        *extra_config,
    ]
    (directory / "config").write_text("\n".join(lines) + "\n")
    (directory / "accounts").write_text("\n".join(accounts) + "\n")
    (directory / "contacts").write_text("")


def _netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


@dataclass
class Baresip:
    """One baresip process; use as a context manager. ``events`` collects ctrl_tcp events."""

    directory: Path
    accounts: list[str]
    ctrl_port: int = 0
    sip_port: int = 0
    # More modules (e.g. ``sndfile.so``, which records each call's audio to WAV files) and
    # more config lines (e.g. ``snd_path DIR``).
    extra_modules: tuple[str, ...] = ()
    extra_config: tuple[str, ...] = ()
    # More command-line options, e.g. ``("-s",)``: SIP trace (every message) in the log.
    extra_args: tuple[str, ...] = ()
    tone: int = 440  # the frequency of what it sends (ausine)
    events: list[dict[str, Any]] = field(default_factory=list)
    _proc: subprocess.Popen[bytes] | None = None
    _sock: socket.socket | None = None
    _buffer: bytes = b""
    _token: int = 0

    def __enter__(self) -> Baresip:
        self.ctrl_port = self.ctrl_port or free_port()
        self.sip_port = self.sip_port or free_port()
        write_config(self.directory, self.accounts, self.ctrl_port, self.sip_port,
                     self.extra_modules, self.extra_config, self.tone)
        log = (self.directory / "baresip.log").open("wb")
        self._proc = subprocess.Popen(
            ["baresip", "-f", str(self.directory), "-n", "127.0.0.1", *self.extra_args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.directory, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self._sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
                break
            except OSError:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"baresip exited early: {self.log()}") from None
                time.sleep(0.1)
        else:
            raise RuntimeError(f"baresip ctrl_tcp never listened: {self.log()}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self.command("quit", timeout=1)
            self._sock.close()
        if self._proc is not None:
            try:
                self._proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.kill(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=3)

    def log(self) -> str:
        path = self.directory / "baresip.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _read_messages(self, timeout: float) -> list[dict[str, Any]]:
        assert self._sock is not None
        self._sock.settimeout(timeout)
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            return []
        if not chunk:
            raise RuntimeError("baresip closed ctrl_tcp")
        self._buffer += chunk
        out = []
        while b":" in self._buffer:
            length_text, _, rest = self._buffer.partition(b":")
            length = int(length_text)
            if len(rest) < length + 1:
                break
            out.append(json.loads(rest[:length]))
            self._buffer = rest[length + 1:]
        return out

    def _pump(self, timeout: float) -> list[dict[str, Any]]:
        messages = self._read_messages(timeout)
        self.events.extend(m for m in messages if m.get("event"))
        return [m for m in messages if m.get("response")]

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        """Send a command; return its response (``ok``, ``data``)."""
        assert self._sock is not None
        self._token += 1
        token = str(self._token)
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._sock.sendall(_netstring(body))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for response in self._pump(0.2):
                if response.get("token") == token:
                    return response
        raise TimeoutError(f"baresip gave no answer to {command!r}")

    def wait_event(self, types: set[str], timeout: float = 10.0) -> dict[str, Any]:
        """The first event (already seen or arriving) whose ``type`` is in ``types``."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("type") in types:
                    return event
            seen = len(self.events)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no {types} event from baresip; got {self.events}\n"
                                   f"{self.log()[-2000:]}")
            self._pump(0.2)

    def reginfo(self) -> str:
        """baresip's registration table (``menu`` module), ANSI colours stripped."""
        data = str(self.command("reginfo").get("data", ""))
        return re.sub(r"\x1b\[[0-9;]*m", "", data)

    def wait_registration(self, timeout: float = 10.0) -> str:
        """Poll ``reginfo`` until the account line says ``OK`` or ``ERR``; return that word."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.reginfo()
            match = re.search(r"^>?\s*sip:\S+\s+(OK|ERR)\b", text, re.MULTILINE)
            if match:
                return match.group(1)
            time.sleep(0.2)
        raise TimeoutError(f"baresip registration still pending: {text!r}\n{self.log()[-2000:]}")

    # Calls (``menu`` module commands). baresip 1.0 answers a command at once; what happens
    # to the call arrives later as ``CALL_*`` events (``CALL_ESTABLISHED``, ``CALL_CLOSED``).

    def dial(self, uri: str) -> dict[str, Any]:
        """Call ``uri`` from the current account (``dial``)."""
        return self.command("dial", uri)

    def send_dtmf(self, digit: str) -> dict[str, Any]:
        """Send one key on the current call (``sndcode``): RFC 4733 telephone-event when the
        call negotiated it."""
        return self.command("sndcode", digit)

    def hangup(self) -> dict[str, Any]:
        """Hang up the current call (``hangup``)."""
        return self.command("hangup")
