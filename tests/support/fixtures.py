"""Where the tests' data files live: playbooks and compose files used as inputs."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPO = Path(__file__).resolve().parents[2]
"""The checkout: the bundled playbooks are under REPO / "playbooks"."""
