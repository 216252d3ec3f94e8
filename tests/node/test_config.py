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


def test_routing_section_is_passed_through_untouched() -> None:
    routing = {"anything": [1, {"goes": True}]}
    assert parse_config({"routing": routing}).routing == routing


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
