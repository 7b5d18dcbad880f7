//! Metric names of the actors crate, declared once (see `describe`).

/// Histogram: seconds to store and commit one ingest batch.
pub const INGEST_COMMIT_SECONDS: &str = "ppu_ingest_commit_duration_seconds";
/// Histogram: seconds one ingest batch spent in each stage of the writer
/// (`stage` label: begin, lookup, uploads, alerts, ledger, rollups, jobs,
/// readings, snapshots, printers, credentials, commit, dispatch).
pub const INGEST_STAGE_SECONDS: &str = "ppu_ingest_stage_duration_seconds";
/// Gauge: live actors by kind (`kind` label).
pub const ACTORS_LIVE: &str = "ppu_actors_live";
/// Counter: snapshots saved, by outcome (`outcome` label: ok, error).
pub const SNAPSHOTS_TOTAL: &str = "ppu_actor_snapshots_total";
/// Counter: counter readings that went backwards.
pub const COUNTER_ANOMALIES_TOTAL: &str = "ppu_lifetime_readings_backwards_total";

/// Counter: alert events by `kind` and `severity`.
pub const ALERT_EVENTS_TOTAL: &str = "ppu_alert_events_total";
/// Counter: device alerts pushed on receipt, before their upload was stored, by `severity`.
pub const ALERT_OBSERVED_TOTAL: &str = "ppu_alert_observed_total";
/// Counter: uploads queued in the alert lane (trigger `alert`), ahead of the others.
pub const INGEST_ALERT_LANE_TOTAL: &str = "ppu_ingest_alert_lane_total";

/// Histogram: seconds to save one actor snapshot.
pub const SNAPSHOT_SECONDS: &str = "ppu_actor_snapshot_duration_seconds";
/// Counter: pages printed, by `reseller` and `site` (ids).
pub const FLEET_PAGES_TOTAL: &str = "ppu_fleet_pages_total";
/// Counter: job records, by `reseller`, `site` and `kind`.
pub const FLEET_JOBS_TOTAL: &str = "ppu_fleet_jobs_total";
/// Gauge (only grows): media area printed in m² since the hub started, by `reseller` and `site`.
///
/// A gauge because the `metrics` crate's counters are integers and Prometheus
/// wants base units; the exact figures (integer mm²) are in billing, not here.
pub const FLEET_MEDIA_M2: &str = "ppu_fleet_media_area_square_meters";
/// Gauge (only grows): ink used in litres since the hub started, by `reseller` and `site`.
pub const FLEET_INK_L: &str = "ppu_fleet_ink_liters";
/// Gauge: a collector's last poll duration in seconds, by `site`.
pub const COLLECTOR_POLL_SECONDS: &str = "ppu_collector_poll_duration_seconds";
/// Gauge: devices in a collector's last poll, by `site` and `state` (collected, skipped).
pub const COLLECTOR_DEVICES: &str = "ppu_collector_devices";
/// Gauge: bytes waiting in a collector's spool, by `site`.
pub const COLLECTOR_SPOOL_BYTES: &str = "ppu_collector_spool_bytes";
/// Gauge: per-printer cartridge level (0..1), by `serial`, `slot`, `color` (opt-in).
pub const PRINTER_CARTRIDGE_LEVEL: &str = "ppu_printer_cartridge_level_ratio";
/// Gauge: per-printer printhead health (0..1), by `serial`, `slot` (opt-in).
pub const PRINTER_PRINTHEAD_HEALTH: &str = "ppu_printer_printhead_health_ratio";

/// Emit the fleet counters of one committed printer update.
pub fn record_update(u: &crate::ingest::PrinterUpdate, per_printer: bool) {
    let reseller = u.printer.reseller_id.to_string();
    let site = u.printer.site_id.to_string();
    let j = &u.usage.jobs;
    metrics::counter!(FLEET_PAGES_TOTAL, "reseller" => reseller.clone(), "site" => site.clone())
        .increment(j.pages);
    metrics::gauge!(FLEET_MEDIA_M2, "reseller" => reseller.clone(), "site" => site.clone())
        .increment(j.media_area_mm2 as f64 / 1e6);
    metrics::gauge!(FLEET_INK_L, "reseller" => reseller.clone(), "site" => site.clone())
        .increment(j.ink_ul as f64 / 1e6);
    for (kind, n) in [
        ("print", j.print_jobs),
        ("scan", j.scan_jobs),
        ("copy", j.copy_jobs),
    ] {
        metrics::counter!(FLEET_JOBS_TOTAL, "reseller" => reseller.clone(), "site" => site.clone(), "kind" => kind)
            .increment(n);
    }
    if !u.regressions.is_empty() {
        metrics::counter!(COUNTER_ANOMALIES_TOTAL).increment(1);
    }
    if per_printer && let Some(status) = &u.status {
        for c in &status.cartridges {
            let level = c.level_pct.map(|l| f64::from(l) / 100.0).or_else(|| {
                (c.capacity_ul > 0).then(|| {
                    c.capacity_ul.saturating_sub(c.ink_used_ul) as f64 / c.capacity_ul as f64
                })
            });
            if let Some(level) = level {
                metrics::gauge!(PRINTER_CARTRIDGE_LEVEL, "serial" => u.serial_number.clone(), "slot" => c.slot.clone(), "color" => c.color.0.clone())
                    .set(level);
            }
        }
        for p in &status.printheads {
            if let Some(h) = p.health_pct {
                metrics::gauge!(PRINTER_PRINTHEAD_HEALTH, "serial" => u.serial_number.clone(), "slot" => p.slot.clone())
                    .set(f64::from(h) / 100.0);
            }
        }
    }
}

