"""Playbooks: the YAML a user writes, its models, loading with positions (every error names
file, line and field), `defaults:` and `loop:`, sandboxed template rendering, `-e` variables
and the exported JSON Schema.

May import: engine.core (durations, registry, graph), engine.errors, engine.input_limits,
engine.secrets, checks.base, remediations.base. Never imports the run loop, the CLI or
unattended operation.
"""

from engine.output.lean_imports import pydantic_without_plugins

# Before any model of the language is built: see the function.
pydantic_without_plugins()

from engine.errors import PlaybookError  # noqa: E402
from engine.playbook.errors import Problem  # noqa: E402
from engine.playbook.loader import load_playbook  # noqa: E402
from engine.playbook.models import BackoffSpec, NodeSpec, Playbook, StepSpec, VerifySpec  # noqa: E402

__all__ = [
    "BackoffSpec",
    "NodeSpec",
    "Playbook",
    "PlaybookError",
    "Problem",
    "StepSpec",
    "VerifySpec",
    "load_playbook",
]
