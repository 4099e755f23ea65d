#!/usr/bin/env bash
# The main job, on the lab, end to end (a fresh Debian machine, as root):
# installs what the lab needs, brings the CoffeeStudio-shaped lab up, lets a run record the
# healthy versions, breaks it (postgres stopped and a bad backend deploy), shows the dry-run
# plan naming the root cause, heals it, and prints the summary and where the report is.
# Everything a run writes goes to $DEMO_DIR (default: ./demo). `remediate lab down` ends it.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || missing+=(busybox-static)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[lab]'
scripts/start-dockerd.sh

work=${DEMO_DIR:-demo}
mkdir -p "$work"
remediate=.venv/bin/remediate
# Every run of the demo shares one state store (the recorded versions, the history) and one
# incident folder; -e @lab.json points the bundled playbook at the lab.
run() {
  "$remediate" run -e @"$work/lab.json" --state "$work/state.db" --incident-dir "$work/incidents" "$@"
}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "bringing the lab up (images are built locally: no registry needed)"
"$remediate" lab up --vars-file "$work/lab.json"

say "a run on the healthy lab: every node healthy; what each service runs is recorded"
run --report "$work/healthy.json"
"$remediate" versions --state "$work/state.db"

say "breaking it: postgres stopped, and a bad deploy of the backend (its new image exits at start)"
"$remediate" lab break postgres-stopped
"$remediate" lab deploy-broken backend

say "the dry-run plan: the root cause, what it blocks, the steps a run would take (changes nothing)"
run --dry-run || true # exit 1: something needs doing

say "healing it: postgres restarted; the backend's restart and rebuild do not help, its rollback does"
status=0
run --report "$work/report.html" || status=$?

say "summary: the backend's ladder as the history keeps it, and each service probed directly"
"$remediate" history --node backend --since 1h --state "$work/state.db" | tail -n 9
"$remediate" lab status || true
echo
echo "report:     $work/report.html (one self-contained page: graph, steps, timeline)"
echo "incidents:  $work/incidents/ (the backend's logs and inspect output, saved before the rollback)"
echo "history:    $remediate history --state $work/state.db"
echo "versions:   $remediate versions --state $work/state.db"
echo "a second run changes nothing:  $remediate run -e @$work/lab.json --state $work/state.db"
echo "the end:    $remediate lab down"
exit "$status"
