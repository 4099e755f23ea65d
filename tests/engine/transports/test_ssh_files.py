"""Files the SSH transport reads for every host (ssh config, known_hosts, keys): read once
per process, read again when they change."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from engine.transports.ssh import _parsed_once, _read_known_hosts


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


def _public_key_line(tmp_path: Path, name: str) -> str:
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    kind, data = (tmp_path / f"{name}.pub").read_text().split()[:2]
    return f"{kind} {data}"


def test_known_hosts_keys_of_a_name_come_in_the_files_order_hashed_or_not(tmp_path: Path) -> None:
    first, second = _public_key_line(tmp_path, "a"), _public_key_line(tmp_path, "b")
    known = tmp_path / "known_hosts"
    known.write_text(f"other {first}\nweb1 {first}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], check=True, capture_output=True)
    with known.open("a") as more:
        more.write(f"# a comment\nweb1,alias {second}\n")
    keys = _read_known_hosts(str(known)).keys_for("web1")
    assert [key.get_base64() for key in keys] == [first.split()[1], second.split()[1]]
    assert _read_known_hosts(str(known)).keys_for("unknown") == []
