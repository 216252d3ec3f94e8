"""Config validation: every problem names its field path; no silent defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from routing import ConfigError, load_config


def base(**overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {"skills": ["billing", "mandarin"], "groups": ["main"],
                           "agent_tiers": ["junior", "senior"],
                           "agents": [{"id": "ann", "skills": {"billing": 5}}],
                           "queues": [{"id": "q", "expression": "billing"}] * 1}
    cfg.update(overrides)
    return cfg


def test_a_good_config_loads_from_dict_and_file(tmp_path: Path) -> None:
    assert load_config(base()).queues[0].strategy == "longest_idle"
    path = tmp_path / "routing.json"
    path.write_text(json.dumps(base()))
    assert load_config(path).agents[0].id == "ann"
    yaml_path = tmp_path / "routing.yaml"
    yaml_path.write_text("skills: [billing]\nqueues:\n  - {id: q, expression: billing >= 3}\n")
    assert load_config(yaml_path).queues[0].expression == "billing >= 3"


@pytest.mark.parametrize(("change", "message"), [
    ({"queues": [{"id": "a", "expression": "billing"}] * 3 + [
        {"id": "d", "expression": "billing", "strategy": "longest_idel"}]},
     "queues[3].strategy: unknown strategy 'longest_idel'; expected one of best_skill_match"),
    ({"queues": [{"id": "q", "expression": "billing >= 5 and mandrin"}]},
     "queues[0].expression: unknown skill 'mandrin'"),
    ({"queues": [{"id": "q", "expression": "billing >="}]},
     "queues[0].expression: expected a level 0..10"),
    ({"agents": [{"id": "ann", "skills": {"billing": 11}}]},
     "agents[0].skills: Value error, skill 'billing' has level 11"),
    ({"agents": [{"id": "ann", "skills": {"piano": 3}}]}, "agents[0].skills: unknown skill"),
    ({"agents": [{"id": "ann", "group": "night"}]}, "agents[0].group: unknown group 'night'"),
    ({"agents": [{"id": "a"}, {"id": "a"}]}, "agents: duplicate 'a'"),
    ({"queues": [{"id": "q", "expression": "billing", "overflow_to": "nowhere"}]},
     "queues[0].overflow_to: unknown queue 'nowhere'"),
    ({"queues": [{"id": "q", "expression": "billing",
                  "widening": [{"after": 20}, {"after": 10}]}]},
     "queues[0].widening: Value error, widening steps must have strictly increasing"),
    ({"queues": [{"id": "q", "expression": "billing", "widening": [{"after": 5,
                                                                     "add_group": "x"}]}]},
     "queues[0].widening[0].add_group: unknown group 'x'"),
    ({"customer_tiers": [{"name": "vip", "min_agent_tier": "guru"}]},
     "customer_tiers[0].min_agent_tier: unknown agent tier 'guru'"),
    ({"offer_timeout": 0}, "offer_timeout: Input should be greater than 0"),
    ({"queues": [{"id": "q", "expression": "billing", "stratgy": "random"}]},
     "queues[0].stratgy: Extra inputs are not permitted"),
])
def test_bad_config_names_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(base(**change))
    assert message.replace("Value error, ", "") in str(info.value)


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read routing config"):
        load_config(tmp_path / "missing.yaml")
