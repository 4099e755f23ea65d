"""`-e/--extra-vars` as Ansible takes them: ``k=v k2=v2``, ``@vars.yml``, or a JSON/YAML mapping."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from engine.errors import ExtraVarsError


def parse_extra_vars(values: list[str]) -> dict[str, Any]:
    """Merge every -e value, later ones winning."""
    merged: dict[str, Any] = {}
    for value in values:
        merged.update(_one(value.strip()))
    return merged


def _one(value: str) -> dict[str, Any]:
    if value.startswith("@"):
        from engine.errors import InputLimitError
        from engine.input_limits import read_text

        path = Path(value[1:])
        try:
            text = read_text(path)
        except InputLimitError as exc:
            raise ExtraVarsError(f"-e {value}: {exc}") from None
        return _mapping(text, str(path))
    if value.startswith("{"):
        return _mapping(value, "-e")
    result: dict[str, Any] = {}
    try:
        pairs = shlex.split(value)
    except ValueError as exc:  # an unclosed quote; the value is not echoed: it may be a secret
        raise ExtraVarsError(
            f"-e: {str(exc).lower()}: expected key=value, @file.yml or a JSON mapping"
        ) from None
    for pair in pairs:
        key, sep, val = pair.partition("=")
        if not sep or not key.isidentifier():
            # Only the part before `=`: what follows may be a secret.
            raise ExtraVarsError(f"-e {key!r}: expected key=value, @file.yml or a JSON mapping")
        result[key] = val
    return result


def _mapping(text: str, origin: str) -> dict[str, Any]:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from engine.errors import InputLimitError
    from engine.input_limits import load_yaml

    try:
        data = load_yaml(text, origin, typ="safe")
    except InputLimitError as exc:
        raise ExtraVarsError(str(exc)) from None
    except MarkedYAMLError as exc:
        # The position and the problem, not ruamel's excerpt of the text: it may hold a secret.
        mark = exc.problem_mark or exc.context_mark
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        raise ExtraVarsError(f"{where}: invalid YAML/JSON: {exc.problem or exc.context}") from None
    except YAMLError:
        raise ExtraVarsError(f"{origin}: invalid YAML/JSON") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ExtraVarsError(f"{origin}: expected a mapping of variables")
    return data
