"""The broker: its URL checked before anything starts, and the Celery application both the
scheduler and the workers use (Celery is imported here only, when a fleet command runs).

Tasks are acknowledged late and rejected when their worker is lost, so a task whose worker
dies is delivered again; the broker's visibility timeout (how long Redis waits for an
acknowledgement before delivering again) is longer than the longest run. Prefetch is 1 and
the pool is threads: runs wait on the network, not the CPU, and a thread pool shares one
connection per host between tasks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from engine.errors import BrokerError
from engine.fleet.routing import SHARED_QUEUE
from engine.secrets.redact import REDACTOR

TASK_NAME = "remediate.run_group"
SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp", "memory")
"""Broker transports accepted: Redis, RabbitMQ (AMQP), and kombu's in-process one (tests)."""
VISIBILITY_TIMEOUT = 3600.0
"""Seconds Redis waits for a task's acknowledgement before delivering it again: longer than
any run (`remediate worker --visibility-timeout` sets it)."""


def masked(url: str) -> str:
    """The URL for a message or a log: its password masked."""
    return REDACTOR.text(url)


def check_broker_url(url: str) -> str:
    """`url` when it can be used as a broker URL; else BrokerError (exit 2) saying why,
    without the URL's password."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise BrokerError(f"--broker: malformed URL {masked(url)!r}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise BrokerError(
            f"--broker: unknown transport {parts.scheme or '(none)'!r} in {masked(url)!r}; "
            f"expected a URL like redis://:PASSWORD@HOST:6379/0 or amqp://USER:PASSWORD@HOST:5672// "
            f"(schemes: {', '.join(SCHEMES)})"
        )
    if parts.scheme != "memory" and not host:
        raise BrokerError(f"--broker: no host in {masked(url)!r}")
    if port == 0:
        raise BrokerError(f"--broker: port 0 in {masked(url)!r}")
    if parts.scheme.startswith("redis"):
        database = parts.path.strip("/")
        if database and not database.isdigit():
            raise BrokerError(f"--broker: a Redis database is a number, not {database!r}")
    return url


def celery_app(url: str, visibility: float = VISIBILITY_TIMEOUT) -> Any:
    """The Celery application on broker `url` (checked first)."""
    check_broker_url(url)
    try:
        from celery import Celery
    except ImportError:
        raise BrokerError(
            "--broker needs Celery: install remediate with its `celery` extra "
            "(pip install 'remediate[celery]')"
        ) from None
    app = Celery("remediate", broker=url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": visibility},
        task_default_queue=SHARED_QUEUE,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_enable_remote_control=False,
    )
    return app


def wait_for_broker(
    app: Any, url: str, logger: Any, stopping: Callable[[], bool] = lambda: False, pause: float = 2.0
) -> bool:
    """Connect to the broker, warning (once per try, the URL masked) and retrying while it
    does not answer; False when `stopping` said to give up."""
    while not stopping():
        try:
            with app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=5)
            return True
        except Exception as exc:
            logger.warning(
                "broker unreachable, retrying", broker=masked(url), error=masked(str(exc)), retry_in_s=pause
            )
            time.sleep(pause)
    return False
