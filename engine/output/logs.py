"""Structured logging: one event per step, JSON for machines, readable for people, and never a
secret (every event passes through the redactor)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal

LogFormat = Literal["auto", "json", "console", "people"]
"""`people`: a line per node and per rung (`engine.output.terminal`), not every event."""


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    from engine.secrets.redact import REDACTOR

    return REDACTOR.data(dict(event))


def _structlog() -> Any:
    from engine.output.lean_imports import import_without

    # Without rich: it only draws exceptions in the console format (plain tracebacks do).
    return import_without("structlog", "rich")


def run_format(log_format: str, verbose: bool, stream: Any) -> LogFormat:
    """How a run or check shows its events: to a person on a terminal, a line per node and
    rung (`people`); the whole event stream when asked for (`-v`, `--log-format`); JSON lines
    off a terminal, as `auto` says."""
    if log_format == "auto" and not verbose and stream.isatty():
        return "people"
    return log_format  # type: ignore[return-value]


def configure(
    log_format: LogFormat = "auto",
    verbose: bool = False,
    stream: Any = None,
    names: Iterable[str] = (),
    many_hosts: bool = False,
) -> None:
    """Send events to stderr: a console format on a terminal, JSON lines otherwise (cron,
    systemd, pipes) unless `log_format` says which. `names` and `many_hosts` line up the
    `people` format's node names."""
    import logging

    structlog = _structlog()

    stream = stream or sys.stderr
    if log_format == "auto":
        log_format = "console" if stream.isatty() else "json"
    chosen: list[Any] = []
    renderer: Any
    if log_format == "people":
        from engine.output.terminal import PeopleRenderer

        people = PeopleRenderer(names, many_hosts, colors=stream.isatty())

        def chosen_only(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
            if not people.shows(event):
                raise structlog.DropEvent
            return event

        chosen, renderer = [chosen_only], people
    elif log_format == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            *chosen,
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
