//! Property: for random fleets, jobs and counter deltas, billing totals read
//! from the maintained rollups equal a naive sum over the records, and the
//! sum over printers equals the site total equals the reseller total, for
//! every group_by and both usage bases.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use ppu_actors::billing::rollup::{RollupJob, RollupMeter, add_to_rollups};
use ppu_actors::billing::totals::{GroupBy, GroupKey, TotalsQuery, TotalsScope, totals};
use ppu_actors::domain::billing::{
    Basis, Cell, InkMeasures, Measures, Span, job_cell, meter_cells, month_start,
};
use ppu_actors::domain::usage::{CartridgeMeter, JobFacts, JobKind, MeterUsage};
use ppu_actors::ingest::PrinterRef;
use ppu_actors::store::Db;
use ppu_entities::{printer, reseller, site};
use ppu_migration::MigratorTrait;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, TransactionTrait};

const COLORS: [&str; 3] = ["cyan", "magenta", "matte_black"];
const MEDIA: [Option<&str>; 3] = [Some("bond"), Some("photo_gloss"), None];
const CATEGORIES: [Option<&str>; 5] = [
    Some("line_drawing"),
    Some("low_density_image"),
    Some("high_density_image"),
    Some("premium"),
    None,
];
const ACCOUNTS: [Option<&str>; 3] = [Some("dept-7"), Some("=cmd|x"), None];
const PROJECTS: [Option<&str>; 3] = [Some("tower-b"), Some("bridge"), None];

fn base() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 20).unwrap()
}

fn at(day: u32, second: u32) -> DateTime<Utc> {
    (base() + Days::new(u64::from(day)))
        .and_hms_opt(second / 3600 % 24, second / 60 % 60, second % 60)
        .unwrap()
        .and_utc()
}

#[derive(Debug, Clone)]
struct JobSpec {
    printer: usize,
    day: u32,
    second: u32,
    kind: usize,
    pages: u64,
    copies: u64,
    ink: Vec<(usize, u64)>,
    media: usize,
    category: usize,
    account: usize,
    project: usize,
    media_area: u64,
    scanned: u64,
}

#[derive(Debug, Clone)]
struct MeterSpec {
    printer: usize,
    day: u32,
    pages: u64,
    ink: Vec<(usize, u64, u64)>,
    media: Vec<(usize, u64)>,
    untyped_media: u64,
    scan: u64,
    copy: u64,
}

#[derive(Debug, Clone)]
struct Case {
    /// Printers per site.
    sites: Vec<usize>,
    jobs: Vec<JobSpec>,
    meters: Vec<MeterSpec>,
    /// How many uploads the records arrive in.
    uploads: usize,
    from: u32,
    days: u32,
}

fn job_spec() -> impl Strategy<Value = JobSpec> {
    (
        (
            0usize..16,
            0u32..80,
            0u32..86_400,
            0usize..3,
            0u64..20,
            1u64..4,
        ),
        prop::collection::vec((0usize..3, 0u64..5_000), 0..3),
        (0usize..3, 0usize..5, 0usize..3, 0usize..3),
        (0u64..5_000_000, 0u64..3_000_000),
    )
        .prop_map(
            |(
                (printer, day, second, kind, pages, copies),
                ink,
                (media, category, account, project),
                (media_area, scanned),
            )| JobSpec {
                printer,
                day,
                second,
                kind,
                pages,
                copies,
                ink,
                media,
                category,
                account,
                project,
                media_area,
                scanned,
            },
        )
}

