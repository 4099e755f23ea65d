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


GOLDEN = FIXTURES / "invalid_playbooks"
CASES = sorted(GOLDEN.glob("*.yml"))


@pytest.mark.parametrize("case", CASES, ids=[case.stem for case in CASES])
def test_each_invalid_playbook_gets_its_golden_messages(tmp_path: Path, case: Path) -> None:
    """One file per case: NAME.yml is the playbook (read as playbook.yml), NAME.expected its
    messages, one a line, in order; a line ending with '...' is matched as a prefix."""
    found = problems(tmp_path, case.read_text())
    expected = (case.with_suffix(".expected")).read_text().splitlines()
    assert len(found) == len(expected), found
    for message, wanted in zip(found, expected, strict=True):
        if wanted.endswith("..."):
            assert message.startswith(wanted[:-3]), message
        else:
            assert message == wanted


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
