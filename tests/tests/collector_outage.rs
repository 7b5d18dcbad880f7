//! Acceptance: the hub is down for 72 hours (simulated with an injected
//! clock, not real waiting); the collector keeps polling every 3 hours and
//! spools; when the hub is back, every poll's data arrives exactly once and
//! in order. The spooled envelopes are far older than the hub's 15-minute
//! timestamp window, so they are sealed again (same batch id) on the way.

mod collector_support;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{Duration, Utc};
use collector_support::*;
use ppu_collector::Collector;
use ppu_collector::clock::ManualClock;
use ppu_collector::state::StateDir;
use ppu_protocol::collector_config::{Scheme, Target};
use ppu_sim::ledm::server::{advance_all, lock};
use ppu_sim::ledm::{LedmServer, LedmServerConfig, SharedPrinter};
use ppu_sim::{ModelId, VirtualPrinter};

const ACCOUNT: &str = "acme-outage";

#[actix_web::test]
async fn a_72_hour_outage_loses_nothing_and_repeats_nothing() {
    let data = Arc::new(tempfile::tempdir().unwrap());
    let port = free_port();
    let mut hub = Hub::start_on(data.clone(), port, |_| {}).await;
    let site = hub.site(ACCOUNT).await;
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    hub.enroll(site, ACCOUNT, &state).await;

    // The outage ends now; it started 72 hours and 40 minutes ago, so the
    // last retry before the end is well past its backoff when the hub is back.
    let back_at = Utc::now();
    let t0 = back_at - Duration::hours(72) - Duration::minutes(40);
    let printers: Vec<SharedPrinter> = [
        (ModelId::T3500, "CN1OUT0001"),
        (ModelId::PageWideXl5000, "SG1OUT0002"),
        (ModelId::Z6200, "MY1OUT0003"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (model, serial))| {
        let mut p = VirtualPrinter::new(model, serial, 100 + i as u64);
        p.boot(t0 - Duration::hours(12));
        p.advance(t0);
        Arc::new(std::sync::Mutex::new(p))
    })
    .collect();
    let server = LedmServer::start(
        printers.clone(),
        LedmServerConfig {
            workers: 1,
            ..LedmServerConfig::default()
        },
    )
    .await
    .unwrap();
    let config = hub.config(
        ACCOUNT,
        vec![Target {
            address: "127.0.0.1".into(),
            ports: server.endpoints().iter().map(|e| e.addr.port()).collect(),
            scheme: Scheme::LedmHttps,
            tls: None,
        }],
    );
    let clock = ManualClock::new(t0);
    let collector = Collector::new(state, config, Arc::new(clock.clone())).unwrap();

    hub.stop().await;

    // 72 hours of polls every 3 hours (plus a job poll in between), hub down.
    let mut batches = Vec::new();
    let mut polls = 0;
    let mut at = t0;
    while at < back_at - Duration::minutes(35) {
        clock.set(at);
        advance_all(&printers, at);
        let s = collector.poll_cycle().await.unwrap();
        assert_eq!((s.collected, s.delivered), (3, 0), "{s:?}");
        assert!(s.envelopes >= 1 && !s.spool_full, "{s:?}");
        batches.extend(s.batch_ids);
        polls += 1;
        let job_poll_at = at + Duration::minutes(90);
        if job_poll_at < back_at - Duration::minutes(35) {
            clock.set(job_poll_at);
            advance_all(&printers, job_poll_at);
            collector.job_poll().await;
        }
        at += Duration::hours(3);
    }
    assert_eq!(polls, 25, "polls at 0, 3, ..., 72 hours of the outage");
    let status = collector.status();
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("cannot reach the hub"),
        "{status:?}"
    );
    assert!(status.last_upload_at.is_none());

    // The hub comes back on the same address and data.
    let hub = Hub::start_on(data, port, |_| {}).await;
    clock.set(back_at);
    advance_all(&printers, back_at);
    let last = collector.poll_cycle().await.unwrap();
    batches.extend(last.batch_ids.iter().copied());
    assert_eq!(
        last.delivered as usize,
        batches.len(),
        "{last:?} {:?}",
        collector.status().last_error
    );
    assert!(collector.status().last_upload_at.is_some());

    // Every poll's data exactly once, in the order of the polls.
    let uploads = hub.uploads().await;
    let stored: Vec<String> = uploads.iter().map(|u| u.batch_id.clone()).collect();
    let sent: Vec<String> = batches.iter().map(ToString::to_string).collect();
    assert_eq!(stored, sent, "every batch once, in order");
    for u in &uploads {
        // Sealed again just before sending: the old timestamps would be refused.
        assert!(
            (u.sent_at - back_at).num_minutes().abs() < 10,
            "batch {} sealed at {}",
            u.batch_id,
            u.sent_at
        );
    }
    let jobs = hub.jobs().await;
    let stored_jobs: HashSet<_> = jobs.iter().map(|j| j.uuid).collect();
    assert_eq!(stored_jobs.len(), jobs.len(), "no job stored twice");
    let mut expected = HashSet::new();
    for p in &printers {
        expected.extend(lock(p).job_log().map(|j| j.identity().uuid));
    }
    assert!(
        expected.len() > 50,
        "a busy outage: {} jobs",
        expected.len()
    );
    assert_eq!(stored_jobs, expected, "every job");
    // Older jobs arrived in older uploads: per printer, every job of an
    // upload has a lower device sequence number than every job of a later one.
    for p in &printers {
        let serial = lock(p).serial().to_owned();
        let v = hub.printer(&serial).await;
        let printer_id = v["printer_id"].as_i64().unwrap();
        let mut by_upload: std::collections::BTreeMap<i64, (i64, i64)> = Default::default();
        for j in jobs.iter().filter(|j| j.printer_id == printer_id) {
            let e = by_upload
                .entry(j.upload_id)
                .or_insert((j.sequence_number, j.sequence_number));
            e.0 = e.0.min(j.sequence_number);
            e.1 = e.1.max(j.sequence_number);
        }
        let ranges: Vec<(i64, i64)> = by_upload.into_values().collect();
        assert!(ranges.len() > 10, "{serial}: jobs spread over the polls");
        assert!(
            ranges.windows(2).all(|w| w[0].1 < w[1].0),
            "{serial}: {ranges:?}"
        );
    }

    // Nothing waits any more.
    let again = collector.poll_cycle().await.unwrap();
    assert_eq!(
        (again.jobs, again.delivered),
        (0, again.envelopes),
        "{again:?}"
    );
    server.stop().await;
}
