"""Every error remediate raises, in one tree; each knows the exit status it ends a command with.

    RemediateError                          exit 1 unless a branch says otherwise
    ├── InvalidInput                        exit 2: invalid input, nothing was run
    │   ├── PlaybookError                   every problem of a playbook, with file:line:column
    │   ├── TemplateProblem                 a template that cannot render or broke a bound
    │   ├── GraphError                      dangling dependencies, cycles
    │   ├── ExtraVarsError                  an -e value
    │   ├── InputLimitError                 a file past a size, depth or count limit
    │   ├── InventoryError                  an inventory file
    │   ├── HostPatternError                a host range that cannot be expanded
    │   ├── ComposeError                    a compose file (remediate init)
    │   ├── SecretError                     a secret a playbook points at cannot be read
    │   ├── TokenError                      the status page's token: unreadable, short, world-readable
    │   ├── KubeconfigError                 a kubeconfig file or context that does not exist
    │   ├── StateStoreError                 the state store named cannot be opened or used
    │   ├── BrokerError                     a --broker URL that cannot be used (malformed, unknown scheme)
    │   ├── FleetError                      a fleet that cannot start (no PostgreSQL store, a name in use)
    │   └── ApprovalError                   an approval named that does not exist or cannot be answered
    ├── LockHeld                            exit 3: another run holds a host's lock
    ├── TransportError                      a host cannot be reached (checks report `error`)
    ├── ClientError                         a service's client could not ask (checks: `error`)
    │   ├── DockerError
    │   │   ├── ContainerNotFound
    │   │   └── ContainerNotRunning         an answer about the container, not a failure
    │   ├── PostgresConnectError
    │   ├── HttpFetchError
    │   ├── KubernetesError                 the API server cannot be reached or refused
    │   │   └── KubeObjectNotFound          an answer: the object asked about does not exist
    │   └── ComposeNotFound
    ├── NotifyError                         a notification target did not take the message
    ├── LabError                            the lab cannot be built or brought to health
    ├── CallTimeout                         a call did not return in time
    └── TemplateLimit                       internal: becomes a TemplateProblem

Errors that were builtin exceptions before this tree existed keep that base too (a
`TemplateProblem` is still a `ValueError`), so callers that catch the builtin keep working.
This module is a leaf: it imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from engine import exit_codes


class RemediateError(Exception):
    """The root: anything remediate raises on purpose. `exit_code` is what the command line
    exits with when this error ends a command."""

    exit_code: ClassVar[int] = exit_codes.PROBLEMS


# --- invalid input: exit 2, nothing was run ----------------------------------------------


class InvalidInput(RemediateError):
    """Input that cannot be used (playbook, inventory, variables, files, arguments)."""

    exit_code: ClassVar[int] = exit_codes.INVALID


class PlaybookError(InvalidInput):
    """A playbook that cannot run; nothing was run. Carries every problem found
    (`engine.playbook.errors.Problem`: file, line, column, field path, message)."""

    def __init__(self, problems: Sequence[Any]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class TemplateProblem(InvalidInput, ValueError):
    """A template that cannot be rendered: undefined variable, syntax error, loop, or a
    template that tried something not allowed or exceeded a bound.

    `path` is where in the rendered data the template was (keys and list indexes below the
    value given to `render_tree`, or the variable's name first for `resolve_variables`), so
    the caller can name the field and its line."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


class GraphError(InvalidInput, ValueError):
    """Dangling dependencies or cycles; each problem is (playbook path, message)."""

    def __init__(self, problems: Sequence[tuple[tuple[str | int, ...], str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(message for _, message in self.problems))


class ExtraVarsError(InvalidInput, ValueError):
    """An -e value that cannot be read."""


class InputLimitError(InvalidInput, ValueError):
    """A file that cannot be read or is past a limit; ``line`` is 1-based, 0 when unknown."""

    def __init__(self, file: str, line: int, message: str) -> None:
        self.file, self.line, self.message = file, line, message
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")


class InventoryError(InvalidInput, ValueError):
    """An inventory that cannot be read; the message names the file and line."""


class HostPatternError(InvalidInput, ValueError):
    """A host entry whose range cannot be expanded."""


class ComposeError(InvalidInput, ValueError):
    """A compose file cannot be read or is not a compose file."""


class SecretError(InvalidInput, ValueError):
    """A secret that a playbook refers to cannot be read."""


class TokenError(InvalidInput, ValueError):
    """A token of `remediate daemon --listen` that cannot be used: unreadable, too short, or
    in a file every user can read (the message gives the chmod that fixes it)."""


class KubeconfigError(InvalidInput, ValueError):
    """A host's kubeconfig file, or the context it names, does not exist or cannot be read."""


class StateStoreError(InvalidInput, RuntimeError):
    """The state store cannot be opened or used (bad path, unreachable database, newer schema)."""


class BrokerError(InvalidInput, ValueError):
    """A `--broker` URL that cannot be used: malformed, or a transport Celery does not know.
    The message never repeats the URL's password."""


class FleetError(InvalidInput, RuntimeError):
    """A fleet worker or scheduler that cannot start: its state store is not PostgreSQL (the
    fleet's locks, ticks and claims live there), or a worker of that name is running."""


class ApprovalError(InvalidInput, ValueError):
    """`remediate approve/deny ID` (or the status page) named an approval that does not exist,
    was already answered, or expired (it is then denied, and the message says so); nothing
    was changed."""


# --- another run: exit 3 ------------------------------------------------------------------


class LockHeld(RemediateError, RuntimeError):
    """Another run holds the lock of a host this run needs."""

    exit_code: ClassVar[int] = exit_codes.LOCKED

    def __init__(self, host: str, holder: str) -> None:
        super().__init__(f"another run holds the lock for host {host}: {holder}")
        self.host = host
        self.holder = holder


# --- reaching hosts and services ----------------------------------------------------------


class TransportError(RemediateError):
    """The host could not be reached or the transport failed (not the command).

    Checks turn this into an `error` result: the engine never acts on it.
    """


class ClientError(RemediateError):
    """A service's client could not ask its question (checks report `error`, actions
    `failed`)."""


class DockerError(ClientError):
    """The Docker engine could not be asked (not reachable, API error, timeout), or the
    container reference is ambiguous. Checks report it as an error, actions as failed."""


class ContainerNotFound(DockerError):
    """No container matches the reference."""


class ContainerNotRunning(DockerError):
    """The engine answered that the container is not running (stopped, paused, restarting),
    e.g. when it stopped between an inspect and an exec: an answer about the container, not
    a failure to look."""


class PostgresConnectError(ClientError):
    """The connection failed; `kind` says how: refused, auth_failed, database_missing,
    timeout, unreachable or other."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class HttpFetchError(ClientError):
    """No HTTP answer: refused, timed out, unreachable."""


class KubernetesError(ClientError):
    """The Kubernetes API server could not be reached, timed out, or refused the request
    (a 403 names the verb, the resource and the Role rule that would allow it)."""


class KubeObjectNotFound(KubernetesError):
    """The API server answered 404 for the object asked about: an answer (it is missing), not
    a failure to ask."""


class ComposeNotFound(ClientError):
    """Compose cannot run on the host: it has neither compose CLI, or the project directory
    or compose file is missing."""


# --- the rest -----------------------------------------------------------------------------


class NotifyError(RemediateError, RuntimeError):
    """A target did not take the message."""


class LabError(RemediateError, RuntimeError):
    """The lab cannot be built, found or brought to health."""


class CallTimeout(RemediateError, TimeoutError):
    """The call did not return in time; it is abandoned in a daemon thread."""


class TemplateLimit(RemediateError):
    """A template exceeded a bound on what it may compute (reported as a TemplateProblem)."""
