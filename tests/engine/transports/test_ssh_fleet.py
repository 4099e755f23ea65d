"""A whole fleet in one run: the engine's run loop over 50 hosts, each a real sshd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.core.node import Outcome
from engine.core.planning import plan_run
from engine.core.runner import Runner, RunSettings
from engine.transports import TransportPool
from inventory import load_inventory
from tests.servers.sshd import SSHFleet

PLAYBOOK = """
name: fleet
hosts: fleet
checks:
  alive:
    description: the host runs commands
    command: {cmd: "true"}
  proc:
    description: the host has a /proc
    depends_on: [alive]
    command: {cmd: "test -r /proc/uptime && echo {{ inventory_hostname }}",
              stdout_regex: "^{{ inventory_hostname }}$"}
"""


@pytest.mark.slow
def test_fifty_hosts_in_one_run_each_over_one_connection(ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    servers = ssh_fleet.start(50)
    known = ssh_fleet.known_hosts(servers, name="fleet_known_hosts")
    common = ssh_fleet.hostvars(servers[0], known)
    for per_host in ("ansible_host", "ansible_port"):
        common.pop(per_host)
    hosts = {
        f"node{i:02d}": {"ansible_host": s.address, "ansible_port": s.port} for i, s in enumerate(servers)
    }
    # One host that is down: its nodes end in error, the others are not held up.
    hosts["node-down"] = {"ansible_host": "127.0.0.252", "ansible_port": 9}
    inventory = tmp_path / "fleet.yml"
    inventory.write_text(json.dumps({"fleet": {"hosts": hosts, "vars": common}}))
    playbook = tmp_path / "fleet-playbook.yml"
    playbook.write_text(PLAYBOOK)

    plan = plan_run(playbook, load_inventory([str(inventory)]))
    report = Runner(plan, RunSettings(forks=50)).run()

    outcomes = {(n.host, n.node): n.outcome for n in report.nodes}
    assert {k: v for k, v in outcomes.items() if k[0] != "node-down"} == {
        (host, node): Outcome.HEALTHY for host in hosts if host != "node-down" for node in ("alive", "proc")
    }
    assert outcomes[("node-down", "alive")] is Outcome.ERROR
    assert outcomes[("node-down", "proc")] is Outcome.BLOCKED
    assert [s.accepted_logins() for s in servers] == [1] * 50


def test_a_pool_kept_between_runs_keeps_each_connection_open(ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    # The daemon's ticks: the second run over the same hosts logs in nowhere again.
    servers = ssh_fleet.start(3)
    known = ssh_fleet.known_hosts(servers, name="tick_known_hosts")
    hosts = {f"tick{i}": ssh_fleet.hostvars(s, known) for i, s in enumerate(servers)}
    inventory = tmp_path / "ticks.yml"
    inventory.write_text(json.dumps({"fleet": {"hosts": hosts}}))
    playbook = tmp_path / "ticks-playbook.yml"
    playbook.write_text(PLAYBOOK)
    plan = plan_run(playbook, load_inventory([str(inventory)]))
    logins_before = [s.accepted_logins() for s in servers]
    pool = TransportPool(plan.hostvars)
    try:
        for _ in range(3):
            report = Runner(plan, RunSettings(forks=3), transports=pool).run()
            assert {n.outcome for n in report.nodes} == {Outcome.HEALTHY}
    finally:
        pool.close()
    assert [s.accepted_logins() - before for s, before in zip(servers, logins_before, strict=True)] == [
        1,
        1,
        1,
    ]
