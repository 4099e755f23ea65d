"""Maintenance windows: is a node inside one now? (Pure: time comes in as an argument.)"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from engine.playbook.unattended import MaintenanceWindow


def window_end(window: MaintenanceWindow, now: datetime) -> datetime | None:
    """When the window that covers `now` closes, or None when `now` is outside it."""
    from croniter import croniter

    local = now.astimezone(ZoneInfo(window.timezone))
    # The latest opening at or before now: croniter's get_prev is strict, so step from just after.
    opened: datetime = croniter(window.cron, local + timedelta(microseconds=1)).get_prev(datetime)
    closes = opened + timedelta(seconds=window.duration)
    return closes if opened <= local < closes else None


def active_window(
    windows: Sequence[MaintenanceWindow], node: str, now: datetime
) -> tuple[MaintenanceWindow, datetime] | None:
    """The first window covering this node at `now`, with when it closes."""
    for window in windows:
        if window.nodes is not None and node not in window.nodes:
            continue
        closes = window_end(window, now)
        if closes is not None:
            return window, closes
    return None
