"""Reading ``-i`` sources into one inventory: files, directories, host lists."""

from __future__ import annotations

import re
from pathlib import Path

from engine.errors import InventoryError
from inventory.hostpatterns import parse_address
from inventory.ini import parse_ini_inventory
from inventory.model import Inventory
from inventory.vars_dirs import VarsDir
from inventory.yaml_source import parse_yaml_inventory

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
# What Ansible skips in an inventory directory: hidden files, the variable directories,
# and files that are clearly not inventories.
_IGNORED = re.compile(
    r"^\.|^host_vars$|^group_vars$|^vars_plugins$"
    r"|(\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.cfg|\.retry|\.ini\.example)$"
)


def load_inventory(sources: list[str]) -> Inventory:
    """Read ``-i`` sources, merged in order: INI or YAML inventory files, directories of
    them, and comma-separated host lists (``web1,web2,``). With no sources, the local host.
    ``group_vars/`` and ``host_vars/`` beside each file (or inside each directory) apply."""
    if not sources:
        return Inventory.localhost()
    return load_sources(sources)


def as_path(source: str) -> Path:
    """An ``-i`` source as a path (``~`` expanded)."""
    return Path(source).expanduser()


def load_sources(sources: list[str]) -> Inventory:
    """Merge the sources in order; a later source adds to and overrides earlier ones."""
    inventory = Inventory()
    for source in sources:
        path = as_path(source)
        if path.exists():
            if path.is_dir():
                _load_dir(inventory, path)
                basedir = path
            else:
                _load_file(inventory, path)
                basedir = path.parent
            inventory.vars_dirs.append(VarsDir(basedir.resolve()))
        elif "," in source:
            _load_host_list(inventory, source)
        else:
            raise InventoryError(
                f"{source}: no such inventory file or directory (a host list needs a comma: '{source},')"
            )
        inventory.reconcile()
    # Read every variables file that applies now: a broken one fails here, with its line.
    for vars_dir in inventory.vars_dirs:
        for group in inventory.groups:
            vars_dir.group_vars(group)
        for host in inventory.hosts:
            vars_dir.host_vars(host)
    return inventory


def _load_file(inventory: Inventory, path: Path) -> None:
    if path.suffix in YAML_EXTENSIONS:
        parse_yaml_inventory(inventory, path)
    else:
        parse_ini_inventory(inventory, path)


def _load_dir(inventory: Inventory, path: Path) -> None:
    for entry in sorted(path.iterdir(), key=lambda p: p.name):
        if _IGNORED.search(entry.name):
            continue
        if entry.is_dir():
            _load_dir(inventory, entry)
        else:
            _load_file(inventory, entry)


def _load_host_list(inventory: Inventory, source: str) -> None:
    for entry in (e.strip() for e in source.split(",")):
        if not entry:
            continue
        try:
            host, port = parse_address(entry)
        except ValueError:
            host, port = entry, None
        inventory.add_host(host, "ungrouped", port=port)
