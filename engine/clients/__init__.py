"""Client code shared by check and action types: how to reach Docker, Kubernetes, PostgreSQL
and Redis.

Every module here imports its client library lazily, inside functions, so that registering
the check and action types (which imports their modules) stays cheap.

May import: engine.core (context, results), engine.errors, engine.secrets. Never imports
engine.cli or engine.unattended.
"""
