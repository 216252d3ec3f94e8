"""The load tenant's node config (loadtest/tenant.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtest.__main__ import main
from loadtest.tenant import tenant_config, tenant_yaml
from loadtest.users import numbered_users
from switch.config import parse_config


def without_pending_keys(config: dict[str, Any]) -> dict[str, Any]:
    """The tenant minus the two keys the node's validation does not know yet.

    TODO(tighten): ``calls.auto_ready`` and ``accounts[].contact`` are being added to
    switch/config.py right now; once they are, validate the tenant as written and delete this.
    """
    data = copy.deepcopy(config)
    data["calls"].pop("auto_ready", None)
    if not data["calls"]:
        del data["calls"]
    for account in data["accounts"]:
        account.pop("contact", None)
    return data


def _cli(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "node.yaml"
    assert main(["tenant", *args, "-o", str(out)]) == 0
    data: dict[str, Any] = yaml.safe_load(out.read_text())
    return data


def test_tenant_structure(tmp_path: Path) -> None:
    data = _cli(tmp_path, "--agents", "200", "--queue-number", "200")
    users = numbered_users(200, password_prefix="load")
    assert [a["username"] for a in data["accounts"]] == [u.username for u in users]
    assert [a["password"] for a in data["accounts"]] == [u.password for u in users]
    assert all("contact" not in a for a in data["accounts"])
    assert data["numbers"] == {"200": "queue:load"}
    routing = data["routing"]
    assert routing["skills"] == ["load"]
    assert routing["agents"] == [{"id": u.username, "skills": {"load": 5}} for u in users]
    assert routing["queues"] == [{"id": "load", "expression": "load >= 1",
                                  "strategy": "longest_idle"}]
    assert data["calls"] == {"auto_ready": True}
    assert data["security"] == {"trusted_sources": ["127.0.0.1/32"],
                                "rate_limit": {"rate": 100000, "burst": 100000},
                                "digest_algorithms": ["MD5"]}
    assert data["listeners"] == ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]
    assert data["http"] == {"listen": "127.0.0.1:8080"}
    assert data["node"]["accept_any_domain"] is True
    assert data["node"]["domain"] == "switchboard.local"


def test_tenant_static_contacts_and_options(tmp_path: Path) -> None:
    data = _cli(tmp_path, "--agents", "3", "--queue-number", "500", "--queue", "bulk",
                "--start", "7001", "--password-prefix", "pw", "--agent-contact",
                "127.0.0.1:5070", "--generator", "10.0.0.9", "--generator", "10.1.0.0/16",
                "--listen", "udp:0.0.0.0:5060", "--http", "0.0.0.0:8081", "--domain",
                "load.example")
    assert [a["contact"] for a in data["accounts"]] == [
        "sip:7001@127.0.0.1:5070", "sip:7002@127.0.0.1:5070", "sip:7003@127.0.0.1:5070"]
    assert data["accounts"][0]["password"] == "pw7001"
    assert data["numbers"] == {"500": "queue:bulk"}
    assert data["routing"]["queues"][0]["id"] == "bulk"
    assert data["security"]["trusted_sources"] == ["10.0.0.9/32", "10.1.0.0/16"]
    assert data["listeners"] == ["udp:0.0.0.0:5060"]
    assert data["http"] == {"listen": "0.0.0.0:8081"}
    assert data["node"]["domain"] == "load.example"
    assert data["calls"] == {"auto_ready": True}
    quiet = _cli(tmp_path, "--agents", "1", "--agent-media-timeout", "300")
    assert quiet["calls"] == {"auto_ready": True, "agent_media_timeout": 300.0}
    tcp = tenant_config(agents=1, agent_contact="[::1]:5070", agent_transport="tcp")
    assert tcp["accounts"][0]["contact"] == "sip:1001@[::1]:5070;transport=tcp"


@pytest.mark.parametrize("contact", [None, "127.0.0.1:5070"])
def test_tenant_is_a_valid_node_config(contact: str | None) -> None:
    config = tenant_config(agents=50, agent_contact=contact)
    text = tenant_yaml(config)
    parsed = parse_config(without_pending_keys(yaml.safe_load(text)), "tenant")
    assert len(parsed.accounts) == 50
    assert parsed.numbers == {"200": "queue:load"}
    assert parsed.security.is_trusted("127.0.0.1")
    assert parsed.security.digest_algorithms == ["MD5"]


def test_tenant_as_written_is_a_valid_node_config() -> None:
    """The tenant with calls.auto_ready and static contacts, as written (these keys have
    landed in switch/config.py; this is the tightened form of the test above)."""
    parsed = parse_config(tenant_config(agents=5, agent_contact="127.0.0.1:5070",
                                        agent_media_timeout=300), "tenant")
    assert len(parsed.accounts) == 5
    assert parsed.calls.agent_media_timeout == 300


def test_tenant_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="also an agent's username"):
        tenant_config(agents=5, queue_number="1003")
    with pytest.raises(ValueError, match="HOST:PORT"):
        tenant_config(agents=5, agent_contact="127.0.0.1")
    with pytest.raises(ValueError, match="not an IP address"):
        tenant_config(agents=5, generators=("sipp.example",))
    with pytest.raises(SystemExit):
        main(["tenant", "--agents", "5", "--queue-number", "1001"])
