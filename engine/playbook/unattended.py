"""Playbook fields for unattended operation: limits across runs, backoff between runs,
flapping, startup grace (per node); run limits, maintenance windows and notification
targets (per playbook). Pure models; the decisions are in `engine.unattended.limits`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.core.durations import Duration
from engine.core.regex import Regex, user_regex


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LimitSpec(_Strict):
    """At most `max` remediation attempts within `within`, counted across runs; past it the node
    is suppressed (not touched) and the run escalates. The count starts afresh only once the
    node has stayed healthy for `reset_after` (or an operator runs `remediate reset`)."""

    max: int = Field(3, ge=1, description="remediation attempts allowed in the window")
    within: Duration = Field(3600.0, description="the sliding window the attempts are counted in")
    reset_after: Duration = Field(
        600.0, description="how long the node must stay healthy before its count is forgotten"
    )


class RunBackoffSpec(_Strict):
    """After a run whose remediation failed, later runs leave the node alone for
    ``initial * factor ** (failures - 1)`` (capped at `max`), like Kubernetes'
    CrashLoopBackOff. Failures are forgotten with the limit (healthy for `reset_after`)."""

    initial: Duration = Field(30.0, description="the wait after the first failed run (0 turns it off)")
    factor: float = Field(2.0, ge=1.0, description="growth per further failed run")
    max: Duration = Field(600.0, description="the cap on the wait")


class FlappingSpec(_Strict):
    """A node whose health changed more than `changes` times within `within` is flapping: it is
    reported and escalated instead of being remediated again (Nagios' flap detection)."""

    changes: int = Field(6, ge=1, description="state changes tolerated in the window")
    within: Duration = Field(1800.0, description="the window state changes are counted in")


class RunLimitsSpec(_Strict):
    """Bounds on one run, against acting on a network or host problem as if it were many."""

    max_unhealthy_share: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="when more than this share of all nodes is unhealthy at once, the run acts on "
        "none of them and escalates (nodes are first all checked to find out)",
    )
    max_actions_per_run: int | None = Field(
        None, ge=0, description="the most actions one run may take; later ones are suppressed"
    )


class MaintenanceWindow(_Strict):
    """A recurring window (cron expression for its start, and a duration) in which nodes are
    checked and reported but never touched."""

    cron: str = Field(description="when the window opens, a five-field cron expression")
    duration: Duration = Field(description="how long it stays open")
    timezone: str = Field("UTC", description="the time zone the cron expression is read in")
    nodes: list[str] | None = Field(None, description="the nodes it covers; all when not given")
    reason: str = Field("maintenance window", description="shown in reports and logs")

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, expression: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(expression):
            raise ValueError(f"not a valid cron expression: {expression!r}")
        return expression

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone


NotifyEvent = Literal["escalation", "recovery", "remediation", "approval"]


class WebhookSpec(_Strict):
    """POST the message as JSON; retried with backoff when the receiver fails."""

    url: str | None = Field(None, description="http(s) URL to POST to")
    url_env: str | None = Field(
        None, description="environment variable holding the URL (for URLs that embed a token)"
    )
    url_file: str | None = Field(None, description="file holding the URL (for URLs that embed a token)")
    token_env: str | None = Field(None, description="environment variable holding a bearer token")
    token_file: str | None = Field(None, description="file holding a bearer token")
    timeout: Duration = Field(5.0, description="per request")
    retries: int = Field(3, ge=0, description="further tries after a failed POST")

    @model_validator(mode="after")
    def _one_url(self) -> WebhookSpec:
        if sum(x is not None for x in (self.url, self.url_env, self.url_file)) != 1:
            raise ValueError("give exactly one of url, url_env or url_file")
        return self


class CommandNotifySpec(_Strict):
    """Run a command with the message as JSON on standard input (and REMEDIATE_* variables)."""

    cmd: str = Field(description="shell command line, run with sh -c")
    timeout: Duration = Field(30.0)


def _default_events() -> list[NotifyEvent]:
    return ["escalation", "recovery", "approval"]


class NotifyTarget(_Strict):
    """Where escalations (and optionally recoveries and remediations) are sent."""

    webhook: WebhookSpec | None = None
    command: CommandNotifySpec | None = None
    on: list[NotifyEvent] = Field(default_factory=_default_events, description="which events are sent here")

    @model_validator(mode="after")
    def _one_kind(self) -> NotifyTarget:
        if (self.webhook is None) == (self.command is None):
            raise ValueError("give exactly one of webhook: or command:")
        return self


class AlertMatcher(_Strict):
    """Which of Alertmanager's alerts (`POST /hooks/alertmanager` on the daemon's `--listen`
    address) are a node's: a firing alert whose labels carry every `match` label with its
    value and every `match_re` label matching its regular expression (the whole value, as
    Alertmanager's `=~`) starts a run of the node and its upstreams at once. With
    `host_label`, only on the host the alert names in that label (its inventory name, or
    the name before `:port`, as Prometheus' `instance` label writes it)."""

    match: dict[str, str] = Field(
        default_factory=dict, description="labels the alert must carry, with these exact values"
    )
    match_re: dict[str, Regex] = Field(
        default_factory=dict,
        description="labels whose whole value must match these regular expressions (RE2: no "
        "backreferences or lookaround)",
    )
    host_label: str | None = Field(
        None,
        description="the label naming the host (e.g. `instance`): the run is of the nodes on "
        "that host only (default: on every host)",
    )
    window: Duration = Field(
        300.0, description="the same alert (its fingerprint) again within this long starts nothing new"
    )

    @model_validator(mode="after")
    def _matches_something(self) -> AlertMatcher:
        if not self.match and not self.match_re:
            raise ValueError("give match: or match_re: (or both): the labels an alert must carry")
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether an alert with these labels is one of this matcher's."""
        return all(labels.get(name) == value for name, value in self.match.items()) and all(
            user_regex(pattern).fullmatch(labels.get(name, "")) is not None
            for name, pattern in self.match_re.items()
        )

    def on_host(self, labels: dict[str, str], host: str) -> bool:
        """Whether the alert concerns `host` (always, without `host_label`)."""
        if self.host_label is None:
            return True
        named = labels.get(self.host_label)
        if named is None:
            return False
        without_port = named.rsplit(":", 1)[0] if named.rsplit(":", 1)[-1].isdigit() else named
        return host in (named, without_port, without_port.strip("[]"))


class AlertRoute(AlertMatcher):
    """Alerts that start a run of `nodes` (see AlertMatcher) at once: the playbook's
    `alerts:` block. A node's own `alerts:` names no nodes: they are its own."""

    nodes: list[str] = Field(min_length=1, description="the nodes the alert concerns")


class ApprovalsSpec(_Strict):
    """Playbook-wide settings of approvals (steps or nodes that say `approval: required`)."""

    expires: Duration = Field(
        86400.0, description="how long a request stays open before it is denied as expired [1d]"
    )
    page: str | None = Field(
        None,
        description="the status page's address as people reach it (https://ops.example/remediate), "
        "for the link in notifications; default: the daemon's --listen address",
    )
