"""The type author's kit: everything a check or action module needs from the engine, in one
import. A new type starts with

    from engine.kit import CheckResult, Duration, ProbeContext, check_type

and its options are a pydantic model (`checks.base.Check` or `remediations.base.Action`).
Clients of particular services (`engine.clients.*`) are imported from their own modules.
`__all__` is pinned by a test: a name leaves the kit only on purpose.
"""

from engine.core.context import ActionContext, HealthyVersion, ProbeContext, alembic_revision
from engine.core.durations import Duration
from engine.core.regex import Regex, user_regex, valid_regex
from engine.core.registry import action_type, check_type
from engine.core.results import ActionResult, ActionStatus, CheckResult, Health, tail, tail_line
from engine.errors import SecretError, TransportError
from engine.secrets.redact import is_secret_key
from engine.secrets.sources import read_secret

__all__ = [
    "ActionContext",
    "ActionResult",
    "ActionStatus",
    "CheckResult",
    "Duration",
    "Health",
    "HealthyVersion",
    "ProbeContext",
    "Regex",
    "SecretError",
    "TransportError",
    "action_type",
    "alembic_revision",
    "check_type",
    "is_secret_key",
    "read_secret",
    "tail",
    "tail_line",
    "user_regex",
    "valid_regex",
]
