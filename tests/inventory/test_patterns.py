"""Host patterns (inventory/patterns.py), fast: each expected answer is what
`ansible PATTERN --list-hosts` printed for this inventory (tests/inventory/test_against_ansible.py
keeps comparing with ansible itself; this table lets mutation testing run in milliseconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InventoryError
from inventory import load_inventory, select_hosts
from inventory.model import Inventory
from inventory.patterns import split_pattern
from tests.inventory.test_against_ansible import PATTERN_INVENTORY, write


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    root = write(tmp_path_factory.mktemp("patterns"), PATTERN_INVENTORY)
    return load_inventory([str(root / "hosts.ini")])


@pytest.mark.parametrize(
    ("pattern", "hosts"),
    [
        ('all', ['solo', 'db1.example.com', 'db2.example.com', 'fe1.example.com', 'be1.example.com', '10.0.0.1', 'fe2.example.com', 'fe3.example.com', 'be2.example.com']),
        ('*', ['solo', 'db1.example.com', 'db2.example.com', 'fe1.example.com', 'be1.example.com', '10.0.0.1', 'fe2.example.com', 'fe3.example.com', 'be2.example.com']),
        ('web', ['fe1.example.com', 'fe2.example.com', 'fe3.example.com', 'be1.example.com', 'be2.example.com']),
        ('fe2.example.com', ['fe2.example.com']),
        ('web:db', ['fe1.example.com', 'fe2.example.com', 'fe3.example.com', 'be1.example.com', 'be2.example.com', 'db1.example.com', 'db2.example.com']),
        ('web,db', ['fe1.example.com', 'fe2.example.com', 'fe3.example.com', 'be1.example.com', 'be2.example.com', 'db1.example.com', 'db2.example.com']),
        ('web:&prod', ['fe1.example.com', 'be1.example.com']),
        ('web:!prod', ['fe2.example.com', 'fe3.example.com', 'be2.example.com']),
        ('all:!web:!solo', ['db1.example.com', 'db2.example.com', '10.0.0.1']),
        ('!web', ['solo', 'db1.example.com', 'db2.example.com', '10.0.0.1']),
        ('&prod', ['db1.example.com', 'fe1.example.com', 'be1.example.com']),
        ('*.example.com', ['fe1.example.com', 'fe2.example.com', 'fe3.example.com', 'be1.example.com', 'be2.example.com', 'db1.example.com', 'db2.example.com']),
        ('fe?.example.com', ['fe1.example.com', 'fe2.example.com', 'fe3.example.com']),
        ('be*:db*', ['be1.example.com', 'be2.example.com', 'db1.example.com', 'db2.example.com']),
        ('~(fe|db)1\\..*', ['fe1.example.com', 'db1.example.com']),
        ('~front', ['fe1.example.com', 'fe2.example.com', 'fe3.example.com']),
        ('web[0]', ['fe1.example.com']),
        ('web[-1]', ['be2.example.com']),
        ('web[1:3]', ['fe2.example.com', 'fe3.example.com', 'be1.example.com']),
        ('web[2:]', ['fe3.example.com', 'be1.example.com', 'be2.example.com']),
        ('10.0.0.1', ['10.0.0.1']),
        ('localhost', ['localhost']),
        ('nosuchgroup', []),
        ('prod:web:!be1.example.com', ['fe1.example.com', 'db1.example.com', 'fe2.example.com', 'fe3.example.com', 'be2.example.com']),
        ('web[0:1]', ['fe1.example.com', 'fe2.example.com']),
        ('db[1]', ['db2.example.com']),
        ('web[5:]', []),
        ('frontend[1-2]', ['fe2.example.com', 'fe3.example.com']),
        ('prod:&web:&frontend', ['fe1.example.com']),
        (' web , db ', ['fe1.example.com', 'fe2.example.com', 'fe3.example.com', 'be1.example.com', 'be2.example.com', 'db1.example.com', 'db2.example.com']),
        ('ip', ['10.0.0.1']),
        ('~10\\.', ['10.0.0.1']),
        ('web:!~be', ['fe1.example.com', 'fe2.example.com', 'fe3.example.com']),
        ('db:db1.example.com', ['db1.example.com', 'db2.example.com']),
        ('all:&db:!db2.example.com', ['db1.example.com']),
    ],
)
def test_a_pattern_selects_what_ansible_selected(inventory: Inventory, pattern: str, hosts: list[str]) -> None:
    assert select_hosts(inventory, pattern) == hosts


def test_a_limit_file_names_one_pattern_per_line(
    inventory: Inventory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "limit.txt").write_text("db1.example.com\n\n  solo  \n")
    monkeypatch.chdir(tmp_path)
    assert select_hosts(inventory, "@limit.txt") == ["db1.example.com", "solo"]
    assert select_hosts(inventory, "fe1*:@limit.txt") == ["fe1.example.com", "db1.example.com", "solo"]


def test_a_missing_limit_file_is_an_error_naming_it(inventory: Inventory, tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=f"limit file {tmp_path}/nope does not exist or is not a file"):
        select_hosts(inventory, f"@{tmp_path}/nope")


def test_a_subscript_past_the_matched_hosts_is_an_error(inventory: Inventory) -> None:
    with pytest.raises(InventoryError, match="no hosts matched the subscripted pattern 'db\\[5\\]'"):
        select_hosts(inventory, "db[5]")


def test_an_invalid_regex_is_an_error_naming_the_pattern(inventory: Inventory) -> None:
    with pytest.raises(InventoryError, match="invalid host pattern '~\\(fe'"):
        select_hosts(inventory, "~(fe")


@pytest.mark.parametrize(
    ("pattern", "parts"),
    [
        ("web:db", ["web", "db"]),
        ("web, db ,", ["web", "db"]),
        ("web[1:3]:!db", ["web[1:3]", "!db"]),
        ("host:2222", ["host:2222"]),
        ("web:&prod:!web3", ["web", "&prod", "!web3"]),
        ("", []),
    ],
)
def test_a_pattern_splits_on_commas_else_on_colons_outside_brackets(pattern: str, parts: list[str]) -> None:
    assert split_pattern(pattern) == parts


def test_localhost_is_implicit_only_when_nothing_else_matches(inventory: Inventory) -> None:
    assert select_hosts(inventory, "127.0.0.1") == ["127.0.0.1"]
    assert select_hosts(inventory, "localhost:solo") == ["localhost", "solo"]
