//! Metric names of the actors crate, declared once (see `describe`).

/// Histogram: seconds to store and commit one ingest batch.
pub const INGEST_COMMIT_SECONDS: &str = "ppu_ingest_commit_duration_seconds";
/// Gauge: live actors by kind (`kind` label).
pub const ACTORS_LIVE: &str = "ppu_actors_live";
/// Counter: snapshots saved, by outcome (`outcome` label: ok, error).
pub const SNAPSHOTS_TOTAL: &str = "ppu_actor_snapshots_total";
/// Counter: counter readings that went backwards.
pub const COUNTER_ANOMALIES_TOTAL: &str = "ppu_counter_anomalies_total";

/// Counter: alert events by `kind` and `severity`.
pub const ALERT_EVENTS_TOTAL: &str = "ppu_alert_events_total";

/// Describe every metric of this crate (call once at startup, after installing a recorder).
pub fn describe() {
    metrics::describe_histogram!(
        INGEST_COMMIT_SECONDS,
        metrics::Unit::Seconds,
        "time to store and commit one ingest batch"
    );
    metrics::describe_counter!(
        ALERT_EVENTS_TOTAL,
        "alert events (raised, updated, acknowledged, cleared) by severity"
    );
    metrics::describe_gauge!(ACTORS_LIVE, "live actors by kind");
    metrics::describe_counter!(SNAPSHOTS_TOTAL, "actor snapshots saved, by outcome");
    metrics::describe_counter!(
        COUNTER_ANOMALIES_TOTAL,
        "lifetime counter readings that went backwards and started a new baseline"
    );
}
