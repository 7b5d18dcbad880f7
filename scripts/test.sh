#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it:
#   formatting, lints (warnings are errors), docs, and every test on SQLite and PostgreSQL.
#
# PostgreSQL: tests use PPU_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test)
# and create a fresh database per test. Outside CI, PostgreSQL tests are skipped with a loud
# message when no server answers; with CI=true they fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/peers.sh

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "==> cargo test"
cargo test --workspace --all-targets

echo "==> schemathesis against the OpenAPI document"
scripts/schemathesis.sh

echo "==> cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

echo "==> all checks passed"
