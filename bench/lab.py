"""Lab benchmark, run by hand: `.venv/bin/python bench/lab.py [--repeat N] [SCENARIO...]`.

Brings up a lab of its own (a random project name; needs the Docker engine, PostgreSQL,
Redis and busybox-static, like `remediate lab up`), then for each runbook scenario: reset
the lab to healthy, break it, and time `remediate run` with the bundled playbook. Prints,
per scenario, the time from the start of the run until the root-cause node was verified
healthy, and until the whole run ended (every node checked, dependents restarted where the
playbook says). Asserts nothing: the machine is shared, the figures are noisy.

Playbook variables: the lab's ports and project, plus the short bounds the tests use
(metrics windows of 1s, worker ping of 1s, verify within 5s); the runbook's own 30s bounds
for waiting on restarted services are unchanged unless `--wait-timeout` says otherwise.

The bad deploy (`bad-deploy`: `remediate lab deploy-broken backend` after a run recorded the
healthy version) is measured against a bare "recreate the backend from the old image and
poll /health" in the same run, and the ratio printed: the engine first checks postgres and
redis, then climbs restart, wait, rebuild and wait (the waits give up as soon as the
container exited; the rebuild fails at once without a compose file) before its rollback.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.lab.scenarios import SCENARIOS, break_lab  # noqa: E402
from engine.lab.stack import Lab, Overrides  # noqa: E402

REMEDIATE = str(Path(sys.executable).parent / "remediate")
FAST = {"slo_window": "1s", "celery_reply_timeout": "1s", "verify_within": "5s", "check_timeout": "10s"}
ROOT_CAUSE = {
    "postgres-stopped": "postgres",
    "redis-stopped": "redis",
    "backend-crashed": "backend",
    "pending-migration": "backend",
    "frontend-down": "frontend",
    "worker-killed": "worker",
    "beat-killed": "beat",
    "memory-limit-missing": "memory_backend",
    "jwt-secret-short": "jwt_secret",
    "slo-breach": "backend_errors",
    "cors-mismatch": "backend_cors",
    "bad-deploy": "backend",
}
BAD_DEPLOY = "bad-deploy"


def run_remediate(lab: Lab, workdir: Path, state: Path, report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [REMEDIATE, "run", "-e", json.dumps({**lab.variables(), **FAST}), "--log-format", "json",
         "--report", str(report), "--incident-dir", str(workdir / "incidents"), "--state", str(state)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def heal_once(lab: Lab, scenario: str, workdir: Path) -> tuple[float, float, int]:
    """(seconds to the root cause verified, seconds for the whole run, exit status)."""
    lab.reset()
    state = workdir / f"{scenario}-{uuid.uuid4().hex[:6]}.db"
    if scenario == BAD_DEPLOY:
        run_remediate(lab, workdir, state, workdir / "recorded.json")  # records the healthy version
        lab.deploy_broken("backend")
    else:
        break_lab(lab, scenario)
    report = workdir / f"{scenario}-{uuid.uuid4().hex[:6]}.json"
    completed = run_remediate(lab, workdir, state, report)
    events = [json.loads(line) for line in completed.stderr.splitlines() if line.startswith("{")]
    started = _time(next(e for e in events if e["event"] == "run started"))
    root = ROOT_CAUSE[scenario]
    settled = _time(next(e for e in events if e["event"] == "node" and e["node"] == root))
    data = json.loads(report.read_text())
    return settled - started, data["duration_ms"] / 1000, completed.returncode


def bare_redeploy(lab: Lab) -> float:
    """Seconds for a bare "recreate the backend from the old image and poll /health", from
    the bad deploy's state (what an operator's script would do, knowing the good image)."""
    lab.reset()
    lab.deploy_broken("backend")
    started = time.monotonic()
    lab.tag_good_image("backend")
    lab.recreate("backend", Overrides())
    url = f"http://127.0.0.1:{lab.ports.backend}/health"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if b'"ok"' in answer.read():
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.05)


def _time(event: dict[str, str]) -> float:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=[*SCENARIOS, BAD_DEPLOY])
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario (medians are printed)")
    parser.add_argument("--wait-timeout", help="the playbook's wait_timeout (the runbook's 30s by default)")
    args = parser.parse_args()
    if args.wait_timeout:
        FAST["wait_timeout"] = args.wait_timeout
    lab = Lab(f"coffeestudio-lab-bench-{uuid.uuid4().hex[:6]}")
    started = time.monotonic()
    try:
        lab.up()
        print(f"lab up (cold, image cached): {time.monotonic() - started:.1f} s\n")
        print(f"{'scenario':22} {'root cause':15} {'root verified':>14} {'whole run':>10}  exit")
        with tempfile.TemporaryDirectory() as directory:
            for scenario in args.scenarios:
                runs = [heal_once(lab, scenario, Path(directory)) for _ in range(args.repeat)]
                root = statistics.median(r[0] for r in runs)
                whole = statistics.median(r[1] for r in runs)
                codes = ",".join(str(r[2]) for r in runs)
                print(
                    f"{scenario:22} {ROOT_CAUSE[scenario]:15} {root:13.1f}s {whole:9.1f}s  {codes}",
                    flush=True,
                )
                if scenario == BAD_DEPLOY:
                    bare = statistics.median(bare_redeploy(lab) for _ in range(args.repeat))
                    print(
                        f"{'':22} bare: recreate from the old image, poll: {bare:.1f}s; "
                        f"ratio {root / bare:.1f}x"
                    )
    finally:
        lab.down()


if __name__ == "__main__":
    main()
