"""The playbook language, as pydantic models.

A node is written module-as-key (``http: {url: ...}``) beside its common fields
(``depends_on``, ``retries``, ``remediate``...). The loader finds the module key,
validates its options against the registered check type, and builds a `NodeSpec`
holding the check instance; steps of ``remediate:`` are built the same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from checks.base import Check
from engine.core.durations import Duration
from engine.playbook.unattended import (
    AlertMatcher,
    AlertRoute,
    ApprovalsSpec,
    FlappingSpec,
    LimitSpec,
    MaintenanceWindow,
    NotifyTarget,
    RunBackoffSpec,
    RunLimitsSpec,
)
from remediations.base import Action

Severity = Literal["P0", "P1", "P2", "P3"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class BackoffSpec(_Strict):
    """Delay between remediation attempts: ``initial * factor ** (attempt - 1)``, capped at
    ``max``, plus up to ``initial`` of random jitter when ``jitter`` is true."""

    initial: Duration = Field(1.0, description="delay before the second attempt")
    factor: float = Field(2.0, ge=1.0, description="growth per attempt")
    max: Duration = Field(60.0, description="the cap on any one delay")
    jitter: bool = Field(True, description="add random jitter so that hosts do not retry in step")


class VerifySpec(_Strict):
    """When a fix counts as verified: after a step, the check is polled every `interval` until
    it passes `successes` times in a row; if that takes longer than `within`, the step did not
    heal the node and the next step runs. After a step followed by a `wait` the check is
    looked at once: the wait is that step's window."""

    successes: int = Field(1, ge=1, description="consecutive passing checks required")
    within: Duration = Field(10.0, description="time the fix has to take effect")
    interval: Duration = Field(1.0, description="pause between verifying checks")

    @model_validator(mode="after")
    def _fits(self) -> VerifySpec:
        if (self.successes - 1) * self.interval > self.within:
            raise ValueError(
                f"{self.successes} successes {self.interval:g}s apart cannot fit within {self.within:g}s"
            )
        return self


# Fields a node may have beside its one check module key.
NODE_FIELDS = frozenset(
    {
        "depends_on",
        "retries",
        "backoff",
        "verify",
        "remediate",
        "on_upstream_recovery",
        "when",
        "description",
        "severity",
        "limit",
        "run_backoff",
        "flapping",
        "start_period",
        "act_when_stopped_by_operator",
        "approval",
        "approval_expires",
        "alerts",
    }
)
# Fields that expand one node into one per item (Ansible's loop and loop_control.loop_var);
# the loader consumes them, so a NodeSpec never has them.
LOOP_FIELDS = frozenset({"loop", "loop_var"})
DEFAULT_LOOP_VAR = "item"
# Fields a remediation step may have beside its one action module key.
STEP_FIELDS = frozenset(
    {
        "name",
        "when",
        "unless",
        "timeout",
        "destructive",
        "ignore_errors",
        "stop_on_failure",
        "approval",
        "approval_expires",
    }
)
Approval = Literal["required"]
"""`approval: required`: an operator approves the step before it runs (unattended runs record
a pending approval and the node ends `awaiting_approval`)."""


class StepSpec(_Strict):
    """One step of a remediation: an action plus when and how to run it.

    The steps of a node are the rungs of a ladder: a rung that did not heal the node (its
    action failed, its `wait` ran out, its fix did not verify) leads to the next rung. Only
    `stop_on_failure` ends the attempt at a failed rung."""

    action: Action = Field(description="the action (given as its module key, e.g. `command:`)")
    name: str | None = Field(None, description="what the step is for, shown in logs and reports")
    when: str | None = Field(
        None,
        description="a Jinja expression over the variables and `check` (the failing check's "
        "result: check.reason, check.evidence); the step runs only when it is true",
    )
    unless: Check | None = Field(
        None,
        description="a check (module-as-key) that, when healthy, means the step is not "
        "needed: it reports ok without running",
    )
    timeout: Duration | None = Field(None, description="kill the step after this long")
    destructive: bool = Field(
        False,
        description="the author's consent for a step that deletes data; it also needs "
        "--allow-destructive on the command line",
    )
    ignore_errors: bool = Field(
        False,
        description="a failure of this step is expected: the report shows it `ignored` rather "
        "than as a fault (the next step runs either way)",
    )
    stop_on_failure: bool = Field(
        False,
        description="when this step fails, nothing after it makes sense: the attempt ends "
        "there instead of climbing to the next step",
    )
    approval: Approval | None = Field(
        None,
        description="`required`: the step runs only after an operator approved it "
        "(`remediate approve ID` or the status page); until then the node ends `awaiting_approval`",
    )
    approval_expires: Duration | None = Field(
        None,
        description="how long a request for approval of this step stays open before it is denied "
        "as expired (default: the node's, else the playbook's `approvals.expires`)",
    )

    @model_validator(mode="after")
    def _one_failure_rule(self) -> StepSpec:
        if self.ignore_errors and self.stop_on_failure:
            raise ValueError("ignore_errors and stop_on_failure contradict each other: choose one")
        return self

    @property
    def title(self) -> str:
        return self.name or self.action.describe()

    @property
    def effective_timeout(self) -> float:
        return self.timeout if self.timeout is not None else self.action.default_timeout()


