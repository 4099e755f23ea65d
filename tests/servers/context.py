"""Contexts for running checks and actions in tests, on the controller's local transport."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engine.clock import SystemClock
from engine.context import ActionContext, ProbeContext
from engine.redact import REDACTOR
from engine.results import CheckResult
from engine.transports.base import Transport
from engine.transports.local import LocalTransport


def probe_context(
    timeout: float = 5.0,
    hostvars: Mapping[str, Any] | None = None,
    transport: Transport | None = None,
) -> ProbeContext:
    chosen = transport or LocalTransport("localhost")
    return ProbeContext(
        host="localhost",
        hostvars=dict(hostvars or {}),
        transport_for=lambda _host: chosen,
        clock=SystemClock(),
        redactor=REDACTOR,
        timeout=timeout,
    )


def action_context(
    timeout: float = 30.0,
    incident_dir: Path | None = None,
    transport: Transport | None = None,
    recheck: Callable[[], CheckResult] | None = None,
    node: str = "test-node",
) -> ActionContext:
    chosen = transport or LocalTransport("localhost")
    return ActionContext(
        host="localhost",
        hostvars={},
        transport_for=lambda _host: chosen,
        clock=SystemClock(),
        redactor=REDACTOR,
        timeout=timeout,
        run_id="testrun",
        node=node,
        incident_dir=incident_dir or Path("incidents"),
        recheck=recheck,
    )
