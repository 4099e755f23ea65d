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
    "k8s_delete_pod": "kubernetes",
    "k8s_rollout_restart": "kubernetes",
    "k8s_rollout_undo": "kubernetes",
    "k8s_rollout_wait": "kubernetes",
    "k8s_scale": "kubernetes",
    "postgres_sql": "postgres",
    "redis_command": "redis",
    "sleep": "sleep",
    "wait": "wait",
}

__all__ = ["MODULES", "Action"]
