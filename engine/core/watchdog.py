"""Bounding calls that may hang: the engine never waits on a check or action forever."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from engine.errors import CallTimeout

T = TypeVar("T")
A = TypeVar("A")


def call_with_timeout(function: Callable[[A], T], argument: A, timeout: float) -> T:
    """Call `function(argument)` and return its result or raise its exception; raise
    CallTimeout after `timeout` seconds. Python cannot kill a thread, so a hung call is left
    running in a daemon thread: clients and transports are expected to honour their own
    timeouts (the transport kills hung commands), this is the last line of defence."""
    outcome: dict[str, object] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = function(argument)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, daemon=True, name="remediate-call").start()
    if not finished.wait(timeout):
        raise CallTimeout(f"did not finish within {timeout:g}s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
