//! Prometheus metrics: names of the front end declared once, the recorder,
//! the fleet gauges refreshed from the database, and the `/metrics` handler.
//!
//! `/metrics` never leaks one tenant's data to another: it is served on a
//! separate listener meant for operators (default 127.0.0.1:9464), and on the
//! main listener only behind its own token.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use ppu_actors::store::Db;
use ppu_entities::{alert, printer, site};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::error::ApiError;
use crate::state::AppState;

/// Counter: uploads by `sender_kind` and `outcome` (stored, duplicate, rejected).
pub const UPLOADS_TOTAL: &str = "ppu_uploads_total";
/// Counter: rejected uploads by `reason` (the error code).
pub const UPLOADS_REJECTED_TOTAL: &str = "ppu_uploads_rejected_total";
/// Counter: envelope bytes received.
pub const RECEIVED_BYTES_TOTAL: &str = "ppu_received_bytes_total";
/// Counter: job records stored.
pub const JOBS_STORED_TOTAL: &str = "ppu_job_records_stored_total";
/// Counter: job records refused as already known.
pub const DUPLICATE_JOBS_TOTAL: &str = "ppu_job_records_duplicate_total";
/// Counter: requests refused because a queue was full, by `queue`.
pub const MAILBOX_FULL_TOTAL: &str = "ppu_mailbox_full_total";
/// Histogram: seconds from receipt to answer of an accepted upload.
pub const INGEST_SECONDS: &str = "ppu_ingest_duration_seconds";

/// Gauge: connected Server-Sent Events clients.
pub const SSE_CLIENTS: &str = "ppu_sse_clients";
/// Counter: webhook delivery attempts by `outcome` (delivered, retry, failed).
pub const WEBHOOK_DELIVERIES_TOTAL: &str = "ppu_webhook_deliveries_total";

/// Gauge: printers by `reseller`, `site` and `state` (reporting, stale, never).
pub const FLEET_PRINTERS: &str = "ppu_fleet_printers";
/// Gauge: open alerts by `reseller` and `severity`.
pub const FLEET_OPEN_ALERTS: &str = "ppu_fleet_open_alerts";
/// Histogram: seconds a readiness database ping takes.
pub const DATABASE_PING_SECONDS: &str = "ppu_database_ping_duration_seconds";
/// Gauge: uploads waiting in the ingest queue.
pub const INGEST_QUEUE_DEPTH: &str = "ppu_ingest_queue_depth";

/// Install the global Prometheus recorder once per process and describe every metric.
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let buckets = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
            .and_then(|b| b.install_recorder())
            .expect("install the prometheus recorder");
        describe();
        // Series that only move on rare events exist from the start at zero,
        // so dashboards show a flat line rather than "no data".
        metrics::counter!(MAILBOX_FULL_TOTAL, "queue" => "ingest").increment(0);
        metrics::counter!(ppu_actors::metrics::COUNTER_ANOMALIES_TOTAL).increment(0);
        handle
    })
}

/// Refresh the fleet gauges and run the recorder's upkeep, forever.
pub async fn refresh_forever(db: Db, fleet: ppu_actors::Fleet, every: Duration) {
    let handle = install();
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        handle.run_upkeep();
        metrics::gauge!(INGEST_QUEUE_DEPTH).set(fleet.ingest_queue_depth() as f64);
        let (p, s, r) = fleet.live_actors();
        metrics::gauge!(ppu_actors::metrics::ACTORS_LIVE, "kind" => "printer").set(p as f64);
        metrics::gauge!(ppu_actors::metrics::ACTORS_LIVE, "kind" => "site").set(s as f64);
        metrics::gauge!(ppu_actors::metrics::ACTORS_LIVE, "kind" => "reseller").set(r as f64);
        if let Err(e) = refresh_fleet(&db).await {
            tracing::warn!(error = %e, "fleet gauges not refreshed");
        }
    }
}

