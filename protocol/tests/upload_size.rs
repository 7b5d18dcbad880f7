//! The size promise of the white paper: each upload is compressed and under
//! 100 KB.
//!
//! [`three_hour_collector_upload`] builds, from a seeded PRNG, what a busy
//! site's collector sends after the default 180-minute interval:
//!
//! - 10 printers of mixed families: DesignJet T920, T1500, T2500 MFP,
//!   T3500 production MFP, T7200, Z6200, Z6800, PageWide XL 4500, 5000 and
//!   8000;
//! - for each, the configuration and the full status: engine state, 6 to 12
//!   cartridges (serials, capacity, usage, expiry), 1 to 8 printheads (health,
//!   serials), 2 rolls and the sheet feed, 20 to 40 supported media types
//!   each with 5 localized names (en, de, fr, es, it), job category
//!   thresholds, the 4 print category settings, 1 to 3 accessories;
//! - full lifetime counters: one entry per cartridge type, 5 to 12 media
//!   types used, scan areas, 4 to 7 application categories, totals;
//! - 20 to 50 jobs per printer within the 3 hours, 350 in all (MFPs: about
//!   a fifth scans and a tenth copies), every one with a unique realistic file
//!   name, a random UUID, sequence number, project / application / account
//!   id, user name, submit and print timestamps, per-color ink for every
//!   color of the printer's ink set, media, areas, one (sometimes two)
//!   application categories and coverage;
//! - 0 to 3 device alerts per printer and the collector's own report.
//!
//! The test prints the sizes and the compression ratio and fails if the
//! envelope reaches 100 000 bytes.
//!
//! The margin is thin: each job costs about 230 bytes after LZ4, the rest of
//! the upload about 20 KB, so one envelope holds roughly 350 such jobs. A
//! sender with more (10 printers at 50 jobs each seal to about 130 KB) must
//! split its data over several envelopes; PROTOCOL.md says so.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::{header, keys};
use ppu_protocol::envelope::{Limits, encode_payload, open, seal};
use ppu_protocol::*;
use rand::prelude::*;

/// Jobs of each printer in the 3 hours: 20 to 50, evenly spread (350 in
/// total, the mean of the range), rather than drawn, so that the total does
/// not depend on the seed.
const JOBS_PER_PRINTER: [usize; 10] = [20, 23, 27, 30, 33, 37, 40, 43, 47, 50];

/// The promise of the white paper, in bytes.
const PROMISED_MAX_BYTES: usize = 100_000;

/// One printer family and its hardware.
struct Family {
    product_number: &'static str,
    product_name: &'static str,
    firmware: &'static str,
    colors: &'static [&'static str],
    cartridges: usize,
    printheads: usize,
    mfp: bool,
    width_mm: u32,
}

const DESIGNJET_6: &[&str] = &[
    "photo_black",
    "matte_black",
    "gray",
    "cyan",
    "magenta",
    "yellow",
];
const Z6200_8: &[&str] = &[
    "photo_black",
    "matte_black",
    "light_gray",
    "light_cyan",
    "light_magenta",
    "chromatic_red",
    "magenta",
    "yellow",
];
const Z6800_10: &[&str] = &[
    "photo_black",
    "matte_black",
    "light_gray",
    "dark_gray",
    "cyan",
    "light_cyan",
    "magenta",
    "light_magenta",
    "chromatic_red",
    "yellow",
];
const PAGEWIDE_4: &[&str] = &["black", "cyan", "magenta", "yellow"];

