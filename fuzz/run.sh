#!/usr/bin/env bash
# Fuzz the envelope decoder for a while (default 60 seconds):
#   fuzz/run.sh [seconds] [target]
# target: envelope_open (default) or payload_decode.
# Needs cargo-fuzz (installed if missing). RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept the sanitizer flags cargo-fuzz passes; no nightly needed.
# New inputs that find new paths are added to fuzz/corpus/<target> (the
# seeds there have descriptive names, libFuzzer's additions are SHA-1 hex);
# crashes land in fuzz/artifacts/<target>.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

target="${2:-envelope_open}"
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "fuzz/corpus/$target" -- \
    -max_total_time="${1:-60}"
