//! Property test: whatever bytes arrive, `open` and `peek_header` return
//! `Ok` or a specific `DecodeError`; they never panic, and an altered
//! envelope never opens.
//!
//! One test, 10 000 cases, drawn from a mix of inputs that reach every stage
//! of the decoder: random bytes (with and without a valid prefix), mutated
//! valid envelopes (bit flips, byte changes, truncation, extension), random
//! header fields around a valid MAC, and valid MACs around garbage at each
//! later stage (ciphertext, LZ4 bytes, MessagePack).

mod common;

use std::sync::LazyLock;

use chrono::DateTime;
use common::*;
use ppu_protocol::envelope::*;
use proptest::prelude::*;

/// Valid envelopes to mutate: the small payload from a printer and an empty
/// one from a collector with a long multi-byte sender id.
static BASES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let long_id = "Sammler-Zürich-".repeat(8);
    let collector = Header::with_nonce(SenderKind::Collector, &long_id, at(5), [9; 16]);
    let empty = ppu_protocol::Payload::new(
        uuid::Uuid::from_u128(1),
        "",
        at(0),
        ppu_protocol::UploadTrigger::Alert,
    );
    vec![
        sealed(),
        seal_with_iv(&collector, &empty, &keys(), [3; 16]).unwrap(),
    ]
});

/// MessagePack of the small payload, to mutate below the MAC.
static MSGPACK: LazyLock<Vec<u8>> = LazyLock::new(|| encode_payload(&small_payload()).unwrap());

/// One change to a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR the byte at `index % len` with `mask` (never 0).
    Xor { index: usize, mask: u8 },
    /// Set the byte at `index % len` to `value`.
    Set { index: usize, value: u8 },
    /// Keep the first `len % original_len` bytes.
    Truncate { len: usize },
    /// Append bytes.
    Extend { bytes: Vec<u8> },
    /// Insert a byte at `index % (len + 1)`.
    Insert { index: usize, value: u8 },
    /// Remove the byte at `index % len`.
    Remove { index: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1..=255u8).prop_map(|(index, mask)| Mutation::Xor { index, mask }),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(index, value)| Mutation::Set { index, value }),
        1 => any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(|bytes| Mutation::Extend { bytes }),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(index, value)| Mutation::Insert { index, value }),
        1 => any::<usize>().prop_map(|index| Mutation::Remove { index }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    match mutation {
        Mutation::Xor { index, mask } if len > 0 => bytes[index % len] ^= mask,
        Mutation::Set { index, value } if len > 0 => bytes[index % len] = *value,
        Mutation::Truncate { len: keep } if len > 0 => bytes.truncate(keep % len),
        Mutation::Extend { bytes: extra } => bytes.extend_from_slice(extra),
        Mutation::Insert { index, value } => bytes.insert(index % (len + 1), *value),
        Mutation::Remove { index } if len > 0 => {
            bytes.remove(index % len);
        }
        _ => {}
    }
}

/// Header fields of any shape the format allows.
fn any_header() -> impl Strategy<Value = Header> {
    let kind = prop_oneof![Just(SenderKind::Collector), Just(SenderKind::Printer)];
    let id = prop::collection::vec(any::<char>(), 1..48).prop_map(|chars| {
        let mut id = String::new();
        for c in chars {
            if id.len() + c.len_utf8() > MAX_SENDER_ID_LEN {
                break;
            }
            id.push(c);
        }
        id
    });
    let millis = DateTime::<chrono::Utc>::MIN_UTC.timestamp_millis()
        ..=DateTime::<chrono::Utc>::MAX_UTC.timestamp_millis();
    (kind, id, millis, any::<[u8; 16]>()).prop_map(|(kind, id, millis, nonce)| {
        Header::with_nonce(
            kind,
            id,
            DateTime::from_timestamp_millis(millis).unwrap(),
            nonce,
        )
    })
}

