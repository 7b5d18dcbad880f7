#!/usr/bin/env bash
# Installs and starts the real peers the test suite talks to (see PEERS in README.md).
# Idempotent: does nothing for what is already there. Needs root (apt-get) for installs.
set -euo pipefail

need_pkgs=()
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
# Metrics tests: a real Prometheus server and promtool.
command -v prometheus >/dev/null 2>&1 || need_pkgs+=(prometheus)
command -v promtool >/dev/null 2>&1 || need_pkgs+=(prometheus)
# Data Collector tests: a real IPP Everywhere printer (ippeveprinter, ipptool),
# which needs DNS-SD (avahi-daemon) on a system D-Bus.
command -v ippeveprinter >/dev/null 2>&1 || need_pkgs+=(cups-ipp-utils)
command -v ipptool >/dev/null 2>&1 || need_pkgs+=(cups-ipp-utils)
command -v avahi-daemon >/dev/null 2>&1 || need_pkgs+=(avahi-daemon)
command -v dbus-daemon >/dev/null 2>&1 || need_pkgs+=(dbus)
# Portal browser tests: Debian's headless Chromium and its WebDriver (never a downloaded browser).
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_pkgs+=(chromium-driver)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "==> installing peers: ${need_pkgs[*]}"
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # sort -u: a package may be listed twice (two of its commands missing).
    mapfile -t need_pkgs < <(printf '%s\n' "${need_pkgs[@]}" | sort -u)
    log=$(mktemp)
    if ! apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >"$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      exit 1
    fi
    rm -f "$log"
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

# D-Bus and avahi-daemon: ippeveprinter exits with "Unable to initialize DNS-SD" without them.
# Containers have no init system, so start them directly when they are not running.
if command -v dbus-daemon >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  if [ ! -S /run/dbus/system_bus_socket ] || ! dbus-send --system --dest=org.freedesktop.DBus / org.freedesktop.DBus.Peer.Ping 2>/dev/null; then
    mkdir -p /run/dbus
    rm -f /run/dbus/pid
    dbus-daemon --system --fork >/dev/null
  fi
fi
if command -v avahi-daemon >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  if ! avahi-daemon --check 2>/dev/null; then
    avahi-daemon --no-drop-root --no-chroot --no-rlimits -D >/dev/null 2>&1 || true
  fi
fi
if [ "${CI:-}" = "true" ] && command -v ippeveprinter >/dev/null 2>&1 && ! avahi-daemon --check 2>/dev/null; then
  echo "!! avahi-daemon is not running and CI=true: the ippeveprinter tests cannot run" >&2
  exit 1
fi
