"""Checks of a remote host, run by the engine, reach the host's services through its SSH
connection."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from engine.node import Outcome
from engine.planning import plan_run
from engine.runner import Runner
from inventory import load_inventory
from tests.servers.sshd import SSHFleet, free_port

PLAYBOOK = """
name: remote services
hosts: app
checks:
  listening:
    tcp: {host: 127.0.0.1, port: "{{ open_port }}"}
  not_listening:
    tcp: {host: 127.0.0.1, port: "{{ closed_port }}"}
"""


def test_tcp_checks_of_a_remote_host_go_through_its_ssh_connection(
    ssh_fleet: SSHFleet, tmp_path: Path
) -> None:
    (host,) = ssh_fleet.start(log_level="DEBUG1")
    service = socket.socket()
    service.bind(("127.0.0.1", 0))  # a service bound to the host's loopback only
    service.listen(4)
    open_port, closed_port = service.getsockname()[1], free_port("127.0.0.1")
    hostvars = ssh_fleet.hostvars(
        host, ssh_fleet.known_hosts([host]), open_port=open_port, closed_port=closed_port
    )
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"app": {"hosts": {"app1": hostvars}}}))
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(PLAYBOOK)
    try:
        report = Runner(plan_run(playbook, load_inventory([str(inventory)]))).run()
    finally:
        service.close()
    results = {n.node: n for n in report.nodes}
    assert results["listening"].outcome is Outcome.HEALTHY
    # A refused port is the service's problem (unhealthy), not the probe's (error).
    assert results["not_listening"].outcome not in (Outcome.HEALTHY, Outcome.ERROR)
    assert "refused" in results["not_listening"].reason
    assert (host.forwarded_to(open_port), host.forwarded_to(closed_port)) == (1, 1)
    assert host.accepted_logins() == 1
