//! Billing: contracts, billing periods, rating and statement evidence.
//! Plain Rust: no I/O, no clock; the store feeds it usage, the hub shows it.
//!
//! # Money
//! Every amount is a [`Decimal`]; no floating point lies on any path that
//! leads to money (contract input refuses JSON floats). Quantities stay
//! unsigned integers in their measuring unit (µl, mm², mm) until a charge
//! rates them; then they are converted exactly into the billing unit (ml,
//! m², m: divisions by powers of ten, exact in decimal).
//!
//! # Rounding: one rule
//! Each statement line's amount is rounded once, to the currency's minor
//! unit (ISO 4217: 2 for EUR, 0 for JPY, 3 for KWD), **half away from
//! zero** (commercial rounding, DIN 1333: 0.125 → 0.13, −0.125 → −0.13).
//! Everything before that rounding (tier arithmetic, proration) is exact;
//! the statement total is the sum of the rounded lines, so a customer
//! re-adds it to the cent.
//!
//! # Proration
//! A contract in force for only part of a period (it starts, ends or
//! changes mid-period) rates that part as a *segment*: its fixed fees,
//! allowances, tier thresholds and minimum commitment are scaled by
//! `days in force / days in period`. Thresholds are compared in scaled
//! integers (`quantity × period days` against `threshold × days in force`),
//! so the only division is the last one of a line, and the rounding of
//! that quotient is the rounding of the exact rational amount (the
//! quotient has 28 significant digits; a line amount has at most 12
//! decimals before the division, so its distance from a rounding midpoint
//! is either zero or far above the quotient's error).
//!
//! # Time
//! Periods are half-open UTC date ranges `[start, end)`. Usage belongs to
//! the period of its print time (scan time for scans) or, on the meter
//! basis, to the period in which the counter reading was taken.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use super::usage::{JobFacts, JobKind, MeterUsage};

// ---------------------------------------------------------------------------
// Currency and rounding
// ---------------------------------------------------------------------------

/// ISO 4217 codes the hub bills in, with their minor units (decimals).
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MAD", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PHP", 2),
    ("PLN", 2),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// A currency: ISO 4217 code and minor unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Currency {
    /// Three-letter code, upper case.
    pub code: String,
    /// Decimals of the minor unit (2 for cents).
    pub minor_units: u32,
}

impl Currency {
    /// The currency of an ISO 4217 code (case-insensitive), if the hub knows it.
    pub fn parse(code: &str) -> Option<Self> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == upper)
            .map(|(c, m)| Self {
                code: (*c).to_owned(),
                minor_units: *m,
            })
    }

    /// Round an exact amount to this currency's minor unit (the one rounding rule).
    pub fn round(&self, amount: Decimal) -> Decimal {
        round_money(amount, self.minor_units)
    }
}

/// Round to `minor_units` decimals, half away from zero, and show exactly that many decimals.
pub fn round_money(amount: Decimal, minor_units: u32) -> Decimal {
    let mut r = amount.round_dp_with_strategy(minor_units, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(minor_units);
    r
}

// ---------------------------------------------------------------------------
// Dates, periods, billing cycles
// ---------------------------------------------------------------------------

/// A half-open range of UTC days `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    /// First day.
    pub start: NaiveDate,
    /// First day after.
    pub end: NaiveDate,
}

impl Span {
    /// A span; `None` unless `start < end`.
    pub fn new(start: NaiveDate, end: NaiveDate) -> Option<Self> {
        (start < end).then_some(Self { start, end })
    }

    /// Number of days.
    pub fn days(&self) -> u32 {
        u32::try_from((self.end - self.start).num_days()).unwrap_or(0)
    }

    /// Whether `day` lies inside.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day < self.end
    }

    /// The overlap with `other`, if any.
    pub fn intersect(&self, other: &Span) -> Option<Span> {
        Span::new(self.start.max(other.start), self.end.min(other.end))
    }

    /// The overlap with an open-ended range `[from, to)` (`to = None`: no end).
    pub fn intersect_open(&self, from: NaiveDate, to: Option<NaiveDate>) -> Option<Span> {
        let end = to.map_or(self.end, |t| t.min(self.end));
        Span::new(self.start.max(from), end)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// How long a billing period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    /// One month, from the anchor day to the anchor day.
    Monthly,
    /// Three months; quarters start in January, April, July and October.
    Quarterly,
}

impl PeriodKind {
    /// The stored identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::Quarterly => "quarterly",
        }
    }

    /// Parse a stored identifier.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "monthly" => Some(Self::Monthly),
            "quarterly" => Some(Self::Quarterly),
            _ => None,
        }
    }

    fn months(self) -> u32 {
        match self {
            Self::Monthly => 1,
            Self::Quarterly => 3,
        }
    }
}

/// Highest anchor day: every month has it, so a period never starts on a day that does not exist.
pub const MAX_ANCHOR_DAY: u32 = 28;

/// A billing cycle: period length and the day of the month periods start on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cycle {
    /// Monthly or quarterly.
    pub kind: PeriodKind,
    /// Day of the month periods start on, 1 to [`MAX_ANCHOR_DAY`].
    pub anchor_day: u32,
}

impl Cycle {
    /// The period that contains `day`.
    pub fn period_containing(&self, day: NaiveDate) -> Span {
        let month0 = match self.kind {
            PeriodKind::Monthly => day.month0(),
            PeriodKind::Quarterly => day.month0() / 3 * 3,
        };
        let mut start = NaiveDate::from_ymd_opt(day.year(), month0 + 1, self.anchor_day)
            .expect("anchor day exists in every month");
        if day < start {
            start = start - Months::new(self.kind.months());
        }
        self.period_starting(start)
    }

    fn period_starting(&self, start: NaiveDate) -> Span {
        Span {
            start,
            end: start + Months::new(self.kind.months()),
        }
    }

    /// The period after `p`.
    pub fn next(&self, p: Span) -> Span {
        self.period_starting(p.end)
    }

    /// The period before `p`.
    pub fn previous(&self, p: Span) -> Span {
        self.period_starting(p.start - Months::new(self.kind.months()))
    }

    /// A period's label: `2026-03` (monthly: the month it starts in) or `2026-Q1`.
    pub fn label(&self, p: Span) -> String {
        match self.kind {
            PeriodKind::Monthly => p.start.format("%Y-%m").to_string(),
            PeriodKind::Quarterly => format!("{}-Q{}", p.start.year(), p.start.month0() / 3 + 1),
        }
    }

