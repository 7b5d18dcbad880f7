//! Published test vectors of the envelope, and their independent check.
//!
//! [`inputs`] fixes everything random (secret, nonce, IV, timestamp) so that
//! each vector is deterministic. The tests check that:
//! - our code reproduces `tests/vectors/envelope_v1.json` byte for byte;
//! - every intermediate in the file is consistent with the next one, using
//!   the primitives directly rather than our pipeline;
//! - the `openssl` command-line tool, an independent implementation, derives
//!   the same keys, decrypts the ciphertext to the LZ4 bytes and computes the
//!   same tag and upload id;
//! - PROTOCOL.md shows exactly these vectors.
//!
//! After a deliberate change of the format or the model, regenerate both
//! files with `PPU_REGENERATE_VECTORS=1 cargo test -p ppu-protocol --test vectors`
//! and review the diff.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use aes::Aes128;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use ppu_protocol::envelope::*;
use ppu_protocol::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Everything a vector is generated from.
struct Input {
    name: &'static str,
    description: &'static str,
    secret: Vec<u8>,
    kind: SenderKind,
    sender_id: &'static str,
    timestamp_ms: i64,
    nonce: [u8; 16],
    iv: [u8; 16],
    payload: Payload,
}

/// One vector with every intermediate, as stored in the JSON file. Byte
/// strings are lowercase hex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Vector {
    name: String,
    description: String,
    secret: String,
    sender_kind: SenderKind,
    sender_kind_byte: u8,
    sender_id: String,
    sender_id_hex: String,
    timestamp_ms: i64,
    nonce: String,
    iv: String,
    hkdf_salt: String,
    hkdf_info_enc: String,
    hkdf_info_mac: String,
    enc_key: String,
    mac_key: String,
    /// The payload in JSON, for reading: on the wire it is MessagePack.
    payload: Payload,
    msgpack: String,
    lz4: String,
    padded_plaintext: String,
    ciphertext: String,
    header: String,
    mac_input: String,
    tag: String,
    envelope: String,
    upload_id: String,
}

/// The file: a format note and the vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct VectorFile {
    format: String,
    vectors: Vec<Vector>,
}

fn ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("in range")
}

fn seq<const N: usize>(start: u8) -> [u8; N] {
    std::array::from_fn(|i| start.wrapping_add(i as u8))
}