fn meter_spec() -> impl Strategy<Value = MeterSpec> {
    (
        (0usize..16, 0u32..80, 0u64..500),
        prop::collection::vec((0usize..3, 0u64..9_000, 0u64..300), 0..3),
        prop::collection::vec((0usize..2, 1u64..4_000_000), 0..2),
        (0u64..1_000_000, 0u64..100_000, 0u64..100_000),
    )
        .prop_map(
            |((printer, day, pages), ink, media, (untyped_media, scan, copy))| MeterSpec {
                printer,
                day,
                pages,
                ink,
                media,
                untyped_media,
                scan,
                copy,
            },
        )
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(1usize..4, 1..4),
        prop::collection::vec(job_spec(), 0..40),
        prop::collection::vec(meter_spec(), 0..8),
        1usize..4,
        0u32..75,
        1u32..80,
    )
        .prop_map(|(sites, jobs, meters, uploads, from, days)| Case {
            sites,
            jobs,
            meters,
            uploads,
            from,
            days,
        })
}

fn job_facts(j: &JobSpec) -> JobFacts {
    let kind = [JobKind::Print, JobKind::Scan, JobKind::Copy][j.kind];
    let prints = kind != JobKind::Scan;
    let mut ink = BTreeMap::new();
    if prints {
        for (c, ul) in &j.ink {
            *ink.entry(COLORS[*c].to_owned()).or_default() += ul;
        }
    }
    JobFacts {
        kind,
        pages: if prints { j.pages } else { 0 },
        copies: if prints { j.copies } else { 0 },
        print_time_s: 0,
        ink_ul: ink,
        media_type: MEDIA[j.media].filter(|_| prints).map(str::to_owned),
        category: CATEGORIES[j.category].filter(|_| prints).map(str::to_owned),
        media_area_mm2: if prints { j.media_area } else { 0 },
        media_length_mm: if prints { j.media_area / 900 } else { 0 },
        printed_area_mm2: if prints { j.media_area / 3 } else { 0 },
        app_categories: BTreeMap::new(),
        scanned_area_mm2: if prints && kind == JobKind::Print {
            0
        } else {
            j.scanned
        },
    }
}

fn meter_delta(m: &MeterSpec) -> MeterUsage {
    let mut d = MeterUsage {
        pages: m.pages,
        jobs: m.pages / 2,
        scan_mm2: m.scan,
        copy_mm2: m.copy,
        scan_total_mm2: m.scan + m.copy,
        ..MeterUsage::default()
    };
    for (i, (c, ul, non_hp)) in m.ink.iter().enumerate() {
        d.cartridge_types.insert(
            format!("CART{i}"),
            CartridgeMeter {
                color: COLORS[*c].to_owned(),
                ink_ul: ul + non_hp,
                hp_ink_ul: *ul,
                non_hp_ink_ul: *non_hp,
                insertions: 0,
            },
        );
        d.total_ink_ul += ul + non_hp;
    }
    for (t, a) in &m.media {
        *d.media_by_type_mm2
            .entry(MEDIA[*t].unwrap().to_owned())
            .or_default() += a;
        d.total_media_area_mm2 += a;
    }
    d.total_media_area_mm2 += m.untyped_media;
    d
}

/// What `totals` returns, keyed, for comparison.
type Answer = BTreeMap<GroupKey, (Measures, BTreeMap<String, InkMeasures>)>;

fn add(into: &mut Answer, key: GroupKey, m: &Measures, ink: &BTreeMap<String, InkMeasures>) {
    let e = into.entry(key).or_default();
    e.0.add(m);
    for (c, v) in ink {
        e.1.entry(c.clone()).or_default().add(v);
    }
}

