//! Usage accounting: what a printer, a site or a reseller has consumed.
//!
//! Two independent bases, both kept:
//! - [`JobUsage`] adds up job records (per color, per media type, per print
//!   and application category). Billing by print time uses it.
//! - [`MeterUsage`] adds up positive deltas between consecutive lifetime
//!   counter readings (per cartridge type, HP vs non-HP ink, media per type,
//!   scan and copy areas). Meter-based billing uses it.
//!
//! Every operation here is an addition of unsigned integers, so applying the
//! same set of records in any order gives the same totals; this is what lets
//! an actor be rebuilt from a snapshot plus the records stored after it.

use std::collections::BTreeMap;

use ppu_protocol::model::{
    CopyJob, LifetimeCounters, PrintCategory, PrintDetails, PrintJob, ScanJob,
};
use serde::{Deserialize, Serialize};

/// Kind of a job record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// The stored identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Print => "print",
            Self::Scan => "scan",
            Self::Copy => "copy",
        }
    }

    /// Parse a stored identifier.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "print" => Some(Self::Print),
            "scan" => Some(Self::Scan),
            "copy" => Some(Self::Copy),
            _ => None,
        }
    }
}

/// Usage of one job in one application category.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CategoryFacts {
    /// Media area, mm².
    pub media_area_mm2: u64,
    /// Printed area, mm².
    pub printed_area_mm2: u64,
    /// Ink, µl.
    pub ink_ul: u64,
    /// Media length, mm.
    pub media_length_mm: u64,
}

/// The billable facts of one job record, whatever it came from (an upload or a stored row).
///
/// Both the ingest path and actor hydration go through this type, so that a
/// job counts the same way live and after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFacts {
    /// Kind.
    pub kind: JobKind,
    /// Pages printed.
    pub pages: u64,
    /// Copies.
    pub copies: u64,
    /// Print time, seconds.
    pub print_time_s: u64,
    /// Ink per color, µl.
    pub ink_ul: BTreeMap<String, u64>,
    /// Media type id.
    pub media_type: Option<String>,
    /// Print category.
    pub category: Option<String>,
    /// Media area, mm².
    pub media_area_mm2: u64,
    /// Media length, mm.
    pub media_length_mm: u64,
    /// Printed area, mm².
    pub printed_area_mm2: u64,
    /// Per application category.
    pub app_categories: BTreeMap<String, CategoryFacts>,
    /// Scanned area, mm².
    pub scanned_area_mm2: u64,
}

impl JobFacts {
    fn empty(kind: JobKind) -> Self {
        Self {
            kind,
            pages: 0,
            copies: 0,
            print_time_s: 0,
            ink_ul: BTreeMap::new(),
            media_type: None,
            category: None,
            media_area_mm2: 0,
            media_length_mm: 0,
            printed_area_mm2: 0,
            app_categories: BTreeMap::new(),
            scanned_area_mm2: 0,
        }
    }

    fn with_print(mut self, p: &PrintDetails) -> Self {
        self.pages = u64::from(p.pages);
        self.copies = u64::from(p.copies);
        self.print_time_s = u64::from(p.print_time_s);
        for ink in &p.ink {
            let e = self.ink_ul.entry(ink.color.0.clone()).or_default();
            *e = e.saturating_add(ink.used_ul);
        }
        self.media_type = p.media_type.clone();
        self.category = (p.category != PrintCategory::Unknown).then(|| p.category.as_str().into());
        self.media_area_mm2 = p.media_area_mm2;
        self.media_length_mm = p.media_length_mm;
        self.printed_area_mm2 = p.printed_area_mm2;
        for c in &p.categories {
            let e = self
                .app_categories
                .entry(c.category_id.clone())
                .or_default();
            e.media_area_mm2 = e.media_area_mm2.saturating_add(c.media_area_mm2);
            e.printed_area_mm2 = e.printed_area_mm2.saturating_add(c.printed_area_mm2);
            e.ink_ul = e.ink_ul.saturating_add(c.ink_used_ul);
            e.media_length_mm = e.media_length_mm.saturating_add(c.media_length_mm);
        }
        self
    }

