"""The summary printed after a run: one aligned line per node, reasons as written."""

from __future__ import annotations

import io
from datetime import datetime

from engine.core.node import Mode, NodeResult
from engine.core.results import Outcome
from engine.output.report import RunReport, print_summary


def summary(*nodes: NodeResult) -> list[str]:
    stream = io.StringIO()
    print_summary(RunReport("r1", "shop", Mode.RUN, datetime(2026, 1, 1), nodes=list(nodes)), stream)
    return stream.getvalue().splitlines()


def test_each_node_is_one_line_with_its_host_outcome_and_reason() -> None:
    lines = summary(
        NodeResult("web1", "nginx", Outcome.HEALTHY, "200 OK"),
        NodeResult("db1", "postgres", Outcome.REMEDIATED, "restarted", attempts=2),
    )
    assert lines[1].split() == ["host", "node", "outcome", "attempts", "reason"]
    assert lines[2].split() == ["web1", "nginx", "healthy", "200", "OK"]
    assert lines[3].split() == ["db1", "postgres", "remediated", "2", "restarted"]


def test_columns_line_up_whatever_the_lengths() -> None:
    lines = summary(
        NodeResult("a", "n", Outcome.HEALTHY, "x"),
        NodeResult("a-much-longer-host", "node", Outcome.FAILED, "y"),
    )
    assert lines[1].index("outcome") == lines[2].index("healthy") == lines[3].index("failed")
    assert lines[1].index("reason") == lines[2].index("x") == lines[3].index("y")


def test_reasons_with_brackets_are_printed_as_written() -> None:
    (line,) = [
        line
        for line in summary(NodeResult("h", "q", Outcome.FAILED, "exit 1: [red]oops[/] [1/3]"))
        if "q" in line
    ]
    assert line.endswith("exit 1: [red]oops[/] [1/3]")


def test_a_blocked_node_names_what_blocks_it() -> None:
    lines = summary(NodeResult("h", "api", Outcome.BLOCKED, "", blocked_by=["h:db"]))
    assert lines[2].endswith("blocked by h:db")


def test_secrets_in_reasons_are_masked() -> None:
    lines = summary(NodeResult("h", "db", Outcome.ERROR, "cannot connect to postgresql://app:hunter2@db/app"))
    assert lines[2].endswith("cannot connect to postgresql://app:***@db/app")
    assert "hunter2" not in "\n".join(lines)


def test_totals_and_exit_status_end_the_summary() -> None:
    lines = summary(NodeResult("h", "a", Outcome.HEALTHY), NodeResult("h", "b", Outcome.FAILED))
    assert lines[-1] == "1 failed, 1 healthy; exit status 1"


def test_an_error_several_nodes_of_a_host_share_is_given_in_full_once() -> None:
    no_engine = "no Docker engine on this host: /var/run/docker.sock does not exist (is dockerd running?)"
    lines = summary(
        NodeResult("h", "postgres", Outcome.ERROR, no_engine),
        NodeResult("h", "redis", Outcome.ERROR, no_engine),
        NodeResult("h", "backend", Outcome.ERROR, no_engine),
    )
    assert sum(no_engine in line for line in lines) == 1
    assert lines[2].endswith(no_engine)
    assert lines[3].endswith("same error as postgres") and lines[4].endswith("same error as postgres")


def test_the_same_error_on_another_host_is_given_again() -> None:
    lines = summary(NodeResult("a", "db", Outcome.ERROR, "unreachable"), NodeResult("b", "db", Outcome.ERROR, "unreachable"))
    assert lines[2].endswith("unreachable") and lines[3].endswith("unreachable")


def test_equal_reasons_that_are_not_errors_are_each_given() -> None:
    lines = summary(NodeResult("h", "a", Outcome.FAILED, "exit 1"), NodeResult("h", "b", Outcome.FAILED, "exit 1"))
    assert lines[2].endswith("exit 1") and lines[3].endswith("exit 1")
