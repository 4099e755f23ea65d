"""Engine benchmarks, run by hand: `.venv/bin/python bench/engine.py`. Prints figures; asserts
nothing (the machines are shared and noisy: compare the ratios printed, not the seconds).

(a) 1,000 no-op nodes in a wide and a deep graph: engine time per node over the bare cost of
    calling the checks, and peak memory of the process.
(b) two independent chains of three 200 ms checks: wall time over the critical path (0.6 s).
(c) start-up: `remediate --help` and `remediate validate`, medians, against `python -c pass`.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
REMEDIATE = str(Path(PYTHON).parent / "remediate")

# Runs in a fresh process per scenario, so that peak memory belongs to that scenario alone.
SCENARIO = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from checks.base import Check
from engine.core.registry import check_type
from engine.core.results import CheckResult

@check_type("noop")
class Noop(Check):
    def probe(self, ctx):
        return CheckResult.healthy()

@check_type("pause")
class Pause(Check):
    seconds: float = 0.2
    def probe(self, ctx):
        time.sleep(self.seconds)
        return CheckResult.healthy()

from engine.core.planning import plan_run
from engine.core.runner import Runner, RunSettings
from inventory import Inventory

playbook, forks = sys.argv[2], int(sys.argv[3])
base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
plan = plan_run(playbook, Inventory.localhost())
planned = time.perf_counter()
report = Runner(plan, RunSettings(forks=forks)).run()
finished = time.perf_counter()
context = None
bare_started = time.perf_counter()
for spec in plan.specs.values():
    spec.check.probe(context)
bare = time.perf_counter() - bare_started
print(json.dumps({
    "nodes": len(report.nodes), "healthy": report.counts.get("healthy", 0),
    "plan_s": planned - started, "run_s": finished - planned, "bare_s": bare,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "base_rss_mb": base_rss / 1024,
}))
"""


def write(directory: Path, name: str, nodes: dict[str, str]) -> Path:
    path = directory / f"{name}.yml"
    path.write_text(f"name: {name}\nchecks:\n" + "".join(f"  {n}: {body}\n" for n, body in nodes.items()))
    return path


def scenario(directory: Path, playbook: Path, forks: int) -> dict[str, float]:
    script = directory / "scenario.py"
    script.write_text(SCENARIO)
    output = subprocess.run(
        [PYTHON, str(script), str(ROOT), str(playbook), str(forks)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(output.stdout)
    return figures


def timed(command: list[str], runs: int = 9) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        print("(a) 1,000 no-op nodes")
        wide = write(directory, "wide", {f"n{i}": "{noop: {}}" for i in range(1000)})
        deep = write(
            directory,
            "deep",
            {f"n{i}": "{noop: {}" + (f", depends_on: [n{i - 1}]" if i else "") + "}" for i in range(1000)},
        )
        for name, playbook in (("wide", wide), ("deep", deep)):
            figures = scenario(directory, playbook, forks=10)
            overhead_ms = (figures["run_s"] - figures["bare_s"]) / figures["nodes"] * 1000
            print(
                f"  {name}: run {figures['run_s']:.3f}s for {figures['nodes']:.0f} nodes "
                f"({figures['healthy']:.0f} healthy), engine overhead {overhead_ms:.3f} ms/node "
                f"(target < 1 ms); validate+plan {figures['plan_s']:.3f}s; "
                f"peak RSS {figures['peak_rss_mb']:.0f} MB (after imports {figures['base_rss_mb']:.0f} MB)"
            )

        print("(b) two independent chains of three 200 ms checks")
        chains = {}
        for chain in ("a", "b"):
            for step in range(3):
                after = f", depends_on: [{chain}{step - 1}]" if step else ""
                chains[f"{chain}{step}"] = "{pause: {seconds: 0.2}" + after + "}"
        figures = scenario(directory, write(directory, "chains", chains), forks=4)
        print(
            f"  wall {figures['run_s']:.3f}s over critical path 0.600s: "
            f"ratio {figures['run_s'] / 0.6:.3f} (target <= 1.15)"
        )

        print("(c) start-up, medians of 9")
        demo = str(ROOT / "tests" / "playbooks" / "demo.yml")
        variables = "api_port=1 db_port=2 web_port=3 start_db=a restart_api=b restart_web=c"
        floor = timed([PYTHON, "-c", "pass"])
        help_s = timed([REMEDIATE, "--help"])
        validate_s = timed([REMEDIATE, "validate", demo, "-e", variables])
        print(f"  python -c pass: {floor:.3f}s (lower bound)")
        print(
            f"  remediate --help: {help_s:.3f}s ({help_s / floor:.1f}x the bare interpreter; target < 0.2 s)"
        )
        print(f"  remediate validate: {validate_s:.3f}s ({validate_s / floor:.1f}x; target < 0.2 s)")
        print(f"  max RSS of this driver: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