    /// The period named by a label (`2026-03`, `2026-Q1`) or by any day inside it (`2026-03-17`).
    pub fn parse_period(&self, s: &str) -> Result<Span, String> {
        let s = s.trim();
        if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(self.period_containing(day));
        }
        let bad = || {
            format!(
                "period must be {} or a date YYYY-MM-DD inside the period",
                match self.kind {
                    PeriodKind::Monthly => "YYYY-MM",
                    PeriodKind::Quarterly => "YYYY-Qn",
                }
            )
        };
        let (year, rest) = s.split_once('-').ok_or_else(bad)?;
        let year: i32 = year.parse().map_err(|_| bad())?;
        if !(1970..=9999).contains(&year) {
            return Err(bad());
        }
        let month = match (self.kind, rest.strip_prefix('Q')) {
            (PeriodKind::Quarterly, Some(q)) => match q {
                "1" => 1,
                "2" => 4,
                "3" => 7,
                "4" => 10,
                _ => return Err(bad()),
            },
            (PeriodKind::Monthly, None) if rest.len() == 2 => rest
                .parse::<u32>()
                .ok()
                .filter(|m| (1..=12).contains(m))
                .ok_or_else(bad)?,
            _ => return Err(bad()),
        };
        let start = NaiveDate::from_ymd_opt(year, month, self.anchor_day).ok_or_else(bad)?;
        Ok(self.period_starting(start))
    }
}

/// Granularity of a rollup row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grain {
    /// One UTC day.
    Day,
    /// One UTC month (bucket = its first day).
    Month,
}

impl Grain {
    /// The stored identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "d",
            Self::Month => "m",
        }
    }
}

/// First day of the month of `day`.
pub fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).expect("day 1 exists")
}

/// A range of rollup buckets of one grain: `[from, to)` in bucket dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketRange {
    /// Day or month buckets.
    pub grain: Grain,
    /// First bucket.
    pub from: NaiveDate,
    /// First bucket after.
    pub to: NaiveDate,
}

/// Cover `span` with as few rollup buckets as possible: whole UTC months by
/// month buckets, the rest by day buckets. No bucket crosses a date in
/// `cuts`, so each bucket lies entirely inside or outside any range that
/// starts or ends at a cut. `days_only` covers everything by days (for
/// answers grouped by day).
pub fn cover(span: Span, cuts: &[NaiveDate], days_only: bool) -> Vec<BucketRange> {
    let mut points: Vec<NaiveDate> = cuts
        .iter()
        .copied()
        .filter(|c| span.start < *c && *c < span.end)
        .collect();
    points.push(span.start);
    points.push(span.end);
    points.sort();
    points.dedup();
    let mut out: Vec<BucketRange> = Vec::new();
    let mut push = |grain: Grain, from: NaiveDate, to: NaiveDate| {
        if from >= to {
            return;
        }
        if let Some(last) = out.last_mut()
            && last.grain == grain
            && last.to == from
        {
            last.to = to;
            return;
        }
        out.push(BucketRange { grain, from, to });
    };
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        if days_only {
            push(Grain::Day, a, b);
            continue;
        }
        let first_whole = if a.day() == 1 {
            a
        } else {
            month_start(a) + Months::new(1)
        };
        let last_whole = month_start(b);
        if first_whole >= last_whole {
            push(Grain::Day, a, b);
        } else {
            push(Grain::Day, a, first_whole);
            push(Grain::Month, first_whole, last_whole);
            push(Grain::Day, last_whole, b);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Usage cells: what rollups and evidence both add up
// ---------------------------------------------------------------------------

/// Which usage records a contract bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Job records, by print time (scan time for scans).
    Jobs,
    /// Lifetime counter deltas, by the time of the reading.
    Meter,
}

impl Basis {
    /// The stored identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jobs => "jobs",
            Self::Meter => "meter",
        }
    }

    /// Parse a stored identifier.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jobs" => Some(Self::Jobs),
            "meter" => Some(Self::Meter),
            _ => None,
        }
    }
}

/// Additive usage measures, each an unsigned integer in its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Measures {
    /// Job records (meter: the job counter's delta).
    pub jobs: u64,
    /// Print jobs.
    pub print_jobs: u64,
    /// Scan jobs.
    pub scan_jobs: u64,
    /// Copy jobs.
    pub copy_jobs: u64,
    /// Pages.
    pub pages: u64,
    /// Copies.
    pub copies: u64,
    /// Ink over all colors, µl.
    pub ink_ul: u64,
    /// Non-HP ink, µl (only lifetime counters know it).
    pub non_hp_ink_ul: u64,
    /// Media area, mm².
    pub media_area_mm2: u64,
    /// Media length, mm.
    pub media_length_mm: u64,
    /// Printed area, mm².
    pub printed_area_mm2: u64,
    /// Scanned area of scans, mm².
    pub scan_area_mm2: u64,
    /// Scanned area of copies, mm².
    pub copy_scan_area_mm2: u64,
}

impl Measures {
    /// The measures as `(column name, value)` in the rollup column order.
    pub fn columns(&self) -> [(&'static str, u64); 13] {
        [
            ("jobs", self.jobs),
            ("print_jobs", self.print_jobs),
            ("scan_jobs", self.scan_jobs),
            ("copy_jobs", self.copy_jobs),
            ("pages", self.pages),
            ("copies", self.copies),
            ("ink_ul", self.ink_ul),
            ("non_hp_ink_ul", self.non_hp_ink_ul),
            ("media_area_mm2", self.media_area_mm2),
            ("media_length_mm", self.media_length_mm),
            ("printed_area_mm2", self.printed_area_mm2),
            ("scan_area_mm2", self.scan_area_mm2),
            ("copy_scan_area_mm2", self.copy_scan_area_mm2),
        ]
    }

    /// Measures from values in [`Self::columns`] order.
    pub fn from_columns(v: [u64; 13]) -> Self {
        Self {
            jobs: v[0],
            print_jobs: v[1],
            scan_jobs: v[2],
            copy_jobs: v[3],
            pages: v[4],
            copies: v[5],
            ink_ul: v[6],
            non_hp_ink_ul: v[7],
            media_area_mm2: v[8],
            media_length_mm: v[9],
            printed_area_mm2: v[10],
            scan_area_mm2: v[11],
            copy_scan_area_mm2: v[12],
        }
    }

    /// Add another.
    pub fn add(&mut self, o: &Measures) {
        let mut v = self.columns().map(|(_, v)| v);
        for (i, (_, x)) in o.columns().iter().enumerate() {
            v[i] = v[i].saturating_add(*x);
        }
        *self = Self::from_columns(v);
    }

    /// Whether every measure is zero.
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// Ink of one color.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InkMeasures {
    /// Ink, µl.
    pub ink_ul: u64,
    /// Of which non-HP ink, µl.
    pub non_hp_ink_ul: u64,
}

impl InkMeasures {
    /// Add another.
    pub fn add(&mut self, o: &InkMeasures) {
        self.ink_ul = self.ink_ul.saturating_add(o.ink_ul);
        self.non_hp_ink_ul = self.non_hp_ink_ul.saturating_add(o.non_hp_ink_ul);
    }
}

/// The job dimensions a rollup splits usage by; `""` means none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Dims {
    /// Media type id.
    pub media_type: String,
    /// Print category (`line_drawing`, `low_density_image`, `high_density_image`, `premium`).
    pub category: String,
    /// Job account id.
    pub account_id: String,
    /// Job project id.
    pub project_id: String,
}

/// Usage with one value of every dimension: one job, one part of a meter
/// delta, or one rollup row. Charges and evidence add up cells.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cell {
    /// Dimension values.
    pub dims: Dims,
    /// Measures.
    pub measures: Measures,
    /// Ink per color.
    pub ink: BTreeMap<String, InkMeasures>,
}

