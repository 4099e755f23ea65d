"""Invalid input, whatever its shape, is exit 2 with the file and line, never a traceback, and
input past the documented limits is refused before it can exhaust the machine."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli.app import cli
from engine.input_limits import MAX_FILE_BYTES

PLAYBOOK = 'name: t\nchecks:\n  a: {command: {cmd: "true"}}\n'

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9 if previous else ['x'] * 9)}]\n"
    for previous, name in zip(["", "a", "b", "c", "d", "e", "f"], ["a", "b", "c", "d", "e", "f", "g"], strict=True)
)
"""A billion-laughs document: 9^7 (4.8 million) values once its aliases are expanded."""


def playbook_with(check: str) -> str:
    return f"name: t\nchecks:\n  a:\n    {check}\n"


CASES: list[tuple[str, dict[str, str | bytes], list[str], str]] = [
    ("non-UTF-8 playbook", {"pb.yml": b'name: t\nchecks:\n  a: {command: {cmd: "\xff"}}\n'}, [],
     "pb.yml:3:1: not valid UTF-8"),
    ("non-UTF-8 -e @file", {"pb.yml": PLAYBOOK, "v.yml": b"a: 1\nb: \xfe\n"}, ["-e", "@v.yml"],
     "v.yml:2: not valid UTF-8"),
    ("playbook nested 2,000 deep", {"pb.yml": "name: t\nvars:\n  x: " + "[" * 2000 + "]" * 2000 + "\n"}, [],
     "pb.yml:3:1: nested deeper than 100 levels"),
    ("block nesting 150 deep", {"pb.yml": "vars:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 150))}, [],
     "pb.yml:101:1: nested deeper than 100 levels"),
    ("5,000-digit integer", {"pb.yml": "name: t\nvars:\n  x: " + "7" * 5000 + "\n"}, [],
     "pb.yml:3:1: an integer longer than 100 digits"),
    ("alias bomb in the playbook", {"pb.yml": "vars:\n" + "".join("  " + line + "\n" for line in BOMB.splitlines())}, [],
     "values once YAML aliases are expanded"),
    ("alias bomb in -e @file", {"pb.yml": PLAYBOOK, "v.yml": BOMB}, ["-e", "@v.yml"],
     "v.yml:1: more than 1,000,000 values"),
    ("alias bomb in group_vars", {"pb.yml": PLAYBOOK, "hosts": "[web]\nw1\n", "group_vars/web.yml": BOMB},
     ["-i", "hosts"], "group_vars/web.yml:6: more than 1,000,000 values"),
    ("alias bomb in a YAML inventory", {"pb.yml": PLAYBOOK, "hosts.yml": "all:\n  vars:\n" + "".join(
        "    " + line + "\n" for line in BOMB.splitlines())}, ["-i", "hosts.yml"], "hosts.yml:8: more than 1,000,000"),
    ("alias bomb in -e JSON", {"pb.yml": PLAYBOOK}, ["-e", "{" + BOMB.replace("\n", ", ")[:-2] + "}"],
     "-e:1: more than 1,000,000 values"),
    ("playbook past 10 MiB", {"pb.yml": PLAYBOOK + "#" * MAX_FILE_BYTES}, [], "pb.yml: larger than 10 MiB"),
    ("a host range of ten billion hosts", {"pb.yml": PLAYBOOK, "hosts": "[web]\nweb[0:9999999999]\n"},
     ["-i", "hosts"], "hosts:2: host range [0:9999999999] expands to 10,000,000,000 hosts"),
    ("two ranges past the cap together", {"pb.yml": PLAYBOOK, "hosts": "w[0:999]-[0:999]\n"}, ["-i", "hosts"],
     "hosts:1: host entry 'w[0:999]-[0:999]' expands to more than 100,000 hosts"),
    ("3,000 nested INI groups", {"pb.yml": PLAYBOOK, "hosts": "".join(
        f"[g{i}:children]\ng{i + 1}\n" for i in range(3000)) + "[g3000]\nh\n" + "".join(
        f"[g{i}]\n" for i in range(3000))}, ["-i", "hosts"], "nests groups deeper than 100 levels"),
    ("a lone surrogate in name", {"pb.yml": 'name: "\\ud800"\n' + PLAYBOOK[8:]}, [],
     "pb.yml:1:1: a string holds a lone surrogate"),
    ("a NUL character in a command", {"pb.yml": playbook_with('command: {cmd: "a\\0b"}')}, [],
     "pb.yml:4:1: a string holds a NUL character"),
    ("a raw control character", {"pb.yml": "name: t\x01\n"}, [], "pb.yml:1:1: character U+0001 is not allowed"),
    ("checks missing", {"pb.yml": "name: t\n"}, [], "pb.yml:1:1: checks: expected a mapping"),
    ("an infinite duration", {"pb.yml": playbook_with('tcp: {host: 127.0.0.1, port: 1, timeout: .inf}')}, [],
     "pb.yml:4:"),
    ("a NaN duration", {"pb.yml": playbook_with('tcp: {host: 127.0.0.1, port: 1, timeout: .nan}')}, [],
     "pb.yml:4:"),
    ("a duration of 1e309", {"pb.yml": playbook_with('tcp: {host: 127.0.0.1, port: 1, timeout: 1e309}')}, [],
     "pb.yml:4:"),
    ("a port out of range in a URL", {"pb.yml": playbook_with('http: {url: "http://127.0.0.1:99999999/"}')}, [],
     "pb.yml:4:17: checks.a.http.url: the URL's port must be a number from 1 to 65535"),
    ("an empty argument list", {"pb.yml": playbook_with("command: {cmd: []}")}, [],
     "pb.yml:4:"),
    ("an integer host name in a YAML inventory", {"pb.yml": PLAYBOOK, "hosts.yml": "all:\n  hosts:\n    1234:\n"},
     ["-i", "hosts.yml"], "hosts.yml:3: Host pattern 1234 must be a string"),
]


@pytest.mark.parametrize(("files", "args", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_input_exits_2_naming_the_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str | bytes], args: list[str], fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            Path(name).write_bytes(content)
        else:
            Path(name).write_text(content)
    result = CliRunner().invoke(cli, ["validate", "pb.yml", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr


def test_a_group_vars_link_to_dev_zero_is_refused_after_10_mib(tmp_path: Path) -> None:
    (tmp_path / "pb.yml").write_text(PLAYBOOK)
    (tmp_path / "hosts").write_text("[web]\nw1\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "web").symlink_to("/dev/zero")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "pb.yml"), "-i", str(tmp_path / "hosts")])
    assert result.exit_code == 2
    assert f"{tmp_path / 'group_vars' / 'web'}: larger than 10 MiB" in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--state", "postgresql://u:p@[::zz]:5432/db"], "invalid --state URL"),
        (["--state", "postgresql://u:p@localhost:99999999/db"], "invalid --state URL: Port out of range"),
    ],
)
def test_a_malformed_state_url_is_invalid_input(tmp_path: Path, args: list[str], fragment: str) -> None:
    (tmp_path / "pb.yml").write_text(PLAYBOOK)
    result = CliRunner().invoke(cli, ["run", str(tmp_path / "pb.yml"), *args])
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert "u:p@" not in result.stderr


@pytest.mark.parametrize(
    ("inventory", "fragment"),
    [
        ("[p:children]\nnope\n", "hosts:2: section [p:children] names group 'nope'"),
        ("[web]\nweb[0:9999999999]\n", "hosts:2: host range"),
    ],
)
def test_the_inventory_command_exits_2_on_an_invalid_inventory(tmp_path: Path, inventory: str, fragment: str) -> None:
    (tmp_path / "hosts").write_text(inventory)
    result = CliRunner().invoke(cli, ["inventory", "-i", str(tmp_path / "hosts"), "--list"])
    assert result.exit_code == 2
    assert fragment in result.stderr
