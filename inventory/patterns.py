"""Host patterns as Ansible evaluates them (``hosts:`` and ``--limit``).

A pattern is a list of parts separated by ``,`` (or by ``:`` when the pattern has no comma
and is not itself an address such as ``host:22`` or ``web[1:3]``). Parts are applied in
this order, whatever their order in the pattern: plain parts (union), then ``&part``
(intersection), then ``!part`` (exclusion); with no plain part, ``all`` is implied.

A part names a host, or a group (its hosts and its descendants' hosts), or is a
shell-style glob (``web*``, ``db?.example.com``) or ``~regex`` (matched from the start)
over group names and host names, optionally followed by a subscript (``web[0]``,
``web[-1]``, ``web[1:3]``, ``web[2:]``). ``@file`` reads parts from a file, one per line.
A part that names no host or group matches nothing.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from engine.errors import InventoryError
from inventory.hostpatterns import parse_address
from inventory.model import LOCALHOST_NAMES, Inventory
from inventory.yaml_source import read_text

_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
_PART = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")


def split_pattern(pattern: str) -> list[str]:
    """The parts of a pattern: split on commas, else on colons outside ``[...]``."""
    if "," in pattern:
        parts = pattern.split(",")
    else:
        try:
            parse_address(pattern)
            parts = [pattern]
        except ValueError:
            parts = _PART.findall(pattern)
    return [p.strip() for p in parts if p.strip()]


def _expand_files(parts: list[str]) -> list[str]:
    expanded: list[str] = []
    for part in parts:
        if part.startswith("@"):
            path = Path(part[1:]).expanduser()
            if not path.is_file():
                raise InventoryError(f"limit file {part[1:]} does not exist or is not a file")
            expanded.extend(line.strip() for line in read_text(path).splitlines())
        else:
            expanded.append(part)
    return [p for p in expanded if p]


def select_hosts(inventory: Inventory, pattern: str) -> list[str]:
    """The hosts an Ansible host pattern names in an inventory, in order of evaluation,
    without duplicates: ``all``, a group, a host, globs, ``~regex``, ``a:b`` (union),
    ``a:&b`` (intersection), ``a:!b`` (exclusion), ``group[0]``/``group[1:3]`` subscripts,
    ``@file`` (one pattern per line)."""
    parts = _expand_files(split_pattern(pattern))
    regular = [p for p in parts if p[0] not in "!&"]
    ordered = (regular or ["all"]) + [p for p in parts if p[0] == "&"]
    ordered += [p for p in parts if p[0] == "!"]
    hosts: list[str] = []
    chosen: set[str] = set()
    for part in ordered:
        if part in inventory.host_vars:
            matched = [part]
        else:
            matched = _match_part(inventory, part.lstrip("&!") if part[0] in "&!" else part)
        if part[0] == "!":
            chosen -= set(matched)
            hosts = [h for h in hosts if h in chosen]
        elif part[0] == "&":
            chosen &= set(matched)
            hosts = [h for h in hosts if h in chosen]
        else:
            for host in matched:
                if host not in chosen:
                    chosen.add(host)
                    hosts.append(host)
    return hosts


def _match_part(inventory: Inventory, part: str) -> list[str]:
    expression, subscript = _split_subscript(part)
    matches = _enumerate(inventory, expression)
    if subscript is None:
        return matches
    start, end = subscript
    try:
        if end:
            return matches[start : (len(matches) - 1 if end == -1 else end) + 1]
        return [matches[start]]
    except IndexError:
        raise InventoryError(f"no hosts matched the subscripted pattern {part!r}") from None


def _split_subscript(part: str) -> tuple[str, tuple[int, int | None] | None]:
    if part.startswith("~"):
        return part, None
    match = _SUBSCRIPT.match(part)
    if not match:
        return part, None
    expression, index, start, _sep, end = match.groups()
    if index is not None:
        return expression, (int(index), None)
    return expression, (int(start), int(end) if end else -1)


def _compile(part: str) -> re.Pattern[str]:
    try:
        return re.compile(part[1:] if part.startswith("~") else fnmatch.translate(part))
    except re.error as exc:
        raise InventoryError(f"invalid host pattern {part!r}: {exc}") from None


def _enumerate(inventory: Inventory, part: str) -> list[str]:
    regex = _compile(part)
    results: list[str] = []
    seen: set[str] = set()

    def add(host: str) -> None:
        if host not in seen:
            seen.add(host)
            results.append(host)

    groups = [g for g in inventory.groups if regex.match(g)]
    for group in groups:
        for host in inventory.group_hosts(group):
            add(host)
    if not groups or part.startswith("~") or any(c in part for c in ".?*["):
        for host in inventory.host_vars:
            if regex.match(host):
                add(host)
    if not results and part in LOCALHOST_NAMES:
        results.append(part)
    return results
