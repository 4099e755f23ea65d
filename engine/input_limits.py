"""Reading user files within documented bounds: playbooks, inventories, variables files, `-e @file`.

Every limit here is listed in the README (promises and limits); a file past one is refused
with its name and line before anything runs, never with a traceback or an exhausted machine.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from engine.errors import InputLimitError

MAX_FILE_BYTES = 10 * 1024 * 1024
"""The largest playbook, inventory or variables file read (10 MiB)."""
MAX_DEPTH = 100
"""How deeply mappings and lists may nest."""
MAX_VALUES = 1_000_000
"""How many values a document may hold once its YAML aliases are expanded."""
MAX_INT_DIGITS = 100
"""The longest integer written in a document, in digits."""

_INT_LIMIT = 10**MAX_INT_DIGITS
_LONG_DIGITS = re.compile(rf"[0-9_]{{{MAX_INT_DIGITS + 1},}}")


def read_text(path: str | Path, name: str | None = None) -> str:
    """A file's text as UTF-8, refusing files past MAX_FILE_BYTES without reading them whole
    (a link to /dev/zero is refused after MAX_FILE_BYTES bytes, not read forever)."""
    name = name or str(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputLimitError(name, 0, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputLimitError(name, 0, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; not read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputLimitError(
            name, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def load_yaml(text: str, name: str, typ: str = "rt", version: tuple[int, int] | None = None) -> Any:
    """Parse YAML text and check it against the limits. ruamel's own errors are left to the
    caller (they carry their marks); what ruamel raises without a position (a recursion
    overflow, an integer too long to convert, a forbidden character) becomes an
    InputLimitError with the line."""
    from ruamel.yaml import YAML
    from ruamel.yaml.composer import MaxDepthExceededError
    from ruamel.yaml.reader import ReaderError

    yaml = YAML(typ=typ, pure=True)
    # ruamel counts scalars as a level too: a value inside MAX_DEPTH collections is one deeper.
    yaml.max_depth = MAX_DEPTH + 1
    if version is not None:
        yaml.version = version
    _check_flow_depth(text, name)
    try:
        document = yaml.load(text)
    except MaxDepthExceededError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise InputLimitError(name, line, f"nested deeper than {MAX_DEPTH} levels") from None
    except ReaderError as exc:
        line = text[: max(exc.position, 0)].count("\n") + 1
        raise InputLimitError(
            name, line, f"character U+{exc.character:04X} is not allowed in YAML; write it escaped"
        ) from None
    except ValueError as exc:
        # Python refuses to convert integers of more than 4,300 digits (int_max_str_digits).
        match = _LONG_DIGITS.search(text)
        if match is None:
            raise InputLimitError(name, 0, f"invalid value: {exc}") from None
        raise InputLimitError(
            name, text[: match.start()].count("\n") + 1, _too_long_integer()
        ) from None
    check_document(document, name)
    return document


def check_document(document: Any, name: str) -> None:
    """Refuse a parsed document past the limits: nesting depth, values after alias
    expansion, integer digits, and NUL characters or lone surrogates in strings."""
    _Measure(name).size(document, 1, 1)


class _Measure:
    """Sizes of containers after alias expansion, each shared container measured once, so a
    billion-laughs document costs its written size to refuse, not its expanded one."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.measured: dict[int, tuple[int, int]] = {}
        self.open: set[int] = set()
        self.total = 0

    def fail(self, line: int, message: str) -> None:
        raise InputLimitError(self.name, line, message)

    def size(self, node: Any, depth: int, line: int) -> tuple[int, int]:
        """(values, height) of a node; refuses as soon as a limit is passed."""
        if isinstance(node, dict | list):
            return self.container(node, depth, line)
        if isinstance(node, str):
            if "\x00" in node:
                self.fail(line, "a string holds a NUL character, which no command or file accepts")
            if _has_surrogate(node):
                self.fail(line, "a string holds a lone surrogate (\\ud800-\\udfff), which is not text")
        elif isinstance(node, int) and not isinstance(node, bool) and not -_INT_LIMIT < node < _INT_LIMIT:
            self.fail(line, _too_long_integer())
        return 1, 0

    def container(self, node: dict[Any, Any] | list[Any], depth: int, line: int) -> tuple[int, int]:
        line = _line(node, None, line)
        if depth > MAX_DEPTH:
            self.fail(line, f"nested deeper than {MAX_DEPTH} levels")
        key = id(node)
        if key in self.open:
            self.fail(line, "a YAML alias refers to a value that contains it")
        if key in self.measured:
            count, height = self.measured[key]
            if depth + height > MAX_DEPTH:
                self.fail(line, f"nested deeper than {MAX_DEPTH} levels (through a YAML alias)")
            self.add(count, line)
            return count, height
        self.open.add(key)
        count, height = 1, 0
        self.add(1, line)
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for index, (item_key, value) in enumerate(items):
            here = _line(node, item_key if isinstance(node, dict) else index, line)
            if isinstance(node, dict):
                self.size(item_key, depth + 1, here)
            child_count, child_height = self.size(value, depth + 1, here)
            count += child_count
            height = max(height, child_height + 1)
        self.open.discard(key)
        self.measured[key] = (count, height)
        return count, height

    def add(self, count: int, line: int) -> None:
        # A shared container is counted once per place it appears, as a consumer expands it.
        self.total += count
        if self.total > MAX_VALUES:
            self.fail(
                line,
                f"more than {MAX_VALUES:,} values once YAML aliases are expanded "
                "(an alias bomb?); not read",
            )


def _line(node: Any, key: Any, default: int) -> int:
    lc = getattr(node, "lc", None)
    if lc is None:
        return default
    try:
        if key is None:
            return int(lc.line) + 1
        position = lc.key(key) if isinstance(node, dict) else lc.item(key)
        return int(position[0]) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return default


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _too_long_integer() -> str:
    return f"an integer longer than {MAX_INT_DIGITS} digits; quote it if it is text"


_FLOW_TOKEN = re.compile(r"""[\[\]{}]|"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|\#[^\n]*""")


def _check_flow_depth(text: str, name: str) -> None:
    """Refuse flow collections (``[[[...``) nested past MAX_DEPTH before ruamel sees them:
    its scanner looks ahead over every open ``[`` before deciding on any (2,000 levels cost
    seconds). Quoted strings and comments are skipped; a bracket in a plain scalar can only
    make the count lower (a closing one) or needs a hundred unbalanced ones to matter."""
    depth = 0
    for match in _FLOW_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise InputLimitError(
                    name, text.count("\n", 0, match.start()) + 1, f"nested deeper than {MAX_DEPTH} levels"
                )
        elif token in "]}":
            depth = max(depth - 1, 0)


