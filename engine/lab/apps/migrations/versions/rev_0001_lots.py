"""Coffee lots."""

from __future__ import annotations

from alembic import op

revision = "0001_lots"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE lots (id serial PRIMARY KEY, name text NOT NULL)")


def downgrade() -> None:
    op.execute("DROP TABLE lots")
