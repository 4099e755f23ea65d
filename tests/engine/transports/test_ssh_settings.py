"""How a host's inventory variables and the ssh config become connection settings."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from engine.errors import TransportError
from engine.transports.ssh import Hop, ssh_settings

NO_CONFIG = {"remediate_ssh_config": "/dev/null"}


def test_inventory_name_is_the_address_when_nothing_else_is_given() -> None:
    settings = ssh_settings("web1.example.com", NO_CONFIG)
    assert settings.target == Hop("web1.example.com", 22, getpass.getuser())
    assert settings.jumps == ()


def test_old_ansible_ssh_aliases_are_understood() -> None:
    settings = ssh_settings(
        "web1",
        {**NO_CONFIG, "ansible_ssh_host": "10.0.0.5", "ansible_ssh_port": "2222", "ansible_ssh_user": "ops"},
    )
    assert settings.target == Hop("10.0.0.5", 2222, "ops")


@pytest.mark.parametrize(
    "args",
    [
        "-o ProxyJump=ops@bastion:2200",
        "-o 'ProxyJump ops@bastion:2200'",
        "-oProxyJump=ops@bastion:2200",
        "-o 'ProxyJump=ops@bastion:2200' -o StrictHostKeyChecking=yes",
        "-J ops@bastion:2200",
        "-Jops@bastion:2200",
        "-o proxyjump=ssh://ops@bastion:2200",
    ],
)
def test_proxy_jump_is_read_from_the_ssh_arguments(args: str) -> None:
    settings = ssh_settings("web1", {**NO_CONFIG, "ansible_ssh_common_args": args})
    assert settings.jumps == (Hop("bastion", 2200, "ops"),)


def test_several_jump_hosts_are_passed_in_order() -> None:
    settings = ssh_settings("web1", {**NO_CONFIG, "ansible_ssh_extra_args": "-J a@one,two:2022"})
    assert [(j.address, j.port) for j in settings.jumps] == [("one", 22), ("two", 2022)]
    assert settings.jumps[0].user == "a"


def test_proxy_command_is_refused_with_what_to_use_instead() -> None:
    with pytest.raises(TransportError, match="use ProxyJump"):
        ssh_settings(
            "web1", {**NO_CONFIG, "ansible_ssh_common_args": "-o ProxyCommand='ssh -W %h:%p bastion'"}
        )


def test_ssh_config_fills_what_the_inventory_leaves_out(tmp_path: Path) -> None:
    key = tmp_path / "id_test"
    key.write_text("not read here")
    config = tmp_path / "config"
    config.write_text(
        f"Host web*\n  HostName %h.internal\n  User deploy\n  Port 2022\n"
        f"  IdentityFile {key}\n  ProxyJump jump.internal\n"
    )
    settings = ssh_settings("web1", {"remediate_ssh_config": str(config), "ansible_user": "override"})
    assert settings.target == Hop("web1.internal", 2022, "override", (str(key),))
    assert settings.jumps[0].address == "jump.internal"


def test_become_with_another_method_than_sudo_is_refused() -> None:
    with pytest.raises(TransportError, match="'su' is not supported"):
        ssh_settings("web1", {**NO_CONFIG, "ansible_become": "yes", "ansible_become_method": "su"})


def test_become_flags_read_as_ansible_booleans() -> None:
    assert ssh_settings("web1", {**NO_CONFIG, "ansible_become": "yes"}).become
    assert not ssh_settings("web1", {**NO_CONFIG, "ansible_become": "False"}).become


def test_python_interpreter_and_unknown_ansible_variables_are_ignored() -> None:
    settings = ssh_settings(
        "web1",
        {**NO_CONFIG, "ansible_python_interpreter": "/usr/bin/python3", "ansible_ssh_pipelining": True},
    )
    assert settings.target.address == "web1"
