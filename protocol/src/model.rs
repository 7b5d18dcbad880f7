//! The telemetry model: every item of Appendix A of the white paper, as serde types.
//!
//! This is the *payload* of an upload (see [`crate::envelope`] for the sealed
//! envelope around it). It is a wire type: it is versioned by
//! [`SCHEMA_VERSION`], kept apart from the hub's database entities, and
//! tolerant of newer senders:
//!
//! - structs are encoded as maps with named fields, so unknown fields are
//!   skipped and missing optional fields default;
//! - every enum has an `Unknown` variant that absorbs values this version does
//!   not know.
//!
//! # Units
//! Units are part of every field name: `_ul` microlitres (µl) of ink, `_mm2`
//! square millimetres, `_mm` millimetres, `_s` seconds, `_ms` milliseconds,
//! `_bp` basis points (1/100 of a percent, 0..=10 000), `_pct` whole percent.
//! Quantities are unsigned integers so that sums are exact; money is computed
//! by the hub from them and never travels. Timestamps are UTC, encoded as
//! integer milliseconds since the Unix epoch ([`Timestamp`]).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Version of the payload schema described by this module.
///
/// A receiver accepts payloads with a schema version up to its own; newer
/// minor additions are tolerated because unknown fields are ignored.
pub const SCHEMA_VERSION: u16 = 1;

/// A UTC instant, encoded on the wire as integer milliseconds since the Unix epoch.
pub type Timestamp = DateTime<Utc>;

mod ts {
    //! Serde helpers: timestamps travel as `i64` milliseconds since the epoch.
    pub use chrono::serde::ts_milliseconds as millis;
    pub use chrono::serde::ts_milliseconds_option as millis_opt;
}

/// The decrypted content of one upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// Schema version of this payload ([`SCHEMA_VERSION`] when produced by this crate).
    pub schema_version: u16,
    /// Sender-chosen id of this batch of data, stable across re-seals.
    ///
    /// A sender that could not deliver an envelope within the hub's timestamp
    /// window seals the same payload again (new timestamp and nonce) and keeps
    /// this id: the hub answers `duplicate` if it already stored the batch.
    pub batch_id: Uuid,
    /// Name and version of the software that produced the payload, e.g. `ppu-collector/0.1.0`.
    #[serde(default)]
    pub agent: String,
    /// When the payload was assembled by the sender.
    #[serde(with = "ts::millis")]
    pub generated_at: Timestamp,
    /// Why this upload was sent now.
    #[serde(default)]
    pub trigger: UploadTrigger,
    /// One report per printer. A direct-connected printer sends exactly one
    /// (its own); a collector sends one per collected printer of its site.
    #[serde(default)]
    pub printers: Vec<PrinterReport>,
    /// The collector's own state; absent in uploads from printers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector: Option<CollectorReport>,
}

impl Payload {
    /// An empty payload of the current schema version.
    pub fn new(
        batch_id: Uuid,
        agent: impl Into<String>,
        generated_at: Timestamp,
        trigger: UploadTrigger,
    ) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            batch_id,
            agent: agent.into(),
            generated_at,
            trigger,
            printers: Vec::new(),
            collector: None,
        }
    }

    /// Number of job records (print, scan and copy) over all printers.
    pub fn job_count(&self) -> usize {
        self.printers.iter().map(PrinterReport::job_count).sum()
    }
}

/// Why an upload was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadTrigger {
    /// The regular interval elapsed (3 hours for printers, the poll interval for collectors).
    #[default]
    Scheduled,
    /// A printer reached its job threshold (19 jobs).
    Jobs,
    /// A printer reached its page threshold (100 pages).
    Pages,
    /// A high-severity alert was detected and is sent at once.
    Alert,
    /// Sent while the device boots.
    Boot,
    /// Requested by an operator.
    Manual,
    /// A trigger this version does not know.
    #[serde(other)]
    Unknown,
}

