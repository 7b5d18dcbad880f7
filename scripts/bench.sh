#!/usr/bin/env bash
# The benchmarks of BENCHMARKS.md (issue 10): builds ppu-bench in release mode,
# runs every scenario, and prints one JSON line per figure on stdout (progress
# goes to stderr). Each figure is measured side by side with its limit in the
# same run (see BENCHMARKS.md).
#
#   scripts/bench.sh                     every scenario
#   scripts/bench.sh ingest alerts       only those (ingest, alerts, actors, billing, collector)
#
# Options (environment):
#   PPU_TEST_POSTGRES_URL   PostgreSQL for the postgres runs (default
#                           postgres://postgres@127.0.0.1:5432/test); each run
#                           creates its own database ppu_bench_<time>_<uuid>
#                           and drops it afterwards
#   SKIP_POSTGRES=1         run the SQLite scenarios only
#   BENCH_SECS              seconds per timed ingest window (default 8)
#   BENCH_ACTORS            printer actors of the actors scenario (default 100000)
#   BENCH_ALERT_RATE        background uploads/s of the alerts scenario (default 1000;
#                           keep it under the ingest rate the machine reaches, or the
#                           queue saturates and the probes measure the backlog)
#   BENCH_BILLING_REQUESTS  requests per billing query shape (default 200)
#   CARGO_TARGET_DIR        honoured (default target/)
#
# The JSON lines are also kept in <target dir>/bench-results.jsonl and the
# progress in <target dir>/bench.log.
set -euo pipefail

cd "$(dirname "$0")/.."

scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
    scenarios=(ingest alerts actors billing collector)
fi
for s in "${scenarios[@]}"; do
    case "$s" in
    ingest | alerts | actors | billing | collector) ;;
    -h | --help)
        sed -n '2,25p' "$0"
        exit 0
        ;;
    *)
        echo "unknown scenario $s (ingest, alerts, actors, billing, collector)" >&2
        exit 2
        ;;
    esac
done

target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target_dir"
target_dir="$(cd "$target_dir" && pwd)"
export CARGO_TARGET_DIR="$target_dir"
results="$target_dir/bench-results.jsonl"
log="$target_dir/bench.log"
: >"$results"
: >"$log"

echo "building ppu-bench (release)..." >&2
cargo build --release -p ppu-tests --bin ppu-bench >&2
bench="$target_dir/release/ppu-bench"

backends=(sqlite postgres)
if [ "${SKIP_POSTGRES:-0}" = 1 ]; then
    backends=(sqlite)
fi
secs="${BENCH_SECS:-8}"
actors="${BENCH_ACTORS:-100000}"
alert_rate="${BENCH_ALERT_RATE:-1000}"
billing_requests="${BENCH_BILLING_REQUESTS:-200}"

failed=0
run() {
    echo "== ppu-bench $*" >&2
    if ! "$bench" "$@" 2> >(tee -a "$log" >&2) | tee -a "$results"; then
        echo "!! ppu-bench $* failed" >&2
        failed=1
    fi
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)" >&2
for s in "${scenarios[@]}"; do
    case "$s" in
    ingest)
        for b in "${backends[@]}"; do
            run ingest --backend "$b" --secs "$secs"
        done
        ;;
    alerts)
        for b in "${backends[@]}"; do
            run alerts --backend "$b" --rate "$alert_rate"
        done
        ;;
    actors) run actors --count "$actors" ;;
    billing)
        for b in "${backends[@]}"; do
            run billing --backend "$b" --requests "$billing_requests"
        done
        ;;
    collector) run collector --printers 1000 ;;
    esac
done

echo "figures: $results; progress: $log" >&2
exit "$failed"
