#!/usr/bin/env bash
# Installs the Debian packages the tests run against: a Docker engine, sshd, Redis,
# PostgreSQL, a static busybox (the root filesystem of the locally built test images),
# Prometheus and Alertmanager, Chromium and its driver (the status page's browser tests) and the
# docker-compose CLI.
# Idempotent: does nothing when everything is already there. Needs root.
set -euo pipefail

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || missing+=(busybox-static)
command -v prometheus >/dev/null || missing+=(prometheus)          # prometheus_query tests
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)  # alerts start runs
command -v chromium >/dev/null || missing+=(chromium)              # the status page in a real browser
command -v chromedriver >/dev/null || missing+=(chromium-driver)   # ... driven by Selenium
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 \
  || missing+=(docker-compose)                                      # compose action tests
command -v openssl >/dev/null || missing+=(openssl)                # TLS Redis test certificates
command -v ip >/dev/null || missing+=(iproute2)
command -v sudo >/dev/null || missing+=(sudo)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