/// Everything one printer reports in one upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrinterReport {
    /// The printer's serial number: its identity in the hub.
    pub serial_number: String,
    /// When the data of this report was read from the device.
    #[serde(with = "ts::millis")]
    pub collected_at: Timestamp,
    /// Configuration; absent when it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PrinterConfig>,
    /// Status; absent when it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PrinterStatus>,
    /// Lifetime usage counters (absolute readings, never deltas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<LifetimeCounters>,
    /// Print jobs finished since the previous upload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub print_jobs: Vec<PrintJob>,
    /// Scan jobs finished since the previous upload (MFP models).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scan_jobs: Vec<ScanJob>,
    /// Copy jobs finished since the previous upload (MFP models).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copy_jobs: Vec<CopyJob>,
    /// The device's alert table at collection time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<DeviceAlert>,
}

impl PrinterReport {
    /// A report with nothing but the serial number and collection time.
    pub fn new(serial_number: impl Into<String>, collected_at: Timestamp) -> Self {
        Self {
            serial_number: serial_number.into(),
            collected_at,
            config: None,
            status: None,
            counters: None,
            print_jobs: Vec::new(),
            scan_jobs: Vec::new(),
            copy_jobs: Vec::new(),
            alerts: Vec::new(),
        }
    }

    /// Number of job records (print, scan and copy) in this report.
    pub fn job_count(&self) -> usize {
        self.print_jobs.len() + self.scan_jobs.len() + self.copy_jobs.len()
    }
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// Printer configuration (Appendix A: "Printer configuration").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrinterConfig {
    /// HP product number, e.g. `2RQ10A`.
    pub product_number: String,
    /// Product name, e.g. `HP DesignJet T1700 44-in Printer`.
    pub product_name: String,
    /// Serial number, as printed on the device.
    pub serial_number: String,
    /// Firmware version string.
    pub firmware_version: String,
}

// ---------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------

/// Printer status (Appendix A: "Printer status").
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PrinterStatus {
    /// State of the print engine.
    #[serde(default)]
    pub engine: EngineStatus,
    /// One entry per printhead slot.
    #[serde(default)]
    pub printheads: Vec<Printhead>,
    /// One entry per ink cartridge slot.
    #[serde(default)]
    pub cartridges: Vec<InkCartridge>,
    /// Rolls, sheet feed and trays.
    #[serde(default)]
    pub media_sources: Vec<MediaSource>,
    /// Every media type the printer supports, with localized names.
    #[serde(default)]
    pub supported_media_types: Vec<MediaTypeInfo>,
    /// Coverage thresholds that decide a job's print category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_category_thresholds: Option<JobCategoryThresholds>,
    /// How the print categories are customized on this device.
    #[serde(default)]
    pub print_category_settings: Vec<PrintCategorySetting>,
    /// Installed accessories (stackers, take-up reels, scanners, ...).
    #[serde(default)]
    pub accessories: Vec<Accessory>,
}

/// State of the print engine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EngineStatus {
    /// Coarse state.
    #[serde(default)]
    pub state: EngineState,
    /// Free text detail from the device, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Coarse print engine state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineState {
    /// Idle and ready to print.
    Ready,
    /// Printing or processing a job.
    Printing,
    /// In power save.
    Sleep,
    /// Starting up.
    Booting,
    /// Needs attention, still able to print.
    Warning,
    /// Stopped by an error.
    Error,
    /// State not known (or a value this version does not know).
    #[default]
    #[serde(other)]
    Unknown,
}

/// Status of a consumable (cartridge or printhead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumableState {
    /// Installed and fine.
    Ok,
    /// Running low.
    Low,
    /// Very low.
    VeryLow,
    /// Empty / out.
    Empty,
    /// Past its expiry date.
    Expired,
    /// Slot empty.
    Missing,
    /// Installed but failed or unusable.
    Failed,
    /// Needs to be replaced (printheads).
    ReplaceSoon,
    /// Not known.
    #[default]
    #[serde(other)]
    Unknown,
}

/// An ink color, as a lowercase identifier such as `matte_black` or `cyan`.
///
/// A string rather than an enum so that a new ink set needs no schema change;
/// the constants list the colors of the supported families.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InkColor(pub String);

