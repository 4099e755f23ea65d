"""What a check or an action is handed when it runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engine.core.clock import Clock
from engine.secrets.redact import Redactor

if TYPE_CHECKING:
    from engine.core.results import CheckResult
    from engine.transports.base import Transport


@dataclass
class ProbeContext:
    """The host a check probes and the means to reach it."""

    host: str
    hostvars: Mapping[str, Any]
    transport_for: Callable[[str], Transport]
    clock: Clock
    redactor: Redactor
    timeout: float
    """Seconds the probe may take; clients should use it for their own timeouts."""

    @property
    def transport(self) -> Transport:
        """This host's transport, opened on first use (an http check from the controller
        never opens an SSH connection)."""
        return self.transport_for(self.host)

    def endpoint(self, host: str, port: int, *, via_host: bool = True) -> tuple[str, int]:
        """An address the controller can connect to that reaches host:port as this host sees
        it (through the transport), or host:port itself when probing from the controller."""
        if not via_host:
            return host, port
        return self.transport.local_endpoint(host, port)


class HealthyVersion(Protocol):
    """A version a service ran when it was last verified healthy (the state store's record,
    `engine.unattended.state.base.VersionRecord`): what a rollback goes back to."""

    @property
    def image_id(self) -> str: ...
    @property
    def image(self) -> str: ...
    @property
    def alembic_revision(self) -> str: ...
    @property
    def seen_at(self) -> datetime: ...


VersionLookup = Callable[[str, str], Sequence[HealthyVersion]]
"""(compose project, service) -> the healthy versions recorded on this host, newest first."""


def alembic_revision(evidence: Mapping[str, Any]) -> str:
    """The database's alembic revision(s) as an `alembic_current` check reported them
    (`current`), as one text: how versions record it and how a rollback compares it."""
    current = evidence.get("current")
    return ",".join(str(r) for r in current) if isinstance(current, list) else str(current or "")


@dataclass
class ActionContext(ProbeContext):
    """An action's context: a probe context plus what acting needs."""

    run_id: str = ""
    node: str = ""
    allow_destructive: bool = False
    incident_dir: Path = field(default_factory=lambda: Path("incidents"))
    recheck: Callable[[], CheckResult] | None = None
    """Runs the node's own check again (the `wait` action polls it)."""
    versions: VersionLookup | None = None
    """The healthy versions the state store recorded; None in a run without one."""
    schema_revision: Callable[[], CheckResult] | None = None
    """Runs the check of the playbook's `alembic_node` on this host now (its evidence's
    `current` is the database's revision); None when the playbook names no such node."""
