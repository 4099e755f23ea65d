"""Connecting to PostgreSQL for the postgres, alembic_current and postgres_sql types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, model_validator

from engine.core.context import ProbeContext
from engine.errors import PostgresConnectError
from engine.secrets.sources import read_secret

if TYPE_CHECKING:
    import psycopg


class PostgresOptions(BaseModel):
    """Where the database is and how to log in. Give a `dsn`, or `host`/`port`/`user`/`dbname`;
    the password comes from `password_env` or `password_file`, never from the playbook."""

    dsn: str | None = Field(
        None,
        description="libpq connection string or postgresql:// URL without a password "
        "(host, port, user and dbname then come from it)",
    )
    host: str = Field("127.0.0.1", description="server address as the target host sees it")
    port: int = Field(5432, ge=1, le=65535, description="server port")
    user: str = Field("postgres", description="role to log in as")
    dbname: str = Field("postgres", description="database to connect to")
    password_env: str | None = Field(None, description="environment variable holding the password")
    password_file: str | None = Field(None, description="file whose first line is the password")
    sslmode: str | None = Field(None, description="libpq sslmode (disable, require, verify-full...)")
    via_host: bool = Field(
        True,
        description="reach host:port as the target host sees it (through its transport, "
        "e.g. an SSH tunnel); false connects from the controller",
    )

    @model_validator(mode="after")
    def _valid(self) -> PostgresOptions:
        if self.password_env and self.password_file:
            raise ValueError("give the password by `password_env` or `password_file`, not both")
        if self.dsn is not None:
            from psycopg.conninfo import conninfo_to_dict

            try:
                parts = conninfo_to_dict(self.dsn)
            except Exception as exc:
                raise ValueError(f"`dsn` is not a valid connection string: {exc}") from None
            if parts.get("password"):
                raise ValueError("`dsn` contains a password; put it in `password_env` or `password_file`")
        return self

    def target(self) -> str:
        """user@host:port/dbname, for reasons and evidence."""
        params = self._params()
        return f"{params.get('user')}@{params.get('host')}:{params.get('port')}/{params.get('dbname')}"

    def _params(self) -> dict[str, Any]:
        if self.dsn is None:
            return {"host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname}
        from psycopg.conninfo import conninfo_to_dict

        params: dict[str, Any] = {"host": "127.0.0.1", "port": 5432}
        params.update(conninfo_to_dict(self.dsn))
        params["port"] = int(params["port"])
        return params

    def connect(self, ctx: ProbeContext, timeout: float) -> psycopg.Connection[Any]:
        """An autocommit connection whose connect and statements are bounded by `timeout`."""
        import psycopg

        params = self._params()
        host, port = ctx.endpoint(str(params["host"]), int(params["port"]), via_host=self.via_host)
        params.update(host=host, port=port)
        password = read_secret(env=self.password_env, file=self.password_file)
        if password is not None:
            params["password"] = password
        if self.sslmode:
            params["sslmode"] = self.sslmode
        # libpq's connect_timeout is whole seconds, at least 2 (it rounds smaller values up).
        params["connect_timeout"] = max(2, round(timeout))
        params["options"] = f"-c statement_timeout={max(1, int(timeout * 1000))}"
        params["application_name"] = "remediate"
        try:
            return psycopg.connect(**params, autocommit=True)
        except psycopg.OperationalError as exc:
            raise classify(exc) from exc


def classify(exc: Exception) -> PostgresConnectError:
    """Name the way a connection failed, from the SQLSTATE when the server sent one and from
    libpq's message when it did not (refused and timeouts happen before any server reply)."""
    sqlstate = getattr(exc, "sqlstate", None)
    text = str(exc).strip()
    last = text.splitlines()[-1] if text else type(exc).__name__
    lowered = text.lower()
    if sqlstate == "28P01" or "password authentication failed" in lowered:
        return PostgresConnectError("auth_failed", f"authentication failed: {last}")
    if sqlstate == "28000" or "no pg_hba.conf entry" in lowered or "no password supplied" in lowered:
        return PostgresConnectError("auth_failed", f"authentication failed: {last}")
    if sqlstate == "3D000" or ("database" in lowered and "does not exist" in lowered):
        return PostgresConnectError("database_missing", f"database missing: {last}")
    if "connection refused" in lowered:
        return PostgresConnectError("refused", "connection refused")
    if "timeout expired" in lowered or "timed out" in lowered:
        return PostgresConnectError("timeout", "timed out connecting")
    if "the database system is starting up" in lowered or "shutting down" in lowered:
        return PostgresConnectError("unavailable", last)
    return PostgresConnectError("other", last)
