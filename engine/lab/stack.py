"""A CoffeeStudio-shaped stack on the local Docker engine, for trying and testing remediate.

Six containers, labelled as docker compose labels them (project and service), on their own
bridge network where each answers to its service name, wired as the real stack: postgres,
redis, backend (needs both), worker and beat (Celery on redis), frontend (needs the
backend). Ports are published on 127.0.0.1 only.

No image registry is needed: the image is a `docker import` of a root filesystem holding
a static busybox, tagged per service as compose tags the images it builds
(``PROJECT-SERVICE:latest``, so a bad deploy can re-point one service's tag: `deploy_broken`),
and the host's `/usr` (PostgreSQL, Redis, libraries) and Python (the interpreter and the
virtual environment remediate runs in, with celery, psycopg, redis, alembic,
prometheus_client) are bind-mounted read-only at their own paths. So the servers are the
real ones, the containers are small, and nothing is downloaded.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import hashlib
import io
import json
import os
import pwd
import secrets
import shutil
import socket
import sys
import tarfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.clients.docker import PROJECT_LABEL, SERVICE_LABEL
from engine.errors import LabError
from engine.lab import DEFAULT_PROJECT

if TYPE_CHECKING:
    import redis
    from docker import DockerClient
    from docker.models.containers import Container
    from docker.models.networks import Network

IMAGE = "remediate-lab/base:1"
LAB_LABEL = "remediate.lab"
SPEC_LABEL = "remediate.lab.spec"
PORTS_LABEL = "remediate.lab.ports"
BROKEN_LABEL = "remediate.lab.broken"
"""On an image `deploy_broken` built: the lab project it was built for (`down` removes it).
Not `LAB_LABEL`: a label a container inherits from its image is not its own (a rollback
leaves it to the image it goes back to)."""
BROKEN_EXIT = 3
"""How a container of a broken image exits, at once."""

SERVICES = ("postgres", "redis", "backend", "worker", "beat", "frontend")
"""In start order: every service comes after what it needs."""
MEMORY_LIMIT = "256M"
MEMORY_RESERVATION = "128M"
"""Every lab container's limits; the playbook's memory fix is given the same (as vars)."""
DB = "coffeestudio"
HEAD_REVISION = "0002_roasts"
"""The newest migration of the lab backend (apps/migrations/versions)."""
MIGRATED_REVISION = "0003_bad_deploy"
"""The revision a bad deploy `after_migration` leaves the database at: the new release's
migration ran (its revision is unknown to the lab's good code), then its process failed."""
APPS = Path(__file__).resolve().parent / "apps"
APPS_MOUNT = "/srv/coffeestudio"
QUEUE = "celery"
"""Celery's default queue: a Redis list the worker takes tasks from (the playbook's
`worker_queue` node measures its length)."""
UNACKED = "unacked"
"""kombu's Redis hash of the messages a worker took and has not acknowledged yet."""
STARTED_KEY = "lab:orders-started"
"""The Redis set the lab worker's `brew` task adds its order to when it starts (named in
apps/celery_app.py too, which cannot be imported here)."""
BREW_TASK = "celery_app.brew"


@dataclass(frozen=True)
class Ports:
    """Host ports (on 127.0.0.1) of the published services."""

    postgres: int
    redis: int
    backend: int
    frontend: int

    @classmethod
    def free(cls) -> Ports:
        return cls(*(_free_port() for _ in range(4)))


@dataclass(frozen=True)
class QueueCensus:
    """Where the lab's orders (`pile_up`) are in Redis: still waiting in the queue, taken by a
    worker but not acknowledged, or started. An order in none of them was deleted."""

    length: int
    """The queue's length (LLEN, what the playbook measures), beat's tasks included."""
    waiting: frozenset[int]
    reserved: frozenset[int]
    started: frozenset[int]

    @property
    def kept(self) -> frozenset[int]:
        """Every order that is waiting, reserved or started: none was deleted."""
        return self.waiting | self.reserved | self.started


@dataclass(frozen=True)
class Overrides:
    """How a scenario wants a service's container different from the healthy lab."""

    environment: tuple[tuple[str, str], ...] = ()
    no_memory_limit: bool = False

    def __or__(self, other: Overrides) -> Overrides:
        """Both scenarios' changes at once (`lab break` of several scenarios)."""
        return Overrides(self.environment + other.environment, self.no_memory_limit or other.no_memory_limit)


class Lab:
    """One lab (a compose project name) on the local Docker engine.

    `up()` builds what is missing and waits until the stack is healthy; `reset()` brings a
    broken lab back to that state quickly (recreating only containers whose configuration
    a scenario changed); `down()` removes everything of the project.
    """

    def __init__(self, project: str = DEFAULT_PROJECT, client: DockerClient | None = None) -> None:
        if client is None:
            import docker

            client = docker.from_env(timeout=60)
        self.client = client
        self.project = project
        self._ports: Ports | None = None
        self._jwt_secret: str | None = None

    # --- what the playbook needs to know ----------------------------------------------

    @property
    def ports(self) -> Ports:
        if self._ports is None:
            self._load()
        assert self._ports is not None
        return self._ports

    @property
    def network_name(self) -> str:
        return f"{self.project}_default"

    def variables(self) -> dict[str, Any]:
        """Playbook variables that point the bundled CoffeeStudio playbook at this lab."""
        ports = self.ports
        return {
            "project": self.project,
            "backend_port": ports.backend,
            "frontend_port": ports.frontend,
            "redis_port": ports.redis,
            "frontend_origin": f"http://127.0.0.1:{ports.frontend}",
            "api_url": f"http://127.0.0.1:{ports.backend}",
            "memory_limit": MEMORY_LIMIT,
            "memory_reservation": MEMORY_RESERVATION,
        }

    # --- lifecycle -----------------------------------------------------------------------

    def up(self, timeout: float = 120.0) -> None:
        """Create whatever is missing, start everything, wait until healthy."""
        self._ensure_image()
        network = self._ensure_network()
        self._ports = Ports(**json.loads(network.attrs["Labels"][PORTS_LABEL]))
        self.reset(timeout)

    def reset(self, timeout: float = 120.0) -> None:
        """Back to healthy: recreate containers whose configuration differs from the lab's
        (a scenario removed a limit, shortened a secret), start stopped ones, apply pending
        migrations, then wait until every service answers."""
        for service in SERVICES:
            self.tag_good_image(service)
            self._ensure_container(service, Overrides())
        self._remove_broken_images(dangling_only=True)
        self._migrate()
        self.wait_healthy(timeout)
        self._clear_queue()

    def deploy_broken(self, service: str, after_migration: bool = False) -> str:
        """A bad deploy: build an image of `service` whose process fails at start (its
        entrypoint exits with `BROKEN_EXIT`), tag it as the service's image and recreate the
        service's container from it, as `docker compose up -d` after a build would. The
        container keeps its configuration; only the image changed. With `after_migration`
        (the backend only) the release's migration ran first: the database is at
        `MIGRATED_REVISION`, so going back to the old code would run it on a newer schema.
        `reset` goes back to the good image and revision."""
        if service not in SERVICES:
            raise LabError(f"unknown service {service!r}; services: {', '.join(SERVICES)}")
        if after_migration and service != "backend":
            raise LabError(f"only the backend migrates the database, not {service}")
        repository, tag = self.service_image(service).rsplit(":", 1)
        builder = self.client.containers.create(IMAGE, command=["true"])
        try:
            fails = json.dumps(
                ["sh", "-c", f"echo 'bad build: {service} cannot start' >&2; exit {BROKEN_EXIT}"]
            )
            # A new image ID every time (its creation time differs): a rollback can tell it
            # from the good one.
            image = builder.commit(
                repository=repository,
                tag=tag,
                changes=[f"ENTRYPOINT {fails}", f"LABEL {BROKEN_LABEL}={self.project}"],
            )
        finally:
            builder.remove(force=True)
        if after_migration:
            self._stamp(MIGRATED_REVISION)
        container = self._ensure_container(service, Overrides())
        container.wait(timeout=30)
        migrated = f" after migrating the database to {MIGRATED_REVISION}" if after_migration else ""
        return (
            f"deployed a broken {service} image ({image.short_id.removeprefix('sha256:')}, tagged "
            f"{self.service_image(service)}){migrated}: its container exits with {BROKEN_EXIT} at start"
        )

    def service_image(self, service: str) -> str:
        """The image reference a service's container is created from (compose's name for
        the image it builds for a service)."""
        return f"{self.project}-{service}:latest"

    def tag_good_image(self, service: str) -> None:
        """Point the service's tag at the lab's good image again (what `reset` does first)."""
        repository, tag = self.service_image(service).rsplit(":", 1)
        self.client.images.get(IMAGE).tag(repository, tag)

    def _remove_broken_images(self, dangling_only: bool) -> None:
        filters: dict[str, Any] = {"label": f"{BROKEN_LABEL}={self.project}"}
        if dangling_only:
            filters["dangling"] = True
        for image in self.client.images.list(filters=filters):
            with contextlib.suppress(Exception):  # still used by a container: the next reset
                self.client.images.remove(image.id, force=True)

    def down(self) -> None:
        """Remove the project's containers and network (the image stays, it is shared)."""
        for container in self._containers():
            with contextlib.suppress(Exception):
                container.remove(force=True)
        for network in self._networks():
            with contextlib.suppress(Exception):
                network.remove()
        for service in SERVICES:
            with contextlib.suppress(Exception):  # only the tag goes: the base image is shared
                self.client.images.remove(self.service_image(service))
        self._remove_broken_images(dangling_only=False)

    def _networks(self) -> list[Network]:
        """The lab's network (Docker's name filter also matches longer names: other labs')."""
        found = self.client.networks.list(names=[self.network_name])
        return [network for network in found if network.name == self.network_name]

    # --- containers ---------------------------------------------------------------------

    def container(self, service: str) -> Container:
        """The service's container (raises LabError when the lab has none)."""
        found = self._containers(service)
        if not found:
            raise LabError(f"{self.project} has no {service} container (run `remediate lab up`)")
        return found[0]

    def recreate(self, service: str, overrides: Overrides) -> Container:
        """Replace the service's container by one with `overrides` (what `docker compose up`
        does after an edit of the compose file or .env) and start it."""
        return self._ensure_container(service, overrides)

    def exec(self, service: str, command: str, timeout: float = 60.0) -> tuple[int, str]:
        """Run a shell command in the service's container: (exit code, output)."""
        from engine.clients.docker import exec_in_container

        code, output = exec_in_container(
            self.client, self.container(service), command, time.monotonic() + timeout, workdir=APPS_MOUNT
        )
        if code is None:
            raise LabError(f"`{command}` in {service} did not finish within {timeout:g}s")
        return code, output

    def _containers(self, service: str | None = None) -> list[Container]:
        labels = [f"{PROJECT_LABEL}={self.project}", f"{LAB_LABEL}={self.project}"]
        if service is not None:
            labels.append(f"{SERVICE_LABEL}={service}")
        return list(self.client.containers.list(all=True, filters={"label": labels}))

    def _ensure_container(self, service: str, overrides: Overrides) -> Container:
        spec = self._spec(service, overrides)
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        existing = self._containers(service)
        image = self.service_image(service)
        image_id = self.client.images.get(image).id
        if existing and existing[0].labels.get(SPEC_LABEL) == digest:
            container = existing[0]
            container.reload()
            # A container of another image (a bad deploy, or a rollback away from it) is
            # replaced: the lab's service runs its tagged image.
            if container.attrs["Image"] == image_id:
                if not container.attrs["State"].get("Running"):
                    container.start()
                return container
        for old in existing:
            old.remove(force=True)
        labels = {
            PROJECT_LABEL: self.project,
            SERVICE_LABEL: service,
            "com.docker.compose.container-number": "1",
            LAB_LABEL: self.project,
            SPEC_LABEL: digest,
        }
        container = self.client.containers.create(
            image,
            name=f"{self.project}-{service}-1",
            hostname=service,
            labels=labels,
            network=self.network_name,
            init=True,  # docker-init forwards signals: stops take no grace period
            **spec,
        )
        # The service name is the container's address on the network, as in compose.
        network = self.client.networks.get(self.network_name)
        network.disconnect(container)
        network.connect(container, aliases=[service])
        container.start()
        return container

    def _spec(self, service: str, overrides: Overrides) -> dict[str, Any]:
        """containers.create arguments of a service (besides name, labels, network)."""
        ports = self.ports
        python = Path(sys.executable)
        venv_bin = str(Path(sys.prefix) / "bin")
        pg_bin = _postgres_bindir()
        environment = {
            "PATH": f"/bin:{venv_bin}:{pg_bin}:/usr/bin:/usr/sbin",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": APPS_MOUNT,
            "HOME": "/tmp",
            "DATABASE_URL": f"postgresql://{DB}@postgres:5432/{DB}",
            "REDIS_URL": "redis://redis:6379/0",
        }
        spec: dict[str, Any] = {
            "volumes": self._mounts(),
            "working_dir": APPS_MOUNT,
            "mem_limit": MEMORY_LIMIT,
            "memswap_limit": "512M",
            "mem_reservation": MEMORY_RESERVATION,
        }
        if service == "postgres":
            spec["user"] = f"{_postgres_uid()[0]}:{_postgres_uid()[1]}"
            spec["stop_signal"] = "SIGINT"  # PostgreSQL's fast shutdown, as its image sets
            spec["ports"] = {"5432/tcp": ("127.0.0.1", ports.postgres)}
            spec["command"] = ["sh", "-c", _POSTGRES_START]
        elif service == "redis":
            spec["ports"] = {"6379/tcp": ("127.0.0.1", ports.redis)}
            spec["command"] = [
                "redis-server", "--bind", "0.0.0.0", "--port", "6379", "--protected-mode", "no",
                "--save", "", "--appendonly", "no",
            ]  # fmt: skip
        elif service == "backend":
            environment["JWT_SECRET"] = self.jwt_secret()
            environment["CORS_ORIGINS"] = f"http://127.0.0.1:{ports.frontend},http://localhost:3000"
            spec["ports"] = {"8000/tcp": ("127.0.0.1", ports.backend)}
            spec["command"] = [str(python), f"{APPS_MOUNT}/backend.py"]
        elif service == "worker":
            # A thread pool, not solo: the worker answers ping while a task runs, as the
            # stack's prefork worker does (a solo worker reads its mailbox between tasks only,
            # so a backlog of slow tasks would look like a dead worker).
            spec["command"] = [
                str(python), "-m", "celery", "-A", "celery_app", "worker", "--pool=threads",
                "--concurrency=1",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "-n", "worker@%h", "--loglevel=INFO",
            ]  # fmt: skip
        elif service == "beat":
            spec["command"] = [
                str(python), "-m", "celery", "-A", "celery_app", "beat",
                "--schedule", "/tmp/celerybeat-schedule", "--loglevel=INFO",
            ]  # fmt: skip
        elif service == "frontend":
            environment["NEXT_PUBLIC_API_URL"] = f"http://127.0.0.1:{ports.backend}"
            spec["ports"] = {"3000/tcp": ("127.0.0.1", ports.frontend)}
            spec["command"] = [str(python), f"{APPS_MOUNT}/frontend.py"]
        else:
            raise LabError(f"unknown service {service!r}; services: {', '.join(SERVICES)}")
        environment.update(dict(overrides.environment))
        spec["environment"] = environment
        if overrides.no_memory_limit:
            for key in ("mem_limit", "memswap_limit", "mem_reservation"):
                spec.pop(key)
        return spec

    def _mounts(self) -> dict[str, dict[str, str]]:
        """Read-only bind mounts of the host's /usr, the Python remediate runs with and the
        lab's applications, each at its own path (so shebangs and rpaths keep working)."""
        paths = {"/usr"}
        for directory in ("/lib", "/lib64"):
            if os.path.isdir(directory) and not os.path.islink(directory):
                paths.add(directory)  # not merged into /usr on this host
        for prefix in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))):
            if not prefix.startswith("/usr/"):
                paths.add(prefix)
        # A path inside another one is already there.
        outer = [p for p in paths if not any(p.startswith(o + "/") for o in paths if o != p)]
        mounts = {path: {"bind": path, "mode": "ro"} for path in sorted(outer)}
        mounts[str(APPS)] = {"bind": APPS_MOUNT, "mode": "ro"}
        return mounts

    def jwt_secret(self) -> str:
        """The backend's JWT_SECRET: 48 random characters, the same for the lab's lifetime
        (kept in the network's labels, so that recreating the backend keeps it)."""
        if self._jwt_secret is None:
            self._load()
        assert self._jwt_secret is not None
        return self._jwt_secret

    def _migrate(self) -> None:
        # A freshly started backend migrates too (as the real one does on start): two
        # concurrent `alembic upgrade head` can collide creating the same table, and then
        # one of them has done the work. So: done when at head, else try again.
        output = ""
        for _ in range(3):
            if self._revision() == MIGRATED_REVISION:
                self._stamp(HEAD_REVISION)  # the bad release's migration changed nothing else
            if self._revision() == HEAD_REVISION:
                return
            code, output = self.exec("backend", "alembic upgrade head")
            if code == 0:
                return
            time.sleep(1.0)
        raise LabError(f"alembic upgrade head failed in the backend: {output.strip()[-500:]}")

    def _stamp(self, revision: str) -> None:
        """Set the database's alembic revision (what `alembic stamp` does)."""
        import psycopg

        try:
            with psycopg.connect(
                host="127.0.0.1", port=self.ports.postgres, user=DB, dbname=DB, connect_timeout=3
            ) as connection:
                connection.execute("UPDATE alembic_version SET version_num = %s", (revision,))
        except psycopg.Error as exc:
            raise LabError(f"cannot set the database's alembic revision to {revision}: {exc}") from exc

    def _revision(self) -> str | None:
        import psycopg

        try:
            with psycopg.connect(
                host="127.0.0.1", port=self.ports.postgres, user=DB, dbname=DB, connect_timeout=3
            ) as connection:
                row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except psycopg.Error:
            return None
        return str(row[0]) if row else None

    # --- the Celery queue ---------------------------------------------------------------

    def pile_up(self, orders: int, seconds: float) -> None:
        """Send `orders` tasks (orders 0 to orders-1) to the worker's queue through the lab's
        Redis, as the backend does, each taking `seconds` to work off."""
        from celery import Celery

        app = Celery("lab-orders", broker=self._redis_url(), set_as_current=False)
        app.conf.update(broker_connection_retry=False, broker_connection_timeout=3)
        try:
            with app.producer_or_acquire() as producer:
                for order in range(orders):
                    app.send_task(BREW_TASK, args=(order, seconds), queue=QUEUE, producer=producer)
        finally:
            app.close()

    def queue_census(self) -> QueueCensus:
        """Where the orders are (see `QueueCensus`); read while no worker runs to be exact
        (a worker holds a message it just took for a moment before recording it)."""
        client = self._redis()
        try:
            waiting = [_order(raw) for raw in client.lrange(QUEUE, 0, -1)]
            reserved = [_order(json.loads(raw)[0]) for raw in client.hvals(UNACKED)]
            started = {int(member) for member in client.smembers(STARTED_KEY)}
            length = int(client.llen(QUEUE))
        finally:
            client.close()
        return QueueCensus(
            length=length,
            waiting=frozenset(o for o in waiting if o is not None),
            reserved=frozenset(o for o in reserved if o is not None),
            started=frozenset(started),
        )

    def _clear_queue(self) -> None:
        """A healthy lab has no backlog: a scenario's orders go (`reset`)."""
        client = self._redis()
        try:
            client.delete(QUEUE, STARTED_KEY)
        finally:
            client.close()

    def _redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.ports.redis}/0"

    def _redis(self) -> redis.Redis:
        import redis

        return redis.Redis.from_url(self._redis_url(), socket_timeout=5, socket_connect_timeout=3)

    # --- health ---------------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        """Each service's state in a word or two ("ok" when healthy), probed directly, all at
        once (the worker's ping alone waits up to a second for answers)."""

        def probe(service: str) -> str:
            try:
                return self._probe(service)
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"

        with ThreadPoolExecutor(len(SERVICES)) as pool:
            return dict(zip(SERVICES, pool.map(probe, SERVICES), strict=True))

    def wait_healthy(self, timeout: float = 120.0) -> None:
        """Wait until every service is healthy; LabError naming the ones that are not."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.health()
            if all(state == "ok" for state in states.values()):
                return
            if time.monotonic() > deadline:
                bad = ", ".join(f"{s}: {v}" for s, v in states.items() if v != "ok")
                raise LabError(f"{self.project} not healthy within {timeout:g}s: {bad}")
            time.sleep(0.5)

    def _probe(self, service: str) -> str:
        container = self.container(service)
        container.reload()
        if not container.attrs["State"].get("Running"):
            return str(container.attrs["State"].get("Status"))
        ports = self.ports
        if service == "postgres":
            code, output = self.exec("postgres", f"pg_isready -U {DB} -d {DB}", timeout=10)
            return "ok" if code == 0 else output.strip()
        if service == "redis":
            import redis

            client = redis.Redis(port=ports.redis, socket_timeout=2, socket_connect_timeout=2)
            try:
                return "ok" if client.ping() else "no PONG"
            finally:
                client.close()
        if service == "backend":
            return _http_ok(f"http://127.0.0.1:{ports.backend}/health", b'"ok"')
        if service == "frontend":
            return _http_ok(f"http://127.0.0.1:{ports.frontend}/", b"CoffeeStudio")
        if service == "worker":
            return _celery_ping(f"redis://127.0.0.1:{ports.redis}/0")
        return "ok"  # beat: running is all it shows

    # --- building -----------------------------------------------------------------------

    def _ensure_image(self) -> None:
        import docker.errors

        try:
            self.client.images.get(IMAGE)
        except docker.errors.ImageNotFound:
            repository, tag = IMAGE.rsplit(":", 1)
            self.client.api.import_image_from_data(
                _rootfs(), repository=repository, tag=tag, changes=["ENV PATH=/bin:/usr/bin", 'CMD ["sh"]']
            )

    def _ensure_network(self) -> Network:
        exact = self._networks()
        if exact:
            return exact[0]
        ports = Ports.free()
        labels = {
            PROJECT_LABEL: self.project,
            "com.docker.compose.network": "default",
            LAB_LABEL: self.project,
            PORTS_LABEL: json.dumps(ports.__dict__),
            "remediate.lab.jwt": secrets.token_urlsafe(36)[:48],
        }
        return self.client.networks.create(self.network_name, driver="bridge", labels=labels)

    def _load(self) -> None:
        found = self._networks()
        if not found:
            raise LabError(f"no lab {self.project!r} on this Docker engine (run `remediate lab up`)")
        labels = found[0].attrs.get("Labels") or {}
        self._ports = Ports(**json.loads(labels[PORTS_LABEL]))
        self._jwt_secret = labels["remediate.lab.jwt"]


_POSTGRES_START = f"""
set -e
if [ ! -s /data/pg/PG_VERSION ]; then
  initdb -D /data/pg -U {DB} --auth=trust --no-locale -E UTF8 >/tmp/initdb.log
  echo "host all all all trust" >> /data/pg/pg_hba.conf
  echo "CREATE DATABASE {DB};" | postgres --single -D /data/pg -j postgres >/dev/null
fi
exec postgres -D /data/pg -c listen_addresses='*' -c fsync=off -c synchronous_commit=off \
  -c full_page_writes=off -c shared_buffers=16MB -c max_connections=30
"""


def _celery_ping(broker: str) -> str:
    from celery import Celery

    # Twice: kombu keeps broker connections in process-wide state, and the first use after
    # Redis restarted fails on the stale one ("Connection closed by server").
    for attempt in (1, 2):
        app = Celery("lab-probe", broker=broker, set_as_current=False)
        app.conf.update(broker_connection_retry=False, broker_connection_timeout=3, broker_pool_limit=0)
        try:
            replies = app.control.ping(timeout=1.0, limit=1) or []  # the lab has one worker
            return "ok" if replies else "no worker answers ping"
        except Exception:
            if attempt == 2:
                raise
        finally:
            app.close()
    raise AssertionError("unreachable")


def _order(message: bytes | str | dict[str, Any]) -> int | None:
    """The order of a lab `brew` task in a kombu message as Redis keeps it (JSON with a
    base64 body of Celery's [args, kwargs, embed]); None for any other task."""
    envelope = json.loads(message) if isinstance(message, bytes | str) else message
    if envelope.get("headers", {}).get("task") != BREW_TASK:
        return None
    body = envelope["body"]
    if envelope.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args = json.loads(body)[0]
    return int(args[0])


def _http_ok(url: str, needle: bytes) -> str:
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:
            body: bytes = answer.read()
            return "ok" if needle in body else f"unexpected body {body[:80]!r}"
    except Exception as exc:
        return str(exc)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise LabError("the lab needs PostgreSQL on this host (apt-get install postgresql)")
    return str(Path(found[-1]).parent)


def _postgres_uid() -> tuple[int, int]:
    """PostgreSQL refuses to run as root: it runs as the host's `postgres` user's ids."""
    try:
        entry = pwd.getpwnam("postgres")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 999, 999


def _rootfs() -> bytes:
    """A root filesystem: busybox and its applets in /bin, users, and the directories the
    services write to. Everything else comes from read-only bind mounts of the host."""
    busybox = shutil.which("busybox")
    if busybox is None:
        raise LabError("the lab needs a static busybox on this host (apt-get install busybox-static)")
    uid, gid = _postgres_uid()
    buffer = io.BytesIO()

    def add(
        name: str,
        kind: bytes,
        mode: int = 0o755,
        owner: tuple[int, int] = (0, 0),
        data: bytes = b"",
        link: str = "",
    ) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode, (info.uid, info.gid) = kind, mode, owner
        info.linkname = link
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "proc", "sys", "dev", "etc", "var", "var/run", "srv"):
            add(directory, tarfile.DIRTYPE)
        add("tmp", tarfile.DIRTYPE, 0o1777)
        add("data", tarfile.DIRTYPE, 0o700, (uid, gid))
        add("var/run/postgresql", tarfile.DIRTYPE, 0o2775, (uid, gid))
        for directory in ("lib", "lib64"):
            if os.path.islink(f"/{directory}"):
                add(directory, tarfile.SYMTYPE, link=os.readlink(f"/{directory}"))
        passwd = (
            "root:x:0:0:root:/root:/bin/sh\n"
            f"postgres:x:{uid}:{gid}::/data:/bin/sh\n"
            "nobody:x:65534:65534::/:/bin/false\n"
        )
        group = f"root:x:0:\npostgres:x:{gid}:\nnogroup:x:65534:\n"
        add("etc/passwd", tarfile.REGTYPE, 0o644, data=passwd.encode())
        add("etc/group", tarfile.REGTYPE, 0o644, data=group.encode())
        add("etc/nsswitch.conf", tarfile.REGTYPE, 0o644, data=b"hosts: files dns\n")
        tar.add(busybox, arcname="bin/busybox")
        for applet in _applets(busybox):
            add(f"bin/{applet}", tarfile.SYMTYPE, link="busybox")
    return buffer.getvalue()


def _applets(busybox: str) -> list[str]:
    import subprocess

    listed = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    return [name for name in listed if name and "/" not in name and name != "busybox"]
