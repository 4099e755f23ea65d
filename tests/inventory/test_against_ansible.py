"""Our inventory reads every static inventory rule as ansible-core does.

Each test writes one inventory exercising one rule and compares ``remediate inventory``
with ``ansible-inventory`` (or ``ansible --list-hosts`` for patterns) on it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from inventory import load_inventory, select_hosts
from tests.inventory.oracle import (
    ansible_graph,
    ansible_group_names,
    ansible_hosts,
    ansible_list,
    ours,
    ours_list,
)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def assert_same_list(sources: list[Path | str], *extra: str) -> None:
    assert ours_list(sources, *extra) == ansible_list(sources, *extra)


def test_ini_host_line_values_are_python_literals_after_shell_style_quoting(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "hosts": """
        # a comment; the next line too
        ; semicolon comment
        h1 int=1 float=1.5 hex=0x10 true=True none=None list=[1,2] tuple=(1,2)
        h2 upper=FALSE yes=yes quoted="1" words="two words" single='x' dict={'k':1}
        h3 empty= hash=foo#bar trailing=1 # comment
    """
        },
    )
    assert_same_list([tmp_path / "hosts"])


def test_ini_vars_section_values_are_literals_or_the_whole_text(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "hosts": """
        [web]
        w1

        [web:vars]
        int=1
        upper=FALSE
        quoted="quoted string"
        words=hello world
        commented=1 # python comment
        list=[1, 2]
        spaced = around
        empty=
        equals=a=b
    """
        },
    )
    assert_same_list([tmp_path / "hosts"])


def test_ini_host_ranges_ports_and_addresses(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "hosts.ini": """
        web[01:12].example.com
        db-[a:f]
        step[1:10:3]
        node[0:1]-rack[a:b]
        10.0.0.[1:3]
        ssh.example.com:2222 ansible_user=deploy
        10.1.1.1:2200
        [2001:db8::1]:2201
        2001:db8::2
        [app]
        app[8:10]:22
    """
        },
    )
    assert_same_list([tmp_path / "hosts.ini"])


def test_ini_children_declared_before_their_section_and_hosts_in_several_groups(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "hosts.ini": """
        loose
        both

        [prod:children]
        web
        db

        [web]
        web1
        both

        [db]
        db1

        [db:vars]
        role=db

        [staging]
        web1
        [empty]
    """
        },
    )
    path = tmp_path / "hosts.ini"
    assert_same_list([path])
    assert ours([path], "--graph") == ansible_graph([path])


def test_ini_vars_section_may_come_before_the_groups_own_section(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "hosts.ini": """
        [web:vars]
        role=web

        [prod:children]
        web

        [prod:vars]
        env=prod

        [web]
        web1
    """
        },
    )
    assert_same_list([tmp_path / "hosts.ini"])


def test_yaml_structure_nested_children_empty_groups_and_shorthands(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "hosts.yml": """
        all:
          vars:
            level: all
          hosts:
            solo:
          children:
            web:
              hosts:
                web[1:3]:
                  level: host
                web9:2200:
              vars:
                level: web
              children:
                frontend:
                  hosts:
                    web1:
            empty:
            db:
              hosts: dbonly
        other:
          hosts:
            web2:
            solo:
              extra: 1
    """
        },
    )
    path = tmp_path / "hosts.yml"
    assert_same_list([path])
    assert ours([path], "--graph") == ansible_graph([path])


def test_yaml_values_are_read_as_yaml_1_1(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "hosts.yaml": """
        all:
          hosts:
            h1:
              yes_: yes
              on_: on
              off_: Off
              octal: 010
              underscored: 1_000
              sexagesimal: 1:20
              text: "010"
              nested: {a: [1, {b: null}], c: ~}
    """
        },
    )
    assert_same_list([tmp_path / "hosts.yaml"])


def test_variable_precedence_all_then_parent_then_child_then_host(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "hosts.ini": """
        [parent:children]
        child

        [child]
        h1
        h2 v=host

        [all:vars]
        v=all
        only_all=1

        [parent:vars]
        v=parent
        only_parent=1

        [child:vars]
        v=child
    """
        },
    )
    assert_same_list([tmp_path / "hosts.ini"])


def test_same_depth_groups_are_merged_by_name_unless_ansible_group_priority(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "hosts.yml": """
        alpha:
          hosts: {h1: , h2: }
          vars: {v: alpha}
        beta:
          hosts: {h1: , h2: }
          vars: {v: beta}
        zeta:
          hosts: {h2: }
          vars: {v: zeta, ansible_group_priority: 0}
        gamma:
          hosts: {h3: }
          vars: {v: gamma, ansible_group_priority: 5}
        delta:
          hosts: {h3: }
          vars: {v: delta}
    """
        },
    )
    assert_same_list([tmp_path / "hosts.yml"])


def test_group_vars_and_host_vars_files_and_directories(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "hosts.ini": "[web]\nweb1\nweb2\n[db]\ndb1\n",
            "group_vars/all.yml": "from_all: 1\nlevel: all\n",
            "group_vars/web/10-base.yml": "level: web\nx: base\n",
            "group_vars/web/20-override.yaml": "x: override\n",
            "group_vars/web/sub/30-deeper.json": '{"deep": true}\n',
            "group_vars/web/.hidden.yml": "x: hidden\n",
            "group_vars/web/backup.yml~": "x: backup\n",
            "group_vars/web/notes.txt": "x: txt\n",
            "group_vars/db": "level: db-noext\n",
            "group_vars/db.yml": "level: db-yml\n",
            "host_vars/web1.yml": "level: host_vars\n",
            "host_vars/db1/main.yml": "from_dir: yes\n",
            "host_vars/unknown.yml": "ignored: 1\n",
        },
    )
    assert_same_list([tmp_path / "hosts.ini"])


def test_group_vars_all_file_beats_group_vars_in_the_inventory_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "hosts.yml": "web:\n  hosts: {web1: }\n  vars: {level: inventory-web}\n",
            "group_vars/all.yml": "level: group_vars-all\n",
        },
    )
    assert_same_list([tmp_path / "hosts.yml"])


def test_directory_of_inventory_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "inv/01-web.ini": "[web]\nweb1 v=ini\n",
            "inv/02-db.yml": "db:\n  hosts: {db1: }\n  children: {web: }\n",
            "inv/sub/03-more.ini": "[web]\nweb2\n",
            "inv/README.md": "# not an inventory [\n",
            "inv/old.bak": "garbage ===\n",
            "inv/.hidden": "garbage ===\n",
            "inv/group_vars/web.yml": "from_dir_group_vars: 1\n",
        },
    )
    assert_same_list([tmp_path / "inv"])


def test_several_sources_merge_in_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a/hosts.ini": "shared v=a only_a=1\n[web]\nweb1\n",
            "a/group_vars/web.yml": "gv: a\n",
            "b/hosts.yml": "web:\n  hosts:\n    shared: {v: b}\n    web2:\n",
            "b/group_vars/web.yml": "gv: b\n",
        },
    )
    assert_same_list([tmp_path / "a/hosts.ini", tmp_path / "b/hosts.yml", "extra1,extra2:2222,"])


def test_group_names_as_playbooks_see_them(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "hosts.ini": """
        loose
        [prod:children]
        web
        [web]
        web1
        [other]
        web1
    """
        },
    )
    path = tmp_path / "hosts.ini"
    inventory = load_inventory([str(path)])
    ours_names = {h: inventory.hostvars(h)["group_names"] for h in inventory.hosts}
    assert ours_names == ansible_group_names([path])


def test_limit_keeps_only_matching_hosts_in_list(tmp_path: Path) -> None:
    write(tmp_path, {"hosts.ini": "[web]\nweb1\nweb2\n[db]\ndb1\n[all:vars]\nx=1\n"})
    assert_same_list([tmp_path / "hosts.ini"], "--limit", "web:!web2")


PATTERN_INVENTORY = {
    "hosts.ini": """
        solo
        [web:children]
        frontend
        backend
        [frontend]
        fe[1:3].example.com
        [backend]
        be1.example.com
        be2.example.com
        [db]
        db1.example.com
        db2.example.com
        [prod]
        fe1.example.com
        be1.example.com
        db1.example.com
        [ip]
        10.0.0.1
    """,
    "limit.txt": "db1.example.com\nsolo\n",
}


@pytest.mark.parametrize(
    "pattern",
    [
        "all",
        "*",
        "web",
        "fe2.example.com",
        "web:db",
        "web,db",
        "web:&prod",
        "web:!prod",
        "all:!web:!solo",
        "!web",
        "&prod",
        "*.example.com",
        "fe?.example.com",
        "be*:db*",
        "~(fe|db)1\\..*",
        "~front",
        "web[0]",
        "web[-1]",
        "web[1:3]",
        "web[2:]",
        "10.0.0.1",
        "localhost",
        "nosuchgroup",
    ],
)
def test_host_patterns_select_what_ansible_selects(tmp_path: Path, pattern: str) -> None:
    write(tmp_path, PATTERN_INVENTORY)
    path = tmp_path / "hosts.ini"
    inventory = load_inventory([str(path)])
    assert select_hosts(inventory, pattern) == ansible_hosts([path], pattern)


@pytest.mark.parametrize("limit", ["@limit.txt", "web:&prod", "fe*:@limit.txt"])
def test_limit_patterns_with_files_select_what_ansible_selects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    write(tmp_path, PATTERN_INVENTORY)
    path = tmp_path / "hosts.ini"
    inventory = load_inventory([str(path)])
    monkeypatch.chdir(tmp_path)  # @file is relative to the working directory, as in Ansible
    allowed = set(select_hosts(inventory, limit))
    # As the engine applies --limit: the play's hosts, in their order, that the limit allows.
    selected = [h for h in select_hosts(inventory, "all") if h in allowed]
    assert selected == ansible_hosts([path], "all", cwd=tmp_path, limit=limit)
