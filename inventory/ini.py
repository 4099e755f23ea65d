"""INI inventories, read as Ansible reads them.

* ``[group]`` lists hosts, ``[group:vars]`` sets group variables, ``[group:children]``
  lists child groups; host lines before any section are ``ungrouped``.
* A host line is ``entry key=value ...``, split like a shell line (quotes group words, ``#``
  starts a comment); the entry may hold ranges and a ``:port``.
* Every value, in host lines and in ``:vars`` sections, is read as a Python literal when it
  is one (``1`` is an int, ``True`` a bool, ``[1, 2]`` a list) and kept as a string
  otherwise (``FALSE``, ``yes``, ``hello world``). In host lines the shell-style split has
  already removed the quotes, so ``port="22"`` is the int 22.
* A ``:vars`` section for a group that no section declares, or a ``:children`` entry that
  no section declares, is an error.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import HostPatternError, InventoryError
from inventory.hostpatterns import expand_entry
from inventory.model import Inventory
from inventory.yaml_source import read_text

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_STATES = ("hosts", "vars", "children")


@dataclass
class _Pending:
    """A group named before any section declares it."""

    line: int
    state: str
    parents: list[str] = field(default_factory=list)


def parse_value(text: str) -> Any:
    """An INI value: a Python literal when it is one, else the text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return value


def parse_ini_inventory(inventory: Inventory, path: Path) -> None:
    """Add an INI inventory file's groups, hosts and variables to the inventory."""
    lines = read_text(path).splitlines()
    pending: dict[str, _Pending] = {}
    group, state = "ungrouped", "hosts"
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        here = f"{path}:{number}"
        section = _SECTION.match(line)
        if section:
            group, state = section.group(1), section.group(2) or "hosts"
            if state not in _STATES:
                raise InventoryError(
                    f"{here}: section [{group}:{state}] has unknown type {state!r} "
                    "(expected [group], [group:vars] or [group:children])"
                )
            if group not in inventory.groups:
                if state == "vars" and group not in pending:
                    pending[group] = _Pending(number, "vars")
                inventory.add_group(group)
            if group in pending and state != "vars":
                declared = pending.pop(group)
                for parent in declared.parents:
                    _add_child(inventory, here, parent, group)
            continue
        if line.startswith("[") and line.endswith("]"):
            raise InventoryError(
                f"{here}: invalid section {line!r}: a section is [group], [group:vars] or "
                "[group:children], without spaces"
            )
        if state == "hosts":
            _host_line(inventory, here, group, line)
        elif state == "vars":
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise InventoryError(f"{here}: expected key=value in [{group}:vars], got {line!r}")
            try:
                inventory.set_group_var(group, key.strip(), parse_value(value.strip()))
            except InventoryError as exc:
                raise InventoryError(f"{here}: {exc}") from None
        else:
            match = _GROUP_NAME.match(line)
            if not match:
                raise InventoryError(f"{here}: expected a group name in [{group}:children], got {line!r}")
            child = match.group(1)
            if child in inventory.groups:
                _add_child(inventory, here, group, child)
            elif child in pending:
                pending[child].parents.append(group)
            else:
                pending[child] = _Pending(number, "children", [group])
    for name, declared in pending.items():
        if declared.state == "vars":
            raise InventoryError(
                f"{path}:{declared.line}: section [{name}:vars] is for group {name!r}, "
                "which no section of this file declares"
            )
        raise InventoryError(
            f"{path}:{declared.line}: section [{declared.parents[-1]}:children] names group "
            f"{name!r}, which no section of this file declares (add a [{name}] section)"
        )


def _add_child(inventory: Inventory, here: str, parent: str, child: str) -> None:
    try:
        inventory.add_child(parent, child)
    except InventoryError as exc:
        raise InventoryError(f"{here}: {exc}") from None


def _host_line(inventory: Inventory, here: str, group: str, line: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InventoryError(f"{here}: cannot split host line {line!r}: {exc}") from None
    if not tokens:
        return
    try:
        hosts, port = expand_entry(tokens[0])
    except (HostPatternError, ValueError) as exc:
        raise InventoryError(f"{here}: {exc}") from None
    variables: dict[str, Any] = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep:
            raise InventoryError(
                f"{here}: expected key=value host variable after {tokens[0]!r}, got {token!r}"
            )
        variables[key] = parse_value(value)
    try:
        for host in hosts:
            inventory.add_host(host, group, variables, port)
    except InventoryError as exc:
        raise InventoryError(f"{here}: {exc}") from None
