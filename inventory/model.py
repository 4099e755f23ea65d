"""The inventory the engine runs against: hosts in groups, with variables, merged the way
Ansible merges them.

Group structure follows Ansible's rules: every group descends from ``all``; a host that
belongs to no group but ``all`` is in ``ungrouped``; a group's depth is its longest distance
from ``all``. Variable precedence, lowest first:

1. ``all`` group vars from the inventory sources;
2. other group vars from the inventory sources, ordered by (depth, ``ansible_group_priority``,
   name), so a child group beats its parent and same-depth groups are decided by priority,
   then by name;
3. ``group_vars/all`` beside each source, then ``group_vars/<group>`` in the same order;
4. host vars from the inventory sources, then ``host_vars/<host>`` beside each source;
5. the magic variables ``inventory_hostname``, ``inventory_hostname_short``, ``group_names``.

This module is the data model only and imports no other inventory module: reading sources
lives in ``inventory.sources``, choosing hosts by pattern in ``inventory.patterns``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.errors import InventoryError

LOCALHOST_NAMES = ("localhost", "127.0.0.1", "::1")
"""Names that reach the controller: a pattern naming one matches it even when the inventory
does not list it (Ansible's implicit localhost)."""

MAX_HOSTS = 100_000
"""The most hosts an inventory may hold (and a range may expand to), so that a typo such as
``web[0:9999999999]`` is refused at once instead of exhausting memory."""

MAX_GROUP_DEPTH = 100
"""How deeply groups may nest (children of children...)."""

MAGIC_VARIABLES = ("inventory_hostname", "inventory_hostname_short", "group_names")


class VarsSource(Protocol):
    """Where ``group_vars/`` and ``host_vars/`` variables come from (``inventory.vars_dirs.
    VarsDir``); a protocol so that the model does not import the module that reads files."""

    def group_vars(self, group: str) -> dict[str, Any]:
        """Variables for a group."""
        ...

    def host_vars(self, host: str) -> dict[str, Any]:
        """Variables for a host."""
        ...


@dataclass
class Group:
    """A named set of hosts and child groups, with variables."""

    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    priority: int = 1
    """``ansible_group_priority``: decides between groups of the same depth (higher wins)."""
    members: set[str] = field(default_factory=set, repr=False, compare=False)
    """``hosts`` as a set: membership tests stay constant-time in groups of 100,000 hosts."""

    def add_member(self, host: str) -> None:
        """Add a host to the group once, keeping its order of first mention."""
        if host not in self.members:
            self.members.add(host)
            self.hosts.append(host)

    def set_hosts(self, hosts: list[str]) -> None:
        """Replace the group's direct hosts."""
        self.hosts, self.members = hosts, set(hosts)


@dataclass
class Inventory:
    """Hosts in groups, with variables. ``all`` holds every group; ``ungrouped`` holds the
    hosts that no other group holds."""

    groups: dict[str, Group] = field(default_factory=dict)
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Variables set on each host by the inventory sources (not ``host_vars/`` files)."""
    vars_dirs: list[VarsSource] = field(default_factory=list)
    """``group_vars/`` and ``host_vars/`` beside each source, in source order."""

    def __post_init__(self) -> None:
        self.add_group("all")
        self.add_child("all", self.add_group("ungrouped").name)

    @classmethod
    def localhost(cls) -> Inventory:
        """The controller alone, reached without SSH (the default when no `-i` is given)."""
        inventory = cls()
        inventory.add_host("localhost", "ungrouped", {"ansible_connection": "local"})
        return inventory

    # -- building -------------------------------------------------------------------------

    @property
    def hosts(self) -> list[str]:
        """Every host, in the order first seen."""
        return list(self.host_vars)

    def add_group(self, name: str) -> Group:
        """The group of that name, created when new."""
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = Group(name)
        return group

    def add_host(
        self,
        host: str,
        group: str | None = "ungrouped",
        variables: Mapping[str, Any] | None = None,
        port: int | None = None,
    ) -> None:
        """Add a host (again) to a group and set variables on it; ``port`` becomes
        ``ansible_port``."""
        own = self.host_vars.get(host)
        if own is None:
            if len(self.host_vars) >= MAX_HOSTS:
                raise InventoryError(f"more than {MAX_HOSTS:,} hosts in the inventory; not read further")
            own = self.host_vars[host] = {}
        if port is not None:
            own["ansible_port"] = port
        own.update(variables or {})
        if group is not None:
            self.add_group(group).add_member(host)

    def add_child(self, parent: str, child: str) -> None:
        """Make ``child`` a child group of ``parent``; a loop is an error."""
        if parent == child or parent in self._descendants(child):
            raise InventoryError(f"making group {child!r} a child of {parent!r} creates a loop of groups")
        if self._levels(parent, "parents") + self._levels(child, "children") >= MAX_GROUP_DEPTH:
            raise InventoryError(
                f"making group {child!r} a child of {parent!r} nests groups deeper than "
                f"{MAX_GROUP_DEPTH} levels"
            )
        parent_group, child_group = self.add_group(parent), self.add_group(child)
        if child not in parent_group.children:
            parent_group.children.append(child)
        if parent not in child_group.parents:
            child_group.parents.append(parent)

    def set_group_var(self, group: str, key: str, value: Any) -> None:
        """Set a group variable as an inventory source does: ``ansible_group_priority`` sets
        the group's priority instead of a variable."""
        target = self.add_group(group)
        if key == "ansible_group_priority":
            try:
                target.priority = int(value)
            except (TypeError, ValueError):
                raise InventoryError(
                    f"group {group!r}: ansible_group_priority must be an integer, got {value!r}"
                ) from None
        else:
            target.vars[key] = value

    def reconcile(self) -> None:
        """Enforce the implicit structure after a source is read: every top-level group
        under ``all``, hosts of no other group in ``ungrouped`` and nowhere else in it."""
        for group in list(self.groups.values()):
            if group.name != "all" and not group.parents:
                self.add_child("all", group.name)
        ungrouped = self.groups["ungrouped"]
        direct: dict[str, int] = {}
        for group in self.groups.values():
            if group.name not in ("all", "ungrouped"):
                for host in group.hosts:
                    direct[host] = direct.get(host, 0) + 1
        ungrouped.set_hosts([h for h in ungrouped.hosts if not direct.get(h)])
        for host in self.host_vars:
            if not direct.get(host):
                ungrouped.add_member(host)

    # -- reading --------------------------------------------------------------------------

    def _levels(self, name: str, direction: str) -> int:
        """How many levels of parents (or children) lie above (or below) a group, breadth
        first, so that no walk of the group tree recurses deeper than MAX_GROUP_DEPTH."""
        level, frontier, seen = 0, [name], {name}
        while True:
            following = []
            for current in frontier:
                group = self.groups.get(current)
                for other in getattr(group, direction) if group else ():
                    if other not in seen:
                        seen.add(other)
                        following.append(other)
            if not following:
                return level
            level, frontier = level + 1, following

    def _descendants(self, name: str) -> list[str]:
        """The group and its descendants, breadth first, in declaration order."""
        ordered, queue = [name], [name]
        while queue:
            group = self.groups.get(queue.pop(0))
            for child in group.children if group else ():
                if child not in ordered:
                    ordered.append(child)
                    queue.append(child)
        return ordered

    def group_hosts(self, name: str) -> list[str]:
        """The hosts of a group and of its descendants."""
        hosts: list[str] = []
        seen: set[str] = set()
        for group in self._descendants(name):
            for host in self.groups[group].hosts:
                if host not in seen:
                    seen.add(host)
                    hosts.append(host)
        return hosts

    def host_groups(self, host: str) -> list[str]:
        """Every group the host is in, directly or through a child group (``all`` included)."""
        found: list[str] = []
        queue = [g.name for g in self.groups.values() if host in g.members]
        while queue:
            name = queue.pop(0)
            if name not in found:
                found.append(name)
                queue.extend(self.groups[name].parents)
        if "all" not in found:
            found.append("all")
        return found

    def depth(self, name: str) -> int:
        """A group's longest distance from ``all``."""
        memo: dict[str, int] = {}

        def walk(group: str) -> int:
            if group not in memo:
                parents = self.groups[group].parents if group in self.groups else []
                memo[group] = max((walk(p) + 1 for p in parents), default=0)
            return memo[group]

        return walk(name)

    def sorted_groups(self, names: list[str]) -> list[str]:
        """Groups in the order their variables are applied (the last one wins)."""
        return sorted(names, key=lambda n: (self.depth(n), self.groups[n].priority, n))

    def hostvars(self, host: str) -> dict[str, Any]:
        """The host's variables merged in Ansible's precedence (see the module docstring),
        plus ``inventory_hostname``, ``inventory_hostname_short`` and ``group_names``."""
        if host not in self.host_vars and host not in LOCALHOST_NAMES:
            raise InventoryError(f"host {host!r} is not in the inventory")
        member_of = self.host_groups(host) if host in self.host_vars else ["all"]
        ordered = self.sorted_groups([g for g in member_of if g != "all"])
        merged: dict[str, Any] = {}
        if host not in self.host_vars:
            # The implicit localhost: reached without SSH, still gets the `all` variables.
            merged["ansible_connection"] = "local"
        merged.update(self.groups["all"].vars)
        for group in ordered:
            merged.update(self.groups[group].vars)
        for vars_dir in self.vars_dirs:
            merged.update(vars_dir.group_vars("all"))
        for vars_dir in self.vars_dirs:
            for group in ordered:
                merged.update(vars_dir.group_vars(group))
        merged.update(self.host_vars.get(host, {}))
        for vars_dir in self.vars_dirs:
            merged.update(vars_dir.host_vars(host))
        merged["inventory_hostname"] = host
        merged["inventory_hostname_short"] = _short_name(host)
        merged["group_names"] = sorted(g for g in member_of if g != "all")
        return merged


def _short_name(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host.split(".")[0]
    return host