impl Cell {
    /// Add another cell's measures and ink (dimensions are the caller's business).
    pub fn add(&mut self, o: &Cell) {
        self.measures.add(&o.measures);
        for (color, m) in &o.ink {
            self.ink.entry(color.clone()).or_default().add(m);
        }
    }
}

/// The cell of one job record.
pub fn job_cell(f: &JobFacts, account_id: Option<&str>, project_id: Option<&str>) -> Cell {
    let mut m = Measures {
        jobs: 1,
        pages: f.pages,
        copies: f.copies,
        ink_ul: f.ink_total_ul(),
        media_area_mm2: f.media_area_mm2,
        media_length_mm: f.media_length_mm,
        printed_area_mm2: f.printed_area_mm2,
        ..Measures::default()
    };
    match f.kind {
        JobKind::Print => m.print_jobs = 1,
        JobKind::Scan => {
            m.scan_jobs = 1;
            m.scan_area_mm2 = f.scanned_area_mm2;
        }
        JobKind::Copy => {
            m.copy_jobs = 1;
            m.copy_scan_area_mm2 = f.scanned_area_mm2;
        }
    }
    Cell {
        dims: Dims {
            media_type: f.media_type.clone().unwrap_or_default(),
            category: f.category.clone().unwrap_or_default(),
            account_id: account_id.unwrap_or_default().to_owned(),
            project_id: project_id.unwrap_or_default().to_owned(),
        },
        measures: m,
        ink: f
            .ink_ul
            .iter()
            .filter(|(_, ul)| **ul > 0)
            .map(|(c, ul)| {
                (
                    c.clone(),
                    InkMeasures {
                        ink_ul: *ul,
                        non_hp_ink_ul: 0,
                    },
                )
            })
            .collect(),
    }
}

/// The cells of one counter reading's delta.
///
/// Counters know media per media type but pages and ink only in total, so
/// the delta becomes one cell per media type (its media area) plus one cell
/// without a media type holding everything else, including the media area
/// no media type accounts for. Summing the cells gives back the delta.
pub fn meter_cells(d: &MeterUsage) -> Vec<Cell> {
    let typed: u64 = d.media_by_type_mm2.values().sum();
    let mut ink: BTreeMap<String, InkMeasures> = BTreeMap::new();
    let mut non_hp = 0;
    for c in d.cartridge_types.values() {
        let e = ink.entry(c.color.clone()).or_default();
        e.ink_ul = e.ink_ul.saturating_add(c.ink_ul);
        e.non_hp_ink_ul = e.non_hp_ink_ul.saturating_add(c.non_hp_ink_ul);
        non_hp += c.non_hp_ink_ul;
    }
    ink.retain(|_, m| *m != InkMeasures::default());
    let rest = Cell {
        dims: Dims::default(),
        measures: Measures {
            jobs: d.jobs,
            pages: d.pages,
            ink_ul: d.total_ink_ul,
            non_hp_ink_ul: non_hp,
            media_area_mm2: d.total_media_area_mm2.saturating_sub(typed),
            media_length_mm: d.app_categories.values().map(|a| a.media_length_mm).sum(),
            scan_area_mm2: d.scan_mm2,
            copy_scan_area_mm2: d.copy_mm2,
            ..Measures::default()
        },
        ink,
    };
    let mut out: Vec<Cell> = d
        .media_by_type_mm2
        .iter()
        .filter(|(_, a)| **a > 0)
        .map(|(t, a)| Cell {
            dims: Dims {
                media_type: t.clone(),
                ..Dims::default()
            },
            measures: Measures {
                media_area_mm2: *a,
                ..Measures::default()
            },
            ink: BTreeMap::new(),
        })
        .collect();
    if !rest.measures.is_zero() || !rest.ink.is_empty() {
        out.push(rest);
    }
    out
}

// ---------------------------------------------------------------------------
// Contract terms
// ---------------------------------------------------------------------------

/// What a usage charge counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Media area, billed in m².
    MediaArea,
    /// Ink, billed in ml.
    Ink,
    /// Pages.
    Pages,
    /// Copies.
    Copies,
    /// Scanned area (scans and copies), billed in m².
    ScannedArea,
    /// Linear media, billed in m.
    MediaLength,
    /// Non-HP ink, billed in ml; from lifetime counters on either basis.
    NonHpInk,
}

impl Metric {
    /// The contract identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MediaArea => "media_area",
            Self::Ink => "ink",
            Self::Pages => "pages",
            Self::Copies => "copies",
            Self::ScannedArea => "scanned_area",
            Self::MediaLength => "media_length",
            Self::NonHpInk => "non_hp_ink",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::MediaArea,
            Self::Ink,
            Self::Pages,
            Self::Copies,
            Self::ScannedArea,
            Self::MediaLength,
            Self::NonHpInk,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }

    /// The billing unit.
    pub fn unit(self) -> &'static str {
        match self {
            Self::MediaArea | Self::ScannedArea => "m2",
            Self::Ink | Self::NonHpInk => "ml",
            Self::Pages => "pages",
            Self::Copies => "copies",
            Self::MediaLength => "m",
        }
    }

    /// The measuring unit of the raw integer quantity.
    pub fn raw_unit(self) -> &'static str {
        match self {
            Self::MediaArea | Self::ScannedArea => "mm2",
            Self::Ink | Self::NonHpInk => "ul",
            Self::Pages => "pages",
            Self::Copies => "copies",
            Self::MediaLength => "mm",
        }
    }

    /// Raw units per billing unit (a power of ten, so conversion is exact).
    fn raw_per_unit(self) -> u64 {
        match self {
            Self::MediaArea | Self::ScannedArea => 1_000_000,
            Self::Ink | Self::NonHpInk | Self::MediaLength => 1_000,
            Self::Pages | Self::Copies => 1,
        }
    }

    /// A raw quantity in the billing unit, exactly.
    pub fn to_unit(self, raw: u64) -> Decimal {
        (Decimal::from(raw) / Decimal::from(self.raw_per_unit())).normalize()
    }

    fn label(self) -> &'static str {
        match self {
            Self::MediaArea => "media area",
            Self::Ink => "ink",
            Self::Pages => "pages",
            Self::Copies => "copies",
            Self::ScannedArea => "scanned area",
            Self::MediaLength => "linear media",
            Self::NonHpInk => "non-HP ink",
        }
    }
}

/// The print categories a charge may select.
pub const PRINT_CATEGORIES: [&str; 4] = [
    "line_drawing",
    "low_density_image",
    "high_density_image",
    "premium",
];

/// Which part of a metric a charge counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "value")]
pub enum Filter {
    /// All of it.
    All,
    /// Media of one media type.
    MediaType(String),
    /// Media of one print category.
    PrintCategory(String),
    /// Ink of one color.
    InkColor(String),
}

/// A metric and a filter: what one charge line counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Selector {
    /// What.
    pub metric: Metric,
    /// Which part.
    pub filter: Filter,
}

