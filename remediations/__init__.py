"""Action types: idempotent steps of a remediation, one module per type, registered by key."""

from remediations import (  # noqa: F401  (registers the types)
    command,
    compose,
    docker,
    postgres,
    redis,
    sleep,
    wait,
)
from remediations.base import Action

__all__ = ["Action"]
