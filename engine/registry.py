"""Check and action types, looked up by the module key a playbook uses (``http:``, ``command:``).

A type registers itself with `@check_type("key")` or `@action_type("key")` on its
pydantic model. Importing `checks` and `remediations` registers the built-in types;
their modules import client libraries lazily, so registering them is cheap.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from checks.base import Check
    from remediations.base import Action

T = TypeVar("T", bound=type)

CHECK_TYPES: dict[str, type[Check]] = {}
ACTION_TYPES: dict[str, type[Action]] = {}


def _registrar(registry: dict[str, Any], kind: str) -> Callable[[str], Callable[[T], T]]:
    def register(key: str) -> Callable[[T], T]:
        def decorate(cls: T) -> T:
            if key in registry:
                raise ValueError(f"{kind} type {key!r} is registered twice")
            cls.type_key = key  # type: ignore[attr-defined]
            registry[key] = cls
            return cls

        return decorate

    return register


check_type = _registrar(CHECK_TYPES, "check")
"""Register a check model under its playbook key: ``@check_type("http")``."""

action_type = _registrar(ACTION_TYPES, "action")
"""Register an action model under its playbook key: ``@action_type("command")``."""


def load_builtin_types() -> None:
    """Register every built-in check and action type."""
    import checks  # noqa: F401
    import remediations  # noqa: F401


def nearest(key: str, known: list[str]) -> str | None:
    """The known key a misspelt one most likely meant."""
    matches = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return matches[0] if matches else None
