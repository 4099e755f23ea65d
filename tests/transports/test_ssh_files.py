"""Files the SSH transport reads for every host (ssh config, known_hosts, keys): read once
per process, read again when they change."""

from __future__ import annotations

import os
from pathlib import Path

from engine.transports.ssh import _parsed_once


def test_a_file_is_parsed_once_while_it_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("first")
    parsed: list[str] = []

    def parse(name: str) -> str:
        parsed.append(Path(name).read_text())
        return parsed[-1]

    assert [_parsed_once("test", str(path), parse) for _ in range(3)] == ["first"] * 3
    assert parsed == ["first"]


def test_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("before")
    assert _parsed_once("test", str(path), lambda name: Path(name).read_text()) == "before"
    path.write_text("after, longer")
    os.utime(path, ns=(1, 1))
    assert _parsed_once("test", str(path), lambda name: Path(name).read_text()) == "after, longer"
