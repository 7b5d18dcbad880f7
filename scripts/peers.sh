#!/usr/bin/env bash
# Installs and starts the real peers the test suite talks to (see PEERS in README.md).
# Idempotent: does nothing for what is already there. Needs root (apt-get) for installs.
set -euo pipefail

need_pkgs=()
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "==> installing peers: ${need_pkgs[*]}"
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
  else
    echo "!! cannot install ${need_pkgs[*]} without root; tests that need them will skip (or fail in CI)" >&2
  fi
fi

# PostgreSQL: the production database. Start the local cluster if it is installed but down.
pg_url="${PPU_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -d "$pg_url"; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "==> starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -d "$pg_url" && break; sleep 1; done
  fi
fi
if [ "${CI:-}" = "true" ] && ! pg_isready -q -d "$pg_url" 2>/dev/null; then
  echo "!! PostgreSQL at $pg_url is not reachable and CI=true: the PostgreSQL suite cannot run" >&2
  exit 1
fi