impl InkColor {
    /// Well-known color identifiers of DesignJet and PageWide XL ink sets.
    pub const KNOWN: &'static [&'static str] = &[
        "matte_black",
        "photo_black",
        "black",
        "cyan",
        "magenta",
        "yellow",
        "gray",
        "dark_gray",
        "light_gray",
        "light_cyan",
        "light_magenta",
        "red",
        "green",
        "blue",
        "chromatic_red",
        "gloss_enhancer",
    ];

    /// Build a color from its identifier.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for InkColor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One printhead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Printhead {
    /// Slot identifier on the device (e.g. `1`, `MK-Y`).
    pub slot: String,
    /// Colors the printhead prints.
    #[serde(default)]
    pub colors: Vec<InkColor>,
    /// Status.
    #[serde(default)]
    pub state: ConsumableState,
    /// Health metric reported by the device, 0 (worn out) to 100 (new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_pct: Option<u8>,
    /// HP product number.
    #[serde(default)]
    pub product_number: String,
    /// Product name.
    #[serde(default)]
    pub product_name: String,
    /// Serial number.
    #[serde(default)]
    pub serial_number: String,
    /// Whether non-HP ink has been used with this printhead.
    #[serde(default)]
    pub non_hp_ink_used: bool,
    /// Warranty expiry date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<NaiveDate>,
}

/// One ink cartridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InkCartridge {
    /// Slot identifier on the device.
    pub slot: String,
    /// Ink color.
    pub color: InkColor,
    /// Status.
    #[serde(default)]
    pub state: ConsumableState,
    /// HP product number (of the cartridge type).
    #[serde(default)]
    pub product_number: String,
    /// Product name.
    #[serde(default)]
    pub product_name: String,
    /// Serial number of this cartridge.
    #[serde(default)]
    pub serial_number: String,
    /// Manufacturer; `HP` for genuine cartridges.
    #[serde(default)]
    pub manufacturer: String,
    /// Nominal capacity.
    #[serde(default)]
    pub capacity_ul: u64,
    /// Ink used from this cartridge so far.
    #[serde(default)]
    pub ink_used_ul: u64,
    /// Of which non-HP ink.
    #[serde(default)]
    pub non_hp_ink_used_ul: u64,
    /// Remaining level as reported by the device, when it reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_pct: Option<u8>,
    /// Expiry date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<NaiveDate>,
}

/// Kind of media source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaSourceKind {
    /// A roll.
    Roll,
    /// Single sheet feed.
    Sheet,
    /// A tray (PageWide XL).
    Tray,
    /// Not known.
    #[default]
    #[serde(other)]
    Unknown,
}

/// State of a media source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaSourceState {
    /// Media loaded and ready.
    Loaded,
    /// Nothing loaded.
    NotLoaded,
    /// Media ran out.
    Out,
    /// Media is being loaded.
    Loading,
    /// Jam or other error.
    Error,
    /// Not known.
    #[default]
    #[serde(other)]
    Unknown,
}

/// One media source (roll, sheet feed or tray).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaSource {
    /// Source identifier, e.g. `roll1`, `roll2`, `sheet`.
    pub id: String,
    /// Kind.
    #[serde(default)]
    pub kind: MediaSourceKind,
    /// State.
    #[serde(default)]
    pub state: MediaSourceState,
    /// Identifier of the loaded media type (see [`MediaTypeInfo::id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Width of the loaded media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width_mm: Option<u32>,
    /// Height of a loaded sheet, or remaining length of a roll when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height_mm: Option<u32>,
}

/// A media type supported by the printer, with its names in several languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaTypeInfo {
    /// Stable identifier, e.g. `bond`, `coated_heavyweight`.
    pub id: String,
    /// Localized names keyed by BCP 47 language tag (`en`, `de`, `fr`, ...).
    #[serde(default)]
    pub names: BTreeMap<String, String>,
}

/// HP's print categories, decided by a job's non-white pixel coverage.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PrintCategory {
    /// Low coverage: CAD and line drawings.
    LineDrawing,
    /// Medium coverage images.
    LowDensityImage,
    /// High coverage images.
    HighDensityImage,
    /// Premium / photo quality output.
    Premium,
    /// Not known.
    #[default]
    #[serde(other)]
    Unknown,
}

impl PrintCategory {
    /// The category's wire identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LineDrawing => "line_drawing",
            Self::LowDensityImage => "low_density_image",
            Self::HighDensityImage => "high_density_image",
            Self::Premium => "premium",
            Self::Unknown => "unknown",
        }
    }
}

