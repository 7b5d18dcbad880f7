//! Writes the seed corpora of the fuzz targets:
//!
//! ```text
//! cargo run -p ppu-protocol --example fuzz_seeds -- fuzz/corpus
//! ```
//!
//! - `envelope_open/`: valid envelopes sealed with the fuzz targets' fixed
//!   key (so that mutations start past the MAC), envelopes that pass the MAC
//!   and fail later, and a few invalid ones;
//! - `payload_decode/`: the MessagePack of the same payloads, and a few
//!   almost-payloads.
//!
//! Everything is deterministic: running it again rewrites the same bytes.

use std::path::PathBuf;

use aes::Aes128;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
use chrono::DateTime;
use hmac::{Hmac, KeyInit, Mac};
use ppu_protocol::envelope::{
    Header, SenderKeys, SenderKind, encode_payload, seal_bytes_with_iv, seal_with_iv,
};
use ppu_protocol::*;
use sha2::Sha256;

/// An envelope with a valid MAC around any ciphertext: reaches the checks
/// after the MAC, which `seal` never lets fail.
fn seal_ciphertext(
    header: &Header,
    ciphertext: &[u8],
    keys: &SenderKeys,
    iv: [u8; 16],
) -> anyhow::Result<Vec<u8>> {
    let key_bytes = keys.to_bytes();
    let mut out = header.to_bytes()?;
    out.extend_from_slice(&iv);
    out.extend_from_slice(&u32::try_from(ciphertext.len())?.to_be_bytes());
    out.extend_from_slice(ciphertext);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key_bytes[16..])?;
    mac.update(&out);
    out.extend_from_slice(&mac.finalize().into_bytes());
    Ok(out)
}

/// [`seal_ciphertext`] of `plaintext` (the would-be LZ4 bytes), padded and
/// encrypted.
fn seal_plaintext(
    header: &Header,
    plaintext: &[u8],
    keys: &SenderKeys,
    iv: [u8; 16],
) -> anyhow::Result<Vec<u8>> {
    let key_bytes = keys.to_bytes();
    let ciphertext = cbc::Encryptor::<Aes128>::new_from_slices(&key_bytes[..16], &iv)?
        .encrypt_padded_vec::<Pkcs7>(plaintext);
    seal_ciphertext(header, &ciphertext, keys, iv)
}

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".to_owned()),
    );
    // The fuzz target's key.
    let keys = SenderKeys::from_bytes(&[0x42; SenderKeys::LEN])?;
    let t0 = DateTime::from_timestamp_millis(1_741_944_413_589).expect("in range");
    let printer = Header::with_nonce(SenderKind::Printer, "SG81A00042", t0, [1; 16]);
    let collector = Header::with_nonce(SenderKind::Collector, "collector-7e3a9b12", t0, [2; 16]);

    let empty = Payload::new(uuid::Uuid::from_u128(1), "fuzz", t0, UploadTrigger::Boot);

    let mut alert = empty.clone();
    let mut report = PrinterReport::new("SG81A00042", t0);
    report.alerts.push(DeviceAlert {
        code: "86:01".to_owned(),
        severity: Severity::Critical,
        message: "carriage stall".to_owned(),
        detected_at: t0,
        active: true,
        during_boot: true,
    });
    report.counters = Some(LifetimeCounters {
        jobs: 12,
        pages: 40,
        ..LifetimeCounters::default()
    });
    alert.printers.push(report);

    let mut jobs = empty.clone();
    let mut report = PrinterReport::new("CN93L1F0HK", t0);
    for n in 0..3u64 {
        report.print_jobs.push(PrintJob {
            job: JobIdentity {
                uuid: uuid::Uuid::from_u128(u128::from(n) + 100),
                name: format!("sheet_{n}.pdf"),
                sequence_number: n,
                project_id: Some("PRJ-1".to_owned()),
                application_id: None,
                custom_field: None,
                account_id: Some("CC-4711".to_owned()),
                user_name: None,
                submitted_at: Some(t0),
            },
            print: PrintDetails {
                printed_at: t0,
                status: PrintStatus::Printed,
                source: JobSource::Driver,
                category: PrintCategory::LineDrawing,
                quality: PrintQuality::Normal,
                media_type: Some("bond".to_owned()),
                pages: 1,
                copies: 1,
                print_time_s: 30,
                ink: vec![InkUsage {
                    color: InkColor::new("matte_black"),
                    used_ul: 100 + n,
                }],
                media_area_mm2: 499_554,
                media_length_mm: 841,
                printed_area_mm2: 40_000,
                categories: Vec::new(),
                non_white_coverage_bp: 800,
                color_coverage_bp: 0,
            },
        });
    }
    jobs.printers.push(report);
    jobs.collector = Some(CollectorReport::default());

    let mut seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "valid_empty",
            seal_with_iv(&printer, &empty, &keys, [3; 16])?,
        ),
        (
            "valid_alert",
            seal_with_iv(&printer, &alert, &keys, [4; 16])?,
        ),
        (
            "valid_jobs",
            seal_with_iv(&collector, &jobs, &keys, [5; 16])?,
        ),
        // Past the MAC, then: not msgpack, a newer schema, trailing bytes.
        (
            "mac_ok_not_msgpack",
            seal_bytes_with_iv(&printer, b"\xc1garbage", &keys, [6; 16])?,
        ),
        (
            "mac_ok_schema_2",
            seal_bytes_with_iv(&printer, b"\x81\xaeschema_version\x02", &keys, [7; 16])?,
        ),
        (
            "mac_ok_1mib_of_zeros",
            seal_bytes_with_iv(&printer, &vec![0; 1 << 20], &keys, [8; 16])?,
        ),
        (
            "mac_ok_declares_32mib",
            seal_plaintext(&printer, &[0, 0, 0, 2, 0x10, 0], &keys, [9; 16])?,
        ),
        (
            "mac_ok_bad_padding",
            seal_ciphertext(&printer, &[0x5a; 32], &keys, [10; 16])?,
        ),
        ("wrong_magic", b"PPUX\x01\x02\x01A".to_vec()),
        ("magic_only", b"PPUE".to_vec()),
    ];
    let valid = seeds[1].1.clone();
    seeds.push(("truncated", valid[..valid.len() / 2].to_vec()));
    let mut flipped = valid;
    flipped[40] ^= 0x20;
    seeds.push(("flipped_bit", flipped));

    write_seeds(&root.join("envelope_open"), &seeds)?;

    let payload_seeds: Vec<(&str, Vec<u8>)> = vec![
        ("empty", encode_payload(&empty)?),
        ("alert", encode_payload(&alert)?),
        ("jobs", encode_payload(&jobs)?),
        ("schema_2", b"\x81\xaeschema_version\x02".to_vec()),
        ("nil", b"\xc0".to_vec()),
    ];
    write_seeds(&root.join("payload_decode"), &payload_seeds)
}

fn write_seeds(dir: &std::path::Path, seeds: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes)?;
    }
    println!("wrote {} seeds to {}", seeds.len(), dir.display());
    Ok(())
}
