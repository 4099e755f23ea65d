"""Alembic environment and revisions of the lab backend."""