/// Emit the figures a collector reported about itself.
pub fn record_collector(site_id: i64, r: &ppu_protocol::model::CollectorReport, collected: u32) {
    let site = site_id.to_string();
    metrics::gauge!(COLLECTOR_POLL_SECONDS, "site" => site.clone())
        .set(r.poll_duration_ms as f64 / 1000.0);
    metrics::gauge!(COLLECTOR_DEVICES, "site" => site.clone(), "state" => "collected")
        .set(f64::from(collected));
    metrics::gauge!(COLLECTOR_DEVICES, "site" => site.clone(), "state" => "skipped")
        .set(r.skipped.len() as f64);
    metrics::gauge!(COLLECTOR_SPOOL_BYTES, "site" => site).set(r.spool_bytes as f64);
}

/// Describe every metric of this crate (call once at startup, after installing a recorder).
pub fn describe() {
    metrics::describe_histogram!(
        SNAPSHOT_SECONDS,
        metrics::Unit::Seconds,
        "time to save one actor snapshot"
    );
    metrics::describe_counter!(FLEET_PAGES_TOTAL, "pages printed, by reseller and site");
    metrics::describe_counter!(
        FLEET_JOBS_TOTAL,
        "job records stored, by reseller, site and kind"
    );
    metrics::describe_gauge!(
        FLEET_MEDIA_M2,
        "media area printed in square meters since the hub started (only grows), by reseller and site"
    );
    metrics::describe_gauge!(
        FLEET_INK_L,
        "ink used in liters since the hub started (only grows), by reseller and site"
    );
    metrics::describe_gauge!(
        COLLECTOR_POLL_SECONDS,
        metrics::Unit::Seconds,
        "duration of a collector's last poll cycle, by site"
    );
    metrics::describe_gauge!(
        COLLECTOR_DEVICES,
        "devices in a collector's last poll, by site and state"
    );
    metrics::describe_gauge!(
        COLLECTOR_SPOOL_BYTES,
        metrics::Unit::Bytes,
        "bytes waiting in a collector's spool, by site"
    );
    metrics::describe_gauge!(
        PRINTER_CARTRIDGE_LEVEL,
        "cartridge level 0..1 per printer and slot (enable with metrics.per_printer)"
    );
    metrics::describe_gauge!(
        PRINTER_PRINTHEAD_HEALTH,
        "printhead health 0..1 per printer and slot (enable with metrics.per_printer)"
    );
    metrics::describe_histogram!(
        INGEST_COMMIT_SECONDS,
        metrics::Unit::Seconds,
        "time to store and commit one ingest batch"
    );
    metrics::describe_histogram!(
        INGEST_STAGE_SECONDS,
        metrics::Unit::Seconds,
        "time one ingest batch spent in each stage of the writer, by stage"
    );
    metrics::describe_counter!(
        ALERT_EVENTS_TOTAL,
        "alert events (raised, updated, acknowledged, cleared) by severity"
    );
    metrics::describe_counter!(
        ALERT_OBSERVED_TOTAL,
        "device alerts pushed on receipt, before their upload was stored, by severity"
    );
    metrics::describe_counter!(
        INGEST_ALERT_LANE_TOTAL,
        "uploads with trigger alert queued in the alert lane, ahead of the other uploads"
    );
    metrics::describe_gauge!(ACTORS_LIVE, "live actors by kind");
    metrics::describe_counter!(SNAPSHOTS_TOTAL, "actor snapshots saved, by outcome");
    metrics::describe_counter!(
        COUNTER_ANOMALIES_TOTAL,
        "lifetime counter readings that went backwards and started a new baseline"
    );
}
