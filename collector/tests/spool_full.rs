//! A full spool never drops data: new jobs wait in the job store, the
//! status says so, and the next report tells the hub.

mod common;

use std::sync::Arc;

use chrono::Utc;
use common::*;
use ppu_collector::Collector;
use ppu_collector::clock::SystemClock;
use ppu_collector::spool::Spool;
use ppu_collector::state::StateDir;
use ppu_protocol::collector_config::{MIN_SPOOL_BYTES, Scheme};
use ppu_sim::ModelId;
use ppu_sim::ledm::server::lock;
use uuid::Uuid;

#[tokio::test]
async fn a_full_spool_keeps_the_jobs_and_says_so() {
    let printer = busy(ModelId::T920, "CN1FULL001", 11, Utc::now());
    let server = serve(vec![printer.clone()]).await;
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let keys = fake_enrollment(&state, NO_HUB);
    // Fill the spool to its limit with an old, undeliverable entry.
    let filler = {
        let mut spool = Spool::open(&state.spool_dir(), MIN_SPOOL_BYTES).unwrap();
        let seq = spool
            .push(Uuid::new_v4(), &vec![0u8; MIN_SPOOL_BYTES as usize - 1024])
            .unwrap();
        assert!(!spool.fits(2048));
        seq
    };
    let mut cfg = config(vec![loopback(ports(&server), Scheme::LedmHttps)]);
    cfg.spool.max_bytes = MIN_SPOOL_BYTES;
    let collector = Collector::new(state.clone(), cfg, Arc::new(SystemClock)).unwrap();

    let s = collector.poll_cycle().await.unwrap();
    assert!(s.spool_full, "{s:?}");
    assert_eq!(s.envelopes, 0);
    assert!(s.jobs > 0);
    let status = collector.status();
    assert!(status.spool_full_since.is_some() && status.spool_full_unreported);
    let on_disk = state.status().unwrap();
    assert!(on_disk.spool_full_since.is_some(), "`status` shows it");

    // The jobs wait in the job store, on disk.
    let jobs = ppu_collector::state::JobStore::open(&state.printers_dir()).unwrap();
    let expected: usize = lock(&printer).job_log().count();
    assert_eq!(jobs.lock("CN1FULL001").await.pending.len(), expected);

    // Room again (the filler is gone): everything is spooled, and the
    // collector's report says the spool was full.
    Spool::open(&state.spool_dir(), MIN_SPOOL_BYTES)
        .unwrap()
        .remove(filler)
        .unwrap();
    let collector = Collector::new(
        state.clone(),
        {
            let mut c = config(vec![loopback(ports(&server), Scheme::LedmHttps)]);
            c.spool.max_bytes = MIN_SPOOL_BYTES;
            c
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    let s = collector.poll_cycle().await.unwrap();
    assert!(!s.spool_full && s.envelopes >= 1, "{s:?}");
    assert!(collector.status().spool_full_since.is_none());
    let payloads = spooled_payloads(dir.path(), &keys);
    let report = payloads[0].collector.as_ref().unwrap();
    assert!(report.spool_full, "the hub learns the spool was full");
    let sent: usize = payloads.iter().map(|p| p.job_count()).sum();
    assert_eq!(sent, expected, "every job, once");
    assert!(jobs_pending(&state).await == 0);
    server.stop().await;
}

async fn jobs_pending(state: &StateDir) -> usize {
    let store = ppu_collector::state::JobStore::open(&state.printers_dir()).unwrap();
    let mut n = 0;
    for s in store.serials() {
        n += store.lock(&s).await.pending.len();
    }
    n
}
