//! A high-severity alert a printer detects while booting reaches the hub
//! before any usage upload: right after the boot the hub shows the alert and
//! no usage at all, and in the hub's order of uploads the one that carried
//! the alert precedes every upload that carried jobs or counters.

mod support;

use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use ppu_entities::{counter_reading, job, printer, upload};
use ppu_sim::device::DeviceOptions;
use ppu_sim::direct::{DirectFleet, FleetOptions};
use ppu_sim::fleet::{self, ProvisionRequest};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;
use support::{Backend, TestHub};

/// Device alert codes of boot-time conditions start with this (see `ppu_sim::device`).
const BOOT_CODE: &str = "boot.";

fn boot_alerts(alerts: &Value) -> Vec<Value> {
    alerts["alerts"]
        .as_array()
        .expect("an alert list")
        .iter()
        .filter(|a| {
            a["code"].as_str().is_some_and(|c| c.contains(BOOT_CODE))
                && matches!(a["severity"].as_str(), Some("critical" | "major"))
        })
        .cloned()
        .collect()
}

async fn a_boot_alert_arrives_before_any_usage_upload(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let file = fleet::provision(
        &hub.admin(),
        &ProvisionRequest {
            printers: 4,
            seed: 11,
            models: Vec::new(),
            reseller_name: "Boot Reseller".into(),
            account_name: "boot-customer".into(),
            site_name: "Boot Site".into(),
        },
    )
    .await
    .expect("provisioning");
    // A Monday morning: the printers get busy right after the boot.
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 7, 30, 0).unwrap();
    let options = FleetOptions {
        run_seed: 11,
        device: DeviceOptions {
            // Every boot detects a high-severity condition.
            boot_alert_probability: 1.0,
            ..DeviceOptions::default()
        },
        backoff: Some((Duration::from_millis(20), Duration::from_millis(500))),
    };
    let mut fleet = DirectFleet::from_fleet_file(&file, hub.ingest(), start, &options);

    // Switch the printers on, nothing more: the firmware sends the alert at once.
    fleet.tick(start).await;
    assert_eq!(fleet.queued(), 0, "the boot uploads were delivered");
    let db = hub.db().await;
    for p in &file.printers {
        let serial = &p.serial_number;
        let alerts = hub
            .get_until(
                &format!("/api/v1/alerts?printer={serial}"),
                Duration::from_secs(10),
                |v| !boot_alerts(v).is_empty(),
            )
            .await;
        assert!(
            !boot_alerts(&alerts).is_empty(),
            "{serial}: the boot alert is at the hub: {alerts}"
        );
        let view = hub.get_ok(&format!("/api/v1/printers/{serial}")).await;
        assert!(
            view["counters"].is_null(),
            "{serial}: no counters yet: {view}"
        );
        let jobs = &view["usage"]["jobs"];
        for kind in ["print_jobs", "scan_jobs", "copy_jobs"] {
            assert_eq!(jobs[kind], 0, "{serial}: no {kind} yet");
        }
        let uploads = upload::Entity::find()
            .filter(upload::Column::SenderId.eq(serial.as_str()))
            .all(&db)
            .await
            .unwrap();
        assert_eq!(uploads.len(), 1, "{serial}: the alert came alone");
    }

    // A working day later, the usage uploads came after the alert's.
    let end = start + TimeDelta::hours(12);
    fleet.run_until(end, TimeDelta::minutes(30)).await;
    fleet.upload_pending();
    assert_eq!(fleet.drain(Duration::from_secs(30)).await, 0);
    for p in fleet.printers() {
        let serial = p.serial();
        assert!(p.rejected().is_empty(), "{serial}: nothing rejected");
        let row = printer::Entity::find()
            .filter(printer::Column::SerialNumber.eq(serial))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let first = upload::Entity::find()
            .filter(upload::Column::SenderId.eq(serial))
            .order_by_asc(upload::Column::Id)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let jobs = job::Entity::find()
            .filter(job::Column::PrinterId.eq(row.id))
            .all(&db)
            .await
            .unwrap();
        let readings = counter_reading::Entity::find()
            .filter(counter_reading::Column::PrinterId.eq(row.id))
            .all(&db)
            .await
            .unwrap();
        assert!(!jobs.is_empty(), "{serial}: the day had jobs");
        assert!(
            !readings.is_empty(),
            "{serial}: the day had counter readings"
        );
        assert!(
            jobs.iter().all(|j| j.upload_id > first.id),
            "{serial}: every job came in a later upload than the alert"
        );
        assert!(
            readings.iter().all(|r| r.upload_id > first.id),
            "{serial}: every counter reading came in a later upload than the alert"
        );
        // The device detected the condition at power-on, before its first job.
        let alerts = hub
            .get_ok(&format!("/api/v1/alerts?printer={serial}&limit=1000"))
            .await;
        let first_seen = boot_alerts(&alerts)
            .iter()
            .filter_map(|a| {
                a["first_seen"]
                    .as_str()?
                    .parse::<chrono::DateTime<Utc>>()
                    .ok()
            })
            .min()
            .expect("boot alert with first_seen");
        assert_eq!(first_seen, start, "{serial}: detected while booting");
        let first_job = jobs.iter().map(|j| j.occurred_at).min().unwrap();
        assert!(
            first_seen < first_job,
            "{serial}: the alert precedes the first job"
        );
    }
}

on_both_backends!(a_boot_alert_arrives_before_any_usage_upload);
