"""The live progress line: on a terminal only."""

from __future__ import annotations

import io

from engine.core.node import NodeResult
from engine.core.results import Outcome
from engine.output.progress import live_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_there_is_no_progress_and_events_pass_through() -> None:
    pipe = io.StringIO()
    with live_progress(2, pipe) as (on_node_done, stream):
        on_node_done(NodeResult("h", "n", Outcome.HEALTHY))
        stream.write("event\n")
    assert pipe.getvalue() == "event\n"


def test_on_a_terminal_events_print_whole_lines_above_the_progress() -> None:
    terminal = Terminal()
    with live_progress(2, terminal) as (on_node_done, stream):
        stream.write("first event")
        stream.write("\n")
        on_node_done(NodeResult("h", "n", Outcome.REMEDIATED))
    lines = [line.replace("\x1b[2K", "") for line in terminal.getvalue().splitlines() if "event" in line]
    assert lines == ["first event"]
