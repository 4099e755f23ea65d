"""Notifications: a webhook on a local HTTP server (failing first, to prove the retries) and a
command; what a message says; secrets masked."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.errors import NotifyError
from engine.output.logs import QuietLogger
from engine.playbook.unattended import CommandNotifySpec, NotifyTarget, WebhookSpec
from engine.unattended import notify
from engine.unattended.notify import Message, Notifier
from tests.support.webhook import Receiver


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "WEBHOOK_RETRY_WAIT", (0.01, 0.05))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    served = Receiver(failures=2)
    yield served
    served.close()


def message(**fields: Any) -> Message:
    defaults: dict[str, Any] = {
        "event": "escalation",
        "severity": "P1",
        "host": "web1",
        "node": "backend",
        "reason": "limit reached",
        "playbook": "site",
        "run_id": "r1",
        "at": datetime(2026, 1, 1, tzinfo=UTC),
        "evidence": {"status": 502},
        "tried": [{"step": "restart backend", "outcome": "changed"}],
    }
    return Message(**{**defaults, **fields})


def test_a_webhook_reply_is_not_read_so_an_endless_one_still_counts_as_delivered() -> None:
    endless = Receiver(endless_reply=True)
    try:
        notify.post_webhook(WebhookSpec(url=endless.url, retries=0, timeout=2), message())
    finally:
        endless.close()
    assert endless.events == ["escalation"]


def test_a_webhook_dripping_its_reply_fails_at_the_timeout_for_the_whole_request() -> None:
    dripping = Receiver(drip=True)
    try:
        with pytest.raises(NotifyError, match="timed out"):
            notify.post_webhook(WebhookSpec(url=dripping.url, retries=0, timeout=1), message())
    finally:
        dripping.close()


def test_a_webhook_that_fails_first_is_retried_until_it_takes_the_message(
    receiver: Receiver, fast_retries: None
) -> None:
    notify.post_webhook(WebhookSpec(url=receiver.url, retries=3), message())
    assert [status for status, _, _ in receiver.requests] == [500, 500, 204]
    [body] = receiver.delivered
    assert body["summary"] == "[P1] escalation: backend on web1: limit reached"
    assert (body["host"], body["node"], body["severity"], body["evidence"]) == (
        "web1",
        "backend",
        "P1",
        {"status": 502},
    )
    assert body["tried"] == [{"step": "restart backend", "outcome": "changed"}]


def test_a_webhook_gives_up_after_its_retries(receiver: Receiver, fast_retries: None) -> None:
    with pytest.raises(NotifyError, match="answered 500"):
        notify.post_webhook(WebhookSpec(url=receiver.url, retries=1), message())
    assert len(receiver.requests) == 2


def test_a_webhook_token_is_sent_as_a_bearer_header_and_masked_in_messages(
    receiver: Receiver, fast_retries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cr3t-token-value")
    notify.post_webhook(
        WebhookSpec(url=receiver.url, token_env="HOOK_TOKEN"),
        message(reason="saw s3cr3t-token-value in a log"),
    )
    _, headers, body = receiver.requests[-1]
    assert headers["Authorization"] == "Bearer s3cr3t-token-value"
    assert body["reason"] == "saw *** in a log"
    assert "s3cr3t-token-value" not in json.dumps(body)


def test_secret_looking_evidence_is_masked_in_messages() -> None:
    data = message(evidence={"password": "hunter2", "status": 500}).to_dict()
    assert data["evidence"]["password"] == "***"
    assert data["evidence"]["status"] == 500


def test_a_command_target_gets_the_message_on_stdin_and_in_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "out"
    notify.run_command(
        CommandNotifySpec(cmd=f"cat > {out}; echo $REMEDIATE_EVENT $REMEDIATE_NODE >> {out}.env"), message()
    )
    assert json.loads(out.read_text())["node"] == "backend"
    assert Path(f"{out}.env").read_text().split() == ["escalation", "backend"]


def test_targets_get_only_the_events_they_subscribe_to(tmp_path: Path) -> None:
    log = tmp_path / "log"
    targets = [
        NotifyTarget(
            command=CommandNotifySpec(cmd=f"echo all >> {log}"), on=["escalation", "recovery", "remediation"]
        ),
        NotifyTarget(command=CommandNotifySpec(cmd=f"echo default >> {log}")),
    ]
    notifier = Notifier(targets, QuietLogger())
    assert notifier.send(message(event="remediation"))
    assert log.read_text().split() == ["all"]


def test_a_failing_target_makes_the_delivery_fail_without_stopping_the_others(tmp_path: Path) -> None:
    log = tmp_path / "log"
    targets = [
        NotifyTarget(command=CommandNotifySpec(cmd="exit 7")),
        NotifyTarget(command=CommandNotifySpec(cmd=f"echo second >> {log}")),
    ]
    assert not Notifier(targets, QuietLogger()).send(message())
    assert log.read_text().split() == ["second"]


def test_a_notify_target_needs_exactly_one_kind() -> None:
    with pytest.raises(ValueError, match="exactly one of webhook: or command:"):
        NotifyTarget()


def test_a_webhook_url_that_embeds_a_token_can_come_from_a_file_and_is_masked(
    receiver: Receiver, fast_retries: None, tmp_path: Path
) -> None:
    secret_url = tmp_path / "hook-url"
    secret_url.write_text(receiver.url + "\n")
    receiver.failures = 5
    with pytest.raises(NotifyError) as raised:
        notify.post_webhook(WebhookSpec(url_file=str(secret_url), retries=0), message())
    assert len(receiver.requests) == 1
    assert receiver.url not in str(raised.value)


def test_a_missing_webhook_secret_is_a_failed_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_HOOK", raising=False)
    with pytest.raises(NotifyError, match="NO_SUCH_HOOK is not set"):
        notify.post_webhook(WebhookSpec(url_env="NO_SUCH_HOOK"), message())


def test_notify_targets_are_rendered_with_the_playbook_variables(tmp_path: Path) -> None:
    from tests.support.playbooks import plan

    settings = plan(
        tmp_path,
        'name: d\nvars: {hook: "http://127.0.0.1:9/x"}\nnotify: [{webhook: {url: "{{ hook }}"}}]\nchecks:\n  a: {command: {cmd: "true"}}\n',
    ).settings
    assert settings is not None and settings.notify[0].webhook is not None
    assert settings.notify[0].webhook.url == "http://127.0.0.1:9/x"


def test_a_notify_command_past_its_timeout_is_killed_with_what_it_started(tmp_path: Path) -> None:
    late = tmp_path / "late"
    spec = CommandNotifySpec(cmd=f"(sleep 1.5; touch {late}) & wait", timeout=0.3)
    with pytest.raises(NotifyError, match=r"did not finish within 0\.3s"):
        notify.run_command(spec, message())
    time.sleep(2)  # past the moment the background job would have written
    assert not late.exists()
