//! Feeds arbitrary bytes to the payload decoder, the part of `open` that a
//! fuzzer rarely reaches through `envelope_open` because almost every
//! mutation breaks the MAC:
//! - straight to `decode_payload`, as if they came out of LZ4;
//! - sealed with `seal_bytes` and opened, through LZ4 and AES behind a valid
//!   MAC: `open` gives them back or refuses them as a payload error.
//!
//! Whatever decodes must survive a round trip through `encode_payload`.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ppu_protocol::envelope::{
    DecodeError, Header, Limits, SenderKeys, SenderKind, decode_payload, encode_payload, open,
    seal_bytes_with_iv,
};

static KEYS: LazyLock<SenderKeys> =
    LazyLock::new(|| SenderKeys::from_bytes(&[0x42; SenderKeys::LEN]).expect("48 bytes"));

static HEADER: LazyLock<Header> = LazyLock::new(|| {
    let at = chrono::DateTime::from_timestamp_millis(1_741_944_413_589).expect("in range");
    Header::with_nonce(SenderKind::Printer, "SG81A00042", at, [1; 16])
});

fuzz_target!(|data: &[u8]| {
    if let Ok(payload) = decode_payload(data) {
        let again = encode_payload(&payload).expect("a decoded payload encodes");
        assert_eq!(decode_payload(&again).as_ref(), Ok(&payload));
    }
    let sealed = seal_bytes_with_iv(&HEADER, data, &KEYS, [2; 16]).expect("seal");
    match open(&sealed, &KEYS, &Limits::default()) {
        Ok(_) | Err(DecodeError::MalformedPayload(_) | DecodeError::UnsupportedSchema { .. }) => {}
        // Inputs near the 1 MiB limit can seal larger than it.
        Err(DecodeError::TooLarge { .. }) => {}
        Err(other) => panic!("payload bytes refused before the payload stage: {other:?}"),
    }
});
