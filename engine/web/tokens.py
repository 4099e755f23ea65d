"""The operator's token and Alertmanager's token: read from a file (refused when every user
can read it) or an environment variable; sessions and CSRF tokens signed with them."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from engine.errors import TokenError
from engine.secrets.redact import REDACTOR

TOKEN_ENV = "REMEDIATE_TOKEN"
"""The environment variable holding the operator's token (actions on the status page)."""
HOOK_TOKEN_ENV = "REMEDIATE_HOOK_TOKEN"
"""The environment variable holding the bearer token Alertmanager sends."""
MIN_LENGTH = 16


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def read_token(file: str | None, env: str, what: str) -> str | None:
    """The token from `file` (when given) or the environment variable `env`; None when
    neither is set. A file readable by every user is refused with the chmod that fixes it;
    a token shorter than 16 characters is refused. The token is masked in every output."""
    token: str | None
    if file:
        path = Path(file)
        try:
            mode = path.stat().st_mode
            token = path.read_text().strip()
        except OSError as exc:
            raise TokenError(f"{file}: cannot read the {what}: {exc.strerror}") from None
        if mode & stat.S_IROTH:
            raise TokenError(
                f"{file}: the {what} file is readable by every user; fix it with: chmod 600 {file}"
            )
    else:
        token = os.environ.get(env, "").strip() or None
    if token is None:
        return None
    if len(token) < MIN_LENGTH:
        source = file or f"${env}"
        raise TokenError(
            f"{source}: the {what} is shorter than {MIN_LENGTH} characters; make one with `remediate token`"
        )
    REDACTOR.add_secret(token)
    return token


def same(given: str | None, expected: str | None) -> bool:
    """Whether `given` is the expected token (in constant time); never when none is set."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


@dataclass(frozen=True)
class Sessions:
    """Signed session cookies and their CSRF tokens, keyed by the operator's token: a session
    is `nonce.signature`, its CSRF token a second signature of the nonce. Changing the token
    ends every session."""

    token: str

    def _sign(self, purpose: str, nonce: str) -> str:
        return hmac.new(self.token.encode(), f"{purpose}:{nonce}".encode(), hashlib.sha256).hexdigest()

    def new(self) -> str:
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._sign('session', nonce)}"

    def nonce(self, cookie: str | None) -> str | None:
        """The session's nonce when the cookie is one this token signed."""
        if not cookie or "." not in cookie:
            return None
        nonce, _, signature = cookie.partition(".")
        # Bytes: compare_digest refuses non-ASCII str, and a forged cookie may hold any text.
        expected = self._sign("session", nonce).encode()
        return nonce if hmac.compare_digest(signature.encode(errors="replace"), expected) else None

    def csrf(self, cookie: str | None) -> str:
        nonce = self.nonce(cookie)
        return self._sign("csrf", nonce) if nonce else ""

    def valid(self, cookie: str | None, csrf: str | None) -> bool:
        expected = self.csrf(cookie)
        return bool(expected and csrf) and hmac.compare_digest(
            expected.encode(), (csrf or "").encode(errors="replace")
        )
