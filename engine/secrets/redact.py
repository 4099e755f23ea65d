"""Keeps secrets out of logs, reports, the state store and notifications.

Four rules: passwords in URLs and DSNs are masked; values of secret-named parameters in text
(``?token=...``, ``password='...'``) are masked; values under secret-named keys of data are
masked; and any value registered as a secret (a secret-named variable's value, or one read
from a password file or an environment variable at run time) is masked wherever it appears.

Every sink (both log formats, the summary and plan, reports, the state store, webhooks,
metrics labels, validation messages) goes through `REDACTOR.text` or `REDACTOR.data`.
Masking runs in time linear in the text: one long line of output must not stall a run.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "***"
MIN_SECRET_LENGTH = 4
"""Shorter registered values are not masked: they would mask unrelated text everywhere."""

# Secret words anywhere in a name (`db_password`, `JWT_SECRET`, `apitoken`), `pass`,
# `key`, `sig` and `auth` as whole words (`ansible_ssh_pass`, `ssh_key`, `key`), and
# compound keys (`api_key`, `apiKey`, `private_key`, `signingKey`).
_SECRET_NAME = re.compile(
    r"password|passwd|passphrase|secret|token|credential|signature|authorization|cookie"
    r"|(?:^|[^a-z0-9])(?:pass|key|keys|sig|auth)(?:$|[^a-z0-9])"
    r"|(?:api|private|access|secret|signing|encryption|master|client|ssh|license)[_-]?keys?",
    re.IGNORECASE,
)
# Every name `_SECRET_NAME` matches contains one of these.
_SECRET_WORDS = (
    "pass",
    "secret",
    "token",
    "credential",
    "signature",
    "authorization",
    "cookie",
    "key",
    "sig",
    "auth",
)
# These name where a secret is (an environment variable, a file), not the secret itself.
_REFERENCE_SUFFIXES = ("_env", "_file", "_path")

# `name=value` with a secret-sounding name, in DSNs (`password='my secret'`), query strings
# (`?access_token=...&`), command lines (`--token=...`) and env dumps (`JWT_SECRET=...`).
# Every quantifier is bounded or stops at a delimiter that ends the next attempt too, so the
# scan is linear in the text.
_NAMED_VALUE = re.compile(
    r"(?P<name>(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_.-]{0,63})(?P<sep>[ \t]{0,4}=[ \t]{0,4})"
    r"(?P<value>'(?:[^'\\\n]|\\.){0,1024}'|\"(?:[^\"\\\n]|\\.){0,1024}\"|[^\s&]{1,2048})"
)
_URL_SCHEME_SEPARATOR = "://"
_URL_AUTHORITY_SCAN = 512
"""How far past `://` a URL's password is looked for; longer userinfo is not a URL's."""
_URL_USER = re.compile(r"[^:/?#@\s\"'<>`]*:")
_URL_AUTHORITY_STOP = re.compile(r"[\s\"'<>`]")
_URL_PATH = re.compile(r"[/?#]")


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether a name (a mapping key, a variable, a parameter) names a secret: ``password``,
    ``JWT_SECRET``, ``api_token``, ``api_key``, ``ansible_become_password``, ``ssh_key``.
    Names of where a secret is (``password_env``, ``token_file``) do not. Remembered: a
    fleet's hosts repeat the same few dozen variable names, and planning 500 hosts asked
    11,000 times (a tenth of a second in the case-insensitive search)."""
    return bool(_SECRET_NAME.search(key)) and not key.lower().endswith(_REFERENCE_SUFFIXES)


def _mask_url_passwords(text: str) -> str:
    """``scheme://user:PASSWORD@host`` with the password masked, by a linear scan: each
    `://` looks at most `_URL_AUTHORITY_SCAN` characters ahead, and not past the next one."""
    if _URL_SCHEME_SEPARATOR not in text:
        return text
    pieces: list[str] = []
    done = 0
    start = text.find(_URL_SCHEME_SEPARATOR)
    while start != -1:
        authority = start + len(_URL_SCHEME_SEPARATOR)
        following = text.find(_URL_SCHEME_SEPARATOR, authority)
        # A password ends before the next URL: the windows never overlap, the scan is linear.
        limit = min(authority + _URL_AUTHORITY_SCAN, len(text) if following == -1 else following)
        span = _password_span(text, authority, limit)
        if span is not None:
            pieces.append(text[done : span[0]])
            pieces.append(MASK)
            done = span[1]
        start = following
    pieces.append(text[done:])
    return "".join(pieces)


def _password_span(text: str, authority: int, end: int) -> tuple[int, int] | None:
    """Where the password of the userinfo at `authority` is, if there is one: after the
    user's first `:`, up to the last `@` not separated from it by a path (a raw `@` in a
    password is common, RFC or not), looking no further than `end`."""
    user = _URL_USER.match(text, authority, end)
    if user is None:
        return None
    colon = user.end()
    stop = _URL_AUTHORITY_STOP.search(text, colon, end)
    window = text[colon : stop.start() if stop else end]
    at = window.find("@")
    if at == -1:
        return None
    while (following := window.find("@", at + 1)) != -1 and not _URL_PATH.search(window, at, following):
        at = following
    password = window[:at]
    port, slash, _ = password.partition("/")
    if slash and port.isdigit():
        return None  # host:port/path@...: a port, not a password
    return (colon, colon + at) if password else None


def _may_name_secret(text: str) -> bool:
    """A quick test (substring search, not the name regex at every position of a long
    text) whether `text` may hold a secret-named parameter at all."""
    lowered = text.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _mask_named_value(match: re.Match[str]) -> str:
    if not is_secret_key(match["name"]):
        return match[0]
    return f"{match['name']}{match['sep']}{MASK}"


class Redactor:
    """Masks secrets in text and nested data. Thread-safe; one per process is enough."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._ordered: list[str] = []
        self._lock = threading.Lock()

    def add_secret(self, value: str | None) -> None:
        """Mask this exact value from now on (values shorter than `MIN_SECRET_LENGTH` are
        ignored: they would mask unrelated text)."""
        if value and len(value) >= MIN_SECRET_LENGTH:
            with self._lock:
                if value not in self._secrets:
                    self._secrets.add(value)
                    # Longest first: a secret that contains another is masked whole.
                    self._ordered = sorted(self._secrets, key=len, reverse=True)

    def add_secrets_in(self, value: Any, secret: bool = False) -> None:
        """Register every string in `value` that sits under a secret-named key, at any depth
        (``{db: {password: S}}``, ``{api_tokens: [S1, S2]}``); `secret` says `value` itself is."""
        if isinstance(value, str):
            if secret:
                self.add_secret(value)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                self.add_secrets_in(item, secret or (isinstance(key, str) and is_secret_key(key)))
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                self.add_secrets_in(item, secret)

    def text(self, text: str) -> str:
        """`text` with URL passwords, secret-named parameters' values and every registered
        secret masked."""
        text = _mask_url_passwords(text)
        if "=" in text and _may_name_secret(text):
            text = _NAMED_VALUE.sub(_mask_named_value, text)
        with self._lock:
            secrets = self._ordered
        # Registered secrets last, and again until none is left: a mask put next to the
        # rest of the text could otherwise spell a secret again (a secret may contain `*`).
        # Each replacement shortens the text, so this ends.
        masked = True
        while masked:
            masked = False
            for secret in secrets:
                while secret in text:
                    text = text.replace(secret, MASK)
                    masked = True
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
"""The process-wide redactor every sink masks through."""