const FAMILIES: [Family; 10] = [
    Family {
        product_number: "CR354A",
        product_name: "HP DesignJet T920 36-in ePrinter",
        firmware: "AXOPT4_2451A",
        colors: DESIGNJET_6,
        cartridges: 6,
        printheads: 1,
        mfp: false,
        width_mm: 914,
    },
    Family {
        product_number: "CR356A",
        product_name: "HP DesignJet T1500 36-in ePrinter",
        firmware: "AXOPT4_2451A",
        colors: DESIGNJET_6,
        cartridges: 6,
        printheads: 1,
        mfp: false,
        width_mm: 914,
    },
    Family {
        product_number: "CR359A",
        product_name: "HP DesignJet T2500 36-in eMultifunction Printer",
        firmware: "AXOPT4_2451A",
        colors: DESIGNJET_6,
        cartridges: 6,
        printheads: 1,
        mfp: true,
        width_mm: 914,
    },
    Family {
        product_number: "B9E24A",
        product_name: "HP DesignJet T3500 Production eMultifunction Printer",
        firmware: "VXPRD_2449B",
        colors: DESIGNJET_6,
        cartridges: 6,
        printheads: 3,
        mfp: true,
        width_mm: 914,
    },
    Family {
        product_number: "F2L46A",
        product_name: "HP DesignJet T7200 42-in Production Printer",
        firmware: "MAGNUM_2448A",
        colors: DESIGNJET_6,
        cartridges: 8,
        printheads: 3,
        mfp: false,
        width_mm: 1_067,
    },
    Family {
        product_number: "CQ109A",
        product_name: "HP DesignJet Z6200 42-in Photo Production Printer",
        firmware: "CAPAC_2447A",
        colors: Z6200_8,
        cartridges: 8,
        printheads: 4,
        mfp: false,
        width_mm: 1_067,
    },
    Family {
        product_number: "F2S71A",
        product_name: "HP DesignJet Z6800 60-in Photo Production Printer",
        firmware: "CAPAC_2447A",
        colors: Z6800_10,
        cartridges: 10,
        printheads: 5,
        mfp: false,
        width_mm: 1_524,
    },
    Family {
        product_number: "L2Y24A",
        product_name: "HP PageWide XL 4500 Printer",
        firmware: "PWXL_2450C",
        colors: PAGEWIDE_4,
        cartridges: 8,
        printheads: 6,
        mfp: false,
        width_mm: 1_016,
    },
    Family {
        product_number: "L3L44A",
        product_name: "HP PageWide XL 5000 Blueprinter",
        firmware: "PWXL_2450C",
        colors: PAGEWIDE_4,
        cartridges: 8,
        printheads: 6,
        mfp: false,
        width_mm: 1_016,
    },
    Family {
        product_number: "K9Z35A",
        product_name: "HP PageWide XL 8000 Printer",
        firmware: "PWXL_2450C",
        colors: PAGEWIDE_4,
        cartridges: 12,
        printheads: 8,
        mfp: false,
        width_mm: 1_016,
    },
];

/// Media materials with their names in en, de, fr, es, it.
const MATERIALS: [[&str; 5]; 10] = [
    [
        "Bond Paper",
        "Normalpapier",
        "Papier normal",
        "Papel bond",
        "Carta comune",
    ],
    [
        "Coated Paper",
        "Gestrichenes Papier",
        "Papier couché",
        "Papel recubierto",
        "Carta patinata",
    ],
    [
        "Photo Paper",
        "Fotopapier",
        "Papier photo",
        "Papel fotográfico",
        "Carta fotografica",
    ],
    [
        "Tracing Paper",
        "Transparentpapier",
        "Papier calque",
        "Papel de calco",
        "Carta da lucido",
    ],
    [
        "Polyester Film",
        "Polyesterfolie",
        "Film polyester",
        "Película de poliéster",
        "Pellicola in poliestere",
    ],
    ["Canvas", "Leinwand", "Toile", "Lienzo", "Tela"],
    [
        "Adhesive Vinyl",
        "Klebefolie",
        "Vinyle adhésif",
        "Vinilo adhesivo",
        "Vinile adesivo",
    ],
    [
        "Backlit Film",
        "Backlit-Folie",
        "Film rétroéclairé",
        "Película retroiluminada",
        "Pellicola retroilluminata",
    ],
    [
        "Polypropylene",
        "Polypropylen",
        "Polypropylène",
        "Polipropileno",
        "Polipropilene",
    ],
    [
        "Recycled Paper",
        "Recyclingpapier",
        "Papier recyclé",
        "Papel reciclado",
        "Carta riciclata",
    ],
];

/// Finishes, in the same languages; the empty finish is the plain material.
const FINISHES: [[&str; 5]; 5] = [
    ["", "", "", "", ""],
    [
        "Heavyweight",
        "schwer",
        "fort grammage",
        "de alto gramaje",
        "pesante",
    ],
    ["Gloss", "glänzend", "brillant", "brillante", "lucida"],
    ["Satin", "seidenmatt", "satiné", "satinado", "satinata"],
    ["Matte", "matt", "mat", "mate", "opaca"],
];

