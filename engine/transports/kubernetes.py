"""`ansible_connection: kubernetes`: a host that stands for a cluster (its kubeconfig, context and
namespace are the host's variables, read by `engine.clients.kubernetes`).

The kubernetes check and action types talk to the API server themselves; what else runs on such
a host (a `command` check or action) runs on the controller, as Ansible runs kubernetes.core's
modules there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.transports.local import LocalTransport
from engine.transports.pool import register_transport


@register_transport("kubernetes")
def kubernetes_transport(host: str, hostvars: Mapping[str, Any]) -> LocalTransport:
    """The transport factory: commands run on the controller; nothing is contacted here."""
    return LocalTransport(host)
