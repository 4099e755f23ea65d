"""Check and action types, looked up by the module key a playbook uses (``http:``, ``command:``).

A type registers itself with `@check_type("key")` or `@action_type("key")` on its pydantic
model. The packages `checks` and `remediations` list which module defines each built-in key
(`MODULES`), and a module is imported only when a playbook names one of its keys: a pydantic
model costs milliseconds to define, and a playbook uses a handful of the types.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from checks.base import Check
    from remediations.base import Action

# Classes (check and action models) and functions (transport factories) alike.
T = TypeVar("T", bound=Callable[..., object])
Model = TypeVar("Model")


class TypeRegistry(Mapping[str, Model], Generic[Model]):
    """Types by key: the registered ones, and built-in ones imported on first lookup."""

    def __init__(self, kind: str, package: str) -> None:
        self.kind = kind
        self._package = package
        self._types: dict[str, Model] = {}

    def _index(self) -> dict[str, str]:
        modules: dict[str, str] = importlib.import_module(self._package).MODULES
        return modules

    def register(self, key: str, *aliases: str) -> Callable[[T], T]:
        """Decorator registering a model under `key` (and setting its `type_key`), and under
        any `aliases` (a transport factory serves ``ssh``, ``paramiko`` and ``smart``)."""

        def decorate(cls: T) -> T:
            for name in (key, *aliases):
                if name in self._types:
                    raise ValueError(f"{self.kind} type {name!r} is registered twice")
            cls.type_key = key  # type: ignore[attr-defined]
            for name in (key, *aliases):
                self._types[name] = cls  # type: ignore[assignment]
            return cls

        return decorate

    def unregister(self, key: str) -> None:
        """Forget a type registered at run time (tests, plugins)."""
        self._types.pop(key, None)

    def __getitem__(self, key: str) -> Model:
        if key not in self._types:
            module = self._index().get(key)
            if module is None:
                raise KeyError(key)
            importlib.import_module(f"{self._package}.{module}")
        return self._types[key]

    def __contains__(self, key: object) -> bool:
        return key in self._types or key in self._index()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._index(), *self._types}))

    def __len__(self) -> int:
        return len({*self._index(), *self._types})


CHECK_TYPES: TypeRegistry[type[Check]] = TypeRegistry("check", "checks")
ACTION_TYPES: TypeRegistry[type[Action]] = TypeRegistry("action", "remediations")

check_type = CHECK_TYPES.register
"""Register a check model under its playbook key: ``@check_type("http")``."""

action_type = ACTION_TYPES.register
"""Register an action model under its playbook key: ``@action_type("command")``."""


def load_builtin_types() -> None:
    """Import every built-in check and action type (for the schema and the docs)."""
    for registry in (CHECK_TYPES, ACTION_TYPES):
        for key in registry:
            registry[key]


def nearest(key: str, known: list[str]) -> str | None:
    """The known key a misspelt one most likely meant."""
    matches = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return matches[0] if matches else None


__all__ = ["ACTION_TYPES", "CHECK_TYPES", "action_type", "check_type", "load_builtin_types"]
