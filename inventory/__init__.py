"""Hosts, groups and their variables (Ansible-compatible), and how to reach each host.

The engine uses only this interface: `load_inventory(sources)` returns an `Inventory`,
`select_hosts(inventory, pattern)` names hosts, and `inventory.hostvars(host)` gives each
host's variables merged in Ansible's precedence.

Modules: `model` is the data model and imports no other inventory module; `sources` reads
`-i` sources (through `ini`, `yaml_source`, `vars_dirs`, `hostpatterns`); `patterns`
resolves host patterns.
"""

from engine.errors import InventoryError
from inventory.model import Inventory
from inventory.patterns import select_hosts
from inventory.sources import load_inventory

__all__ = ["Inventory", "InventoryError", "load_inventory", "select_hosts"]
