"""A local HTTP server serving Prometheus text produced by prometheus_client, like the
backend's /metrics: request counter by status, latency histogram, resident memory."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.support.http_server import LoopbackHTTPServer

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class MetricsApp:
    """The metrics a fake backend exposes, and what the test makes it do between scrapes."""

    registry: Any
    requests: Any
    latency: Any
    memory: Any
    on_scrape: Callable[[], None] | None = None
    """Runs before every scrape: traffic arriving between two scrapes."""
    status: int = 200
    body_override: str | None = None
    url: str = ""
    scrapes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, count: int, status: str = "200", seconds: float = 0.05) -> None:
        """Record `count` requests answered with `status` in `seconds` each."""
        for _ in range(count):
            self.requests.labels(method="GET", status=status).inc()
            self.latency.labels(method="GET").observe(seconds)


def _new_app() -> MetricsApp:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry()
    return MetricsApp(
        registry=registry,
        requests=Counter("http_requests_total", "requests", ["method", "status"], registry=registry),
        latency=Histogram(
            "http_request_duration_seconds", "latency", ["method"], buckets=BUCKETS, registry=registry
        ),
        memory=Gauge("process_resident_memory_bytes", "RSS", registry=registry),
    )


def _handler(app: MetricsApp) -> type[BaseHTTPRequestHandler]:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with app.lock:
                app.scrapes += 1
                if app.on_scrape is not None:
                    app.on_scrape()
                body = (
                    app.body_override.encode()
                    if app.body_override is not None
                    else generate_latest(app.registry)
                )
            self.send_response(app.status)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


def serve_metrics(app: MetricsApp) -> Iterator[MetricsApp]:
    server = LoopbackHTTPServer(("127.0.0.1", 0), _handler(app))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def metrics_app() -> Iterator[MetricsApp]:
    """A fresh metrics endpoint per test."""
    yield from serve_metrics(_new_app())


@pytest.fixture(scope="session")
def scraped_metrics_app() -> Iterator[MetricsApp]:
    """A metrics endpoint for the session's Prometheus to scrape."""
    yield from serve_metrics(_new_app())
