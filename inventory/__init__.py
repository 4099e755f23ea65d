"""Hosts, groups and their variables (Ansible-compatible), and how to reach each host.

The engine uses only this interface: `load_inventory(sources)` returns an `Inventory`,
whose `select(pattern)` names hosts and `hostvars(host)` gives each host's variables
merged in Ansible's precedence.
"""

from engine.errors import InventoryError
from inventory.model import Inventory, load_inventory

__all__ = ["Inventory", "InventoryError", "load_inventory"]