impl Selector {
    /// A stable code, e.g. `media_area[media_type=bond]`.
    pub fn code(&self) -> String {
        let m = self.metric.as_str();
        match &self.filter {
            Filter::All => m.to_owned(),
            Filter::MediaType(t) => format!("{m}[media_type={t}]"),
            Filter::PrintCategory(c) => format!("{m}[print_category={c}]"),
            Filter::InkColor(c) => format!("{m}[color={c}]"),
        }
    }

    /// A human description, e.g. `media area, media type bond`.
    pub fn describe(&self) -> String {
        let m = self.metric.label();
        match &self.filter {
            Filter::All => m.to_owned(),
            Filter::MediaType(t) => format!("{m}, media type {t}"),
            Filter::PrintCategory(c) => format!("{m}, print category {c}"),
            Filter::InkColor(c) => format!("{m}, {c}"),
        }
    }

    /// This selector's quantity in one cell, in raw units.
    pub fn raw(&self, cell: &Cell) -> u64 {
        let m = &cell.measures;
        let ink = |c: &str| cell.ink.get(c).copied().unwrap_or_default();
        match (self.metric, &self.filter) {
            (Metric::MediaArea, Filter::All) => m.media_area_mm2,
            (Metric::MediaArea, Filter::MediaType(t)) if cell.dims.media_type == *t => {
                m.media_area_mm2
            }
            (Metric::MediaArea, Filter::PrintCategory(c)) if cell.dims.category == *c => {
                m.media_area_mm2
            }
            (Metric::Ink, Filter::All) => m.ink_ul,
            (Metric::Ink, Filter::InkColor(c)) => ink(c).ink_ul,
            (Metric::NonHpInk, Filter::All) => m.non_hp_ink_ul,
            (Metric::NonHpInk, Filter::InkColor(c)) => ink(c).non_hp_ink_ul,
            (Metric::Pages, Filter::All) => m.pages,
            (Metric::Copies, Filter::All) => m.copies,
            (Metric::ScannedArea, Filter::All) => m.scan_area_mm2 + m.copy_scan_area_mm2,
            (Metric::MediaLength, Filter::All) => m.media_length_mm,
            _ => 0,
        }
    }

    /// Whether this selector's usage comes from lifetime counters whatever the contract's basis.
    pub fn always_metered(&self) -> bool {
        self.metric == Metric::NonHpInk
    }
}

/// One price step: units up to `up_to` (inclusive; `None`: no limit) cost `unit_price`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// Upper bound in billing units, inclusive; the last tier has none.
    pub up_to: Option<Decimal>,
    /// Price per billing unit.
    pub unit_price: Decimal,
}

/// How a usage charge turns a quantity into money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "model")]
pub enum Pricing {
    /// Every unit at one price.
    Flat {
        /// Price per billing unit.
        unit_price: Decimal,
    },
    /// `included` units free, every unit beyond at `unit_price` (overage).
    Allowance {
        /// Units included per period.
        included: Decimal,
        /// Price per unit beyond the allowance.
        unit_price: Decimal,
    },
    /// Each unit at the price of the tier it falls in.
    Graduated {
        /// Tiers, ascending.
        tiers: Vec<Tier>,
    },
    /// Every unit at the price of the tier the total falls in.
    Volume {
        /// Tiers, ascending.
        tiers: Vec<Tier>,
    },
}

impl Pricing {
    /// A one-line summary, e.g. `flat 1.20/m2`.
    pub fn describe(&self, unit: &str) -> String {
        let tiers = |t: &[Tier]| {
            t.iter()
                .map(|t| match t.up_to {
                    Some(u) => format!("≤{u}: {}", t.unit_price),
                    None => format!("rest: {}", t.unit_price),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Self::Flat { unit_price } => format!("flat {unit_price}/{unit}"),
            Self::Allowance {
                included,
                unit_price,
            } => format!("{included} {unit} included, then {unit_price}/{unit}"),
            Self::Graduated { tiers: t } => format!("graduated per {unit} ({})", tiers(t)),
            Self::Volume { tiers: t } => format!("volume per {unit} ({})", tiers(t)),
        }
    }
}

/// A usage charge: a selector priced by a pricing model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageCharge {
    /// Display name.
    pub name: String,
    /// What it counts.
    pub selector: Selector,
    /// How it is priced.
    pub pricing: Pricing,
}

/// A fixed fee per period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedFee {
    /// Display name.
    pub name: String,
    /// Amount per full period.
    pub amount: Decimal,
}

/// Validated contract terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// Currency.
    pub currency: Currency,
    /// Billing cycle.
    pub cycle: Cycle,
    /// Usage basis.
    pub basis: Basis,
    /// Days after a period's end before it may be closed.
    pub grace_days: u32,
    /// Fixed fees per period.
    pub fixed_fees: Vec<FixedFee>,
    /// Usage charges.
    pub charges: Vec<UsageCharge>,
    /// Minimum of the usage charges per period; a shortfall is billed as a true-up.
    pub minimum_commitment: Option<Decimal>,
}

// ---------------------------------------------------------------------------
// Contract input and its validation
// ---------------------------------------------------------------------------

/// A decimal as contract input: a JSON string (`"1.20"`) or integer; JSON
/// floats are refused, because `0.1` as a float is not one tenth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalText(pub Decimal);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DecimalText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number as a string, e.g. \"1.20\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DecimalText, E> {
                let ok = !s.is_empty()
                    && s.len() <= 40
                    && s.bytes().filter(|b| *b == b'.').count() <= 1
                    && s.trim_start_matches('-')
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.')
                    && s.trim_start_matches('-')
                        .bytes()
                        .any(|b| b.is_ascii_digit());
                if !ok {
                    return Err(E::custom(format!(
                        "{s:?} is not a decimal number such as \"1.20\""
                    )));
                }
                Decimal::from_str_exact(s)
                    .map(DecimalText)
                    .map_err(|e| E::custom(format!("{s:?} is not a decimal number: {e}")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DecimalText, E> {
                Ok(DecimalText(Decimal::from(v)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DecimalText, E> {
                Ok(DecimalText(Decimal::from(v)))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<DecimalText, E> {
                Err(E::custom(
                    "decimal values must be JSON strings such as \"1.20\", never floating point numbers",
                ))
            }
        }
        d.deserialize_any(V)
    }
}

/// The billing cycle as contract input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CycleDraft {
    /// `monthly` or `quarterly`.
    pub kind: String,
    /// Day of the month periods start on (default 1).
    #[serde(default)]
    pub anchor_day: Option<u32>,
}

/// A price step as contract input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierDraft {
    /// Upper bound in billing units (omit or null on the last tier).
    #[serde(default)]
    pub up_to: Option<DecimalText>,
    /// Price per billing unit.
    pub unit_price: DecimalText,
}

/// A pricing model as contract input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingDraft {
    /// `flat`, `allowance`, `graduated` or `volume`.
    pub model: String,
    /// Price per billing unit (`flat`, `allowance`).
    #[serde(default)]
    pub unit_price: Option<DecimalText>,
    /// Units included (`allowance`).
    #[serde(default)]
    pub included: Option<DecimalText>,
    /// Tiers (`graduated`, `volume`).
    #[serde(default)]
    pub tiers: Option<Vec<TierDraft>>,
}

