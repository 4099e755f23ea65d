"""Commands on the controller: output is read as it comes and only a bounded head and tail of
each stream is kept, whatever the command prints."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from engine.clients.sizes import OUTPUT_HEAD, OUTPUT_TAIL
from engine.transports.local import LocalTransport

MARKER_ROOM = 64  # the "[... N bytes dropped ...]" line


def test_output_that_fits_is_kept_whole() -> None:
    result = LocalTransport().run("printf 'out\\n'; printf 'err\\n' >&2; exit 4", timeout=10)
    assert (result.exit_code, result.stdout, result.stderr) == (4, "out\n", "err\n")


def test_stdin_reaches_the_command() -> None:
    assert LocalTransport().run("cat", timeout=10, stdin="hello").stdout == "hello"


def test_stdin_a_command_does_not_read_is_no_error() -> None:
    result = LocalTransport().run("exit 0", timeout=10, stdin="x" * (4 * 1024 * 1024))
    assert result.succeeded


@pytest.mark.timeout(60)
def test_100_mb_of_output_keeps_its_head_and_tail_and_says_what_was_dropped() -> None:
    size = 100 * 1024 * 1024
    result = LocalTransport().run(f"head -c {size} /dev/zero | tr '\\0' x; echo END", timeout=50)
    assert result.succeeded
    assert len(result.stdout) <= OUTPUT_HEAD + OUTPUT_TAIL + MARKER_ROOM
    dropped = size + 4 - OUTPUT_HEAD - OUTPUT_TAIL
    assert f"\n[... {dropped} bytes dropped ...]\n" in result.stdout
    assert result.stdout.startswith("x" * OUTPUT_HEAD) and result.stdout.endswith("x" * 100 + "END\n")


@pytest.mark.timeout(30)
def test_yes_until_the_timeout_ends_with_a_bounded_capture() -> None:
    threads = threading.active_count()
    result = LocalTransport().run("yes", timeout=2)
    assert result.timed_out
    assert len(result.stdout) <= OUTPUT_HEAD + OUTPUT_TAIL + MARKER_ROOM
    assert "bytes dropped" in result.stdout
    assert threading.active_count() == threads


@pytest.mark.timeout(30)
def test_a_grandchild_holding_the_pipe_does_not_hold_the_command_past_its_timeout() -> None:
    # setsid leaves the engine's process group, so killing the group does not reach it; its
    # copy of stdout stays open, and the engine stops reading after a short grace.
    result = LocalTransport().run("setsid sleep 5 & sleep 5", timeout=1)
    assert result.timed_out


PEAK = r"""
import resource, sys
from engine.transports.local import LocalTransport
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = LocalTransport().run("head -c 104857600 /dev/zero", timeout=50)
assert result.succeeded, result
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


@pytest.mark.timeout(60)
def test_memory_stays_flat_while_reading_100_mb_of_output() -> None:
    grown_kib = int(
        subprocess.run([sys.executable, "-c", PEAK], capture_output=True, text=True, check=True).stdout
    )
    assert grown_kib < 20 * 1024
