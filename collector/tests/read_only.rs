//! Proof of read-only: whole poll cycles and job polls against recording
//! printers, and a look at every request they received.
//!
//! - HP LEDM: the simulator's server logs every request before answering;
//!   the collector must only ever have sent `GET`.
//! - IPP: a recording printer parses every request; the collector must only
//!   ever have sent Get-Printer-Attributes (0x000B) and Get-Jobs (0x000A).

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{Duration, Utc};
use common::*;
use ppu_collector::Collector;
use ppu_collector::clock::SystemClock;
use ppu_collector::state::StateDir;
use ppu_protocol::collector_config::Scheme;
use ppu_sim::ModelId;
use ppu_sim::ledm::server::{advance_all, lock};

#[tokio::test]
async fn ledm_collection_only_gets_and_reads_every_job_once() {
    let now = Utc::now();
    let printers = vec![
        busy(ModelId::T1500, "CN1RO00001", 1, now),
        busy(ModelId::PageWideXl4500, "SG1RO00002", 2, now),
        busy(ModelId::Z6800, "MY1RO00003", 3, now),
    ];
    let server = serve(printers.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let keys = fake_enrollment(&state, NO_HUB);
    let collector = Collector::new(
        state,
        config(vec![loopback(ports(&server), Scheme::LedmHttps)]),
        Arc::new(SystemClock),
    )
    .unwrap();

    let first = collector.poll_cycle().await.unwrap();
    assert_eq!((first.found, first.collected), (3, 3), "{first:?}");
    assert!(first.skipped.is_empty(), "{first:?}");
    assert_eq!(first.delivered, 0, "no hub: everything stays in the spool");
    // The printers work on; a job poll and a second cycle pick up the rest.
    advance_all(&printers, now + Duration::hours(6));
    collector.job_poll().await;
    advance_all(&printers, now + Duration::hours(9));
    let second = collector.poll_cycle().await.unwrap();
    assert_eq!(second.collected, 3);

    // Read-only: nothing but GET, and the job log is read incrementally.
    let log = server.request_log();
    assert!(log.writes().is_empty(), "{:?}", log.writes());
    let records = log.snapshot();
    assert!(records.iter().all(|r| r.method == "GET"), "{records:?}");
    assert!(
        records
            .iter()
            .any(|r| r.path.ends_with("accounting.csv") && r.query != "since=0")
    );

    // Every job of every printer is in the spooled payloads exactly once.
    let payloads = spooled_payloads(dir.path(), &keys);
    let mut seen = HashSet::new();
    for p in &payloads {
        for r in &p.printers {
            for j in &r.print_jobs {
                assert!(seen.insert(j.job.uuid), "job {} sent twice", j.job.uuid);
            }
            for j in &r.scan_jobs {
                assert!(seen.insert(j.job.uuid), "job {} sent twice", j.job.uuid);
            }
            for j in &r.copy_jobs {
                assert!(seen.insert(j.job.uuid), "job {} sent twice", j.job.uuid);
            }
        }
    }
    let mut expected = HashSet::new();
    for p in &printers {
        expected.extend(lock(p).job_log().map(|j| j.identity().uuid));
    }
    assert!(!expected.is_empty());
    assert_eq!(seen, expected);
    // Status, counters and the collector's own report travel too.
    let first_payload = &payloads[0];
    assert_eq!(first_payload.printers.len(), 3);
    assert!(
        first_payload
            .printers
            .iter()
            .all(|r| r.config.is_some() && r.counters.is_some() && r.status.is_some())
    );
    let report = first_payload.collector.as_ref().unwrap();
    assert_eq!(report.devices_found, 3);
    server.stop().await;
}

#[tokio::test]
async fn ipp_collection_only_sends_read_operations() {
    let printer = RecordingIpp::start("CN-IPP-RO-1").await;
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let keys = fake_enrollment(&state, NO_HUB);
    let collector = Collector::new(
        state,
        config(vec![loopback(vec![printer.addr.port()], Scheme::Ipp)]),
        Arc::new(SystemClock),
    )
    .unwrap();
    let summary = collector.poll_cycle().await.unwrap();
    assert_eq!(summary.collected, 1, "{summary:?}");
    collector.job_poll().await;
    collector.poll_cycle().await.unwrap();

    let records = printer.records();
    assert!(records.len() >= 4, "{records:?}");
    for r in &records {
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/ipp/print"),
            "{r:?}"
        );
        assert!(
            matches!(r.operation, Some(0x000B | 0x000A)),
            "only Get-Printer-Attributes and Get-Jobs: {r:?}"
        );
        assert!(r.attributes.iter().any(|a| a == "printer-uri"));
    }
    assert!(
        records
            .iter()
            .any(|r| r.operation == Some(0x000A) && r.attributes.iter().any(|a| a == "which-jobs"))
    );

    // The two completed jobs were sent once, although they were listed three times.
    let payloads = spooled_payloads(dir.path(), &keys);
    let jobs: Vec<_> = payloads
        .iter()
        .flat_map(|p| &p.printers)
        .flat_map(|r| &r.print_jobs)
        .collect();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert_eq!(jobs[0].job.account_id.as_deref(), Some("CC-1"));
    let report = &payloads[0].printers[0];
    assert_eq!(report.serial_number, "CN-IPP-RO-1");
    assert_eq!(report.config.as_ref().unwrap().firmware_version, "3.1.4");
    assert_eq!(report.counters.as_ref().unwrap().pages, 4242);
}
