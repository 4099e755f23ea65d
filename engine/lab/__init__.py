"""A CoffeeStudio-shaped lab stack on the local Docker engine (`remediate lab up|break|down`).

It lives in the engine package, not under tests/, so that `remediate lab` works from an
installed remediate (it needs the `lab` extra: celery, alembic, sqlalchemy).
"""

from engine.lab.scenarios import SCENARIOS, Scenario, break_lab
from engine.lab.stack import DEFAULT_PROJECT, SERVICES, Lab, LabError, Overrides, Ports

__all__ = [
    "DEFAULT_PROJECT",
    "SCENARIOS",
    "SERVICES",
    "Lab",
    "LabError",
    "Overrides",
    "Ports",
    "Scenario",
    "break_lab",
]
