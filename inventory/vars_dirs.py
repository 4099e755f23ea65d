"""``group_vars/`` and ``host_vars/`` beside an inventory source.

For a group or host ``name``, the first of ``name``, ``name.yml``, ``name.yaml`` and
``name.json`` that exists is used; a directory is read recursively, its files in name order
(hidden files, backups ending in ``~`` and files with other extensions are skipped), later
files overriding earlier ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import InventoryError
from inventory.yaml_source import load_yaml, plain, where

_EXTENSIONS = ("", ".yml", ".yaml", ".json")


class VarsDir:
    """The variable files of one inventory base directory, read once each."""

    def __init__(self, basedir: Path) -> None:
        self.basedir = basedir
        self._cache: dict[tuple[str, str], dict[str, Any]] = {}
        # Whether group_vars/ and host_vars/ exist, looked up once: without them a
        # 100,000-host inventory would stat four missing files per host.
        self._present: dict[str, bool] = {}

    def group_vars(self, group: str) -> dict[str, Any]:
        """Variables from ``group_vars/<group>``."""
        return self._vars("group_vars", group)

    def host_vars(self, host: str) -> dict[str, Any]:
        """Variables from ``host_vars/<host>``."""
        return self._vars("host_vars", host)

    def _vars(self, kind: str, name: str) -> dict[str, Any]:
        key = (kind, name)
        if key not in self._cache:
            merged: dict[str, Any] = {}
            if kind not in self._present:
                self._present[kind] = (self.basedir / kind).exists()
            if not self._present[kind]:
                self._cache[key] = merged
                return merged
            try:
                paths = _files(self.basedir / kind, name)
            except OSError as exc:
                where = exc.filename or self.basedir / kind
                raise InventoryError(f"{where}: cannot read: {exc.strerror}") from None
            for path in paths:
                merged.update(_load(path))
            self._cache[key] = merged
        return self._cache[key]


def _files(folder: Path, name: str) -> list[Path]:
    if "/" in name or name in (".", ".."):
        return []
    for ext in _EXTENSIONS:
        candidate = folder / f"{name}{ext}"
        if candidate.exists():
            return _dir_files(candidate) if candidate.is_dir() else [candidate]
    return []


def _dir_files(folder: Path) -> list[Path]:
    found: list[Path] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir() and not entry.suffix:
            found.extend(_dir_files(entry))
        elif entry.is_file() and entry.suffix in _EXTENSIONS:
            found.append(entry)
    return found


def _load(path: Path) -> dict[str, Any]:
    data = load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InventoryError(
            f"{where(path, data)}: a variables file must hold a mapping of names to values, "
            f"not a {type(data).__name__}"
        )
    result: dict[str, Any] = plain(data, path)
    return result
