"""A real Prometheus server (Debian's `prometheus` package) scraping the session's metrics
endpoint every 200ms, for prometheus_query tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.metrics import MetricsApp
from tests.servers.net import free_port, wait_until


@dataclass
class PrometheusServer:
    url: str

    def query(self, promql: str) -> list[dict[str, object]]:
        """The result of an instant query (test assertions)."""
        address = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(address, timeout=5) as response:
            result: list[dict[str, object]] = json.load(response)["data"]["result"]
            return result


@pytest.fixture(scope="session")
def prometheus(scraped_metrics_app: MetricsApp) -> Iterator[PrometheusServer]:
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is not installed (scripts/install-system-deps.sh installs it)")
        pytest.skip("prometheus is not installed (scripts/install-system-deps.sh installs it)")
    workdir = Path(tempfile.mkdtemp(prefix="remediate-stack-prom-"))
    target = urllib.parse.urlsplit(scraped_metrics_app.url).netloc
    (workdir / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n"
        "scrape_configs:\n  - job_name: backend\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = PrometheusServer(f"http://127.0.0.1:{port}")
    try:
        wait_until(
            lambda: server.query('up{job="backend"} == 1'), 30, "Prometheus did not scrape the backend"
        )
        yield server
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
