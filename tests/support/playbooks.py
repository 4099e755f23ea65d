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


def approval_playbook(directory: Path, check: str, action: str) -> Path:
    """A playbook of one node, `api`, whose one rung (`restart api`) waits for an approval:
    the node is healthy while `check` succeeds, and `action` heals it."""
    return write_playbook(
        directory,
        f"""
        name: ops
        checks:
          api:
            command: {{cmd: "{check}"}}
            verify: {{within: 0s}}
            remediate:
              - name: restart api
                approval: required
                command: {{cmd: "{action}"}}
        """,
    )


def plan(directory: Path, text: str, inventory: Inventory | None = None, **extra_vars: Any) -> RunPlan:
    return plan_run(
        write_playbook(directory, text), inventory or Inventory.localhost(), extra_vars=extra_vars
    )
