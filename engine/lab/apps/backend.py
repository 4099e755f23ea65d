"""The lab's backend: what CoffeeStudio's FastAPI backend looks like from outside.

`GET /health` answers 200 `{"status": "ok"}` only when PostgreSQL answers, the schema is at
the migration head (the app queries the table the newest migration creates) and Redis
answers PING; otherwise 503 with the reason. `GET /metrics` serves Prometheus text
(`http_requests_total`, `http_request_duration_seconds`). On start it runs
`alembic upgrade head`, as the real backend does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry()
REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "path", "status"], registry=REGISTRY)
LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["method", "path"], registry=REGISTRY
)
NEWEST_TABLE = "roasts"
"""Created by the newest migration; querying it fails while that migration is pending."""


def health() -> tuple[int, dict[str, str]]:
    """(status code, body) of /health."""
    try:
        with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=2) as connection:
            connection.execute(f"SELECT 1 FROM {NEWEST_TABLE} LIMIT 1")
    except psycopg.errors.UndefinedTable:
        return 503, {"status": "error", "detail": "database schema is behind: pending migrations"}
    except psycopg.Error as exc:
        return 503, {"status": "error", "detail": f"database: {str(exc).strip().splitlines()[-1]}"}
    try:
        client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return 503, {"status": "error", "detail": f"redis: {exc}"}
    return 200, {"status": "ok"}


class Handler(BaseHTTPRequestHandler):
    """Routes /health, /metrics and / (a JSON greeting)."""

    def do_GET(self) -> None:
        started = time.perf_counter()
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            return  # scrapes are not requests of the API
        if path == "/health":
            status, body = health()
        elif path == "/":
            status, body = 200, {"service": "coffeestudio-backend"}
        else:
            status, body = 404, {"detail": "not found"}
        self._send(status, json.dumps(body).encode(), "application/json")
        REQUESTS.labels("GET", path, str(status)).inc()
        LATENCY.labels("GET", path).observe(time.perf_counter() - started)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"backend: {self.address_string()} {format % args}\n")


def main() -> None:
    """Migrate (like the real backend's entrypoint), then serve on :8000."""
    migrated = subprocess.run(
        [str(Path(sys.executable).with_name("alembic")), "upgrade", "head"], check=False
    )
    print(f"backend: alembic upgrade head exited {migrated.returncode}", file=sys.stderr, flush=True)
    server = ThreadingHTTPServer(("0.0.0.0", 8000), Handler)
    print("backend: serving on :8000", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
