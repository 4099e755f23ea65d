"""Running a command under a real pseudo-terminal and reading the screen a person would see.

The command's stdout and stderr are the pty's slave side, so `isatty()` is true for both, as
in an interactive shell; what it writes goes through pyte, a VT100 emulator, so that cursor
moves and line erasures (rich's live progress line) leave only what stays on the screen.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyte


@dataclass
class Screen:
    """What the command left: its exit status, the screen's lines (trailing blanks cut) and
    the raw bytes it wrote (colours included)."""

    returncode: int
    lines: list[str]
    raw: str

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def run_in_terminal(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str],
    columns: int = 160,
    rows: int = 400,
    timeout: float = 120,
) -> Screen:
    """Run `argv` on a pty of `columns` x `rows` (tall, so nothing scrolls away) until it exits."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    environment = {**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)}
    environment.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [str(a) for a in argv], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=environment
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{argv} did not end within {timeout}s")
            readable, _, _ = select.select([master], [], [], remaining)
            if not readable:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the slave side
                break
            if not data:
                break
            chunks.append(data)
        returncode = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    raw = b"".join(chunks).decode("utf-8", "replace")
    screen = pyte.Screen(columns, rows)
    stream = pyte.Stream(screen)
    stream.feed(raw)
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return Screen(returncode, lines, raw)
