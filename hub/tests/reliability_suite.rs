//! The reliability suite (RELIABILITY.md; `scripts/reliability.sh` runs it):
//! prove that nothing acknowledged is lost, nothing is counted twice, and
//! nobody gets in, by trying hard to break the real `ppu-hub` binary.
//!
//! One test binary for every scenario (each module is in `reliability/`),
//! so that CI links the hub once:
//! - [`crash`]: `kill -9` at random moments under load (scenario 1);
//! - [`outage`]: the database stops under load (scenario 2);
//! - [`input`]: bad input against every route, slow clients (scenario 4);
//! - [`security`]: replay, tampering, secrets, credentials, TLS only (scenario 5).
//!
//! Scenario 3 (the collector) is `tests/tests/reliability_collector.rs`; the
//! fuzzing is `fuzz/run.sh --ci`; the soak is `tests/src/bin/ppu-soak.rs`.
//! `PPU_RELIABILITY_MODE=long` selects the long mode.

mod support;

#[path = "reliability/common.rs"]
mod common;
#[path = "reliability/crash.rs"]
mod crash;
#[path = "reliability/input.rs"]
mod input;
#[path = "reliability/outage.rs"]
mod outage;
#[path = "reliability/security.rs"]
mod security;
