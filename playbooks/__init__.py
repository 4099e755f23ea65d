"""Bundled playbooks (package data): `coffeestudio.yml` is the default of `remediate --dry-run`."""

from pathlib import Path

BUNDLED = Path(__file__).parent
DEFAULT_PLAYBOOK = BUNDLED / "coffeestudio.yml"
