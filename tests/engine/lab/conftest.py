"""The lab, once per test session, and the runbook's scenarios played on it (each once)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from engine.lab.stack import Lab
from tests.engine.lab.harness import Episode, QueuePileup, play, play_queue_pileup, played_with

if TYPE_CHECKING:
    from docker import DockerClient


@pytest.fixture(scope="session")
def lab(docker_client: DockerClient) -> Iterator[Lab]:
    """A healthy lab with a project name of its own (no other session's containers match)."""
    stack = Lab(f"coffeestudio-lab-{uuid.uuid4().hex[:6]}", docker_client)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


class Episodes:
    """Plays each scenario (with those played together with it) the first time a test asks
    for it and keeps the result, so that every test of a scenario looks at the same three
    runs."""

    def __init__(self, lab: Lab, root: Path) -> None:
        self.lab = lab
        self.root = root
        self.played: dict[tuple[str, ...], Episode | BaseException] = {}

    def of(self, scenario: str) -> Episode:
        scenarios = played_with(scenario)
        if scenarios not in self.played:
            try:
                self.played[scenarios] = play(self.lab, scenarios, self.root / "+".join(scenarios))
            except Exception as exc:  # every test of the scenario reports it
                self.played[scenarios] = exc
        found = self.played[scenarios]
        if isinstance(found, BaseException):
            raise found
        return found


@pytest.fixture(scope="session")
def episodes(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Episodes:
    return Episodes(lab, tmp_path_factory.mktemp("episodes"))


@pytest.fixture(scope="session")
def queue_pileup(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> QueuePileup:
    """The queue pile-up, played once for the tests that read it (its runs differ from the
    other scenarios': a refused purge, then an allowed one)."""
    return play_queue_pileup(lab, tmp_path_factory.mktemp("queue-piled-up"))
