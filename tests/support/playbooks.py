"""Writing playbooks for tests and planning them against the local host."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from engine.core.planning import RunPlan, plan_run
from inventory import Inventory


def write_playbook(directory: Path, text: str, name: str = "playbook.yml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def one_node(
    check: str, action: str, *, name: str = "ops", header: str = "", node: str = "", rung: str = ""
) -> str:
    """The text of a playbook of one node, `api`, healthy while `check` succeeds, whose one
    rung, `restart api`, runs `action`. `header` adds top-level lines, `node` lines of the
    node, `rung` lines of the rung (several lines indented as these: 12 and 16 spaces)."""
    return f"""
        name: {name}
        {header}
        checks:
          api:
            command: {{cmd: "{check}"}}
            verify: {{within: 0s}}
            remediate:
              - name: restart api
                command: {{cmd: "{action}"}}
                {rung}
            {node}
    """


def approval_playbook(directory: Path, check: str, action: str) -> Path:
    """`one_node` written out, its rung waiting for an operator's approval."""
    return write_playbook(directory, one_node(check, action, rung="approval: required"))


def plan(directory: Path, text: str, inventory: Inventory | None = None, **extra_vars: Any) -> RunPlan:
    return plan_run(
        write_playbook(directory, text), inventory or Inventory.localhost(), extra_vars=extra_vars
    )
