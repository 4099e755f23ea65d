#!/usr/bin/env bash
# Starts a Docker engine when none answers (no systemd here), and waits until it does.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  exit 0
fi
if ! command -v dockerd >/dev/null; then
  echo "dockerd is not installed (scripts/install-system-deps.sh installs docker.io)" >&2
  exit 1
fi
log=${TMPDIR:-/tmp}/remediate-dockerd.log
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
echo "dockerd did not answer within 30s; its log:" >&2
tail -n 30 "$log" >&2
exit 1
