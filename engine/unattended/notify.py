"""Telling people: escalations, recoveries and (optionally) every remediation, sent to the
playbook's `notify:` targets, a webhook (JSON POST, retried with backoff) or a command (the
message as JSON on standard input). Every message is redacted before it leaves."""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.errors import NotifyError
from engine.playbook.unattended import CommandNotifySpec, NotifyTarget, WebhookSpec
from engine.secrets.redact import REDACTOR

WEBHOOK_RETRY_WAIT = (0.5, 5.0)
"""Seconds before the first webhook retry, and the cap of the exponential wait."""


@dataclass(frozen=True)
class Message:
    """What one notification says: where, what, why, what was tried, how bad."""

    event: str
    """`escalation`, `recovery`, `remediation` or `approval`."""
    severity: str
    host: str
    node: str
    reason: str
    playbook: str
    run_id: str
    at: datetime
    evidence: dict[str, Any] = field(default_factory=dict)
    tried: list[dict[str, Any]] = field(default_factory=list)
    """The recent action attempts: when, step, action, outcome, reason."""
    controller: str = field(default_factory=socket.gethostname)
    approval: dict[str, Any] | None = None
    """An `approval` message's request: its id, the page link (`url`), the step, the plan,
    when it expires, and the commands that answer it."""

    @property
    def summary(self) -> str:
        where = self.node if self.host in ("", "*") else f"{self.node} on {self.host}"
        return f"[{self.severity}] {self.event}: {where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        data = {
            "event": self.event,
            "summary": self.summary,
            "severity": self.severity,
            "host": self.host,
            "node": self.node,
            "reason": self.reason,
            "evidence": self.evidence,
            "tried": self.tried,
            "playbook": self.playbook,
            "run_id": self.run_id,
            "at": self.at.isoformat(),
            "controller": self.controller,
        }
        if self.approval is not None:
            data["approval"] = self.approval
        result: dict[str, Any] = REDACTOR.data(data)
        return result


class Notifier:
    """Sends messages to the targets that subscribe to their event; logs what happened."""

    def __init__(self, targets: Sequence[NotifyTarget], logger: Any) -> None:
        self.targets = list(targets)
        self.log = logger

    def send(self, message: Message) -> bool:
        """Whether every subscribed target took the message (True when none subscribes)."""
        delivered = True
        for target in self.targets:
            if message.event not in target.on:
                continue
            kind = "webhook" if target.webhook else "command"
            try:
                if target.webhook is not None:
                    post_webhook(target.webhook, message)
                elif target.command is not None:
                    run_command(target.command, message)
                self.log.info("notified", target=kind, notify_event=message.event, node=message.node)
            except NotifyError as exc:
                delivered = False
                self.log.error("notification failed", target=kind, notify_event=message.event, error=str(exc))
        return delivered


def post_webhook(spec: WebhookSpec, message: Message) -> None:
    """POST the message; retries (exponential wait, capped) on connection errors and on any
    answer that is not 2xx. The URL and token may come from the environment or a file."""
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

    from engine.clients.http import http_request
    from engine.errors import HttpFetchError, SecretError
    from engine.secrets.sources import read_secret

    try:
        url = spec.url or read_secret(env=spec.url_env, file=spec.url_file) or ""
        token = read_secret(env=spec.token_env, file=spec.token_file)
    except SecretError as exc:
        raise NotifyError(f"webhook: {exc}") from None
    headers = {"Content-Type": "application/json", "User-Agent": "remediate"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(message.to_dict(), default=str).encode()

    def attempt() -> None:
        try:
            # Only the status is read: the reply's body means nothing to a notification.
            answer = http_request(
                None, url, method="POST", body=body, headers=headers, timeout=spec.timeout, read_body=False
            )
        except (HttpFetchError, ValueError) as exc:
            raise NotifyError(REDACTOR.text(f"POST {url}: {exc}")) from None
        if answer.status >= 300:
            raise NotifyError(REDACTOR.text(f"POST {url} answered {answer.status}"))

    initial, cap = WEBHOOK_RETRY_WAIT
    retrying = Retrying(
        stop=stop_after_attempt(spec.retries + 1),
        wait=wait_exponential(multiplier=initial, max=cap),
        retry=retry_if_exception_type(NotifyError),
        reraise=True,
    )
    for try_ in retrying:
        with try_:
            attempt()


def run_command(spec: CommandNotifySpec, message: Message) -> None:
    """Run the command with the message as JSON on stdin and REMEDIATE_* variables."""
    data = message.to_dict()
    environment = {
        "REMEDIATE_EVENT": message.event,
        "REMEDIATE_SEVERITY": message.severity,
        "REMEDIATE_HOST": message.host,
        "REMEDIATE_NODE": message.node,
        "REMEDIATE_SUMMARY": data["summary"],
    }
    # The local transport, as every command the engine runs: output kept as a bounded head and
    # tail, the whole process group killed at the timeout and when the run is stopped.
    from engine.errors import TransportError
    from engine.transports.local import LocalTransport

    try:
        result = LocalTransport("localhost").run(
            spec.cmd, timeout=spec.timeout, env=environment, stdin=json.dumps(data, default=str)
        )
    except TransportError as exc:
        raise NotifyError(f"notify command cannot start: {exc}") from None
    if result.timed_out:
        raise NotifyError(f"notify command did not finish within {spec.timeout:g}s")
    if result.exit_code != 0:
        # Masked before it is cut: a secret cut in half would no longer match.
        tail = REDACTOR.text((result.stderr or result.stdout).strip())[-300:]
        raise NotifyError(f"notify command exited {result.exit_code}: {tail}")
