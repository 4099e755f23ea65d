"""Scale benchmark: one controller against a fleet of workers on the same sshd hosts, in one run
(compare the ratios: the seconds move with the machine's load).

Starts N real sshd hosts on loopback (as bench/fleet.py does: the test account, host keys and
client key of the test fixtures), a Redis broker and a PostgreSQL store, then measures:

* one controller: a cold `remediate run` of one `command: true` check on every host, and a
  daemon tick over connections kept open (the median of --ticks);
* the bare paramiko baseline (and pyinfra, given --pyinfra PATH) on the same hosts, cold
  (``--cold-rounds K``: K rounds, the tools in turn in each, medians and each round's ratio);
* OpenSSH running `true` on every host at once through ControlMaster connections opened
  beforehand (the lower bound of a tick over open connections);
* for each worker count in --workers: that many `remediate worker` processes and one
  `remediate daemon --broker`; the first tick opens the connections and is not counted; of
  the next --ticks ticks: the wall time from the tick's scheduling to its last host's result,
  the p95 of tick-to-result over every host, the CPU per host of workers and scheduler, and
  each worker's resident memory growth. The controller's tick is measured again after each
  worker count, and each count is compared with the mean of the controller's ticks measured
  just before and just after it (the load drifts over the minutes a fleet runs). A count
  given more than once in --workers (``1,2,4,1,2,4``) is measured that many times, in that
  order: the medians are printed with the spread of the ratios.

Memory per open connection is the slope between worker counts: a worker of 1 holds N
connections, a worker of 2 about N/2, and the difference of their growth over the first tick
divided by the difference of connections leaves out what every worker loads once (paramiko,
the transport modules). On this 2-core machine sshd's own CPU (one process per connection,
on the same cores) is part of the floor of every figure. Needs root, sshd, redis-server and
PostgreSQL's server binaries::

    .venv/bin/python bench/scale.py [--hosts 100] [--workers 1,2] [--ticks 3] [--interval 15]
                                    [--concurrency 8] [--forks 50] [--pyinfra PATH]
                                    [--skip-cold | --skip-ticks] [--cold-rounds 1]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import (  # bench/fleet.py: the hosts' inventories and the controller's baselines
    BIN,
    Sample,
    Workdir,
    compile_project,
    daemon_tick,
    openssh_controlmaster_tick,
    run_paramiko,
    run_pyinfra,
    run_remediate,
)

from engine.unattended.state import open_store
from tests.servers.net import free_port
from tests.servers.redis import RedisServer
from tests.servers.sshd import create_account, create_fleet
from tests.servers.state_postgres import running_state_postgres

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class FleetResult:
    workers: int
    tick_wall: float
    """Median over the measured ticks: scheduled to the last host's result (s)."""
    p95: float
    """p95 of scheduled-to-result over every host of the measured ticks (s)."""
    cpu_per_host_ms: float
    growth_kb: list[int]
    """Each worker's resident memory growth over the first tick (it opens its connections)."""
    connections: list[int]
    controller_tick: float = 0.0
    """The mean of the controller's ticks measured just before and just after this fleet."""


