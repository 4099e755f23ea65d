"""The playbook's `defaults:` (per module key, as Ansible's module_defaults) and a node's
`loop:` (one node per item, as Ansible's loop with loop_control.loop_var)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli.app import cli
from engine.core.graph import NodeKey
from engine.core.planning import RunPlan
from engine.errors import PlaybookError
from engine.playbook.models import NodeSpec
from tests.support.playbooks import plan, write_playbook


def problems(tmp_path: Path, text: str, **extra_vars: Any) -> list[str]:
    with pytest.raises(PlaybookError) as error:
        plan(tmp_path, text, **extra_vars)
    return [str(p).replace(str(tmp_path) + "/", "") for p in error.value.problems]


def spec(run_plan: RunPlan, name: str) -> NodeSpec:
    return run_plan.specs[NodeKey("localhost", name)]


def options(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(mode="json"))


# --- defaults ---------------------------------------------------------------------------


def test_defaults_fill_the_options_a_check_and_a_step_leave_out(tmp_path: Path) -> None:
    run_plan = plan(
        tmp_path,
        """
        name: demo
        vars: {project: shop}
        defaults:
          docker_container: {project: "{{ project }}", timeout: 3s}
          docker_restart: {project: "{{ project }}"}
        checks:
          db:
            docker_container: {service: db}
            remediate:
              - docker_restart: {service: db}
    """,
    )
    db = spec(run_plan, "db")
    assert options(db.check)["project"] == "shop" and options(db.check)["timeout"] == "3s"
    assert options(db.remediate[0].action)["project"] == "shop"


def test_a_nodes_own_option_wins_over_its_default(tmp_path: Path) -> None:
    run_plan = plan(
        tmp_path,
        """
        name: demo
        defaults:
          tcp: {host: 127.0.0.2, timeout: 3s}
        checks:
          db:
            tcp: {port: 1, timeout: 9s}
    """,
    )
    check = options(spec(run_plan, "db").check)
    assert check["timeout"] == "9s" and check["host"] == "127.0.0.2"


def test_defaults_also_fill_an_unless_guard(tmp_path: Path) -> None:
    run_plan = plan(
        tmp_path,
        """
        name: demo
        defaults:
          tcp: {timeout: 4s}
        checks:
          db:
            tcp: {port: 1}
            remediate:
              - unless: {tcp: {port: 2}}
                command: {cmd: "true"}
    """,
    )
    guard = spec(run_plan, "db").remediate[0].unless
    assert guard is not None and options(guard)["timeout"] == "4s"


def test_defaults_of_a_key_that_is_a_check_and_an_action_reach_each_type_that_has_the_option(
    tmp_path: Path,
) -> None:
    run_plan = plan(
        tmp_path,
        """
        name: demo
        defaults:
          command: {sudo: true, exit_code: 3}
        checks:
          probe:
            command: {cmd: "true"}
            remediate:
              - command: {cmd: "true"}
    """,
    )
    probe = spec(run_plan, "probe")
    assert options(probe.check)["sudo"] is True and options(probe.check)["exit_code"] == 3
    assert options(probe.remediate[0].action)["sudo"] is True


def test_an_unknown_module_key_in_defaults_is_named_with_the_nearest(tmp_path: Path) -> None:
    (message,) = problems(
        tmp_path,
        """
        name: demo
        defaults:
          docker_restat: {project: shop}
        checks:
          db: {tcp: {port: 1}}
    """,
    )
    assert message.startswith(
        "playbook.yml:3:3: defaults.docker_restat: unknown module key 'docker_restat' "
        "(did you mean 'docker_restart'?); known: "
    )


def test_an_unknown_option_in_defaults_is_named_at_its_line(tmp_path: Path) -> None:
    (message,) = problems(
        tmp_path,
        """
        name: demo
        defaults:
          tcp:
            timout: 3s
        checks:
          db: {tcp: {port: 1}}
    """,
    )
    assert message.startswith(
        "playbook.yml:4:5: defaults.tcp.timout: unknown tcp option 'timout' (did you mean 'timeout'?)"
    )


def test_a_bad_default_value_is_reported_at_the_defaults_line_once(tmp_path: Path) -> None:
    (message,) = problems(
        tmp_path,
        """
        name: demo
        defaults:
          tcp: {timeout: 5 parsecs}
        checks:
          db: {tcp: {port: 1}}
          api: {tcp: {port: 2}}
    """,
    )
    assert message.startswith("playbook.yml:3:18: defaults.tcp.timeout: expected a duration such as 500ms")


def test_a_bad_default_overridden_by_the_node_is_not_an_error(tmp_path: Path) -> None:
    run_plan = plan(
        tmp_path,
        """
        name: demo
        defaults:
          tcp: {timeout: 5 parsecs}
        checks:
          db: {tcp: {port: 1, timeout: 2s}}
    """,
    )
    assert options(spec(run_plan, "db").check)["timeout"] == "2s"


def test_defaults_must_be_a_mapping_of_mappings(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
        name: demo
        defaults:
          tcp: 3s
        checks:
          db: {tcp: {port: 1}}
    """,
    ) == ["playbook.yml:3:8: defaults.tcp: expected a mapping of tcp options to their default values"]


# --- loop -------------------------------------------------------------------------------


def test_a_loop_over_a_literal_list_gives_one_node_per_item_named_by_the_key_template(
    tmp_path: Path,
) -> None:
    run_plan = plan(
        tmp_path,
        """
        name: demo
        checks:
          "port_{{ item }}":
            loop: [8000, 8001]
            tcp: {port: "{{ item }}"}
    """,
    )
    assert [key.node for key in run_plan.order()] == ["port_8000", "port_8001"]
    assert options(spec(run_plan, "port_8001").check)["port"] == 8001


