"""Contexts for calling a check or an action directly on this host."""

from __future__ import annotations

from collections.abc import Callable

from engine.clock import Clock, SystemClock
from engine.context import ActionContext, ProbeContext
from engine.redact import Redactor
from engine.results import CheckResult
from engine.transports.local import LocalTransport


def probe_context(timeout: float = 5.0, clock: Clock | None = None) -> ProbeContext:
    transport = LocalTransport()
    return ProbeContext("localhost", {}, lambda host: transport, clock or SystemClock(), Redactor(), timeout)


def action_context(
    timeout: float = 5.0, clock: Clock | None = None, recheck: Callable[[], CheckResult] | None = None
) -> ActionContext:
    base = probe_context(timeout, clock)
    return ActionContext(**vars(base), recheck=recheck)
