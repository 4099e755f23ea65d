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