    /// Facts of a print job.
    pub fn from_print(job: &PrintJob) -> Self {
        Self::empty(JobKind::Print).with_print(&job.print)
    }

    /// Facts of a scan job.
    pub fn from_scan(job: &ScanJob) -> Self {
        let mut f = Self::empty(JobKind::Scan);
        f.scanned_area_mm2 = job.scan.scanned_area_mm2;
        f
    }

    /// Facts of a copy job.
    pub fn from_copy(job: &CopyJob) -> Self {
        let mut f = Self::empty(JobKind::Copy).with_print(&job.print);
        f.scanned_area_mm2 = job.scan.scanned_area_mm2;
        f
    }

    /// Total ink over all colors.
    pub fn ink_total_ul(&self) -> u64 {
        self.ink_ul.values().sum()
    }
}

/// Totals of one print category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CategoryTotals {
    /// Jobs.
    pub jobs: u64,
    /// Media area, mm².
    pub media_area_mm2: u64,
    /// Ink, µl.
    pub ink_ul: u64,
}

/// Usage added up from job records.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JobUsage {
    /// Print jobs.
    pub print_jobs: u64,
    /// Scan jobs.
    pub scan_jobs: u64,
    /// Copy jobs.
    pub copy_jobs: u64,
    /// Pages printed (print and copy jobs).
    pub pages: u64,
    /// Copies.
    pub copies: u64,
    /// Print time, seconds.
    pub print_time_s: u64,
    /// Ink over all colors, µl.
    pub ink_ul: u64,
    /// Ink per color, µl.
    pub ink_by_color_ul: BTreeMap<String, u64>,
    /// Media area, mm².
    pub media_area_mm2: u64,
    /// Media length, mm.
    pub media_length_mm: u64,
    /// Printed area, mm².
    pub printed_area_mm2: u64,
    /// Media area per media type, mm².
    pub media_by_type_mm2: BTreeMap<String, u64>,
    /// Totals per print category.
    pub by_print_category: BTreeMap<String, CategoryTotals>,
    /// Totals per application category.
    pub by_app_category: BTreeMap<String, CategoryFacts>,
    /// Scanned area of scan jobs, mm².
    pub scan_area_mm2: u64,
    /// Scanned area of copy jobs, mm².
    pub copy_scan_area_mm2: u64,
}

impl JobUsage {
    /// Number of job records of every kind.
    pub fn jobs(&self) -> u64 {
        self.print_jobs + self.scan_jobs + self.copy_jobs
    }

    /// Add one job.
    pub fn add_job(&mut self, f: &JobFacts) {
        match f.kind {
            JobKind::Print => self.print_jobs += 1,
            JobKind::Scan => self.scan_jobs += 1,
            JobKind::Copy => self.copy_jobs += 1,
        }
        match f.kind {
            JobKind::Scan => {
                self.scan_area_mm2 = self.scan_area_mm2.saturating_add(f.scanned_area_mm2);
            }
            JobKind::Copy => {
                self.copy_scan_area_mm2 =
                    self.copy_scan_area_mm2.saturating_add(f.scanned_area_mm2);
            }
            JobKind::Print => {}
        }
        self.pages = self.pages.saturating_add(f.pages);
        self.copies = self.copies.saturating_add(f.copies);
        self.print_time_s = self.print_time_s.saturating_add(f.print_time_s);
        let ink = f.ink_total_ul();
        self.ink_ul = self.ink_ul.saturating_add(ink);
        for (color, ul) in &f.ink_ul {
            let e = self.ink_by_color_ul.entry(color.clone()).or_default();
            *e = e.saturating_add(*ul);
        }
        self.media_area_mm2 = self.media_area_mm2.saturating_add(f.media_area_mm2);
        self.media_length_mm = self.media_length_mm.saturating_add(f.media_length_mm);
        self.printed_area_mm2 = self.printed_area_mm2.saturating_add(f.printed_area_mm2);
        if f.kind != JobKind::Scan {
            if let Some(media) = &f.media_type {
                let e = self.media_by_type_mm2.entry(media.clone()).or_default();
                *e = e.saturating_add(f.media_area_mm2);
            }
            if let Some(cat) = &f.category {
                let e = self.by_print_category.entry(cat.clone()).or_default();
                e.jobs = e.jobs.saturating_add(1);
                e.media_area_mm2 = e.media_area_mm2.saturating_add(f.media_area_mm2);
                e.ink_ul = e.ink_ul.saturating_add(ink);
            }
        }
        for (id, c) in &f.app_categories {
            let e = self.by_app_category.entry(id.clone()).or_default();
            e.media_area_mm2 = e.media_area_mm2.saturating_add(c.media_area_mm2);
            e.printed_area_mm2 = e.printed_area_mm2.saturating_add(c.printed_area_mm2);
            e.ink_ul = e.ink_ul.saturating_add(c.ink_ul);
            e.media_length_mm = e.media_length_mm.saturating_add(c.media_length_mm);
        }
    }

