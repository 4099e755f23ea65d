"""Action types: idempotent steps of a remediation, one module per type, registered by key."""

from remediations import command, sleep, wait  # noqa: F401  (registers the types)
from remediations.base import Action

__all__ = ["Action"]
