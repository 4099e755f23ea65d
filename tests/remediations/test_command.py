"""The `command` action's outcomes, against a fake transport (real commands run in the
playbook and transport tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.results import ActionStatus
from engine.errors import TransportError
from remediations.command import CommandAction
from tests.support.contexts import action_context
from tests.support.fake_transport import FakeTransport, exited, timed_out


def test_a_command_that_exits_0_reports_changed_with_its_duration() -> None:
    fake = FakeTransport({"systemctl restart": exited(0, duration=0.25)})
    result = CommandAction(cmd="systemctl restart app", sudo=True).apply(action_context(transport=fake))
    assert (result.status, result.detail) == (ActionStatus.CHANGED, "exited 0 in 0.25s")
    assert [(call.command, call.sudo) for call in fake.calls] == [("systemctl restart app", True)]


def test_a_command_that_exits_non_zero_fails_with_its_code_and_the_tail_of_stderr() -> None:
    stderr = "one\ntwo\nthree\nJob for app.service failed\n"
    fake = FakeTransport({"systemctl": exited(1, stdout="ignored", stderr=stderr)})
    result = CommandAction(cmd="systemctl restart app").apply(action_context(transport=fake))
    assert (result.status, result.detail) == (
        ActionStatus.FAILED,
        "exited 1: two | three | Job for app.service failed",
    )


def test_a_failing_command_with_no_stderr_quotes_its_stdout() -> None:
    fake = FakeTransport({"make": exited(2, stdout="target missing\n")})
    result = CommandAction(cmd="make deploy").apply(action_context(transport=fake))
    assert (result.status, result.detail) == (ActionStatus.FAILED, "exited 2: target missing")


def test_a_command_killed_at_the_step_timeout_fails_naming_the_timeout() -> None:
    fake = FakeTransport({"migrate": timed_out(3.0)})
    result = CommandAction(cmd="migrate --all").apply(action_context(timeout=3.0, transport=fake))
    assert (result.status, result.detail) == (ActionStatus.FAILED, "killed after 3s")
    assert fake.calls[0].timeout == 3.0


def test_an_unreachable_host_is_left_to_the_engine_not_reported_as_changed() -> None:
    # The runner turns the TransportError into a failed step naming the host.
    fake = FakeTransport({"": TransportError("ssh: connection reset")})
    with pytest.raises(TransportError, match="connection reset"):
        CommandAction(cmd="true").apply(action_context(transport=fake))


_LINE = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1).filter(str.strip)


@given(code=st.integers(1, 255), lines=st.lists(_LINE, min_size=1, max_size=8))
def test_any_non_zero_exit_fails_with_its_code_and_the_last_stderr_line(code: int, lines: list[str]) -> None:
    fake = FakeTransport({"": exited(code, stderr="\n".join(lines))})
    result = CommandAction(cmd="fix").apply(action_context(transport=fake))
    assert result.status is ActionStatus.FAILED
    assert result.detail.startswith(f"exited {code}: ")
    assert result.detail.endswith(lines[-1].strip())


def test_command_action_changes_on_success_and_fails_with_its_output(tmp_path: Path) -> None:
    marker = tmp_path / "done"
    assert CommandAction(cmd=f"touch {marker}").apply(action_context()).status is ActionStatus.CHANGED
    assert marker.exists()
    failed = CommandAction(cmd="echo nope >&2; exit 4").apply(action_context())
    assert (failed.status, failed.detail) == (ActionStatus.FAILED, "exited 4: nope")


def test_a_failed_command_action_gives_its_last_three_lines_of_output_on_one_line() -> None:
    failed = CommandAction(cmd="printf 'one\\ntwo\\nthree\\nfour\\n' >&2; exit 1").apply(action_context())
    assert failed.detail == "exited 1: two | three | four"