def test_a_key_without_a_template_gets_the_item_appended(tmp_path: Path) -> None:
    run_plan = plan(
        tmp_path,
        """
        name: demo
        checks:
          memory:
            loop: [db, web]
            command: {cmd: "echo {{ item }}"}
    """,
    )
    assert sorted(key.node for key in run_plan.specs) == ["memory_db", "memory_web"]


def test_a_loop_over_a_variable_given_with_extra_vars(tmp_path: Path) -> None:
    run_plan = plan(
        tmp_path,
        """
        name: demo
        vars: {services: [db]}
        checks:
          "up_{{ service.name }}":
            loop: "{{ services }}"
            loop_var: service
            command: {cmd: "echo {{ service.port }}"}
    """,
        services=[{"name": "db", "port": 1}, {"name": "web", "port": 2}],
    )
    assert sorted(key.node for key in run_plan.specs) == ["up_db", "up_web"]
    assert options(spec(run_plan, "up_web").check)["cmd"] == "echo 2"


def test_loop_var_renames_the_item_so_loops_can_nest_in_templates(tmp_path: Path) -> None:
    run_plan = plan(
        tmp_path,
        """
        name: demo
        vars: {item: outer}
        checks:
          "c_{{ svc }}":
            loop: [a]
            loop_var: svc
            command: {cmd: "echo {{ item }} {{ svc }}"}
    """,
    )
    assert options(spec(run_plan, "c_a").check)["cmd"] == "echo outer a"


def test_two_items_giving_the_same_name_are_an_error_at_the_second_item(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
        name: demo
        checks:
          "n_{{ item | lower }}":
            loop:
              - db
              - DB
            command: {cmd: "true"}
    """,
    ) == [
        "playbook.yml:6:9: checks.n_{{ item | lower }}.loop[1]: item 1 gives the node name 'n_db', as item 0 does"
    ]


def test_an_expanded_name_colliding_with_another_node_is_an_error(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
        name: demo
        checks:
          port_1: {tcp: {port: 1}}
          port:
            loop: [1, 2]
            tcp: {port: "{{ item }}"}
    """,
    ) == ["playbook.yml:5:12: checks.port.loop[0]: node 'port_1' is defined twice (also by checks.port_1)"]


def test_a_loop_over_a_non_list_is_an_error_at_the_loop_line(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
        name: demo
        checks:
          port:
            loop: "{{ ports }}"
            tcp: {port: "{{ item }}"}
    """,
        ports="8000,8001",
    ) == [
        "playbook.yml:4:11: checks.port.loop: expected a list, or a template naming a variable "
        "that holds one, got a string ('8000,8001')"
    ]


def test_a_problem_in_one_item_names_the_expanded_node_at_the_entrys_line(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
        name: demo
        checks:
          port:
            loop: [1, two]
            tcp: {port: "{{ item }}"}
    """,
    ) == ['playbook.yml:5:17: checks.port_two.tcp.port: expected an integer, got "two"']


def test_a_templated_name_without_a_loop_is_an_error(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
        name: demo
        checks:
          "port_{{ item }}": {tcp: {port: 1}}
    """,
    ) == [
        "playbook.yml:3:3: checks.port_{{ item }}: a node name with a template needs a loop: to give it items"
    ]


def test_depends_on_names_expanded_nodes_and_a_looped_node_depends_per_item(tmp_path: Path) -> None:
    run_plan = plan(
        tmp_path,
        """
        name: demo
        checks:
          db: {tcp: {port: 1}}
          web: {tcp: {port: 2}}
          "memory_{{ item }}":
            loop: [db, web]
            depends_on: ["{{ item }}"]
            command: {cmd: "true"}
          report:
            depends_on: [memory_db, memory_web]
            command: {cmd: "true"}
    """,
    )
    edges = {(u.node, d.node) for u, d in run_plan.graph.edges}
    assert edges == {
        ("db", "memory_db"),
        ("web", "memory_web"),
        ("memory_db", "report"),
        ("memory_web", "report"),
    }


def test_a_looped_nodes_when_sees_its_item(tmp_path: Path) -> None:
    playbook = write_playbook(
        tmp_path,
        """
        name: demo
        checks:
          c:
            loop: [a, b]
            when: "item != 'b'"
            command: {cmd: "true"}
    """,
    )
    report = tmp_path / "report.json"
    state = tmp_path / "state.db"
    result = CliRunner().invoke(cli, ["run", str(playbook), "--state", str(state), "--report", str(report)])
    assert result.exit_code == 0, result.output
    outcomes = {node["node"]: node["outcome"] for node in json.loads(report.read_text())["nodes"]}
    assert outcomes == {"c_a": "healthy", "c_b": "skipped"}


NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(NAMES, max_size=8))
def test_a_loop_gives_one_node_per_item_in_order_or_rejects_duplicates(
    tmp_path: Path, items: list[str]
) -> None:
    text = """
        name: demo
        checks:
          first: {command: {cmd: "true"}}
          "n_{{ item }}":
            loop: "{{ items }}"
            depends_on: [first]
            command: {cmd: "echo {{ item }}"}
    """
    if len(set(items)) < len(items):
        assert any("gives the node name" in message for message in problems(tmp_path, text, items=items))
        return
    run_plan = plan(tmp_path, text, items=items)
    expanded = [name for name in run_plan.specs if name.node != "first"]
    assert [key.node for key in expanded] == [f"n_{item}" for item in items]
    assert [options(run_plan.specs[key].check)["cmd"] for key in expanded] == [f"echo {i}" for i in items]