const LANGUAGES: [&str; 5] = ["en", "de", "fr", "es", "it"];

/// The 50 media types a site's printers choose their supported lists from.
fn media_catalog() -> Vec<MediaTypeInfo> {
    let mut catalog = Vec::new();
    for material in MATERIALS {
        for finish in FINISHES {
            let names: BTreeMap<String, String> = LANGUAGES
                .iter()
                .enumerate()
                .map(|(i, lang)| {
                    let name = match (finish[i], i) {
                        ("", _) => material[i].to_owned(),
                        (f, 0) => format!("{f} {}", material[0]),
                        (f, 1) => format!("{}, {f}", material[1]),
                        (f, _) => format!("{} {f}", material[i]),
                    };
                    (lang.to_string(), name)
                })
                .collect();
            let id = names["en"].to_lowercase().replace([' ', '-'], "_");
            catalog.push(MediaTypeInfo { id, names });
        }
    }
    catalog
}

const PROJECTS: [&str; 12] = [
    "Klinikum-Nord",
    "Bahnhof-Sued",
    "Logistikzentrum-A7",
    "Schulcampus-West",
    "Wohnpark-Isarauen",
    "Brücke-B12",
    "Rathaus-Sanierung",
    "Tiefgarage-Markt",
    "Gewerbehof-Ost",
    "Stadion-Erweiterung",
    "Kläranlage-Nord",
    "Messehalle-4",
];
const SHEETS: [&str; 14] = [
    "Grundriss",
    "Schnitt",
    "Ansicht",
    "Lageplan",
    "Detail",
    "Bewehrung",
    "Elektro",
    "HLS",
    "Brandschutz",
    "Fluchtplan",
    "Statik",
    "Entwässerung",
    "Fassade",
    "Dachaufsicht",
];
const LEVELS: [&str; 9] = [
    "UG2", "UG1", "EG", "OG1", "OG2", "OG3", "OG4", "DG", "Gesamt",
];
const EXTENSIONS: [&str; 5] = ["dwg", "pdf", "dwf", "plt", "tif"];
const APPLICATIONS: [&str; 7] = [
    "AutoCAD 2025",
    "Revit 2025",
    "ArcGIS Pro 3.3",
    "Adobe Acrobat DC",
    "HP Click 2.7",
    "HP SmartStream 5.4",
    "MicroStation 2024",
];
const USERS: [&str; 18] = [
    "j.meier",
    "a.schulz",
    "m.yilmaz",
    "k.nowak",
    "s.fischer",
    "t.weber",
    "l.rossi",
    "p.dubois",
    "c.hoffmann",
    "n.becker",
    "f.wagner",
    "e.koch",
    "r.richter",
    "b.klein",
    "h.wolf",
    "d.schroeder",
    "i.neumann",
    "o.braun",
];
const CATEGORY_IDS: [&str; 7] = [
    "cad",
    "gis",
    "rendering",
    "poster",
    "photo",
    "office",
    "technical_document",
];
const ALERTS: [(&str, Severity, &str); 6] = [
    ("cartridge_low", Severity::Warning, "cartridge is low"),
    (
        "printhead_replace_soon",
        Severity::Minor,
        "printhead should be replaced soon",
    ),
    ("roll_out", Severity::Minor, "roll is out of paper"),
    (
        "maintenance_cartridge_full",
        Severity::Major,
        "maintenance cartridge is almost full",
    ),
    ("86:01", Severity::Critical, "carriage stall"),
    ("cutter_error", Severity::Major, "cutter error"),
];

fn uuid(rng: &mut StdRng) -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

fn serial(rng: &mut StdRng, prefix: &str) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let tail: String = (0..8)
        .map(|_| *CHARS.choose(rng).unwrap() as char)
        .collect();
    format!("{prefix}{tail}")
}

