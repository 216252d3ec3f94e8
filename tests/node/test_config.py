"""Configuration: errors name the field path; the demo and the example are valid."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from switch.config import ConfigError, SwitchConfig, load_config, parse_config
from switch.demo import DEMO_AGENTS, DEMO_NUMBERS, demo_config, demo_data

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "switchboard.yaml"


def errors_of(data: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "config.yaml")
    return info.value.lines


def test_demo_is_valid_and_as_documented() -> None:
    config = demo_config()
    assert [a.username for a in config.accounts] == DEMO_AGENTS == [
        str(n) for n in range(1001, 1021)]
    assert config.numbers == DEMO_NUMBERS
    assert config.security.is_trusted("127.0.0.1") and config.security.is_trusted("::1")
    assert not config.security.is_trusted("192.0.2.1")
    assert config.node.accept_any_domain and config.node.effective_realm == "switchboard.local"
    assert config.routing is not None
    queue_ids = {q["id"] for q in config.routing["queues"]}
    assert queue_ids == {"support", "sales", "vip"}
    # every queue target of the numbers exists in the routing section
    assert {t.split(":")[1] for t in DEMO_NUMBERS.values() if t.startswith("queue:")} \
        <= queue_ids


def test_wrong_value_names_path_and_expectation() -> None:
    assert errors_of({"registrar": {"max_expires": "x"}}) == [
        "config.yaml: registrar.max_expires: Input should be a valid integer, unable to parse"
        " string as an integer, got 'x'"]


def test_unknown_key_lists_the_expected_keys() -> None:
    [line] = errors_of({"registrar": {"max_expire": 10}})
    assert line.startswith("config.yaml: registrar.max_expire: unknown key (expected one of:")
    assert "max_expires" in line
    [line] = errors_of({"nodes": {}})
    assert line.startswith("config.yaml: nodes: unknown key") and "node" in line


def test_list_items_carry_their_index() -> None:
    lines = errors_of({"listeners": ["udp:127.0.0.1:5060", "sctp:1.2.3.4:5"],
                       "security": {"trusted_sources": ["10.0.0.0/8", "not-an-ip"]}})
    assert any(line.startswith("config.yaml: listeners[1]: listener must look like")
               for line in lines)
    assert any("security.trusted_sources" in line and "'not-an-ip'" in line for line in lines)


def test_secrets_are_never_echoed() -> None:
    lines = errors_of({"accounts": [{"username": "1001", "password": "hunter2",
                                     "ha1": "c0ffee-not-hex"}]})
    assert lines and not any("hunter2" in line or "c0ffee" in line for line in lines)
    config = parse_config({"accounts": [{"username": "1001", "password": "hunter2"}]})
    assert "hunter2" not in repr(config) and "hunter2" not in config.model_dump_json()


@pytest.mark.parametrize(("data", "fragment"), [
    ({"numbers": {"100": "voicemail:x"}}, "target 'voicemail:x'"),
    ({"registrar": {"min_expires": 700}}, "min_expires <= default_expires"),
    ({"accounts": [{"username": "1001", "password": "a"}, {"username": "1001", "password": "b"}]},
     "listed twice"),
    ({"tls": {"cert": "a.pem"}}, "both cert and key"),
    ({"http": {"listen": "nowhere"}}, "expected HOST:PORT"),
])
def test_cross_field_rules(data: dict[str, object], fragment: str) -> None:
    assert any(fragment in line for line in errors_of(data))


def _demo_with(**changes: object) -> dict[str, object]:
    data = demo_data()
    data.update(changes)
    return data


def _demo_routing(edit: object) -> dict[str, object]:
    data = demo_data()
    edit(data["routing"])  # type: ignore[operator]
    return data


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda r: r["queues"][0].update(strategy="longest_idel"),
     "config.yaml: routing.queues[0].strategy: unknown strategy 'longest_idel'; expected one of"),
    (lambda r: r.update(agent_teirs=["junior"]), "config.yaml: routing.agent_teirs:"),
    (lambda r: r["agents"][3]["skills"].update(klingon=5),
     "config.yaml: routing.agents[3].skills: unknown skill 'klingon'"),
    (lambda r: r["queues"][1].update(expression="sales >= 4 and"),
     "config.yaml: routing.queues[1].expression:"),
])
def test_routing_section_is_validated_by_the_router(edit: object, expected: str) -> None:
    lines = errors_of(_demo_routing(edit))
    assert any(line.startswith(expected) for line in lines), lines


@pytest.mark.parametrize(("numbers", "expected"), [
    ({"300": "queue:suport"}, "config.yaml: numbers.300: queue 'suport' does not exist"),
    ({"301": "ivr:night"}, "config.yaml: numbers.301: IVR flow 'night' does not exist"),
    ({"302": "agent:9999"}, "config.yaml: numbers.302: agent '9999' has no account"),
    ({"1001": "queue:support"}, "config.yaml: numbers.1001: also an agent's username"),
])
def test_numbers_must_lead_somewhere(numbers: dict[str, str], expected: str) -> None:
    data = demo_data()
    data["numbers"] = {**data["numbers"], **numbers}
    lines = errors_of(data)
    assert [line for line in lines if line.startswith(expected)], lines


def test_queue_numbers_need_a_routing_section() -> None:
    data = demo_data()
    del data["routing"]
    assert any("numbers.200: 'queue:support' needs a routing: section" in line
               for line in errors_of(data))


@pytest.mark.parametrize(("listeners", "expected"), [
    (["udp:127.0.0.1:5060", "udp:127.0.0.1:5060"],
     "config.yaml: listeners[1]: udp:127.0.0.1:5060 is listed twice (listeners[0])"),
    (["tcp:127.0.0.1:5060", "ws:127.0.0.1:5060"],
     "config.yaml: listeners[1]: ws:127.0.0.1:5060 takes the same TCP port as"),
])
def test_listeners_cannot_share_a_socket(listeners: list[str], expected: str) -> None:
    lines = errors_of(_demo_with(listeners=listeners))
    assert any(line.startswith(expected) for line in lines), lines


def test_udp_and_tcp_may_share_a_port_and_port_zero_never_clashes() -> None:
    parse_config(_demo_with(listeners=["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060",
                                       "tcp:127.0.0.1:0", "ws:127.0.0.1:0"]))


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing here yet\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.lines == ["empty.yaml: the configuration is empty (a mapping of sections"
                                " is expected; see examples/switchboard.yaml)"]


def test_default_digest_algorithm_lets_every_named_phone_register() -> None:
    # JsSIP, SIPp and baresip give up on a SHA-256 challenge: the default must not offer it.
    assert parse_config({"node": {}}).security.digest_algorithms == ["MD5"]
    assert demo_config().security.digest_algorithms == ["MD5"]


def test_trusted_and_allow_listed_sources_are_never_banned() -> None:
    config = parse_config(_demo_with(security={
        "trusted_sources": ["127.0.0.1/32"], "auth_ban": {"allow_list": ["10.1.0.0/16"]}}))
    assert config.security.never_ban("127.0.0.1") and config.security.never_ban("10.1.2.3")
    assert not config.security.never_ban("10.2.0.1")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("node:\n  name: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.lines[0].startswith("bad.yaml: line ")


def test_example_file_is_valid_and_matches_the_demo_shape() -> None:
    config = load_config(EXAMPLE)
    assert isinstance(config, SwitchConfig)
    assert config.accounts and config.numbers


def test_demo_data_round_trips_through_yaml(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(demo_data()))
    assert load_config(path).numbers == DEMO_NUMBERS


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "switch", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


def test_check_config_cli_exit_codes(tmp_path: Path) -> None:
    good = _cli("check-config", str(EXAMPLE))
    assert good.returncode == 0, good.stderr
    assert "OK" in good.stdout
    bad_path = tmp_path / "bad.yaml"
    bad_path.write_text(json.dumps({"registrar": {"max_expires": "x"}, "nodes": 1}))
    bad = _cli("check-config", str(bad_path))
    assert bad.returncode == 2
    assert "bad.yaml: registrar.max_expires: Input should be a valid integer" in bad.stderr
    assert "bad.yaml: nodes: unknown key" in bad.stderr
    missing = _cli("check-config", str(tmp_path / "absent.yaml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_version_cli() -> None:
    result = _cli("version")
    assert result.returncode == 0 and result.stdout.strip()


def test_demo_routing_section_is_valid_for_the_routing_core() -> None:
    routing_config = pytest.importorskip("routing.config")
    config = demo_config()
    assert config.routing is not None
    loaded = routing_config.load_config(config.routing)
    assert {q.id for q in loaded.queues} == {"support", "sales", "vip"}
    assert {a.id for a in loaded.agents} == set(DEMO_AGENTS)
    assert routing_config.load_config(load_config(EXAMPLE).routing).queues
    # every queue has at least one agent that satisfies its skills in the demo
    for queue in loaded.queues:
        assert any(_satisfies(queue.expression, agent.skills) for agent in loaded.agents), queue.id


def _satisfies(expression: str, skills: dict[str, int]) -> bool:
    from routing.expressions import evaluate, parse
    return bool(evaluate(parse(expression), skills))


def test_routing_subcommands_are_wired_into_switchboard() -> None:
    pytest.importorskip("routing.cli")
    result = _cli("staffing", "--calls-per-hour", "600", "--aht", "240", "--sl", "80/20")
    assert result.returncode == 0, result.stderr
    assert "Erlang" in result.stdout
    bad = _cli("staffing", "--calls-per-hour", "600", "--aht", "240", "--sl", "eighty")
    assert bad.returncode == 2
