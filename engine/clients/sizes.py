"""Byte sizes as Docker and compose files write them: ``512m``, ``1g``, ``1G``, ``256MiB``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?", re.IGNORECASE)


def parse_size(value: Any) -> int:
    """Bytes for ``1g`` / ``512M`` / ``256MiB`` / ``1048576`` (units are binary, as in Docker)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 512m or 1g, got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"a size must be positive, got {value}")
        return value
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if match:
            size = int(float(match[1]) * _UNITS[match[2].lower()])
            if size > 0:
                return size
    raise ValueError(f"expected a size such as 512m, 1g or a number of bytes, got {value!r}")


def format_size(size: int) -> str:
    """The shortest Docker spelling of a size: ``1g``, ``512m``, ``300k`` or bytes."""
    for unit in ("t", "g", "m", "k"):
        if size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)


ByteSize = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([kmgtKMGT]?)([iI]?[bB])?\s*$"},
                {"type": "integer", "minimum": 1},
            ],
            "description": "a size: 512m, 1g, 256MiB or a number of bytes (binary units)",
        }
    ),
]
"""A size in bytes, accepted as ``512m``, ``1g`` or a number."""
