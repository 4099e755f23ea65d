"""The built-in check types (http, tcp, command) and action types (command, wait, sleep)
against real local processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.command import CommandCheck
from checks.http import HttpCheck
from checks.tcp import TcpCheck
from engine.clients.sizes import OUTPUT_HEAD, OUTPUT_TAIL
from engine.core.results import ActionStatus, CheckResult, Health
from remediations.command import CommandAction
from remediations.sleep import SleepAction
from remediations.wait import WaitAction
from tests.support.clock import FakeClock
from tests.support.contexts import action_context, probe_context
from tests.support.services import Service, free_port


def http(service: Service, path: str = "/health", **options: object) -> CheckResult:
    return HttpCheck(url=f"http://127.0.0.1:{service.port}{path}", **options).probe(probe_context())


def test_http_is_healthy_with_the_expected_status_and_json(http_service: Service) -> None:
    result = http(http_service, json={"status": "ok"})
    assert result.health is Health.HEALTHY
    assert result.evidence["status"] == 200


def test_http_reports_an_unexpected_status(http_service: Service) -> None:
    http_service.set_state("degraded")
    result = http(http_service)
    assert (result.health, result.reason) == (Health.UNHEALTHY, "status 500, expected 200")


def test_http_accepts_any_of_several_statuses(http_service: Service) -> None:
    http_service.set_state("degraded")
    assert http(http_service, status=[200, 500]).is_healthy


def test_http_reports_a_json_field_with_the_wrong_value(http_service: Service) -> None:
    result = http(http_service, json={"status": "green"})
    assert result.reason == "JSON field 'status' is 'ok', expected 'green'"


def test_http_reports_a_missing_json_field(http_service: Service) -> None:
    assert http(http_service, json={"db.state": "up"}).reason == "JSON has no field 'db.state'"


def test_http_checks_the_body_against_a_regex(http_service: Service) -> None:
    assert http(http_service, body_regex='"status": "ok"').is_healthy
    assert http(http_service, body_regex="healthy").reason == "body does not match /healthy/"


def test_http_is_unhealthy_when_slower_than_max_latency(http_service: Service) -> None:
    http_service.set_state("slow 0.3")
    result = http(http_service, max_latency="100ms")
    assert result.health is Health.UNHEALTHY
    assert "more than 100ms" in result.reason


def test_http_times_out(http_service: Service) -> None:
    http_service.set_state("slow 3")
    result = http(http_service, timeout="300ms")
    assert (result.health, result.reason) == (
        Health.UNHEALTHY,
        f"GET http://127.0.0.1:{http_service.port}/health: timed out",
    )


def test_http_reports_a_refused_connection() -> None:
    port = free_port()
    result = HttpCheck(url=f"http://127.0.0.1:{port}/").probe(probe_context())
    assert result.reason == f"GET http://127.0.0.1:{port}/: connection refused"


def test_http_refuses_a_url_that_is_not_http() -> None:
    with pytest.raises(ValidationError, match="expected an http:// or https:// URL"):
        HttpCheck(url="ftp://example/")


def test_tcp_is_healthy_when_the_port_accepts(tcp_service: Service) -> None:
    assert TcpCheck(port=tcp_service.port).probe(probe_context()).is_healthy


def test_tcp_reports_a_refused_port() -> None:
    port = free_port()
    result = TcpCheck(port=port).probe(probe_context())
    assert (result.health, result.reason) == (Health.UNHEALTHY, f"127.0.0.1:{port} refused the connection")


def test_command_compares_the_exit_code() -> None:
    assert CommandCheck(cmd="exit 3", exit_code=3).probe(probe_context()).is_healthy
    result = CommandCheck(cmd="echo boom; exit 1").probe(probe_context())
    assert (result.reason, result.evidence["output"]) == ("exited 1, expected 0: boom", "boom")


def test_command_matches_stdout_against_a_regex() -> None:
    assert CommandCheck(cmd="echo PONG", stdout_regex="^PONG$").probe(probe_context()).is_healthy
    assert (
        CommandCheck(cmd="echo nope", stdout_regex="PONG").probe(probe_context()).reason
        == "output does not match /PONG/: nope"
    )


@pytest.mark.timeout(30)
def test_command_stdout_regex_cannot_hang_on_catastrophic_backtracking() -> None:
    result = CommandCheck(cmd="printf %050d0 0 | tr 0 a; echo b", stdout_regex="^(a+)+$").probe(
        probe_context()
    )
    assert result.reason.startswith("output does not match /^(a+)+$/")


def test_command_stdout_regex_dollar_matches_before_the_final_newline_as_in_python() -> None:
    assert CommandCheck(cmd="printf 'PONG\\n'", stdout_regex="G$").probe(probe_context()).is_healthy


def test_command_refuses_a_regex_re2_cannot_run_in_linear_time() -> None:
    with pytest.raises(ValidationError, match=r"stdout_regex\n.*no backreferences or lookaround"):
        CommandCheck(cmd="true", stdout_regex=r"(a)\1")


@pytest.mark.timeout(60)
def test_command_output_in_the_evidence_is_bounded_however_long_the_output() -> None:
    result = CommandCheck(cmd="head -c 50000000 /dev/zero | tr '\\0' x; exit 1").probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert len(result.evidence["output"]) <= 2 * (OUTPUT_HEAD + OUTPUT_TAIL) + 128


def test_command_that_hangs_is_an_error_not_unhealthy() -> None:
    result = CommandCheck(cmd="sleep 30", timeout="300ms").probe(probe_context())
    assert (result.health, result.reason) == (Health.ERROR, "command did not finish within 0.3s")


def test_command_takes_an_argument_list_without_a_shell() -> None:
    assert CommandCheck(cmd=["test", "-n", "$HOME"]).probe(probe_context()).is_healthy


def test_command_refuses_a_bad_regex() -> None:
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        CommandCheck(cmd="true", stdout_regex="(")


def test_command_action_changes_on_success_and_fails_with_its_output(tmp_path: Path) -> None:
    marker = tmp_path / "done"
    assert CommandAction(cmd=f"touch {marker}").apply(action_context()).status is ActionStatus.CHANGED
    assert marker.exists()
    failed = CommandAction(cmd="echo nope >&2; exit 4").apply(action_context())
    assert (failed.status, failed.detail) == (ActionStatus.FAILED, "exited 4: nope")


def test_a_failed_command_action_gives_its_last_three_lines_of_output_on_one_line() -> None:
    failed = CommandAction(cmd="printf 'one\\ntwo\\nthree\\nfour\\n' >&2; exit 1").apply(action_context())
    assert failed.detail == "exited 1: two | three | four"


def test_wait_polls_the_check_until_it_passes() -> None:
    answers = [CheckResult.unhealthy("down"), CheckResult.unhealthy("down"), CheckResult.healthy()]
    clock = FakeClock()
    result = WaitAction(timeout="30s", interval="2s").apply(
        action_context(clock=clock, recheck=lambda: answers.pop(0))
    )
    assert (result.status, clock.sleeps) == (ActionStatus.OK, [2, 2])


def test_wait_fails_at_its_timeout_with_the_last_reason() -> None:
    clock = FakeClock()
    result = WaitAction(timeout="5s", interval="1s").apply(
        action_context(clock=clock, recheck=lambda: CheckResult.unhealthy("refused"))
    )
    assert (result.status, result.detail) == (ActionStatus.FAILED, "still unhealthy after 5s: refused")
    assert sum(clock.sleeps) == 5


def test_sleep_pauses_for_its_duration() -> None:
    clock = FakeClock()
    assert SleepAction(duration="1m").apply(action_context(clock=clock)).status is ActionStatus.OK
    assert clock.sleeps == [60]
