"""The `command` check's failure paths, against a fake transport (the happy paths run real
commands in tests/checks/test_builtin_types.py and the transport tests)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from checks.command import CommandCheck
from engine.clients.sizes import OUTPUT_HEAD, OUTPUT_TAIL
from engine.core.node import Mode
from engine.core.results import Health, Outcome
from engine.core.runner import Runner, RunSettings
from engine.errors import TransportError
from engine.transports.base import Transport
from engine.transports.pool import TransportPool
from tests.support.contexts import probe_context
from tests.support.fake_transport import FakeTransport, exited, timed_out
from tests.support.playbooks import plan


class _FakePool(TransportPool):
    """A pool whose every host is the one fake transport."""

    def __init__(self, fake: FakeTransport) -> None:
        super().__init__({})
        self.fake = fake

    def get(self, host: str) -> Transport:
        return self.fake


def test_a_host_the_transport_cannot_reach_makes_the_check_an_error_not_unhealthy(tmp_path: Path) -> None:
    fake = FakeTransport({"systemctl": TransportError("ssh: connection refused")})
    playbook = """
        name: p
        checks:
          app: {command: {cmd: "systemctl is-active app"}}
    """
    report = Runner(plan(tmp_path, playbook), RunSettings(mode=Mode.CHECK), transports=_FakePool(fake)).run()
    [node] = report.nodes
    assert (node.outcome, node.reason) == (
        Outcome.ERROR,
        "host localhost unreachable: ssh: connection refused",
    )
    assert fake.commands == ["systemctl is-active app"]


def test_a_command_killed_at_its_timeout_is_an_error_naming_the_timeout() -> None:
    fake = FakeTransport({"sleep": timed_out(2.0)})
    result = CommandCheck(cmd="sleep 60", timeout=2.0).probe(probe_context(transport=fake))
    assert (result.health, result.reason) == (Health.ERROR, "command did not finish within 2s")
    assert fake.calls[0].timeout == 2.0


def test_an_unexpected_exit_code_is_unhealthy_with_the_code_and_the_last_line_of_stderr() -> None:
    fake = FakeTransport({"pg_isready": exited(2, stdout="", stderr="checking\nno response\n")})
    result = CommandCheck(cmd="pg_isready -q").probe(probe_context(transport=fake))
    assert (result.health, result.reason) == (Health.UNHEALTHY, "exited 2, expected 0: no response")
    assert result.evidence["exit_code"] == 2


def test_the_check_runs_its_command_with_sudo_when_asked() -> None:
    fake = FakeTransport({re.compile(r"^cat /etc/shadow$"): exited(0)})
    result = CommandCheck(cmd=["cat", "/etc/shadow"], sudo=True).probe(probe_context(transport=fake))
    assert result.health is Health.HEALTHY
    assert [(call.command, call.sudo) for call in fake.calls] == [("cat /etc/shadow", True)]


_LINE = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1).filter(str.strip)


@given(code=st.integers(1, 255), lines=st.lists(_LINE, min_size=1, max_size=8))
def test_any_unexpected_exit_names_its_code_and_ends_with_the_last_output_line(code: int, lines: list[str]) -> None:
    fake = FakeTransport({"": exited(code, stderr="\n".join(lines))})
    result = CommandCheck(cmd="probe").probe(probe_context(transport=fake))
    assert result.health is Health.UNHEALTHY
    assert result.reason.startswith(f"exited {code}, expected 0: ")
    assert result.reason.endswith(lines[-1].strip())


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
