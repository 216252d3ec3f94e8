"""Every YAML example in docs/ivr.md is valid: whole flows, node snippets, business hours."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from switch.ivr.hours import HoursSpec
from switch.ivr.schema import Node
from switch.ivr.validate import load_flow

DOC = Path(__file__).resolve().parents[2] / "docs" / "ivr.md"
BLOCKS = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", DOC.read_text(),
                                                re.DOTALL)]
NODE = TypeAdapter(Node)


@pytest.mark.parametrize("block", BLOCKS, ids=[str(i) for i in range(len(BLOCKS))])
def test_yaml_example_is_valid(block: dict[str, Any]) -> None:
    if "start" in block:
        load_flow("doc", block)
    elif set(block) == {"hours"}:
        HoursSpec.model_validate(block["hours"])
    else:
        for node in block.values():
            NODE.validate_python(node)


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 5
