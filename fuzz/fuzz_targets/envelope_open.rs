//! Feeds arbitrary bytes to the hub's first two calls on an upload:
//! `peek_header` (before the keys are known) and `open` (with the keys).
//! Neither may panic, and whatever opens must have been sealed with the key.
//!
//! The key is fixed and the seed corpus (fuzz/corpus/envelope_open, made by
//! `cargo run -p ppu-protocol --example fuzz_seeds -- fuzz/corpus`) holds valid envelopes
//! sealed with it, so that mutations start past the MAC check.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ppu_protocol::envelope::{Limits, SenderKeys, open, peek_header};

/// The key of the seed corpus: `SenderKeys::from_bytes(&[0x42; 48])`.
static KEYS: LazyLock<SenderKeys> =
    LazyLock::new(|| SenderKeys::from_bytes(&[0x42; SenderKeys::LEN]).expect("48 bytes"));

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let peeked = peek_header(data, &limits);
    if let Ok((header, _payload)) = open(data, &KEYS, &limits) {
        // Whatever opens has a header that peek_header agreed on.
        assert_eq!(peeked.as_ref().ok(), Some(&header));
    }
});