    /// Add another total.
    pub fn merge(&mut self, o: &JobUsage) {
        self.print_jobs = self.print_jobs.saturating_add(o.print_jobs);
        self.scan_jobs = self.scan_jobs.saturating_add(o.scan_jobs);
        self.copy_jobs = self.copy_jobs.saturating_add(o.copy_jobs);
        self.pages = self.pages.saturating_add(o.pages);
        self.copies = self.copies.saturating_add(o.copies);
        self.print_time_s = self.print_time_s.saturating_add(o.print_time_s);
        self.ink_ul = self.ink_ul.saturating_add(o.ink_ul);
        add_map(&mut self.ink_by_color_ul, &o.ink_by_color_ul);
        self.media_area_mm2 = self.media_area_mm2.saturating_add(o.media_area_mm2);
        self.media_length_mm = self.media_length_mm.saturating_add(o.media_length_mm);
        self.printed_area_mm2 = self.printed_area_mm2.saturating_add(o.printed_area_mm2);
        add_map(&mut self.media_by_type_mm2, &o.media_by_type_mm2);
        for (k, v) in &o.by_print_category {
            let e = self.by_print_category.entry(k.clone()).or_default();
            e.jobs = e.jobs.saturating_add(v.jobs);
            e.media_area_mm2 = e.media_area_mm2.saturating_add(v.media_area_mm2);
            e.ink_ul = e.ink_ul.saturating_add(v.ink_ul);
        }
        for (k, v) in &o.by_app_category {
            let e = self.by_app_category.entry(k.clone()).or_default();
            e.media_area_mm2 = e.media_area_mm2.saturating_add(v.media_area_mm2);
            e.printed_area_mm2 = e.printed_area_mm2.saturating_add(v.printed_area_mm2);
            e.ink_ul = e.ink_ul.saturating_add(v.ink_ul);
            e.media_length_mm = e.media_length_mm.saturating_add(v.media_length_mm);
        }
        self.scan_area_mm2 = self.scan_area_mm2.saturating_add(o.scan_area_mm2);
        self.copy_scan_area_mm2 = self.copy_scan_area_mm2.saturating_add(o.copy_scan_area_mm2);
    }
}

fn add_map(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        let e = into.entry(k.clone()).or_default();
        *e = e.saturating_add(*v);
    }
}

/// Meter usage of one cartridge type.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CartridgeMeter {
    /// Ink color of the type.
    pub color: String,
    /// Ink used, µl.
    pub ink_ul: u64,
    /// Of which HP ink, µl.
    pub hp_ink_ul: u64,
    /// Of which non-HP ink, µl.
    pub non_hp_ink_ul: u64,
    /// Cartridges inserted.
    pub insertions: u64,
}

/// Meter usage of one application category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppCategoryMeter {
    /// Media area, mm².
    pub media_area_mm2: u64,
    /// Media length, mm.
    pub media_length_mm: u64,
}

/// Usage added up from positive deltas between lifetime counter readings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MeterUsage {
    /// Per cartridge type (product number).
    pub cartridge_types: BTreeMap<String, CartridgeMeter>,
    /// Media area per media type, mm².
    pub media_by_type_mm2: BTreeMap<String, u64>,
    /// Total scanned area, mm².
    pub scan_total_mm2: u64,
    /// Scanned area of real scans, mm².
    pub scan_mm2: u64,
    /// Scanned area for copies, mm².
    pub copy_mm2: u64,
    /// Per application category.
    pub app_categories: BTreeMap<String, AppCategoryMeter>,
    /// Jobs.
    pub jobs: u64,
    /// Pages.
    pub pages: u64,
    /// Total ink, µl.
    pub total_ink_ul: u64,
    /// Total media area, mm².
    pub total_media_area_mm2: u64,
}

