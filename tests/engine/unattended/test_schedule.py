"""Running on a schedule: the systemd units and crontab line that `remediate` generates."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import REMEDIATE, remediate
from tests.support.playbooks import write_playbook

PLAYBOOK = """
name: scheduled
checks:
  api: {command: {cmd: "true"}}
"""


def verify(unit_dir: Path, *units: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    return subprocess.run(
        ["systemd-analyze", "verify", *(str(unit_dir / u) for u in units)],
        capture_output=True,
        text=True,
        env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
    )


def unit_problems(result: subprocess.CompletedProcess[str], unit_dir: Path) -> list[str]:
    # verify also reports on the host's own units when it cannot reach a system manager
    # (containers); only lines about ours matter.
    ours = [str(unit_dir), *(p.name for p in unit_dir.iterdir())]
    return [line for line in (result.stdout + result.stderr).splitlines() if any(o in line for o in ours)]


def test_the_unit_verification_sees_a_broken_unit(tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    (units / "broken.service").write_text("[Service]\nType=oneshot\nExecStart=relative/remediate run\n")
    assert unit_problems(verify(units, "broken.service"), units) != []


def test_the_timer_and_service_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path, PLAYBOOK)
    units = tmp_path / "units"
    made = remediate(
        "systemd",
        playbook,
        "--install",
        "--unit-dir",
        units,
        "--state",
        tmp_path / "s.db",
        state=tmp_path / "s.db",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    result = verify(units, "remediate.service", "remediate.timer")
    assert unit_problems(result, units) == []


def test_the_timer_runs_every_minute_spread_and_catching_up(tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path, PLAYBOOK)
    text = remediate("systemd", playbook, state=tmp_path / "s.db", cwd=tmp_path).stdout
    assert "OnCalendar=minutely" in text
    assert "RandomizedDelaySec=10s" in text
    assert "Persistent=true" in text
    assert f"ExecStart={REMEDIATE} run {playbook} --log-format json" in text
    assert "SuccessExitStatus=3" in text


def test_the_daemon_service_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path, PLAYBOOK)
    units = tmp_path / "units"
    made = remediate(
        "systemd",
        playbook,
        "--daemon",
        "--watchdog",
        "2m",
        "--install",
        "--unit-dir",
        units,
        state=tmp_path / "s.db",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    text = (units / "remediate.service").read_text()
    assert (
        "Type=notify" in text and "WatchdogSec=120s" in text and "ExecReload=/bin/kill -HUP $MAINPID" in text
    )
    assert unit_problems(verify(units, "remediate.service"), units) == []


def test_the_crontab_line_runs_the_playbook_without_flock(tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path, PLAYBOOK)
    line = remediate(
        "cron", playbook, "--every", "5m", "--state", tmp_path / "s.db", state=tmp_path / "s.db", cwd=tmp_path
    ).stdout
    assert (
        line
        == f"*/5 * * * * {REMEDIATE} run {playbook} --state {tmp_path / 's.db'} --log-format json >/dev/null 2>&1\n"
    )
    assert "flock" not in line


def test_the_generated_units_name_no_state_unless_given(tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path, PLAYBOOK)
    text = remediate("systemd", playbook, state=tmp_path / "s.db", cwd=tmp_path).stdout
    assert "--state" not in text