/// Thresholds on non-white pixel coverage that decide a job's print category.
///
/// Coverage up to `line_drawing_max_bp` is a line drawing, up to
/// `low_density_max_bp` a low-density image, above it a high-density image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCategoryThresholds {
    /// Upper bound (inclusive) of the line drawing category.
    pub line_drawing_max_bp: u16,
    /// Upper bound (inclusive) of the low-density image category.
    pub low_density_max_bp: u16,
}

impl JobCategoryThresholds {
    /// Category of a job with the given non-white pixel coverage.
    pub fn categorize(&self, non_white_coverage_bp: u16) -> PrintCategory {
        if non_white_coverage_bp <= self.line_drawing_max_bp {
            PrintCategory::LineDrawing
        } else if non_white_coverage_bp <= self.low_density_max_bp {
            PrintCategory::LowDensityImage
        } else {
            PrintCategory::HighDensityImage
        }
    }
}

impl Default for JobCategoryThresholds {
    /// HP's factory defaults: 10 % and 50 % coverage.
    fn default() -> Self {
        Self {
            line_drawing_max_bp: 1_000,
            low_density_max_bp: 5_000,
        }
    }
}

/// How one print category is customized on the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintCategorySetting {
    /// The category.
    pub category: PrintCategory,
    /// Whether the category is enabled for accounting.
    #[serde(default)]
    pub enabled: bool,
    /// A custom display name set by the customer, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_name: Option<String>,
}

/// State of an accessory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessoryState {
    /// Installed and working.
    Installed,
    /// Not installed.
    NotInstalled,
    /// Installed with an error.
    Error,
    /// Not known.
    #[default]
    #[serde(other)]
    Unknown,
}

/// An installed (or installable) accessory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accessory {
    /// Name, e.g. `Stacker`, `Take-up reel`, `Scanner`.
    pub name: String,
    /// Product number when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_number: Option<String>,
    /// State.
    #[serde(default)]
    pub state: AccessoryState,
}

// ---------------------------------------------------------------------------
// Lifetime counters
// ---------------------------------------------------------------------------

/// Lifetime usage counters (Appendix A: "Printer usage").
///
/// Every value is an absolute reading since the device was built. The hub
/// turns consecutive readings into usage (positive deltas).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LifetimeCounters {
    /// One entry per cartridge type the printer supports.
    #[serde(default)]
    pub cartridge_types: Vec<CartridgeTypeUsage>,
    /// One entry per media type ever used.
    #[serde(default)]
    pub media_types: Vec<MediaTypeUsage>,
    /// Scanned areas (MFP models).
    #[serde(default)]
    pub scan: ScanCounters,
    /// Usage per application category.
    #[serde(default)]
    pub application_categories: Vec<ApplicationCategoryUsage>,
    /// Number of jobs.
    #[serde(default)]
    pub jobs: u64,
    /// Number of pages.
    #[serde(default)]
    pub pages: u64,
    /// Total ink used by all cartridges.
    #[serde(default)]
    pub total_ink_used_ul: u64,
    /// Total media area used.
    #[serde(default)]
    pub total_media_area_mm2: u64,
}

/// Lifetime usage of one cartridge type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartridgeTypeUsage {
    /// HP product number of the cartridge type.
    pub product_number: String,
    /// Ink color of the cartridge type.
    pub color: InkColor,
    /// Total ink used by all cartridges of this type.
    #[serde(default)]
    pub ink_used_ul: u64,
    /// Of which HP ink.
    #[serde(default)]
    pub hp_ink_used_ul: u64,
    /// Of which non-HP ink.
    #[serde(default)]
    pub non_hp_ink_used_ul: u64,
    /// Number of cartridges of this type inserted so far.
    #[serde(default)]
    pub insertions: u32,
}

/// Lifetime usage of one media type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaTypeUsage {
    /// Media type identifier.
    pub media_type: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Total area used.
    #[serde(default)]
    pub area_mm2: u64,
}

/// Lifetime scanned areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScanCounters {
    /// Total scanned area (scans and copies).
    #[serde(default)]
    pub total_area_mm2: u64,
    /// Scanned area of real scans.
    #[serde(default)]
    pub scan_area_mm2: u64,
    /// Scanned area for copies.
    #[serde(default)]
    pub copy_area_mm2: u64,
}

