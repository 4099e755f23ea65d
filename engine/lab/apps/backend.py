"""The lab's backend: what CoffeeStudio's FastAPI backend looks like from outside.

`GET /health` answers 200 `{"status": "ok"}` only when PostgreSQL answers, the schema is at
the migration head (the app queries the table the newest migration creates) and Redis
answers PING; otherwise 503 with the reason. `GET /metrics` serves Prometheus text
(`http_requests_total`, `http_request_duration_seconds`). On start it runs
`alembic upgrade head`, as the real backend does.

Faults for the SLO scenarios, set in the environment: `LAB_ERROR_SHARE` (that share of the
API's answers are 500) and `LAB_SLOW_SECONDS` (each API answer is that late); `/health` is
never affected, as in a regression that leaves the service up. `LAB_TRAFFIC` (a number of
clients) makes the backend call its own API in a loop, so that the metrics have requests to
measure in any window.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
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
ERROR_SHARE = float(os.environ.get("LAB_ERROR_SHARE") or 0)
SLOW_SECONDS = float(os.environ.get("LAB_SLOW_SECONDS") or 0)
_ANSWERS = itertools.count()
_ANSWERS_LOCK = threading.Lock()


def fails_now() -> bool:
    """Whether this API answer is one of the `ERROR_SHARE` that fail: spread evenly (every
    other one at 0.5), so that any window holds the share, not a random draw of it."""
    with _ANSWERS_LOCK:
        n = next(_ANSWERS)
    return math.floor((n + 1) * ERROR_SHARE) > math.floor(n * ERROR_SHARE)


def traffic(clients: int) -> None:
    """`clients` threads calling the API in a loop, as users would."""

    def client() -> None:
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:8000/", timeout=10) as answer:
                    answer.read()
            except (urllib.error.URLError, OSError):
                pass  # a 500 is an answer too; the server not up yet is retried
            time.sleep(0.2)  # a few requests a second each: measurable, and cheap on a small machine

    for _ in range(clients):
        threading.Thread(target=client, daemon=True).start()


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
            time.sleep(SLOW_SECONDS)
            if ERROR_SHARE and fails_now():
                status, body = 500, {"detail": "internal server error"}
            else:
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
        if self.client_address[0] == "127.0.0.1":
            return  # the backend's own traffic (LAB_TRAFFIC) would drown its log
        sys.stderr.write(f"backend: {self.address_string()} {format % args}\n")


def main() -> None:
    """Migrate (like the real backend's entrypoint), then serve on :8000."""
    migrated = subprocess.run(
        [str(Path(sys.executable).with_name("alembic")), "upgrade", "head"], check=False
    )
    print(f"backend: alembic upgrade head exited {migrated.returncode}", file=sys.stderr, flush=True)
    server = ThreadingHTTPServer(("0.0.0.0", 8000), Handler)
    print("backend: serving on :8000", file=sys.stderr, flush=True)
    traffic(int(os.environ.get("LAB_TRAFFIC") or 0))
    server.serve_forever()


if __name__ == "__main__":
    main()
