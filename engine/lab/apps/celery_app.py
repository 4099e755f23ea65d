"""The lab's Celery application: the worker and beat of CoffeeStudio, on the lab's Redis."""

from __future__ import annotations

import os

from celery import Celery

celery = Celery("coffeestudio", broker=os.environ.get("REDIS_URL", "redis://redis:6379/0"))
celery.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    beat_schedule={"heartbeat": {"task": "celery_app.heartbeat", "schedule": 30.0}},
)


@celery.task(name="celery_app.heartbeat")
def heartbeat() -> str:
    """A scheduled no-op, so that beat has something to send."""
    return "ok"