/// A charge as contract input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeDraft {
    /// `fixed_fee`, or a metric: `media_area`, `ink`, `pages`, `copies`,
    /// `scanned_area`, `media_length`, `non_hp_ink`.
    pub metric: String,
    /// Display name (default: derived from the metric).
    #[serde(default)]
    pub name: Option<String>,
    /// `media_area` of one media type only.
    #[serde(default)]
    pub media_type: Option<String>,
    /// `media_area` of one print category only.
    #[serde(default)]
    pub print_category: Option<String>,
    /// `ink` or `non_hp_ink` of one color only.
    #[serde(default)]
    pub color: Option<String>,
    /// The amount of a `fixed_fee` per period.
    #[serde(default)]
    pub amount: Option<DecimalText>,
    /// The pricing of a usage charge.
    #[serde(default)]
    pub pricing: Option<PricingDraft>,
}

/// A contract as submitted: everything unvalidated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractDraft {
    /// Site of a site contract (exactly one of `site_id`, `printer_id`).
    #[serde(default)]
    pub site_id: Option<i64>,
    /// Printer of a printer contract.
    #[serde(default)]
    pub printer_id: Option<i64>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// First day in force, `YYYY-MM-DD`.
    pub effective_from: String,
    /// First day no longer in force, `YYYY-MM-DD` (omit: open-ended).
    #[serde(default)]
    pub effective_to: Option<String>,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Billing cycle.
    pub period: CycleDraft,
    /// `jobs` (default) or `meter`.
    #[serde(default)]
    pub basis: Option<String>,
    /// Days after a period's end before it may be closed (default 5).
    #[serde(default)]
    pub grace_days: Option<u32>,
    /// Minimum of the usage charges per period.
    #[serde(default)]
    pub minimum_commitment: Option<DecimalText>,
    /// Charges: fixed fees and usage charges.
    pub charges: Vec<ChargeDraft>,
}

/// Who a contract bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope", content = "id")]
pub enum ContractScope {
    /// Every printer of a site that has no contract of its own.
    Site(i64),
    /// One printer.
    Printer(i64),
}

impl ContractScope {
    /// `site` or `printer`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Site(_) => "site",
            Self::Printer(_) => "printer",
        }
    }

    /// The site or printer id.
    pub fn id(self) -> i64 {
        match self {
            Self::Site(id) | Self::Printer(id) => id,
        }
    }
}

/// A validated contract, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractSpec {
    /// Who it bills.
    pub scope: ContractScope,
    /// Display name.
    pub name: String,
    /// First day in force.
    pub effective_from: NaiveDate,
    /// First day no longer in force.
    pub effective_to: Option<NaiveDate>,
    /// The terms.
    pub terms: Terms,
}

/// Why a contract was refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TermsError {
    /// JSON path of the field, e.g. `charges[1].pricing.tiers[0].up_to`.
    pub field: String,
    /// What is wrong, lowercase.
    pub message: String,
}

fn err<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, TermsError> {
    Err(TermsError {
        field: field.into(),
        message: message.into(),
    })
}

/// Limits on contract input: generous, but they keep every product far
/// from `Decimal`'s 28 digits.
const MAX_PRICE: i64 = 1_000_000;
const MAX_PRICE_DECIMALS: u32 = 6;
const MAX_QUANTITY: i64 = 1_000_000_000_000;
const MAX_QUANTITY_DECIMALS: u32 = 6;
const MAX_AMOUNT: i64 = 1_000_000_000;
const MAX_CHARGES: usize = 50;
const MAX_TIERS: usize = 20;
const MAX_GRACE_DAYS: u32 = 90;

fn check_decimal(
    field: &str,
    v: Decimal,
    max: i64,
    decimals: u32,
    what: &str,
) -> Result<Decimal, TermsError> {
    if v.is_sign_negative() && !v.is_zero() {
        return err(field, format!("{what} must not be negative"));
    }
    if v > Decimal::from(max) {
        return err(field, format!("{what} must be at most {max}"));
    }
    if v.normalize().scale() > decimals {
        return err(
            field,
            format!("{what} may have at most {decimals} decimals"),
        );
    }
    Ok(v.normalize())
}

fn check_text(field: &str, v: &str, max: usize) -> Result<String, TermsError> {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return err(field, format!("must have 1 to {max} printable characters"));
    }
    Ok(t.to_owned())
}

fn parse_date(field: &str, s: &str) -> Result<NaiveDate, TermsError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| (1970..=9999).contains(&d.year()))
        .ok_or_else(|| TermsError {
            field: field.into(),
            message: format!("{s:?} is not a date YYYY-MM-DD"),
        })
}

fn check_tiers(field: &str, drafts: Option<&Vec<TierDraft>>) -> Result<Vec<Tier>, TermsError> {
    let Some(drafts) = drafts else {
        return err(field, "tiers are required for this model");
    };
    if drafts.is_empty() || drafts.len() > MAX_TIERS {
        return err(field, format!("give 1 to {MAX_TIERS} tiers"));
    }
    let mut tiers = Vec::with_capacity(drafts.len());
    let mut last = Decimal::ZERO;
    for (i, t) in drafts.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let unit_price = check_decimal(
            &format!("{f}.unit_price"),
            t.unit_price.0,
            MAX_PRICE,
            MAX_PRICE_DECIMALS,
            "unit_price",
        )?;
        let is_last = i + 1 == drafts.len();
        let up_to = match (t.up_to, is_last) {
            (None, true) => None,
            (None, false) => return err(f, "only the last tier may omit up_to"),
            (Some(_), true) => {
                return err(f, "the last tier must omit up_to (it has no upper bound)");
            }
            (Some(u), false) => {
                let u = check_decimal(
                    &format!("{f}.up_to"),
                    u.0,
                    MAX_QUANTITY,
                    MAX_QUANTITY_DECIMALS,
                    "up_to",
                )?;
                if u <= last {
                    return err(
                        format!("{f}.up_to"),
                        "tiers must ascend: up_to must be above the previous tier's (and above 0)",
                    );
                }
                last = u;
                Some(u)
            }
        };
        tiers.push(Tier { up_to, unit_price });
    }
    Ok(tiers)
}

