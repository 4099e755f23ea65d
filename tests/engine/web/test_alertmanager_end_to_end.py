"""Alerts start runs, end to end on loopback: Prometheus scrapes a test service with the
runbook's ServiceDown rule (a short `for:`), Alertmanager posts to the daemon's hook, and
the daemon heals the service long before its one-hour interval would have come round."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from engine.unattended.state import open_store
from tests.engine.unattended.test_daemon import eventually, runs, stop
from tests.servers.alertmanager import alerting
from tests.support.cli import start
from tests.support.playbooks import write_playbook
from tests.support.services import free_port
from tests.support.web import HOOK_TOKEN

pytestmark = pytest.mark.slow

RULES = """
groups:
  - name: runbook
    rules:
      - alert: ServiceDown
        expr: up{job="backend"} == 0
        for: 0s
        labels: {severity: critical}
"""


def serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_service_down_fires_alertmanager_posts_and_the_daemon_heals_the_service_at_once(
    tmp_path: Path,
) -> None:
    service_port, daemon_port = free_port(), free_port()
    site = tmp_path / "site"
    site.mkdir()
    (site / "metrics").write_text("backend_up 1\n")
    pidfile = tmp_path / "service.pid"
    serve = (
        f"setsid {sys.executable} -m http.server {service_port} --bind 127.0.0.1 --directory {site} "
        f"</dev/null >/dev/null 2>&1 & echo $! > {pidfile}"
    )
    subprocess.run(["sh", "-c", serve], check=True)
    eventually(lambda: serving(service_port), "the service answers")
    state = tmp_path / "state.db"
    book = write_playbook(
        tmp_path,
        f"""
        name: alerted
        checks:
          backend:
            http: {{url: "http://127.0.0.1:{service_port}/metrics", status: 200, timeout: 1s}}
            remediate:
              - command: {{cmd: "{serve}"}}
              - wait: {{timeout: 10s}}
        alerts:
          - match: {{alertname: ServiceDown, job: backend}}
            nodes: [backend]
        """,
    )
    hook = f"http://127.0.0.1:{daemon_port}/hooks/alertmanager"
    daemon = start(
        "daemon", book, "--interval", "1h", "--listen", f"127.0.0.1:{daemon_port}",
        state=state, cwd=tmp_path, REMEDIATE_HOOK_TOKEN=HOOK_TOKEN,
    )  # fmt: skip
    try:
        with alerting(hook, HOOK_TOKEN, f"127.0.0.1:{service_port}", RULES):
            eventually(lambda: runs(state) >= 1, "the daemon's first run")
            subprocess.run(["kill", pidfile.read_text().strip()], check=True)
            eventually(lambda: not serving(service_port), "the service stopped")
            eventually(lambda: serving(service_port), "the service healed", timeout=120)
            eventually(lambda: runs(state) >= 2, "the alert's run recorded")
        store = open_store(str(state))
        [alerted] = [r for r in store.runs() if r.trigger == "alert"]
        outcomes = [(e.kind, e.outcome) for e in store.history(node="backend") if e.run_id == alerted.run_id]
        store.close()
        # The restart, then the wait when the service was not answering yet at once, healed it.
        assert outcomes in (
            [("action", "changed"), ("node", "remediated")],
            [("action", "changed"), ("action", "ok"), ("node", "remediated")],
        )
    finally:
        stop(daemon)
        if pidfile.exists():
            subprocess.run(["kill", pidfile.read_text().strip()], check=False)