impl MeterUsage {
    /// Add another total.
    pub fn merge(&mut self, o: &MeterUsage) {
        for (k, v) in &o.cartridge_types {
            let e = self.cartridge_types.entry(k.clone()).or_default();
            if e.color.is_empty() {
                e.color.clone_from(&v.color);
            }
            e.ink_ul = e.ink_ul.saturating_add(v.ink_ul);
            e.hp_ink_ul = e.hp_ink_ul.saturating_add(v.hp_ink_ul);
            e.non_hp_ink_ul = e.non_hp_ink_ul.saturating_add(v.non_hp_ink_ul);
            e.insertions = e.insertions.saturating_add(v.insertions);
        }
        add_map(&mut self.media_by_type_mm2, &o.media_by_type_mm2);
        self.scan_total_mm2 = self.scan_total_mm2.saturating_add(o.scan_total_mm2);
        self.scan_mm2 = self.scan_mm2.saturating_add(o.scan_mm2);
        self.copy_mm2 = self.copy_mm2.saturating_add(o.copy_mm2);
        for (k, v) in &o.app_categories {
            let e = self.app_categories.entry(k.clone()).or_default();
            e.media_area_mm2 = e.media_area_mm2.saturating_add(v.media_area_mm2);
            e.media_length_mm = e.media_length_mm.saturating_add(v.media_length_mm);
        }
        self.jobs = self.jobs.saturating_add(o.jobs);
        self.pages = self.pages.saturating_add(o.pages);
        self.total_ink_ul = self.total_ink_ul.saturating_add(o.total_ink_ul);
        self.total_media_area_mm2 = self
            .total_media_area_mm2
            .saturating_add(o.total_media_area_mm2);
    }

    /// Whether nothing was used.
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// Everything a printer, site or reseller has used, on both bases.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// From job records.
    pub jobs: JobUsage,
    /// From lifetime counter deltas.
    pub meter: MeterUsage,
}

impl Usage {
    /// Add another total.
    pub fn merge(&mut self, o: &Usage) {
        self.jobs.merge(&o.jobs);
        self.meter.merge(&o.meter);
    }
}

/// A counter that went backwards between two readings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regression {
    /// Which counter, e.g. `pages` or `cartridge_types[C9403A].ink_used_ul`.
    pub counter: String,
    /// The baseline value.
    pub previous: u64,
    /// The new, lower value.
    pub current: u64,
}

/// Result of comparing a new lifetime counter reading with the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CounterStep {
    /// The new baseline: the reading, with entries it omitted kept from the old baseline.
    pub baseline: LifetimeCounters,
    /// Usage since the old baseline (positive deltas only).
    pub delta: MeterUsage,
    /// Counters that went backwards; each starts a new baseline and adds no usage.
    pub regressions: Vec<Regression>,
}

