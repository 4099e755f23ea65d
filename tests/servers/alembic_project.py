"""A real alembic project with two revisions, migrating a fresh database of the PostgreSQL
fixture (the stack's backend runs `alembic upgrade head` on start)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.postgres import PostgresServer

REVISIONS = ("1a2b3c4d5e6f", "2b3c4d5e6f70")

_ENV_PY = """
import os
from alembic import context
from sqlalchemy import create_engine

engine = create_engine(os.environ["ALEMBIC_TEST_URL"])
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"""

_REVISION = """
from alembic import op
revision = "{rev}"
down_revision = {down}
branch_labels = None
depends_on = None

def upgrade():
    op.execute("CREATE TABLE {table} (id integer)")

def downgrade():
    op.execute("DROP TABLE {table}")
"""


@dataclass
class AlembicProject:
    directory: Path
    dbname: str
    url: str

    @property
    def command(self) -> str:
        """How the alembic_current check and actions run alembic for this project."""
        alembic = Path(sys.executable).with_name("alembic")
        return f"{shlex.quote(str(alembic))} -c {shlex.quote(str(self.directory / 'alembic.ini'))}"

    def upgrade(self, revision: str = "head") -> None:
        subprocess.run(
            [*shlex.split(self.command), "upgrade", revision],
            check=True,
            capture_output=True,
            env={**os.environ, "ALEMBIC_TEST_URL": self.url},
        )


@pytest.fixture
def alembic_project(postgres_db: PostgresServer, tmp_path: Path) -> Iterator[AlembicProject]:
    """A project in tmp_path and a fresh database it has not migrated yet."""
    dbname = f"alembic_{uuid.uuid4().hex[:8]}"
    postgres_db.superuser_sql(f"CREATE DATABASE {dbname} OWNER {postgres_db.user}")
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text(f"[alembic]\nscript_location = {tmp_path / 'migrations'}\n")
    (tmp_path / "migrations" / "env.py").write_text(_ENV_PY)
    (tmp_path / "migrations" / "script.py.mako").write_text("")
    down = "None"
    for number, revision in enumerate(REVISIONS):
        (versions / f"{revision}_step{number}.py").write_text(
            _REVISION.format(rev=revision, down=down, table=f"table{number}")
        )
        down = f'"{revision}"'
    url = (
        f"postgresql+psycopg://{postgres_db.user}:{postgres_db.password}"
        f"@{postgres_db.host}:{postgres_db.port}/{dbname}"
    )
    yield AlembicProject(tmp_path, dbname, url)
    postgres_db.superuser_sql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
