"""Check and action types, looked up by the module key a playbook uses (``http:``, ``command:``).

A type registers itself with `@check_type("key")` or `@action_type("key")` on its
pydantic model. Importing `checks` and `remediations` registers the built-in types;
their modules import client libraries lazily, so registering them is cheap.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from checks.base import Check
    from remediations.base import Action

CheckT = TypeVar("CheckT", bound="type[Check]")
ActionT = TypeVar("ActionT", bound="type[Action]")

CHECK_TYPES: dict[str, type[Check]] = {}
ACTION_TYPES: dict[str, type[Action]] = {}


def check_type(key: str) -> Callable[[CheckT], CheckT]:
    """Register a check model under its playbook key."""

    def decorate(cls: CheckT) -> CheckT:
        if key in CHECK_TYPES:
            raise ValueError(f"check type {key!r} is registered twice")
        cls.type_key = key
        CHECK_TYPES[key] = cls
        return cls

    return decorate


def action_type(key: str) -> Callable[[ActionT], ActionT]:
    """Register an action model under its playbook key."""

    def decorate(cls: ActionT) -> ActionT:
        if key in ACTION_TYPES:
            raise ValueError(f"action type {key!r} is registered twice")
        cls.type_key = key
        ACTION_TYPES[key] = cls
        return cls

    return decorate


def load_builtin_types() -> None:
    """Register every built-in check and action type."""
    import checks  # noqa: F401
    import remediations  # noqa: F401


def nearest(key: str, known: list[str]) -> str | None:
    """The known key a misspelt one most likely meant."""
    matches = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return matches[0] if matches else None
