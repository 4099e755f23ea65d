"""`celery_worker`: enough Celery workers answer a ping through the broker.

Why the celery library and not `celery inspect ping` through the transport: the library
needs only the broker URL, not the application's code (the CLI must import
`app.workers.celery_app`, which exists only inside the worker's image); it returns the
answering workers as data, where the CLI prints text that changed between Celery versions
and exits 69 for both "nobody answered" and "broker unreachable"; and it reaches a broker
bound to a remote host's loopback through the transport's port forwarding like the other
client checks. Celery is imported lazily and is an optional dependency (`remediate[celery]`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from checks.base import Check
from engine.clients.redis import RedisOptions
from engine.kit import CheckResult, Duration, ProbeContext, SecretError, check_type


@check_type("celery_worker")
class CeleryWorkerCheck(Check, RedisOptions):
    """Broadcasts a ping on the broker (`url`, a Redis URL like the stack's REDIS_URL) and
    counts the workers that answer within `reply_timeout`. Unhealthy when fewer than
    `min_workers` answer or a worker in `workers` is silent. An unreachable broker is an
    error, not unhealthy: the worker is not to blame, and the redis node upstream says so."""

    min_workers: int = Field(1, ge=1, description="at least this many workers must answer")
    workers: list[str] = Field(
        default_factory=list,
        description="node names that must answer, e.g. `celery@worker` (the worker's -n)",
    )
    reply_timeout: Duration = Field(
        2.0,
        description="how long to wait for answers at most (a live worker answers well within it); "
        "the wait ends once `min_workers` answered, or every worker in `workers`",
    )

    def probe(self, ctx: ProbeContext) -> CheckResult:
        try:
            from celery import Celery
        except ImportError:
            return CheckResult.error(
                "the celery_worker check needs the celery library (pip install 'remediate[celery]')"
            )
        try:
            broker = self.resolved_url(ctx, with_password=True)
        except SecretError as exc:
            return CheckResult.error(str(exc))
        app = Celery("remediate-probe", broker=broker, set_as_current=False)
        app.conf.update(
            broker_connection_retry=False,
            broker_connection_max_retries=0,
            broker_connection_timeout=self.timeout,
            broker_transport_options={
                "socket_timeout": self.timeout,
                "socket_connect_timeout": self.timeout,
                "max_retries": 0,
            },
            broker_use_ssl={
                "ssl_cert_reqs": "required" if self.tls_verify else "none",
                **({"ssl_ca_certs": self.tls_ca_file} if self.tls_ca_file else {}),
            }
            if self.uses_tls
            else None,
        )
        # Celery's control mailbox publishes through kombu's process-wide producer pool,
        # keyed by broker URL: once the broker restarts, the pooled connection is dead
        # ("Connection closed by server") and every later ping in this process fails.
        # Without the pool, it publishes on the connection opened here and closed after.
        app.control.mailbox._producer_pool = None
        # Celery stops listening after `limit` replies: a healthy stack's check then costs a
        # round trip, not the whole reply timeout, in every run.
        if not self.workers:
            enough: dict[str, Any] = {"limit": self.min_workers}
        elif self.min_workers <= len(self.workers):
            enough = {"destination": self.workers, "limit": len(self.workers)}
        else:
            enough = {}
        try:
            with app.connection_for_write() as connection:
                replies: list[dict[str, Any]] = (
                    app.control.ping(
                        timeout=min(self.reply_timeout, self.timeout), connection=connection, **enough
                    )
                    or []
                )
        except Exception as exc:  # kombu raises many types; all mean the broker failed us
            return CheckResult.error(f"cannot ping workers through the broker: {ctx.redactor.text(str(exc))}")
        finally:
            app.close()
        answered = sorted(name for reply in replies for name in reply)
        evidence: dict[str, Any] = {"answered": answered}
        missing = [name for name in self.workers if name not in answered]
        if missing:
            return CheckResult.unhealthy(
                f"worker(s) {', '.join(missing)} did not answer within {self.reply_timeout:g}s",
                missing=missing,
                **evidence,
            )
        if len(answered) < self.min_workers:
            who = f" ({', '.join(answered)})" if answered else ""
            return CheckResult.unhealthy(
                f"{len(answered)} worker(s) answered{who} within {self.reply_timeout:g}s, "
                f"expected at least {self.min_workers}",
                **evidence,
            )
        return CheckResult.healthy(f"{len(answered)} worker(s) answered: {', '.join(answered)}", **evidence)
