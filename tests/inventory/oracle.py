"""ansible-inventory as the oracle: our output must equal what ansible-core prints.

ansible-core is a test-only dependency, run as a separate process; nothing of it is
imported by remediate.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from inventory.cli import inventory_command

_BIN = Path(sys.executable).parent
# An empty configuration, so that no ansible.cfg of the machine changes the oracle.
_CONFIG = Path(tempfile.mkdtemp(prefix="remediate-oracle-")) / "ansible.cfg"
_CONFIG.write_text("[defaults]\n")
_ENV = {
    **os.environ,
    "ANSIBLE_CONFIG": str(_CONFIG),
    "ANSIBLE_LOCALHOST_WARNING": "False",
    "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
    "ANSIBLE_DEPRECATION_WARNINGS": "False",
    "ANSIBLE_NOCOLOR": "1",
    # ansible-core refuses to start under a locale that is not UTF-8.
    "LC_ALL": "C.UTF-8",
}


def _run(tool: str, args: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(_BIN / tool), *args], capture_output=True, text=True, env=_ENV, cwd=cwd, timeout=60
    )
    assert done.returncode == 0, f"{tool} {args} failed: {done.stderr}"
    assert "Unable to parse" not in done.stderr, done.stderr
    return done.stdout


def _inventory_args(sources: list[Path | str]) -> list[str]:
    return [arg for source in sources for arg in ("-i", str(source))]


def ansible_list(sources: list[Path | str], *extra: str) -> dict[str, Any]:
    """``ansible-inventory --list``, without the ``profile`` key newer versions add."""
    data: dict[str, Any] = json.loads(
        _run("ansible-inventory", [*_inventory_args(sources), "--list", *extra])
    )
    data["_meta"].pop("profile", None)
    return data


def ansible_graph(sources: list[Path | str], *extra: str) -> str:
    return _run("ansible-inventory", [*_inventory_args(sources), "--graph", *extra])


def ansible_hosts(
    sources: list[Path | str], pattern: str, cwd: Path | None = None, limit: str | None = None
) -> list[str]:
    """The hosts ``ansible PATTERN [--limit LIMIT] --list-hosts`` names, in its order."""
    args = [pattern, *_inventory_args(sources), "--list-hosts"]
    out = _run("ansible", [*args, "--limit", limit] if limit else args, cwd=cwd)
    return [line.strip() for line in out.splitlines()[1:] if line.strip()]


def ansible_group_names(sources: list[Path | str]) -> dict[str, list[str]]:
    """Each host's ``group_names`` as a playbook sees it (the debug module runs on the
    controller, so no host is contacted)."""
    out = _run("ansible", ["all", *_inventory_args(sources), "-o", "-m", "debug", "-a", "var=group_names"])
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        match = re.match(r"^(\S+) \| SUCCESS => (.*)$", line)
        if match:
            found[match.group(1)] = json.loads(match.group(2))["group_names"]
    return found


def ours(sources: list[Path | str], *args: str) -> str:
    """Our ``remediate inventory`` output (stdout alone, as ansible-inventory's is read)."""
    result = CliRunner().invoke(inventory_command, [*_inventory_args(sources), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def ours_list(sources: list[Path | str], *extra: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ours(sources, "--list", *extra))
    return data
