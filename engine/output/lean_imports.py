"""Importing libraries without the optional extras they load eagerly.

paramiko imports invoke (a third of paramiko's import time, and 8 MB) only to run the
``Match exec`` lines of ssh configs; structlog imports rich, attrs and pygments (about
50 ms) only to draw exceptions in its console renderer. Every ``remediate run`` would pay
for both, so those libraries are imported with the extra made unimportable, and take the
path they already have for the extra not being installed.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def import_without(module: str, *extras: str) -> ModuleType:
    """Import ``module`` as if ``extras`` were not installed, and return it. Only the first
    import decides: a module already imported is returned as it is, and an extra already
    loaded by someone else stays visible."""
    if module in sys.modules:
        return sys.modules[module]
    hidden = [extra for extra in extras if extra not in sys.modules]
    for extra in hidden:
        sys.modules[extra] = None  # type: ignore[assignment]  # `import extra` now fails
    try:
        return importlib.import_module(module)
    finally:
        for extra in hidden:
            del sys.modules[extra]


def pydantic_without_plugins() -> None:
    """Tell pydantic that no plugins are installed, before it builds its first model.

    On its first model pydantic looks for plugins in the entry points of every installed
    distribution (importlib.metadata reads each one's metadata): about a quarter of
    `remediate validate` in a virtualenv with the test extras. remediate's models are its
    own and no plugin has anything to do with them. (``PYDANTIC_DISABLE_PLUGINS`` does the
    same, but an environment variable would reach every command remediate runs.) When
    pydantic has looked already, or keeps its cache elsewhere, this changes nothing.
    """
    from pydantic.plugin import _loader

    if getattr(_loader, "_plugins", {}) is None:
        _loader._plugins = {}
