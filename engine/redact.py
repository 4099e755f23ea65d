"""Keeps secrets out of logs and reports.

Three rules: passwords in URLs and DSNs are masked, values under secret-sounding
keys are masked, and any value registered as a secret (read from a password
file or an environment variable at run time) is masked wherever it appears.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_DSN_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.IGNORECASE)
_SECRET_KEY = re.compile(
    r"(^|_)(password|passwd|secret|token|api_?key|private_?key|credentials?)($|_)", re.IGNORECASE
)


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret (``password``, ``JWT_SECRET``, ``api_token``...)."""
    return bool(_SECRET_KEY.search(key)) and not key.lower().endswith(("_env", "_file"))


class Redactor:
    """Masks secrets in text and nested data. Thread-safe; one per process is enough."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add_secret(self, value: str | None) -> None:
        """Mask this exact value from now on (too-short values are ignored: they would
        mask unrelated text)."""
        if value and len(value) >= 4:
            with self._lock:
                self._secrets.add(value)

    def text(self, text: str) -> str:
        text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
        text = _DSN_PASSWORD.sub(lambda m: f"{m['key']}{MASK}", text)
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def data(self, value: Any) -> Any:
        """A copy of nested dicts/lists/strings with every secret masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                k: (MASK if isinstance(k, str) and is_secret_key(k) and v else self.data(v))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


REDACTOR = Redactor()
"""The process-wide redactor used by logging and reporting."""
