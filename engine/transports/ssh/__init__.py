"""Commands and connections on a remote host over one SSH connection (paramiko).

One connection per host per run, opened on first use and shared by every check and action
of the host: each command is a new *channel* on it, never a new connection. Services bound
to the remote loopback are reached through ``direct-tcpip`` channels (``connect_tcp``,
``local_endpoint``), the remote Docker engine through ``docker system dial-stdio`` on the
same connection (``docker_base_url``).

How a host is reached comes from its inventory variables, as Ansible reads them, and from
``~/.ssh/config`` as OpenSSH reads it (explicit inventory variables win):

=====================================  =================================================
``ansible_host``, ``ansible_port``,     address, port and login (``ansible_ssh_host`` ...
``ansible_user``                        aliases too); else ``HostName``/``Port``/``User``
``ansible_ssh_private_key_file``        a private key; ``IdentityFile`` entries, the SSH
                                        agent (``remediate_ssh_agent``) and
                                        ``~/.ssh/id_*`` (``remediate_ssh_look_for_keys``)
``ansible_ssh_common_args``,            ``-J`` / ``-o ProxyJump=...`` jump hosts; else
``ansible_ssh_extra_args``              ``ProxyJump`` from the ssh config
``ansible_become``,                     run every command through sudo as that user
``ansible_become_user``                 (``run(..., sudo=True)`` does it for one command)
``remediate_become_password_env``,      the sudo password, read with ``read_secret``
``remediate_become_password_file``
``remediate_known_hosts``               known_hosts file(s) besides ``~/.ssh/known_hosts``
                                        and ``/etc/ssh/ssh_known_hosts``
``remediate_ssh_connect_timeout``       seconds for TCP connect, banner and
(or ``ansible_timeout``)                authentication (default 10)
``remediate_ssh_keepalive``             seconds between keepalives (default 15, 0: off)
``remediate_ssh_max_sessions``          concurrent commands per connection (default 8;
                                        OpenSSH's ``MaxSessions`` is 10)
``remediate_ssh_config``                the ssh config file (default ``~/.ssh/config``)
``remediate_ssh_key_passphrase_env``,   passphrase of encrypted private keys
``remediate_ssh_key_passphrase_file``
=====================================  =================================================

Host keys are always verified: an unknown or changed key refuses the connection with a
message saying how to accept the key; nothing is ever added silently.

The package has one module per concern: `settings` (the variables and the ssh config),
`host_keys` (known_hosts and the policy refusing unknown keys), `connection`
(`SSHTransport`) and `forwarding` (relaying channels to local sockets).
"""

from __future__ import annotations

from engine.output.lean_imports import import_without

# Without invoke: it is loaded only for a config with `Match exec` (settings._read_ssh_config).
# The package runs this before any of its modules imports paramiko.
import_without("paramiko", "invoke")

# The names other modules and tests import from `engine.transports.ssh`.
from engine.transports.ssh.connection import SSHTransport, ssh_transport  # noqa: E402
from engine.transports.ssh.forwarding import _relay  # noqa: E402
from engine.transports.ssh.host_keys import _read_known_hosts  # noqa: E402
from engine.transports.ssh.settings import Hop, SSHSettings, _parsed_once, as_bool, ssh_settings  # noqa: E402

__all__ = [
    "Hop",
    "SSHSettings",
    "SSHTransport",
    "_parsed_once",
    "_read_known_hosts",
    "_relay",
    "as_bool",
    "ssh_settings",
    "ssh_transport",
]
