"""The lab's Celery application: the worker and beat of CoffeeStudio, on the lab's Redis."""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

REDIS_URL = os.environ.get("REDIS_URL", "redis://redis:6379/0")
STARTED_KEY = "lab:orders-started"
"""A Redis set of the orders a worker started brewing (`engine.lab.stack` reads it by this
name: it cannot import this module, which needs the worker's environment)."""

celery = Celery("coffeestudio", broker=REDIS_URL)
celery.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    beat_schedule={"heartbeat": {"task": "celery_app.heartbeat", "schedule": 30.0}},
)
_store = redis.Redis.from_url(REDIS_URL)


@celery.task(name="celery_app.heartbeat")
def heartbeat() -> str:
    """A scheduled no-op, so that beat has something to send."""
    return "ok"


@celery.task(name="celery_app.brew")
def brew(order: int, seconds: float) -> int:
    """An order that takes `seconds` to work off (a slow downstream, say). It is noted as
    started first, so that the lab can tell a task a worker took from one that was deleted."""
    _store.sadd(STARTED_KEY, order)
    time.sleep(seconds)
    return order
