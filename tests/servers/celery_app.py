"""A tiny real Celery application for worker tests; its broker comes from the environment."""

from __future__ import annotations

import os

from celery import Celery

app = Celery("remediate_stack_test", broker=os.environ.get("REMEDIATE_TEST_BROKER", "redis://"))
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
)


@app.task
def add(x: int, y: int) -> int:
    return x + y