/// Step from one lifetime counter reading to the next.
///
/// Lifetime counters are absolute. Usage is the positive delta. A counter
/// that goes backwards (board swap, tampering) adds nothing, is reported as a
/// regression, and its new value becomes the baseline. The first reading
/// (`previous == None`) is a baseline and adds no usage. An entry (cartridge
/// type, media type, category) absent from the baseline counts from zero; an
/// entry absent from the reading keeps its baseline value.
pub fn counter_step(previous: Option<&LifetimeCounters>, cur: &LifetimeCounters) -> CounterStep {
    let Some(prev) = previous else {
        return CounterStep {
            baseline: cur.clone(),
            ..CounterStep::default()
        };
    };
    let mut regressions = Vec::new();
    let mut d = |name: &dyn Fn() -> String, p: u64, c: u64| -> u64 {
        if c >= p {
            c - p
        } else {
            regressions.push(Regression {
                counter: name(),
                previous: p,
                current: c,
            });
            0
        }
    };
    let mut delta = MeterUsage::default();
    let mut baseline = cur.clone();

    for c in &cur.cartridge_types {
        let p = prev
            .cartridge_types
            .iter()
            .find(|p| p.product_number == c.product_number);
        let pn = &c.product_number;
        let (pi, ph, pnh, pins) = p.map_or((0, 0, 0, 0), |p| {
            (
                p.ink_used_ul,
                p.hp_ink_used_ul,
                p.non_hp_ink_used_ul,
                p.insertions,
            )
        });
        let m = CartridgeMeter {
            color: c.color.0.clone(),
            ink_ul: d(
                &|| format!("cartridge_types[{pn}].ink_used_ul"),
                pi,
                c.ink_used_ul,
            ),
            hp_ink_ul: d(
                &|| format!("cartridge_types[{pn}].hp_ink_used_ul"),
                ph,
                c.hp_ink_used_ul,
            ),
            non_hp_ink_ul: d(
                &|| format!("cartridge_types[{pn}].non_hp_ink_used_ul"),
                pnh,
                c.non_hp_ink_used_ul,
            ),
            insertions: d(
                &|| format!("cartridge_types[{pn}].insertions"),
                u64::from(pins),
                u64::from(c.insertions),
            ),
        };
        if m != (CartridgeMeter {
            color: m.color.clone(),
            ..Default::default()
        }) {
            delta.cartridge_types.insert(pn.clone(), m);
        }
    }
    for p in &prev.cartridge_types {
        if !cur
            .cartridge_types
            .iter()
            .any(|c| c.product_number == p.product_number)
        {
            baseline.cartridge_types.push(p.clone());
        }
    }

    for c in &cur.media_types {
        let p = prev
            .media_types
            .iter()
            .find(|p| p.media_type == c.media_type);
        let v = d(
            &|| format!("media_types[{}].area_mm2", c.media_type),
            p.map_or(0, |p| p.area_mm2),
            c.area_mm2,
        );
        if v > 0 {
            delta.media_by_type_mm2.insert(c.media_type.clone(), v);
        }
    }
    for p in &prev.media_types {
        if !cur.media_types.iter().any(|c| c.media_type == p.media_type) {
            baseline.media_types.push(p.clone());
        }
    }

    for c in &cur.application_categories {
        let p = prev
            .application_categories
            .iter()
            .find(|p| p.category_id == c.category_id);
        let id = &c.category_id;
        let m = AppCategoryMeter {
            media_area_mm2: d(
                &|| format!("application_categories[{id}].media_area_mm2"),
                p.map_or(0, |p| p.media_area_mm2),
                c.media_area_mm2,
            ),
            media_length_mm: d(
                &|| format!("application_categories[{id}].media_length_mm"),
                p.map_or(0, |p| p.media_length_mm),
                c.media_length_mm,
            ),
        };
        if m != AppCategoryMeter::default() {
            delta.app_categories.insert(id.clone(), m);
        }
    }
    for p in &prev.application_categories {
        if !cur
            .application_categories
            .iter()
            .any(|c| c.category_id == p.category_id)
        {
            baseline.application_categories.push(p.clone());
        }
    }

    delta.scan_total_mm2 = d(
        &|| "scan.total_area_mm2".into(),
        prev.scan.total_area_mm2,
        cur.scan.total_area_mm2,
    );
    delta.scan_mm2 = d(
        &|| "scan.scan_area_mm2".into(),
        prev.scan.scan_area_mm2,
        cur.scan.scan_area_mm2,
    );
    delta.copy_mm2 = d(
        &|| "scan.copy_area_mm2".into(),
        prev.scan.copy_area_mm2,
        cur.scan.copy_area_mm2,
    );
    delta.jobs = d(&|| "jobs".into(), prev.jobs, cur.jobs);
    delta.pages = d(&|| "pages".into(), prev.pages, cur.pages);
    delta.total_ink_ul = d(
        &|| "total_ink_used_ul".into(),
        prev.total_ink_used_ul,
        cur.total_ink_used_ul,
    );
    delta.total_media_area_mm2 = d(
        &|| "total_media_area_mm2".into(),
        prev.total_media_area_mm2,
        cur.total_media_area_mm2,
    );

    CounterStep {
        baseline,
        delta,
        regressions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppu_protocol::model::{CartridgeTypeUsage, InkColor, MediaTypeUsage};

    fn reading(ink: u64, pages: u64, media: u64) -> LifetimeCounters {
        LifetimeCounters {
            cartridge_types: vec![CartridgeTypeUsage {
                product_number: "P2V71A".into(),
                color: InkColor::new("cyan"),
                ink_used_ul: ink,
                hp_ink_used_ul: ink,
                non_hp_ink_used_ul: 0,
                insertions: 1,
            }],
            media_types: vec![MediaTypeUsage {
                media_type: "bond".into(),
                name: "Bond".into(),
                area_mm2: media,
            }],
            pages,
            jobs: pages,
            total_ink_used_ul: ink,
            total_media_area_mm2: media,
            ..LifetimeCounters::default()
        }
    }

    #[test]
    fn first_reading_is_a_baseline() {
        let step = counter_step(None, &reading(100, 10, 1000));
        assert!(step.delta.is_zero());
        assert!(step.regressions.is_empty());
        assert_eq!(step.baseline, reading(100, 10, 1000));
    }

    #[test]
    fn usage_is_the_positive_delta() {
        let step = counter_step(Some(&reading(100, 10, 1000)), &reading(150, 13, 1600));
        assert_eq!(step.delta.pages, 3);
        assert_eq!(step.delta.total_ink_ul, 50);
        assert_eq!(step.delta.cartridge_types["P2V71A"].ink_ul, 50);
        assert_eq!(step.delta.cartridge_types["P2V71A"].insertions, 0);
        assert_eq!(step.delta.media_by_type_mm2["bond"], 600);
        assert!(step.regressions.is_empty());
    }

    #[test]
    fn a_counter_going_backwards_is_a_new_baseline_not_negative_usage() {
        let step = counter_step(Some(&reading(100, 10, 1000)), &reading(150, 4, 1600));
        assert_eq!(step.delta.pages, 0, "no negative usage");
        assert_eq!(step.delta.total_ink_ul, 50, "other counters still count");
        assert_eq!(step.regressions.len(), 2, "{:?}", step.regressions);
        assert!(
            step.regressions
                .iter()
                .any(|r| r.counter == "pages" && r.previous == 10 && r.current == 4)
        );
        assert_eq!(step.baseline.pages, 4);
        // the next reading counts from the new baseline
        let next = counter_step(Some(&step.baseline), &reading(150, 6, 1600));
        assert_eq!(next.delta.pages, 2);
    }

    #[test]
    fn entries_missing_from_a_reading_keep_their_baseline() {
        let mut partial = reading(100, 10, 1000);
        partial.media_types.clear();
        let step = counter_step(Some(&reading(100, 10, 1000)), &partial);
        assert!(step.regressions.is_empty());
        assert_eq!(step.baseline.media_types.len(), 1);
        let next = counter_step(Some(&step.baseline), &reading(100, 10, 1100));
        assert_eq!(
            next.delta.media_by_type_mm2["bond"], 100,
            "not counted twice"
        );
    }

    #[test]
    fn job_usage_is_order_independent() {
        let mut a = JobFacts::empty(JobKind::Print);
        a.pages = 2;
        a.ink_ul.insert("cyan".into(), 30);
        a.media_type = Some("bond".into());
        a.media_area_mm2 = 500;
        a.category = Some("line_drawing".into());
        let mut b = JobFacts::empty(JobKind::Scan);
        b.scanned_area_mm2 = 900;
        let mut x = JobUsage::default();
        x.add_job(&a);
        x.add_job(&b);
        let mut y = JobUsage::default();
        y.add_job(&b);
        y.add_job(&a);
        assert_eq!(x, y);
        assert_eq!(x.jobs(), 2);
        assert_eq!(x.scan_area_mm2, 900);
        assert_eq!(x.media_by_type_mm2["bond"], 500);
        assert_eq!(x.by_print_category["line_drawing"].ink_ul, 30);
        let mut z = JobUsage::default();
        z.merge(&x);
        z.merge(&x);
        assert_eq!(z.pages, 4);
    }
}
