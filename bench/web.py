"""Status page and alert benchmarks, run by hand: `.venv/bin/python bench/web.py [--requests N]
[--alerts N]`. Prints figures; asserts nothing (compare the ratios, the milliseconds move with
the machine's load).

(a) A SQLite state store in a temporary directory holding a playbook of 1,000 nodes (a tree,
    each node with a `limit` and `flapping`, so every per-node rule is evaluated) and 100,000
    history rows (100 runs of 1,000 outcomes, plus 1,000 attempts and 300 state transitions). The rows
    are written with the store's own API (`begin_run`, `record_outcome`, `begin_attempt`,
    `add_transition`): it has no bulk insert, so they are wrapped in one transaction on the
    store's connection, which only saves the commit per row. The application is served by
    the real uvicorn server in a thread (`engine.web.app.serve`, as the daemon starts it);
    medians and p95 of N requests to `/` and `/api/status` from this process over loopback,
    against `/metrics` on the same server (a route that reads nothing) as the lower bound;
    once with the store unchanged (the page reuses what it gathered), once with a write to
    the store before each request (it gathers everything again). Target: under 50 ms median.
(b) An alert's arrival to the first check of its node: `remediate daemon` (a process, as
    deployed) with a one-hour interval and an `alerts:` route; an Alertmanager version 4
    payload is posted to /hooks/alertmanager and the time runs until the node's check
    command has written the wall clock to a file. Median of N. Target: under 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.core.planning import plan_run  # noqa: E402
from engine.unattended.locking import LockOwner  # noqa: E402
from engine.unattended.state import StateStore, open_store  # noqa: E402
from engine.web.app import serve  # noqa: E402
from inventory import Inventory  # noqa: E402
from tests.support.web import FakeDaemon  # noqa: E402

PYTHON = sys.executable
REMEDIATE = str(Path(PYTHON).parent / "remediate")
NODES = 1000
RUNS = 100
HOOK_TOKEN = "bench-hook-token-0123456789abcdef"


def playbook(directory: Path) -> Path:
    """1,000 nodes in a tree of fan-out 10, each with a limit and flap detection."""
    lines = ["name: bench", "checks:"]
    for i in range(NODES):
        upstream = f", depends_on: [n{(i - 1) // 10}]" if i else ""
        lines.append(
            f'  n{i}: {{command: {{cmd: "true"}}, limit: {{max: 3, within: 1h}}, '
            f"flapping: {{changes: 6, within: 30m}}{upstream}}}"
        )
    path = directory / "bench.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def fill(store: StateStore, now: datetime) -> dict[str, int]:
    """100 runs of every node (the last ones within the limit's and the flapping's windows),
    an attempt for one node in ten in each of the last ten runs, and three transitions for one node in ten."""
    outcomes = ("healthy", "remediated", "failed", "unhealthy")
    counts = {"node_results": 0, "attempts": 0, "transitions": 0}
    connection = store._connection()  # no bulk API: one transaction around the API's inserts
    connection.execute("BEGIN")
    for run in range(RUNS):
        at = now - timedelta(minutes=5 * (RUNS - run))
        run_id = f"run-{run:03d}"
        store.begin_run(run_id, "bench.yml", ["localhost"], "run", at, LockOwner(run_id))
        for i in range(NODES):
            outcome = outcomes[(i + run) % len(outcomes)]
            if i % 10 == 0 and run >= RUNS - 10:  # within the limit's hour
                store.begin_attempt(run_id, "localhost", f"n{i}", 1, "restart", "command", at)
                counts["attempts"] += 1
            store.record_outcome(
                run_id, "localhost", f"n{i}", outcome, f"{outcome} at run {run}", {"run": run}, "P3", at, 1.5
            )
            counts["node_results"] += 1
        store.finish_run(run_id, at + timedelta(seconds=2), 0, {"healthy": NODES}, None)
    for i in range(0, NODES, 10):
        for minutes in (20, 10, 1):
            store.add_transition("localhost", f"n{i}", now - timedelta(minutes=minutes), "failed")
            counts["transitions"] += 1
    connection.execute("COMMIT")
    return counts


def get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        size = len(response.read())
    return (time.perf_counter() - started) * 1000, size


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def page_latency(directory: Path, requests: int) -> None:
    print(f"(a) status page: {NODES} nodes, {RUNS * NODES:,} outcomes; load average {load()}")
    book = playbook(directory)
    plan = plan_run(str(book), Inventory.localhost())
    state = str(directory / "state.db")
    store = open_store(state)
    started = time.perf_counter()
    counts = fill(store, datetime.now(UTC))
    store.close()
    print(
        f"  filled in {time.perf_counter() - started:.1f}s: "
        + ", ".join(f"{v:,} {k}" for k, v in counts.items())
    )
    address = f"127.0.0.1:{free_port()}"
    server = serve(FakeDaemon(plan, directory / "incidents"), address, state, None, HOOK_TOKEN)
    base = f"http://{address}"
    writer = open_store(state)  # another connection, as the daemon's run writes
    try:
        for path in ("/metrics", "/", "/api/status"):
            get(base + path)  # warm: the store's connection, the templates, the plan's layout
        for written in (False, True):
            # The page reuses what it gathered while the store has not changed (for at most
            # a second): measured so, and with a write before each request (a run in
            # progress), which makes it gather everything again.
            results: dict[str, list[float]] = {"/metrics": [], "/": [], "/api/status": []}
            sizes: dict[str, int] = {}
            for n in range(requests):  # interleaved, so that load moves all three alike
                for path, samples in results.items():
                    if written:
                        writer.record_outcome(
                            "run-099", "localhost", f"n{n}", "healthy", "again", {}, "P3", datetime.now(UTC)
                        )
                    elapsed, sizes[path] = get(base + path)
                    samples.append(elapsed)
            print("  a write to the store before each request:" if written else "  the store unchanged:")
            floor = statistics.median(results["/metrics"])
            for path, samples in results.items():
                median = statistics.median(samples)
                target = "" if path == "/metrics" else " (target < 50 ms)"
                print(
                    f"    {path:12} median {median:7.2f} ms, p95 {p95(samples):7.2f} ms, "
                    f"{median / floor:6.1f}x /metrics, {sizes[path] / 1024:.0f} KiB{target}"
                )
    finally:
        writer.close()
        server.shutdown()
    print(f"  load average after: {load()}")


ALERTED = """name: alerted
checks:
  db: {{command: {{cmd: "true"}}}}
  api:
    depends_on: [db]
    command: {{cmd: "date +%s.%N >> {stamps}"}}
  web: {{depends_on: [api], command: {{cmd: "true"}}}}
