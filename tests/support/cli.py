"""Running the `remediate` command as a real process, as cron or systemd would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REMEDIATE = str(Path(sys.executable).parent / "remediate")


def environment(state: str | Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "REMEDIATE_STATE": str(state), **extra}


def remediate(
    *arguments: str | Path, state: str | Path, cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [REMEDIATE, *map(str, arguments)],
        env=environment(state),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(*arguments: str | Path, state: str | Path, cwd: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [REMEDIATE, *map(str, arguments)],
        env=environment(state, **env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
