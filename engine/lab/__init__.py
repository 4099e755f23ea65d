"""A CoffeeStudio-shaped lab stack on the local Docker engine (`remediate lab up|break|down`).

It lives in the engine package, not under tests/, so that `remediate lab` works from an
installed remediate (it needs the `lab` extra: celery, alembic, sqlalchemy). The stack is
`engine.lab.stack`, the runbook's scenarios `engine.lab.scenarios`; this module stays free
of imports so that the command line's `--help` does not load the Docker SDK.
"""

DEFAULT_PROJECT = "coffeestudio-lab"
"""The lab's compose project name unless one is given (tests use a random one each)."""
