"""Whether a worker runs a task it received: the at-most-once rule of the fleet.

The broker delivers a task at least once (acknowledged late, redelivered when its worker
dies), so the store decides. The scheduler records every task `queued`; a worker claims it
(`running`) with a conditional update, so of two deliveries only one runs. A delivery that
finds the task claimed by a worker still alive (its session lock held) is a duplicate and is
dropped; one that finds it claimed by a dead worker takes it over, and the new run does not
act again on the nodes the dead worker's run acted on (they wait for the next tick, so what
was done is done at most once). A task of a tick older than one the group already ran is
stale and is not run at all; nor is a task whose playbook hash differs from the worker's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.unattended.state.base import CLAIMED, QUEUED, FleetTask


class Verdict(StrEnum):
    RUN = "run"
    """Claim the queued task and run it."""
    TAKE_OVER = "take_over"
    """Take the task over from its dead worker and run it, not acting again on what it did."""
    REFUSE = "refused"
    """Record the task refused (the playbook differs) and do not run it."""
    SUPERSEDE = "superseded"
    """Record the task superseded (a later tick of its group ran) and do not run it."""
    DROP = "drop"
    """Leave the task as it is: done, or being run by a live worker."""


@dataclass(frozen=True)
class Claim:
    verdict: Verdict
    reason: str


def decide(
    task: FleetTask | None,
    *,
    worker: str,
    live_workers: set[str],
    my_runs: set[str],
    later_tick_started: bool,
    digest: str,
    my_digest: str,
) -> Claim:
    """What `worker` does with a delivery of `task` (None: the store has no such task)."""
    if task is None:
        return Claim(Verdict.DROP, "no such task recorded (not sent by a scheduler of this store)")
    where = f"tick {task.tick} of {task.group}"
    if task.status not in (QUEUED, CLAIMED):
        by = f" by {task.worker}" if task.worker else ""
        return Claim(Verdict.DROP, f"{where} is {task.status} already{by}")
    if task.status == CLAIMED:
        alive = task.worker in live_workers and (task.worker != worker or task.run_id in my_runs)
        if alive:
            return Claim(Verdict.DROP, f"{where} is being run by {task.worker} (run {task.run_id})")
    if later_tick_started:
        return Claim(Verdict.SUPERSEDE, f"{where} is stale: a later tick of the group ran")
    if digest != my_digest:
        return Claim(
            Verdict.REFUSE,
            f"refused by {worker}: the task's playbook (hash {digest}) differs from this worker's "
            f"({my_digest}); deploy the same playbook to every worker and daemon",
        )
    if task.status == CLAIMED:
        return Claim(
            Verdict.TAKE_OVER,
            f"{where} taken over from {task.worker}, which died running it (run {task.run_id})",
        )
    return Claim(Verdict.RUN, f"{where} claimed by {worker}")
