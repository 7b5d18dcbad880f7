//! The deterministic device model of one virtual printer.
//!
//! [`VirtualPrinter`] is plain Rust: no I/O, no wall clock, no global
//! randomness. Time only moves when the caller passes a later instant to
//! [`VirtualPrinter::step`] or [`VirtualPrinter::advance`]; everything random
//! comes from a [`SimRng`] seeded at construction. The same model, serial,
//! seed, options and sequence of `advance` targets therefore produce the same
//! jobs, alerts and counters, bit for bit.
//!
//! # What happens inside
//! The printer is a small discrete-event simulation. Its next *occurrences*
//! are: the next job, the next random error, the next power cycle, and
//! scheduled operator actions (replace a cartridge, load a roll, clear a jam,
//! reboot after a system error). [`VirtualPrinter::step`] runs exactly one
//! occurrence and returns its [`Event`]s, all stamped with the occurrence's
//! instant; the firmware (see [`crate::firmware`]) can therefore look at the
//! counters after every single job.
//!
//! # Invariants the tests rely on
//! - The lifetime counters are exactly the sum of the generated job records:
//!   every microlitre of ink is attributed to a job (printhead servicing
//!   included) and nothing is consumed outside jobs.
//! - `PrintDetails::pages` counts printed pages *including copies*
//!   (`document pages x copies`); `copies` is informational.
//! - Every generated job UUID is recorded once in the [`JobLedger`], which is
//!   never trimmed (the accounting log the LEDM server exposes is bounded).

use std::collections::{BTreeMap, VecDeque};

use chrono::{Datelike, Months, NaiveDate, TimeDelta, Timelike, Weekday};
use ppu_protocol::{
    Accessory, AccessoryState, ApplicationCategoryUsage, CartridgeTypeUsage, ConsumableState,
    CopyJob, DeviceAlert, EngineState, EngineStatus, InkCartridge, InkColor, InkUsage,
    JobCategoryThresholds, JobCategoryUsage, JobIdentity, JobSource, LifetimeCounters, MediaSource,
    MediaSourceKind, MediaSourceState, MediaTypeInfo, MediaTypeUsage, PrintCategory,
    PrintCategorySetting, PrintDetails, PrintJob, PrintQuality, PrintStatus, PrinterConfig,
    PrinterReport, PrinterStatus, Printhead, ScanCounters, ScanDetails, ScanJob, ScanStatus,
    Severity, Timestamp,
};
use uuid::Uuid;

use crate::ledm::LedmDialect;
use crate::models::{
    CartridgeSpec, Family, InkSlotSpec, JobProfile, MediaTypeSpec, ModelId, ModelSpec,
    PrintheadSpec,
};
use crate::names;
use crate::rng::SimRng;

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// Knobs of the device model; the defaults give a realistic printer.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceOptions {
    /// Multiplier on the model's job rate (2.0 = twice as busy).
    pub job_rate: f64,
    /// Multiplier on the rate of random device errors (0.0 = none).
    pub error_rate: f64,
    /// Probability that a boot detects a high-severity condition.
    pub boot_alert_probability: f64,
    /// Probability that a replacement cartridge is not genuine HP.
    pub non_hp_probability: f64,
    /// Mean days between power cycles (overnight switch-offs, updates).
    pub power_cycle_mean_days: f64,
    /// How many finished jobs the device keeps in its accounting log.
    pub accounting_log_capacity: usize,
    /// LEDM dialect of the firmware; `None` lets the seed decide.
    pub ledm_dialect: Option<LedmDialect>,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        Self {
            job_rate: 1.0,
            error_rate: 1.0,
            boot_alert_probability: 0.1,
            non_hp_probability: 0.04,
            power_cycle_mean_days: 4.0,
            accounting_log_capacity: 10_000,
            ledm_dialect: None,
        }
    }
}

/// Kind of a job record.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A print job.
    Print,
    /// A scan job.
    Scan,
    /// A copy job (scan and print).
    Copy,
}

impl JobKind {
    /// Wire / CSV identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Print => "print",
            Self::Scan => "scan",
            Self::Copy => "copy",
        }
    }
}

/// One finished job, of any kind, exactly as the telemetry model carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobRecord {
    /// A print job.
    Print(PrintJob),
    /// A scan job.
    Scan(ScanJob),
    /// A copy job.
    Copy(CopyJob),
}

impl JobRecord {
    /// Identity and submitter data.
    pub fn identity(&self) -> &JobIdentity {
        match self {
            Self::Print(j) => &j.job,
            Self::Scan(j) => &j.job,
            Self::Copy(j) => &j.job,
        }
    }

    /// The kind of job.
    pub fn kind(&self) -> JobKind {
        match self {
            Self::Print(_) => JobKind::Print,
            Self::Scan(_) => JobKind::Scan,
            Self::Copy(_) => JobKind::Copy,
        }
    }

    /// The printing part (print and copy jobs).
    pub fn print(&self) -> Option<&PrintDetails> {
        match self {
            Self::Print(j) => Some(&j.print),
            Self::Copy(j) => Some(&j.print),
            Self::Scan(_) => None,
        }
    }

    /// The scanning part (scan and copy jobs).
    pub fn scan(&self) -> Option<&ScanDetails> {
        match self {
            Self::Scan(j) => Some(&j.scan),
            Self::Copy(j) => Some(&j.scan),
            Self::Print(_) => None,
        }
    }

    /// When the device finished the job.
    pub fn finished_at(&self) -> Timestamp {
        match self {
            Self::Print(j) => j.print.printed_at,
            Self::Scan(j) => j.scan.scanned_at,
            Self::Copy(j) => j.print.printed_at,
        }
    }

    /// Printed pages (copies included); 0 for scans.
    pub fn pages(&self) -> u64 {
        self.print().map_or(0, |p| u64::from(p.pages))
    }

    /// Add this record to a printer report's job lists.
    pub fn push_into(self, report: &mut PrinterReport) {
        match self {
            Self::Print(j) => report.print_jobs.push(j),
            Self::Scan(j) => report.scan_jobs.push(j),
            Self::Copy(j) => report.copy_jobs.push(j),
        }
    }
}

/// Why the printer rebooted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BootReason {
    /// First power-on in the simulation.
    PowerOn,
    /// Switched off and on (overnight, by a user).
    PowerCycle,
    /// Restart after a system error.
    SystemError,
}

/// Something that happened on the device. Every event of one
/// [`VirtualPrinter::step`] carries the same instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The printer finished booting.
    Booted {
        /// When.
        at: Timestamp,
        /// Why it booted.
        reason: BootReason,
        /// Firmware version after the boot (boots may install updates).
        firmware_version: String,
    },
    /// A job finished (boxed: it is by far the largest event).
    Job(Box<JobRecord>),
    /// A condition was detected and entered the alert table.
    AlertRaised(DeviceAlert),
    /// A condition ended and left the alert table.
    AlertCleared {
        /// When it ended.
        at: Timestamp,
        /// The alert as it was raised (same `detected_at`), with `active == false`.
        alert: DeviceAlert,
    },
    /// A cartridge was inserted into an ink slot.
    CartridgeInserted {
        /// When.
        at: Timestamp,
        /// Slot label (`MK`, `C`, ...).
        slot: String,
        /// Product number of the cartridge type.
        product_number: String,
        /// Genuine HP or not.
        genuine: bool,
    },
    /// A printhead was replaced.
    PrintheadReplaced {
        /// When.
        at: Timestamp,
        /// Slot.
        slot: String,
    },
    /// A media source was (re)loaded.
    MediaLoaded {
        /// When.
        at: Timestamp,
        /// Source id (`roll1`, ...).
        source: String,
        /// Media type id.
        media_type: String,
        /// Width in mm.
        width_mm: u32,
    },
}

impl Event {
    /// When it happened.
    pub fn at(&self) -> Timestamp {
        match self {
            Self::Booted { at, .. }
            | Self::CartridgeInserted { at, .. }
            | Self::PrintheadReplaced { at, .. }
            | Self::MediaLoaded { at, .. } => *at,
            Self::Job(job) => job.finished_at(),
            Self::AlertRaised(a) => a.detected_at,
            Self::AlertCleared { at, .. } => *at,
        }
    }
}

/// One line of the job ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The job UUID.
    pub uuid: Uuid,
    /// Device sequence number.
    pub sequence_number: u64,
    /// Kind of job.
    pub kind: JobKind,
    /// When it finished.
    pub at: Timestamp,
}

/// Every job UUID the printer ever generated, in order. Never trimmed, so a
/// test can check that the hub counted each of them exactly once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobLedger {
    /// Entries in generation order.
    entries: Vec<LedgerEntry>,
}

impl JobLedger {
    /// Entries in generation order.
    pub fn entries(&self) -> &[LedgerEntry] {
        &self.entries
    }