/// Lifetime usage of one application category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationCategoryUsage {
    /// Category identifier.
    pub category_id: String,
    /// Media area used.
    #[serde(default)]
    pub media_area_mm2: u64,
    /// Linear media used.
    #[serde(default)]
    pub media_length_mm: u64,
}

// ---------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------

/// Identity and submitter data shared by print, scan and copy jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobIdentity {
    /// Job UUID: the hub counts a job UUID once, ever.
    pub uuid: Uuid,
    /// Job name (document name; never the document content).
    #[serde(default)]
    pub name: String,
    /// Device job sequence number.
    #[serde(default)]
    pub sequence_number: u64,
    /// Project id supplied by the submitting application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Application id supplied by the submitting application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// Custom field supplied by the submitting application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_field: Option<String>,
    /// Account id supplied by the submitting application (cost center).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// User name (usually empty for scans).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Timestamp supplied by the submitting application or driver.
    #[serde(
        default,
        with = "ts::millis_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub submitted_at: Option<Timestamp>,
}

/// Outcome of a print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrintStatus {
    /// Printed completely.
    Printed,
    /// Cancelled by a user.
    Cancelled,
    /// Aborted by the device (error).
    Aborted,
    /// Partially printed.
    Partial,
    /// Not known.
    #[default]
    #[serde(other)]
    Unknown,
}

/// Where a job came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobSource {
    /// A printer driver.
    Driver,
    /// A RIP.
    Rip,
    /// The embedded web server.
    Ews,
    /// A USB stick at the front panel.
    Usb,
    /// The device's own copy function.
    Copy,
    /// E-mail or cloud print.
    Cloud,
    /// Not known.
    #[default]
    #[serde(other)]
    Unknown,
}

/// Print quality mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrintQuality {
    /// Fast / draft.
    Fast,
    /// Normal.
    Normal,
    /// Best.
    Best,
    /// Maximum detail.
    MaxDetail,
    /// Not known.
    #[default]
    #[serde(other)]
    Unknown,
}

/// Ink used for one color.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InkUsage {
    /// The color.
    pub color: InkColor,
    /// Ink used, including printhead maintenance attributed to the job.
    pub used_ul: u64,
}

/// A job's usage in one application category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCategoryUsage {
    /// Application category identifier.
    pub category_id: String,
    /// Media area used.
    #[serde(default)]
    pub media_area_mm2: u64,
    /// Printed area.
    #[serde(default)]
    pub printed_area_mm2: u64,
    /// Ink used.
    #[serde(default)]
    pub ink_used_ul: u64,
    /// Media length used.
    #[serde(default)]
    pub media_length_mm: u64,
}

/// The printing part of a print or copy job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintDetails {
    /// When the device printed the job: billing assigns usage to this instant's period.
    #[serde(with = "ts::millis")]
    pub printed_at: Timestamp,
    /// Outcome.
    #[serde(default)]
    pub status: PrintStatus,
    /// Where the job came from.
    #[serde(default)]
    pub source: JobSource,
    /// Color coverage category decided by the device.
    #[serde(default)]
    pub category: PrintCategory,
    /// Print quality.
    #[serde(default)]
    pub quality: PrintQuality,
    /// Media type printed on (identifier, see [`MediaTypeInfo::id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Number of pages.
    #[serde(default)]
    pub pages: u32,
    /// Number of copies.
    #[serde(default)]
    pub copies: u32,
    /// Total print time.
    #[serde(default)]
    pub print_time_s: u32,
    /// Ink used per color.
    #[serde(default)]
    pub ink: Vec<InkUsage>,
    /// Total media used.
    #[serde(default)]
    pub media_area_mm2: u64,
    /// Media length used.
    #[serde(default)]
    pub media_length_mm: u64,
    /// Total printed area.
    #[serde(default)]
    pub printed_area_mm2: u64,
    /// Usage per application category.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<JobCategoryUsage>,
    /// Non-white pixel coverage.
    #[serde(default)]
    pub non_white_coverage_bp: u16,
    /// Color (non-black) pixel coverage.
    #[serde(default)]
    pub color_coverage_bp: u16,
}

