"""A real Alertmanager (Debian's `prometheus-alertmanager`) and a Prometheus evaluating
alerting rules and sending to it, on loopback ports, for the alerts-start-runs tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers.net import free_port, wait_until


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (scripts/install-system-deps.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@contextmanager
def _process(arguments: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@contextmanager
def alerting(receiver_url: str, token: str, scrape_target: str, rules: str) -> Iterator[str]:
    """Prometheus scraping `scrape_target` (job `backend`) every 200 ms with `rules`, sending
    to an Alertmanager that posts each alert group at once to `receiver_url` with `token` as
    its bearer token. Yields Alertmanager's URL."""
    alertmanager_bin, prometheus_bin = binary("prometheus-alertmanager"), binary("prometheus")
    workdir = Path(tempfile.mkdtemp(prefix="remediate-alerting-"))
    am_port, prom_port = free_port(), free_port()
    (workdir / "alertmanager.yml").write_text(
        "route:\n  receiver: remediate\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n"
        "receivers:\n  - name: remediate\n    webhook_configs:\n"
        f"      - url: {json.dumps(receiver_url)}\n        send_resolved: true\n"
        f"        http_config:\n          authorization:\n            credentials: {json.dumps(token)}\n"
    )
    (workdir / "rules.yml").write_text(rules)
    (workdir / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n  evaluation_interval: 200ms\n"
        f"rule_files: [{json.dumps(str(workdir / 'rules.yml'))}]\n"
        f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n"
        f"scrape_configs:\n  - job_name: backend\n    static_configs:\n      - targets: ['{scrape_target}']\n"
    )
    alertmanager = [
        alertmanager_bin,
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address=",  # no gossip port: one instance
        "--log.level=error",
    ]
    prometheus = [
        prometheus_bin,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
        "--log.level=error",
    ]
    am_url = f"http://127.0.0.1:{am_port}"
    try:
        with _process(alertmanager), _process(prometheus):
            wait_until(
                lambda: urllib.request.urlopen(f"{am_url}/-/ready", timeout=2), 30, "Alertmanager ready"
            )
            wait_until(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/-/ready", timeout=2),
                30,
                "Prometheus ready",
            )
            yield am_url
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
