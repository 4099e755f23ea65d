"""The lines a person reads on a terminal during a run (the `people` log format)."""

from __future__ import annotations

import io

import click

from engine.output import logs


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines_for(*events: dict[str, object], names: tuple[str, ...] = ("db", "api")) -> list[str]:
    terminal = Terminal()
    logs.configure("people", stream=terminal, names=names)
    log = logs.get_logger()
    for fields in events:
        event = str(fields.pop("event"))
        level = str(fields.pop("level", "info"))
        getattr(log, level)(event, **fields)
    return terminal.getvalue().splitlines()


def test_each_check_and_the_run_start_and_end_print_nothing() -> None:
    assert (
        lines_for(
            {"event": "run started", "run_id": "r1"},
            {"event": "check", "node": "db", "outcome": "healthy", "duration_ms": 3.0},
            {"event": "run finished", "exit_code": 0},
        )
        == []
    )


def test_a_node_is_one_line_outcome_name_reason() -> None:
    (line,) = lines_for(
        {"event": "node", "host": "h", "node": "db", "outcome": "failed", "reason": "exit 1\nboom"}
    )
    assert line.startswith("\x1b[")  # the outcome is coloured on a terminal
    assert click.unstyle(line).split() == ["failed", "db", "exit", "1", "|", "boom"]


def test_a_rung_names_its_node_step_status_and_duration() -> None:
    (line,) = lines_for(
        {
            "event": "action",
            "node": "db",
            "step": "restart db",
            "outcome": "changed",
            "reason": "",
            "duration_ms": 1500.0,
        }
    )
    assert click.unstyle(line) == "  db > restart db: changed in 1.5s"


def test_a_secret_in_a_reason_is_masked() -> None:
    (line,) = lines_for(
        {
            "event": "node",
            "node": "db",
            "outcome": "error",
            "reason": "cannot reach postgresql://app:Hunter2pw@db/app",
        }
    )
    assert "Hunter2pw" not in line and "postgresql://app:***@db/app" in line


def test_a_warning_is_shown_with_its_fields() -> None:
    (line,) = lines_for({"event": "escalated", "level": "warning", "node": "db", "reason": "limit reached"})
    assert click.unstyle(line) == "warning: db: escalated reason=limit reached"
