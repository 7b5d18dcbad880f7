//! Acceptance: a configuration change made through the hub's API is applied
//! by a running collector without a restart; an invalid one is refused and
//! the last good one kept.
//!
//! The collector runs its real loop (`Collector::run`) on an injected clock:
//! the test moves the clock past the hourly configuration check instead of
//! waiting an hour. The hub's timestamp window is widened to match, since the
//! collector seals with its (simulated) clock.

mod collector_support;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use collector_support::*;
use ppu_collector::Collector;
use ppu_collector::clock::ManualClock;
use ppu_collector::state::StateDir;
use ppu_protocol::collector_config::{Scheme, Target};
use ppu_sim::ledm::{LedmServer, LedmServerConfig, SharedPrinter};
use ppu_sim::{ModelId, VirtualPrinter};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;

const ACCOUNT: &str = "acme-remote";

fn printer(model: ModelId, serial: &str, seed: u64) -> SharedPrinter {
    let now = Utc::now();
    let mut p = VirtualPrinter::new(model, serial, seed);
    p.boot(now - Duration::hours(6));
    p.advance(now);
    Arc::new(std::sync::Mutex::new(p))
}

/// Wait (real time) until `check` holds, up to 30 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

fn target(port: u16) -> Target {
    Target {
        address: "127.0.0.1".into(),
        ports: vec![port],
        scheme: Scheme::LedmHttps,
        tls: None,
    }
}

#[actix_web::test]
async fn a_change_through_the_api_reaches_a_running_collector() {
    let hub = Hub::start_on(Arc::new(tempfile::tempdir().unwrap()), 0, |s| {
        s.timestamp_window_secs = 3 * 24 * 3600;
    })
    .await;
    let site = hub.site(ACCOUNT).await;
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    hub.enroll(site, ACCOUNT, &state).await;

    let first = printer(ModelId::T7100, "CN1REM0001", 1);
    let second = printer(ModelId::PageWideXl8000, "SG1REM0002", 2);
    let server = LedmServer::start(
        vec![first, second],
        LedmServerConfig {
            workers: 1,
            ..LedmServerConfig::default()
        },
    )
    .await
    .unwrap();
    let ports: Vec<u16> = server.endpoints().iter().map(|e| e.addr.port()).collect();

    // Start with the first printer only, polling every 3 hours.
    let clock = ManualClock::new(Utc::now());
    let collector = Arc::new(
        Collector::new(
            state,
            hub.config(ACCOUNT, vec![target(ports[0])]),
            Arc::new(clock.clone()),
        )
        .unwrap(),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = {
        let c = collector.clone();
        actix_web::rt::spawn(async move {
            c.run(async {
                let _ = stop_rx.await;
            })
            .await;
        })
    };
    let printer_known = |serial: &'static str| {
        let hub = &hub;
        move || async move { hub.get(&format!("/api/v1/printers/{serial}")).await.0 == 200 }
    };
    eventually(
        "the first printer is at the hub",
        printer_known("CN1REM0001"),
    )
    .await;
    assert_eq!(collector.effective().version, 0);

    // The reseller adds the second printer and polls hourly.
    let mut remote = hub.config(ACCOUNT, vec![target(ports[0]), target(ports[1])]);
    remote.hub_ca_file = None;
    remote.poll_interval_minutes = 60;
    let (s, v) = hub
        .put(
            &format!("/api/v1/sites/{site}/collector-config"),
            serde_json::to_value(&remote).unwrap(),
        )
        .await;
    assert_eq!((s, v["config_version"].clone()), (200, json!(1)), "{v}");

    // Within the hour the collector checks, applies it and (its new interval
    // having passed) polls both printers, without a restart.
    clock.advance(Duration::minutes(61));
    eventually(
        "the second printer is at the hub",
        printer_known("SG1REM0002"),
    )
    .await;
    let effective = collector.effective();
    assert_eq!(effective.version, 1);
    assert_eq!(effective.config.poll_interval_minutes, 60);
    assert_eq!(effective.config.targets.len(), 2);
    assert_eq!(collector.status().config_version, 1);
    let stored = dir.path().join("remote-config.json");
    assert!(stored.exists(), "kept for the next start");

    // A configuration this collector cannot accept (as a newer hub might
    // serve): refused, the last good one stays in force.
    let mut bad = serde_json::to_value(&remote).unwrap();
    bad["poll_interval_minutes"] = json!(10);
    let db = hub.db().await;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "UPDATE sites SET collector_config = ?, config_version = 2 WHERE id = ?",
        [bad.to_string().into(), site.into()],
    ))
    .await
    .unwrap();
    clock.advance(Duration::minutes(61));
    eventually("the bad configuration is refused", || {
        let c = collector.clone();
        async move { c.status().rejected_config.is_some() }
    })
    .await;
    let rejected = collector.status().rejected_config.unwrap();
    assert_eq!(rejected.version, 2);
    assert!(
        rejected.error.contains("is too short"),
        "{}",
        rejected.error
    );
    assert_eq!(collector.effective().version, 1, "the last good one");

    let _ = stop_tx.send(());
    running.await.unwrap();
    server.stop().await;
}
