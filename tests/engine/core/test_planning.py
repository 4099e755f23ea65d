"""Planning a fleet: each host's nodes are what that host renders, however many hosts share
them."""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.graph import NodeKey
from engine.core.planning import plan_run
from engine.playbook.loader import load_playbook
from inventory import Inventory

PLAYBOOK = """
name: fleet
defaults:
  tcp: {timeout: "{{ patience }}"}
checks:
  api:
    tcp: {host: 127.0.0.1, port: "{{ api_port }}"}
"""

HOST_VARS = st.tuples(st.sampled_from([8080, 8081, 9090]), st.sampled_from(["1s", "2s"]))


@settings(max_examples=40, deadline=None)
@given(st.lists(HOST_VARS, min_size=1, max_size=8))
def test_each_hosts_node_is_what_it_renders_alone_and_alike_renderings_are_one_object(
    fleet: list[tuple[int, str]],
) -> None:
    inventory = Inventory()
    for number, (port, patience) in enumerate(fleet):
        inventory.add_host(f"h{number}", "ungrouped", {"api_port": port, "patience": patience})
    with TemporaryDirectory() as folder:
        file = Path(folder) / "fleet.yml"
        file.write_text(PLAYBOOK)
        plan = plan_run(file, inventory)
        alone = {h: load_playbook(file, inventory.hostvars(h)).nodes["api"] for h in inventory.hosts}
    for host in inventory.hosts:
        assert plan.specs[NodeKey(host, "api")] == alone[host]
    for first, one in enumerate(inventory.hosts):
        for other in inventory.hosts[first + 1 :]:
            same = plan.specs[NodeKey(one, "api")] is plan.specs[NodeKey(other, "api")]
            assert same == (fleet[first] == fleet[inventory.hosts.index(other)])
