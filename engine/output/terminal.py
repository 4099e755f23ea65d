"""What a person sees on a terminal while a run goes: one short coloured line per node as it
ends (outcome, node, reason), one line per rung as it ends (step, status, duration), held-back
attempts and warnings; the live progress line stays below them (`engine.output.progress`).

The structured events behind these lines are the same ones the JSON stream carries; this
module only chooses and words them. The whole stream is shown with `-v` or `--log-format`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, MutableMapping
from typing import Any

import click

from engine.core.results import ActionStatus, Outcome
from engine.output.report import OUTCOME_STYLE, RepeatedErrors

_OUTCOME_WIDTH = max(len(outcome) for outcome in Outcome)

_STEP_STYLE: dict[str, dict[str, Any]] = {
    ActionStatus.OK: {"fg": "green"},
    ActionStatus.CHANGED: {"fg": "yellow"},
    ActionStatus.FAILED: {"fg": "red", "bold": True},
    ActionStatus.REFUSED: {"fg": "magenta"},
    ActionStatus.SKIPPED: {"dim": True},
    ActionStatus.INTERRUPTED: {"fg": "red"},
    # A rung the ladder stopped at because it needs an operator's approval first.
    Outcome.AWAITING_APPROVAL: {"fg": "cyan", "bold": True},
}

# Fields every event carries that say nothing to a person reading one line of it.
_CONTEXT = {"event", "level", "timestamp", "run_id", "host", "node", "exception"}


class PeopleRenderer:
    """A structlog renderer for a terminal. Events it has no line for (each check, the run's
    start and end, which the summary covers) are dropped by `shows` before it is called."""

    def __init__(self, names: Iterable[str] = (), many_hosts: bool = False, colors: bool = True) -> None:
        self.many_hosts = many_hosts
        self.colors = colors
        self.name_width = max((len(name) for name in names), default=0)
        self.repeated = RepeatedErrors()

    def shows(self, event: MutableMapping[str, Any]) -> bool:
        """Whether this event gets a line: nodes, rungs, backoff, and any warning or error."""
        return event.get("event") in ("node", "action", "backoff") or event.get("level") in (
            "warning",
            "error",
            "critical",
        )

    def __call__(self, _logger: Any, _method: str, event: MutableMapping[str, Any]) -> str:
        kind = event.get("event")
        if kind == "node":
            return self._node(event)
        if kind == "action":
            return self._rung(event)
        if kind == "backoff":
            delay, next_attempt = event.get("delay_s", 0), event.get("attempt", 0) + 1
            return f"  {self._name(event)} waits {delay:g}s before attempt {next_attempt}"
        return self._problem(event)

    def _node(self, event: MutableMapping[str, Any]) -> str:
        outcome = str(event.get("outcome", ""))
        blocked_by = event.get("blocked_by")
        if blocked_by:
            reason = f"blocked by {', '.join(map(str, blocked_by))}"
        else:
            host, node = str(event.get("host", "")), str(event.get("node", ""))
            reason = self.repeated.reason(host, node, outcome, str(event.get("reason") or ""))
        attempts = event.get("attempts") or 0
        if attempts > 1:
            reason = f"{reason} ({attempts} attempts)"
        name = self._name(event).ljust(self.name_width)
        # An outcome this version does not know (a newer event) is shown plain, not a crash.
        style = OUTCOME_STYLE.get(Outcome(outcome), {}) if outcome in set(Outcome) else {}
        styled = self._style(outcome.ljust(_OUTCOME_WIDTH), style)
        # The reason whole (a command's output tail is already cut to a few lines), on one line.
        return f"{styled}  {name}  {_one_line(reason)}".rstrip()

    def _rung(self, event: MutableMapping[str, Any]) -> str:
        status = str(event.get("outcome", ""))
        styled = self._style(status, _STEP_STYLE.get(status, {}))
        duration = _seconds(float(event.get("duration_ms") or 0))
        detail = _one_line(str(event.get("reason") or ""))
        ignored = " (ignored)" if event.get("ignored") else ""
        line = f"  {self._name(event)} > {event.get('step', '')}: {styled}{ignored}{duration}"
        room = shutil.get_terminal_size().columns - len(click.unstyle(line)) - 2
        return f"{line} - {_shorten(detail, room)}" if detail and room > 10 else line

    def _problem(self, event: MutableMapping[str, Any]) -> str:
        level = str(event.get("level", "warning"))
        fields = " ".join(f"{key}={value}" for key, value in event.items() if key not in _CONTEXT)
        where = f"{self._name(event)}: " if event.get("node") else ""
        colour = "yellow" if level == "warning" else "red"
        line = f"{self._style(level, {'fg': colour})}: {where}{event.get('event')}"
        line = f"{line} {fields}" if fields else line
        exception = event.get("exception")
        return f"{line}\n{exception}" if exception else line

    def _name(self, event: MutableMapping[str, Any]) -> str:
        node = str(event.get("node", ""))
        return f"{event.get('host')}:{node}" if self.many_hosts else node

    def _style(self, text: str, style: dict[str, Any]) -> str:
        return click.style(text, **style) if self.colors and style else text


def _one_line(text: str) -> str:
    return " | ".join(part.strip() for part in text.splitlines() if part.strip())


def _shorten(text: str, width: int) -> str:
    width = max(width, 20)
    return text if len(text) <= width else text[: width - 3] + "..."


def _seconds(duration_ms: float) -> str:
    return f" in {duration_ms / 1000:.1f}s" if duration_ms >= 100 else ""
