"""YAML inventories (``all:``, ``hosts:``, ``children:``, ``vars:``), read as Ansible reads
them, with the line of every mistake.

YAML is read as YAML 1.1, as Ansible's parser does, so ``yes``/``no``/``on``/``off`` are
booleans and ``010`` is octal. Ruamel's round-trip loader keeps the line of every key;
values are turned into plain Python types before they reach the inventory.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import HostPatternError, InventoryError
from inventory.hostpatterns import expand_entry
from inventory.model import Inventory

_SECTIONS = ("vars", "children", "hosts")


def load_yaml(path: Path) -> Any:
    """A YAML file as ruamel's round-trip data (maps that know their lines)."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from engine.errors import InputLimitError
    from engine.input_limits import load_yaml as load_bounded

    try:
        return load_bounded(read_text(path), str(path), version=(1, 1))
    except InputLimitError as exc:
        raise InventoryError(str(exc)) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise InventoryError(f"{path}{line}: invalid YAML: {exc.problem or exc}") from exc
    except YAMLError as exc:
        raise InventoryError(f"{path}: invalid YAML: {exc}") from exc


def read_text(path: Path) -> str:
    """An inventory or variables file's text, within the input limits (engine.input_limits)."""
    from engine.errors import InputLimitError
    from engine.input_limits import read_text as read_bounded

    try:
        return read_bounded(path)
    except InputLimitError as exc:
        raise InventoryError(str(exc)) from None


def line_of(data: Any, key: Any = None) -> int | None:
    """The 1-based line of a mapping key (or of the node itself), when ruamel knows it."""
    lc = getattr(data, "lc", None)
    if lc is None:
        return None
    try:
        if key is not None:
            return int(lc.key(key)[0]) + 1
        return int(lc.line) + 1
    except (KeyError, TypeError, AttributeError):
        return None


def where(path: Path, data: Any, key: Any = None) -> str:
    """``file:line`` for an error message."""
    line = line_of(data, key)
    return f"{path}:{line}" if line else str(path)


def plain(value: Any, path: Path, parent: Any = None, key: Any = None) -> Any:
    """Ruamel's node types as plain Python values (int, float, str, list, dict)."""
    from ruamel.yaml.comments import TaggedScalar

    if isinstance(value, TaggedScalar):
        tag = str(value.tag.value if hasattr(value.tag, "value") else value.tag)
        if tag == "!unsafe":
            return str(value.value)
        raise InventoryError(
            f"{where(path, parent, key)}: values tagged {tag} are not supported"
            + (" (vault-encrypted values cannot be decrypted here)" if tag == "!vault" else "")
        )
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v, path, value, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, path, value) for v in value]
    return value


def parse_yaml_inventory(inventory: Inventory, path: Path) -> None:
    """Add a YAML inventory file's groups, hosts and variables to the inventory."""
    data = load_yaml(path)
    if data is None:
        return  # only comments, or nothing: an empty inventory, as in Ansible
    if not data:
        raise InventoryError(f"{path}: the YAML inventory is empty")
    if not isinstance(data, Mapping):
        raise InventoryError(
            f"{where(path, data)}: a YAML inventory is a mapping of groups (all: ...), "
            f"not a {type(data).__name__}"
        )
    if data.get("plugin"):
        raise InventoryError(
            f"{where(path, data, 'plugin')}: inventory plugin configurations are not supported, "
            "only static inventories"
        )
    for name, body in data.items():
        _parse_group(inventory, path, data, name, body)


def _parse_group(inventory: Inventory, path: Path, parent: Any, name: Any, body: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InventoryError(f"{where(path, parent, name)}: a group name must be a string")
    if body is not None and not isinstance(body, Mapping):
        raise InventoryError(
            f"{where(path, parent, name)}: group {name!r} must be a mapping with hosts, "
            f"children and vars, not a {type(body).__name__}"
        )
    inventory.add_group(name)
    for key, section in (body or {}).items():
        if key not in _SECTIONS:
            raise InventoryError(
                f"{where(path, body, key)}: unexpected key {key!r} in group {name!r}; "
                "a group has only hosts, children and vars"
            )
        if isinstance(section, str):
            # Ansible accepts a single name in place of a mapping: `hosts: web1`.
            section = {section: None}
        if section is None:
            continue
        if not isinstance(section, Mapping):
            raise InventoryError(
                f"{where(path, body, key)}: {key!r} of group {name!r} must be a mapping, "
                f"not a {type(section).__name__}"
            )
        if key == "vars":
            for var, value in section.items():
                try:
                    inventory.set_group_var(name, str(var), plain(value, path, section, var))
                except InventoryError as exc:
                    raise InventoryError(f"{where(path, section, var)}: {exc}") from None
        elif key == "children":
            for child, child_body in section.items():
                child_name = _parse_group(inventory, path, section, child, child_body)
                try:
                    inventory.add_child(name, child_name)
                except InventoryError as exc:
                    raise InventoryError(f"{where(path, section, child)}: {exc}") from None
        else:
            for entry, variables in section.items():
                _parse_host(inventory, path, section, name, entry, variables)
    return name


def _parse_host(
    inventory: Inventory, path: Path, section: Any, group: str, entry: Any, variables: Any
) -> None:
    if not isinstance(entry, str):
        # Ansible's own words: `1234:` is read as an integer, not a host name.
        raise InventoryError(f"{where(path, section, entry)}: Host pattern {entry!r} must be a string")
    text = entry
    if text.strip().endswith(":"):
        raise InventoryError(
            f"{where(path, section, entry)}: host {text!r} ends in ':', which is reserved for a port"
        )
    if variables is not None and not isinstance(variables, Mapping):
        raise InventoryError(
            f"{where(path, section, entry)}: the variables of host {text!r} must be a "
            f"mapping, not a {type(variables).__name__}"
        )
    try:
        hosts, port = expand_entry(text)
    except (HostPatternError, ValueError) as exc:
        raise InventoryError(f"{where(path, section, entry)}: {exc}") from None
    values = plain(variables or {}, path, section, entry)
    try:
        for host in hosts:
            inventory.add_host(host, group, values, port)
    except InventoryError as exc:
        raise InventoryError(f"{where(path, section, entry)}: {exc}") from None
