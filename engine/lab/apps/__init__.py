"""The lab's applications, run inside its containers with the host's Python (bind-mounted):
the backend (HTTP, /health, /metrics, alembic migrations), the frontend, the Celery app."""
