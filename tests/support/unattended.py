"""Helpers for tests of unattended operation: a node that a test breaks and fixes through a
file, runs with a fake clock against a real state store, and a notify command that appends
every message it receives to a file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.node import Mode
from engine.core.results import Outcome
from engine.core.runner import RunSettings
from engine.output.report import RunReport
from engine.unattended.run import run_unattended
from engine.unattended.state import StateStore
from tests.support.clock import FakeClock
from tests.support.playbooks import plan


@dataclass
class Switch:
    """A node's health as a file: healthy while `ok` exists. Every action run appends a line
    to `actions`, so a test counts what really ran."""

    directory: Path
    name: str = "api"

    @property
    def ok(self) -> Path:
        return self.directory / f"{self.name}.ok"

    @property
    def actions(self) -> Path:
        return self.directory / f"{self.name}.actions"

    def check(self) -> str:
        return f"test -e {self.ok}"

    def unfixable_action(self) -> str:
        return f"echo tried >> {self.actions}"

    def fixing_action(self) -> str:
        return f"echo tried >> {self.actions}; touch {self.ok}"

    def heal(self) -> None:
        self.ok.touch()

    def break_(self) -> None:
        self.ok.unlink(missing_ok=True)

    @property
    def actions_run(self) -> int:
        return len(self.actions.read_text().split()) if self.actions.exists() else 0


def notify_log(directory: Path) -> tuple[str, Path]:
    """A notify command appending each message (JSON) as a line; returns (command, log)."""
    log = directory / "notifications.jsonl"
    return f"(cat; echo) >> {log}", log


def messages(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def run_once(
    directory: Path, text: str, store: StateStore, clock: FakeClock, mode: Mode = Mode.RUN
) -> RunReport:
    """One run of the playbook with state, the fake clock, verification without waiting."""
    settings = RunSettings(mode=mode, forks=4, clock=clock, incident_dir=directory / "incidents")
    return run_unattended(plan(directory, text), settings, store, logger=None)


def run_every_minute(
    directory: Path, text: str, store: StateStore, clock: FakeClock, times: int
) -> list[Outcome]:
    """`times` runs a minute apart; the outcome of the node `api` on localhost in each."""
    outcomes = []
    for _ in range(times):
        outcomes.append(run_once(directory, text, store, clock).node("localhost", "api").outcome)
        clock.sleep(60)
    return outcomes
