"""End to end: a CoffeeStudio-like playbook (module-as-key YAML, run through the CLI) heals
real servers and containers broken all at once, in dependency order, and a second run finds
everything healthy.

Broken: PostgreSQL stopped, Redis stopped, the backend container unhealthy, the frontend
container exited, the Celery worker not answering, migrations pending, the beat container
without a memory limit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli.app import cli
from tests.servers.alembic_project import AlembicProject
from tests.servers.celery import ROOT, broker_url, ping
from tests.servers.docker import ContainerFactory, healthcheck, unique_project
from tests.servers.net import wait_until
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer

pytestmark = pytest.mark.docker


def q(value: object) -> str:
    """A YAML scalar (JSON is valid YAML)."""
    return json.dumps(str(value))


@pytest.fixture
def detached_worker(tmp_path: Path) -> Iterator[Path]:
    """Where the playbook's worker writes its pid; the worker is killed afterwards."""
    pidfile = tmp_path / "worker.pid"
    yield pidfile
    if pidfile.exists():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)


def playbook(
    tmp_path: Path,
    project: str,
    postgres: PostgresServer,
    redis: RedisServer,
    alembic: AlembicProject,
    worker_pidfile: Path,
) -> Path:
    start_worker = (
        f"cd {ROOT} && {sys.executable} -m celery -A tests.servers.celery_app worker --detach "
        f"--pool=solo -n e2e@remediate-test --pidfile={worker_pidfile} "
        f"--logfile={tmp_path / 'worker.log'} --without-gossip --without-mingle --without-heartbeat"
    )
    pg = (
        f"port: {postgres.port}, user: {postgres.user}, dbname: {alembic.dbname}, "
        f"password_env: {postgres.password_env}"
    )
    text = f"""
        name: coffeestudio-e2e
        hosts: all
        vars:
          project: {project}
        checks:
          postgres:
            severity: P0
            postgres: {{{pg}, timeout: 3s}}
            remediate:
              - name: start postgres
                command: {{cmd: {q(postgres.start_command())}}}
          redis:
            severity: P0
            redis: {{url: {q(redis.url)}, password_env: {redis.password_env}, timeout: 2s}}
            remediate:
              - name: start redis
                command: {{cmd: {q(redis.start_command())}}}
          migrations:
            depends_on: [postgres]
            alembic_current: {{{pg}, alembic_cmd: {q(alembic.command)}, timeout: 30s}}
            remediate:
              - name: alembic upgrade head
                command: {{cmd: {q(alembic.command + " upgrade head")}}}
          backend:
            depends_on: [postgres, redis, migrations]
            docker_container: {{project: "{{{{ project }}}}", service: backend}}
            # Saving logs is `ok` and the engine verifies after it too: keep that wait short.
            verify: {{within: 5s, interval: 200ms}}
            remediate:
              - docker_logs: {{project: "{{{{ project }}}}", service: backend, lines: 50}}
              - docker_restart: {{project: "{{{{ project }}}}", service: backend, stop_timeout: 2s}}
          worker:
            depends_on: [redis]
            celery_worker: {{url: {q(redis.url)}, password_env: {redis.password_env}, reply_timeout: 2s}}
            verify: {{within: 30s, interval: 500ms}}
            remediate:
              - name: start a worker
                command: {{cmd: {q(start_worker)}}}
          frontend:
            depends_on: [backend]
            docker_container: {{project: "{{{{ project }}}}", service: frontend}}
            remediate:
              - docker_start: {{project: "{{{{ project }}}}", service: frontend}}
          beat:
            depends_on: [redis]
            docker_container: {{project: "{{{{ project }}}}", service: beat, require_memory_limit: true}}
            remediate:
              - docker_update: {{project: "{{{{ project }}}}", service: beat, memory: 64m, memory_reservation: 32m}}
    """
    path = tmp_path / "coffeestudio-e2e.yml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def run(path: Path, tmp_path: Path, name: str) -> tuple[int, dict[str, str], dict[str, object]]:
    report_path = tmp_path / f"{name}.json"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(path),
            "--report",
            str(report_path),
            "--forks",
            "4",
            "--incident-dir",
            str(tmp_path / "incidents"),
            "--log-format",
            "json",
        ],
        catch_exceptions=False,
    )
    report = json.loads(report_path.read_text())
    outcomes = {node["node"]: node["outcome"] for node in report["nodes"]}
    return result.exit_code, outcomes, report


def test_a_broken_stack_is_healed_in_dependency_order_and_stays_healthy(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_db: PostgresServer,
    redis_db: RedisServer,
    alembic_project: AlembicProject,
    make_container: ContainerFactory,
    detached_worker: Path,
) -> None:
    project = unique_project()
    backend = make_container(
        "touch /tmp/ok; sleep 3600",
        compose=(project, "backend"),
        healthcheck=healthcheck("test -f /tmp/ok || (echo lost its database; exit 1)"),
    )
    frontend = make_container(compose=(project, "frontend"), mem_limit="64m")
    beat = make_container(compose=(project, "beat"))
    # The migration command and the worker get their secrets from the environment.
    monkeypatch.setenv("ALEMBIC_TEST_URL", alembic_project.url)
    monkeypatch.setenv("REMEDIATE_TEST_BROKER", broker_url(redis_db))
    monkeypatch.setenv("C_FORCE_ROOT", "1")
    path = playbook(tmp_path, project, postgres_db, redis_db, alembic_project, detached_worker)

    # Break everything.
    def backend_health() -> str:
        backend.reload()
        return str(backend.attrs["State"]["Health"]["Status"])

    wait_until(lambda: backend_health() == "healthy", 15, "backend not healthy")
    backend.exec_run(["rm", "/tmp/ok"])
    wait_until(lambda: backend_health() == "unhealthy", 15, "backend still healthy")
    frontend.stop(timeout=1)
    postgres_db.stop()
    redis_db.stop()

    try:
        exit_code, outcomes, report = run(path, tmp_path, "first")
        assert outcomes == {
            "postgres": "remediated",
            "redis": "remediated",
            "migrations": "remediated",
            "backend": "remediated",
            "worker": "remediated",
            "frontend": "remediated",
            "beat": "remediated",
        }, json.dumps([n for n in report["nodes"] if n["outcome"] != "remediated"], indent=1)
        assert exit_code == 0
        order = [node["node"] for node in report["nodes"]]
        assert order.index("postgres") < order.index("migrations") < order.index("backend")
        assert order.index("backend") < order.index("frontend")
        backend_steps = next(n for n in report["nodes"] if n["node"] == "backend")["steps"]
        saved_logs = [a for step in backend_steps for a in step.get("artifacts", [])]
        assert saved_logs and Path(saved_logs[0]).exists()

        # The world really is healed, independently of the checks.
        assert postgres_db.superuser_sql(
            "SELECT version_num FROM alembic_version", dbname=alembic_project.dbname
        ) == [("2b3c4d5e6f70",)]
        assert redis_db._answers()
        assert ping(redis_db) == ["e2e@remediate-test"]
        beat.reload()
        assert beat.attrs["HostConfig"]["Memory"] == 64 * 1024 * 1024

        second_code, second, _ = run(path, tmp_path, "second")
        assert set(second.values()) == {"healthy"}
        assert second_code == 0
    finally:
        redis_db.stop()  # the playbook's redis runs daemonized
