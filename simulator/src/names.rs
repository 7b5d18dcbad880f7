//! Realistic-looking names: job names, users, cost centers, projects, serial numbers.
//!
//! Collectors and the hub must not care what these look like, but humans read
//! them in dashboards and exports, and odd-but-real names (spaces, dots,
//! umlauts) exercise escaping in XML, CSV and JSON on the way.

use chrono::{Datelike, Timelike};
use ppu_protocol::Timestamp;

use crate::rng::SimRng;

const CAD_SUBJECTS: &[&str] = &[
    "floorplan",
    "elevation-north",
    "elevation-south",
    "section-a-a",
    "site-plan",
    "roof-plan",
    "structural-grid",
    "hvac-layout",
    "electrical-layout",
    "plumbing-riser",
    "detail-sheet",
    "foundation-plan",
    "reflected-ceiling",
];
const CAD_LEVELS: &[&str] = &[
    "level1",
    "level2",
    "level3",
    "level4",
    "basement",
    "ground",
    "mezzanine",
];
const SHEET_SIZES: &[&str] = &["A0", "A1", "A2", "ARCH-D", "ARCH-E"];
const GIS_SUBJECTS: &[&str] = &[
    "parcel-map",
    "flood-zones",
    "zoning-overview",
    "utility-network",
    "land-use",
    "survey-points",
    "orthophoto",
];
const DISTRICTS: &[&str] = &[
    "north",
    "south",
    "east",
    "west",
    "centre",
    "harbour",
    "ringstraße",
];
const OFFICE_SUBJECTS: &[&str] = &[
    "quarterly-results",
    "org-chart",
    "project-timeline",
    "gantt",
    "kickoff-slides",
    "budget overview",
];
const CAMPAIGNS: &[&str] = &[
    "summer-sale",
    "open-house",
    "trade-fair",
    "new-menu",
    "grand-opening",
    "expo",
];
const GRAPHIC_KINDS: &[&str] = &[
    "poster",
    "banner",
    "rollup",
    "window-graphic",
    "floor-graphic",
    "backdrop",
];
const PHOTO_KINDS: &[&str] = &[
    "IMG_",
    "DSC",
    "exhibition-print-",
    "portrait-",
    "landscape-",
];

const FIRST_NAMES: &[&str] = &[
    "anna", "jonas", "marie", "luca", "sofia", "pierre", "carmen", "giulia", "tom", "lena",
    "mehmet", "kai", "elena", "noah", "ines", "björn",
];
const LAST_NAMES: &[&str] = &[
    "schmidt", "rossi", "dupont", "garcia", "müller", "bianchi", "martin", "lopez", "weber",
    "ferrari", "fischer", "moreau", "novak", "jansen",
];

/// A print job name for an application category, e.g. `floorplan-level2-A0.pdf`.
pub fn print_job_name(rng: &mut SimRng, category: &str, project_code: &str) -> String {
    match category {
        "cad" => match rng.below(3) {
            0 => format!(
                "{}-{}-{}.pdf",
                rng.pick(CAD_SUBJECTS),
                rng.pick(CAD_LEVELS),
                rng.pick(SHEET_SIZES)
            ),
            1 => format!("{project_code}_A-{}.dwg", rng.range(100, 599)),
            _ => format!("{}-rev{}.pdf", rng.pick(CAD_SUBJECTS), rng.range(1, 9)),
        },
        "gis" => format!(
            "{}-{}-{}.pdf",
            rng.pick(GIS_SUBJECTS),
            rng.pick(DISTRICTS),
            rng.range(2019, 2025)
        ),
        "office" => {
            let ext = *rng.pick(&["pdf", "pptx", "xlsx"]);
            format!("{}-{}.{ext}", rng.pick(OFFICE_SUBJECTS), rng.range(1, 12))
        }
        "graphics" => format!(
            "{}-{}-{}x{}.pdf",
            rng.pick(GRAPHIC_KINDS),
            rng.pick(CAMPAIGNS),
            rng.pick(&[60, 80, 90, 100, 120]),
            rng.pick(&[90, 120, 180, 200, 240]),
        ),
        "photo" => {
            let kind = *rng.pick(PHOTO_KINDS);
            let ext = *rng.pick(&["tif", "jpg", "psd"]);
            format!("{kind}{:04}.{ext}", rng.range(1, 9_999))
        }
        _ => format!("document-{}.pdf", rng.range(1, 999)),
    }
}

/// A scan or copy job name derived from the device clock, e.g. `scan_20240503_101522.pdf`.
pub fn device_job_name(rng: &mut SimRng, prefix: &str, at: Timestamp) -> String {
    let ext = if prefix == "copy" {
        ""
    } else {
        *rng.pick(&[".pdf", ".pdf", ".tif", ".jpg"])
    };
    format!(
        "{prefix}_{:04}{:02}{:02}_{:02}{:02}{:02}{ext}",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// A pool of user names like `anna.schmidt` (unique within the pool).
pub fn user_pool(rng: &mut SimRng, n: usize) -> Vec<String> {
    let mut users: Vec<String> = Vec::with_capacity(n);
    while users.len() < n {
        let candidate = format!("{}.{}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES));
        if !users.contains(&candidate) {
            users.push(candidate);
        }
    }
    users
}

/// A pool of cost-center account ids like `CC-4100`.
pub fn account_pool(rng: &mut SimRng, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| format!("CC-{}", rng.range(1_000, 9_899)))
        .collect()
}

/// A pool of project ids like `PRJ-2024-017`.
pub fn project_pool(rng: &mut SimRng, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| format!("PRJ-{}-{:03}", rng.range(2022, 2025), rng.range(1, 240)))
        .collect()
}

const ALNUM: &[u8] = b"0123456789ABCDEFGHJKLMNPRSTVWXYZ";

fn alnum(rng: &mut SimRng, n: usize) -> String {
    (0..n).map(|_| char::from(*rng.pick(ALNUM))).collect()
}

/// An HP-style ten-character serial number, e.g. `SG63F7A01K`.
pub fn printer_serial(rng: &mut SimRng, prefix: &str) -> String {
    format!("{prefix}{}{}", rng.range(1, 9), alnum(rng, 7))
}

/// A consumable serial number (cartridges, printheads).
pub fn consumable_serial(rng: &mut SimRng, genuine: bool) -> String {
    if genuine {
        format!("CN{}", alnum(rng, 10))
    } else {
        // Refilled / third-party chips often report a zeroed or generic serial prefix.
        format!("00{}", alnum(rng, 8))
    }
}