/// The naive answer: every record's cell, keyed like `totals` keys it.
fn oracle(records: &[(PrinterRef, NaiveDate, Cell)], span: Span, group_by: &[GroupBy]) -> Answer {
    let mut out = Answer::new();
    for (p, day, cell) in records {
        if !span.contains(*day) {
            continue;
        }
        let mut key = GroupKey::default();
        for g in group_by {
            match g {
                GroupBy::Printer => key.printer_id = Some(p.id),
                GroupBy::Site => key.site_id = Some(p.site_id),
                GroupBy::MediaType => key.media_type = Some(cell.dims.media_type.clone()),
                GroupBy::PrintCategory => key.print_category = Some(cell.dims.category.clone()),
                GroupBy::AccountId => key.account_id = Some(cell.dims.account_id.clone()),
                GroupBy::ProjectId => key.project_id = Some(cell.dims.project_id.clone()),
                GroupBy::Day => key.day = Some(*day),
                GroupBy::Month => key.month = Some(month_start(*day)),
                GroupBy::InkColor => {}
            }
        }
        if group_by.contains(&GroupBy::InkColor) {
            for (color, ink) in &cell.ink {
                let mut k = key.clone();
                k.ink_color = Some(color.clone());
                let m = Measures {
                    ink_ul: ink.ink_ul,
                    non_hp_ink_ul: ink.non_hp_ink_ul,
                    ..Measures::default()
                };
                add(
                    &mut out,
                    k,
                    &m,
                    &[(color.clone(), *ink)].into_iter().collect(),
                );
            }
        } else {
            add(&mut out, key, &cell.measures, &cell.ink);
        }
    }
    out
}

async fn answer(
    db: &Db,
    scope: TotalsScope,
    span: Span,
    basis: Basis,
    group_by: &[GroupBy],
) -> Answer {
    let t = totals(
        db,
        TotalsQuery {
            scope,
            span,
            basis,
            group_by: group_by.to_vec(),
            amounts: false,
        },
    )
    .await
    .expect("totals");
    let mut out = Answer::new();
    for g in t.groups {
        add(&mut out, g.key, &g.measures, &g.ink);
    }
    out
}

fn merge(into: &mut Answer, from: Answer) {
    for (k, (m, ink)) in from {
        add(into, k, &m, &ink);
    }
}

const GROUPINGS: &[&[GroupBy]] = &[
    &[],
    &[GroupBy::Printer],
    &[GroupBy::Site],
    &[GroupBy::MediaType],
    &[GroupBy::PrintCategory],
    &[GroupBy::InkColor],
    &[GroupBy::AccountId],
    &[GroupBy::ProjectId],
    &[GroupBy::Day],
    &[GroupBy::Month],
    &[GroupBy::AccountId, GroupBy::ProjectId],
    &[GroupBy::MediaType, GroupBy::Month],
    &[GroupBy::InkColor, GroupBy::Site],
];

