"""Fixtures shared by the routing tests: both cores, and a small rich config."""

from __future__ import annotations

import os
from typing import Any

import pytest

from routing import CompiledRouter, ReferenceRouter, load_config
from routing.config import RoutingConfig

CORES: list[Any] = [ReferenceRouter]
if CompiledRouter is not None:
    CORES.append(CompiledRouter)
elif os.environ.get("ROUTING_REQUIRE_COMPILED") == "1":  # pragma: no cover
    raise ImportError("ROUTING_REQUIRE_COMPILED=1 but cext._router did not load")


@pytest.fixture(params=CORES, ids=lambda c: "compiled" if c.compiled else "reference")
def core(request: pytest.FixtureRequest) -> Any:
    return request.param


def make_config(**overrides: Any) -> RoutingConfig:
    base: dict[str, Any] = {
        "skills": ["billing", "sales", "mandarin", "cantonese"],
        "groups": ["main", "backup"],
        "agent_tiers": ["junior", "senior", "expert"],
        "customer_tiers": [{"name": "vip", "priority_boost": 10, "min_agent_tier": "senior"}],
        "agents": [
            {"id": "ann", "group": "main", "tier": "senior", "skills": {"billing": 7}},
            {"id": "bob", "group": "main", "tier": "junior", "skills": {"billing": 4}},
            {"id": "cat", "group": "backup", "tier": "expert",
             "skills": {"billing": 9, "mandarin": 5}},
        ],
        "queues": [{"id": "billing", "expression": "billing >= 5", "groups": ["main"]}],
        "offer_timeout": 20,
    }
    base.update(overrides)
    return load_config(base)
