"""Playbooks: the YAML a user writes, its models, loading with positions, and rendering."""

from engine.playbook.errors import PlaybookError, Problem
from engine.playbook.loader import load_playbook
from engine.playbook.models import BackoffSpec, NodeSpec, Playbook, StepSpec, VerifySpec

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
