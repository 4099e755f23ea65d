"""Contexts for calling a check or an action directly on this host."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engine.core.clock import Clock, SystemClock
from engine.core.context import ActionContext, ProbeContext
from engine.core.results import CheckResult
from engine.secrets.redact import Redactor
from engine.transports.base import Transport
from engine.transports.local import LocalTransport


def probe_context(
    timeout: float = 5.0,
    clock: Clock | None = None,
    *,
    hostvars: Mapping[str, Any] | None = None,
    transport: Transport | None = None,
    redactor: Redactor | None = None,
) -> ProbeContext:
    chosen = transport or LocalTransport()
    return ProbeContext(
        "localhost",
        dict(hostvars or {}),
        lambda host: chosen,
        clock or SystemClock(),
        redactor or Redactor(),
        timeout,
    )


def action_context(
    timeout: float = 5.0,
    clock: Clock | None = None,
    recheck: Callable[[], CheckResult] | None = None,
    *,
    transport: Transport | None = None,
    redactor: Redactor | None = None,
    incident_dir: Path | None = None,
) -> ActionContext:
    base = probe_context(timeout, clock, transport=transport, redactor=redactor)
    extra: dict[str, Any] = {"incident_dir": incident_dir} if incident_dir is not None else {}
    return ActionContext(**vars(base), recheck=recheck, run_id="testrun", node="test-node", **extra)
