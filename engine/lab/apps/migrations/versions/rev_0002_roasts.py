"""Roasts of a lot (the backend's /health queries this table)."""

from __future__ import annotations

from alembic import op

revision = "0002_roasts"
down_revision = "0001_lots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE roasts (id serial PRIMARY KEY, lot_id integer REFERENCES lots(id))")


def downgrade() -> None:
    op.execute("DROP TABLE roasts")
