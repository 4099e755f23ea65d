"""`remediate inventory`: the command operators use to see what the engine will read."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from engine.cli.app import cli


def test_inventory_command_is_part_of_the_cli_and_its_help_has_examples() -> None:
    result = CliRunner().invoke(cli, ["inventory", "--help"])
    assert result.exit_code == 0
    assert "remediate inventory -i hosts.ini --list" in result.output


def test_host_shows_one_hosts_merged_variables(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("[web]\nweb1 port=8080\n[web:vars]\nport=80\nrole=web\n")
    result = CliRunner().invoke(cli, ["inventory", "-i", str(tmp_path / "hosts"), "--host", "web1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"port": 8080, "role": "web"}


def test_graph_can_start_at_a_group(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("[web:children]\nfront\n[front]\nf1\n[db]\nd1\n")
    result = CliRunner().invoke(cli, ["inventory", "-i", str(tmp_path / "hosts"), "--graph", "web"])
    assert result.output.splitlines() == ["@web:", "  |--@front:", "  |  |--f1"]


def test_bad_inventory_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("[web]\nweb1 port\n")
    result = CliRunner().invoke(cli, ["inventory", "-i", str(tmp_path / "hosts"), "--list"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"{tmp_path / 'hosts'}:2:" in result.output


def test_exactly_one_of_list_graph_host_is_required(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["inventory", "-i", "a,", "--list", "--graph"])
    assert result.exit_code == 2 and "exactly one of" in result.output
