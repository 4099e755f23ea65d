"""Byte sizes as Docker and compose files write them: ``512m``, ``1g``, ``1G``, ``256MiB``; and
the documented bounds on how much of a command's output or an HTTP body the engine keeps."""

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


# -- bounds on what the engine keeps of a command's output or an HTTP body ----------------------
# Output is read in chunks as it comes; only a head and a tail of it stay in memory (the start
# says what a command was doing, the end how it failed), so a command printing gigabytes or
# `yes` until its timeout costs the engine no more than these few hundred KiB.

OUTPUT_HEAD = 64 * 1024
"""Bytes kept from the start of each of a command's streams (stdout, stderr)."""
OUTPUT_TAIL = 64 * 1024
"""Bytes kept from the end of each of a command's streams."""
BODY_HEAD = 1024 * 1024
"""Bytes kept from the start of an HTTP body: JSON fields, body_regex and metrics documents
are judged on the whole body only when it fits in BODY_HEAD + BODY_TAIL."""
BODY_TAIL = 64 * 1024
"""Bytes kept from the end of an HTTP body."""
DOCUMENT_MAX = 16 * 1024 * 1024
"""Bytes at most of a document read whole to be parsed (a metrics page, a Prometheus answer):
a larger one is an error, and reading stops there."""
READ_CHUNK = 64 * 1024
"""Bytes read at a time from a pipe, a channel or a socket."""


class HeadTail:
    """A byte sink that keeps the first `head` and the last `tail` bytes written to it and
    counts what it dropped between them, so memory stays flat however much is written."""

    def __init__(self, head: int = OUTPUT_HEAD, tail: int = OUTPUT_TAIL) -> None:
        self.head_limit, self.tail_limit = head, tail
        self._head = bytearray()
        self._tail = bytearray()
        self.dropped = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Keep what fits of `data`; forget the middle."""
        room = self.head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if not data:
            return
        if len(data) >= self.tail_limit:
            self.dropped += len(self._tail) + len(data) - self.tail_limit
            self._tail[:] = data[len(data) - self.tail_limit :]
            return
        self._tail += data
        excess = len(self._tail) - self.tail_limit
        if excess > 0:
            del self._tail[:excess]
            self.dropped += excess

    @property
    def total(self) -> int:
        """Bytes written so far, kept or not."""
        return len(self._head) + self.dropped + len(self._tail)

    @property
    def truncated(self) -> bool:
        """Whether bytes were dropped."""
        return self.dropped > 0

    def text(self) -> str:
        """What was kept, decoded (invalid UTF-8 replaced), with a line saying how many bytes
        were dropped where they were."""
        if not self.dropped:
            return (self._head + self._tail).decode(errors="replace")
        marker = f"\n[... {self.dropped} bytes dropped ...]\n"
        return self._head.decode(errors="replace") + marker + self._tail.decode(errors="replace")
