"""``remediate inventory``: show the inventory as the engine reads it."""

from __future__ import annotations

import json
from typing import Any

import click

from engine.errors import InventoryError
from inventory.model import MAGIC_VARIABLES, Inventory
from inventory.patterns import select_hosts
from inventory.sources import load_inventory


def list_inventory(inventory: Inventory, limit: str | None = None) -> dict[str, Any]:
    """The inventory shaped like ``ansible-inventory --list``: one entry per non-empty group
    with its ``hosts`` and ``children``, and every host's merged variables under
    ``_meta.hostvars``."""
    available = set(select_hosts(inventory, limit or "all"))
    result: dict[str, Any] = {}
    seen: set[str] = set()

    def add(name: str) -> None:
        group = inventory.groups[name]
        entry: dict[str, Any] = {}
        if name != "all":
            hosts = [h for h in group.hosts if h in available]
            if hosts:
                entry["hosts"] = hosts
        if group.children:
            entry["children"] = list(group.children)
        for child in group.children:
            if child not in seen:
                seen.add(child)
                add(child)
        if entry:
            result[name] = entry

    add("all")
    hostvars: dict[str, Any] = {}
    for host in select_hosts(inventory, limit or "all"):
        variables = {k: v for k, v in inventory.hostvars(host).items() if k not in MAGIC_VARIABLES}
        if variables:
            hostvars[host] = variables
    result["_meta"] = {"hostvars": hostvars}
    return result


def graph_inventory(inventory: Inventory, group: str = "all") -> list[str]:
    """The group tree shaped like ``ansible-inventory --graph``."""
    if group not in inventory.groups:
        raise InventoryError(f"no group {group!r} in the inventory")

    def name(text: str, depth: int) -> str:
        return "  |" * depth + "--" + text if depth else text

    def walk(current: str, depth: int) -> list[str]:
        lines = [name(f"@{current}:", depth)]
        for child in inventory.groups[current].children:
            lines.extend(walk(child, depth + 1))
        if current != "all":
            lines.extend(name(h, depth + 1) for h in inventory.groups[current].hosts)
        return lines

    return walk(group, 0)


@click.command(
    "inventory",
    epilog="""\b
Examples:
  remediate inventory -i hosts.ini --list
  remediate inventory -i hosts.yml -i extra/ --graph
  remediate inventory -i hosts.ini --graph webservers
  remediate inventory -i hosts.ini --host web01.example.com
  remediate inventory -i hosts.ini --list --limit 'web:&prod:!web03*'
""",
)
@click.option(
    "-i",
    "--inventory",
    "sources",
    multiple=True,
    metavar="INV",
    help="Inventory file (INI or YAML), directory, or comma-separated host list; repeatable.",
)
@click.option("--list", "as_list", is_flag=True, help="Print groups and host variables as JSON.")
@click.option("--graph", "as_graph", is_flag=True, help="Print the group tree.")
@click.option("--host", "host", metavar="HOST", help="Print one host's variables as JSON.")
@click.option("-l", "--limit", metavar="PATTERN", help="Only hosts matching this pattern.")
@click.argument("group", required=False)
def inventory_command(
    sources: tuple[str, ...],
    as_list: bool,
    as_graph: bool,
    host: str | None,
    limit: str | None,
    group: str | None,
) -> None:
    """Show the inventory as the engine reads it: Ansible INI/YAML files, group_vars/ and
    host_vars/, variables merged in Ansible's precedence. Output matches ansible-inventory.

    GROUP is the group to start --graph at (default: all).
    """
    if sum((as_list, as_graph, host is not None)) != 1:
        raise click.UsageError("give exactly one of --list, --graph or --host")
    inventory = load_inventory(list(sources))
    if as_list:
        output = json.dumps(list_inventory(inventory, limit), indent=4, sort_keys=True, default=str)
    elif as_graph:
        output = "\n".join(graph_inventory(inventory, group or "all"))
    else:
        assert host is not None
        variables = {k: v for k, v in inventory.hostvars(host).items() if k not in MAGIC_VARIABLES}
        output = json.dumps(variables, indent=4, sort_keys=True, default=str)
    click.echo(output)
