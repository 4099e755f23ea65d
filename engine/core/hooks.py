"""How unattended operation plugs into a run without the run loop knowing about state.

`RunSettings.hooks` (None by default: a plain run) is asked before a node is remediated
(`gate`) and before a step that needs an operator's approval runs (`approve`), wraps every
action (`wrap_act`), and hands actions the healthy versions it
remembers (`versions`, for rollbacks), so that limits, pauses and the blast radius can
hold a node back, and every attempt is recorded before it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from engine.core.context import HealthyVersion
from engine.core.graph import NodeKey
from engine.core.results import ActionResult, CheckResult, Outcome
from engine.playbook.models import NodeSpec, StepSpec

Act = Callable[[StepSpec], ActionResult]
Hold = tuple[Outcome, str]


class RunHooks(Protocol):
    def gate(self, key: NodeKey, spec: NodeSpec, check: CheckResult) -> Hold | None:
        """Before an unhealthy node is remediated: None to go ahead, else the outcome it ends
        with and why (it is then not touched)."""

    def approve(self, key: NodeKey, spec: NodeSpec, step: StepSpec, check: CheckResult) -> Hold | None:
        """Before a step that needs approval (`NodeSpec.needs_approval`) runs: None when an
        operator approved it, else the outcome the node ends with and why (the ladder stops
        there). `check` is the node's last check."""

    def wrap_act(self, key: NodeKey, spec: NodeSpec, act: Act, attempt: Callable[[], int]) -> Act:
        """The node's act, wrapped; `attempt()` is the remediation attempt in progress."""

    def versions(self, host: str, project: str, service: str) -> Sequence[HealthyVersion]:
        """The healthy versions recorded of a compose service on `host`, newest first."""
