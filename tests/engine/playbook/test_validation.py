"""Every kind of bad playbook gets a message naming file, line, column and field."""

from pathlib import Path

import pytest

from engine.errors import PlaybookError
from tests.support.fixtures import FIXTURES
from tests.support.playbooks import plan, write_playbook


def problems(tmp_path: Path, text: str, **extra_vars: object) -> list[str]:
    with pytest.raises(PlaybookError) as error:
        plan(tmp_path, text, **extra_vars)
    return [str(p).replace(str(tmp_path) + "/", "") for p in error.value.problems]


def test_a_wrongly_typed_field_names_file_line_column_and_path(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
        name: demo
        checks:
          api:
            http: {url: "http://127.0.0.1/", status: two}
    """,
    ) == ['playbook.yml:4:46: checks.api.http.status: expected an integer, got "two"']


def test_an_unknown_check_type_lists_the_known_ones_and_the_nearest(tmp_path: Path) -> None:
    (message,) = problems(
        tmp_path,
        """
        name: demo
        checks:
          api:
            htp: {url: "http://127.0.0.1/"}
    """,
    )
    assert message.startswith(
        "playbook.yml:4:5: checks.api.htp: unknown check type 'htp' (did you mean 'http'?)"
    )
    from engine.core.registry import CHECK_TYPES

    assert message.endswith(f"known: {', '.join(sorted(CHECK_TYPES))}")


def test_an_unknown_action_type_is_reported_at_its_step(tmp_path: Path) -> None:
    (message,) = problems(
        tmp_path,
        """
        name: demo
        checks:
          api:
            tcp: {port: 1}
            remediate:
              - name: restart
                comand: {cmd: "true"}
    """,
    )
    assert message.startswith(
        "playbook.yml:7:9: checks.api.remediate[0].comand: unknown action type 'comand' (did you mean 'command'?)"
    )


def test_a_missing_required_option_is_named(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
        name: demo
        checks:
          db:
            tcp: {host: 127.0.0.1}
    """,
    ) == ["playbook.yml:4:5: checks.db.tcp.port: required field is missing"]


def test_an_unknown_option_is_named(tmp_path: Path) -> None:
    (message,) = problems(
        tmp_path,
        """
        name: demo
        checks:
          db:
            tcp: {port: 1, hots: x}
    """,
    )
    assert message.startswith(
        "playbook.yml:4:20: checks.db.tcp.hots: unknown field 'hots' (did you mean 'host'?)"
    )


def test_two_check_types_in_one_node_are_refused(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
        name: demo
        checks:
          db:
            tcp: {port: 1}
            http: {url: "http://x/"}
    """,
    ) == ["playbook.yml:3:3: checks.db: one check type per entry, got tcp and http"]


def test_a_node_without_a_check_type_says_which_exist(tmp_path: Path) -> None:
    from engine.core.registry import CHECK_TYPES

    known = ", ".join(sorted(CHECK_TYPES))
    assert problems(
        tmp_path,
        """
        name: demo
        checks:
          db:
            retries: 2
    """,
    ) == [f"playbook.yml:3:3: checks.db: no check type given; expected one of: {known}"]


def test_a_bad_duration_is_named(tmp_path: Path) -> None:
    (message,) = problems(
        tmp_path,
        """
        name: demo
        checks:
          db:
            tcp: {port: 1, timeout: 5 parsecs}
    """,
    )
    assert message.startswith("playbook.yml:4:29: checks.db.tcp.timeout: expected a duration such as 500ms")


def test_a_dangling_dependency_is_reported_at_the_reference(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
        name: demo
        checks:
          db:
            tcp: {port: 1}
          api:
            depends_on: [dbb]
            tcp: {port: 2}
    """,
    ) == [
        "playbook.yml:6:18: checks.api.depends_on[0]: api depends on 'dbb', which is not a node (did you mean 'db'?); nodes: api, db"
    ]


