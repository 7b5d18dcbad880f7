//! Helpers shared by the integration tests: fixed keys and headers, a small
//! payload that fills every kind of record, and low-level sealing that lets a
//! test put arbitrary bytes behind a valid MAC.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;

use aes::Aes128;
use cbc::cipher::block_padding::{NoPadding, Pkcs7};
use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, KeyInit, Mac};
use ppu_protocol::envelope::{Header, SenderKeys, SenderKind};
use ppu_protocol::*;
use sha2::Sha256;
use uuid::Uuid;

/// Shared secret of the test sender.
pub const SECRET: &[u8] = b"test secret of printer SG81A00042, 32+ bytes long";

/// Id of the test sender.
pub const SENDER_ID: &str = "SG81A00042";

/// A fixed instant: 2025-03-14T09:26:53.589Z.
pub const T0_MS: i64 = 1_741_944_413_589;

/// An instant `offset_ms` after [`T0_MS`].
pub fn at(offset_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(T0_MS + offset_ms).expect("in range")
}

/// Keys of the test sender.
pub fn keys() -> SenderKeys {
    SenderKeys::derive(SECRET, SenderKind::Printer, SENDER_ID)
}

/// A header of the test sender with a fixed nonce.
pub fn header() -> Header {
    Header::with_nonce(SenderKind::Printer, SENDER_ID, at(0), [0x5a; 16])
}

/// The test payload sealed with fixed header and IV.
pub fn sealed() -> Vec<u8> {
    ppu_protocol::envelope::seal_with_iv(&header(), &small_payload(), &keys(), [0x17; 16])
        .expect("seal")
}

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x6f1c_2a4e_0000_4000_8000_0000_0000_0000 | n)
}

fn identity(n: u128, name: &str) -> JobIdentity {
    JobIdentity {
        uuid: uuid(n),
        name: name.to_owned(),
        sequence_number: 4_000 + n as u64,
        project_id: Some("PRJ-2025-017".to_owned()),
        application_id: Some("AutoCAD 2025".to_owned()),
        custom_field: None,
        account_id: Some("CC-4711".to_owned()),
        user_name: Some("j.meier".to_owned()),
        submitted_at: Some(at(-600_000)),
    }
}

fn print_details(offset_ms: i64) -> PrintDetails {
    PrintDetails {
        printed_at: at(offset_ms),
        status: PrintStatus::Printed,
        source: JobSource::Driver,
        category: PrintCategory::LineDrawing,
        quality: PrintQuality::Normal,
        media_type: Some("bond".to_owned()),
        pages: 2,
        copies: 1,
        print_time_s: 95,
        ink: vec![
            InkUsage {
                color: InkColor::new("matte_black"),
                used_ul: 410,
            },
            InkUsage {
                color: InkColor::new("cyan"),
                used_ul: 35,
            },
        ],
        media_area_mm2: 1_189_000 * 841 / 1_000,
        media_length_mm: 1_189,
        printed_area_mm2: 88_000,
        categories: vec![JobCategoryUsage {
            category_id: "cad".to_owned(),
            media_area_mm2: 999_949,
            printed_area_mm2: 88_000,
            ink_used_ul: 445,
            media_length_mm: 1_189,
        }],
        non_white_coverage_bp: 880,
        color_coverage_bp: 70,
    }
}