/// A file name no other job of the upload has.
fn job_name(rng: &mut StdRng, used: &mut BTreeSet<String>) -> String {
    loop {
        let name = format!(
            "{}_{}_{}_{:03}_rev{}.{}",
            PROJECTS.choose(rng).unwrap(),
            SHEETS.choose(rng).unwrap(),
            LEVELS.choose(rng).unwrap(),
            rng.random_range(1..400),
            (b'A' + rng.random_range(0..6u8)) as char,
            EXTENSIONS.choose(rng).unwrap(),
        );
        if used.insert(name.clone()) {
            return name;
        }
    }
}

fn identity(
    rng: &mut StdRng,
    used: &mut BTreeSet<String>,
    sequence_number: u64,
    at: DateTime<Utc>,
    scan: bool,
) -> JobIdentity {
    JobIdentity {
        uuid: uuid(rng),
        name: if scan {
            format!("scan_{}_{sequence_number}.pdf", at.format("%Y%m%d_%H%M%S"))
        } else {
            job_name(rng, used)
        },
        sequence_number,
        project_id: rng
            .random_bool(0.7)
            .then(|| format!("PRJ-2025-{:03}", rng.random_range(1..40))),
        application_id: (!scan).then(|| APPLICATIONS.choose(rng).unwrap().to_string()),
        custom_field: rng
            .random_bool(0.2)
            .then(|| format!("Phase {}", rng.random_range(1..9))),
        account_id: rng
            .random_bool(0.8)
            .then(|| format!("CC-{}", rng.random_range(4_000..4_040))),
        user_name: (!scan).then(|| USERS.choose(rng).unwrap().to_string()),
        submitted_at: (!scan).then(|| at - Duration::seconds(rng.random_range(5..600))),
    }
}

fn print_details(
    rng: &mut StdRng,
    family: &Family,
    media: &[String],
    at: DateTime<Utc>,
) -> PrintDetails {
    let non_white = rng.random_range(200..9_000u16);
    let thresholds = JobCategoryThresholds::default();
    let pages = rng.random_range(1..12u32);
    let length_mm = u64::from(pages) * rng.random_range(297..1_800u64);
    let width_mm = u64::from(family.width_mm);
    let media_area = length_mm * width_mm;
    let printed_area = media_area * u64::from(non_white) / 10_000;
    let ink: Vec<InkUsage> = family
        .colors
        .iter()
        .map(|color| InkUsage {
            color: InkColor::new(*color),
            used_ul: printed_area / 2_000 * rng.random_range(1..40) / 10 + rng.random_range(1..30),
        })
        .collect();
    let total_ink: u64 = ink.iter().map(|i| i.used_ul).sum();
    let first = *CATEGORY_IDS.choose(rng).unwrap();
    let categories = if rng.random_bool(0.1) {
        let second = *CATEGORY_IDS.choose(rng).unwrap();
        vec![
            category(
                first,
                media_area / 2,
                printed_area / 2,
                total_ink / 2,
                length_mm / 2,
            ),
            category(
                second,
                media_area / 2,
                printed_area / 2,
                total_ink / 2,
                length_mm / 2,
            ),
        ]
    } else {
        vec![category(
            first,
            media_area,
            printed_area,
            total_ink,
            length_mm,
        )]
    };
    PrintDetails {
        printed_at: at,
        status: match rng.random_range(0..40) {
            0 => PrintStatus::Cancelled,
            1 => PrintStatus::Aborted,
            _ => PrintStatus::Printed,
        },
        source: *[
            JobSource::Driver,
            JobSource::Rip,
            JobSource::Ews,
            JobSource::Usb,
        ]
        .choose(rng)
        .unwrap(),
        category: thresholds.categorize(non_white),
        quality: *[PrintQuality::Fast, PrintQuality::Normal, PrintQuality::Best]
            .choose(rng)
            .unwrap(),
        media_type: media.choose(rng).cloned(),
        pages,
        copies: rng.random_range(1..4),
        print_time_s: pages * rng.random_range(20..240),
        ink,
        media_area_mm2: media_area,
        media_length_mm: length_mm,
        printed_area_mm2: printed_area,
        categories,
        non_white_coverage_bp: non_white,
        color_coverage_bp: rng.random_range(0..non_white),
    }
}

fn category(id: &str, media: u64, printed: u64, ink: u64, length: u64) -> JobCategoryUsage {
    JobCategoryUsage {
        category_id: id.to_owned(),
        media_area_mm2: media,
        printed_area_mm2: printed,
        ink_used_ul: ink,
        media_length_mm: length,
    }
}

