"""Reading secrets (passwords, tokens) from where playbooks may point: never inline in logs."""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import SecretError
from engine.secrets.redact import REDACTOR


def read_secret(*, env: str | None = None, file: str | Path | None = None) -> str | None:
    """The secret from an environment variable or a file (first line, stripped), or None when
    neither is given. Every secret read is registered with the redactor, so it is masked in
    logs and reports from then on."""
    value: str | None = None
    if env:
        value = os.environ.get(env)
        if value is None:
            raise SecretError(f"environment variable {env} is not set")
    elif file:
        try:
            value = Path(file).read_text().splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise SecretError(f"cannot read secret from {file}: {exc}") from exc
    REDACTOR.add_secret(value)
    return value