fn check_pricing(field: &str, d: Option<&PricingDraft>) -> Result<Pricing, TermsError> {
    let Some(d) = d else {
        return err(field, "a usage charge needs pricing");
    };
    let price = |p: Option<DecimalText>| -> Result<Decimal, TermsError> {
        match p {
            Some(p) => check_decimal(
                &format!("{field}.unit_price"),
                p.0,
                MAX_PRICE,
                MAX_PRICE_DECIMALS,
                "unit_price",
            ),
            None => err(format!("{field}.unit_price"), "is required for this model"),
        }
    };
    let unused = |name: &str, present: bool| -> Result<(), TermsError> {
        if present {
            err(
                format!("{field}.{name}"),
                format!("is not used by model {}", d.model),
            )
        } else {
            Ok(())
        }
    };
    match d.model.as_str() {
        "flat" => {
            unused("included", d.included.is_some())?;
            unused("tiers", d.tiers.is_some())?;
            Ok(Pricing::Flat {
                unit_price: price(d.unit_price)?,
            })
        }
        "allowance" => {
            unused("tiers", d.tiers.is_some())?;
            let Some(included) = d.included else {
                return err(format!("{field}.included"), "is required for this model");
            };
            Ok(Pricing::Allowance {
                included: check_decimal(
                    &format!("{field}.included"),
                    included.0,
                    MAX_QUANTITY,
                    MAX_QUANTITY_DECIMALS,
                    "included",
                )?,
                unit_price: price(d.unit_price)?,
            })
        }
        "graduated" | "volume" => {
            unused("unit_price", d.unit_price.is_some())?;
            unused("included", d.included.is_some())?;
            let tiers = check_tiers(&format!("{field}.tiers"), d.tiers.as_ref())?;
            Ok(if d.model == "graduated" {
                Pricing::Graduated { tiers }
            } else {
                Pricing::Volume { tiers }
            })
        }
        other => err(
            format!("{field}.model"),
            format!("unknown pricing model {other:?}: use flat, allowance, graduated or volume"),
        ),
    }
}

impl ContractDraft {
    /// Validate everything, or say which field is wrong and why.
    pub fn validate(&self) -> Result<ContractSpec, TermsError> {
        let scope = match (self.site_id, self.printer_id) {
            (Some(s), None) => ContractScope::Site(s),
            (None, Some(p)) => ContractScope::Printer(p),
            _ => return err("site_id", "give exactly one of site_id and printer_id"),
        };
        let currency = Currency::parse(&self.currency).ok_or_else(|| TermsError {
            field: "currency".into(),
            message: format!("{:?} is not an ISO 4217 code the hub knows", self.currency),
        })?;
        let kind = PeriodKind::parse(&self.period.kind).ok_or_else(|| TermsError {
            field: "period.kind".into(),
            message: "must be monthly or quarterly".into(),
        })?;
        let anchor_day = self.period.anchor_day.unwrap_or(1);
        if !(1..=MAX_ANCHOR_DAY).contains(&anchor_day) {
            return err(
                "period.anchor_day",
                format!("must be 1 to {MAX_ANCHOR_DAY} (a day every month has)"),
            );
        }
        let basis = match self.basis.as_deref() {
            None => Basis::Jobs,
            Some(b) => Basis::parse(b).ok_or_else(|| TermsError {
                field: "basis".into(),
                message: "must be jobs or meter".into(),
            })?,
        };
        let grace_days = self.grace_days.unwrap_or(5);
        if grace_days > MAX_GRACE_DAYS {
            return err("grace_days", format!("must be at most {MAX_GRACE_DAYS}"));
        }
        let effective_from = parse_date("effective_from", &self.effective_from)?;
        let effective_to = match &self.effective_to {
            Some(t) => {
                let t = parse_date("effective_to", t)?;
                if t <= effective_from {
                    return err("effective_to", "must be after effective_from");
                }
                Some(t)
            }
            None => None,
        };
        let name = match &self.name {
            Some(n) => check_text("name", n, 200)?,
            None => format!("{} contract", kind.as_str()),
        };
        let minimum_commitment = match self.minimum_commitment {
            Some(m) => Some(check_decimal(
                "minimum_commitment",
                m.0,
                MAX_AMOUNT,
                currency.minor_units,
                "minimum_commitment",
            )?)
            .filter(|m| !m.is_zero()),
            None => None,
        };
        if self.charges.is_empty() || self.charges.len() > MAX_CHARGES {
            return err("charges", format!("give 1 to {MAX_CHARGES} charges"));
        }
        let mut fixed_fees = Vec::new();
        let mut charges: Vec<UsageCharge> = Vec::new();
        for (i, c) in self.charges.iter().enumerate() {
            let f = format!("charges[{i}]");
            let name = c
                .name
                .as_deref()
                .map(|n| check_text(&format!("{f}.name"), n, 100))
                .transpose()?;
            let unused = |field: &str, present: bool, why: &str| -> Result<(), TermsError> {
                if present {
                    err(format!("{f}.{field}"), why.to_owned())
                } else {
                    Ok(())
                }
            };
            if c.metric == "fixed_fee" {
                unused(
                    "pricing",
                    c.pricing.is_some(),
                    "a fixed fee has an amount, not pricing",
                )?;
                for (field, v) in [
                    ("media_type", c.media_type.is_some()),
                    ("print_category", c.print_category.is_some()),
                    ("color", c.color.is_some()),
                ] {
                    unused(field, v, "a fixed fee selects no usage")?;
                }
                let Some(amount) = c.amount else {
                    return err(format!("{f}.amount"), "a fixed fee needs an amount");
                };
                let amount = check_decimal(
                    &format!("{f}.amount"),
                    amount.0,
                    MAX_AMOUNT,
                    currency.minor_units,
                    "amount",
                )?;
                fixed_fees.push(FixedFee {
                    name: name.unwrap_or_else(|| "fixed fee".into()),
                    amount,
                });
                continue;
            }
            let Some(metric) = Metric::parse(&c.metric) else {
                return err(
                    format!("{f}.metric"),
                    format!(
                        "unknown metric {:?}: use fixed_fee, media_area, ink, pages, copies, scanned_area, media_length or non_hp_ink",
                        c.metric
                    ),
                );
            };
            unused(
                "amount",
                c.amount.is_some(),
                "only a fixed fee has an amount",
            )?;
            let filter = match (
                c.media_type.as_deref(),
                c.print_category.as_deref(),
                c.color.as_deref(),
            ) {
                (None, None, None) => Filter::All,
                (Some(t), None, None) if metric == Metric::MediaArea => {
                    Filter::MediaType(check_text(&format!("{f}.media_type"), t, 100)?)
                }
                (None, Some(cat), None) if metric == Metric::MediaArea => {
                    if !PRINT_CATEGORIES.contains(&cat) {
                        return err(
                            format!("{f}.print_category"),
                            format!("must be one of {}", PRINT_CATEGORIES.join(", ")),
                        );
                    }
                    if basis == Basis::Meter {
                        return err(
                            format!("{f}.print_category"),
                            "lifetime counters do not know print categories: bill by print category on the jobs basis",
                        );
                    }
                    Filter::PrintCategory(cat.to_owned())
                }
                (None, None, Some(col)) if matches!(metric, Metric::Ink | Metric::NonHpInk) => {
                    Filter::InkColor(check_text(&format!("{f}.color"), col, 50)?)
                }
                _ => {
                    return err(
                        f,
                        "media_type or print_category select media_area; color selects ink or non_hp_ink; give at most one",
                    );
                }
            };
            if basis == Basis::Meter && metric == Metric::Copies {
                return err(
                    format!("{f}.metric"),
                    "lifetime counters do not count copies: bill copies on the jobs basis",
                );
            }
            let selector = Selector { metric, filter };
            if charges.iter().any(|c| c.selector == selector) {
                return err(
                    format!("{f}.metric"),
                    format!(
                        "{} is charged twice; one line per metric and filter",
                        selector.code()
                    ),
                );
            }
            let pricing = check_pricing(&format!("{f}.pricing"), c.pricing.as_ref())?;
            charges.push(UsageCharge {
                name: name.unwrap_or_else(|| selector.describe()),
                selector,
                pricing,
            });
        }
        Ok(ContractSpec {
            scope,
            name,
            effective_from,
            effective_to,
            terms: Terms {
                currency,
                cycle: Cycle { kind, anchor_day },
                basis,
                grace_days,
                fixed_fees,
                charges,
                minimum_commitment,
            },
        })
    }
}

