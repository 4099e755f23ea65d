"""Time as the engine sees it, injectable so that backoff and limits are testable without sleeps."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Where the engine reads time and waits."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for deadlines)."""

    def now(self) -> datetime:
        """Wall-clock time in UTC (for reports and state)."""

    def sleep(self, seconds: float) -> None:
        """Wait; a fake clock advances instead."""


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
