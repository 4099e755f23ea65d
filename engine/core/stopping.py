"""A one-shot run stopped by SIGTERM, SIGINT or SIGHUP: what it does, and the signal handling.

On the first signal the run takes no new action and checks no further node; the commands in
flight on this controller (actions and checks, each in a process group of its own) are sent
SIGTERM, and SIGKILL after `GRACE` seconds; the action is recorded `interrupted` and the run
as ended by the signal; the lock is released and the process exits 128 + the signal's number,
as a shell reports a command killed by it. A second signal kills the commands at once.

Commands on SSH and docker hosts are not killed remotely: their own timeout (``timeout -s
KILL`` on the host) bounds them. `remediate daemon` handles its signals itself
(`engine.unattended.daemon`): there SIGTERM lets the action in flight finish.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from engine import exit_codes

GRACE = 5.0
"""Seconds between SIGTERM and SIGKILL for the commands in flight."""

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Stop(threading.Event):
    """Set when the run was asked to stop; remembers the (first) signal."""

    def __init__(self) -> None:
        super().__init__()
        self.signum: int | None = None

    def request(self, signum: int) -> bool:
        """Record the stop; whether it is the first."""
        first = not self.is_set()
        if first:
            self.signum = signum
            self.set()
        return first

    @property
    def signal_name(self) -> str | None:
        return None if self.signum is None else signal.Signals(self.signum).name

    @property
    def reason(self) -> str:
        return f"the run was stopped by {self.signal_name}"

    @property
    def exit_code(self) -> int:
        return exit_codes.stopped_by(self.signum or 0)


@contextlib.contextmanager
def stop_on_signals(stop: Stop, logger: Any) -> Iterator[Stop]:
    """Handle `SIGNALS` as the module docstring says while the block runs (main thread)."""
    from engine.transports.local import RUNNING

    def stop_commands(name: str) -> None:
        # Off the signal handler: it must not block the main thread, nor write to a stream
        # the main thread may be writing to.
        logger.warning("stopping", signal=name, grace_s=GRACE)
        RUNNING.stop(GRACE)

    stopper: list[threading.Thread] = []

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.request(signum):
            name = signal.Signals(signum).name
            stopper.append(threading.Thread(target=stop_commands, args=(name,), name="stop", daemon=True))
            stopper[0].start()
        else:
            RUNNING.kill()

    previous = {signum: signal.signal(signum, handle) for signum in SIGNALS}
    try:
        yield stop
    finally:
        # Leave only once the stopped commands' groups are gone, not merely their shells.
        for thread in stopper:
            thread.join(GRACE + 1)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        RUNNING.reset()