/// A small payload with every kind of record: configuration, status,
/// counters, print/scan/copy jobs, an alert and a collector report.
pub fn small_payload() -> Payload {
    let mut report = PrinterReport::new(SENDER_ID, at(-1_000));
    report.config = Some(PrinterConfig {
        product_number: "2RQ10A".to_owned(),
        product_name: "HP DesignJet T1700 44-in Printer".to_owned(),
        serial_number: SENDER_ID.to_owned(),
        firmware_version: "AXOPT2_2451A".to_owned(),
    });
    report.status = Some(PrinterStatus {
        engine: EngineStatus {
            state: EngineState::Ready,
            detail: None,
        },
        printheads: vec![Printhead {
            slot: "1".to_owned(),
            colors: vec![InkColor::new("matte_black"), InkColor::new("cyan")],
            state: ConsumableState::Ok,
            health_pct: Some(92),
            product_number: "3ED58A".to_owned(),
            product_name: "HP 83 Printhead".to_owned(),
            serial_number: "PH0042".to_owned(),
            non_hp_ink_used: false,
            expires_on: None,
        }],
        cartridges: vec![InkCartridge {
            slot: "MK".to_owned(),
            color: InkColor::new("matte_black"),
            state: ConsumableState::Low,
            product_number: "3ED71A".to_owned(),
            product_name: "HP 83 130-ml Matte Black".to_owned(),
            serial_number: "CN0042MK".to_owned(),
            manufacturer: "HP".to_owned(),
            capacity_ul: 130_000,
            ink_used_ul: 118_000,
            non_hp_ink_used_ul: 0,
            level_pct: Some(9),
            expires_on: NaiveDate::from_ymd_opt(2026, 11, 30),
        }],
        media_sources: vec![MediaSource {
            id: "roll1".to_owned(),
            kind: MediaSourceKind::Roll,
            state: MediaSourceState::Loaded,
            media_type: Some("bond".to_owned()),
            width_mm: Some(1_118),
            height_mm: Some(45_000),
        }],
        supported_media_types: vec![MediaTypeInfo {
            id: "bond".to_owned(),
            names: BTreeMap::from([
                ("de".to_owned(), "Normalpapier".to_owned()),
                ("en".to_owned(), "Bond and Coated Paper".to_owned()),
            ]),
        }],
        job_category_thresholds: Some(JobCategoryThresholds::default()),
        print_category_settings: vec![PrintCategorySetting {
            category: PrintCategory::LineDrawing,
            enabled: true,
            custom_name: None,
        }],
        accessories: vec![Accessory {
            name: "Stacker".to_owned(),
            product_number: None,
            state: AccessoryState::Installed,
        }],
    });
    report.counters = Some(LifetimeCounters {
        cartridge_types: vec![CartridgeTypeUsage {
            product_number: "3ED71A".to_owned(),
            color: InkColor::new("matte_black"),
            ink_used_ul: 2_118_000,
            hp_ink_used_ul: 2_118_000,
            non_hp_ink_used_ul: 0,
            insertions: 17,
        }],
        media_types: vec![MediaTypeUsage {
            media_type: "bond".to_owned(),
            name: "Bond and Coated Paper".to_owned(),
            area_mm2: 9_400_000_000,
        }],
        scan: ScanCounters {
            total_area_mm2: 40_000_000,
            scan_area_mm2: 30_000_000,
            copy_area_mm2: 10_000_000,
        },
        application_categories: vec![ApplicationCategoryUsage {
            category_id: "cad".to_owned(),
            media_area_mm2: 9_400_000_000,
            media_length_mm: 8_400_000,
        }],
        jobs: 4_002,
        pages: 9_311,
        total_ink_used_ul: 2_900_000,
        total_media_area_mm2: 9_400_000_000,
    });
    report.print_jobs = vec![PrintJob {
        job: identity(1, "A1_Grundriss_EG.dwg"),
        print: print_details(-120_000),
    }];
    report.scan_jobs = vec![ScanJob {
        job: identity(2, "scan_0042.pdf"),
        scan: ScanDetails {
            scanned_at: at(-60_000),
            status: ScanStatus::Scanned,
            scanned_area_mm2: 499_554,
        },
    }];
    report.copy_jobs = vec![CopyJob {
        job: identity(3, "copy 1"),
        scan: ScanDetails {
            scanned_at: at(-30_000),
            status: ScanStatus::Scanned,
            scanned_area_mm2: 499_554,
        },
        print: print_details(-29_000),
    }];
    report.alerts = vec![DeviceAlert {
        code: "cartridge_low".to_owned(),
        severity: Severity::Warning,
        message: "matte black cartridge is low".to_owned(),
        detected_at: at(-3_600_000),
        active: true,
        during_boot: false,
    }];
    let mut payload = Payload::new(
        uuid(0xba7c),
        "ppu-test/0.1.0",
        at(0),
        UploadTrigger::Scheduled,
    );
    payload.printers.push(report);
    payload.collector = Some(CollectorReport {
        config_version: 3,
        poll_started_at: Some(at(-5_000)),
        poll_duration_ms: 4_200,
        devices_found: 2,
        skipped: vec![SkippedDevice {
            address: "10.0.0.9:443".to_owned(),
            reason: "unsupported model: HP LaserJet M404".to_owned(),
        }],
        spool_entries: 0,
        spool_bytes: 0,
        spool_full: false,
    });
    payload
}

/// An envelope with a valid MAC around an arbitrary `ciphertext`: reaches
/// the checks after the MAC (when its length is a positive multiple of 16,
/// otherwise the framing refuses it first).
pub fn seal_raw_ciphertext(
    header: &Header,
    iv: [u8; 16],
    ciphertext: &[u8],
    keys: &SenderKeys,
) -> Vec<u8> {
    let key_bytes = keys.to_bytes();
    let mut out = header.to_bytes().expect("valid header");
    out.extend_from_slice(&iv);
    out.extend_from_slice(&(ciphertext.len() as u32).to_be_bytes());
    out.extend_from_slice(ciphertext);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key_bytes[16..]).expect("any length");
    mac.update(&out);
    out.extend_from_slice(&mac.finalize().into_bytes());
    out
}

/// An envelope whose ciphertext is `plaintext` (the would-be LZ4 bytes)
/// padded with PKCS#7 and encrypted: reaches the checks after decryption.
pub fn seal_raw_plaintext(
    header: &Header,
    iv: [u8; 16],
    plaintext: &[u8],
    keys: &SenderKeys,
) -> Vec<u8> {
    let key_bytes = keys.to_bytes();
    let ciphertext = cbc::Encryptor::<Aes128>::new_from_slices(&key_bytes[..16], &iv)
        .expect("key and iv lengths")
        .encrypt_padded_vec::<Pkcs7>(plaintext);
    seal_raw_ciphertext(header, iv, &ciphertext, keys)
}

/// An envelope whose ciphertext decrypts to `blocks` exactly, without
/// padding being added: `blocks` chooses the padding the decoder will see.
pub fn seal_raw_blocks(header: &Header, iv: [u8; 16], blocks: &[u8], keys: &SenderKeys) -> Vec<u8> {
    assert_eq!(blocks.len() % 16, 0, "whole blocks only");
    let key_bytes = keys.to_bytes();
    let ciphertext = cbc::Encryptor::<Aes128>::new_from_slices(&key_bytes[..16], &iv)
        .expect("key and iv lengths")
        .encrypt_padded_vec::<NoPadding>(blocks);
    seal_raw_ciphertext(header, iv, &ciphertext, keys)
}
