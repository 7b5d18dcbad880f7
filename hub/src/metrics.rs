//! Metric names of the front end, declared once and described at startup.

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
    describe_counter!(
        WEBHOOK_DELIVERIES_TOTAL,
        "webhook delivery attempts by outcome"
    );
    ppu_actors::metrics::describe();
}
