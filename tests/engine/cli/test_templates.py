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


# Each exploit where it may be written in a playbook: (command, playbook, the error's place and
# field). <RUN_CODE>, <WHEN_CODE> (the same as an expression) and <READ_FILE> stand for the
# exploit, aimed and quoted; every case must be refused before anything runs.
WHEN_CODE = RUN_CODE[3:-3]
REFUSED = {
    "playbook vars": (
        ["validate"],
        """
        name: x
        vars:
          v: <RUN_CODE>
        checks:
          a:
            command: {cmd: "true"}
        """,
        "3:6: vars.v: variable 'v'",
    ),
    **{
        f"node when, {' '.join(command)}": (
            command,
            """
            name: x
            checks:
              a:
                command: {cmd: "false"}
                when: <WHEN_CODE>
            """,
            "5:11: checks.a.when: invalid expression",
        )
        for command in (["validate"], ["graph"], ["check"], ["run", "--dry-run"])
    },
    "step when": (
        ["run", "--dry-run"],
        """
        name: x
        checks:
          a:
            command: {cmd: "false"}
            remediate:
              - command: {cmd: "true"}
                when: <WHEN_CODE>
        """,
        "7:15: checks.a.remediate[0].when: invalid expression",
    ),
    "notify command": (
        ["validate"],
        """
        name: x
        notify:
          - command: {cmd: <RUN_CODE>}
        checks:
          a:
            command: {cmd: "true"}
        """,
        "3:20: notify[0].command.cmd",
    ),
    "a file read into the dry-run plan": (
        ["run", "--dry-run"],
        """
        name: x
        checks:
          a:
            command: {cmd: "false"}
            remediate:
              - command: {cmd: <READ_FILE>}
        """,
        "6:24: checks.a.remediate[0].command.cmd",
    ),
    "a template over a bound": (
        ["validate"],
        """
        name: x
        checks:
          a:
            command:
              cmd: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
        """,
        "5:12: checks.a.command.cmd: template exceeds a limit",
    ),
}


@pytest.mark.parametrize(("command", "text", "where"), REFUSED.values(), ids=REFUSED.keys())
def test_an_exploit_in_a_playbook_is_refused_naming_file_line_and_field(
    tmp_path: Path, command: list[str], text: str, where: str
) -> None:
    for token, template in (("<RUN_CODE>", RUN_CODE), ("<WHEN_CODE>", WHEN_CODE), ("<READ_FILE>", READ_FILE)):
        text = text.replace(token, exploit(tmp_path, template))
    playbook = write(tmp_path, "p.yml", text)
    assert_refused(tmp_path, remediate(tmp_path, *command, playbook), f"{playbook}:{where}")


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


# A variable given from outside the playbook: the option that brings it, the file it is in (if
# any, with {template} for the aimed exploit) and where the error says it came from.
OUTSIDE = {
    "extra vars": ("-e", None, "(from -e)"),
    "inventory host vars": (
        "-i",
        "localhost ansible_connection=local v='{template}'",
        "(from the inventory)",
    ),
    "inventory group vars": (
        "-i",
        "[all:vars]\nv='{template}'\n[local]\nlocalhost ansible_connection=local",
        "(from the inventory)",
    ),
}


@pytest.mark.parametrize(("option", "inventory", "origin"), OUTSIDE.values(), ids=OUTSIDE.keys())
def test_a_variable_from_outside_the_playbook_cannot_run_code(
    tmp_path: Path, option: str, inventory: str | None, origin: str
) -> None:
    playbook = write(tmp_path, "p.yml", 'name: x\nchecks:\n  a:\n    command: {cmd: "{{ v }}"}\n')
    if inventory is None:
        value = '{"v": ' + exploit(tmp_path) + "}"
    else:
        template = exploit(tmp_path)[1:-1].replace("\\", "")
        value = write(tmp_path, "hosts.ini", inventory.format(template=template.replace("'", '"')))
    result = remediate(tmp_path, "validate", playbook, option, value)
    assert_refused(tmp_path, result, f"{playbook}:")
    assert "variable 'v'" in result.stderr and origin in result.stderr


def test_a_runtime_error_in_a_template_is_invalid_input_not_a_traceback(tmp_path: Path) -> None:
    playbook = write(tmp_path, "p.yml", 'name: x\nchecks:\n  a:\n    command: {cmd: "{{ 1/0 }}"}\n')
    result = remediate(tmp_path, "validate", playbook)
    assert_refused(tmp_path, result, f"{playbook}:4:20: checks.a.command.cmd: cannot render")
    assert "ZeroDivisionError: division by zero" in result.stderr
