"""The runbook's troubleshooting scenarios, as ways to break a healthy lab.

Each breaks the stack the way the runbook's symptom describes and says what it did. Several
can be caused at once: scenarios that change a service's configuration are combined into one
recreation of that service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import LabError
from engine.lab.stack import Lab, Overrides

SHORT_JWT_SECRET = "changeme-too-short-1234"
"""23 characters: the runbook wants at least 32."""


@dataclass(frozen=True)
class Scenario:
    """A runbook symptom and how to cause it on the lab: by `cause`, or by recreating a
    service with other configuration (`reconfigure`), as an edit of the compose file or .env
    and `docker compose up` would."""

    name: str
    symptom: str
    cause: Callable[[Lab], str] | None = None
    reconfigure: tuple[str, Overrides] | None = None
    """(service, how its container differs from the healthy lab's)."""
    done: str = ""
    """What reconfiguring did, in words."""


def _stop(service: str) -> Callable[[Lab], str]:
    def cause(lab: Lab) -> str:
        lab.container(service).stop(timeout=10)
        return f"stopped {service}"

    return cause


def _kill(service: str) -> Callable[[Lab], str]:
    def cause(lab: Lab) -> str:
        container = lab.container(service)
        container.kill()
        container.wait(timeout=30)
        return f"killed {service} (SIGKILL)"

    return cause


BACKLOG = 400
ORDER_SECONDS = 0.5
"""The queue pile-up: 400 orders of 0.5 s each wait while the worker is down (200 s of work,
four times the playbook's `queue_max` of 100): a restarted worker works off two a second,
far too few within a step's verify window, so the ladder climbs to the purge."""


def _queue_piled_up(lab: Lab) -> str:
    # Killed, not stopped: an idle Celery worker takes seconds to shut down warm, and the
    # engine restarts a dead worker either way.
    down = _kill("worker")(lab)
    lab.pile_up(BACKLOG, ORDER_SECONDS)
    return f"{down}, then queued {BACKLOG} tasks of {ORDER_SECONDS:g}s each"


def _pending_migration(lab: Lab) -> str:
    code, output = lab.exec("backend", "alembic downgrade -1")
    if code != 0:
        raise LabError(f"alembic downgrade -1 failed: {output.strip()[-300:]}")
    return "downgraded the database by one revision: the newest migration is pending"




WRONG_CORS_ORIGINS = "https://coffeestudio.example"
"""A CORS_ORIGINS without the frontend's origin (the lab's frontend is on 127.0.0.1)."""
ERROR_SHARE = 0.3
SLOW_SECONDS = 0.8
"""The SLO breach: 30 % of the API's answers are 5xx (the SLO: < 1 %) and each answer takes
0.8 s (the SLO: p95 < 500 ms); `/health` still answers at once."""
TRAFFIC_CLIENTS = 6
"""Clients calling the backend's API meanwhile, so the metrics have requests in any window."""



SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("postgres-stopped", "Datenbank-Verbindungsfehler: the database is down", _stop("postgres")),
        Scenario("redis-stopped", "Redis DOWN: broker and cache gone", _stop("redis")),
        Scenario("backend-crashed", "Backend startet nicht: the backend exited", _kill("backend")),
        Scenario(
            "pending-migration",
            "Backend startet nicht: DB-Migration fehlgeschlagen (schema behind the code)",
            _pending_migration,
        ),
        Scenario(
            "frontend-down", "Frontend zeigt 'API nicht erreichbar': the frontend is down", _kill("frontend")
        ),
        Scenario("worker-killed", "Celery-Worker verarbeitet keine Tasks: the worker died", _kill("worker")),
        Scenario("beat-killed", "Celery Beat (Scheduler) died", _kill("beat")),
        Scenario(
            "queue-piled-up",
            "Celery-Worker verarbeitet keine Tasks: the worker is down, tasks pile up in the queue",
            _queue_piled_up,
        ),
        Scenario(
            "memory-limit-missing",
            "Hohe Memory-Nutzung: a container without a memory limit",
            reconfigure=("backend", Overrides(no_memory_limit=True)),
            done="recreated backend without a memory limit",
        ),
        Scenario(
            "jwt-secret-short",
            "Security: JWT_SECRET shorter than 32 characters",
            reconfigure=("backend", Overrides(environment=(("JWT_SECRET", SHORT_JWT_SECRET),))),
            done=f"recreated backend with a JWT_SECRET of {len(SHORT_JWT_SECRET)} characters",
        ),
        Scenario(
            "slo-breach",
            "SLO-Verletzung: more than 1 % of the API's answers are 5xx, and its p95 above 500 ms",
            reconfigure=(
                "backend",
                Overrides(
                    environment=(
                        ("LAB_ERROR_SHARE", str(ERROR_SHARE)),
                        ("LAB_SLOW_SECONDS", str(SLOW_SECONDS)),
                        ("LAB_TRAFFIC", str(TRAFFIC_CLIENTS)),
                    )
                ),
            ),
            done=(
                f"recreated backend answering {ERROR_SHARE:.0%} of its API requests 500, each after "
                f"{SLOW_SECONDS:g}s, under the load of {TRAFFIC_CLIENTS} clients"
            ),
        ),
        Scenario(
            "cors-mismatch",
            "Frontend zeigt 'API nicht erreichbar': CORS_ORIGINS lacks the frontend's origin",
            reconfigure=("backend", Overrides(environment=(("CORS_ORIGINS", WRONG_CORS_ORIGINS),))),
            done=f"recreated backend with CORS_ORIGINS={WRONG_CORS_ORIGINS} (the frontend's origin missing)",
        ),
    )
}


def break_lab(lab: Lab, *names: str) -> str:
    """Cause the scenarios `names` on the lab, all at once; returns what was done, a line
    each. Reconfigured services are recreated first, once each with every scenario's changes,
    and waited for (their `/health` still answers: only what the scenarios changed is wrong)."""
    scenarios = []
    for name in names:
        try:
            scenarios.append(SCENARIOS[name])
        except KeyError:
            raise LabError(f"unknown scenario {name!r}; scenarios: {', '.join(SCENARIOS)}") from None
    reconfigured: dict[str, Overrides] = {}
    for scenario in scenarios:
        if scenario.reconfigure is not None:
            service, overrides = scenario.reconfigure
            reconfigured[service] = reconfigured.get(service, Overrides()) | overrides
    for service, overrides in reconfigured.items():
        lab.recreate(service, overrides)
    if reconfigured:
        lab.wait_healthy()
    said = [scenario.done if scenario.cause is None else scenario.cause(lab) for scenario in scenarios]
    return "\n".join(said)
