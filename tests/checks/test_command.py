"""The `command` check's failure paths, against a fake transport (the happy paths run real
commands in tests/checks/test_builtin_types.py and the transport tests)."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from checks.command import CommandCheck
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