    /// All job UUIDs in generation order.
    pub fn uuids(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.entries.iter().map(|e| e.uuid)
    }

    /// Number of jobs generated.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no job was generated yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `uuid` was generated by this printer.
    pub fn contains(&self, uuid: Uuid) -> bool {
        self.entries.iter().any(|e| e.uuid == uuid)
    }
}

// ---------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------

/// An installed ink cartridge.
#[derive(Debug, Clone, PartialEq)]
struct Cartridge {
    spec: &'static CartridgeSpec,
    serial: String,
    genuine: bool,
    /// Ink in the cartridge when it was inserted (factory setup and second-hand
    /// cartridges are not full).
    fill_ul: u64,
    /// Ink used from it in this printer.
    used_ul: u64,
    expires_on: NaiveDate,
}

impl Cartridge {
    fn remaining_ul(&self) -> u64 {
        self.fill_ul.saturating_sub(self.used_ul)
    }

    fn level_pct(&self) -> u8 {
        (self.remaining_ul() * 100 / self.spec.capacity_ul.max(1)) as u8
    }

    fn state(&self) -> ConsumableState {
        match self.level_pct() {
            0 => ConsumableState::Empty,
            1..=7 => ConsumableState::VeryLow,
            8..=19 => ConsumableState::Low,
            _ => ConsumableState::Ok,
        }
    }
}

/// An installed printhead.
#[derive(Debug, Clone, PartialEq)]
struct Head {
    spec: &'static PrintheadSpec,
    serial: String,
    /// Wear at insertion (refurbished / carried over heads), µl equivalent.
    wear_ul: u64,
    /// Ink fired through it in this printer.
    used_ul: u64,
    failed: bool,
    non_hp_ink_used: bool,
    expires_on: NaiveDate,
}

impl Head {
    fn health_pct(&self) -> u8 {
        if self.failed {
            return 0;
        }
        let worn = (self.wear_ul + self.used_ul).min(self.spec.life_ul);
        (100 - worn * 100 / self.spec.life_ul.max(1)) as u8
    }

    fn state(&self) -> ConsumableState {
        match self.health_pct() {
            _ if self.failed => ConsumableState::Failed,
            0..=15 => ConsumableState::ReplaceSoon,
            _ => ConsumableState::Ok,
        }
    }
}

/// A media input and what is loaded in it.
#[derive(Debug, Clone, PartialEq)]
struct Source {
    id: &'static str,
    kind: MediaSourceKind,
    state: MediaSourceState,
    media: Option<&'static MediaTypeSpec>,
    width_mm: u32,
    /// Remaining roll length; sheet height for the sheet feed.
    remaining_mm: u32,
}

/// Operator or device actions scheduled for later.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    ReplaceCartridge(usize),
    ReloadMedia(usize),
    ReplacePrinthead(usize),
    ClearAlert(String),
    Reboot(BootReason),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    at: Timestamp,
    /// Tie-breaker so equal instants run in scheduling order.
    order: u64,
    action: Action,
}

/// Counters kept in maps so that the exported [`LifetimeCounters`] are in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Counters {
    /// Keyed by cartridge product number.
    cartridge_types: BTreeMap<&'static str, CartridgeTypeUsage>,
    /// Keyed by media type id: (display name, area).
    media: BTreeMap<&'static str, (&'static str, u64)>,
    scan: ScanCounters,
    /// Keyed by category id: (area, length).
    categories: BTreeMap<String, (u64, u64)>,
    jobs: u64,
    pages: u64,
    total_ink_ul: u64,
    total_media_mm2: u64,
}

/// What a job is going to consume; decided before checking supplies.
#[derive(Debug, Clone)]
struct JobPlan {
    kind: JobKind,
    profile: JobProfile,
    source_index: Option<usize>,
    quality: PrintQuality,
    doc_pages: u32,
    copies: u32,
    /// Page size in mm (width <= height).
    page_mm: (u32, u32),
    non_white_bp: u16,
    color_bp: u16,
    /// Ink per ink slot (index into `cartridges`).
    ink_ul: Vec<u64>,
    media_length_mm: u64,
    media_area_mm2: u64,
    printed_area_mm2: u64,
}

// ---------------------------------------------------------------------------
// The printer
// ---------------------------------------------------------------------------

/// One simulated printer. See the module documentation.
#[derive(Debug, Clone)]
pub struct VirtualPrinter {
    model: &'static ModelSpec,
    serial: String,
    options: DeviceOptions,
    rng: SimRng,
    firmware_version: String,
    firmware_numbers: (u32, u32, u32, u32),
    ledm_dialect: LedmDialect,
    thresholds: JobCategoryThresholds,
    accessories: Vec<(usize, bool)>,
    users: Vec<String>,
    accounts: Vec<String>,
    projects: Vec<String>,
    project_code: String,
    cartridges: Vec<Cartridge>,
    heads: Vec<Head>,
    sources: Vec<Source>,
    counters: Counters,
    alerts: Vec<DeviceAlert>,
    ledger: JobLedger,
    job_log: VecDeque<JobRecord>,
    pending: Vec<Pending>,
    pending_order: u64,
    booted: bool,
    now: Timestamp,
    last_activity: Timestamp,
    next_sequence: u64,
    next_job_at: Timestamp,
    next_error_at: Timestamp,
    next_power_cycle_at: Timestamp,
    /// Jobs wait until this instant (system error, boot in progress).
    down_until: Option<Timestamp>,
}

/// How long after an occurrence an operator typically acts, in seconds.
const OPERATOR_DELAY_S: (u64, u64) = (5 * 60, 90 * 60);
/// Code prefixes of alerts that a reboot clears (hardware conditions).
const REBOOT_CLEARS: &[&str] = &["86:", "21:", "79:", "61:", "boot."];

impl VirtualPrinter {
    /// A printer of `model` with `serial`, all randomness fixed by `seed`.
    ///
    /// The printer is off until [`boot`](Self::boot) or the first
    /// [`step`](Self::step) / [`advance`](Self::advance) switches it on.
    pub fn new(model: ModelId, serial: impl Into<String>, seed: u64) -> Self {
        Self::with_options(model, serial, seed, DeviceOptions::default())
    }

    /// Like [`new`](Self::new) with explicit [`DeviceOptions`].
    pub fn with_options(
        model: ModelId,
        serial: impl Into<String>,
        seed: u64,
        options: DeviceOptions,
    ) -> Self {
        let spec = model.spec();
        let mut rng = SimRng::new(seed);
        let epoch = Timestamp::UNIX_EPOCH;
        let firmware_numbers = (
            rng.range(1, 3) as u32,
            rng.range(10, 60) as u32,
            rng.range(0, 20) as u32,
            rng.range(1, 9) as u32,
        );
        let ledm_dialect = options.ledm_dialect.unwrap_or(if rng.chance(0.5) {
            LedmDialect::Classic
        } else {
            LedmDialect::Modern
        });
        let accessories = spec
            .accessories
            .iter()
            .enumerate()
            .map(|(i, a)| (i, a.standard || rng.chance(0.5)))
            .collect();
        let n_users = rng.range(4, 12) as usize;
        let users = names::user_pool(&mut rng, n_users);
        let n_accounts = rng.range(2, 6) as usize;
        let accounts = names::account_pool(&mut rng, n_accounts);
        let n_projects = rng.range(3, 10) as usize;
        let projects = names::project_pool(&mut rng, n_projects);
        let project_code = format!("P{}-{:03}", rng.range(2022, 2025), rng.range(1, 400));
        let mut printer = Self {
            model: spec,
            serial: serial.into(),
            options,
            rng,
            firmware_version: String::new(),
            firmware_numbers,
            ledm_dialect,
            thresholds: spec.thresholds,
            accessories,
            users,
            accounts,
            projects,
            project_code,
            cartridges: Vec::new(),
            heads: Vec::new(),
            sources: Vec::new(),
            counters: Counters::default(),
            alerts: Vec::new(),
            ledger: JobLedger::default(),
            job_log: VecDeque::new(),
            pending: Vec::new(),
            pending_order: 0,
            booted: false,
            now: epoch,
            last_activity: epoch,
            next_sequence: 1,
            next_job_at: epoch,
            next_error_at: epoch,
            next_power_cycle_at: epoch,
            down_until: None,
        };
        printer.firmware_version = printer.format_firmware();
        for (slot, cartridge) in spec.cartridge_types() {
            printer.counters.cartridge_types.insert(
                cartridge.product_number,
                CartridgeTypeUsage {
                    product_number: cartridge.product_number.to_owned(),
                    color: InkColor::new(slot.color),
                    ink_used_ul: 0,
                    hp_ink_used_ul: 0,
                    non_hp_ink_used_ul: 0,
                    insertions: 0,
                },
            );
        }
        printer
    }

