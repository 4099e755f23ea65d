"""Structured logging: both formats pass every event, tracebacks included, through the redactor."""

from __future__ import annotations

import io

import pytest

from engine.output import logs


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_logged_traceback_is_masked_like_any_event(log_format: str) -> None:
    stream = io.StringIO()
    logs.configure(log_format, stream=stream)  # type: ignore[arg-type]
    try:
        raise ConnectionError("cannot reach postgresql://app:Tb8secret@db/app?apikey=Kq51")
    except ConnectionError:
        logs.get_logger().exception("node crashed", step="login with token=Zz90abc")
    output = stream.getvalue()
    assert "ConnectionError" in output and "postgresql://app:***@db/app" in output
    for secret in ("Tb8secret", "Kq51", "Zz90abc"):
        assert secret not in output
