"""A bad inventory is refused with the file, the line and what is wrong."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from engine.errors import InventoryError
from inventory import load_inventory, select_hosts


def load_text(tmp_path: Path, name: str, text: str, **extra: str) -> None:
    (tmp_path / name).write_text(textwrap.dedent(text).lstrip())
    for other, content in extra.items():
        path = tmp_path / other.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    load_inventory([str(tmp_path / name)])


def error_of(tmp_path: Path, name: str, text: str, **extra: str) -> str:
    with pytest.raises(InventoryError) as caught:
        load_text(tmp_path, name, text, **extra)
    return str(caught.value)


def test_ini_vars_for_an_undeclared_group_names_its_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "hosts", "web1\n\n[db:vars]\nx=1\n")
    assert message.startswith(f"{tmp_path / 'hosts'}:3: ")
    assert "[db:vars]" in message


def test_ini_children_naming_an_undeclared_group_names_its_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "hosts", "[prod:children]\nweb\ndbs\n[web]\nw1\n")
    assert message.startswith(f"{tmp_path / 'hosts'}:3: ")
    assert "'dbs'" in message


def test_ini_host_variable_without_equals_names_its_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "hosts", "[web]\nw1 ansible_user deploy\n")
    assert message.startswith(f"{tmp_path / 'hosts'}:2: ")
    assert "key=value" in message


def test_ini_unknown_section_type_names_its_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "hosts", "[web]\nw1\n[web:child]\nx\n")
    assert message.startswith(f"{tmp_path / 'hosts'}:3: ")
    assert "unknown type 'child'" in message


def test_ini_section_with_spaces_names_its_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "hosts", "[web servers]\nw1\n")
    assert message.startswith(f"{tmp_path / 'hosts'}:1: ")


def test_ini_unclosed_quote_names_its_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "hosts", "w1 note='unclosed\n")
    assert message.startswith(f"{tmp_path / 'hosts'}:1: ")


def test_range_with_unequal_widths_names_its_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "hosts", "[web]\nweb[01:100]\n")
    assert message.startswith(f"{tmp_path / 'hosts'}:2: ")
    assert "same width" in message


def test_range_running_backwards_names_its_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "hosts", "db-[f:a]\n")
    assert message.startswith(f"{tmp_path / 'hosts'}:1: ")


def test_group_loop_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, "hosts", "[a:children]\nb\n[b:children]\na\n")
    assert message.startswith(f"{tmp_path / 'hosts'}:4: ")
    assert "loop" in message


def test_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "hosts.yml", "all:\n  hosts:\n    web1: {a: 1\n  vars:\n")
    assert re.match(rf"{re.escape(str(tmp_path / 'hosts.yml'))}:\d+: invalid YAML", message)


def test_yaml_hosts_given_as_a_list_names_its_line(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "hosts.yml",
        """
        all:
          children:
            web:
              hosts:
                - web1
    """,
    )
    assert message.startswith(f"{tmp_path / 'hosts.yml'}:4: ")
    assert "'hosts' of group 'web' must be a mapping" in message


def test_yaml_misspelt_group_key_is_an_error_not_silently_dropped(tmp_path: Path) -> None:
    # ansible-core only warns and drops the hosts; a remediation engine must not silently
    # leave hosts unchecked.
    message = error_of(tmp_path, "hosts.yml", "web:\n  host:\n    web1:\n")
    assert message.startswith(f"{tmp_path / 'hosts.yml'}:2: ")
    assert "unexpected key 'host'" in message


def test_yaml_host_variables_that_are_not_a_mapping_name_their_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "hosts.yml", "web:\n  hosts:\n    web1: deploy\n")
    assert message.startswith(f"{tmp_path / 'hosts.yml'}:3: ")


def test_a_yaml_inventory_of_only_comments_is_an_empty_inventory(tmp_path: Path) -> None:
    # Ansible reads it as an inventory with no hosts, without an error.
    (tmp_path / "hosts.yml").write_text("# nothing\n# web01:\n")
    assert load_inventory([str(tmp_path / "hosts.yml")]).hosts == []


def test_inventory_plugin_configuration_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, "aws_ec2.yml", "plugin: amazon.aws.aws_ec2\n")
    assert message.startswith(f"{tmp_path / 'aws_ec2.yml'}:1: ")
    assert "not supported" in message


def test_vault_encrypted_value_is_refused_with_its_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "hosts.yml", "web:\n  vars:\n    pw: !vault |\n      $ANSIBLE\n")
    assert message.startswith(f"{tmp_path / 'hosts.yml'}:3: ")
    assert "vault" in message


def test_group_vars_file_that_is_not_a_mapping_names_the_file(tmp_path: Path) -> None:
    message = error_of(tmp_path, "hosts", "[web]\nw1\n", group_vars__web__main_yml="- a\n- b\n")
    assert message.startswith(f"{tmp_path / 'group_vars/web/main_yml'}:1: ")


def test_missing_source_says_how_to_write_a_host_list(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"a host list needs a comma: 'web1,'"):
        load_inventory(["web1"])


def test_unsafe_yaml_value_is_kept_as_its_text(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    h1: {v: !unsafe '{{ x }}'}\n")
    assert load_inventory([str(tmp_path / "hosts.yml")]).hostvars("h1")["v"] == "{{ x }}"


def test_no_source_means_the_controller_over_a_local_connection() -> None:
    inventory = load_inventory([])
    assert select_hosts(inventory, "all") == ["localhost"]
    assert inventory.hostvars("localhost")["ansible_connection"] == "local"


def test_implicit_localhost_is_selectable_and_gets_all_vars(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("web1\n[all:vars]\nv=1\n")
    inventory = load_inventory([str(tmp_path / "hosts")])
    assert select_hosts(inventory, "all") == ["web1"]
    assert select_hosts(inventory, "localhost") == ["localhost"]
    assert inventory.hostvars("localhost")["v"] == 1
    assert inventory.hostvars("localhost")["ansible_connection"] == "local"


def test_unknown_host_has_no_hostvars(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("web1\n")
    with pytest.raises(InventoryError, match="not in the inventory"):
        load_inventory([str(tmp_path / "hosts")]).hostvars("web2")