fn scan_details(rng: &mut StdRng, family: &Family, at: DateTime<Utc>) -> ScanDetails {
    ScanDetails {
        scanned_at: at,
        status: if rng.random_range(0..30) == 0 {
            ScanStatus::Cancelled
        } else {
            ScanStatus::Scanned
        },
        scanned_area_mm2: u64::from(family.width_mm) * rng.random_range(297..2_000),
    }
}

fn status(
    rng: &mut StdRng,
    family: &Family,
    catalog: &[MediaTypeInfo],
    supported: &[String],
) -> PrinterStatus {
    let expiry = |rng: &mut StdRng| {
        NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .checked_add_days(chrono::Days::new(rng.random_range(0..900)))
    };
    let cartridges = (0..family.cartridges)
        .map(|i| {
            let color = family.colors[i % family.colors.len()];
            let capacity = if family.product_name.contains("PageWide") {
                775_000
            } else {
                130_000 * rng.random_range(1..=3)
            };
            let used = rng.random_range(0..capacity);
            InkCartridge {
                slot: format!(
                    "{}{}",
                    color.to_uppercase().replace('_', ""),
                    i / family.colors.len() + 1
                ),
                color: InkColor::new(color),
                state: if used > capacity * 9 / 10 {
                    ConsumableState::Low
                } else {
                    ConsumableState::Ok
                },
                product_number: format!("3ED{}A", 60 + i),
                product_name: format!("HP 83 {} ml {}", capacity / 1_000, color.replace('_', " ")),
                serial_number: serial(rng, "CN"),
                manufacturer: "HP".to_owned(),
                capacity_ul: capacity,
                ink_used_ul: used,
                non_hp_ink_used_ul: 0,
                level_pct: Some((100 - used * 100 / capacity) as u8),
                expires_on: expiry(rng),
            }
        })
        .collect();
    let per_head = family.colors.len().div_ceil(family.printheads).max(1);
    let printheads = (0..family.printheads)
        .map(|i| Printhead {
            slot: format!("{}", i + 1),
            colors: family
                .colors
                .iter()
                .cycle()
                .skip(i * per_head)
                .take(per_head)
                .map(|c| InkColor::new(*c))
                .collect(),
            state: ConsumableState::Ok,
            health_pct: Some(rng.random_range(40..=100)),
            product_number: format!("3ED{}A", 58 + i),
            product_name: "HP 83 Printhead".to_owned(),
            serial_number: serial(rng, "PH"),
            non_hp_ink_used: false,
            expires_on: expiry(rng),
        })
        .collect();
    let media_sources = vec![
        MediaSource {
            id: "roll1".to_owned(),
            kind: MediaSourceKind::Roll,
            state: MediaSourceState::Loaded,
            media_type: Some(supported[0].clone()),
            width_mm: Some(family.width_mm),
            height_mm: Some(rng.random_range(5_000..91_000)),
        },
        MediaSource {
            id: "roll2".to_owned(),
            kind: MediaSourceKind::Roll,
            state: MediaSourceState::Loaded,
            media_type: Some(supported[1].clone()),
            width_mm: Some(family.width_mm * 2 / 3),
            height_mm: Some(rng.random_range(5_000..91_000)),
        },
        MediaSource {
            id: "sheet".to_owned(),
            kind: MediaSourceKind::Sheet,
            state: MediaSourceState::NotLoaded,
            media_type: None,
            width_mm: None,
            height_mm: None,
        },
    ];
    PrinterStatus {
        engine: EngineStatus {
            state: *[
                EngineState::Ready,
                EngineState::Printing,
                EngineState::Sleep,
            ]
            .choose(rng)
            .unwrap(),
            detail: None,
        },
        printheads,
        cartridges,
        media_sources,
        supported_media_types: catalog
            .iter()
            .filter(|m| supported.contains(&m.id))
            .cloned()
            .collect(),
        job_category_thresholds: Some(JobCategoryThresholds::default()),
        print_category_settings: [
            PrintCategory::LineDrawing,
            PrintCategory::LowDensityImage,
            PrintCategory::HighDensityImage,
            PrintCategory::Premium,
        ]
        .into_iter()
        .map(|category| PrintCategorySetting {
            category,
            enabled: true,
            custom_name: (category == PrintCategory::Premium).then(|| "Fotoqualität".to_owned()),
        })
        .collect(),
        accessories: ["Stacker", "Take-up reel", "Scanner"][..rng.random_range(1..=3)]
            .iter()
            .map(|name| Accessory {
                name: (*name).to_owned(),
                product_number: Some(format!("{}A", rng.random_range(100..999))),
                state: AccessoryState::Installed,
            })
            .collect(),
    }
}

