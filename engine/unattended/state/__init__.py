"""Where state across runs lives, and how to open it.

`open_store(location)` takes a file path (SQLite, the default) or a ``postgresql://`` URL.
Without one: ``$REMEDIATE_STATE``, else ``/var/lib/remediate/state.db`` for root and
``$XDG_STATE_HOME/remediate/state.db`` (``~/.local/state/...``) for other users.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import StateStoreError
from engine.unattended.state.base import Attempt, Escalation, HistoryEntry, NodeState, Pause, SqlStateStore

StateStore = SqlStateStore

__all__ = [
    "Attempt",
    "Escalation",
    "HistoryEntry",
    "NodeState",
    "Pause",
    "StateStore",
    "StateStoreError",
    "default_location",
    "open_store",
]


def default_location() -> str:
    """The state location when none is given (see the module docstring)."""
    if os.environ.get("REMEDIATE_STATE"):
        return os.environ["REMEDIATE_STATE"]
    if os.geteuid() == 0:
        return "/var/lib/remediate/state.db"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(base) / "remediate" / "state.db")


def open_store(location: str | None = None) -> StateStore:
    """Open (creating and migrating on first use) the state store at `location`."""
    location = location or default_location()
    if location.startswith(("postgresql://", "postgres://")):
        from engine.unattended.state.postgres import PostgresStateStore

        _check_url(location)
        return PostgresStateStore(location)
    from engine.unattended.state.sqlite import SqliteStateStore

    return SqliteStateStore(location)


def _check_url(url: str) -> None:
    """StateStoreError for a URL whose host or port cannot be read (``[::zz]``, port 99999999):
    invalid input, found before any connection is tried. The URL is not repeated: it may
    hold a password."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.hostname, parts.port  # noqa: B018 -- reading them is the check
    except ValueError as exc:
        raise StateStoreError(f"invalid --state URL: {exc}") from None
