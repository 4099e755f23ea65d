"""`remediate run` and `check` as a person sees them on a terminal, under a real
pseudo-terminal: one line per node as it ends, the rungs as they run, then the summary and
the plan; the raw event stream only with -v or --log-format, and JSON lines off a terminal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.cli import environment
from tests.support.playbooks import write_playbook
from tests.support.terminal import Screen, run_in_terminal

REMEDIATE = str(Path(sys.executable).parent / "remediate")

SHOP = """
name: shop
checks:
  db:
    command: {cmd: "test -e {{ marker }}"}
    remediate:
      - name: create the marker
        command: {cmd: "touch {{ marker }}"}
  api:
    depends_on: [db]
    command: {cmd: "true"}
  cache:
    command: {cmd: "true"}
"""

NODES = ("db", "api", "cache")
# What a structlog key=value event line looks like: `key=value` pairs and a level in brackets.
RAW_EVENT = re.compile(r"\b(run_id|duration_ms|outcome|attempts)=|\[\s*info\s*\]")


def run(tmp_path: Path, *arguments: str, columns: int = 160) -> Screen:
    playbook = write_playbook(tmp_path, SHOP)
    return run_in_terminal(
        [REMEDIATE, *arguments, str(playbook), "-e", f"marker={tmp_path / 'marker'}"],
        cwd=tmp_path,
        env=environment(tmp_path / "state.db"),
        columns=columns,
    )


def node_lines(screen: Screen) -> list[str]:
    """The lines printed while the run went, before the summary's title line."""
    end = next(i for i, line in enumerate(screen.lines) if line.startswith("shop ("))
    return screen.lines[:end]


def test_a_run_on_a_terminal_prints_one_line_per_node_and_no_raw_events(tmp_path: Path) -> None:
    screen = run(tmp_path, "run")
    assert screen.returncode == 0, screen.text
    assert not RAW_EVENT.search(screen.text), screen.text
    lines = node_lines(screen)
    for node in NODES:
        ends = [line for line in lines if re.match(rf"\w+\s+{node}\b", line)]
        assert len(ends) == 1, lines
    assert any(re.match(r"remediated\s+db\s+fixed: ", line) for line in lines), lines


def test_the_rungs_show_as_they_run_before_the_node_ends(tmp_path: Path) -> None:
    lines = node_lines(run(tmp_path, "run"))
    rung = next(
        i
        for i, line in enumerate(lines)
        # " in 0.1s" follows the status when the step took 100 ms or more (a busy machine)
        if re.match(r"db > create the marker: changed( in [\d.]+s)? - exited 0", line.strip())
    )
    ended = next(i for i, line in enumerate(lines) if line.startswith("remediated"))
    assert rung < ended


def test_the_summary_and_totals_follow_the_node_lines(tmp_path: Path) -> None:
    screen = run(tmp_path, "run")
    summary = screen.lines[len(node_lines(screen)) :]
    assert summary[1].split() == ["node", "outcome", "attempts", "reason"]
    assert summary[-1] == "2 healthy, 1 remediated; exit status 0"


def test_the_outcome_is_coloured(tmp_path: Path) -> None:
    raw = run(tmp_path, "run").raw
    assert "\x1b[32m\x1b[1mremediated" in raw or "\x1b[1m\x1b[32mremediated" in raw


def test_dry_run_prints_the_node_lines_then_the_plan(tmp_path: Path) -> None:
    screen = run(tmp_path, "run", "--dry-run")
    assert screen.returncode == 1
    lines = node_lines(screen)
    assert any(re.match(r"would_remediate\s+db\s", line) for line in lines)
    assert any(re.match(r"blocked\s+api\s+blocked by db", line) for line in lines)
    assert "Would do (dry-run, nothing was changed):" in screen.lines
    assert not (tmp_path / "marker").exists()


def test_check_prints_a_line_per_node(tmp_path: Path) -> None:
    screen = run(tmp_path, "check")
    assert any(re.match(r"unhealthy\s+db\s", line) for line in node_lines(screen))
    assert not RAW_EVENT.search(screen.text)


def test_verbose_shows_the_whole_event_stream(tmp_path: Path) -> None:
    screen = run(tmp_path, "run", "-v")
    assert "run_id=" in screen.text and "duration_ms=" in screen.text


def test_an_explicit_log_format_shows_the_whole_event_stream(tmp_path: Path) -> None:
    screen = run(tmp_path, "run", "--log-format", "json", columns=1000)  # an event is one line
    events = [json.loads(line) for line in screen.lines if line.startswith("{")]
    assert {"run started", "check", "action", "verify", "node", "run finished"} <= {
        e["event"] for e in events
    }


def test_off_a_terminal_events_stay_json_lines(tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path, SHOP)
    result = subprocess.run(
        [REMEDIATE, "run", str(playbook), "-e", f"marker={tmp_path / 'marker'}"],
        env=environment(tmp_path / "state.db"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert sorted(e["node"] for e in events if e["event"] == "node") == sorted(NODES)
    assert {e["event"] for e in events} >= {"run started", "check", "action", "node", "run finished"}


NO_DOCKER = """
name: shop
checks:
  postgres: {docker_container: {container: postgres}}
  redis: {docker_container: {container: redis}}
  backend: {docker_container: {container: backend}}
  frontend: {docker_container: {container: frontend}}
"""


def test_a_host_without_docker_says_so_once_in_the_lines_and_once_in_the_summary(tmp_path: Path) -> None:
    socket = tmp_path / "no-docker.sock"
    screen = run_in_terminal(
        [REMEDIATE, "run", "--dry-run", str(write_playbook(tmp_path, NO_DOCKER))],
        cwd=tmp_path,
        env={**environment(tmp_path / "state.db"), "DOCKER_HOST": f"unix://{socket}"},
        columns=400,  # the socket's path is long; a wrapped line would split the message
    )
    assert screen.returncode == 1
    message = f"no Docker engine on this host: {socket} does not exist (is dockerd running?)"
    lines = node_lines(screen)
    summary = screen.lines[len(lines) :]
    for part in (lines, summary):
        assert sum(message in line for line in part) == 1, screen.text
        assert sum("same error as" in line for line in part) == 3
    assert "urllib3" not in screen.text and "Connection aborted" not in screen.text


def test_the_terminal_check_really_is_a_terminal() -> None:
    # The helper's premise: what runs under it sees a terminal on both streams.
    code = "import sys; print(sys.stdout.isatty(), sys.stderr.isatty())"
    screen = run_in_terminal([sys.executable, "-c", code], cwd=Path.cwd(), env=dict(os.environ))
    assert screen.lines == ["True True"]