fn counters(
    rng: &mut StdRng,
    family: &Family,
    catalog: &[MediaTypeInfo],
    supported: &[String],
) -> LifetimeCounters {
    let cartridge_types: Vec<CartridgeTypeUsage> = family
        .colors
        .iter()
        .enumerate()
        .map(|(i, color)| {
            let used = rng.random_range(500_000..40_000_000);
            CartridgeTypeUsage {
                product_number: format!("3ED{}A", 60 + i),
                color: InkColor::new(*color),
                ink_used_ul: used,
                hp_ink_used_ul: used,
                non_hp_ink_used_ul: 0,
                insertions: rng.random_range(2..120),
            }
        })
        .collect();
    let media_types: Vec<MediaTypeUsage> = supported[..rng.random_range(5..=12)]
        .iter()
        .map(|id| MediaTypeUsage {
            media_type: id.clone(),
            name: catalog.iter().find(|m| &m.id == id).unwrap().names["en"].clone(),
            area_mm2: rng.random_range(1_000_000_000..90_000_000_000),
        })
        .collect();
    let scan = if family.mfp {
        let scans = rng.random_range(100_000_000..9_000_000_000);
        let copies = rng.random_range(100_000_000..9_000_000_000);
        ScanCounters {
            total_area_mm2: scans + copies,
            scan_area_mm2: scans,
            copy_area_mm2: copies,
        }
    } else {
        ScanCounters::default()
    };
    let application_categories = CATEGORY_IDS[..rng.random_range(4..=7)]
        .iter()
        .map(|id| ApplicationCategoryUsage {
            category_id: (*id).to_owned(),
            media_area_mm2: rng.random_range(1_000_000_000..90_000_000_000),
            media_length_mm: rng.random_range(1_000_000..90_000_000),
        })
        .collect();
    LifetimeCounters {
        total_ink_used_ul: cartridge_types.iter().map(|c| c.ink_used_ul).sum(),
        total_media_area_mm2: media_types.iter().map(|m| m.area_mm2).sum(),
        cartridge_types,
        media_types,
        scan,
        application_categories,
        jobs: rng.random_range(5_000..200_000),
        pages: rng.random_range(20_000..900_000),
    }
}

