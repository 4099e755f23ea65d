"""Check types: read-only probes, one module per type family, registered by their playbook key.

`MODULES` says which module defines each key, so that `engine.core.registry` imports a module
only when a playbook uses one of its types. A test keeps it in step with the decorators.
"""

from checks.base import Check

MODULES: dict[str, str] = {
    "alembic_current": "postgres",
    "celery_worker": "celery",
    "command": "command",
    "docker_command": "docker_command",
    "docker_container": "docker",
    "docker_env": "docker",
    "http": "http",
    "k8s_command": "kubernetes",
    "k8s_deployment": "kubernetes",
    "k8s_pods": "kubernetes",
    "k8s_service": "kubernetes",
    "metrics": "metrics",
    "postgres": "postgres",
    "prometheus_query": "prometheus",
    "redis": "redis",
    "tcp": "tcp",
}

__all__ = ["MODULES", "Check"]