/// The inputs of the published vectors. Changing anything here changes the
/// vectors: regenerate and review (see the module documentation).
fn inputs() -> Vec<Input> {
    // Vector 1: a direct-connected printer reports a critical alert at boot.
    let t1 = 1_741_944_413_589; // 2025-03-14T09:26:53.589Z
    let mut alert_report = PrinterReport::new("SG81A00042", ms(t1 - 250));
    alert_report.config = Some(PrinterConfig {
        product_number: "2RQ10A".to_owned(),
        product_name: "HP DesignJet T1700 44-in Printer".to_owned(),
        serial_number: "SG81A00042".to_owned(),
        firmware_version: "AXOPT2_2451A".to_owned(),
    });
    alert_report.alerts.push(DeviceAlert {
        code: "86:01".to_owned(),
        severity: Severity::Critical,
        message: "carriage stall".to_owned(),
        detected_at: ms(t1 - 4_000),
        active: true,
        during_boot: true,
    });
    let mut alert = Payload::new(
        uuid::Uuid::from_u128(0x0195_8f3a_6b2c_7d11_9e4f_a1b2_c3d4_e5f6),
        "hp-firmware/AXOPT2_2451A",
        ms(t1 - 200),
        UploadTrigger::Alert,
    );
    alert.printers.push(alert_report);

    // Vector 2: a collector uploads one printer's counters and a print job.
    let t2 = 1_741_955_000_000; // 2025-03-14T12:23:20.000Z
    let mut report = PrinterReport::new("CN93L1F0HK", ms(t2 - 42_000));
    report.counters = Some(LifetimeCounters {
        cartridge_types: vec![CartridgeTypeUsage {
            product_number: "3ED71A".to_owned(),
            color: InkColor::new("matte_black"),
            ink_used_ul: 1_532_000,
            hp_ink_used_ul: 1_532_000,
            non_hp_ink_used_ul: 0,
            insertions: 12,
        }],
        media_types: vec![MediaTypeUsage {
            media_type: "bond".to_owned(),
            name: "Bond and Coated Paper".to_owned(),
            area_mm2: 2_801_000_000,
        }],
        scan: ScanCounters::default(),
        application_categories: Vec::new(),
        jobs: 2_311,
        pages: 5_120,
        total_ink_used_ul: 2_004_500,
        total_media_area_mm2: 2_801_000_000,
    });
    report.print_jobs.push(PrintJob {
        job: JobIdentity {
            uuid: uuid::Uuid::from_u128(0x6f1c_2a4e_93b0_4c1d_8a55_0d2e_7b61_c9a0),
            name: "A1_Grundriss_EG.dwg".to_owned(),
            sequence_number: 2_311,
            project_id: None,
            application_id: Some("AutoCAD".to_owned()),
            custom_field: None,
            account_id: Some("CC-4711".to_owned()),
            user_name: Some("j.meier".to_owned()),
            submitted_at: Some(ms(t2 - 300_000)),
        },
        print: PrintDetails {
            printed_at: ms(t2 - 240_000),
            status: PrintStatus::Printed,
            source: JobSource::Driver,
            category: PrintCategory::LineDrawing,
            quality: PrintQuality::Normal,
            media_type: Some("bond".to_owned()),
            pages: 1,
            copies: 1,
            print_time_s: 48,
            ink: vec![
                InkUsage {
                    color: InkColor::new("matte_black"),
                    used_ul: 312,
                },
                InkUsage {
                    color: InkColor::new("cyan"),
                    used_ul: 21,
                },
            ],
            media_area_mm2: 499_554,
            media_length_mm: 841,
            printed_area_mm2: 41_200,
            categories: Vec::new(),
            non_white_coverage_bp: 825,
            color_coverage_bp: 64,
        },
    });
    let mut jobs = Payload::new(
        uuid::Uuid::from_u128(0x0195_8fdc_0000_7000_8000_0000_0000_0002),
        "ppu-collector/0.1.0",
        ms(t2 - 1_000),
        UploadTrigger::Scheduled,
    );
    jobs.printers.push(report);
    jobs.collector = Some(CollectorReport {
        config_version: 7,
        poll_started_at: Some(ms(t2 - 45_000)),
        poll_duration_ms: 3_850,
        devices_found: 1,
        skipped: Vec::new(),
        spool_entries: 0,
        spool_bytes: 0,
        spool_full: false,
    });

    vec![
        Input {
            name: "printer-alert",
            description: "a direct-connected printer sends a critical alert detected at boot",
            secret: seq::<32>(0x00).to_vec(),
            kind: SenderKind::Printer,
            sender_id: "SG81A00042",
            timestamp_ms: t1,
            nonce: seq(0x10),
            iv: seq(0xa0),
            payload: alert,
        },
        Input {
            name: "collector-jobs",
            description: "a collector uploads one printer's lifetime counters and one print job",
            secret: b"ppu test vector 2 shared secret!".to_vec(),
            kind: SenderKind::Collector,
            sender_id: "collector-7e3a9b12",
            timestamp_ms: t2,
            nonce: seq(0x40),
            iv: seq(0xf0),
            payload: jobs,
        },
    ]
}

fn info(prefix: &[u8], kind: SenderKind, id: &str) -> Vec<u8> {
    [prefix, &[kind.as_u8()], id.as_bytes()].concat()
}

/// Compute a vector with our code; the intermediates come from the pieces
/// of the pipeline, the envelope from `seal_with_iv`.
fn generate(input: &Input) -> Vector {
    let keys = SenderKeys::derive(&input.secret, input.kind, input.sender_id);
    let key_bytes = keys.to_bytes();
    let header = Header::with_nonce(
        input.kind,
        input.sender_id,
        ms(input.timestamp_ms),
        input.nonce,
    );
    let envelope = seal_with_iv(&header, &input.payload, &keys, input.iv).unwrap();
    let header_bytes = header.to_bytes().unwrap();
    let msgpack = encode_payload(&input.payload).unwrap();
    let lz4 = lz4_flex::block::compress_prepend_size(&msgpack);
    let pad = 16 - lz4.len() % 16;
    let mut padded = lz4.clone();
    padded.extend(std::iter::repeat_n(pad as u8, pad));
    let ct_start = header_bytes.len() + 16 + 4;
    let tag_start = envelope.len() - 32;
    Vector {
        name: input.name.to_owned(),
        description: input.description.to_owned(),
        secret: hex::encode(&input.secret),
        sender_kind: input.kind,
        sender_kind_byte: input.kind.as_u8(),
        sender_id: input.sender_id.to_owned(),
        sender_id_hex: hex::encode(input.sender_id),
        timestamp_ms: input.timestamp_ms,
        nonce: hex::encode(input.nonce),
        iv: hex::encode(input.iv),
        hkdf_salt: hex::encode(KDF_SALT),
        hkdf_info_enc: hex::encode(info(KDF_INFO_ENC, input.kind, input.sender_id)),
        hkdf_info_mac: hex::encode(info(KDF_INFO_MAC, input.kind, input.sender_id)),
        enc_key: hex::encode(&key_bytes[..16]),
        mac_key: hex::encode(&key_bytes[16..]),
        payload: input.payload.clone(),
        msgpack: hex::encode(&msgpack),
        lz4: hex::encode(&lz4),
        padded_plaintext: hex::encode(&padded),
        ciphertext: hex::encode(&envelope[ct_start..tag_start]),
        header: hex::encode(&header_bytes),
        mac_input: hex::encode(&envelope[..tag_start]),
        tag: hex::encode(&envelope[tag_start..]),
        upload_id: upload_id(&envelope),
        envelope: hex::encode(&envelope),
    }
}

