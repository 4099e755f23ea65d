"""`remediate worker`: a Celery worker that runs the playbook for the host groups its tasks
name, through the same unattended run as every other run (`run_unattended`: the per-host
lock, limits, every attempt recorded), with its SSH connections kept open between tasks.

At start it registers in the store and holds a session lock named after itself for as long
as it lives: that lock is how schedulers see it alive (and route groups to its queue), and
how another worker sees that a task it claimed was orphaned by its death.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.clock import SystemClock
from engine.core.graph import NodeKey
from engine.core.planning import RunPlan
from engine.core.runner import RunSettings
from engine.errors import FleetError, LockHeld
from engine.fleet.broker import TASK_NAME, celery_app, masked, wait_for_broker
from engine.fleet.claims import Verdict, decide
from engine.fleet.groups import group_plan, nodes_of, playbook_hash
from engine.fleet.routing import SHARED_QUEUE, worker_queue
from engine.output.report import exit_status
from engine.transports import TransportPool
from engine.unattended.run import run_unattended
from engine.unattended.state.base import TaskEnd, WorkerRecord
from engine.unattended.state.postgres import PostgresStateStore

LIVENESS_PREFIX = "remediate-worker:"


def liveness_lock(worker: str) -> str:
    """The name of the session lock a live worker holds."""
    return LIVENESS_PREFIX + worker


def live_workers(store: PostgresStateStore) -> set[str]:
    """The registered workers whose liveness lock is held: the ones alive now."""
    names = {record.name for record in store.fleet_workers()}
    held = store.held_locks(liveness_lock(name) for name in names)
    return {name for name in names if liveness_lock(name) in held}


def default_name() -> str:
    return f"remediate-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"


@dataclass
class Worker:
    """Runs the tasks a Celery worker receives (`handle`), one thread per task."""

    name: str
    plan: RunPlan
    store: PostgresStateStore
    logger: Any
    forks: int = 10
    allow_destructive: bool = False
    incident_dir: Path = Path("incidents")
    digest: str = ""
    transports: TransportPool = field(init=False)
    _runs: set[str] = field(default_factory=set)
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.digest = self.digest or playbook_hash(self.plan)
        # One connection per host for the worker's life: a host's tasks land here tick after
        # tick (engine.fleet.routing), so a tick costs what its commands cost.
        self.transports = TransportPool(self.plan.hostvars)

    @property
    def queue(self) -> str:
        return worker_queue(self.name)

    def handle(self, task: dict[str, Any]) -> str:
        """Run one delivered task: the host groups it names (`groups`, a batch the scheduler
        sends, or one `group` and its `hosts`), each acted on at most once (see
        `engine.fleet.claims`); returns how they ended (`done`, or counts when they differ)."""
        playbook, tick, digest = str(task["playbook"]), int(task["tick"]), str(task["digest"])
        listed = task["groups"] if "groups" in task else [{"group": task["group"], "hosts": task["hosts"]}]
        groups = {str(g["group"]): [str(h) for h in g["hosts"]] for g in listed}
        run_id = uuid.uuid4().hex[:12]
        claimed: set[str] = set()
        # Known as this worker's from before its claim: a delivery meeting the claim meanwhile
        # sees the run alive (`decide`), not orphaned.
        with self._mutex:
            self._runs.add(run_id)
        try:
            if digest == self.digest:
                # What `decide` says of queued tasks of their group's latest tick (RUN), in
                # one statement for the batch: most deliveries are such.
                claimed = self.store.claim_fresh_tasks(
                    playbook, tick, list(groups), self.name, run_id, SystemClock().now()
                )
            endings = [
                self._decide_and_run(playbook, tick, group, hosts, digest)
                for group, hosts in groups.items()
                if group not in claimed
            ]
            if claimed:
                log = self.logger.bind(tick=tick, worker=self.name)
                ours = {g: hosts for g, hosts in groups.items() if g in claimed}
                endings.extend(self._run(playbook, tick, ours, run_id, {}, log))
        finally:
            with self._mutex:
                self._runs.discard(run_id)
        counted = Counter(endings)
        if len(counted) == 1:
            return endings[0]
        return ", ".join(f"{n} {ending}" for ending, n in sorted(counted.items()))

    def _decide_and_run(self, playbook: str, tick: int, group: str, hosts: list[str], digest: str) -> str:
        """One group's delivery decided in full: dropped, refused, superseded, taken over
        from a dead worker, or claimed and run."""
        store, now = self.store, SystemClock().now()
        run_id = uuid.uuid4().hex[:12]
        for _ in range(3):  # a conditional update lost to another worker: look again
            with self._mutex:
                mine = set(self._runs)
            found = store.fleet_task(playbook, tick, group)
            claim = decide(
                found,
                worker=self.name,
                live_workers=live_workers(store),
                my_runs=mine,
                later_tick_started=store.later_tick_started(playbook, group, tick),
                digest=digest,
                my_digest=self.digest,
            )
            log = self.logger.bind(tick=tick, group=group, worker=self.name)
            if claim.verdict is Verdict.DROP:
                log.info("task dropped", reason=claim.reason)
                return "dropped"
            if claim.verdict in (Verdict.REFUSE, Verdict.SUPERSEDE):
                (log.warning if claim.verdict is Verdict.REFUSE else log.info)(
                    f"task {claim.verdict}", reason=claim.reason
                )
                store.finish_task(
                    playbook, tick, group, str(claim.verdict), claim.reason, now, worker=self.name
                )
                return str(claim.verdict)
            held: dict[NodeKey, str] = {}
            if claim.verdict is Verdict.RUN:
                if not store.claim_task(playbook, tick, group, self.name, run_id, now):
                    continue
            else:
                assert found is not None
                if not store.take_over_task(playbook, tick, group, found.run_id, self.name, run_id, now):
                    continue
                why = f"acted on in tick {tick} by {found.worker}, which died; not again before the next tick"
                held = dict.fromkeys(nodes_of(self.plan, store.acted_in_run(found.run_id)), why)
                log.warning("task taken over", reason=claim.reason, held=len(held))
            return self._run(playbook, tick, {group: hosts}, run_id, held, log)[0]
        return "dropped"

    def _run(
        self,
        playbook: str,
        tick: int,
        groups: dict[str, list[str]],
        run_id: str,
        held: dict[NodeKey, str],
        log: Any,
    ) -> list[str]:
        """One run over the claimed `groups`; each group's task recorded with its own
        outcomes. A group whose host another run holds is recorded `locked` and the run goes
        on with the others. Returns how each group ended."""
        store = self.store
        endings: list[str] = []
        with self._mutex:
            self._runs.add(run_id)
        try:
            groups = dict(groups)
            for group, hosts in list(groups.items()):
                unknown = sorted(set(hosts) - set(self.plan.hosts))
                if unknown:
                    reason = f"hosts not in this worker's inventory: {', '.join(unknown)}"
                    log.warning("task refused", group=group, reason=reason)
                    store.finish_task(playbook, tick, group, "refused", reason, SystemClock().now())
                    endings.append("refused")
                    del groups[group]
            settings = RunSettings(
                forks=self.forks,
                allow_destructive=self.allow_destructive,
                incident_dir=self.incident_dir,
                run_id=run_id,
            )
            while groups:
                hosts = sorted(h for members in groups.values() for h in members)
                try:
                    report = run_unattended(
                        group_plan(self.plan, hosts),
                        settings,
                        store,
                        logger=log,
                        transports=self.transports,
                        trigger="fleet",
                        held=held,
                    )
                except LockHeld as exc:
                    # The locks were taken in order and released: the others' hosts are free
                    # of this run, so they run without the group another run holds.
                    met = next((g for g, members in groups.items() if exc.host in members), None)
                    if met is None:
                        raise
                    store.finish_task(playbook, tick, met, "locked", str(exc), SystemClock().now())
                    log.warning("another run holds the lock", group=met, host=exc.host, holder=exc.holder)
                    endings.append("locked")
                    del groups[met]
                    continue
                except Exception as exc:  # a crashed run must not end the worker
                    log.exception("run crashed")
                    crashed = [TaskEnd(group, "failed", f"run crashed: {exc}") for group in groups]
                    store.finish_tasks(playbook, tick, crashed, SystemClock().now())
                    endings.extend("failed" for _ in groups)
                    return endings
                ends = []
                for group, members in groups.items():
                    wanted = set(members)
                    nodes = [n for n in report.nodes if n.host in wanted]
                    counts = Counter(str(n.outcome) for n in nodes)
                    totals = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
                    code = report.exit_code if report.stopped_by is not None else exit_status(nodes)
                    ends.append(TaskEnd(group, "done", totals, code))
                store.finish_tasks(playbook, tick, ends, SystemClock().now())
                endings.extend("done" for _ in ends)
                log.info(
                    "task done", run_id=run_id, groups=len(groups), hosts=len(hosts), outcomes=report.counts
                )
                return endings
            return endings
        finally:
            with self._mutex:
                self._runs.discard(run_id)

    def busy(self) -> bool:
        """Whether a run is in flight."""
        with self._mutex:
            return bool(self._runs)

    def close(self) -> None:
        self.transports.close()


RESTART_WAIT = 60.0
"""Seconds a worker whose broker restarted waits for its runs in flight before it restarts."""


def watch_redis(
    url: str, worker: Worker, restart: Callable[[], None], every: float = 2.0
) -> threading.Thread:
    """Restart the worker (`restart`) once its Redis broker was unreachable or restarted: a
    Celery worker with the threads pool does not re-establish its consumer after a Redis
    restart (celery/celery#9054 and later reports), it only fails to acknowledge. Its runs in
    flight are let finish first (up to `RESTART_WAIT`); their tasks, unacknowledged, come back
    after the visibility timeout and are dropped as done (engine.fleet.claims)."""
    import redis

    def server_id() -> str | None:
        try:
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            try:
                return str(client.info("server")["run_id"])
            finally:
                client.close()
        except Exception:
            return None

    def watch() -> None:
        known, lost = server_id(), False
        while True:
            time.sleep(every)
            now = server_id()
            if now is None:
                if not lost:
                    worker.logger.warning("broker unreachable, retrying", broker=masked(url))
                lost = True
                continue
            if known is None and not lost:
                known = now
            if now == known and not lost:
                continue
            worker.logger.warning(
                "broker restarted or reconnected: restarting the worker to reconnect its consumer",
                broker=masked(url),
            )
            deadline = time.monotonic() + RESTART_WAIT
            while worker.busy() and time.monotonic() < deadline:
                time.sleep(0.2)
            if worker.busy():
                # The restart ends them: their attempts stay recorded as running (and count
                # against limits), their tasks come back after the visibility timeout.
                worker.logger.warning("restarting with runs still in flight", waited_s=RESTART_WAIT)
            restart()
            return

    thread = threading.Thread(target=watch, name="broker-watch", daemon=True)
    thread.start()
    return thread


def reexec() -> None:
    """Replace this process by a fresh copy of itself (same pid, same arguments): its sockets
    close (PostgreSQL ends its sessions and their locks), the new one connects again."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.argv])


def serve(
    worker: Worker,
    broker: str,
    concurrency: int,
    visibility: float,
    stopping: threading.Event | None = None,
) -> int:
    """Register `worker`, hold its liveness lock, and consume its queue and the shared one
    until Celery is told to stop (SIGTERM: tasks in flight finish). Returns the exit status."""
    store = worker.store
    lock = store.session_lock(liveness_lock(worker.name), f"worker {worker.name}")
    if lock is None:
        raise FleetError(f"a worker named {worker.name} is running already (--name must be unique)")
    app = celery_app(broker, visibility)

    @app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)
    def run_group(task: dict[str, Any]) -> str:
        return worker.handle(task)

    try:
        store.register_worker(
            WorkerRecord(
                worker.name,
                worker.queue,
                socket.gethostname(),
                os.getpid(),
                SystemClock().now(),
                worker.digest,
            )
        )
        worker.logger.info(
            "worker started",
            worker=worker.name,
            broker=masked(broker),
            state=store.location,
            queues=[worker.queue, SHARED_QUEUE],
            concurrency=concurrency,
            playbook_hash=worker.digest,
        )
        gone = stopping or threading.Event()
        if not wait_for_broker(app, broker, worker.logger, gone.is_set):
            return 0
        if broker.startswith("redis"):
            watch_redis(broker, worker, reexec)
        celery_worker = app.Worker(
            hostname=worker.name,
            queues=[worker.queue, SHARED_QUEUE],
            pool="threads",
            concurrency=concurrency,
            loglevel="WARNING",
            quiet=True,
            without_gossip=True,
            without_mingle=True,
            without_heartbeat=True,
        )
        celery_worker.start()
        return int(celery_worker.exitcode or 0)
    finally:
        worker.close()
        lock.release()
