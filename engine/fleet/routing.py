"""Which worker a host group's task goes to.

A worker keeps its SSH connections open between tasks, so a group should land on the same
worker tick after tick while that worker lives. Each worker consumes a queue of its own
(`worker_queue`) and the shared queue; the scheduler sends a group's task to the queue of
the live worker that rendezvous (highest random weight) hashing picks for the group: the
worker with the highest hash of (worker, group). Every scheduler computes the same answer
from the same live set, a worker joining takes about 1/n of the groups from the others, and
a worker dying moves only its own groups, spread over the rest. With no live worker the task
goes to the shared queue, which every worker also reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

SHARED_QUEUE = "remediate"
"""The queue every worker reads: tasks sent while no worker was seen alive."""


def worker_queue(worker: str) -> str:
    """The queue only `worker` reads."""
    return f"{SHARED_QUEUE}.{worker}"


def _weight(worker: str, group: str) -> int:
    digest = hashlib.blake2b(f"{worker}\0{group}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(group: str, workers: Iterable[str]) -> str | None:
    """The worker that serves `group` among `workers` (None when there is none): the one of
    highest weight, ties broken by name so that every scheduler agrees."""
    best: tuple[int, str] | None = None
    for worker in workers:
        candidate = (_weight(worker, group), worker)
        if best is None or candidate > best:
            best = candidate
    return None if best is None else best[1]


def queue_for(group: str, live_workers: Iterable[str]) -> str:
    """The queue `group`'s task is sent to: its owner's, else the shared one."""
    chosen = owner(group, live_workers)
    return SHARED_QUEUE if chosen is None else worker_queue(chosen)
