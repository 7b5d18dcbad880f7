#!/usr/bin/env bash
# The reliability suite (RELIABILITY.md): crashes, database outages, collector
# crashes, bad input, security, soak.
#
#   scripts/reliability.sh           short mode (CI, the default; also --short):
#                                    5 kills per backend, one 8 s outage, 12 + 5
#                                    collector kills, 60 s + 30 s of fuzzing, and
#                                    a 3-minute soak of 1,000 printers (debug build)
#   scripts/reliability.sh --long    long mode: 20 kills per backend, 2 x 30 s
#                                    outages, 50 + 20 collector kills, 10 min of
#                                    fuzzing per target, and the 30-minute soak of
#                                    10,000 printers (release build)
#
# Options (environment):
#   PPU_TEST_POSTGRES_URL   the shared PostgreSQL for the crash, input and security
#                           tests (default postgres://postgres@127.0.0.1:5432/test;
#                           each test creates and drops its own database); the
#                           outage test starts its own throwaway PostgreSQL 15
#   PPU_RELIABILITY_SEED    repeat a run's random choices (each test prints its seed)
#   SKIP_FUZZ=1, SKIP_SOAK=1   leave those parts out (never in CI: CI=true refuses)
#   SOAK_MINUTES, SOAK_PRINTERS, SOAK_SPEED   soak size (short: 3, 1000, 60;
#                           long: 30, 10000, 60)
#   CARGO_TARGET_DIR        honoured (default target/)
#
# The scenarios' test targets are `test = false` in hub/Cargo.toml and
# tests/Cargo.toml, so the parallel `cargo test --workspace` neither builds nor
# runs them; this script runs them explicitly, one test at a time.
# Every scenario prints a "RESULT" line; they are collected at the end, and the
# whole output is kept in <target dir>/reliability-<mode>.log.
set -euo pipefail

cd "$(dirname "$0")/.."

mode=short
case "${1:---short}" in
--short) mode=short ;;
--long) mode=long ;;
-h | --help)
    sed -n '2,29p' "$0"
    exit 0
    ;;
*)
    echo "usage: scripts/reliability.sh [--short | --long]" >&2
    exit 2
    ;;
esac
export PPU_RELIABILITY_MODE=$mode
export RUST_BACKTRACE=1

if [ "${CI:-}" = "true" ] && { [ "${SKIP_FUZZ:-0}" = 1 ] || [ "${SKIP_SOAK:-0}" = 1 ]; }; then
    echo "CI=true: SKIP_FUZZ and SKIP_SOAK are not allowed (nothing may skip in CI)" >&2
    exit 2
fi

target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target_dir"
target_dir="$(cd "$target_dir" && pwd)"
log="$target_dir/reliability-$mode.log"
: >"$log"
started=$(date +%s)

step() {
    local name=$1
    shift
    local t0
    t0=$(date +%s)
    echo "=== $name" | tee -a "$log"
    if "$@" 2>&1 | tee -a "$log"; then
        echo "=== $name: ok in $(($(date +%s) - t0)) s" | tee -a "$log"
    else
        echo "=== $name: FAILED after $(($(date +%s) - t0)) s" | tee -a "$log"
        failed+=("$name")
    fi
}
failed=()

# One build first, so that the timings below are the tests' own. The
# collector test runs the real ppu-collector binary, built here.
build() {
    cargo test -p ppu-hub --test reliability_suite --no-run
    cargo test -p ppu-tests --test reliability_collector --no-run
    cargo build -p ppu-collector --bin ppu-collector
}
step "build" build
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: the build" >&2
    exit 1
fi

# One test at a time: the scenarios measure timing and kill processes.
hub_test() {
    cargo test -p ppu-hub --test reliability_suite -- --test-threads=1 --nocapture "$1"
}
step "1 crash (kill -9 under load, SQLite + PostgreSQL)" hub_test crash::
step "2 database outage (own PostgreSQL)" hub_test outage::
step "3 collector crash (spool writer + ppu-collector, kill -9)" \
    cargo test -p ppu-tests --test reliability_collector -- --test-threads=1 --nocapture
step "4 bad input (every route, both backends; slow clients)" hub_test input::
step "5 security (replay, tampering, secrets, TLS only)" hub_test security::
if [ "${SKIP_FUZZ:-0}" != 1 ]; then
    if [ "$mode" = long ]; then
        step "4 fuzz (envelope decoder, 600 s + 300 s)" fuzz/run.sh --ci 600
    else
        step "4 fuzz (envelope decoder, 60 s + 30 s on the kept corpus)" fuzz/run.sh --ci 60
    fi
fi
soak() {
    local profile_args=() bin_dir printers minutes
    if [ "$mode" = long ]; then
        profile_args=(--release)
        bin_dir="$target_dir/release"
        printers="${SOAK_PRINTERS:-10000}"
        minutes="${SOAK_MINUTES:-30}"
    else
        bin_dir="$target_dir/debug"
        printers="${SOAK_PRINTERS:-1000}"
        minutes="${SOAK_MINUTES:-3}"
    fi
    cargo build "${profile_args[@]}" -p ppu-hub -p ppu-sim -p ppu-tests \
        --bin ppu-hub --bin ppu-sim --bin ppu-soak
    "$bin_dir/ppu-soak" --hub-bin "$bin_dir/ppu-hub" --sim-bin "$bin_dir/ppu-sim" \
        --out "$target_dir/soak-$mode-$(date +%Y%m%d-%H%M%S)" \
        --printers "$printers" --minutes "$minutes" --speed "${SOAK_SPEED:-60}"
}
if [ "${SKIP_SOAK:-0}" != 1 ]; then
    if [ "$mode" = long ]; then
        step "6 soak (10,000 printers, 30 min, release build)" soak
    else
        step "6 soak (1,000 printers, 3 min, debug build)" soak
    fi
fi

echo
echo "=== results ($mode mode, $(($(date +%s) - started)) s in all; full output in $log)"
grep -E 'RESULT|^fuzz: .* ok|=== .*: (ok|FAILED)' "$log" | sed 's/^/  /' || true
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "all reliability scenarios passed"
