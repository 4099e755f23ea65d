"""The whole of unattended operation, end to end, as cron would drive it: `remediate run`
started again and again against a service that cannot be fixed, then recovers by itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import exit_codes
from tests.support.cli import remediate
from tests.support.playbooks import write_playbook
from tests.support.services import Service
from tests.support.webhook import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    served = Receiver(failures=1)  # the first delivery fails: retried, not lost
    yield served
    served.close()


def test_an_unfixable_service_is_restarted_only_up_to_its_limit_escalated_and_recovers_alone(
    tmp_path: Path, http_service: Service, receiver: Receiver, state_location: str
) -> None:
    http_service.set_state("broken")  # restarting does not help: it comes back broken
    metrics = tmp_path / "remediate.prom"
    playbook = write_playbook(
        tmp_path,
        f"""
        name: e2e
        notify:
          - webhook: {{url: "{receiver.url}", retries: 2}}
        checks:
          api:
            http: {{url: "http://127.0.0.1:{http_service.port}/health", status: 200, timeout: 2s}}
            severity: P1
            verify: {{within: 300ms, interval: 100ms}}
            limit: {{max: 2, within: 1h}}
            run_backoff: {{initial: 0s}}
            remediate:
              - name: restart api
                command:
                  cmd: |
                    {http_service.restart_command}
              - wait: {{timeout: 500ms, interval: 100ms}}
        """,
    )

    def run() -> int:
        return remediate(
            "run", playbook, "--metrics-textfile", metrics, state=state_location, cwd=tmp_path
        ).returncode

    statuses = [run() for _ in range(6)]

    assert statuses == [exit_codes.PROBLEMS] * 6
    assert http_service.starts == 1 + 2  # started by the test, then restarted twice: the limit
    # Not once per run: when its ladder is spent, and once more when the engine stops trying.
    assert receiver.events == ["escalation", "escalation"]
    spent, held = receiver.delivered
    assert spent["node"] == "api" and spent["severity"] == "P1"
    assert spent["reason"].startswith("still down after its whole ladder (2 rungs tried in 1 attempt)")
    assert [t["step"] for t in held["tried"] if t["action"] == "command"] == ["restart api"] * 2
    assert "limit reached" in held["reason"]
    text = metrics.read_text()
    assert 'remediate_node_suppressed{host="localhost",node="api"} 1.0' in text
    assert "remediate_escalations_open 1.0" in text
    history = remediate("history", "--node", "api", state=state_location, cwd=tmp_path).stdout
    assert history.count("escalated") == 1
    assert history.count("suppressed") == 4

    http_service.set_state("ok")  # the service recovers by itself
    assert run() == exit_codes.OK
    assert run() == exit_codes.OK

    assert http_service.starts == 3  # nothing more was done to it
    assert receiver.events == ["escalation", "escalation", "recovery"]
    text = metrics.read_text()
    assert 'remediate_node_healthy{host="localhost",node="api"} 1.0' in text
    assert 'remediate_node_suppressed{host="localhost",node="api"} 0.0' in text
    assert "remediate_escalations_open 0.0" in text
    assert "closed" in remediate("history", "--node", "api", state=state_location, cwd=tmp_path).stdout
