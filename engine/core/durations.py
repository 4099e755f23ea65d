"""Durations as users write them: ``500ms``, ``5s``, ``2m``, ``1h``, ``1d``, or plain seconds."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h|d)\s*)+$"
MAX_DURATION = 10 * 365 * 86400.0
"""The longest duration accepted (ten years): longer ones overflow timers and date arithmetic
at run time, and are typos."""


def parse_duration(value: Any) -> float:
    """Return seconds for a duration such as ``"1m30s"``, ``"500ms"`` or ``5``.

    Raises ValueError with a message a user can act on, for anything that is not a finite
    duration from 0 to MAX_DURATION (``.inf``, ``.nan``, ``1e309`` included).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 500ms, 5s, 2m or 1h, got {value!r}")
    if isinstance(value, int | float):
        return _bounded(float(value) if _fits_float(value) else math.inf, value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return _bounded(float(text), value)
        if text and re.fullmatch(r"(\d+(\.\d+)?(ms|s|m|h|d))+", text):
            return _bounded(sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text)), value)
    raise ValueError(f"expected a duration such as 500ms, 5s, 2m or 1h, got {value!r}")


def _fits_float(value: int | float) -> bool:
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _bounded(seconds: float, value: Any) -> float:
    if math.isnan(seconds):
        raise ValueError(f"expected a duration such as 500ms, 5s, 2m or 1h, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    if seconds > MAX_DURATION:
        raise ValueError(f"a duration can be at most 3650d (ten years), got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest readable form of a duration: ``1.5s``, ``250ms``, ``2m``, ``1h30m``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    parts = []
    remaining = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "number", "minimum": 0},
            ],
            "description": "a duration: 500ms, 5s, 2m, 1h, 1d, combinations like 1m30s, "
            "or a number of seconds",
        }
    ),
]
"""A duration in seconds, accepted from YAML as ``500ms``, ``5s``, ``2m``, ``1h`` or a number."""
