#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine (as root),
# then lints, type-checks and runs the whole suite against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-system-deps.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
scripts/start-dockerd.sh

.venv/bin/ruff check .
.venv/bin/mypy
# --durations: the log shows where the suite's time goes (its budget: 15 minutes on 2 cores).
.venv/bin/pytest -q -p no:cacheprovider --durations=15 "$@"
