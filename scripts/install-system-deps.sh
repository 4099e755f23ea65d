#!/usr/bin/env bash
# Installs the Debian packages the tests run against: a Docker engine, sshd, Redis,
# PostgreSQL and a static busybox (the root filesystem of the locally built test images).
# Idempotent: does nothing when everything is already there. Needs root.
set -euo pipefail

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || missing+=(busybox-static)
command -v ip >/dev/null || missing+=(iproute2)
command -v sudo >/dev/null || missing+=(sudo)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