async fn refresh_fleet(db: &Db) -> Result<(), sea_orm::DbErr> {
    let started = std::time::Instant::now();
    let sites: HashMap<i64, i64> = site::Entity::find()
        .all(&db.read)
        .await?
        .into_iter()
        .map(|s| (s.id, s.reseller_id))
        .collect();
    metrics::histogram!(DATABASE_PING_SECONDS).record(started.elapsed().as_secs_f64());
    let now = chrono::Utc::now();
    let mut counts: HashMap<(i64, i64, &'static str), u64> = HashMap::new();
    for &site_id in sites.keys() {
        for state in ["reporting", "stale", "never"] {
            counts.insert((sites[&site_id], site_id, state), 0);
        }
    }
    for p in printer::Entity::find().all(&db.read).await? {
        let reseller = sites.get(&p.site_id).copied().unwrap_or(0);
        let state = match p.last_upload_at {
            None => "never",
            Some(t) if (now - t).num_seconds() > 2 * p.expected_interval_s => "stale",
            Some(_) => "reporting",
        };
        *counts.entry((reseller, p.site_id, state)).or_default() += 1;
    }
    for ((reseller, site, state), n) in counts {
        metrics::gauge!(FLEET_PRINTERS, "reseller" => reseller.to_string(), "site" => site.to_string(), "state" => state)
            .set(n as f64);
    }
    let mut open: HashMap<(i64, &'static str), u64> = HashMap::new();
    for r in sites.values() {
        for sev in ppu_protocol::model::Severity::ALL {
            open.insert((*r, sev.as_str()), 0);
        }
    }
    for a in alert::Entity::find()
        .filter(alert::Column::State.ne(ppu_actors::alerts::state::CLEARED))
        .all(&db.read)
        .await?
    {
        let sev = a
            .severity
            .parse::<ppu_protocol::model::Severity>()
            .unwrap_or(ppu_protocol::model::Severity::Info)
            .as_str();
        *open.entry((a.reseller_id, sev)).or_default() += 1;
    }
    for ((reseller, severity), n) in open {
        metrics::gauge!(FLEET_OPEN_ALERTS, "reseller" => reseller.to_string(), "severity" => severity)
            .set(n as f64);
    }
    Ok(())
}

/// `GET /metrics` on the separate metrics listener.
pub async fn exposition() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(install().render())
}

/// `GET /metrics` on the main listener: only with the metrics token.
pub async fn exposition_with_token(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let token = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (&state.settings.metrics.token, token) {
        (Some(expected), Some(given)) if crate::state::constant_time_eq(expected, given.trim()) => {
            Ok(exposition().await)
        }
        (None, _) => Err(ApiError::not_found("route")),
        _ => Err(ApiError::new(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "metrics need the metrics token",
        )),
    }
}

/// Describe every metric of the hub.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(UPLOADS_TOTAL, "uploads by sender kind and outcome");
    describe_counter!(UPLOADS_REJECTED_TOTAL, "rejected uploads by reason");
    describe_counter!(RECEIVED_BYTES_TOTAL, Unit::Bytes, "envelope bytes received");
    describe_counter!(JOBS_STORED_TOTAL, "job records stored");
    describe_counter!(
        DUPLICATE_JOBS_TOTAL,
        "job records already known and not counted again"
    );
    describe_counter!(
        MAILBOX_FULL_TOTAL,
        "requests refused with 503 because a queue was full"
    );
    describe_histogram!(
        INGEST_SECONDS,
        Unit::Seconds,
        "time from receipt to answer of an accepted upload"
    );
    metrics::describe_gauge!(SSE_CLIENTS, "connected server-sent events clients");
    metrics::describe_gauge!(
        FLEET_PRINTERS,
        "printers by reseller, site and reporting state"
    );
    metrics::describe_gauge!(FLEET_OPEN_ALERTS, "open alerts by reseller and severity");
    describe_histogram!(
        DATABASE_PING_SECONDS,
        Unit::Seconds,
        "time of a database round trip made by the fleet gauge refresh"
    );
    metrics::describe_gauge!(INGEST_QUEUE_DEPTH, "uploads waiting for the ingest writer");
    describe_counter!(
        WEBHOOK_DELIVERIES_TOTAL,
        "webhook delivery attempts by outcome"
    );
    ppu_actors::metrics::describe();
}
