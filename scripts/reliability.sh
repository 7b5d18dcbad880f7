#!/usr/bin/env bash
# The reliability suite (RELIABILITY.md): crashes, database outages, collector
# crashes, bad input, security, soak.
#
#   scripts/reliability.sh           short mode (CI, the default; also --short)
#   scripts/reliability.sh --long    long mode: 20 kills per backend, 2 x 30 s
#                                    outages, 50 + 20 collector kills, 10 min of
#                                    fuzzing per target, and the 30-minute soak of
#                                    10,000 printers (release build)
#
# Options (environment):
#   PPU_TEST_POSTGRES_URL   the shared PostgreSQL for the crash, input and security
#                           tests (default postgres://postgres@127.0.0.1:5432/test);
#                           the outage test starts its own throwaway PostgreSQL 15
#   PPU_RELIABILITY_SEED    repeat a run's random choices (each test prints its seed)
#   SKIP_FUZZ=1, SKIP_SOAK=1   leave those parts out
#   SOAK_MINUTES, SOAK_PRINTERS, SOAK_SPEED   soak size (default 30, 10000, 60)
#
# Every test prints a "RESULT" line; they are collected at the end, and the
# whole output is kept in target/reliability-<mode>.log.
set -euo pipefail

cd "$(dirname "$0")/.."

mode=short
case "${1:---short}" in
--short) mode=short ;;
--long) mode=long ;;
-h | --help)
    sed -n '2,22p' "$0"
    exit 0
    ;;
*)
    echo "usage: scripts/reliability.sh [--short | --long]" >&2
    exit 2
    ;;
esac
export PPU_RELIABILITY_MODE=$mode
export RUST_BACKTRACE=1

target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target_dir"
log="$target_dir/reliability-$mode.log"
: >"$log"
started=$(date +%s)

step() {
    local name=$1
    shift
    local t0=$(date +%s)
    echo "=== $name" | tee -a "$log"
    if "$@" 2>&1 | tee -a "$log"; then
        echo "=== $name: ok in $(($(date +%s) - t0)) s" | tee -a "$log"
    else
        echo "=== $name: FAILED after $(($(date +%s) - t0)) s" | tee -a "$log"
        failed+=("$name")
    fi
}
failed=()

# One build first, so that the timings below are the tests' own.
step "build" cargo test -p ppu-hub -p ppu-tests --no-run \
    --test reliability_suite --test reliability_collector
step "build ppu-collector" cargo build -p ppu-collector --bin ppu-collector

# One test at a time: the scenarios measure timing and kill processes.
hub_test() {
    cargo test -p ppu-hub --test reliability_suite -- --test-threads=1 --nocapture "$1"
}
step "1 crash (kill -9 under load, SQLite + PostgreSQL)" hub_test crash::
step "2 database outage (own PostgreSQL)" hub_test outage::
step "3 collector crash" cargo test -p ppu-tests --test reliability_collector -- --test-threads=1 --nocapture
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
    cargo build --release -p ppu-hub -p ppu-sim -p ppu-tests --bin ppu-hub --bin ppu-sim --bin ppu-soak
    local rel="$target_dir/release" out
    out="$target_dir/soak-$(date +%Y%m%d-%H%M%S)"
    "$rel/ppu-soak" --hub-bin "$rel/ppu-hub" --sim-bin "$rel/ppu-sim" --out "$out" \
        --printers "${SOAK_PRINTERS:-10000}" --minutes "${SOAK_MINUTES:-30}" --speed "${SOAK_SPEED:-60}"
}
if [ "$mode" = long ] && [ "${SKIP_SOAK:-0}" != 1 ]; then
    step "6 soak (10,000 printers, 30 min, release build)" soak
fi

echo
echo "=== results ($mode mode, $(($(date +%s) - started)) s in all; full output in $log)"
grep -E 'RESULT|^fuzz: .* ok|^soak: RESULT|=== .*: (ok|FAILED)' "$log" | sed 's/^/  /' || true
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "all reliability scenarios passed"
