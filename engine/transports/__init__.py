"""How commands and connections reach a host: local subprocess, SSH, docker exec (and a
cluster's host, whose commands run on the controller and whose connections are port-forwards).

Checks and actions ask a `Transport`; they never care where they run. A
transport is opened lazily, once per host per run, and closed at the end of
the run by `TransportPool`.

May import: engine.core.registry, engine.errors, engine.clients.sizes, engine.clients.kubernetes
(a cluster host's port-forwards), engine.output.logs, engine.secrets. Never imports the CLI,
unattended operation or the types.
"""

from engine.errors import TransportError
from engine.transports.base import CommandResult, Transport
from engine.transports.pool import TransportPool, register_transport

# The module defining each connection type (``ansible_connection``), imported on first use.
MODULES: dict[str, str] = {
    "local": "local",
    "ssh": "ssh",
    "paramiko": "ssh",
    "smart": "ssh",
    "docker": "docker_exec",
    "kubernetes": "kubernetes",
}

__all__ = ["MODULES", "CommandResult", "Transport", "TransportError", "TransportPool", "register_transport"]
