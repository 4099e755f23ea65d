"""The issue's template exploits, through every entry point of the `remediate` command run
as a real process: none runs code or reads a file; each is invalid input (exit 2) named by
file and line, or, when only a run can evaluate it, the node's `error`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REMEDIATE = str(Path(sys.executable).parent / "remediate")
INVALID = 2
RUN_CODE = "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}"
READ_FILE = "{{ lipsum.__globals__['__builtins__']['open']('SECRET').read() }}"
SECRET = "TOP-SECRET-CONTENT"


def remediate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REMEDIATE, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


def exploit(tmp_path: Path, template: str = RUN_CODE) -> str:
    """The template, aimed at this test's marker and secret; YAML-quoted."""
    (tmp_path / "secret").write_text(SECRET)
    aimed = template.replace("MARKER", str(tmp_path / "marker")).replace("SECRET", str(tmp_path / "secret"))
    return '"' + aimed.replace('"', '\\"') + '"'


def assert_refused(tmp_path: Path, result: subprocess.CompletedProcess[str], where: str) -> None:
    assert result.returncode == INVALID, result.stdout + result.stderr
    assert f"error: {where}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "marker").exists()
    assert SECRET not in result.stdout + result.stderr


def test_playbook_vars_cannot_run_code(tmp_path: Path) -> None:
    playbook = write(
        tmp_path,
        "p.yml",
        f"""
        name: x
        vars:
          v: {exploit(tmp_path)}
        checks:
          a:
            command: {{cmd: "true"}}
        """,
    )
    assert_refused(tmp_path, remediate(tmp_path, "validate", playbook), f"{playbook}:3:6: vars.v: variable 'v'")


@pytest.mark.parametrize("command", [["validate"], ["graph"], ["check"], ["run", "--dry-run"]])
def test_a_node_when_cannot_run_code(tmp_path: Path, command: list[str]) -> None:
    playbook = write(
        tmp_path,
        "p.yml",
        f"""
        name: x
        checks:
          a:
            command: {{cmd: "false"}}
            when: {exploit(tmp_path, RUN_CODE[3:-3])}
        """,
    )
    where = f"{playbook}:5:11: checks.a.when: invalid expression"
    assert_refused(tmp_path, remediate(tmp_path, *command, playbook), where)


def test_a_step_when_cannot_run_code(tmp_path: Path) -> None:
    playbook = write(
        tmp_path,
        "p.yml",
        f"""
        name: x
        checks:
          a:
            command: {{cmd: "false"}}
            remediate:
              - command: {{cmd: "true"}}
                when: {exploit(tmp_path, RUN_CODE[3:-3])}
        """,
    )
    where = f"{playbook}:7:15: checks.a.remediate[0].when: invalid expression"
    assert_refused(tmp_path, remediate(tmp_path, "run", "--dry-run", playbook), where)


def test_a_when_that_gets_past_validation_is_a_node_error_at_run_time(tmp_path: Path) -> None:
    playbook = write(
        tmp_path,
        "p.yml",
        f"""
        name: x
        checks:
          a:
            command: {{cmd: "false"}}
            when: {exploit(tmp_path, "(cycler|attr('_' ~ '_init__')|attr('_' ~ '_globals__')).os.popen('touch MARKER')")}
        """,
    )
    result = remediate(tmp_path, "check", playbook)
    assert result.returncode == 1, result.stderr
    assert "a     error" in result.stdout and "not allowed in a template" in result.stdout
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "marker").exists()


def test_notify_cannot_run_code(tmp_path: Path) -> None:
    playbook = write(
        tmp_path,
        "p.yml",
        f"""
        name: x
        notify:
          - command: {{cmd: {exploit(tmp_path)}}}
        checks:
          a:
            command: {{cmd: "true"}}
        """,
    )
    assert_refused(tmp_path, remediate(tmp_path, "validate", playbook), f"{playbook}:3:20: notify[0].command.cmd")


def test_extra_vars_cannot_run_code(tmp_path: Path) -> None:
    playbook = write(tmp_path, "p.yml", 'name: x\nchecks:\n  a:\n    command: {cmd: "{{ v }}"}\n')
    result = remediate(tmp_path, "validate", playbook, "-e", '{"v": ' + exploit(tmp_path) + "}")
    assert_refused(tmp_path, result, f"{playbook}:")
    assert "variable 'v'" in result.stderr and "(from -e)" in result.stderr


@pytest.mark.parametrize(
    "inventory",
    [
        "localhost ansible_connection=local v='{template}'",
        "[all:vars]\nv='{template}'\n[local]\nlocalhost ansible_connection=local",
    ],
    ids=["host vars", "group vars"],
)
def test_inventory_vars_cannot_run_code(tmp_path: Path, inventory: str) -> None:
    playbook = write(tmp_path, "p.yml", 'name: x\nchecks:\n  a:\n    command: {cmd: "{{ v }}"}\n')
    template = exploit(tmp_path)[1:-1].replace("\\", "")
    hosts = write(tmp_path, "hosts.ini", inventory.format(template=template.replace("'", '"')))
    result = remediate(tmp_path, "validate", playbook, "-i", hosts)
    assert_refused(tmp_path, result, f"{playbook}:")
    assert "variable 'v'" in result.stderr and "(from the inventory)" in result.stderr


def test_a_file_cannot_be_read_into_the_dry_run_plan(tmp_path: Path) -> None:
    playbook = write(
        tmp_path,
        "p.yml",
        f"""
        name: x
        checks:
          a:
            command: {{cmd: "false"}}
            remediate:
              - command: {{cmd: {exploit(tmp_path, READ_FILE)}}}
        """,
    )
    where = f"{playbook}:6:24: checks.a.remediate[0].command.cmd"
    assert_refused(tmp_path, remediate(tmp_path, "run", "--dry-run", playbook), where)


def test_a_template_over_a_bound_is_invalid_input_naming_file_and_line(tmp_path: Path) -> None:
    playbook = write(
        tmp_path,
        "p.yml",
        """
        name: x
        checks:
          a:
            command:
              cmd: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
        """,
    )
    result = remediate(tmp_path, "validate", playbook)
    assert_refused(tmp_path, result, f"{playbook}:5:12: checks.a.command.cmd: template exceeds a limit")


def test_a_runtime_error_in_a_template_is_invalid_input_not_a_traceback(tmp_path: Path) -> None:
    playbook = write(tmp_path, "p.yml", 'name: x\nchecks:\n  a:\n    command: {cmd: "{{ 1/0 }}"}\n')
    result = remediate(tmp_path, "validate", playbook)
    assert_refused(tmp_path, result, f"{playbook}:4:20: checks.a.command.cmd: cannot render")
    assert "ZeroDivisionError: division by zero" in result.stderr
