"""Delays between remediation attempts: exponential, capped, with jitter (pure logic).

The schedule is tenacity's ``wait_exponential_jitter`` (and ``wait_exponential`` without
jitter), so the run loop can hand it straight to a `tenacity.Retrying`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenacity.wait import wait_base

    from engine.playbook.models import BackoffSpec


def wait_strategy(spec: BackoffSpec) -> wait_base:
    """The tenacity wait for a backoff spec: ``initial * factor**(n-1)`` capped at ``max``,
    plus a uniform jitter of up to ``initial`` seconds when jitter is on (still capped)."""
    from tenacity import wait_exponential, wait_exponential_jitter

    if spec.jitter:
        return wait_exponential_jitter(
            multiplier=spec.initial, max=spec.max, exp_base=spec.factor, jitter=spec.initial
        )
    return wait_exponential(multiplier=spec.initial, exp_base=spec.factor, max=spec.max)


def delays(spec: BackoffSpec, attempts: int) -> list[float]:
    """The delays before attempts 2..`attempts` (for plans and tests)."""
    from tenacity import RetryCallState

    wait = wait_strategy(spec)
    schedule = []
    for attempt in range(1, attempts):
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempt
        schedule.append(float(wait(state)))
    return schedule
