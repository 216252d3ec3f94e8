"""How the node config uses the IVR: ``config_problems(config.ivr, config.routing)``."""

from __future__ import annotations

from pathlib import Path

import yaml

from switch.config import parse_config
from switch.demo import demo_data
from switch.ivr.demo import demo_flows
from switch.ivr.validate import config_problems, routing_names
from switch.ivr.versions import FlowStore

ROOT = Path(__file__).resolve().parents[2]

# The flow proposed for examples/switchboard.yaml (whose routing has only a support queue).
EXAMPLE_FLOW = """
main:
  start: greeting
  nodes:
    greeting: {type: play, prompt: Thank you for calling Acme., next: hours}
    hours:
      type: condition
      branches:
        - when:
            hours:
              timezone: America/New_York
              weekly: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"],
                       thu: ["09:00-17:00"], fri: ["09:00-17:00"]}
              holidays: [2026-12-25, 2027-01-01]
          next: menu
      else: closed
    menu:
      type: menu
      prompt: For support, press 1. To leave a message, press 2.
      options: {1: support, 2: voicemail}
      on_failure: support
    closed: {type: play, prompt: We are closed. Please leave a message., next: voicemail}
    voicemail: {type: voicemail, mailbox: support}
    support: {type: queue, queue: support}
"""


def test_demo_flows_pass_against_the_demo_routing() -> None:
    data = demo_data()
    data["ivr"] = demo_flows()
    config = parse_config(data, "built-in demo")
    assert config_problems(config.ivr, config.routing) == []
    store = FlowStore.from_config(config.ivr, **routing_names(config.routing))
    assert store.current("main")[0] == 1


def test_example_flow_passes_against_the_example_routing() -> None:
    example = yaml.safe_load((ROOT / "examples" / "switchboard.yaml").read_text())
    assert config_problems(yaml.safe_load(EXAMPLE_FLOW), example["routing"]) == []


def test_problems_name_the_flow_and_check_routing_names() -> None:
    routing = {"queues": [{"id": "support", "expression": "support"}], "skills": ["support"]}
    assert config_problems({"main": {}, "night": demo_flows()["main"]}, routing) == [
        "ivr.main.start: Field required",
        "ivr.main.nodes: Field required",
        "ivr.night.nodes.vip_check.branches[0].when.tier: unknown customer tier 'vip'"
        " (routing.customer_tiers has: none)",
        "ivr.night.nodes.sales_queue.queue: unknown queue 'sales' (routing.queues has:"
        " support)",
        "ivr.night.nodes.vip_queue.queue: unknown queue 'vip' (routing.queues has: support)",
    ]
    assert routing_names(None) == {"known_queues": set(), "known_skills": set(),
                                   "known_tiers": set()}