/// What a busy site's collector uploads after 180 minutes (see the module
/// documentation for the composition). Deterministic: seeded PRNG, fixed
/// clock.
fn three_hour_collector_upload() -> Payload {
    let mut rng = StdRng::seed_from_u64(0x5eed_2025);
    let now = common::at(0);
    let window_start = now - Duration::minutes(180);
    let catalog = media_catalog();
    let mut used_names = BTreeSet::new();
    let mut payload = Payload::new(
        uuid(&mut rng),
        "ppu-collector/0.1.0",
        now,
        UploadTrigger::Scheduled,
    );
    for (family, jobs) in FAMILIES.iter().zip(JOBS_PER_PRINTER) {
        let serial_number = serial(&mut rng, "SG");
        let collected_at = now - Duration::seconds(rng.random_range(10..120));
        let mut supported: Vec<String> = catalog.iter().map(|m| m.id.clone()).collect();
        supported.shuffle(&mut rng);
        supported.truncate(rng.random_range(20..=40));

        let mut report = PrinterReport::new(serial_number.clone(), collected_at);
        report.config = Some(PrinterConfig {
            product_number: family.product_number.to_owned(),
            product_name: family.product_name.to_owned(),
            serial_number,
            firmware_version: family.firmware.to_owned(),
        });
        report.status = Some(status(&mut rng, family, &catalog, &supported));
        report.counters = Some(counters(&mut rng, family, &catalog, &supported));

        let mut instants: Vec<DateTime<Utc>> = (0..jobs)
            .map(|_| window_start + Duration::seconds(rng.random_range(0..180 * 60)))
            .collect();
        instants.sort();
        let mut sequence_number = rng.random_range(10_000..90_000);
        for at in instants {
            sequence_number += 1;
            let kind = if family.mfp {
                rng.random_range(0..10)
            } else {
                9
            };
            match kind {
                0 | 1 => report.scan_jobs.push(ScanJob {
                    job: identity(&mut rng, &mut used_names, sequence_number, at, true),
                    scan: scan_details(&mut rng, family, at),
                }),
                2 => report.copy_jobs.push(CopyJob {
                    job: identity(&mut rng, &mut used_names, sequence_number, at, false),
                    scan: scan_details(&mut rng, family, at),
                    print: print_details(&mut rng, family, &supported, at + Duration::seconds(30)),
                }),
                _ => report.print_jobs.push(PrintJob {
                    job: identity(&mut rng, &mut used_names, sequence_number, at, false),
                    print: print_details(&mut rng, family, &supported, at),
                }),
            }
        }
        for _ in 0..rng.random_range(0..=3) {
            let (code, severity, message) = *ALERTS.choose(&mut rng).unwrap();
            report.alerts.push(DeviceAlert {
                code: code.to_owned(),
                severity,
                message: message.to_owned(),
                detected_at: window_start + Duration::seconds(rng.random_range(0..180 * 60)),
                active: rng.random_bool(0.7),
                during_boot: false,
            });
        }
        payload.printers.push(report);
    }
    payload.collector = Some(CollectorReport {
        config_version: 12,
        poll_started_at: Some(now - Duration::seconds(95)),
        poll_duration_ms: 88_400,
        devices_found: 12,
        skipped: vec![
            SkippedDevice {
                address: "10.20.0.31:443".to_owned(),
                reason: "unsupported model: HP LaserJet M404".to_owned(),
            },
            SkippedDevice {
                address: "10.20.0.57:443".to_owned(),
                reason: "unsupported model: HP Color LaserJet MFP M480".to_owned(),
            },
        ],
        spool_entries: 0,
        spool_bytes: 0,
        spool_full: false,
    });
    payload
}

#[test]
fn a_three_hour_collector_upload_is_under_100_kb() {
    let payload = three_hour_collector_upload();
    assert_eq!(payload.printers.len(), 10);
    let jobs = payload.job_count();
    assert!((200..=500).contains(&jobs), "{jobs} jobs");

    let msgpack = encode_payload(&payload).unwrap();
    let lz4 = lz4_flex::block::compress_prepend_size(&msgpack);
    let envelope = seal(&header(), &payload, &keys()).unwrap();
    let ratio = msgpack.len() as f64 / lz4.len() as f64;
    println!(
        "3-hour collector upload: {} printers, {jobs} jobs; msgpack {} bytes, lz4 {} bytes \
         (compression ratio {ratio:.2}), envelope {} bytes (promise: < {PROMISED_MAX_BYTES})",
        payload.printers.len(),
        msgpack.len(),
        lz4.len(),
        envelope.len(),
    );
    assert!(
        envelope.len() < PROMISED_MAX_BYTES,
        "envelope of {} bytes breaks the 100 KB promise",
        envelope.len()
    );

    // And the hub opens it within its default limits.
    let (_, opened) = open(&envelope, &keys(), &Limits::default()).unwrap();
    assert_eq!(opened, payload);
}

/// Every job name of the upload is distinct, like real traffic, so that the
/// compression ratio is not flattered by repetition.
#[test]
fn job_names_and_uuids_do_not_repeat() {
    let payload = three_hour_collector_upload();
    let mut names = BTreeSet::new();
    let mut uuids = BTreeSet::new();
    for printer in &payload.printers {
        let jobs = printer
            .print_jobs
            .iter()
            .map(|j| &j.job)
            .chain(printer.scan_jobs.iter().map(|j| &j.job))
            .chain(printer.copy_jobs.iter().map(|j| &j.job));
        for job in jobs {
            assert!(names.insert(job.name.clone()), "repeated name {}", job.name);
            assert!(uuids.insert(job.uuid), "repeated uuid {}", job.uuid);
        }
    }
}
