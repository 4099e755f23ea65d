"""Structured logging: one event per step, JSON for machines, readable for people, and never a
secret (every event passes through the redactor)."""

from __future__ import annotations

import sys
from collections.abc import MutableMapping
from typing import Any, Literal

LogFormat = Literal["auto", "json", "console"]


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    from engine.secrets.redact import REDACTOR

    return REDACTOR.data(dict(event))


def _structlog() -> Any:
    from engine.output.lean_imports import import_without

    # Without rich: it only draws exceptions in the console format (plain tracebacks do).
    return import_without("structlog", "rich")


def configure(log_format: LogFormat = "auto", verbose: bool = False, stream: Any = None) -> None:
    """Send events to stderr: a console format on a terminal, JSON lines otherwise (cron,
    systemd, pipes) unless `log_format` says which."""
    import logging

    structlog = _structlog()

    stream = stream or sys.stderr
    if log_format == "auto":
        log_format = "console" if stream.isatty() else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # A traceback as text before masking: its messages may quote a secret, and a
            # renderer formatting exc_info itself would print it unmasked.
            structlog.processors.format_exc_info,
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG if verbose else logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str = "remediate", **context: Any) -> Any:
    """A logger that follows `configure`, whenever that is called, with `context` bound."""
    logger = _structlog().get_logger(name)
    return logger.bind(**context) if context else logger


class QuietLogger:
    """Takes every structlog call and drops it (runs embedded in tests and tools)."""

    def bind(self, **_: Any) -> QuietLogger:
        return self

    def __getattr__(self, _name: str) -> Any:
        return lambda *args, **kwargs: None
