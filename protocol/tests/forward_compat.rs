//! A "newer sender" writes MessagePack this version does not fully know:
//! extra fields at every level, enum values added later, fields in another
//! order, optional fields left out. The payloads are built by hand, byte by
//! byte through `rmp`, so nothing here depends on our own serde types.

mod common;

use common::*;
use ppu_protocol::envelope::{
    DecodeError, Limits, MAX_PAYLOAD_DEPTH, decode_payload, open, seal_bytes,
};
use ppu_protocol::*;

/// A MessagePack value tree, written like a JSON literal.
#[derive(Debug, Clone)]
enum V {
    Nil,
    Bool(bool),
    U(u64),
    I(i64),
    F(f64),
    S(&'static str),
    Bin(Vec<u8>),
    Ext(i8, Vec<u8>),
    A(Vec<V>),
    M(Vec<(&'static str, V)>),
}

impl V {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        use rmp::encode::*;
        match self {
            V::Nil => write_nil(out).unwrap(),
            V::Bool(b) => write_bool(out, *b).unwrap(),
            V::U(n) => {
                write_uint(out, *n).unwrap();
            }
            V::I(n) => {
                write_sint(out, *n).unwrap();
            }
            V::F(x) => write_f64(out, *x).unwrap(),
            V::S(s) => write_str(out, s).unwrap(),
            V::Bin(b) => write_bin(out, b).unwrap(),
            V::Ext(ty, data) => {
                write_ext_meta(out, data.len() as u32, *ty).unwrap();
                out.extend_from_slice(data);
            }
            V::A(items) => {
                write_array_len(out, items.len() as u32).unwrap();
                items.iter().for_each(|item| item.write(out));
            }
            V::M(entries) => {
                write_map_len(out, entries.len() as u32).unwrap();
                for (key, value) in entries {
                    write_str(out, key).unwrap();
                    value.write(out);
                }
            }
        }
    }
}

const JOB_UUID: [u8; 16] = [
    0x9d, 0x1e, 0x3a, 0x52, 0x77, 0x0b, 0x4c, 0x8e, 0x91, 0x22, 0x5f, 0x13, 0x6a, 0x0c, 0x44, 0xe1,
];

/// A payload from a sender one minor version ahead of us.
fn newer_sender_payload() -> V {
    use V::*;
    M(vec![
        // Unknown fields first: order must not matter.
        ("carbon_footprint_g", U(1_234)),
        (
            "future_block",
            M(vec![
                ("nested", A(vec![I(-1), F(2.5), Nil, S("x")])),
                ("blob", Bin(vec![1, 2, 3])),
                ("stamp", Ext(-1, vec![0, 0, 0, 1])),
            ]),
        ),
        ("schema_version", U(1)),
        ("batch_id", Bin(vec![7; 16])),
        ("agent", S("hp-firmware/9.9.9")),
        ("generated_at", I(T0_MS)),
        ("trigger", S("solar_flare")),
        (
            "printers",
            A(vec![M(vec![
                ("serial_number", S("SG81A00042")),
                ("collected_at", I(T0_MS - 1_000)),
                ("hologram_count", U(3)),
                (
                    "status",
                    M(vec![
                        (
                            "engine",
                            M(vec![("state", S("levitating")), ("mood", S("calm"))]),
                        ),
                        (
                            "cartridges",
                            A(vec![M(vec![
                                ("slot", S("OC")),
                                ("color", S("octarine")),
                                ("state", S("glowing")),
                                ("capacity_ul", U(300_000)),
                                ("magic_level", U(9)),
                            ])]),
                        ),
                        (
                            "media_sources",
                            A(vec![M(vec![
                                ("id", S("drum1")),
                                ("kind", S("drum")),
                                ("state", S("quantum")),
                            ])]),
                        ),
                        (
                            "print_category_settings",
                            A(vec![M(vec![
                                ("category", S("ultra_premium")),
                                ("enabled", Bool(true)),
                            ])]),
                        ),
                        (
                            "accessories",
                            A(vec![M(vec![
                                ("name", S("Folder")),
                                ("state", S("folding")),
                            ])]),
                        ),
                        ("ai_features", A(vec![S("auto-nest")])),
                    ]),
                ),
                (
                    "print_jobs",
                    A(vec![M(vec![
                        (
                            "job",
                            M(vec![
                                ("uuid", Bin(JOB_UUID.to_vec())),
                                ("name", S("Lageplan.pdf")),
                                ("carbon_offset", Bool(true)),
                            ]),
                        ),
                        (
                            "print",
                            M(vec![
                                ("printed_at", I(T0_MS - 60_000)),
                                ("status", S("teleported")),
                                ("source", S("neural_link")),
                                ("category", S("ultra_premium")),
                                ("quality", S("hyper")),
                                ("pages", U(1)),
                                (
                                    "ink",
                                    A(vec![M(vec![
                                        ("color", S("octarine")),
                                        ("used_ul", U(42)),
                                        ("viscosity", F(1.5)),
                                    ])]),
                                ),
                                ("drying_time_s", U(30)),
                            ]),
                        ),
                    ])]),
                ),
                (
                    "scan_jobs",
                    A(vec![M(vec![
                        (
                            "job",
                            M(vec![("uuid", Bin(vec![8; 16])), ("sequence_number", U(5))]),
                        ),
                        (
                            "scan",
                            M(vec![
                                ("scanned_at", I(T0_MS - 50_000)),
                                ("status", S("ocr_only")),
                                ("dpi", U(600)),
                            ]),
                        ),
                    ])]),
                ),
                (
                    "alerts",
                    A(vec![M(vec![
                        ("code", S("99.99:01")),
                        ("severity", S("apocalyptic")),
                        ("detected_at", I(T0_MS - 5_000)),
                        ("ticket", M(vec![("id", U(77))])),
                    ])]),
                ),
            ])]),
        ),
        (
            "collector",
            M(vec![
                ("config_version", U(4)),
                ("os", S("linux")),
                (
                    "skipped",
                    A(vec![M(vec![
                        ("address", S("10.0.0.9:443")),
                        ("reason", S("unsupported")),
                        ("since", I(T0_MS)),
                    ])]),
                ),
            ]),
        ),
    ])
}

#[test]
fn unknown_fields_and_enum_values_are_tolerated() {
    let payload = decode_payload(&newer_sender_payload().encode()).unwrap();

    assert_eq!(payload.schema_version, 1);
    assert_eq!(payload.batch_id, uuid::Uuid::from_bytes([7; 16]));
    assert_eq!(payload.agent, "hp-firmware/9.9.9");
    assert_eq!(payload.generated_at, at(0));
    assert_eq!(payload.trigger, UploadTrigger::Unknown);

    let printer = &payload.printers[0];
    assert_eq!(printer.serial_number, "SG81A00042");
    let status = printer.status.as_ref().unwrap();
    assert_eq!(status.engine.state, EngineState::Unknown);
    assert_eq!(status.cartridges[0].color.as_str(), "octarine");
    assert_eq!(status.cartridges[0].state, ConsumableState::Unknown);
    assert_eq!(status.cartridges[0].capacity_ul, 300_000);
    assert_eq!(status.media_sources[0].kind, MediaSourceKind::Unknown);
    assert_eq!(status.media_sources[0].state, MediaSourceState::Unknown);
    assert_eq!(
        status.print_category_settings[0].category,
        PrintCategory::Unknown
    );
    assert_eq!(status.accessories[0].state, AccessoryState::Unknown);

    let job = &printer.print_jobs[0];
    assert_eq!(job.job.uuid, uuid::Uuid::from_bytes(JOB_UUID));
    assert_eq!(job.job.name, "Lageplan.pdf");
    assert_eq!(job.print.status, PrintStatus::Unknown);
    assert_eq!(job.print.source, JobSource::Unknown);
    assert_eq!(job.print.category, PrintCategory::Unknown);
    assert_eq!(job.print.quality, PrintQuality::Unknown);
    assert_eq!(job.print.ink[0].used_ul, 42);
    assert_eq!(printer.scan_jobs[0].scan.status, ScanStatus::Unknown);
    assert_eq!(printer.scan_jobs[0].job.sequence_number, 5);

    // An unknown severity is treated as the lowest one, never as critical.
    assert_eq!(printer.alerts[0].severity, Severity::Info);
    assert!(printer.alerts[0].active, "active defaults to true");

    let collector = payload.collector.as_ref().unwrap();
    assert_eq!(collector.config_version, 4);
    assert_eq!(collector.skipped[0].reason, "unsupported");
}

#[test]
fn a_newer_sender_payload_opens_through_the_envelope() {
    let bytes = seal_bytes(&header(), &newer_sender_payload().encode(), &keys()).unwrap();
    let (_, payload) = open(&bytes, &keys(), &Limits::default()).unwrap();
    assert_eq!(payload.trigger, UploadTrigger::Unknown);
    assert_eq!(payload.job_count(), 2);
}

#[test]
fn optional_fields_may_be_left_out() {
    use V::*;
    let minimal = M(vec![
        ("schema_version", U(1)),
        ("batch_id", Bin(vec![1; 16])),
        ("generated_at", I(T0_MS)),
        (
            "printers",
            A(vec![M(vec![
                ("serial_number", S("SG81A00042")),
                ("collected_at", I(T0_MS)),
                ("counters", M(vec![])),
                ("status", M(vec![])),
            ])]),
        ),
    ]);
    let payload = decode_payload(&minimal.encode()).unwrap();
    assert_eq!(payload.agent, "");
    assert_eq!(payload.trigger, UploadTrigger::Scheduled);
    assert!(payload.collector.is_none());
    let printer = &payload.printers[0];
    assert!(printer.config.is_none());
    assert_eq!(printer.counters, Some(LifetimeCounters::default()));
    assert_eq!(printer.status, Some(PrinterStatus::default()));
    assert!(printer.print_jobs.is_empty() && printer.alerts.is_empty());
}

#[test]
fn a_missing_required_field_is_malformed() {
    use V::*;
    let no_serial = M(vec![
        ("schema_version", U(1)),
        ("batch_id", Bin(vec![1; 16])),
        ("generated_at", I(T0_MS)),
        ("printers", A(vec![M(vec![("collected_at", I(T0_MS))])])),
    ]);
    let err = decode_payload(&no_serial.encode()).unwrap_err();
    assert!(
        matches!(&err, DecodeError::MalformedPayload(m) if m.contains("serial_number")),
        "{err:?}"
    );
}

/// A newer *schema version* is refused even when its shape would not decode
/// as ours: the version is read first.
#[test]
fn a_newer_schema_version_is_refused_before_decoding() {
    use V::*;
    let v2 = M(vec![
        ("schema_version", U(2)),
        ("printers", S("moved to a separate upload in v2")),
    ]);
    assert_eq!(
        decode_payload(&v2.encode()).unwrap_err(),
        DecodeError::UnsupportedSchema {
            found: 2,
            supported: SCHEMA_VERSION
        }
    );
}

/// Unknown fields may nest, up to the documented depth.
#[test]
fn unknown_fields_nest_up_to_the_depth_limit() {
    use V::*;
    // Written as bytes, not as a `V` tree: a tree 100 000 levels deep would
    // overflow the test's own stack when encoded or dropped.
    let nested = |depth: usize| {
        let mut bytes = M(vec![
            ("schema_version", U(1)),
            ("batch_id", Bin(vec![1; 16])),
            ("generated_at", I(T0_MS)),
        ])
        .encode();
        bytes[0] += 1; // one more entry in the fixmap
        S("deep").write(&mut bytes);
        bytes.extend(std::iter::repeat_n(0x91, depth)); // fixarray of one element
        bytes.push(0x01);
        bytes
    };
    // The payload map itself is one level.
    assert!(decode_payload(&nested(MAX_PAYLOAD_DEPTH - 2)).is_ok());
    let err = decode_payload(&nested(MAX_PAYLOAD_DEPTH + 1)).unwrap_err();
    assert!(
        matches!(&err, DecodeError::MalformedPayload(m) if m.contains("depth")),
        "{err:?}"
    );
    // Far deeper than any stack could recurse: refused, not a crash.
    assert!(decode_payload(&nested(100_000)).is_err());
}