def test_a_cycle_names_its_nodes(tmp_path: Path) -> None:
    (message,) = problems(
        tmp_path,
        """
        name: demo
        checks:
          a:
            depends_on: [b]
            tcp: {port: 1}
          b:
            depends_on: [a]
            tcp: {port: 2}
    """,
    )
    assert message == "playbook.yml:4:5: checks.a.depends_on: dependency cycle: a -> b -> a"


def test_an_undefined_variable_is_named_at_its_field(tmp_path: Path) -> None:
    (message,) = problems(
        tmp_path,
        """
        name: demo
        checks:
          db:
            tcp: {port: "{{ db_port }}"}
    """,
    )
    assert message == "playbook.yml:4:17: checks.db.tcp.port: 'db_port' is undefined in '{{ db_port }}'"


def test_a_yaml_syntax_error_has_its_position(tmp_path: Path) -> None:
    (message,) = problems(
        tmp_path,
        """
        name: demo
        checks:
          db: {tcp: {port: 1}
    """,
    )
    assert message.startswith("playbook.yml:4:1: invalid YAML")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    assert (
        len(
            problems(
                tmp_path,
                """
        name: demo
        checks:
          a:
            tcp: {port: x}
          b:
            http: {url: "ftp://x"}
            retries: -1
    """,
            )
        )
        == 3
    )


def test_a_bad_when_expression_is_reported(tmp_path: Path) -> None:
    (message,) = problems(
        tmp_path,
        """
        name: demo
        checks:
          a:
            tcp: {port: 1}
            when: "x =="
    """,
    )
    assert message.startswith("playbook.yml:5:11: checks.a.when: invalid expression")


def test_variables_render_with_extra_vars_over_playbook_vars(tmp_path: Path) -> None:
    run_plan = plan(
        tmp_path,
        """
        name: demo
        vars: {port: 1, api: "http://127.0.0.1:{{ port }}"}
        checks:
          api:
            http: {url: "{{ api }}/health"}
    """,
        port=8000,
    )
    (spec,) = run_plan.specs.values()
    assert spec.check.url == "http://127.0.0.1:8000/health"  # type: ignore[attr-defined]


def test_the_issue_demo_playbook_validates_with_its_variables(tmp_path: Path) -> None:
    demo = FIXTURES / "playbooks" / "demo.yml"
    run_plan = plan(
        tmp_path,
        demo.read_text(),
        api_port=1,
        db_port=2,
        web_port=3,
        start_db="true",
        restart_api="true",
        restart_web="true",
    )
    assert sorted(k.node for k in run_plan.specs) == ["api", "db", "web"]


def test_write_playbook_keeps_what_it_is_given(tmp_path: Path) -> None:
    assert write_playbook(tmp_path, "name: x\n").read_text() == "name: x\n"


@pytest.mark.parametrize(
    "check",
    [
        'postgres: {dsn: "postgresql://db/app", query: "  "}',
        'prometheus_query: {url: "http://127.0.0.1:9090", query: ""}',
    ],
)
def test_a_blank_query_is_refused_naming_the_field(tmp_path: Path, check: str) -> None:
    (message,) = problems(tmp_path, f"name: demo\nchecks:\n  q:\n    {check}\n")
    assert message.endswith(".query: is empty")
    assert message.startswith("playbook.yml:4:")


def test_a_step_both_ignoring_and_stopping_on_failure_is_refused_at_its_line(tmp_path: Path) -> None:
    (message,) = problems(
        tmp_path,
        """
        name: demo
        checks:
          api:
            tcp: {port: 1}
            remediate:
              - command: {cmd: "true"}
                ignore_errors: true
                stop_on_failure: true
    """,
    )
    assert message.startswith("playbook.yml:6:9: checks.api.remediate[0]")
    assert "ignore_errors and stop_on_failure contradict each other" in message


def test_an_alembic_node_that_is_not_a_node_is_reported(tmp_path: Path) -> None:
    (message,) = problems(
        tmp_path,
        """
        name: demo
        alembic_node: migrations
        checks:
          api:
            tcp: {port: 1}
    """,
    )
    assert message.startswith("playbook.yml:2:")
    assert "alembic_node: 'migrations' is not a node; nodes: api" in message
