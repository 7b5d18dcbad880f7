//! Job cursors against a real (simulated) LEDM accounting log: jobs a
//! printer purged before they were read are counted and reported, and a
//! printer whose numbering restarted is read from the start again.

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use common::*;
use ppu_collector::Collector;
use ppu_collector::clock::SystemClock;
use ppu_collector::state::StateDir;
use ppu_protocol::collector_config::Scheme;
use ppu_sim::ledm::server::lock;
use ppu_sim::{DeviceOptions, ModelId, VirtualPrinter};

#[tokio::test]
async fn purged_jobs_are_reported_and_a_reset_printer_is_read_again() {
    let start = Utc::now() - Duration::days(10);
    let small_log = DeviceOptions {
        accounting_log_capacity: 5,
        job_rate: 3.0,
        ..DeviceOptions::default()
    };
    let mut p = VirtualPrinter::with_options(ModelId::T7200, "CN1CUR0001", 5, small_log.clone());
    p.boot(start);
    p.advance(start + Duration::hours(2));
    let printer = Arc::new(std::sync::Mutex::new(p));
    let server = serve(vec![printer.clone()]).await;
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    fake_enrollment(&state, NO_HUB);
    let collector = Collector::new(
        state,
        config(vec![loopback(ports(&server), Scheme::LedmHttps)]),
        Arc::new(SystemClock),
    )
    .unwrap();
    // At first contact the cursor is fresh: whatever the device purged before
    // it was ever read is not counted as lost, only what it still holds is read.
    let at_first_read = lock(&printer).last_sequence_number();
    let first = collector.poll_cycle().await.unwrap();
    assert_eq!(first.missed_jobs, 0, "{first:?}");
    assert!(first.jobs > 0);

    // A busy day with a log of five jobs: most are gone before the next read.
    lock(&printer).advance(start + Duration::days(1));
    let last = lock(&printer).last_sequence_number();
    let second = collector.poll_cycle().await.unwrap();
    assert!(second.missed_jobs > 0, "{second:?}");
    assert_eq!(
        second.missed_jobs + u64::from(second.jobs),
        last - at_first_read,
        "every job after the first read is either sent or counted as lost"
    );

    // The printer is replaced (same address, numbering from 1 again).
    let mut fresh = VirtualPrinter::with_options(ModelId::T7200, "CN1CUR0001", 99, small_log);
    fresh.boot(start + Duration::days(2));
    fresh.advance(start + Duration::days(2) + Duration::hours(1));
    assert!(fresh.last_sequence_number() < last);
    let fresh_jobs = fresh.job_log().count();
    *lock(&printer) = fresh;
    let third = collector.poll_cycle().await.unwrap();
    assert_eq!(third.jobs as usize, fresh_jobs, "{third:?}");
    server.stop().await;
}
