"""Real Celery worker processes on the Redis fixture as broker, started and killed by tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.net import wait_until
from tests.servers.redis import RedisServer

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CeleryWorker:
    name: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def broker_url(server: RedisServer) -> str:
    return f"redis://:{server.password}@127.0.0.1:{server.port}/0"


def ping(server: RedisServer, timeout: float = 1.0) -> list[str]:
    """Names of the workers answering a ping (test assertions, independent of the check)."""
    from celery import Celery

    app = Celery("remediate-test-ping", broker=broker_url(server), set_as_current=False)
    app.control.mailbox._producer_pool = None  # no process-wide pool: tests restart Redis
    try:
        with app.connection_for_write() as connection:
            replies = app.control.ping(timeout=timeout, connection=connection)
        return sorted(name for reply in replies for name in reply)
    finally:
        app.close()


def start_worker(server: RedisServer, name: str) -> subprocess.Popen[bytes]:
    """Starts `celery worker` for tests.servers.celery_app in its own process group."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.servers.celery_app",
            "worker",
            "--pool=solo",
            "-n",
            name,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env={**os.environ, "REMEDIATE_TEST_BROKER": broker_url(server), "C_FORCE_ROOT": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.fixture
def celery_worker(redis_db: RedisServer) -> Iterator[Callable[[], CeleryWorker]]:
    """Starts a worker on the Redis fixture and waits until it answers pings; every worker
    is killed after the test."""
    workers: list[CeleryWorker] = []

    def start() -> CeleryWorker:
        name = f"stack-{uuid.uuid4().hex[:6]}@remediate-test"
        worker = CeleryWorker(name, start_worker(redis_db, name))
        workers.append(worker)
        wait_until(lambda: name in ping(redis_db), 30, f"worker {name} did not answer pings")
        return worker

    yield start
    for worker in workers:
        worker.kill()