/// What a case feeds the decoder, and what it may expect.
#[derive(Debug, Clone)]
enum Case {
    /// Arbitrary bytes.
    Random(Vec<u8>),
    /// Arbitrary bytes after a valid magic and version.
    RandomAfterPrefix(Vec<u8>),
    /// A valid envelope with 1 to 4 mutations: must not open unless the
    /// mutations cancelled out.
    Mutated {
        base: usize,
        mutations: Vec<Mutation>,
    },
    /// Random header fields, valid MAC, random "MessagePack".
    GarbagePayload {
        header: Header,
        iv: [u8; 16],
        msgpack: Vec<u8>,
    },
    /// The small payload's MessagePack, mutated, under a valid MAC.
    MutatedPayload { mutations: Vec<Mutation> },
    /// Valid MAC around random ciphertext blocks.
    GarbageCiphertext { blocks: Vec<u8> },
    /// Valid MAC and padding around random would-be LZ4 bytes; `size` is the
    /// LZ4 size prefix, small enough to pass the limit in most cases.
    GarbageLz4 { size: u32, block: Vec<u8> },
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Case::Random),
        2 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Case::RandomAfterPrefix),
        6 => (0..2usize, prop::collection::vec(mutation(), 1..=4))
            .prop_map(|(base, mutations)| Case::Mutated { base, mutations }),
        3 => (any_header(), any::<[u8; 16]>(), prop::collection::vec(any::<u8>(), 0..256))
            .prop_map(|(header, iv, msgpack)| Case::GarbagePayload { header, iv, msgpack }),
        3 => prop::collection::vec(mutation(), 1..=4)
            .prop_map(|mutations| Case::MutatedPayload { mutations }),
        2 => (1..=8usize)
            .prop_flat_map(|blocks| prop::collection::vec(any::<u8>(), blocks * 16))
            .prop_map(|blocks| Case::GarbageCiphertext { blocks }),
        2 => (prop_oneof![0..4096u32, any::<u32>()], prop::collection::vec(any::<u8>(), 0..128))
            .prop_map(|(size, block)| Case::GarbageLz4 { size, block }),
    ]
}

/// Errors that can only come after a successful MAC check.
fn after_mac(err: &DecodeError) -> bool {
    matches!(
        err,
        DecodeError::BadPadding
            | DecodeError::DecompressedTooLarge { .. }
            | DecodeError::BadCompression
            | DecodeError::MalformedPayload(_)
            | DecodeError::UnsupportedSchema { .. }
    )
}

/// Errors of MessagePack decoding, the last stage.
fn payload_error(err: &DecodeError) -> bool {
    matches!(
        err,
        DecodeError::MalformedPayload(_) | DecodeError::UnsupportedSchema { .. }
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn open_and_peek_never_panic(case in case()) {
        let keys = keys();
        let limits = Limits::default();
        match case {
            Case::Random(bytes) => {
                let _ = peek_header(&bytes, &limits);
                prop_assert!(open(&bytes, &keys, &limits).is_err());
            }
            Case::RandomAfterPrefix(tail) => {
                let mut bytes = MAGIC.to_vec();
                bytes.push(FORMAT_VERSION);
                bytes.extend_from_slice(&tail);
                let _ = peek_header(&bytes, &limits);
                prop_assert!(open(&bytes, &keys, &limits).is_err());
            }
            Case::Mutated { base, mutations } => {
                let original = &BASES[base];
                let mut bytes = original.clone();
                mutations.iter().for_each(|m| apply(&mut bytes, m));
                let _ = peek_header(&bytes, &limits);
                let opened = open(&bytes, &keys, &limits);
                if &bytes != original {
                    prop_assert!(opened.is_err(), "altered envelope opened");
                }
            }
            Case::GarbagePayload { header, iv, msgpack } => {
                let bytes = seal_bytes_with_iv(&header, &msgpack, &keys, iv).unwrap();
                prop_assert_eq!(peek_header(&bytes, &limits).unwrap(), header.clone());
                let (opened_header, opened) = open_bytes(&bytes, &keys, &limits).unwrap();
                prop_assert_eq!(opened_header, header);
                prop_assert_eq!(opened, msgpack);
                if let Err(err) = open(&bytes, &keys, &limits) {
                    prop_assert!(payload_error(&err), "{err:?}");
                }
            }
            Case::MutatedPayload { mutations } => {
                let mut msgpack = MSGPACK.clone();
                mutations.iter().for_each(|m| apply(&mut msgpack, m));
                let bytes = seal_bytes(&header(), &msgpack, &keys).unwrap();
                if let Err(err) = open(&bytes, &keys, &limits) {
                    prop_assert!(payload_error(&err), "{err:?}");
                }
            }
            Case::GarbageCiphertext { blocks } => {
                let bytes = seal_raw_ciphertext(&header(), [0x33; 16], &blocks, &keys);
                prop_assert!(peek_header(&bytes, &limits).is_ok());
                if let Err(err) = open(&bytes, &keys, &limits) {
                    prop_assert!(after_mac(&err), "{err:?}");
                }
            }
            Case::GarbageLz4 { size, block } => {
                let mut plaintext = size.to_le_bytes().to_vec();
                plaintext.extend_from_slice(&block);
                let bytes = seal_raw_plaintext(&header(), [0x44; 16], &plaintext, &keys);
                match open(&bytes, &keys, &limits) {
                    Ok(_) => {}
                    Err(DecodeError::DecompressedTooLarge { size: declared, limit }) => {
                        prop_assert_eq!(declared, size as usize);
                        prop_assert!(declared > limit);
                    }
                    Err(err) => prop_assert!(
                        matches!(err, DecodeError::BadCompression) || payload_error(&err),
                        "{err:?}"
                    ),
                }
            }
        }
    }
}
