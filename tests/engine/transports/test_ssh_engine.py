"""Checks of a remote host, run by the engine, reach the host's services through its SSH
connection."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from engine.core.node import NodeResult, Outcome
from engine.core.planning import plan_run
from engine.core.runner import Runner, RunSettings
from engine.unattended.run import run_unattended
from engine.unattended.state import open_store
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


def _one_host_run(ssh_fleet: SSHFleet, tmp_path: Path, playbook_text: str) -> tuple[Any, Path, Path]:
    (host,) = ssh_fleet.start()
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        json.dumps({"app": {"hosts": {"app1": ssh_fleet.hostvars(host, ssh_fleet.known_hosts([host]))}}})
    )
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(playbook_text)
    return host, playbook, inventory


def test_a_hosts_connection_closes_as_soon_as_its_last_node_is_done(
    ssh_fleet: SSHFleet, tmp_path: Path
) -> None:
    host, playbook, inventory = _one_host_run(
        ssh_fleet, tmp_path, "name: p\nhosts: app\nchecks:\n  alive:\n    command: {cmd: 'true'}\n"
    )
    closed_before_the_run_ended: list[bool] = []

    def node_done(result: NodeResult) -> None:
        # Called before the run ends: only an early close can have reached the server.
        deadline = time.monotonic() + 10
        while "Connection closed by" not in host.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        closed_before_the_run_ended.append("Connection closed by" in host.log.read_text())

    Runner(plan_run(playbook, load_inventory([str(inventory)])), on_node_done=node_done).run()
    assert closed_before_the_run_ended == [True]


def test_the_blast_radius_check_and_the_run_share_one_connection(ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    host, playbook, inventory = _one_host_run(
        ssh_fleet,
        tmp_path,
        "name: p\nhosts: app\nrun_limits: {max_unhealthy_share: 0.5}\n"
        "checks:\n  alive:\n    command: {cmd: 'true'}\n",
    )
    store = open_store(str(tmp_path / "state.db"))
    try:
        report = run_unattended(plan_run(playbook, load_inventory([str(inventory)])), RunSettings(), store)
    finally:
        store.close()
    assert report.nodes[0].outcome is Outcome.HEALTHY
    assert host.accepted_logins() == 1