impl PrintDetails {
    /// Total ink over all colors.
    pub fn total_ink_ul(&self) -> u64 {
        self.ink.iter().map(|i| i.used_ul).sum()
    }
}

/// Outcome of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    /// Scanned completely.
    Scanned,
    /// Cancelled.
    Cancelled,
    /// Failed.
    Failed,
    /// Not known.
    #[default]
    #[serde(other)]
    Unknown,
}

/// The scanning part of a scan or copy job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanDetails {
    /// When the scan happened.
    #[serde(with = "ts::millis")]
    pub scanned_at: Timestamp,
    /// Outcome.
    #[serde(default)]
    pub status: ScanStatus,
    /// Total scanned area.
    #[serde(default)]
    pub scanned_area_mm2: u64,
}

/// A print job record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintJob {
    /// Identity and submitter data.
    pub job: JobIdentity,
    /// What was printed.
    pub print: PrintDetails,
}

/// A scan job record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanJob {
    /// Identity and submitter data.
    pub job: JobIdentity,
    /// What was scanned.
    pub scan: ScanDetails,
}

/// A copy job record: both the scan and the print information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyJob {
    /// Identity and submitter data.
    pub job: JobIdentity,
    /// What was scanned.
    pub scan: ScanDetails,
    /// What was printed.
    pub print: PrintDetails,
}

// ---------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------

/// Alert severity, most severe first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Device down or billing data at risk.
    Critical,
    /// Needs service soon.
    Major,
    /// Needs attention.
    Minor,
    /// Worth knowing.
    Warning,
    /// Informational.
    #[default]
    #[serde(other)]
    Info,
}

impl Severity {
    /// All severities, most severe first.
    pub const ALL: [Severity; 5] = [
        Self::Critical,
        Self::Major,
        Self::Minor,
        Self::Warning,
        Self::Info,
    ];

    /// The wire identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Major => "major",
            Self::Minor => "minor",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }

    /// Whether this is a high-severity alert that a printer sends at once.
    pub fn is_high(self) -> bool {
        matches!(self, Self::Critical | Self::Major)
    }

    /// Whether `self` is at least as severe as `min`.
    pub fn at_least(self, min: Severity) -> bool {
        self <= min
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown severity `{s}` (expected one of critical, major, minor, warning, info)"
                )
            })
    }
}

/// One entry of a device's alert table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAlert {
    /// Stable alert code from the device, e.g. `65.04:10` or `cartridge_empty`.
    pub code: String,
    /// Severity.
    #[serde(default)]
    pub severity: Severity,
    /// Human readable message from the device.
    #[serde(default)]
    pub message: String,
    /// When the device detected the condition.
    #[serde(with = "ts::millis")]
    pub detected_at: Timestamp,
    /// `true` while the condition holds; `false` reports that it cleared.
    #[serde(default = "default_true")]
    pub active: bool,
    /// Detected while the device was booting.
    #[serde(default)]
    pub during_boot: bool,
}

fn default_true() -> bool {
    true
}

// ---------------------------------------------------------------------------
// Collector
// ---------------------------------------------------------------------------

/// A collector's report about itself, sent with every upload.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CollectorReport {
    /// Version of the configuration the collector runs with.
    #[serde(default)]
    pub config_version: u64,
    /// When the poll cycle that produced this upload started.
    #[serde(
        default,
        with = "ts::millis_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub poll_started_at: Option<Timestamp>,
    /// How long the poll cycle took.
    #[serde(default)]
    pub poll_duration_ms: u64,
    /// Devices that answered in the configured ranges.
    #[serde(default)]
    pub devices_found: u32,
    /// Devices found but not collected, with the reason.
    #[serde(default)]
    pub skipped: Vec<SkippedDevice>,
    /// Envelopes waiting in the spool (not counting this one).
    #[serde(default)]
    pub spool_entries: u32,
    /// Bytes waiting in the spool.
    #[serde(default)]
    pub spool_bytes: u64,
    /// The spool reached its size limit at some point since the last upload.
    #[serde(default)]
    pub spool_full: bool,
}

/// A device the collector found but did not collect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedDevice {
    /// Address (`ip:port`).
    pub address: String,
    /// Why it was skipped, e.g. `unsupported model: HP LaserJet M404`.
    pub reason: String,
}
