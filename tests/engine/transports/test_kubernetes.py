"""`ansible_connection: kubernetes`: the host is a cluster; its commands run on the controller."""

from __future__ import annotations

import socket

from engine.transports.pool import TransportPool


def test_a_cluster_hosts_command_runs_on_the_controller() -> None:
    pool = TransportPool({"production": {"ansible_connection": "kubernetes"}})
    try:
        result = pool.get("production").run(["hostname"], timeout=5)
    finally:
        pool.close()
    assert result.succeeded
    assert result.stdout.strip() == socket.gethostname()
