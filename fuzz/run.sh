#!/usr/bin/env bash
# Fuzz the envelope decoder.
#
#   fuzz/run.sh [seconds] [target]   explore for a while (default 60 s, envelope_open);
#                                    new inputs that find new paths are added to
#                                    fuzz/corpus/<target> (named by their SHA-1, kept
#                                    out of git by fuzz/.gitignore)
#   fuzz/run.sh --ci [seconds]       the CI run (default 60 s): envelope_open for
#                                    <seconds>, then payload_decode for half of it, both
#                                    starting from the kept corpus, which stays
#                                    untouched (new inputs go to a temporary directory)
#
# target: envelope_open (default) or payload_decode. Crashes land in
# fuzz/artifacts/<target> and fail the run. Needs cargo-fuzz (installed if
# missing). RUSTC_BOOTSTRAP=1 lets the stable toolchain accept the sanitizer
# flags cargo-fuzz passes; no nightly needed. FUZZ_RUNS caps the executions
# per target (libFuzzer -runs), besides the time limit.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

runs=()
if [ -n "${FUZZ_RUNS:-}" ]; then
    runs=(-runs="$FUZZ_RUNS")
fi

if [ "${1:-}" = "--ci" ]; then
    seconds="${2:-60}"
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    for target in envelope_open payload_decode; do
        t="$seconds"
        [ "$target" = payload_decode ] && t=$(( seconds / 2 > 0 ? seconds / 2 : 1 ))
        mkdir -p "$scratch/$target"
        kept=$(find "fuzz/corpus/$target" -type f | wc -l)
        echo "fuzz: $target for ${t}s from the kept corpus ($kept inputs)"
        # The first corpus directory receives new inputs; the kept one is read only.
        set +e
        RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
            -max_total_time="$t" -print_final_stats=1 "${runs[@]}" >"$scratch/$target.log" 2>&1
        status=$?
        set -e
        if [ "$status" -ne 0 ]; then
            tail -60 "$scratch/$target.log"
            echo "fuzz: $target FAILED (exit $status); the input is in fuzz/artifacts/$target" >&2
            exit "$status"
        fi
        added=$(find "$scratch/$target" -type f | wc -l)
        echo "fuzz: $target ok: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$scratch/$target.log" | grep -o '[0-9]*$') inputs tried, $added new coverage inputs (not kept)"
    done
    exit 0
fi

target="${2:-envelope_open}"
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "fuzz/corpus/$target" -- \
    -max_total_time="${1:-60}" "${runs[@]}"