def wait_ticks(state: str, hosts: int, count: int, timeout: float) -> list[tuple[float, list[float]]]:
    """Wait until `count` ticks are done on every host; per tick, when it was scheduled and
    when each host's task ended (seconds since the epoch). One connection and one small
    statement a poll: the bench's own watching must not load PostgreSQL beside the workers
    (reading each task apart every half second cost as much as the workers' records)."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(state, autocommit=True) as connection:
        while True:
            counts = connection.execute(
                "SELECT tick, count(*) FROM fleet_tasks WHERE status = 'done' GROUP BY tick ORDER BY tick"
            ).fetchall()
            complete = [tick for tick, done in counts if done == hosts][:count]
            if len(complete) >= count:
                rows = connection.execute(
                    "SELECT k.tick, k.scheduled_at, t.finished_at FROM fleet_ticks k "
                    "JOIN fleet_tasks t ON t.playbook = k.playbook AND t.tick = k.tick "
                    "WHERE k.tick = ANY(%s) ORDER BY k.tick",
                    (complete,),
                ).fetchall()
                ticks: dict[int, tuple[float, list[float]]] = {}
                for tick, scheduled, finished in rows:
                    ticks.setdefault(tick, (scheduled, []))[1].append(finished)
                return [ticks[tick] for tick in complete]
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(complete)} of {count} ticks done in {timeout:g}s")
            time.sleep(0.5)


def run_fleet(work: Workdir, broker: str, state: str, workers: int, args: argparse.Namespace) -> FleetResult:
    env = {**os.environ, "REMEDIATE_BROKER": broker}
    common = [
        str(work.playbook),
        "-i",
        str(work.remediate_inventory),
        "--state",
        state,
        "--log-format",
        "json",
    ]
    processes: list[subprocess.Popen[bytes]] = []
    log = (work.root / f"fleet-{workers}.log").open("ab")
    try:
        for number in range(workers):
            processes.append(
                subprocess.Popen(
                    [
                        *(str(BIN / "remediate"), "worker", *common, "--name", f"bench-{number}"),
                        *("--concurrency", str(args.concurrency), "--forks", str(args.forks)),
                    ],
                    env=env,
                    stdout=log,
                    stderr=log,
                )
            )
        time.sleep(3)  # imported and registered: the resident size before any connection
        before = [rss_kb(p.pid) for p in processes]
        scheduler = subprocess.Popen(
            [str(BIN / "remediate"), "daemon", *common, "--interval", f"{args.interval}s"],
            env=env,
            stdout=log,
            stderr=log,
        )
        processes.append(scheduler)
        first = wait_ticks(state, work.n, 1, args.interval * 4)
        time.sleep(0.5)
        growth = [rss_kb(p.pid) - b for p, b in zip(processes, before, strict=False)]
        cpu_start = sum(cpu_seconds(p.pid) for p in processes)
        ticks = wait_ticks(state, work.n, args.ticks + 1, args.interval * (args.ticks + 4))[1:]
        cpu = sum(cpu_seconds(p.pid) for p in processes) - cpu_start
        store = open_store(state)
        try:
            served = store.served_last()
        finally:
            store.close()
        del first
        latencies = sorted(end - scheduled for scheduled, ends in ticks for end in ends)
        return FleetResult(
            workers,
            statistics.median(max(ends) - scheduled for scheduled, ends in ticks),
            latencies[int(0.95 * (len(latencies) - 1))],
            cpu / (args.ticks * work.n) * 1000,
            growth,
            [len(served.get(f"bench-{number}", (0, []))[1]) for number in range(workers)],
        )
    finally:
        for process in processes:
            process.kill()
            process.wait()
        log.close()


def cold_runs(work: Workdir, pyinfra: str | None, rounds: int) -> dict[str, list[Sample]]:
    """Cold runs of each tool, `rounds` times, alternated: the machine's load drifts over
    minutes, and tools measured one after another would each meet a different load."""
    tools: dict[str, Callable[[Workdir], Sample]] = {"remediate run": run_remediate, "paramiko": run_paramiko}
    if pyinfra:
        tools["pyinfra"] = lambda work: run_pyinfra(work, pyinfra)
    samples: dict[str, list[Sample]] = {name: [] for name in tools}
    for _ in range(max(1, rounds)):
        for name, tool in tools.items():
            samples[name].append(tool(work))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--ticks", type=int, default=3)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=8)
    # A worker runs a message of up to 50 hosts (engine.fleet.scheduler.BATCH_HOSTS) as one
    # run: with as many forks its hosts go at once, as the controller's (forks = N) do.
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--pyinfra", help="a pyinfra executable (from a scratch virtualenv)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--skip-cold", action="store_true", help="only the ticks: no cold runs")
    only.add_argument("--skip-ticks", action="store_true", help="only the cold runs: no ticks, no workers")
    parser.add_argument(
        "--cold-rounds",
        type=int,
        default=1,
        help="cold runs of each tool, alternated (each round runs every tool once): medians",
    )
    args = parser.parse_args()
    compile_project()
    fleet = create_fleet(create_account())
    servers = fleet.start(args.hosts)
    redis_dir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    password = secrets.token_hex(12)
    (redis_dir / "password").write_text(password)
    redis = RedisServer(redis_dir, free_port(), password, redis_dir / "password")
    redis.start()
    results: list[FleetResult] = []
    try:
        with running_state_postgres() as postgres:
            work = Workdir(Path(tempfile.mkdtemp(prefix="bench-scale-", dir=fleet.root)), fleet, servers)
            cold = {} if args.skip_cold else cold_runs(work, args.pyinfra, args.cold_rounds)
            counts = [] if args.skip_ticks else [int(w) for w in args.workers.split(",")]
            if not args.skip_ticks:
                ticks = [daemon_tick(work, args.ticks)]
                openssh = openssh_controlmaster_tick(work, args.ticks)
                print(
                    f"one controller: tick {ticks[0]:.2f}s; OpenSSH ControlMaster {openssh:.2f}s", flush=True
                )
            broker = f"redis://:{password}@127.0.0.1:{redis.port}/0"
            for count in counts:
                redis.client().flushall()
                results.append(run_fleet(work, broker, postgres.new_database(), count, args))
                ticks.append(daemon_tick(work, args.ticks))
                results[-1].controller_tick = statistics.mean(ticks[-2:])
                print(
                    f"{count} worker(s): tick {results[-1].tick_wall:.2f}s; "
                    f"the controller's {ticks[-2]:.2f}s before, {ticks[-1]:.2f}s after",
                    flush=True,
                )
    finally:
        redis.stop()
        shutil.rmtree(redis_dir, ignore_errors=True)
        fleet.stop_all()
        shutil.rmtree(fleet.root, ignore_errors=True)

    n = args.hosts
    print(f"\nN = {n} loopback sshd hosts, one `command: true` check each; ratios to one controller")
    if cold:
        ours = cold["remediate run"]
        ours_wall = statistics.median(sample.wall for sample in ours)
        heading = "cold, one process" + (f" (medians of {len(ours)})" if len(ours) > 1 else "")
        print(f"{heading:<34} {'wall s':>8} {'CPU/host ms':>12} {'peak MB':>8}")
    for name, samples in cold.items():
        wall = statistics.median(sample.wall for sample in samples)
        cpu = statistics.median(sample.cpu for sample in samples)
        peak = statistics.median(sample.peak_mb for sample in samples)
        ratios = [sample.wall / mine.wall for sample, mine in zip(samples, ours, strict=True)]
        peaks = [sample.peak_mb / mine.peak_mb for sample, mine in zip(samples, ours, strict=True)]
        spread = ""
        if len(ratios) > 1 and samples is not ours:
            spread = (
                f", {min(ratios):.2f}x to {max(ratios):.2f}x by round;"
                f" peak {min(peaks):.2f}x to {max(peaks):.2f}x by round"
            )
        elif len(samples) > 1:
            spread = (
                f"; peak {min(s.peak_mb for s in samples):.1f} to {max(s.peak_mb for s in samples):.1f} MB"
            )
        print(
            f"{name:<34} {wall:8.2f} {cpu / n * 1000:12.2f} {peak:8.1f}"
            f"   ({wall / ours_wall:.2f}x wall{spread})"
        )
    if args.skip_ticks:
        return
    print(f"\n{'tick, connections open':<34} {'wall s':>8} {'p95 to result s':>16} {'CPU/host ms':>12}")
    tick = statistics.median(ticks)
    print(f"{'one controller (daemon), median':<34} {tick:8.2f} {'':>16} {'':>12}   ({len(ticks)} measures)")
    print(
        f"{'OpenSSH ControlMaster, all at once':<34} {openssh:8.2f} {'':>16} {'':>12}"
        f"   ({openssh / ticks[0]:.2f}x the controller's tick beside it)"
    )
    for count in dict.fromkeys(result.workers for result in results):
        mine = [result for result in results if result.workers == count]
        ratios = [result.tick_wall / result.controller_tick for result in mine]
        spread = f", {min(ratios):.2f}x to {max(ratios):.2f}x" if len(mine) > 1 else ""
        label = f"{count} worker(s) + scheduler" + (f", median of {len(mine)}" if len(mine) > 1 else "")
        print(
            f"{label:<34} {statistics.median(r.tick_wall for r in mine):8.2f} "
            f"{statistics.median(r.p95 for r in mine):16.2f} "
            f"{statistics.median(r.cpu_per_host_ms for r in mine):12.2f}   "
            f"({statistics.median(ratios):.2f}x the controller's tick beside it{spread})"
        )
    for result in results:
        per = [g / c for g, c in zip(result.growth_kb, result.connections, strict=True) if c]
        print(
            f"{result.workers} worker(s): memory growth over the first tick "
            + ", ".join(
                f"{g / 1024:.1f} MB for {c} connections"
                for g, c in zip(result.growth_kb, result.connections, strict=True)
            )
            + (f" ({statistics.mean(per):.0f} KB each, imports included)" if per else "")
        )
    one = next((r for r in results if r.workers == 1), None)
    two = next((r for r in results if r.workers == 2), None)
    if one and two and one.connections[0] > max(two.connections):
        slope = (one.growth_kb[0] - statistics.mean(two.growth_kb)) / (
            one.connections[0] - statistics.mean(two.connections)
        )
        print(f"memory per open connection (slope between 1 and 2 workers): {slope:.0f} KB")


if __name__ == "__main__":
    main()
