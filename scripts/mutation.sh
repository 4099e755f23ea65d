#!/usr/bin/env bash
# Mutation testing of the pure core, run by hand (too slow for .ci/run).
#
#   scripts/mutation.sh                      every module below, one after the other
#   scripts/mutation.sh engine/core/node.py  only the modules named
#
# Each module is mutated by mutmut in a scratch copy of the work tree (the tree itself is
# never touched), and only that module's fast tests are run against each mutant; the copy
# is kept so that `mutmut show NAME` can be run in it. Prints one line per module:
# killed / total and the score. MUTATION_BOUND (seconds, default 1800) bounds each
# module's run; MUTATION_JOBS (default 1) is mutmut's --max-children. Needs the
# `mutation` extra: pip install -e '.[mutation]'.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
BOUND=${MUTATION_BOUND:-1800}
JOBS=${MUTATION_JOBS:-1}
OUT=${MUTATION_DIR:-${TMPDIR:-/tmp}/remediate-mutation}

# module -> its fast tests, as pytest arguments in TOML (no server, no whole command line)
declare -A TESTS=(
    [engine/core/graph.py]='"tests/engine/core/test_graph.py"'
    [engine/core/node.py]='"tests/engine/core/test_node.py"'
    [engine/core/backoff.py]='"tests/engine/core/test_backoff.py"'
    [engine/core/durations.py]='"tests/engine/core/test_durations.py"'
    [engine/secrets/redact.py]='"tests/engine/secrets/test_redact.py"'
    [engine/playbook/loader.py]='"tests/engine/playbook/test_loader.py", "tests/engine/playbook/test_validation.py", "tests/engine/playbook/test_defaults_and_loops.py"'
    [engine/playbook/render.py]='"tests/engine/playbook/test_render_bounds.py", "tests/engine/playbook/test_render.py", "tests/engine/playbook/test_render_placeholders.py", "tests/engine/secrets/test_redact.py::test_a_secret_built_from_other_variables_is_registered_as_rendered", "tests/engine/secrets/test_redact.py::test_secret_variables_are_registered_even_when_rendering_fails"'
    [inventory/patterns.py]='"tests/inventory/test_patterns.py"'
    [inventory/hostpatterns.py]='"tests/inventory/test_hostpatterns.py"'
    [engine/unattended/limits.py]='"tests/engine/unattended/test_limits.py"'
)
ORDER=(engine/core/graph.py engine/core/node.py engine/core/backoff.py engine/core/durations.py
       engine/secrets/redact.py engine/playbook/loader.py engine/playbook/render.py
       inventory/patterns.py inventory/hostpatterns.py engine/unattended/limits.py)

modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=("${ORDER[@]}")
mkdir -p "$OUT"
status=0
for module in "${modules[@]}"; do
    tests=${MUTATION_TESTS:-${TESTS[$module]:-}}
    if [ -z "$tests" ]; then
        echo "$module: not a module of the pure core (see TESTS in $0)" >&2
        status=2
        continue
    fi
    work="$OUT/${module//\//_}"
    rm -rf "$work"
    mkdir -p "$work"
    # a copy of the tree as it is (uncommitted edits included), without caches
    tar -C "$ROOT" --exclude=.git --exclude=.venv --exclude=__pycache__ --exclude=mutants \
        --exclude=.hypothesis --exclude=.mypy_cache --exclude=.ruff_cache -cf - . | tar -C "$work" -xf -
    {
        echo
        echo "[tool.mutmut]"
        echo 'source_paths = ["engine", "checks", "remediations", "inventory", "playbooks"]'
        echo "only_mutate = [\"$module\"]"
        echo "pytest_add_cli_args_test_selection = [$tests]"
        echo 'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:randomly", "-x", "-q"]'
    } >>"$work/pyproject.toml"
    # mutmut puts its copy first on sys.path; an inherited PYTHONPATH would shadow it
    (cd "$work" && env -u PYTHONPATH timeout "$BOUND" "$PYTHON" -m mutmut run --max-children "$JOBS") \
        >"$work/mutmut.log" 2>&1
    rc=$?
    (cd "$work" && env -u PYTHONPATH "$PYTHON" -m mutmut export-cicd-stats) >/dev/null 2>&1
    (cd "$work" && env -u PYTHONPATH "$PYTHON" -m mutmut results) >"$work/survivors.txt" 2>&1
    "$PYTHON" - "$module" "$work" "$rc" <<'EOF'
import json, sys
from pathlib import Path

module, work, rc = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
stats = work / "mutants" / "mutmut-cicd-stats.json"
if not stats.exists():
    print(f"{module}: no result (mutmut exit {rc}; see {work}/mutmut.log)")
    sys.exit(0)
s = json.loads(stats.read_text())
# not killed: survived, no test reached it, or the run was cut short by the bound
counted = s["killed"] + s["survived"] + s["no_tests"] + s["timeout"] + s["suspicious"]
score = 100.0 * (s["killed"] + s["timeout"]) / counted if counted else 0.0
cut = " (cut short by MUTATION_BOUND)" if rc == 124 else ""
print(
    f"{module}: {s['killed'] + s['timeout']} killed of {counted} "
    f"({s['survived']} survived, {s['no_tests']} no test) = {score:.1f} %{cut}"
    f"; survivors: {work}/survivors.txt"
)
EOF
done
exit $status
