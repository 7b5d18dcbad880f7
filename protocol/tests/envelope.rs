//! Sealing and opening envelopes: round trips, every `DecodeError` on
//! purpose, single-byte tampering, key binding and sealing errors.

mod common;

use std::collections::BTreeSet;

use common::*;
use ppu_protocol::envelope::*;
use ppu_protocol::{Payload, SCHEMA_VERSION, UploadTrigger};

/// Offsets in [`sealed`]'s layout (sender id `SG81A00042`, 10 bytes).
const ID_LEN: usize = SENDER_ID.len();
const KIND_AT: usize = 5;
const ID_LEN_AT: usize = 6;
const ID_AT: usize = 7;
const TS_AT: usize = ID_AT + ID_LEN;
const NONCE_AT: usize = TS_AT + 8;
const IV_AT: usize = NONCE_AT + 16;
const CT_LEN_AT: usize = IV_AT + 16;
const CT_AT: usize = CT_LEN_AT + 4;

#[test]
fn round_trip_returns_header_and_payload() {
    let payload = small_payload();
    let header = header();
    let bytes = seal(&header, &payload, &keys()).unwrap();

    let (opened_header, opened) = open(&bytes, &keys(), &Limits::default()).unwrap();
    assert_eq!(opened_header, header);
    assert_eq!(opened, payload);
    assert_eq!(peek_header(&bytes, &Limits::default()).unwrap(), header);

    let (_, msgpack) = open_bytes(&bytes, &keys(), &Limits::default()).unwrap();
    assert_eq!(msgpack, encode_payload(&payload).unwrap());
}

#[test]
fn round_trip_of_an_empty_collector_payload() {
    let keys = SenderKeys::derive(b"collector secret", SenderKind::Collector, "c-01");
    let header = Header::new(SenderKind::Collector, "c-01", chrono::Utc::now());
    let payload = Payload::new(
        uuid::Uuid::nil(),
        "ppu-collector/0.1.0",
        at(0),
        UploadTrigger::Manual,
    );
    let bytes = seal(&header, &payload, &keys).unwrap();
    assert_eq!(
        open(&bytes, &keys, &Limits::default()).unwrap(),
        (header, payload)
    );
}

#[test]
fn layout_matches_the_documentation() {
    let bytes = sealed();
    let header = header();
    assert_eq!(&bytes[..4], b"PPUE");
    assert_eq!(bytes[4], FORMAT_VERSION);
    assert_eq!(bytes[KIND_AT], 2);
    assert_eq!(usize::from(bytes[ID_LEN_AT]), ID_LEN);
    assert_eq!(&bytes[ID_AT..TS_AT], SENDER_ID.as_bytes());
    assert_eq!(&bytes[TS_AT..NONCE_AT], &T0_MS.to_be_bytes());
    assert_eq!(&bytes[NONCE_AT..IV_AT], &header.nonce);
    assert_eq!(&bytes[IV_AT..CT_LEN_AT], &[0x17; 16]);
    assert_eq!(header.to_bytes().unwrap(), bytes[..IV_AT]);
    let ct_len = u32::from_be_bytes(bytes[CT_LEN_AT..CT_AT].try_into().unwrap()) as usize;
    assert_eq!(ct_len % 16, 0);
    assert_eq!(bytes.len(), 83 + ID_LEN + ct_len);
}

#[test]
fn sealing_twice_uses_fresh_ivs_and_nonces() {
    let payload = small_payload();
    let a = seal(&header(), &payload, &keys()).unwrap();
    let b = seal(&header(), &payload, &keys()).unwrap();
    assert_ne!(a[IV_AT..CT_LEN_AT], b[IV_AT..CT_LEN_AT]);
    assert_ne!(upload_id(&a), upload_id(&b));

    let h1 = Header::new(SenderKind::Printer, SENDER_ID, at(0));
    let h2 = Header::new(SenderKind::Printer, SENDER_ID, at(0));
    assert_ne!(h1.nonce, h2.nonce);
}

#[test]
fn header_timestamps_travel_in_whole_milliseconds() {
    let precise = at(0) + chrono::Duration::nanoseconds(123_456);
    let header = Header::new(SenderKind::Printer, SENDER_ID, precise);
    assert_eq!(header.timestamp, at(0));
    let bytes = seal(&header, &small_payload(), &keys()).unwrap();
    assert_eq!(peek_header(&bytes, &Limits::default()).unwrap(), header);
}

