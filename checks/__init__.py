"""Check types: read-only probes, one module per type, registered by their playbook key."""

from checks import (  # noqa: F401  (registers the types)
    celery,
    command,
    docker,
    docker_command,
    http,
    metrics,
    postgres,
    prometheus,
    redis,
    tcp,
)
from checks.base import Check

__all__ = ["Check"]
