"""pjsua2 (PyPI ``pjsua2-pybind11``, the PJSIP stack) registers with the node over UDP and TCP.

Each scenario runs ``tests/integration/peers/pjsua2_register.py`` in its own process, because
pjsua2 allows one Endpoint per process and aborts when called from a foreign thread (design §6).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import RunningNode
from tests.integration.sipclient import SipConnection, SipUser

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def pjsua2_register(node: RunningNode, transport: str, user: str, password: str,
                    *, unregister: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "tests.integration.peers.pjsua2_register",
           "--registrar", node.hostport(transport), "--transport", transport,
           "--user", user, "--password", password, "--timeout", "10"]
    if unregister:
        cmd.append("--unregister")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"pjsua2 script failed (rc {proc.returncode})\n{proc.stdout[-2000:]}\n"
        f"{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_pjsua2_registers_and_unregisters(node: RunningNode, transport: str) -> None:
    result = pjsua2_register(node, transport, "1001", "demo1001", unregister=True)
    assert result["code"] == 200, result
    assert result["expiration"] > 0, result
    assert result["unregister"] is not None and result["unregister"][0] == 200, result
    # After the unregister the node holds no binding for 1001.
    with SipConnection("udp", node.addr("udp")) as conn:
        assert SipUser(conn, "1002").bindings("demo1002") == []
        assert SipUser(conn, "1001").bindings("demo1001") == []


def test_pjsua2_binding_is_held_by_the_node(node: RunningNode) -> None:
    """While pjsua2 stays registered, the node lists its contact for the user."""
    cmd = [sys.executable, "-m", "tests.integration.peers.pjsua2_register",
           "--registrar", node.hostport("tcp"), "--transport", "tcp",
           "--user", "1003", "--password", "demo1003", "--timeout", "10", "--hold", "30"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        result: dict[str, Any] | None = None
        for line in proc.stdout:  # ends when pjsua2 prints its result (or exits)
            if line.startswith("RESULT "):
                result = json.loads(line.removeprefix("RESULT "))
                break
        assert result is not None and result["code"] == 200, result
        with SipConnection("udp", node.addr("udp")) as conn:
            contacts = SipUser(conn, "1003").bindings("demo1003")
        assert any("sip:1003@127.0.0.1" in c and "transport=tcp" in c.lower()
                   for c in contacts), contacts
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


@pytest.mark.parametrize("user,password", [("1004", "not-the-password"),
                                           ("9999", "demo9999")])
def test_pjsua2_bad_credentials_are_refused(node: RunningNode, user: str, password: str) -> None:
    """A wrong password and an unknown user end the same way: pjsua2 reports the 401 (or 403)
    the node answered, and no binding exists."""
    result = pjsua2_register(node, "udp", user, password)
    assert result["code"] in (401, 403), result
    assert result["active"] is False, result
