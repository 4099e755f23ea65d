"""The inventory the engine runs against."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class InventoryError(ValueError):
    """An inventory that cannot be read; the message names the file and line."""


@dataclass
class Group:
    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class Inventory:
    """Hosts in groups, with variables. `all` holds every host."""

    groups: dict[str, Group] = field(default_factory=dict)
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def localhost(cls) -> Inventory:
        """The controller alone, reached without SSH (the default when no `-i` is given)."""
        inventory = cls()
        inventory.add_host("localhost", "ungrouped", {"ansible_connection": "local"})
        return inventory

    @property
    def hosts(self) -> list[str]:
        """Every host, in the order first seen."""
        return list(self.host_vars)

    def add_host(
        self, host: str, group: str = "ungrouped", variables: Mapping[str, Any] | None = None
    ) -> None:
        self.host_vars.setdefault(host, {}).update(variables or {})
        for name in ("all", group):
            members = self.groups.setdefault(name, Group(name)).hosts
            if host not in members:
                members.append(host)

    def hostvars(self, host: str) -> dict[str, Any]:
        """The host's variables: group vars (all first), then its own, plus
        ``inventory_hostname`` and ``group_names``."""
        merged: dict[str, Any] = {}
        member_of = [g for g in self.groups.values() if host in g.hosts]
        for group in sorted(member_of, key=lambda g: (g.name != "all", g.name)):
            merged.update(group.vars)
        merged.update(self.host_vars.get(host, {}))
        merged["inventory_hostname"] = host
        merged["group_names"] = sorted(g.name for g in member_of if g.name not in ("all", "ungrouped"))
        return merged

    def select(self, pattern: str) -> list[str]:
        """Hosts matching an Ansible-style pattern: ``all``, a group, a host, a glob, and
        ``a:b`` unions."""
        chosen: list[str] = []
        for part in pattern.replace(",", ":").split(":"):
            part = part.strip()
            if not part:
                continue
            if part in self.groups:
                matches: Iterable[str] = self.groups[part].hosts
            else:
                matches = [h for h in self.hosts if fnmatch.fnmatchcase(h, part)]
            chosen.extend(h for h in matches if h not in chosen)
        return chosen


def load_inventory(sources: list[str]) -> Inventory:
    """Read `-i` sources: a comma-separated host list (``web1,web2,``) or a YAML inventory
    file. With no sources, the local host."""
    if not sources:
        return Inventory.localhost()
    inventory = Inventory()
    for source in sources:
        path = Path(source)
        if path.exists():
            _load_yaml(inventory, path)
        elif "," in source:
            for host in filter(None, (h.strip() for h in source.split(","))):
                inventory.add_host(host, "ungrouped", _local_if_controller(host))
        else:
            raise InventoryError(f"{source}: no such inventory file (a host list needs a comma: '{source},')")
    return inventory


def _local_if_controller(host: str) -> dict[str, Any]:
    return {"ansible_connection": "local"} if host in ("localhost", "127.0.0.1") else {}


def _load_yaml(inventory: Inventory, path: Path) -> None:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text())
    except YAMLError as exc:
        raise InventoryError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: expected a mapping of groups (all: ...)")
    for name, body in data.items():
        _load_group(inventory, path, str(name), body or {}, parent=None)


def _load_group(inventory: Inventory, path: Path, name: str, body: Any, parent: str | None) -> None:
    if not isinstance(body, dict):
        raise InventoryError(f"{path}: group {name!r} must be a mapping with hosts/children/vars")
    group = inventory.groups.setdefault(name, Group(name))
    if parent and name not in inventory.groups[parent].children:
        inventory.groups[parent].children.append(name)
    group.vars.update(body.get("vars") or {})
    for host, variables in (body.get("hosts") or {}).items():
        inventory.add_host(str(host), name, {**_local_if_controller(str(host)), **(variables or {})})
    for child, child_body in (body.get("children") or {}).items():
        _load_group(inventory, path, str(child), child_body or {}, parent=name)
