"""agent_register.xml against the real node: one SIPp registers the agents with Contacts that
point at another address (the agent_answer SIPp's), and the node holds those bindings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from loadtest.runner import LoadOptions, register_agents
from loadtest.sipp import free_local_port
from loadtest.tenant import tenant_config, tenant_yaml
from loadtest.users import numbered_users, write_users_csv
from tests.integration.conftest import RunningNode
from tests.integration.sipclient import SipConnection, SipUser
from tests.loadtest.conftest import require_sipp
from tests.loadtest.test_tenant import without_pending_keys

pytestmark = pytest.mark.integration

AGENTS = 5


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_agents_register_with_the_agent_answer_contact(
        start_node: Callable[..., RunningNode], tmp_path: Path, transport: str) -> None:
    require_sipp()
    # The load tenant as `python -m loadtest tenant` writes it (minus the keys the node does
    # not accept yet, see without_pending_keys).
    tenant = without_pending_keys(yaml.safe_load(tenant_yaml(tenant_config(agents=AGENTS))))
    node = start_node(config=tenant)
    agent_port = free_local_port("127.0.0.1")  # nothing needs to listen there for this test
    options = LoadOptions(target=node.hostport(transport), cps=1, agents=AGENTS, duration=1,
                          out=tmp_path, transport=transport, register_rate=50)
    users = numbered_users(AGENTS, password_prefix="load")
    users_csv = write_users_csv(tmp_path / "users.csv", users, "switchboard.local")

    result = register_agents(options, agent_port, users_csv, tmp_path / "register")
    assert (result["successful"], result["failed"], result["returncode"]) == (AGENTS, 0, 0), (
        result)
    with SipConnection("udp", node.addr("udp")) as conn:
        for user in (users[0], users[-1]):
            contacts = SipUser(conn, user.username).bindings(user.password)
            assert any(f"sip:{user.username}@127.0.0.1:{agent_port}" in c for c in contacts), (
                contacts)
            assert any(f"transport={transport}" in c.lower() for c in contacts), contacts

    result = register_agents(options, agent_port, users_csv, tmp_path / "unregister",
                             scenario="unregister.xml")
    assert (result["successful"], result["failed"]) == (AGENTS, 0), result
    with SipConnection("udp", node.addr("udp")) as conn:
        assert SipUser(conn, users[0].username).bindings(users[0].password) == []
    assert node.alive()