#[test]
fn upload_id_is_lowercase_hex_sha256_of_the_envelope() {
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    assert_eq!(
        upload_id(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let bytes = sealed();
    assert_eq!(upload_id(&bytes), upload_id(&bytes.clone()));
}

#[test]
fn keys_are_bound_to_secret_kind_and_id() {
    let base = SenderKeys::derive(SECRET, SenderKind::Printer, SENDER_ID);
    let others = [
        SenderKeys::derive(b"another secret", SenderKind::Printer, SENDER_ID),
        SenderKeys::derive(SECRET, SenderKind::Collector, SENDER_ID),
        SenderKeys::derive(SECRET, SenderKind::Printer, "SG81A00043"),
    ];
    let bytes = sealed();
    for other in &others {
        assert_ne!(&base, other);
        assert_eq!(
            open(&bytes, other, &Limits::default()).unwrap_err(),
            DecodeError::BadMac
        );
    }
    assert_eq!(base, keys());
}

#[test]
fn keys_round_trip_through_bytes_and_never_print() {
    let keys = keys();
    let bytes = keys.to_bytes();
    assert_eq!(SenderKeys::from_bytes(&bytes).unwrap(), keys);
    assert_eq!(
        SenderKeys::from_bytes(&bytes[..47]).unwrap_err(),
        KeyLengthError(47)
    );
    assert!(SenderKeys::from_bytes(&[0; 49]).is_err());

    let debug = format!("{keys:?} {:?}", Some(keys.clone()));
    assert!(!debug.contains(&hex::encode(&bytes[..16])), "{debug}");
    assert!(!debug.contains(&hex::encode(&bytes[16..])), "{debug}");
    for byte in bytes {
        assert!(!debug.contains(&format!("{byte}, ")), "{debug}");
    }
}

#[test]
fn sender_kind_conversions() {
    for kind in SenderKind::ALL {
        assert_eq!(SenderKind::from_u8(kind.as_u8()), Some(kind));
        assert_eq!(kind.as_str().parse::<SenderKind>().unwrap(), kind);
        assert_eq!(kind.to_string(), kind.as_str());
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
    }
    assert_eq!(SenderKind::Collector.as_u8(), 1);
    assert_eq!(SenderKind::Printer.as_u8(), 2);
    assert_eq!(SenderKind::from_u8(0), None);
    assert_eq!(SenderKind::from_u8(3), None);
    assert!("Printer".parse::<SenderKind>().is_err());
}

#[test]
fn sealing_refuses_invalid_headers() {
    let payload = small_payload();
    let mut header = header();
    header.sender_id.clear();
    assert!(matches!(
        seal(&header, &payload, &keys()),
        Err(SealError::EmptySenderId)
    ));

    header.sender_id = "x".repeat(129);
    assert!(matches!(
        seal(&header, &payload, &keys()),
        Err(SealError::SenderIdTooLong { len: 129, max: 128 })
    ));

    // 128 bytes is allowed, counted in bytes: 64 two-byte characters.
    header.sender_id = "ä".repeat(64);
    let bytes = seal(&header, &payload, &keys()).unwrap();
    assert_eq!(peek_header(&bytes, &Limits::default()).unwrap(), header);
    header.sender_id.push('a');
    assert!(matches!(
        seal(&header, &payload, &keys()),
        Err(SealError::SenderIdTooLong { len: 129, .. })
    ));

    let mut header = common::header();
    header.version = 2;
    assert!(matches!(
        seal(&header, &payload, &keys()),
        Err(SealError::UnsupportedVersion(2))
    ));
}

#[test]
fn size_limit_is_inclusive() {
    let bytes = sealed();
    let exact = Limits {
        max_envelope_bytes: bytes.len(),
        ..Limits::default()
    };
    assert!(open(&bytes, &keys(), &exact).is_ok());
    let below = Limits {
        max_envelope_bytes: bytes.len() - 1,
        ..Limits::default()
    };
    let expected = DecodeError::TooLarge {
        size: bytes.len(),
        limit: bytes.len() - 1,
    };
    assert_eq!(open(&bytes, &keys(), &below).unwrap_err(), expected);
    assert_eq!(peek_header(&bytes, &below).unwrap_err(), expected);
}

/// Produces every variant of `DecodeError` on purpose and checks its code.
#[test]
fn every_decode_error_on_purpose() {
    let keys = keys();
    let limits = Limits::default();
    let good = sealed();
    let mut seen = BTreeSet::new();
    let mut expect = |bytes: &[u8], limits: &Limits, expected: DecodeError| {
        let err = open(bytes, &keys, limits).unwrap_err();
        assert_eq!(err, expected);
        assert!(!err.to_string().is_empty());
        assert!(!err.to_string().ends_with('.'), "{err}");
        seen.insert(err.code());
    };

    expect(b"GET / HTTP/1.1\r\n", &limits, DecodeError::BadMagic);
    expect(b"", &limits, DecodeError::Truncated);
    expect(b"PPU", &limits, DecodeError::Truncated);

    let mut v2 = good.clone();
    v2[4] = 2;
    expect(&v2, &limits, DecodeError::UnsupportedVersion(2));

    expect(&good[..good.len() - 1], &limits, DecodeError::Truncated);
    expect(&good[..IV_AT], &limits, DecodeError::Truncated);

    let small = Limits {
        max_envelope_bytes: 100,
        ..limits
    };
    expect(
        &good,
        &small,
        DecodeError::TooLarge {
            size: good.len(),
            limit: 100,
        },
    );

    let mut bad_tag = good.clone();
    *bad_tag.last_mut().unwrap() ^= 1;
    expect(&bad_tag, &limits, DecodeError::BadMac);

    // A last block ending in 0x00 is never valid PKCS#7.
    let mut blocks = [0x41u8; 32];
    blocks[31] = 0;
    expect(
        &seal_raw_blocks(&header(), [1; 16], &blocks, &keys),
        &limits,
        DecodeError::BadPadding,
    );
    // Neither is a pad byte above the block size.
    blocks[31] = 17;
    expect(
        &seal_raw_blocks(&header(), [1; 16], &blocks, &keys),
        &limits,
        DecodeError::BadPadding,
    );

    // Declares 17 MiB, more than the default 16 MiB limit.
    let mut bomb = (17u32 << 20).to_le_bytes().to_vec();
    bomb.extend_from_slice(&[0x1f, 0, 1, 0]);
    expect(
        &seal_raw_plaintext(&header(), [2; 16], &bomb, &keys),
        &limits,
        DecodeError::DecompressedTooLarge {
            size: 17 << 20,
            limit: 16 << 20,
        },
    );

    expect(
        &seal_raw_plaintext(&header(), [3; 16], &[5, 0], &keys),
        &limits,
        DecodeError::BadCompression,
    );
    expect(
        &seal_raw_plaintext(&header(), [3; 16], &[5, 0, 0, 0, 0xff, 0xff], &keys),
        &limits,
        DecodeError::BadCompression,
    );

    let nil = seal_bytes(&header(), &[0xc0], &keys).unwrap();
    let err = open(&nil, &keys, &limits).unwrap_err();
    assert!(matches!(err, DecodeError::MalformedPayload(_)), "{err:?}");
    // `seen` is borrowed by `expect` until its last use: record this one later.
    let malformed_code = err.code();

    let mut newer = small_payload();
    newer.schema_version = SCHEMA_VERSION + 1;
    expect(
        &seal(&header(), &newer, &keys).unwrap(),
        &limits,
        DecodeError::UnsupportedSchema {
            found: SCHEMA_VERSION + 1,
            supported: SCHEMA_VERSION,
        },
    );

    let mut kind = good.clone();
    kind[KIND_AT] = 9;
    expect(
        &kind,
        &limits,
        DecodeError::BadHeader("unknown sender kind 9".into()),
    );

    seen.insert(malformed_code);
    assert_eq!(seen, DecodeError::CODES.into_iter().collect());
}

#[test]
fn header_and_framing_errors() {
    let keys = keys();
    let limits = Limits::default();
    let good = sealed();
    let bad_header = |bytes: &[u8]| {
        let err = open(bytes, &keys, &limits).unwrap_err();
        assert_eq!(err, peek_header(bytes, &limits).unwrap_err());
        match err {
            DecodeError::BadHeader(message) => message,
            other => panic!("expected bad_header, got {other:?}"),
        }
    };

    let mut empty_id = good.clone();
    empty_id[ID_LEN_AT] = 0;
    assert_eq!(bad_header(&empty_id), "empty sender id");

    let mut long_id = good.clone();
    long_id[ID_LEN_AT] = 129;
    assert!(bad_header(&long_id).contains("limit is 128"));

    let mut not_utf8 = good.clone();
    not_utf8[ID_AT] = 0xff;
    assert_eq!(bad_header(&not_utf8), "sender id is not utf-8");

    let mut far_future = good.clone();
    far_future[TS_AT..NONCE_AT].copy_from_slice(&i64::MAX.to_be_bytes());
    assert!(bad_header(&far_future).contains("out of range"));

    let mut odd_len = good.clone();
    odd_len[CT_LEN_AT + 3] ^= 1;
    assert!(bad_header(&odd_len).contains("multiple of 16"));

    let mut zero_len = good.clone();
    zero_len[CT_LEN_AT..CT_AT].copy_from_slice(&[0; 4]);
    assert!(bad_header(&zero_len).contains("multiple of 16"));

    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(bad_header(&trailing), "1 trailing bytes after the tag");

    let mut longer_ct = good.clone();
    longer_ct[CT_LEN_AT + 3] = longer_ct[CT_LEN_AT + 3].wrapping_add(16);
    assert_eq!(
        open(&longer_ct, &keys, &limits).unwrap_err(),
        DecodeError::Truncated
    );
}

#[test]
fn trailing_bytes_after_the_payload_are_malformed() {
    let mut msgpack = encode_payload(&small_payload()).unwrap();
    msgpack.push(0xc0);
    let bytes = seal_bytes(&header(), &msgpack, &keys()).unwrap();
    let err = open(&bytes, &keys(), &Limits::default()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::MalformedPayload("1 trailing bytes after the payload".into())
    );
}

#[test]
fn schema_version_zero_is_malformed() {
    let mut payload = small_payload();
    payload.schema_version = 0;
    let bytes = seal(&header(), &payload, &keys()).unwrap();
    let err = open(&bytes, &keys(), &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "malformed_payload");
}

/// The decompressed-size limit is checked on the declared size, and a real
/// bomb (64 MiB of zeros, a few hundred KB compressed) is refused.
#[test]
fn decompression_bombs_are_refused() {
    let zeros = vec![0u8; 64 << 20];
    let bytes = seal_bytes(&header(), &zeros, &keys()).unwrap();
    assert!(bytes.len() < DEFAULT_MAX_ENVELOPE_BYTES, "{}", bytes.len());
    assert_eq!(
        open(&bytes, &keys(), &Limits::default()).unwrap_err(),
        DecodeError::DecompressedTooLarge {
            size: 64 << 20,
            limit: DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    );

    // A size prefix that understates the real size is bad compression: the
    // decoder never writes past the buffer it allocated for the declared size.
    let mut liar = lz4_flex::block::compress_prepend_size(&[7u8; 4096]);
    liar[..4].copy_from_slice(&1024u32.to_le_bytes());
    assert_eq!(
        open(
            &seal_raw_plaintext(&header(), [4; 16], &liar, &keys()),
            &keys(),
            &Limits::default()
        )
        .unwrap_err(),
        DecodeError::BadCompression
    );

    // An overstating prefix too: the block must fill the declared size.
    let mut inflated = lz4_flex::block::compress_prepend_size(&[7u8; 4096]);
    inflated[..4].copy_from_slice(&8192u32.to_le_bytes());
    assert_eq!(
        open(
            &seal_raw_plaintext(&header(), [4; 16], &inflated, &keys()),
            &keys(),
            &Limits::default()
        )
        .unwrap_err(),
        DecodeError::BadCompression
    );

    // With a smaller configured limit, a legitimate payload is refused too.
    let payload_len = encode_payload(&small_payload()).unwrap().len();
    let tight = Limits {
        max_decompressed_bytes: payload_len - 1,
        ..Limits::default()
    };
    assert_eq!(
        open(&sealed(), &keys(), &tight).unwrap_err(),
        DecodeError::DecompressedTooLarge {
            size: payload_len,
            limit: payload_len - 1,
        }
    );
}

/// Changing any single byte of a sealed envelope, in any way, is an error:
/// never a panic, never a (different) payload.
#[test]
fn tampering_with_any_byte_is_an_error() {
    let keys = keys();
    let limits = Limits::default();
    let good = sealed();
    for at in 0..good.len() {
        for mask in [0x01u8, 0x02, 0x10, 0x80, 0xff] {
            let mut bytes = good.clone();
            bytes[at] ^= mask;
            let err = open(&bytes, &keys, &limits).expect_err("tampered envelope opened");
            // Where the framing still parses, the MAC is what refuses it.
            if (NONCE_AT..CT_LEN_AT).contains(&at) || at >= CT_AT {
                assert_eq!(err, DecodeError::BadMac, "byte {at} mask {mask:#x}");
            }
            let _ = peek_header(&bytes, &limits);
        }
    }
}

#[test]
fn error_codes_are_stable_snake_case() {
    for code in DecodeError::CODES {
        assert!(
            code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{code}"
        );
    }
    let unique: BTreeSet<_> = DecodeError::CODES.into_iter().collect();
    assert_eq!(unique.len(), DecodeError::CODES.len());
}