fn generate_file() -> VectorFile {
    VectorFile {
        format: "ppu-hub envelope format 1, see PROTOCOL.md; byte strings in lowercase hex"
            .to_owned(),
        vectors: inputs().iter().map(generate).collect(),
    }
}

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/envelope_v1.json")
}

fn protocol_md_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../PROTOCOL.md")
}

fn committed() -> VectorFile {
    regenerate_if_asked();
    let text = std::fs::read_to_string(vectors_path()).expect("vector file");
    serde_json::from_str(&text).expect("vector file is valid json")
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

const BEGIN: &str =
    "<!-- test-vectors:begin (generated by protocol/tests/vectors.rs, do not edit) -->";
const END: &str = "<!-- test-vectors:end -->";

/// Hex wrapped at 32 bytes a line, indented.
fn wrapped(hex: &str) -> String {
    hex.as_bytes()
        .chunks(64)
        .map(|line| format!("    {}\n", std::str::from_utf8(line).unwrap()))
        .collect()
}

/// The test-vector section of PROTOCOL.md.
fn render_markdown(file: &VectorFile) -> String {
    let mut out = String::new();
    for (n, v) in file.vectors.iter().enumerate() {
        let bytes = |hex: &str| hex.len() / 2;
        out += &format!(
            "\n### Vector {}: `{}`\n\n{}.\n\n",
            n + 1,
            v.name,
            v.description
        );
        out += "Payload, shown as JSON for reading (on the wire it is the MessagePack below, \
                where UUIDs are `bin` of 16 bytes):\n\n";
        out += &format!(
            "```json\n{}\n```\n\n",
            serde_json::to_string_pretty(&v.payload).unwrap()
        );
        out += "```text\n";
        let mut field = |name: &str, value: String| {
            out += &format!("{name}:\n{value}");
        };
        field("secret", wrapped(&v.secret));
        field(
            "sender kind",
            format!(
                "    {} (byte {:02x})\n",
                v.sender_kind.as_str(),
                v.sender_kind_byte
            ),
        );
        field(
            "sender id",
            format!("    {:?} = {}\n", v.sender_id, v.sender_id_hex),
        );
        field(
            "timestamp",
            format!(
                "    {} ms = {} = {}\n",
                v.timestamp_ms,
                ms(v.timestamp_ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                hex::encode(v.timestamp_ms.to_be_bytes())
            ),
        );
        field("nonce", wrapped(&v.nonce));
        field("iv", wrapped(&v.iv));
        field("hkdf salt", wrapped(&v.hkdf_salt));
        field("hkdf info, enc key", wrapped(&v.hkdf_info_enc));
        field("hkdf info, mac key", wrapped(&v.hkdf_info_mac));
        field("enc key (16 bytes)", wrapped(&v.enc_key));
        field("mac key (32 bytes)", wrapped(&v.mac_key));
        let sized = |name: &str, hex: &str| format!("{name} ({} bytes)", bytes(hex));
        field(&sized("msgpack", &v.msgpack), wrapped(&v.msgpack));
        field(&sized("lz4, size prepended", &v.lz4), wrapped(&v.lz4));
        field(
            &sized("padded plaintext", &v.padded_plaintext),
            wrapped(&v.padded_plaintext),
        );
        field(&sized("ciphertext", &v.ciphertext), wrapped(&v.ciphertext));
        field(&sized("header", &v.header), wrapped(&v.header));
        field(&sized("mac input", &v.mac_input), wrapped(&v.mac_input));
        field("tag", wrapped(&v.tag));
        field(&sized("envelope", &v.envelope), wrapped(&v.envelope));
        field("upload id", format!("    {}\n", v.upload_id));
        out += "```\n";
    }
    out
}

/// Rewrite both files from [`generate_file`] when asked to, once per run
/// (the tests that call this run in parallel).
fn regenerate_if_asked() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if std::env::var("PPU_REGENERATE_VECTORS").as_deref() == Ok("1") {
        ONCE.call_once(regenerate);
    }
}

fn regenerate() {
    let file = generate_file();
    let json = serde_json::to_string_pretty(&file).unwrap() + "\n";
    std::fs::write(vectors_path(), json).unwrap();
    let doc = std::fs::read_to_string(protocol_md_path()).unwrap();
    let (before, rest) = doc.split_once(BEGIN).expect("begin marker in PROTOCOL.md");
    let (_, after) = rest.split_once(END).expect("end marker in PROTOCOL.md");
    let doc = format!("{before}{BEGIN}\n{}\n{END}{after}", render_markdown(&file));
    std::fs::write(protocol_md_path(), doc).unwrap();
}

#[test]
fn our_code_reproduces_the_committed_vectors() {
    regenerate_if_asked();
    let file = committed();
    assert!(file.vectors.len() >= 2);
    assert_eq!(
        generate_file(),
        file,
        "regenerate and review, see the module docs"
    );
    let text = std::fs::read_to_string(vectors_path()).unwrap();
    assert_eq!(serde_json::to_string_pretty(&file).unwrap() + "\n", text);
}

/// Checks each step of each vector with the primitives themselves, not with
/// our pipeline, and that `open` returns the vector's payload.
#[test]
fn committed_vectors_are_consistent_step_by_step() {
    for v in committed().vectors {
        let name = &v.name;
        let secret = unhex(&v.secret);
        let keys = SenderKeys::derive(&secret, v.sender_kind, &v.sender_id);
        let enc_key = unhex(&v.enc_key);
        let mac_key = unhex(&v.mac_key);
        assert_eq!(
            keys.to_bytes().to_vec(),
            [&enc_key[..], &mac_key[..]].concat(),
            "{name}"
        );

        // HKDF by hand: the info strings are prefix || kind || id.
        let hkdf = hkdf::Hkdf::<Sha256>::new(Some(&unhex(&v.hkdf_salt)), &secret);
        let mut okm = [0u8; 16];
        hkdf.expand(&unhex(&v.hkdf_info_enc), &mut okm).unwrap();
        assert_eq!(okm.to_vec(), enc_key, "{name}");
        assert_eq!(
            unhex(&v.hkdf_info_mac),
            info(KDF_INFO_MAC, v.sender_kind, &v.sender_id)
        );

        let msgpack = unhex(&v.msgpack);
        let lz4 = unhex(&v.lz4);
        assert_eq!(
            lz4_flex::block::decompress_size_prepended(&lz4).unwrap(),
            msgpack,
            "{name}"
        );
        let padded = unhex(&v.padded_plaintext);
        let ciphertext = unhex(&v.ciphertext);
        let decrypted = cbc::Decryptor::<Aes128>::new_from_slices(&enc_key, &unhex(&v.iv))
            .unwrap()
            .decrypt_padded_vec::<NoPadding>(&ciphertext)
            .unwrap();
        assert_eq!(decrypted, padded, "{name}");
        let pad = *padded.last().unwrap() as usize;
        assert!((1..=16).contains(&pad));
        assert_eq!(&padded[..padded.len() - pad], &lz4[..], "{name}");

        let header = unhex(&v.header);
        let mac_input = unhex(&v.mac_input);
        let expected_input = [
            &header[..],
            &unhex(&v.iv),
            &(ciphertext.len() as u32).to_be_bytes(),
            &ciphertext,
        ]
        .concat();
        assert_eq!(mac_input, expected_input, "{name}");
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&mac_key).unwrap();
        mac.update(&mac_input);
        assert_eq!(
            mac.finalize().into_bytes().to_vec(),
            unhex(&v.tag),
            "{name}"
        );

        let envelope = unhex(&v.envelope);
        assert_eq!(
            envelope,
            [&mac_input[..], &unhex(&v.tag)].concat(),
            "{name}"
        );
        assert_eq!(
            hex::encode(Sha256::digest(&envelope)),
            v.upload_id,
            "{name}"
        );

        let (opened_header, payload) = open(&envelope, &keys, &Limits::default()).unwrap();
        assert_eq!(opened_header.sender_id, v.sender_id);
        assert_eq!(opened_header.timestamp.timestamp_millis(), v.timestamp_ms);
        assert_eq!(hex::encode(opened_header.nonce), v.nonce);
        assert_eq!(payload, v.payload, "{name}");
        assert_eq!(encode_payload(&payload).unwrap(), msgpack, "{name}");
    }
}

