"""Playbook problems that name the file, line, column and field."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a playbook, where it is and what was expected."""

    file: str
    line: int
    column: int
    path: Path
    message: str

    def __str__(self) -> str:
        from engine.secrets.redact import REDACTOR

        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        field = dotted(self.path)
        # A validator's message may quote the value it rejects: mask it like any output.
        message = REDACTOR.text(self.message)
        return f"{where}: {field}: {message}" if field else f"{where}: {message}"


def dotted(path: Path) -> str:
    """``checks.api.remediate[0].command.cmd``"""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


MISSING = "required field is missing"


def describe_validation_error(
    error: ValidationError, data: Any, model: type[BaseModel] | None = None
) -> list[tuple[Path, str]]:
    """(path, message) pairs for a pydantic error, paths as they are in the user's data.

    Pydantic puts union members' tags (``int``, ``list[int]``) into error locations; they
    are dropped, and the errors of one value's members merge into one message
    (``expected an integer or a list, got "two"``). With the `model` that was validated, an
    unknown field is named with the fields of the model it was written in (the nearest one
    suggested).
    """
    merged: dict[Path, list[str]] = {}
    for item in error.errors():
        path = _data_path(item["loc"], data)
        known = _fields_at(model, item["loc"]) if model is not None else None
        if item["type"] == "extra_forbidden" and known is not None:
            message = unknown_message("field", str(item["loc"][-1]), known)
        else:
            message = describe_pydantic_error(item)
        if message not in merged.setdefault(path, []):
            merged[path].append(message)
    return [(path, _merge(messages)) for path, messages in merged.items()]


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str] | None:
    """The fields of the model that holds the last part of `loc` (`loc` inside `model`); None
    when that is not one model (a union of several)."""
    current = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # an item of a list: the list's model is the item's
        field = current.model_fields.get(part)
        models = _models_in(field.annotation) if field is not None else []
        if len(models) != 1:
            return None
        current = models[0]
    return sorted(current.model_fields)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation names, inside optionals, lists and unions."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in get_args(annotation) for model in _models_in(argument)]


def _data_path(loc: tuple[int | str, ...], data: Any) -> Path:
    path: list[str | int] = []
    current = data
    for part in loc:
        if _has_part(current, part):
            current = current[part]
            path.append(part)
        elif isinstance(current, list) or (
            isinstance(current, dict) and not (isinstance(part, str) and _is_member_tag(part))
        ):
            path.append(part)  # a missing or unknown key: keep it
        # else: a scalar has no parts, and a tag is not the user's: union members' tags
    return tuple(path)


def _has_part(container: Any, part: int | str) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and part < len(container)


def _is_member_tag(part: str) -> bool:
    return "[" in part or part in {"int", "str", "float", "bool", "list", "dict", "none"}


def _merge(messages: list[str]) -> str:
    if len(messages) == 1:
        return messages[0]
    expectations = [m for m in messages if m.startswith("expected ") and ", got " in m]
    if len(expectations) == len(messages):
        got = expectations[0].rsplit(", got ", 1)[1]
        wanted = " or ".join(m.removeprefix("expected ").rsplit(", got ", 1)[0] for m in expectations)
        return f"expected {wanted}, got {got}"
    return "; ".join(messages)


def describe_pydantic_error(error: Any) -> str:
    """A pydantic error in words a playbook author can act on."""
    kind = error["type"]
    got = _shown(error.get("input"), error.get("loc", ()))
    expected = {
        "int_parsing": "an integer",
        "int_type": "an integer",
        "int_from_float": "an integer",
        "float_parsing": "a number",
        "float_type": "a number",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "string_type": "a string",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "list_type": "a list",
    }.get(kind)
    if expected:
        return f"expected {expected}, got {got}"
    if kind == "missing":
        return MISSING
    if kind in ("value_error", "assertion_error"):
        return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "literal_error":
        return f"expected {error['ctx']['expected']}, got {got}"
    message = str(error["msg"])
    return f"{message[0].lower()}{message[1:]}" + (f", got {got}" if "input" in error else "")


def unknown_message(kind: str, key: str, known: list[str], extra: list[str] | None = None) -> str:
    """``unknown check type 'htp' (did you mean 'http'?); known: ...``"""
    from engine.core.registry import nearest

    suggestion = nearest(key, [*known, *(extra or [])])
    hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
    return f"unknown {kind} {key!r}{hint}; known: {', '.join(known)}"


def _shown(value: Any, loc: Sequence[int | str] = ()) -> str:
    """The rejected value as the message shows it: masked (a URL password, a registered
    secret, values under secret-named keys), and not at all under a secret-named field."""
    from engine.secrets.redact import MASK, REDACTOR, is_secret_key

    if any(isinstance(part, str) and is_secret_key(part) for part in loc):
        return MASK
    value = REDACTOR.data(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return REDACTOR.text(repr(value))