async fn run_case(db: &Db, n: usize, c: Case) -> Result<(), TestCaseError> {
    // A fresh reseller per case: cases share one database.
    let now = Utc::now();
    let r = reseller::ActiveModel {
        name: Set(format!("reseller-{n}-{}", uuid::Uuid::new_v4())),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&db.write)
    .await
    .unwrap();
    let mut printers = Vec::new();
    let mut sites = Vec::new();
    for (si, count) in c.sites.iter().enumerate() {
        let s = site::ActiveModel {
            reseller_id: Set(r.id),
            account_name: Set(format!("site-{}-{si}", r.id)),
            name: Set(format!("site {si}")),
            collector_config: Set(None),
            config_version: Set(0),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&db.write)
        .await
        .unwrap();
        sites.push(s.id);
        for pi in 0..*count {
            let p = printer::ActiveModel {
                serial_number: Set(format!("SN-{}-{si}-{pi}", r.id)),
                site_id: Set(s.id),
                direct: Set(false),
                expected_interval_s: Set(10_800),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&db.write)
            .await
            .unwrap();
            printers.push(PrinterRef {
                id: p.id,
                site_id: s.id,
                reseller_id: r.id,
            });
        }
    }
    let pick = |i: usize| printers[i % printers.len()];
    let jobs: Vec<RollupJob> = c
        .jobs
        .iter()
        .map(|j| RollupJob {
            printer: pick(j.printer),
            occurred_at: at(j.day, j.second),
            cell: job_cell(&job_facts(j), ACCOUNTS[j.account], PROJECTS[j.project]),
        })
        .collect();
    let meters: Vec<RollupMeter> = c
        .meters
        .iter()
        .map(|m| RollupMeter {
            printer: pick(m.printer),
            read_at: at(m.day, 3600),
            delta: meter_delta(m),
        })
        .collect();
    // Records arrive in several uploads (transactions), as from the writer.
    let per = jobs.len().div_ceil(c.uploads).max(1);
    let mper = meters.len().div_ceil(c.uploads).max(1);
    for u in 0..c.uploads {
        let tx = db.write.begin().await.unwrap();
        let js = jobs
            .iter()
            .skip(u * per)
            .take(per)
            .cloned()
            .collect::<Vec<_>>();
        let ms = meters
            .iter()
            .skip(u * mper)
            .take(mper)
            .cloned()
            .collect::<Vec<_>>();
        add_to_rollups(&tx, &js, &ms).await.unwrap();
        tx.commit().await.unwrap();
    }

    let job_records: Vec<_> = jobs
        .iter()
        .map(|j| (j.printer, j.occurred_at.date_naive(), j.cell.clone()))
        .collect();
    let meter_records: Vec<_> = meters
        .iter()
        .flat_map(|m| {
            meter_cells(&m.delta)
                .into_iter()
                .map(move |cell| (m.printer, m.read_at.date_naive(), cell))
        })
        .collect();
    let from = base() + Days::new(u64::from(c.from));
    let span = Span::new(from, from + Days::new(u64::from(c.days))).unwrap();
    for (basis, records) in [(Basis::Jobs, &job_records), (Basis::Meter, &meter_records)] {
        for g in GROUPINGS {
            let expected = oracle(records, span, g);
            let reseller = answer(db, TotalsScope::Reseller(r.id), span, basis, g).await;
            prop_assert_eq!(&reseller, &expected, "reseller {:?} {:?}", basis, g);
            let mut by_sites = Answer::new();
            for s in &sites {
                merge(
                    &mut by_sites,
                    answer(db, TotalsScope::Site(*s), span, basis, g).await,
                );
            }
            prop_assert_eq!(&by_sites, &expected, "sum of sites {:?} {:?}", basis, g);
            let mut by_printers = Answer::new();
            for p in &printers {
                merge(
                    &mut by_printers,
                    answer(db, TotalsScope::Printer(p.id), span, basis, g).await,
                );
            }
            prop_assert_eq!(
                &by_printers,
                &expected,
                "sum of printers {:?} {:?}",
                basis,
                g
            );
            // Grouping further by printer and adding the printers up changes nothing.
            if !g.contains(&GroupBy::Printer) {
                let mut finer = g.to_vec();
                finer.push(GroupBy::Printer);
                let mut folded = Answer::new();
                for (mut k, (m, ink)) in
                    answer(db, TotalsScope::Reseller(r.id), span, basis, &finer).await
                {
                    k.printer_id = None;
                    add(&mut folded, k, &m, &ink);
                }
                prop_assert_eq!(
                    &folded,
                    &expected,
                    "reseller by printer {:?} {:?}",
                    basis,
                    g
                );
            }
        }
    }
    Ok(())
}

#[test]
fn totals_agree_at_every_level_for_every_group_by() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dbs = rt.block_on(async {
        let dbs = common::databases(dir.path()).await;
        for (_, db) in &dbs {
            ppu_migration::Migrator::up(&db.write, None).await.unwrap();
        }
        dbs
    });
    for (label, db) in &dbs {
        eprintln!("billing rollups property on {label}");
        let mut runner = TestRunner::new(Config {
            cases: 24,
            failure_persistence: None,
            ..Config::default()
        });
        let n = std::sync::atomic::AtomicUsize::new(0);
        runner
            .run(&case(), |c| {
                let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                rt.block_on(run_case(db, i, c))
            })
            .unwrap();
    }
}