class NodeSpec(_Strict):
    """A check plus its remediation, on every host the playbook targets."""

    name: str
    check: Check = Field(description="the check (given as its module key, e.g. `http:`)")
    depends_on: list[str] = Field(
        default_factory=list,
        description="nodes that must be healthy first; `host:node` names a node of another host",
    )
    remediate: list[StepSpec] = Field(default_factory=list, description="steps tried in order")
    retries: int = Field(0, ge=0, description="further attempts of the whole remediation after the first")
    backoff: BackoffSpec = Field(default_factory=BackoffSpec)
    verify: VerifySpec = Field(default_factory=VerifySpec)
    on_upstream_recovery: Literal["check", "restart"] = Field(
        "check",
        description="`restart`: when an upstream node was remediated in this run, run this "
        "node's steps once even if it looks healthy (it holds stale connections)",
    )
    when: str | None = Field(None, description="a Jinja expression over the variables; false skips the node")
    description: str | None = None
    severity: Severity = Field("P2", description="the runbook's P0 (critical) to P3 (low)")
    # Unattended operation (engine.unattended.limits): memory across runs, kept in the state store.
    limit: LimitSpec | None = Field(
        default_factory=LimitSpec, description="remediation attempts allowed across runs; null: no limit"
    )
    run_backoff: RunBackoffSpec = Field(default_factory=RunBackoffSpec)
    flapping: FlappingSpec | None = Field(None, description="flap detection; off unless given")
    start_period: Duration = Field(
        0.0, description="after an action, later runs leave the node alone this long while it starts"
    )
    act_when_stopped_by_operator: bool = Field(
        False,
        description="remediate even when the check reports the service was stopped by an operator "
        "(evidence stopped_by_operator: true)",
    )
    approval: Approval | None = Field(
        None,
        description="`required`: every step of this node needs an operator's approval (one "
        "approval covers the node's remediation in one run)",
    )
    approval_expires: Duration | None = Field(
        None,
        description="how long a request for approval stays open before it is denied as expired "
        "(default: the playbook's `approvals.expires`)",
    )

    alerts: list[AlertMatcher] = Field(
        default_factory=list,
        description="Alertmanager alerts that start a run of this node (and its upstreams) at once; "
        "rendered per host, so a label may name the host (`instance: \"{{ ansible_host }}:9100\"`)",
    )

    def needs_approval(self, step: StepSpec) -> bool:
        """Whether `step` may run only after an operator's approval."""
        return self.approval == "required" or step.approval == "required"

    def approval_expiry(self, step: StepSpec, default: float) -> float:
        """Seconds a request for approval of `step` stays open: the step's, the node's, else
        `default` (the playbook's)."""
        for expires in (step.approval_expires, self.approval_expires):
            if expires is not None:
                return expires
        return default

    loop_vars: dict[str, Any] = Field(
        default_factory=dict,
        exclude=True,
        description="set by the loader for a node expanded by `loop:`: its loop variable and "
        "item, so that `when:` expressions can use them",
    )


class Playbook(_Strict):
    """A validated playbook: its nodes rendered for one host."""

    name: str = Field(description="the playbook's name, shown in logs and reports")
    hosts: str = Field("all", description="an inventory pattern: which hosts it runs on")
    vars: dict[str, Any] = Field(default_factory=dict, description="variables for templates")
    nodes: dict[str, NodeSpec] = Field(default_factory=dict)
    source: str = ""
    run_limits: RunLimitsSpec = Field(default_factory=RunLimitsSpec)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    notify: list[NotifyTarget] = Field(default_factory=list)
    approvals: ApprovalsSpec = Field(default_factory=ApprovalsSpec)
    alerts: list[AlertRoute] = Field(
        default_factory=list, description="Alertmanager alerts that start a run of their nodes at once"
    )
    alembic_node: str | None = Field(
        None,
        description="the node whose `alembic_current` check holds the database's alembic "
        "revision: recorded with each healthy container version, and a rollback refuses when "
        "it moved since",
    )