// ---------------------------------------------------------------------------
// Rating
// ---------------------------------------------------------------------------

/// The part of a period a contract is in force: `days` of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proration {
    /// Days in force.
    pub days: u32,
    /// Days of the period.
    pub of: u32,
}

impl Proration {
    /// In force for the whole period.
    pub fn full() -> Self {
        Self { days: 1, of: 1 }
    }

    /// `segment` of `period`.
    pub fn of_span(segment: Span, period: Span) -> Self {
        Self {
            days: segment.days(),
            of: period.days().max(1),
        }
    }

    /// Whether this is the whole period.
    pub fn is_full(&self) -> bool {
        self.days == self.of
    }

    fn n(&self) -> Decimal {
        Decimal::from(self.days)
    }

    fn d(&self) -> Decimal {
        Decimal::from(self.of)
    }

    /// `amount × days / of`, exact up to the final division.
    pub fn apply(&self, amount: Decimal) -> Decimal {
        if self.is_full() {
            amount
        } else {
            amount * self.n() / self.d()
        }
    }
}

/// The exact (unrounded) amount of `quantity` billing units under `pricing`,
/// with allowances and tier thresholds prorated by `p`.
///
/// Thresholds scale by `p`; to keep that exact, quantities are compared as
/// `quantity × of` against `threshold × days`, and the amount is divided by
/// `of` once at the end.
pub fn rate(pricing: &Pricing, quantity: Decimal, p: Proration) -> Decimal {
    let (n, d) = (p.n(), p.d());
    let q = quantity * d;
    match pricing {
        Pricing::Flat { unit_price } => quantity * unit_price,
        Pricing::Allowance {
            included,
            unit_price,
        } => {
            let over = (q - included * n).max(Decimal::ZERO);
            over * unit_price / d
        }
        Pricing::Graduated { tiers } => {
            let mut sum = Decimal::ZERO;
            let mut lower = Decimal::ZERO;
            for t in tiers {
                let upper = t.up_to.map(|u| u * n);
                let top = upper.map_or(q, |u| q.min(u));
                if top > lower {
                    sum += (top - lower) * t.unit_price;
                }
                match upper {
                    Some(u) if q > u => lower = u,
                    _ => break,
                }
            }
            sum / d
        }
        Pricing::Volume { tiers } => {
            let tier = tiers
                .iter()
                .find(|t| t.up_to.is_none_or(|u| q <= u * n))
                .or(tiers.last());
            tier.map_or(Decimal::ZERO, |t| quantity * t.unit_price)
        }
    }
}

/// What a statement line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// A fixed fee.
    FixedFee,
    /// A usage charge.
    Usage,
    /// Usage reported but not billed (non-HP ink when the contract does not bill it).
    Reported,
    /// The shortfall against the minimum commitment.
    MinimumTrueUp,
    /// Late usage of an earlier, closed period.
    Adjustment,
}

impl LineKind {
    /// The identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FixedFee => "fixed_fee",
            Self::Usage => "usage",
            Self::Reported => "reported",
            Self::MinimumTrueUp => "minimum_true_up",
            Self::Adjustment => "adjustment",
        }
    }
}

/// A line of one segment, before it is numbered into a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatedLine {
    /// Kind.
    pub kind: LineKind,
    /// Stable code within the segment, e.g. `usage:media_area[media_type=bond]`.
    pub code: String,
    /// Human description.
    pub description: String,
    /// What the line counts (usage and reported lines).
    pub selector: Option<Selector>,
    /// Quantity in raw units.
    pub quantity_raw: u64,
    /// Quantity in the billing unit.
    pub quantity: Decimal,
    /// Billing unit.
    pub unit: String,
    /// Raw unit.
    pub raw_unit: String,
    /// Pricing summary.
    pub pricing: String,
    /// Amount, rounded to the minor unit.
    pub amount: Decimal,
}

/// Rate one segment: the part of a period one contract is in force.
///
/// `quantity_of` answers a selector's raw quantity in the segment.
/// Lines come in a fixed order: fixed fees, usage charges in contract
/// order, non-HP ink reported (when not billed), minimum true-up.
pub fn rate_segment(
    terms: &Terms,
    p: Proration,
    quantity_of: &dyn Fn(&Selector) -> u64,
) -> Vec<RatedLine> {
    let cur = &terms.currency;
    let prorated = |what: &str| {
        if p.is_full() {
            what.to_owned()
        } else {
            format!("{what}, prorated {}/{} days", p.days, p.of)
        }
    };
    let mut lines = Vec::new();
    for (i, fee) in terms.fixed_fees.iter().enumerate() {
        lines.push(RatedLine {
            kind: LineKind::FixedFee,
            code: format!("fixed_fee:{i}"),
            description: fee.name.clone(),
            selector: None,
            quantity_raw: 1,
            quantity: Decimal::ONE,
            unit: "period".into(),
            raw_unit: "period".into(),
            pricing: prorated(&format!("{} {} per period", fee.amount, cur.code)),
            amount: cur.round(p.apply(fee.amount)),
        });
    }
    let mut usage_total = Decimal::ZERO;
    for c in &terms.charges {
        let raw = quantity_of(&c.selector);
        let quantity = c.selector.metric.to_unit(raw);
        let unit = c.selector.metric.unit();
        let amount = cur.round(rate(&c.pricing, quantity, p));
        usage_total += amount;
        let pricing = match c.pricing {
            Pricing::Flat { .. } => c.pricing.describe(unit),
            _ => prorated(&c.pricing.describe(unit)),
        };
        lines.push(RatedLine {
            kind: LineKind::Usage,
            code: format!("usage:{}", c.selector.code()),
            description: c.name.clone(),
            selector: Some(c.selector.clone()),
            quantity_raw: raw,
            quantity,
            unit: unit.into(),
            raw_unit: c.selector.metric.raw_unit().into(),
            pricing,
            amount,
        });
    }
    if !terms
        .charges
        .iter()
        .any(|c| c.selector.metric == Metric::NonHpInk)
    {
        let selector = Selector {
            metric: Metric::NonHpInk,
            filter: Filter::All,
        };
        let raw = quantity_of(&selector);
        lines.push(RatedLine {
            kind: LineKind::Reported,
            code: "reported:non_hp_ink".into(),
            description: "non-HP ink (reported, not billed by this contract)".into(),
            quantity: Metric::NonHpInk.to_unit(raw),
            quantity_raw: raw,
            unit: Metric::NonHpInk.unit().into(),
            raw_unit: Metric::NonHpInk.raw_unit().into(),
            selector: Some(selector),
            pricing: "not billed".into(),
            amount: cur.round(Decimal::ZERO),
        });
    }
    if let Some(min) = terms.minimum_commitment {
        let commitment = cur.round(p.apply(min));
        let shortfall = (commitment - usage_total).max(Decimal::ZERO);
        lines.push(RatedLine {
            kind: LineKind::MinimumTrueUp,
            code: "minimum_true_up".into(),
            description: format!(
                "minimum commitment {commitment} {}, usage charges {usage_total} {}",
                cur.code, cur.code
            ),
            selector: None,
            quantity_raw: 0,
            quantity: Decimal::ZERO,
            unit: String::new(),
            raw_unit: String::new(),
            pricing: prorated(&format!("minimum {min} {} per period", cur.code)),
            amount: cur.round(shortfall),
        });
    }
    lines
}

