"""Host groups, tick numbers and the playbook's hash."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from engine.core.planning import RunPlan, plan_run
from engine.fleet.groups import group_plan, host_groups, playbook_hash, tick_number
from inventory import load_inventory

PLAYBOOK = """\
name: groups
hosts: all
checks:
  db:
    command: {cmd: "true"}
  app:
    depends_on: ["{{ db_host }}:db"]
    command: {cmd: "true"}
"""


def plan(tmp_path: Path, db_hosts: dict[str, str]) -> RunPlan:
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    lines = [f"{host} ansible_connection=local db_host={db}" for host, db in db_hosts.items()]
    (tmp_path / "hosts.ini").write_text("[all]\n" + "\n".join(lines) + "\n")
    return plan_run(tmp_path / "site.yml", load_inventory([str(tmp_path / "hosts.ini")]))


def test_hosts_joined_by_cross_host_dependencies_form_one_group(tmp_path: Path) -> None:
    # a and b depend on c's db; d and e only on their own.
    run_plan = plan(tmp_path, {"a": "c", "b": "c", "c": "c", "d": "d", "e": "e"})
    assert host_groups(run_plan) == {"a": ["a", "b", "c"], "d": ["d"], "e": ["e"]}


def test_a_group_plan_holds_every_node_of_its_hosts(tmp_path: Path) -> None:
    run_plan = plan(tmp_path, {"a": "c", "b": "b", "c": "c"})
    narrowed = group_plan(run_plan, ["a", "c"])
    assert sorted(narrowed.hosts) == ["a", "c"]
    assert {(k.host, k.node) for k in narrowed.specs} == {("a", "db"), ("a", "app"), ("c", "db"), ("c", "app")}


def test_the_playbook_hash_changes_with_the_playbook(tmp_path: Path) -> None:
    run_plan = plan(tmp_path, {"a": "a"})
    before = playbook_hash(run_plan)
    (tmp_path / "site.yml").write_text(PLAYBOOK + "# changed\n")
    assert playbook_hash(run_plan) != before


@given(
    st.floats(min_value=0, max_value=4e9, allow_nan=False),
    st.floats(min_value=1, max_value=86400, allow_nan=False),
)
def test_every_moment_falls_in_exactly_one_tick(now: float, interval: float) -> None:
    tick = tick_number(now, interval)
    assert tick * interval <= now * (1 + 1e-12) + 1e-6
    assert now < (tick + 1) * interval + 1e-6
