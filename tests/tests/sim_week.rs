//! Ten simulated printers of mixed models work for a simulated week against an
//! in-process hub: every job the simulator generated is stored and counted
//! exactly once, and the hub's lifetime counters equal the devices' own.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use ppu_entities::{job, printer};
use ppu_protocol::LifetimeCounters;
use ppu_sim::device::JobKind;
use ppu_sim::direct::{DirectFleet, FleetOptions};
use ppu_sim::fleet::{self, FleetFile, ProvisionRequest};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use support::{Backend, TestHub};
use uuid::Uuid;

const PRINTERS: usize = 10;

fn kind_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Print => "print",
        JobKind::Scan => "scan",
        JobKind::Copy => "copy",
    }
}

/// How long actors may take to fold in the last uploads after the hub answered them.
const SETTLE: Duration = Duration::from_secs(10);

fn job_total(jobs: &Value) -> u64 {
    ["print_jobs", "scan_jobs", "copy_jobs"]
        .iter()
        .map(|k| jobs[*k].as_u64().unwrap_or(0))
        .sum()
}

fn count(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("`{field}` is not a number in {v}"))
}

/// Ten printers of ten models (T-series, Z-series and PageWide XL, MFPs
/// included) work from a Monday for a week; at the end they send what their
/// firmware still holds and every upload is delivered.
async fn run_week(backend: Backend) -> (TestHub, FleetFile, DirectFleet) {
    let hub = TestHub::start(backend).await;
    let file = fleet::provision(
        &hub.admin(),
        &ProvisionRequest {
            printers: PRINTERS,
            seed: 7,
            // Every model once, in catalog order.
            models: Vec::new(),
            reseller_name: "Week Reseller".into(),
            account_name: "week-customer".into(),
            site_name: "Week Site".into(),
        },
    )
    .await
    .expect("provisioning");
    let models: HashSet<_> = file.printers.iter().map(|p| p.model).collect();
    assert_eq!(models.len(), PRINTERS, "mixed models");

    // A Monday, so that the week has five working days and a weekend.
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
    let options = FleetOptions {
        run_seed: 7,
        // Short backoffs: a 503 from a busy writer is retried quickly.
        backoff: Some((Duration::from_millis(20), Duration::from_millis(500))),
        ..FleetOptions::default()
    };
    let mut fleet = DirectFleet::from_fleet_file(&file, hub.ingest(), start, &options);
    fleet
        .run_until(start + TimeDelta::weeks(1), TimeDelta::hours(1))
        .await;
    // What the triggers have not sent yet, so that every generated job is due at the hub.
    fleet.upload_pending();
    assert_eq!(
        fleet.drain(Duration::from_secs(60)).await,
        0,
        "every upload delivered"
    );
    (hub, file, fleet)
}

async fn a_week_of_ten_printers_is_counted_exactly_once(backend: Backend) {
    let (hub, _file, fleet) = run_week(backend).await;
    let db = hub.db().await;
    let mut fleet_jobs = 0_u64;
    for p in fleet.printers() {
        let serial = p.serial();
        assert!(
            p.rejected().is_empty(),
            "{serial}: the hub refused uploads: {:?}",
            p.rejected()
                .iter()
                .map(|r| (r.status, r.reason.clone()))
                .collect::<Vec<_>>()
        );
        let ledger = p.device().lock().unwrap().ledger().clone();
        let generated: Vec<Uuid> = ledger.uuids().collect();
        assert!(
            !generated.is_empty(),
            "{serial}: a week without jobs proves nothing"
        );
        let generated_set: HashSet<Uuid> = generated.iter().copied().collect();
        assert_eq!(
            generated_set.len(),
            generated.len(),
            "{serial}: simulator UUIDs are unique"
        );
        fleet_jobs += generated.len() as u64;

        // The jobs table: exactly the generated UUIDs, each in one row, of the right kind.
        let row = printer::Entity::find()
            .filter(printer::Column::SerialNumber.eq(serial))
            .one(&db)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{serial} is not in the printers table"));
        let stored = job::Entity::find()
            .filter(job::Column::PrinterId.eq(row.id))
            .all(&db)
            .await
            .unwrap();
        assert_eq!(
            stored.len(),
            generated.len(),
            "{serial}: one row per generated job"
        );
        let stored_set: HashSet<Uuid> = stored.iter().map(|j| j.uuid).collect();
        assert_eq!(stored_set, generated_set, "{serial}: the same job UUIDs");
        let kinds: BTreeMap<Uuid, &str> = ledger
            .entries()
            .iter()
            .map(|e| (e.uuid, kind_name(e.kind)))
            .collect();
        for j in &stored {
            assert_eq!(j.kind, kinds[&j.uuid], "{serial}: kind of job {}", j.uuid);
        }

        // The printer actor: job totals and lifetime counters.
        let expected = generated.len() as u64;
        let view = hub
            .get_until(&format!("/api/v1/printers/{serial}"), SETTLE, |v| {
                job_total(&v["usage"]["jobs"]) == expected
            })
            .await;
        let jobs = &view["usage"]["jobs"];
        let by_kind = |k: JobKind| ledger.entries().iter().filter(|e| e.kind == k).count() as u64;
        assert_eq!(
            count(jobs, "print_jobs"),
            by_kind(JobKind::Print),
            "{serial}: print jobs"
        );
        assert_eq!(
            count(jobs, "scan_jobs"),
            by_kind(JobKind::Scan),
            "{serial}: scan jobs"
        );
        assert_eq!(
            count(jobs, "copy_jobs"),
            by_kind(JobKind::Copy),
            "{serial}: copy jobs"
        );
        let counters: LifetimeCounters = serde_json::from_value(view["counters"].clone())
            .unwrap_or_else(|e| panic!("{serial}: counters in {view}: {e}"));
        assert_eq!(counters, p.counters(), "{serial}: lifetime counters");
        assert_eq!(
            count(&view, "anomalies"),
            0,
            "{serial}: no counter went backwards"
        );
        // Counters are the sum of the jobs, so the meter basis agrees with the job basis.
        assert_eq!(
            count(jobs, "pages"),
            counters.pages,
            "{serial}: pages on both bases"
        );
    }

    // The hub's answers: each job accepted once over the whole week.
    let summary = fleet.summary();
    assert_eq!(summary.uploads.rejected, 0, "nothing rejected");
    assert_eq!(
        summary.uploads.jobs_accepted, fleet_jobs,
        "the hub accepted each job once"
    );
}

/// The site and reseller actors add up their printers' jobs, each once.
async fn a_week_of_ten_printers_adds_up_at_site_and_reseller(backend: Backend) {
    let (hub, file, fleet) = run_week(backend).await;
    let fleet_jobs: u64 = fleet.printers().map(|p| p.job_uuids().len() as u64).sum();
    for path in [
        format!("/api/v1/sites/{}", file.site_id),
        format!("/api/v1/resellers/{}", file.reseller_id),
    ] {
        let view = hub
            .get_until(&path, SETTLE, |v| {
                job_total(&v["actor"]["usage"]["jobs"]) == fleet_jobs
            })
            .await;
        assert_eq!(
            job_total(&view["actor"]["usage"]["jobs"]),
            fleet_jobs,
            "{path}: jobs of all printers, each once"
        );
    }
}

on_both_backends!(
    a_week_of_ten_printers_is_counted_exactly_once,
    a_week_of_ten_printers_adds_up_at_site_and_reseller,
);
