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


def plan(directory: Path, text: str, inventory: Inventory | None = None, **extra_vars: Any) -> RunPlan:
    return plan_run(
        write_playbook(directory, text), inventory or Inventory.localhost(), extra_vars=extra_vars
    )