alerts:
  - match: {{alertname: ServiceDown, service: api}}
    nodes: [api]
"""


def stamps(path: Path) -> list[float]:
    return [float(line) for line in path.read_text().split()] if path.exists() else []


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)


def runs_finished(state: Path) -> int:
    store = open_store(str(state))
    try:
        return sum(1 for run in store.runs() if run.finished_at is not None)
    finally:
        store.close()


def alert_latency(directory: Path, alerts: int) -> None:
    print(f"(b) alert to first check of its node, {alerts} alerts; load average {load()}")
    stamp_file = directory / "stamps"
    book = directory / "alerted.yml"
    book.write_text(ALERTED.format(stamps=stamp_file))
    state = directory / "alerted.db"
    port = free_port()
    environment = {**os.environ, "REMEDIATE_HOOK_TOKEN": HOOK_TOKEN, "PYTHONPATH": str(ROOT)}
    daemon = subprocess.Popen(
        [
            REMEDIATE,
            "daemon",
            str(book),
            "--interval",
            "1h",
            "--listen",
            f"127.0.0.1:{port}",
            "--state",
            str(state),
        ],
        cwd=directory,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    hook = f"http://127.0.0.1:{port}/hooks/alertmanager"
    samples = []
    try:
        wait_for(lambda: runs_finished(state) >= 1, "the daemon's first run")
        for n in range(alerts):
            seen, finished = len(stamps(stamp_file)), runs_finished(state)
            payload = {
                "version": "4",
                "status": "firing",
                "receiver": "remediate",
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {"alertname": "ServiceDown", "service": "api"},
                        "fingerprint": f"bench-{n}",  # a new alert each time: no dedup window
                    }
                ],
            }
            request = urllib.request.Request(
                hook,
                data=json.dumps(payload).encode(),
                headers={"Authorization": f"Bearer {HOOK_TOKEN}", "Content-Type": "application/json"},
            )
            sent = time.time()
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
            wait_for(lambda: len(stamps(stamp_file)) > seen, "the alert's check")  # noqa: B023
            samples.append((stamps(stamp_file)[seen] - sent) * 1000)
            wait_for(lambda: runs_finished(state) > finished, "the alert's run to end")  # noqa: B023
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    print(
        f"  median {statistics.median(samples):.1f} ms, p95 {p95(samples):.1f} ms, "
        f"min {min(samples):.1f} ms (target < 100 ms median)"
    )
    print(f"  load average after: {load()}")


def free_port() -> int:
    """A free loopback port (closed again before the daemon binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=50, help="requests per path in (a)")
    parser.add_argument("--alerts", type=int, default=25, help="alerts posted in (b) (0: skip it)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        page_latency(Path(tmp), arguments.requests)
        if arguments.alerts:
            alert_latency(Path(tmp), arguments.alerts)


if __name__ == "__main__":
    main()
