"""Action types: idempotent steps of a remediation, one module per type family, registered by key.

`MODULES` says which module defines each key, so that `engine.core.registry` imports a module
only when a playbook uses one of its types. A test keeps it in step with the decorators.
"""

from remediations.base import Action

MODULES: dict[str, str] = {
    "celery_purge": "redis",
    "command": "command",
    "compose": "compose",
    "docker_exec": "docker",
    "docker_logs": "docker",
    "docker_restart": "docker",
    "docker_rollback": "docker",
    "docker_start": "docker",
    "docker_stop": "docker",
    "docker_update": "docker",
    "postgres_sql": "postgres",
    "redis_command": "redis",
    "sleep": "sleep",
    "wait": "wait",
}

__all__ = ["MODULES", "Action"]