// ---------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------

/// A numbered line of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    /// Line number, from 1.
    pub no: u32,
    /// Kind.
    pub kind: LineKind,
    /// Stable code within its segment.
    pub code: String,
    /// Human description.
    pub description: String,
    /// The contract that rates it.
    pub contract_id: i64,
    /// First day of the segment it rates.
    pub from: NaiveDate,
    /// First day after that segment.
    pub to: NaiveDate,
    /// For an adjustment: the label of the closed period it adjusts.
    pub adjusts: Option<String>,
    /// What it counts (usage, reported and adjustment lines of those).
    pub selector: Option<Selector>,
    /// Quantity in raw units (µl, mm², mm, pages...).
    pub quantity_raw: i64,
    /// Raw unit.
    pub raw_unit: String,
    /// Quantity in the billing unit.
    pub quantity: Decimal,
    /// Billing unit.
    pub unit: String,
    /// Pricing summary.
    pub pricing: String,
    /// Amount, rounded to the currency's minor unit.
    pub amount: Decimal,
}

impl StatementLine {
    /// A line from a rated segment line (numbered later).
    pub fn from_rated(r: RatedLine, contract_id: i64, segment: Span) -> Self {
        Self {
            no: 0,
            kind: r.kind,
            code: r.code,
            description: r.description,
            contract_id,
            from: segment.start,
            to: segment.end,
            adjusts: None,
            selector: r.selector,
            quantity_raw: i64::try_from(r.quantity_raw).unwrap_or(i64::MAX),
            raw_unit: r.raw_unit,
            quantity: r.quantity,
            unit: r.unit,
            pricing: r.pricing,
            amount: r.amount,
        }
    }

    /// What identifies "the same line" across re-ratings of one period.
    pub fn key(&self) -> (i64, NaiveDate, String) {
        (self.contract_id, self.from, self.code.clone())
    }
}

/// Adjustment lines for a closed period: what re-rating it now adds to what
/// was billed for it so far (its own lines plus earlier adjustments).
///
/// Matched line by line on [`StatementLine::key`]; lines whose quantity and
/// amount did not change produce nothing. Amounts are differences of
/// rounded amounts, so the period's billed total always equals its rating
/// on all data, to the cent.
pub fn adjustments(
    label: &str,
    billed: &[&StatementLine],
    current: &[StatementLine],
) -> Vec<StatementLine> {
    type Sum = (i64, Decimal, Decimal);
    let mut was: BTreeMap<(i64, NaiveDate, String), Sum> = BTreeMap::new();
    for l in billed {
        let e = was.entry(l.key()).or_default();
        e.0 += l.quantity_raw;
        e.1 += l.quantity;
        e.2 += l.amount;
    }
    let mut out = Vec::new();
    for l in current {
        let (raw, qty, amount) = was.remove(&l.key()).unwrap_or_default();
        let d = (l.quantity_raw - raw, l.quantity - qty, l.amount - amount);
        if d.0 == 0 && d.1.is_zero() && d.2.is_zero() {
            continue;
        }
        out.push(StatementLine {
            kind: LineKind::Adjustment,
            description: format!("adjustment for {label}: {}", l.description),
            adjusts: Some(label.to_owned()),
            quantity_raw: d.0,
            quantity: d.1.normalize(),
            amount: d.2,
            ..l.clone()
        });
    }
    out
}

/// One record behind a line: a job or a counter reading and what it adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceItem {
    /// The line it adds to.
    pub line_no: u32,
    /// `job:<uuid>` or `reading:<id>`.
    pub reference: String,
    /// Its quantity in the line's raw unit.
    pub quantity_raw: u64,
}

/// The statement facts the digest covers besides lines and evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestHeader<'a> {
    /// Statement id.
    pub id: &'a str,
    /// `site` or `printer`.
    pub scope: &'a str,
    /// Site or printer id.
    pub scope_id: i64,
    /// The period.
    pub period: Span,
    /// Currency code.
    pub currency: &'a str,
    /// Total.
    pub total: Decimal,
}

/// The canonical text a statement's digest is computed over.
///
/// UTF-8, one compact JSON array per line, `\n` after each line:
/// ```text
/// ["ppu-hub statement",1]
/// ["statement",id,scope,scope_id,period_start,period_end,currency,total]
/// ["line",no,kind,code,contract_id,from,to,adjusts,quantity_raw,raw_unit,quantity,unit,amount]   (per line, by no)
/// ["evidence",line_no,reference,quantity_raw]   (per item, by line_no then reference)
/// ```
/// Decimals are strings exactly as the statement shows them, dates are
/// `YYYY-MM-DD`, `adjusts` is `null` unless the line is an adjustment.
pub fn canonical_text(
    h: &DigestHeader<'_>,
    lines: &[StatementLine],
    evidence: &[EvidenceItem],
) -> String {
    use serde_json::json;
    let mut out = String::new();
    let mut push = |v: serde_json::Value| {
        out.push_str(&v.to_string());
        out.push('\n');
    };
    push(json!(["ppu-hub statement", 1]));
    push(json!([
        "statement",
        h.id,
        h.scope,
        h.scope_id,
        h.period.start.to_string(),
        h.period.end.to_string(),
        h.currency,
        h.total.to_string()
    ]));
    let mut lines: Vec<&StatementLine> = lines.iter().collect();
    lines.sort_by_key(|l| l.no);
    for l in lines {
        push(json!([
            "line",
            l.no,
            l.kind.as_str(),
            l.code,
            l.contract_id,
            l.from.to_string(),
            l.to.to_string(),
            l.adjusts,
            l.quantity_raw,
            l.raw_unit,
            l.quantity.to_string(),
            l.unit,
            l.amount.to_string()
        ]));
    }
    let mut ev: Vec<&EvidenceItem> = evidence.iter().collect();
    ev.sort_by(|a, b| (a.line_no, &a.reference).cmp(&(b.line_no, &b.reference)));
    for e in ev {
        push(json!(["evidence", e.line_no, e.reference, e.quantity_raw]));
    }
    out
}

/// Hex SHA-256 of a canonical text.
pub fn digest(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Parse a decimal the way statements print them (used by verifiers and tests).
pub fn parse_decimal(s: &str) -> Option<Decimal> {
    Decimal::from_str(s).ok()
}

#[cfg(test)]
mod tests;
