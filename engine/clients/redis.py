"""Connecting to Redis for the redis check, redis_command and celery types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, field_validator, model_validator

from engine.clients.http import validate_url_port
from engine.core.context import ProbeContext
from engine.secrets.sources import read_secret

if TYPE_CHECKING:
    import redis


class RedisOptions(BaseModel):
    """Where Redis is and how to log in; the password comes from `password_env` or
    `password_file`, never from the playbook."""

    url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="redis:// or rediss:// (TLS) URL without a password; the database is the path",
    )
    username: str | None = Field(None, description="ACL user (Redis 6+), when not `default`")
    password_env: str | None = Field(None, description="environment variable holding the password")
    password_file: str | None = Field(None, description="file whose first line is the password")
    tls: bool = Field(False, description="use TLS (same as a rediss:// URL)")
    tls_ca_file: str | None = Field(None, description="CA bundle to verify the server with")
    tls_verify: bool = Field(True, description="verify the server's certificate")
    via_host: bool = Field(
        True,
        description="reach the URL's host:port as the target host sees it (through its "
        "transport); false connects from the controller",
    )

    @field_validator("url")
    @classmethod
    def _is_redis_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(f"expected a redis:// or rediss:// URL, got {url!r}")
        validate_url_port(url)
        if parts.password:
            raise ValueError("the URL contains a password; put it in `password_env` or `password_file`")
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise ValueError(f"the URL's path must be a database number, got {parts.path!r}")
        return url

    @model_validator(mode="after")
    def _one_password_source(self) -> RedisOptions:
        if self.password_env and self.password_file:
            raise ValueError("give the password by `password_env` or `password_file`, not both")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.tls or urlsplit(self.url).scheme == "rediss"

    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 6379

    def resolved_url(self, ctx: ProbeContext, *, with_password: bool) -> str:
        """The URL with host:port made reachable from the controller and, if asked, the
        password filled in (for clients that only take a URL, like Celery's)."""
        parts = urlsplit(self.url)
        host, port = ctx.endpoint(*self.address(), via_host=self.via_host)
        userinfo = ""
        password = read_secret(env=self.password_env, file=self.password_file)
        if with_password and password is not None:
            from urllib.parse import quote

            userinfo = f"{quote(self.username or '', safe='')}:{quote(password, safe='')}@"
        elif self.username:
            userinfo = f"{self.username}@"
        scheme = "rediss" if self.uses_tls else "redis"
        return urlunsplit((scheme, f"{userinfo}{host}:{port}", parts.path, parts.query, ""))

    def connect(self, ctx: ProbeContext, timeout: float) -> redis.Redis:
        """A client whose connect and every command are bounded by `timeout`."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        host, port = ctx.endpoint(*self.address(), via_host=self.via_host)
        db = urlsplit(self.url).path.strip("/")
        kwargs: dict[str, Any] = {
            "host": host,
            "port": port,
            "db": int(db) if db else 0,
            "username": self.username,
            "password": read_secret(env=self.password_env, file=self.password_file),
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "decode_responses": True,
            # redis-py 6+ retries three times with backoff by default; a probe must answer
            # within its timeout, and the engine has its own retry policy.
            "retry": Retry(NoBackoff(), 0),
        }
        if self.uses_tls:
            kwargs.update(
                ssl=True,
                ssl_ca_certs=self.tls_ca_file,
                ssl_cert_reqs="required" if self.tls_verify else "none",
                ssl_check_hostname=self.tls_verify,
            )
        return redis.Redis(**kwargs)


def describe_error(exc: Exception) -> tuple[str, str]:
    """(kind, message) for a redis-py exception: refused, auth_failed, timeout, loading,
    tls or other."""
    import redis.exceptions as errors

    text = str(exc)
    lowered = text.lower()
    if (
        isinstance(exc, errors.AuthenticationError)
        or "wrongpass" in lowered
        or "noauth" in lowered
        or "invalid password" in lowered
    ):
        return "auth_failed", f"authentication failed: {text}"
    if isinstance(exc, errors.BusyLoadingError):
        return "loading", "Redis is loading its dataset into memory"
    if isinstance(exc, errors.TimeoutError) or "timed out" in lowered or "timeout" in lowered:
        return "timeout", "timed out"
    if "refused" in lowered:
        return "refused", "connection refused"
    if "ssl" in lowered or "certificate" in lowered:
        return "tls", f"TLS failed: {text}"
    return "other", text