/// Runs `openssl` with `args`, feeding `stdin`; `None` when it is not installed.
fn openssl(args: &[&str], stdin: &[u8]) -> Option<Vec<u8>> {
    let mut child = match Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run openssl: {e}"),
    };
    // Small inputs: they fit in the pipe buffer, no need for a writer thread.
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(output.stdout)
}

/// `openssl kdf` prints `AB:CD:..`; `openssl dgst -r` prints `hex *stdin`.
fn printed_hex(output: &[u8]) -> String {
    let text = String::from_utf8(output.to_vec()).unwrap();
    let first = text.split_whitespace().next().unwrap_or_default();
    first.replace(':', "").to_ascii_lowercase()
}

/// The vectors checked by OpenSSL 3, an independent implementation of HKDF,
/// AES-128-CBC with PKCS#7, HMAC-SHA256 and SHA-256.
#[test]
fn openssl_agrees_with_the_committed_vectors() {
    if openssl(&["version"], b"").is_none() {
        let message = "openssl not found: the test vectors were NOT checked against an \
                       independent implementation";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message} (CI=true requires it)");
        }
        eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!("!!! {message}");
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
        return;
    }
    let run = |args: &[&str], stdin: &[u8]| openssl(args, stdin).expect("openssl ran before");
    for v in committed().vectors {
        let name = &v.name;
        for (info, key, len) in [
            (&v.hkdf_info_enc, &v.enc_key, "16"),
            (&v.hkdf_info_mac, &v.mac_key, "32"),
        ] {
            let out = run(
                &[
                    "kdf",
                    "-keylen",
                    len,
                    "-kdfopt",
                    "digest:SHA256",
                    "-kdfopt",
                    &format!("hexkey:{}", v.secret),
                    "-kdfopt",
                    &format!("hexsalt:{}", v.hkdf_salt),
                    "-kdfopt",
                    &format!("hexinfo:{info}"),
                    "HKDF",
                ],
                b"",
            );
            assert_eq!(&printed_hex(&out), key, "{name}: hkdf");
        }

        let ciphertext = unhex(&v.ciphertext);
        let cbc_args = ["-aes-128-cbc", "-K", &v.enc_key, "-iv", &v.iv];
        let decrypted = run(&[&["enc", "-d"][..], &cbc_args].concat(), &ciphertext);
        assert_eq!(hex::encode(decrypted), v.lz4, "{name}: decrypt");
        let raw = run(
            &[&["enc", "-d", "-nopad"][..], &cbc_args].concat(),
            &ciphertext,
        );
        assert_eq!(
            hex::encode(raw),
            v.padded_plaintext,
            "{name}: decrypt -nopad"
        );
        let encrypted = run(&[&["enc", "-e"][..], &cbc_args].concat(), &unhex(&v.lz4));
        assert_eq!(hex::encode(encrypted), v.ciphertext, "{name}: encrypt");

        let tag = run(
            &[
                "dgst",
                "-sha256",
                "-mac",
                "HMAC",
                "-macopt",
                &format!("hexkey:{}", v.mac_key),
                "-r",
            ],
            &unhex(&v.mac_input),
        );
        assert_eq!(printed_hex(&tag), v.tag, "{name}: hmac");

        let id = run(&["dgst", "-sha256", "-r"], &unhex(&v.envelope));
        assert_eq!(printed_hex(&id), v.upload_id, "{name}: upload id");
    }
}

/// PROTOCOL.md shows the committed vectors, byte for byte.
#[test]
fn protocol_md_shows_the_committed_vectors() {
    regenerate_if_asked();
    let doc = std::fs::read_to_string(protocol_md_path()).expect("PROTOCOL.md");
    let (_, rest) = doc.split_once(BEGIN).expect("begin marker in PROTOCOL.md");
    let (section, _) = rest.split_once(END).expect("end marker in PROTOCOL.md");
    let file = committed();
    assert_eq!(section, format!("\n{}\n", render_markdown(&file)));
    let flat: String = doc.split_whitespace().collect();
    for v in &file.vectors {
        assert!(flat.contains(&v.envelope), "{}: envelope missing", v.name);
    }
}
