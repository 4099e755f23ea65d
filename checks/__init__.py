"""Check types: read-only probes, one module per type, registered by their playbook key."""

from checks import command, http, tcp  # noqa: F401  (registers the types)
from checks.base import Check

__all__ = ["Check"]