    // -- read access --------------------------------------------------------

    /// The model specification.
    pub fn model(&self) -> &'static ModelSpec {
        self.model
    }

    /// Serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// Current firmware version string.
    pub fn firmware_version(&self) -> &str {
        &self.firmware_version
    }

    /// The LEDM dialect (namespace dates, prefixes) the firmware speaks.
    pub fn ledm_dialect(&self) -> LedmDialect {
        self.ledm_dialect
    }

    /// The instant the device has been simulated up to.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Whether the printer has been switched on.
    pub fn is_booted(&self) -> bool {
        self.booted
    }

    /// Print-category thresholds in force.
    pub fn thresholds(&self) -> JobCategoryThresholds {
        self.thresholds
    }

    /// Change the print-category thresholds (a customer setting); applies to later jobs.
    pub fn set_thresholds(&mut self, thresholds: JobCategoryThresholds) {
        self.thresholds = thresholds;
    }

    /// Every job UUID generated so far.
    pub fn ledger(&self) -> &JobLedger {
        &self.ledger
    }

    /// The device's accounting log: the most recent finished jobs, oldest first
    /// (bounded by [`DeviceOptions::accounting_log_capacity`]).
    pub fn job_log(&self) -> impl Iterator<Item = &JobRecord> {
        self.job_log.iter()
    }

    /// Jobs of the accounting log with a sequence number greater than `since`.
    pub fn jobs_since(&self, since: u64) -> impl Iterator<Item = &JobRecord> {
        self.job_log
            .iter()
            .filter(move |j| j.identity().sequence_number > since)
    }

    /// Sequence number of the last generated job (0 before the first).
    pub fn last_sequence_number(&self) -> u64 {
        self.next_sequence - 1
    }

    /// The active alert table.
    pub fn alerts(&self) -> &[DeviceAlert] {
        &self.alerts
    }

    /// Printer configuration.
    pub fn config(&self) -> PrinterConfig {
        PrinterConfig {
            product_number: self.model.product_number.to_owned(),
            product_name: self.model.product_name.to_owned(),
            serial_number: self.serial.clone(),
            firmware_version: self.firmware_version.clone(),
        }
    }

    /// Lifetime counters, as absolute readings.
    pub fn counters(&self) -> LifetimeCounters {
        let c = &self.counters;
        // Cartridge types in catalog order (slot order), which is stable and readable.
        let cartridge_types = self
            .model
            .cartridge_types()
            .filter_map(|(_, spec)| c.cartridge_types.get(spec.product_number).cloned())
            .collect();
        LifetimeCounters {
            cartridge_types,
            media_types: c
                .media
                .iter()
                .map(|(id, (name, area))| MediaTypeUsage {
                    media_type: (*id).to_owned(),
                    name: (*name).to_owned(),
                    area_mm2: *area,
                })
                .collect(),
            scan: c.scan,
            application_categories: c
                .categories
                .iter()
                .map(|(id, (area, length))| ApplicationCategoryUsage {
                    category_id: id.clone(),
                    media_area_mm2: *area,
                    media_length_mm: *length,
                })
                .collect(),
            jobs: c.jobs,
            pages: c.pages,
            total_ink_used_ul: c.total_ink_ul,
            total_media_area_mm2: c.total_media_mm2,
        }
    }

    /// Status: engine, consumables, media, settings, accessories.
    pub fn status(&self) -> PrinterStatus {
        let model = self.model;
        let printheads = self
            .heads
            .iter()
            .map(|h| Printhead {
                slot: h.spec.slot.to_owned(),
                colors: h.spec.colors.iter().map(|c| InkColor::new(*c)).collect(),
                state: h.state(),
                health_pct: Some(h.health_pct()),
                product_number: h.spec.product_number.to_owned(),
                product_name: h.spec.product_name.to_owned(),
                serial_number: h.serial.clone(),
                non_hp_ink_used: h.non_hp_ink_used,
                expires_on: Some(h.expires_on),
            })
            .collect();
        let cartridges = self
            .cartridges
            .iter()
            .zip(model.inks)
            .map(|(c, slot)| InkCartridge {
                slot: slot.label.to_owned(),
                color: InkColor::new(slot.color),
                state: c.state(),
                product_number: c.spec.product_number.to_owned(),
                product_name: c.spec.product_name.to_owned(),
                serial_number: c.serial.clone(),
                manufacturer: if c.genuine { "HP" } else { "Non-HP" }.to_owned(),
                capacity_ul: c.spec.capacity_ul,
                ink_used_ul: c.used_ul,
                non_hp_ink_used_ul: if c.genuine { 0 } else { c.used_ul },
                level_pct: Some(c.level_pct()),
                expires_on: Some(c.expires_on),
            })
            .collect();
        let media_sources = self
            .sources
            .iter()
            .map(|s| MediaSource {
                id: s.id.to_owned(),
                kind: s.kind,
                state: s.state,
                media_type: s.media.map(|m| m.id.to_owned()),
                width_mm: s.media.map(|_| s.width_mm),
                height_mm: s.media.map(|_| s.remaining_mm),
            })
            .collect();
        PrinterStatus {
            engine: self.engine_status(),
            printheads,
            cartridges,
            media_sources,
            supported_media_types: model
                .media_types
                .iter()
                .map(|m| MediaTypeInfo {
                    id: m.id.to_owned(),
                    names: m
                        .names
                        .iter()
                        .map(|(l, n)| ((*l).to_owned(), (*n).to_owned()))
                        .collect(),
                })
                .collect(),
            job_category_thresholds: Some(self.thresholds),
            print_category_settings: [
                PrintCategory::LineDrawing,
                PrintCategory::LowDensityImage,
                PrintCategory::HighDensityImage,
            ]
            .into_iter()
            .map(|category| PrintCategorySetting {
                category,
                enabled: true,
                custom_name: None,
            })
            .collect(),
            accessories: self
                .accessories
                .iter()
                .map(|(i, installed)| {
                    let a = &model.accessories[*i];
                    Accessory {
                        name: a.name.to_owned(),
                        product_number: a.product_number.map(str::to_owned),
                        state: if *installed {
                            AccessoryState::Installed
                        } else {
                            AccessoryState::NotInstalled
                        },
                    }
                })
                .collect(),
        }
    }

    fn engine_status(&self) -> EngineStatus {
        if !self.booted {
            return EngineStatus {
                state: EngineState::Unknown,
                detail: Some("powered off".into()),
            };
        }
        let worst = self.alerts.iter().map(|a| a.severity).min();
        let (state, detail) = match worst {
            Some(Severity::Critical) => (
                EngineState::Error,
                self.alerts.first().map(|a| a.message.clone()),
            ),
            Some(Severity::Major | Severity::Minor) => (EngineState::Warning, None),
            _ if self.now - self.last_activity > TimeDelta::minutes(30) => {
                (EngineState::Sleep, None)
            }
            _ => (EngineState::Ready, None),
        };
        EngineStatus { state, detail }
    }

    /// A report with configuration, status, counters and the alert table, stamped
    /// `collected_at`; the job lists are empty (the caller adds the jobs it owes).
    pub fn report(&self, collected_at: Timestamp) -> PrinterReport {
        let mut report = PrinterReport::new(self.serial.clone(), collected_at);
        report.config = Some(self.config());
        report.status = Some(self.status());
        report.counters = Some(self.counters());
        report.alerts = self.alerts.clone();
        report
    }

    // -- time ---------------------------------------------------------------

    /// Switch the printer on at `at` (no-op when already on). Returns the boot events.
    pub fn boot(&mut self, at: Timestamp) -> Vec<Event> {
        if self.booted {
            return Vec::new();
        }
        self.now = at;
        self.last_activity = at;
        self.install_initial_supplies(at);
        self.next_job_at = self.draw_next_job_time(at);
        self.next_error_at = self.draw_next_error_time(at);
        self.next_power_cycle_at = self.draw_next_power_cycle(at);
        self.do_boot(at, BootReason::PowerOn)
    }

    /// The instant of the next occurrence, if the printer is on.
    pub fn next_occurrence_at(&self) -> Option<Timestamp> {
        self.booted.then(|| self.next_occurrence().0)
    }

    /// Run the next occurrence if it happens at or before `limit`.
    ///
    /// Returns `None` (and moves the device clock to `limit`) when nothing
    /// happens until `limit`. A printer that is still off boots at `limit`.
    pub fn step(&mut self, limit: Timestamp) -> Option<Vec<Event>> {
        if !self.booted {
            return Some(self.boot(limit));
        }
        let (at, which) = self.next_occurrence();
        if at > limit {
            if limit > self.now {
                self.now = limit;
            }
            return None;
        }
        self.now = at;
        Some(match which {
            Occurrence::Pending(i) => {
                let pending = self.pending.remove(i);
                self.run_action(pending.at, pending.action)
            }
            Occurrence::Job => self.run_job(at),
            Occurrence::Error => self.run_error(at),
            Occurrence::PowerCycle => {
                self.next_power_cycle_at = self.draw_next_power_cycle(at);
                self.do_boot(at, BootReason::PowerCycle)
            }
        })
    }

    /// Run every occurrence up to and including `now`; returns all their events in order.
    pub fn advance(&mut self, now: Timestamp) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(mut batch) = self.step(now) {
            events.append(&mut batch);
        }
        events
    }

    fn next_occurrence(&self) -> (Timestamp, Occurrence) {
        // Operator actions first at equal instants: a replaced cartridge is
        // available to the job scheduled for the same second.
        let mut best = (self.next_job_at, Occurrence::Job);
        for (at, which) in [
            (self.next_error_at, Occurrence::Error),
            (self.next_power_cycle_at, Occurrence::PowerCycle),
        ] {
            if at < best.0 {
                best = (at, which);
            }
        }
        if let Some((i, p)) = self
            .pending
            .iter()
            .enumerate()
            .min_by_key(|(_, p)| (p.at, p.order))
            && p.at <= best.0
        {
            best = (p.at, Occurrence::Pending(i));
        }
        best
    }

    fn schedule(&mut self, at: Timestamp, action: Action) {
        // The same action twice (e.g. two jobs finding the same empty cartridge) is one visit.
        if self.pending.iter().any(|p| p.action == action) {
            return;
        }
        self.pending_order += 1;
        self.pending.push(Pending {
            at,
            order: self.pending_order,
            action,
        });
    }

    fn operator_delay(&mut self) -> TimeDelta {
        TimeDelta::seconds(self.rng.range(OPERATOR_DELAY_S.0, OPERATOR_DELAY_S.1) as i64)
    }

    /// Jobs arrive as a Poisson process whose rate follows office hours
    /// (Mon-Fri 07-19 UTC); sampled exactly by thinning.
    fn draw_next_job_time(&mut self, after: Timestamp) -> Timestamp {
        let per_hour_peak = self.model.workload.jobs_per_workday / 12.0 * self.options.job_rate;
        if per_hour_peak <= 0.0 {
            return after + TimeDelta::days(365 * 100);
        }
        let mean_gap_s = 3_600.0 / per_hour_peak;
        let mut t = after;
        loop {
            let gap = self.rng.exponential(mean_gap_s).max(1.0) as i64;
            t += TimeDelta::seconds(gap);
            let busy = matches!(
                t.weekday(),
                Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu | Weekday::Fri
            ) && (7..19).contains(&t.hour());
            let accept = if busy { 1.0 } else { 0.03 };
            if self.rng.chance(accept) {
                return t;
            }
        }
    }

    fn draw_next_error_time(&mut self, after: Timestamp) -> Timestamp {
        if self.options.error_rate <= 0.0 {
            return after + TimeDelta::days(365 * 100);
        }
        let mean_s = 2.5 * 86_400.0 / self.options.error_rate;
        after + TimeDelta::seconds(self.rng.exponential(mean_s).max(60.0) as i64)
    }

    fn draw_next_power_cycle(&mut self, after: Timestamp) -> Timestamp {
        if self.options.power_cycle_mean_days <= 0.0 {
            return after + TimeDelta::days(365 * 100);
        }
        let mean_s = self.options.power_cycle_mean_days * 86_400.0;
        after + TimeDelta::seconds(self.rng.exponential(mean_s).max(3_600.0) as i64)
    }

    // -- supplies -------------------------------------------------------------

    fn install_initial_supplies(&mut self, at: Timestamp) {
        let model = self.model;
        // Printers enter the simulation mid-life: supplies are partly used.
        self.cartridges = model
            .inks
            .iter()
            .map(|slot| {
                let spec = &slot.cartridges[0];
                let fill = spec.capacity_ul * self.rng.range(15, 100) / 100;
                let c = self.new_cartridge(spec, true, fill, at);
                self.count_insertion(spec);
                c
            })
            .collect();
        self.heads = model
            .printheads
            .iter()
            .map(|spec| {
                let wear = spec.life_ul * self.rng.range(0, 50) / 100;
                self.new_head(spec, wear, at)
            })
            .collect();
        self.sources = model
            .media_sources
            .iter()
            .map(|spec| Source {
                id: spec.id,
                kind: spec.kind,
                state: MediaSourceState::NotLoaded,
                media: None,
                width_mm: 0,
                remaining_mm: 0,
            })
            .collect();
        for i in 0..self.sources.len() {
            if self.sources[i].kind == MediaSourceKind::Roll {
                let media = self.pick_media(None);
                let width = *self.rng.pick(model.roll_widths_mm);
                let full = model.roll_length_mm;
                let length = full * self.rng.range(20, 100) as u32 / 100;
                let s = &mut self.sources[i];
                s.state = MediaSourceState::Loaded;
                s.media = Some(media);
                s.width_mm = width;
                s.remaining_mm = length;
            }
        }
    }

    fn new_cartridge(
        &mut self,
        spec: &'static CartridgeSpec,
        genuine: bool,
        fill_ul: u64,
        at: Timestamp,
    ) -> Cartridge {
        let months = self.rng.range(12, 30) as u32;
        Cartridge {
            spec,
            serial: names::consumable_serial(&mut self.rng, genuine),
            genuine,
            fill_ul,
            used_ul: 0,
            expires_on: add_months(at, months),
        }
    }

    fn new_head(&mut self, spec: &'static PrintheadSpec, wear_ul: u64, at: Timestamp) -> Head {
        Head {
            spec,
            serial: names::consumable_serial(&mut self.rng, true),
            wear_ul,
            used_ul: 0,
            failed: false,
            non_hp_ink_used: false,
            expires_on: add_months(at, 12),
        }
    }

    fn count_insertion(&mut self, spec: &CartridgeSpec) {
        if let Some(t) = self.counters.cartridge_types.get_mut(spec.product_number) {
            t.insertions += 1;
        }
    }

    /// A media type for a roll: the previous one most of the time, else any
    /// type of the model, preferring photo media when `photo` asks for it.
    fn pick_media(&mut self, previous: Option<&'static MediaTypeSpec>) -> &'static MediaTypeSpec {
        if let Some(prev) = previous
            && self.rng.chance(0.8)
        {
            return prev;
        }
        let types = self.model.media_types;
        // Plain technical media dominate real roll changes: weight the first types.
        let weights: Vec<u32> = (0..types.len())
            .map(|i| if i < 2 { 6 } else { 1 })
            .collect();
        &types[self.rng.weighted(&weights)]
    }

    // -- alerts ---------------------------------------------------------------

    fn raise(
        &mut self,
        code: String,
        severity: Severity,
        message: String,
        at: Timestamp,
        during_boot: bool,
    ) -> Option<Event> {
        if self.alerts.iter().any(|a| a.code == code) {
            return None;
        }
        let alert = DeviceAlert {
            code,
            severity,
            message,
            detected_at: at,
            active: true,
            during_boot,
        };
        self.alerts.push(alert.clone());
        Some(Event::AlertRaised(alert))
    }

    fn clear(&mut self, code: &str, at: Timestamp) -> Option<Event> {
        let i = self.alerts.iter().position(|a| a.code == code)?;
        let mut alert = self.alerts.remove(i);
        // `detected_at` stays: with the code it identifies the condition that ended.
        alert.active = false;
        Some(Event::AlertCleared { at, alert })
    }

    // -- occurrences ----------------------------------------------------------

    fn do_boot(&mut self, at: Timestamp, reason: BootReason) -> Vec<Event> {
        self.booted = true;
        self.last_activity = at;
        self.down_until = None;
        let mut events = Vec::new();
        if reason != BootReason::PowerOn && self.rng.chance(0.05) {
            // A boot now and then installs a firmware update; newer firmware speaks the newer LEDM dialect.
            self.firmware_numbers.2 += 1;
            self.firmware_numbers.3 = 1;
            self.firmware_version = self.format_firmware();
            if self.options.ledm_dialect.is_none() {
                self.ledm_dialect = LedmDialect::Modern;
            }
        }
        events.push(Event::Booted {
            at,
            reason,
            firmware_version: self.firmware_version.clone(),
        });
        // A restart clears hardware conditions; consumable conditions stay.
        let stale: Vec<String> = self
            .alerts
            .iter()
            .filter(|a| REBOOT_CLEARS.iter().any(|p| a.code.starts_with(p)))
            .map(|a| a.code.clone())
            .collect();
        for code in stale {
            events.extend(self.clear(&code, at));
            self.pending
                .retain(|p| p.action != Action::ClearAlert(code.clone()));
        }
        if self.rng.chance(self.options.boot_alert_probability) {
            let (code, severity, message) = *self.rng.pick(BOOT_ALERTS);
            events.extend(self.raise(code.to_owned(), severity, message.to_owned(), at, true));
            let delay = TimeDelta::seconds(self.rng.range(20 * 60, 120 * 60) as i64);
            self.schedule(at + delay, Action::ClearAlert(code.to_owned()));
        }
        events
    }

    fn run_error(&mut self, at: Timestamp) -> Vec<Event> {
        self.next_error_at = self.draw_next_error_time(at);
        let mfp = self.model.is_mfp();
        let weights: Vec<u32> = ERRORS
            .iter()
            .map(|e| if e.scanner_only && !mfp { 0 } else { e.weight })
            .collect();
        let error = &ERRORS[self.rng.weighted(&weights)];
        let mut events = Vec::new();
        let code = match error.kind {
            ErrorKind::Jam => {
                let roll = self.rng.below(self.sources.len() as u64) as usize;
                format!("{}.{}", error.code, self.sources[roll].id)
            }
            ErrorKind::PrintheadFailure => {
                let head = self.rng.below(self.heads.len() as u64) as usize;
                self.heads[head].failed = true;
                let delay = TimeDelta::seconds(self.rng.range(3_600, 4 * 3_600) as i64);
                self.schedule(at + delay, Action::ReplacePrinthead(head));
                format!("{}.{}", error.code, self.heads[head].spec.slot)
            }
            _ => error.code.to_owned(),
        };
        events.extend(self.raise(
            code.clone(),
            error.severity,
            error.message.to_owned(),
            at,
            false,
        ));
        let delay = TimeDelta::seconds(self.rng.range(error.fix_s.0, error.fix_s.1) as i64);
        match error.kind {
            ErrorKind::NeedsReboot => {
                self.down_until = Some(at + delay);
                self.schedule(at + delay, Action::Reboot(BootReason::SystemError));
            }
            ErrorKind::Jam | ErrorKind::Transient => {
                self.schedule(at + delay, Action::ClearAlert(code))
            }
            ErrorKind::PrintheadFailure => {}
        }
        events
    }

    fn run_action(&mut self, at: Timestamp, action: Action) -> Vec<Event> {
        let mut events = Vec::new();
        match action {
            Action::ClearAlert(code) => events.extend(self.clear(&code, at)),
            Action::Reboot(reason) => events = self.do_boot(at, reason),
            Action::ReplaceCartridge(i) => {
                let slot: &'static InkSlotSpec = &self.model.inks[i];
                // Most sites buy the common size; some the large one when there is one.
                let spec = &slot.cartridges[if slot.cartridges.len() > 1 && self.rng.chance(0.3) {
                    1
                } else {
                    0
                }];
                let genuine = !self.rng.chance(self.options.non_hp_probability);
                let fill = spec.capacity_ul;
                self.cartridges[i] = self.new_cartridge(spec, genuine, fill, at);
                self.count_insertion(spec);
                events.push(Event::CartridgeInserted {
                    at,
                    slot: slot.label.to_owned(),
                    product_number: spec.product_number.to_owned(),
                    genuine,
                });
                for prefix in ["ink.empty.", "ink.very_low.", "ink.non_hp."] {
                    events.extend(self.clear(&format!("{prefix}{}", slot.label), at));
                }
                if !genuine {
                    events.extend(self.raise(
                        format!("ink.non_hp.{}", slot.label),
                        Severity::Warning,
                        format!(
                            "non-HP or refilled {} cartridge installed",
                            slot.color.replace('_', " ")
                        ),
                        at,
                        false,
                    ));
                }
            }
            Action::ReplacePrinthead(i) => {
                let model = self.model;
                let spec: &'static PrintheadSpec = &model.printheads[i];
                self.heads[i] = self.new_head(spec, 0, at);
                events.push(Event::PrintheadReplaced {
                    at,
                    slot: spec.slot.to_owned(),
                });
                for prefix in ["printhead.replace_soon.", "printhead.failed."] {
                    events.extend(self.clear(&format!("{prefix}{}", spec.slot), at));
                }
            }
            Action::ReloadMedia(i) => {
                let previous = self.sources[i].media;
                let media = self.pick_media(previous);
                let width = if self.rng.chance(0.8) && self.sources[i].width_mm > 0 {
                    self.sources[i].width_mm
                } else {
                    *self.rng.pick(self.model.roll_widths_mm)
                };
                let s = &mut self.sources[i];
                s.media = Some(media);
                s.width_mm = width;
                s.remaining_mm = self.model.roll_length_mm;
                s.state = MediaSourceState::Loaded;
                let id = s.id;
                events.push(Event::MediaLoaded {
                    at,
                    source: id.to_owned(),
                    media_type: media.id.to_owned(),
                    width_mm: width,
                });
                events.extend(self.clear(&format!("media.out.{id}"), at));
            }
        }
        events
    }

    fn run_job(&mut self, at: Timestamp) -> Vec<Event> {
        if let Some(until) = self.down_until
            && at < until
        {
            // The printer is down; the job waits in the queue until it is back.
            self.next_job_at = until + TimeDelta::seconds(90);
            return Vec::new();
        }
        let plan = self.plan_job();
        let mut events = Vec::new();
        if let Some(retry_at) = self.check_supplies(&plan, at, &mut events) {
            // Nothing printed: the queue waits for the operator.
            self.next_job_at = retry_at + TimeDelta::seconds(30);
            return events;
        }
        let (record, busy_s) = self.execute(plan, at);
        self.last_activity = at;
        self.account(&record);
        events.push(Event::Job(Box::new(record)));
        self.after_job_checks(at, &mut events);
        let next_from = at + TimeDelta::seconds(i64::from(busy_s));
        self.next_job_at = self.draw_next_job_time(next_from);
        events
    }

    /// Raise alerts and schedule operator visits for everything that keeps
    /// `plan` from running; returns when the last needed visit happens.
    fn check_supplies(
        &mut self,
        plan: &JobPlan,
        at: Timestamp,
        events: &mut Vec<Event>,
    ) -> Option<Timestamp> {
        let mut wait_until: Option<Timestamp> = None;
        let mut wait =
            |t: Timestamp| wait_until = Some(wait_until.map_or(t, |w: Timestamp| w.max(t)));
        if let Some(i) = plan.source_index {
            let needed = if self.sources[i].kind == MediaSourceKind::Roll {
                plan.media_length_mm
            } else {
                0
            };
            if u64::from(self.sources[i].remaining_mm) < needed {
                let id = self.sources[i].id;
                self.sources[i].state = MediaSourceState::Out;
                events.extend(self.raise(
                    format!("media.out.{id}"),
                    Severity::Minor,
                    format!("{id}: out of paper, load a new roll"),
                    at,
                    false,
                ));
                let t = at + self.operator_delay();
                self.schedule(t, Action::ReloadMedia(i));
                wait(self.pending_time(&Action::ReloadMedia(i)).unwrap_or(t));
            }
        }
        for i in 0..self.cartridges.len() {
            if self.cartridges[i].remaining_ul() < plan.ink_ul[i] {
                let slot = &self.model.inks[i];
                events.extend(self.raise(
                    format!("ink.empty.{}", slot.label),
                    Severity::Minor,
                    format!(
                        "{} cartridge empty, replace it to continue",
                        slot.color.replace('_', " ")
                    ),
                    at,
                    false,
                ));
                let t = at + self.operator_delay();
                self.schedule(t, Action::ReplaceCartridge(i));
                wait(self.pending_time(&Action::ReplaceCartridge(i)).unwrap_or(t));
            }
        }
        if plan.kind != JobKind::Scan {
            for i in 0..self.heads.len() {
                if self.heads[i].failed {
                    let t = self
                        .pending_time(&Action::ReplacePrinthead(i))
                        .unwrap_or_else(|| at + TimeDelta::hours(2));
                    if !self
                        .pending
                        .iter()
                        .any(|p| p.action == Action::ReplacePrinthead(i))
                    {
                        self.schedule(t, Action::ReplacePrinthead(i));
                    }
                    wait(t);
                }
            }
        }
        wait_until
    }

    fn pending_time(&self, action: &Action) -> Option<Timestamp> {
        self.pending
            .iter()
            .find(|p| &p.action == action)
            .map(|p| p.at)
    }

    fn after_job_checks(&mut self, at: Timestamp, events: &mut Vec<Event>) {
        for i in 0..self.cartridges.len() {
            let slot = &self.model.inks[i];
            if self.cartridges[i].state() == ConsumableState::VeryLow {
                events.extend(self.raise(
                    format!("ink.very_low.{}", slot.label),
                    Severity::Warning,
                    format!("{} cartridge very low", slot.color.replace('_', " ")),
                    at,
                    false,
                ));
            }
        }
        for i in 0..self.heads.len() {
            let head = &self.heads[i];
            let slot = head.spec.slot;
            let health = head.health_pct();
            if health <= 15 && !head.failed {
                events.extend(self.raise(
                    format!("printhead.replace_soon.{slot}"),
                    Severity::Warning,
                    format!("printhead {slot} near end of life ({health} %)"),
                    at,
                    false,
                ));
            }
            if health <= 2 && !self.heads[i].failed {
                // Worn out: the device refuses it and raises a high-severity alert.
                self.heads[i].failed = true;
                events.extend(self.raise(
                    format!("printhead.failed.{slot}"),
                    Severity::Major,
                    format!("printhead {slot} failed, replace it"),
                    at,
                    false,
                ));
                let t = at + TimeDelta::seconds(self.rng.range(3_600, 4 * 3_600) as i64);
                self.schedule(t, Action::ReplacePrinthead(i));
            }
        }
    }

    // -- jobs -----------------------------------------------------------------

    fn plan_job(&mut self) -> JobPlan {
        let model = self.model;
        let w = &model.workload;
        let r = self.rng.unit();
        let kind = if model.is_mfp() && r < w.scan_share {
            JobKind::Scan
        } else if model.is_mfp() && r < w.scan_share + w.copy_share {
            JobKind::Copy
        } else {
            JobKind::Print
        };
        let weights: Vec<u32> = w.profiles.iter().map(|p| p.weight).collect();
        let mut profile = w.profiles[self.rng.weighted(&weights)];
        if kind != JobKind::Print {
            // Originals brought to the scanner are mostly drawings.
            profile = JobProfile {
                weight: 1,
                category: "copy",
                applications: &[],
                coverage_bp: (300, 3_000),
                color_share_pct: (10, 70),
                photo_media: false,
            };
        }
        let doc_pages = if self.rng.chance(w.set_probability) {
            self.rng
                .range(u64::from(w.set_pages.0), u64::from(w.set_pages.1))
        } else {
            self.rng.range(u64::from(w.pages.0), u64::from(w.pages.1))
        } as u32;
        let copies = match self.rng.below(100) {
            0..=84 => 1,
            85..=94 => 2,
            _ => self.rng.range(3, 5) as u32,
        };
        let page_mm = self.pick_page_size(&profile, kind);
        let quality = self.pick_quality(&profile, kind);
        let non_white_bp = self.rng.range(
            u64::from(profile.coverage_bp.0),
            u64::from(profile.coverage_bp.1),
        ) as u16;
        let color_pct = self.rng.range(
            u64::from(profile.color_share_pct.0),
            u64::from(profile.color_share_pct.1),
        );
        let color_bp = (u64::from(non_white_bp) * color_pct / 100) as u16;
        let mut plan = JobPlan {
            kind,
            profile,
            source_index: None,
            quality,
            doc_pages,
            copies,
            page_mm,
            non_white_bp,
            color_bp,
            ink_ul: vec![0; self.cartridges.len()],
            media_length_mm: 0,
            media_area_mm2: 0,
            printed_area_mm2: 0,
        };
        if kind != JobKind::Scan {
            self.plan_print(&mut plan);
        }
        plan
    }

    fn pick_page_size(&mut self, profile: &JobProfile, kind: JobKind) -> (u32, u32) {
        const TECHNICAL: &[(u32, u32)] = &[
            (841, 1_189),
            (594, 841),
            (420, 594),
            (610, 914),
            (914, 1_219),
            (297, 420),
        ];
        const GRAPHIC: &[(u32, u32)] = &[
            (600, 900),
            (800, 1_200),
            (900, 2_000),
            (1_000, 1_500),
            (594, 841),
        ];
        const PHOTO: &[(u32, u32)] = &[(400, 600), (600, 900), (700, 1_000), (1_000, 1_500)];
        let sizes = match profile.category {
            "graphics" => GRAPHIC,
            "photo" => PHOTO,
            _ => TECHNICAL,
        };
        let mut size = *self.rng.pick(sizes);
        if kind != JobKind::Print
            && let Some(scanner) = self.model.scanner
        {
            // Originals must fit through the scanner.
            size.0 = size.0.min(scanner.max_width_mm);
        }
        size
    }

    fn pick_quality(&mut self, profile: &JobProfile, kind: JobKind) -> PrintQuality {
        let weights: [u32; 4] = match (kind, profile.category) {
            (JobKind::Copy, _) => [40, 60, 0, 0],
            (_, "photo") => [0, 10, 55, 35],
            (_, "graphics") => [5, 45, 40, 10],
            _ => [30, 55, 15, 0],
        };
        let mut q = [
            PrintQuality::Fast,
            PrintQuality::Normal,
            PrintQuality::Best,
            PrintQuality::MaxDetail,
        ][self.rng.weighted(&weights)];
        if self.model.family == Family::PageWideXl && q == PrintQuality::MaxDetail {
            q = PrintQuality::Best;
        }
        q
    }

    /// Choose the media source and work out media, area and ink of a print.
    fn plan_print(&mut self, plan: &mut JobPlan) {
        let model = self.model;
        // Prefer a loaded roll whose media suits the job; fall back to any roll.
        let rolls: Vec<usize> = (0..self.sources.len())
            .filter(|i| self.sources[*i].kind == MediaSourceKind::Roll)
            .collect();
        let suitable: Vec<usize> = rolls
            .iter()
            .copied()
            .filter(|i| {
                let s = &self.sources[*i];
                s.state == MediaSourceState::Loaded
                    && s.media.is_some_and(|m| m.photo == plan.profile.photo_media)
            })
            .collect();
        let sheet =
            (0..self.sources.len()).find(|i| self.sources[*i].kind == MediaSourceKind::Sheet);
        let use_sheet =
            sheet.is_some() && plan.doc_pages <= 2 && plan.copies == 1 && self.rng.chance(0.05);
        let source = if use_sheet {
            sheet
        } else if !suitable.is_empty() {
            Some(*self.rng.pick(&suitable))
        } else {
            rolls.first().copied()
        };
        plan.source_index = source;
        let (pw, ph) = plan.page_mm;
        let (per_page_length, per_page_area, media_width) =
            match source.map(|i| (i, self.sources[i].kind)) {
                Some((i, MediaSourceKind::Roll)) => {
                    let width = u64::from(self.sources[i].width_mm.max(1));
                    let (pw, ph) = (u64::from(pw), u64::from(ph));
                    // Auto-rotate when the long side fits across the roll; scale to fit when nothing fits.
                    let (length, printed) = if ph + 10 <= width {
                        (pw, pw * ph)
                    } else if pw + 10 <= width {
                        (ph, pw * ph)
                    } else {
                        let scaled_w = width - 10;
                        let scaled_h = ph * scaled_w / pw.max(1);
                        (scaled_h, scaled_w * scaled_h)
                    };
                    // Cut margin: a few millimetres of media per page are blank.
                    (length + 6, printed, width)
                }
                _ => {
                    // Sheet feed (or no source at all): one sheet per page, sized to the page.
                    let s = sheet.unwrap_or(0);
                    if let Some(src) = self.sources.get_mut(s) {
                        src.media = Some(&model.media_types[0]);
                        src.width_mm = pw;
                        src.remaining_mm = ph;
                        src.state = MediaSourceState::Loaded;
                    }
                    (u64::from(ph), u64::from(pw) * u64::from(ph), u64::from(pw))
                }
            };
        let density = u64::from(model.ink_ul_per_m2[quality_index(plan.quality)]);
        let photo = source
            .and_then(|i| self.sources[i].media)
            .is_some_and(|m| m.photo);
        let on_roll = source.is_some_and(|i| self.sources[i].kind == MediaSourceKind::Roll);
        let max_length = if on_roll {
            u64::from(model.roll_length_mm) * 9 / 10
        } else {
            u64::MAX
        };
        loop {
            let pages = u64::from(plan.doc_pages) * u64::from(plan.copies);
            plan.media_length_mm = per_page_length * pages;
            plan.media_area_mm2 = per_page_length * media_width * pages;
            plan.printed_area_mm2 = per_page_area * pages;
            // µl = m² x coverage x µl/m²; computed in integers to stay exact and portable.
            let covered_ink =
                plan.printed_area_mm2 * u64::from(plan.non_white_bp) / 10_000 * density / 1_000_000;
            let color_ink =
                covered_ink * u64::from(plan.color_bp) / u64::from(plan.non_white_bp.max(1));
            let black_ink = covered_ink - color_ink;
            plan.ink_ul = self.split_ink(black_ink, color_ink, photo, pages);
            // A job must fit one roll and one cartridge of each ink, or the
            // supply check would wait for a replacement that can never suffice.
            let fits_ink = plan
                .ink_ul
                .iter()
                .zip(model.inks)
                .all(|(ul, slot)| *ul <= slot.cartridges[0].capacity_ul * 8 / 10);
            if (fits_ink && plan.media_length_mm <= max_length)
                || (plan.doc_pages == 1 && plan.copies == 1)
            {
                break;
            }
            plan.copies = 1;
            plan.doc_pages = (plan.doc_pages / 2).max(1);
        }
    }

    /// Distribute a job's ink over the ink slots. Servicing spits a little of
    /// every color on every job, so each job uses every ink a bit.
    fn split_ink(&mut self, black: u64, color: u64, photo_media: bool, pages: u64) -> Vec<u64> {
        let inks = self.model.inks;
        let mut out = vec![0u64; inks.len()];
        let is_gray = |c: &str| matches!(c, "gray" | "dark_gray" | "light_gray");
        let black_slot = inks
            .iter()
            .position(|s| {
                s.color
                    == if photo_media {
                        "photo_black"
                    } else {
                        "matte_black"
                    }
            })
            .or_else(|| inks.iter().position(|s| s.color == "black"))
            .or_else(|| inks.iter().position(|s| s.color.ends_with("black")))
            .unwrap_or(0);
        let grays: Vec<usize> = (0..inks.len())
            .filter(|i| is_gray(inks[*i].color))
            .collect();
        let chroma: Vec<usize> = (0..inks.len())
            .filter(|i| !is_gray(inks[*i].color) && !inks[*i].color.ends_with("black"))
            .collect();
        // Grays carry a quarter of the neutral tones where the ink set has them.
        let gray_part = if grays.is_empty() { 0 } else { black / 4 };
        out[black_slot] += black - gray_part;
        distribute(&mut out, &grays, gray_part, &mut self.rng);
        distribute(&mut out, &chroma, color, &mut self.rng);
        // Servicing: 2-6 µl per color per job plus 1 µl per 10 pages.
        for v in &mut out {
            *v += self.rng.range(2, 6) + pages / 10;
        }
        out
    }

    /// Turn a plan into a finished job record (consuming supplies); returns the
    /// record and how long the printer is busy with it.
    fn execute(&mut self, plan: JobPlan, at: Timestamp) -> (JobRecord, u32) {
        let sequence_number = self.next_sequence;
        self.next_sequence += 1;
        let uuid = self.rng.uuid();
        let is_print = plan.kind == JobKind::Print;
        let name = match plan.kind {
            JobKind::Print => {
                names::print_job_name(&mut self.rng, plan.profile.category, &self.project_code)
            }
            JobKind::Scan => names::device_job_name(&mut self.rng, "scan", at),
            JobKind::Copy => names::device_job_name(&mut self.rng, "copy", at),
        };
        let user = (is_print || self.rng.chance(0.2)).then(|| self.rng.pick(&self.users).clone());
        let account =
            (is_print && self.rng.chance(0.8)).then(|| self.rng.pick(&self.accounts).clone());
        let project =
            (is_print && self.rng.chance(0.7)).then(|| self.rng.pick(&self.projects).clone());
        let application = (is_print && !plan.profile.applications.is_empty())
            .then(|| (*self.rng.pick(plan.profile.applications)).to_owned());
        let custom = (is_print && self.rng.chance(0.15)).then(|| {
            (*self
                .rng
                .pick(&["phase:DD", "phase:CD", "rev:C", "client copy", "urgent"]))
            .to_owned()
        });
        let submitted_at = is_print.then(|| at - TimeDelta::seconds(self.rng.range(5, 600) as i64));
        let identity = JobIdentity {
            uuid,
            name,
            sequence_number,
            project_id: project,
            application_id: application,
            custom_field: custom,
            account_id: account,
            user_name: user,
            submitted_at,
        };

        // Outcome: most jobs complete; a few are cancelled part way and use proportionally less.
        let (fraction_pct, print_status, scan_status) = match self.rng.below(100) {
            0..=1 => (
                self.rng.range(10, 90),
                PrintStatus::Cancelled,
                ScanStatus::Cancelled,
            ),
            2 => (
                self.rng.range(10, 90),
                PrintStatus::Aborted,
                ScanStatus::Failed,
            ),
            _ => (100, PrintStatus::Printed, ScanStatus::Scanned),
        };
        let scale = |v: u64| v * fraction_pct / 100;

        let scan = (plan.kind != JobKind::Print).then(|| {
            let area =
                u64::from(plan.page_mm.0) * u64::from(plan.page_mm.1) * u64::from(plan.doc_pages);
            ScanDetails {
                scanned_at: at,
                status: scan_status,
                scanned_area_mm2: scale(area),
            }
        });
        let mut busy_s: u32 = 0;
        let print = (plan.kind != JobKind::Scan).then(|| {
            let total_pages = plan.doc_pages * plan.copies;
            let pages = (u64::from(total_pages) * fraction_pct / 100) as u32;
            let ink: Vec<InkUsage> = self
                .model
                .inks
                .iter()
                .zip(&plan.ink_ul)
                .map(|(slot, ul)| InkUsage {
                    color: InkColor::new(slot.color),
                    used_ul: scale(*ul).max(1),
                })
                .collect();
            let media_area_mm2 = scale(plan.media_area_mm2);
            let media_length_mm = scale(plan.media_length_mm);
            let printed_area_mm2 = scale(plan.printed_area_mm2);
            let speed = u64::from(self.model.speed_m2_per_h[quality_index(plan.quality)].max(1));
            let print_time_s =
                (media_area_mm2 * 3_600 / 1_000_000 / speed) as u32 + self.rng.range(15, 60) as u32;
            busy_s = print_time_s;
            let total_ink: u64 = ink.iter().map(|i| i.used_ul).sum();
            PrintDetails {
                printed_at: at,
                status: print_status,
                source: self.pick_source(plan.kind),
                category: self.thresholds.categorize(plan.non_white_bp),
                quality: plan.quality,
                media_type: plan
                    .source_index
                    .and_then(|i| self.sources[i].media)
                    .map(|m| m.id.to_owned()),
                pages,
                copies: plan.copies,
                print_time_s,
                ink,
                media_area_mm2,
                media_length_mm,
                printed_area_mm2,
                categories: vec![JobCategoryUsage {
                    category_id: plan.profile.category.to_owned(),
                    media_area_mm2,
                    printed_area_mm2,
                    ink_used_ul: total_ink,
                    media_length_mm,
                }],
                non_white_coverage_bp: plan.non_white_bp,
                color_coverage_bp: plan.color_bp,
            }
        });
        if let Some(scan) = &scan {
            busy_s += (scan.scanned_area_mm2 / 20_000) as u32 + 10;
        }

        // Consume supplies exactly as recorded.
        if let Some(p) = &print {
            for (i, usage) in p.ink.iter().enumerate() {
                let c = &mut self.cartridges[i];
                c.used_ul += usage.used_ul;
                let genuine = c.genuine;
                let color = self.model.inks[i].color;
                let heads = self
                    .heads
                    .iter()
                    .filter(|h| h.spec.colors.contains(&color))
                    .count() as u64;
                for h in self
                    .heads
                    .iter_mut()
                    .filter(|h| h.spec.colors.contains(&color))
                {
                    // Heads printing the same color share the work (and the wear).
                    h.used_ul += usage.used_ul / heads.max(1);
                    if !genuine {
                        h.non_hp_ink_used = true;
                    }
                }
            }
            if let Some(i) = plan.source_index
                && self.sources[i].kind == MediaSourceKind::Roll
            {
                let s = &mut self.sources[i];
                s.remaining_mm = s.remaining_mm.saturating_sub(p.media_length_mm as u32);
            }
        }
        let record = match (print, scan) {
            (Some(print), None) => JobRecord::Print(PrintJob {
                job: identity,
                print,
            }),
            (None, Some(scan)) => JobRecord::Scan(ScanJob {
                job: identity,
                scan,
            }),
            (Some(print), Some(scan)) => JobRecord::Copy(CopyJob {
                job: identity,
                scan,
                print,
            }),
            (None, None) => unreachable!("a job either prints or scans"),
        };
        (record, busy_s)
    }

    fn pick_source(&mut self, kind: JobKind) -> JobSource {
        if kind == JobKind::Copy {
            return JobSource::Copy;
        }
        let rip = match self.model.family {
            Family::PageWideXl => 25,
            Family::DesignJet if self.model.media_types.first().is_some_and(|m| m.photo) => 40,
            Family::DesignJet => 5,
        };
        let weights = [70, rip, 5, 5, 10];
        [
            JobSource::Driver,
            JobSource::Rip,
            JobSource::Ews,
            JobSource::Usb,
            JobSource::Cloud,
        ][self.rng.weighted(&weights)]
    }

    /// Add a finished job to the counters, the ledger and the accounting log.
    fn account(&mut self, record: &JobRecord) {
        let c = &mut self.counters;
        c.jobs += 1;
        if let Some(p) = record.print() {
            c.pages += u64::from(p.pages);
            c.total_media_mm2 += p.media_area_mm2;
            for (i, usage) in p.ink.iter().enumerate() {
                let cart = &self.cartridges[i];
                let t = c
                    .cartridge_types
                    .get_mut(cart.spec.product_number)
                    .expect("cartridge types are pre-registered");
                t.ink_used_ul += usage.used_ul;
                if cart.genuine {
                    t.hp_ink_used_ul += usage.used_ul;
                } else {
                    t.non_hp_ink_used_ul += usage.used_ul;
                }
                c.total_ink_ul += usage.used_ul;
            }
            if let Some(media) = p
                .media_type
                .as_deref()
                .and_then(|m| self.model.media_type(m))
            {
                let entry = c.media.entry(media.id).or_insert((media.english_name(), 0));
                entry.1 += p.media_area_mm2;
            }
            for cat in &p.categories {
                let entry = c.categories.entry(cat.category_id.clone()).or_default();
                entry.0 += cat.media_area_mm2;
                entry.1 += cat.media_length_mm;
            }
        }
        if let Some(s) = record.scan() {
            c.scan.total_area_mm2 += s.scanned_area_mm2;
            if record.kind() == JobKind::Copy {
                c.scan.copy_area_mm2 += s.scanned_area_mm2;
            } else {
                c.scan.scan_area_mm2 += s.scanned_area_mm2;
            }
        }
        let id = record.identity();
        self.ledger.entries.push(LedgerEntry {
            uuid: id.uuid,
            sequence_number: id.sequence_number,
            kind: record.kind(),
            at: record.finished_at(),
        });
        self.job_log.push_back(record.clone());
        while self.job_log.len() > self.options.accounting_log_capacity {
            self.job_log.pop_front();
        }
    }

    fn format_firmware(&self) -> String {
        let (a, b, c, d) = self.firmware_numbers;
        format!("{}_{a:02}_{b:02}_{c:02}.{d}", self.model.firmware_prefix)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occurrence {
    Job,
    Error,
    PowerCycle,
    Pending(usize),
}

fn quality_index(q: PrintQuality) -> usize {
    match q {
        PrintQuality::Fast => 0,
        PrintQuality::Best => 2,
        PrintQuality::MaxDetail => 3,
        PrintQuality::Normal | PrintQuality::Unknown => 1,
    }
}

/// Split `amount` over the slots `into` with random weights, exactly (the
/// remainder goes to the first slot).
fn distribute(out: &mut [u64], into: &[usize], amount: u64, rng: &mut SimRng) {
    if into.is_empty() || amount == 0 {
        return;
    }
    let weights: Vec<u64> = into.iter().map(|_| rng.range(1, 10)).collect();
    let total: u64 = weights.iter().sum();
    let mut given = 0;
    for (slot, w) in into.iter().zip(&weights) {
        let share = amount * w / total;
        out[*slot] += share;
        given += share;
    }
    out[into[0]] += amount - given;
}

fn add_months(at: Timestamp, months: u32) -> NaiveDate {
    let date = at.date_naive();
    date.checked_add_months(Months::new(months)).unwrap_or(date)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    /// Cleared by the operator after a while.
    Transient,
    /// A paper jam on one source.
    Jam,
    /// Stops the printer until it reboots.
    NeedsReboot,
    /// A printhead stops working and must be replaced.
    PrintheadFailure,
}

#[derive(Debug, Clone, Copy)]
struct ErrorSpec {
    code: &'static str,
    severity: Severity,
    message: &'static str,
    kind: ErrorKind,
    weight: u32,
    scanner_only: bool,
    /// Seconds until it is fixed (cleared or rebooted).
    fix_s: (u64, u64),
}

/// Random device errors, with HP-style system error codes where the devices use them.
const ERRORS: &[ErrorSpec] = &[
    ErrorSpec {
        code: "media.jam",
        severity: Severity::Minor,
        message: "paper jam, open the window and remove the paper",
        kind: ErrorKind::Jam,
        weight: 40,
        scanner_only: false,
        fix_s: (300, 2_400),
    },
    ErrorSpec {
        code: "86:01",
        severity: Severity::Critical,
        message: "system error 86:01 (carriage), restart the printer",
        kind: ErrorKind::NeedsReboot,
        weight: 8,
        scanner_only: false,
        fix_s: (600, 3_600),
    },
    ErrorSpec {
        code: "21:10",
        severity: Severity::Major,
        message: "system error 21:10 (service station), restart the printer",
        kind: ErrorKind::NeedsReboot,
        weight: 8,
        scanner_only: false,
        fix_s: (900, 5_400),
    },
    ErrorSpec {
        code: "79:04",
        severity: Severity::Critical,
        message: "system error 79:04 (firmware), restart the printer",
        kind: ErrorKind::NeedsReboot,
        weight: 4,
        scanner_only: false,
        fix_s: (300, 1_800),
    },
    ErrorSpec {
        code: "printhead.failed",
        severity: Severity::Major,
        message: "printhead failure detected, replace the printhead",
        kind: ErrorKind::PrintheadFailure,
        weight: 4,
        scanner_only: false,
        fix_s: (3_600, 14_400),
    },
    ErrorSpec {
        code: "ink.system",
        severity: Severity::Warning,
        message: "ink system maintenance recommended",
        kind: ErrorKind::Transient,
        weight: 15,
        scanner_only: false,
        fix_s: (3_600, 86_400),
    },
    ErrorSpec {
        code: "scanner.calibration",
        severity: Severity::Warning,
        message: "scanner calibration recommended",
        kind: ErrorKind::Transient,
        weight: 15,
        scanner_only: true,
        fix_s: (3_600, 7_200),
    },
    ErrorSpec {
        code: "network.info",
        severity: Severity::Info,
        message: "network configuration changed",
        kind: ErrorKind::Transient,
        weight: 6,
        scanner_only: false,
        fix_s: (60, 600),
    },
];

/// Conditions a boot can detect; all high severity (sent at once by direct-connected firmware).
const BOOT_ALERTS: &[(&str, Severity, &str)] = &[
    (
        "boot.61:01",
        Severity::Major,
        "printhead not detected at power-up, reseat the printhead",
    ),
    (
        "boot.79:03",
        Severity::Critical,
        "firmware integrity check failed at power-up",
    ),
    (
        "boot.21:13",
        Severity::Major,
        "service station initialization failed at power-up",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> Timestamp {
        // A Monday morning, so office hours start right away.
        Utc.with_ymd_and_hms(2024, 3, 4, 7, 0, 0).unwrap()
    }
    use chrono::Utc;

    #[test]
    fn events_of_one_step_share_the_instant_and_time_never_goes_back() {
        let mut p = VirtualPrinter::new(ModelId::T2500, "CN1TEST001", 9);
        let mut last = t0();
        p.boot(t0());
        let end = t0() + TimeDelta::days(10);
        while let Some(events) = p.step(end) {
            let first = events.first().map(Event::at);
            for e in &events {
                assert_eq!(Some(e.at()), first, "{e:?}");
                assert!(e.at() >= last);
            }
            if let Some(f) = first {
                last = f;
            }
        }
        assert_eq!(p.now(), end);
        assert!(p.ledger().len() > 50, "{}", p.ledger().len());
    }

    #[test]
    fn sequence_numbers_are_consecutive_and_uuids_unique() {
        let mut p = VirtualPrinter::new(ModelId::PageWideXl4500, "SG1TEST002", 3);
        p.advance(t0());
        p.advance(t0() + TimeDelta::days(7));
        let seqs: Vec<u64> = p
            .ledger()
            .entries()
            .iter()
            .map(|e| e.sequence_number)
            .collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
        let uuids: std::collections::HashSet<Uuid> = p.ledger().uuids().collect();
        assert_eq!(uuids.len(), p.ledger().len());
        assert!(p.ledger().entries().iter().any(|e| e.kind == JobKind::Scan));
        assert!(p.ledger().entries().iter().any(|e| e.kind == JobKind::Copy));
    }

    #[test]
    fn categories_follow_adjustable_thresholds() {
        let mut p = VirtualPrinter::new(ModelId::T1500, "CN1TEST003", 5);
        p.advance(t0());
        let strict = JobCategoryThresholds {
            line_drawing_max_bp: 0,
            low_density_max_bp: 0,
        };
        p.set_thresholds(strict);
        let events = p.advance(t0() + TimeDelta::days(2));
        for e in events {
            if let Event::Job(job) = e
                && let Some(print) = job.print()
            {
                assert_eq!(print.category, PrintCategory::HighDensityImage);
            }
        }
    }
}
