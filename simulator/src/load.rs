//! Load generator: many printers uploading as fast as the hub allows.
//!
//! Every printer runs its own task with one upload in flight: it lets its
//! device produce `jobs_per_upload` jobs (simulated time runs as fast as the
//! CPU allows), seals one usage upload with them, posts it and waits for the
//! answer, then starts over. "As fast as allowed" means the hub's `503` +
//! `Retry-After` is honoured (the same bytes are resent after the delay).
//! At the end one [`LoadReport`] summarizes throughput, errors and latency.

use std::time::Duration;

use ppu_protocol::{Payload, Timestamp, UploadTrigger};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::device::{DeviceOptions, Event, VirtualPrinter};
use crate::fleet::FleetPrinter;
use crate::rng::{SimRng, derive_seed};
use crate::upload::{HubClient, IngestOutcome, printer_keys, seal_printer_payload};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Real time to run.
    pub duration: Duration,
    /// Job records per upload.
    pub jobs_per_upload: usize,
    /// Seed of the simulation.
    pub seed: u64,
    /// Simulated start instant.
    pub start: Timestamp,
}

/// Error counts by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    /// HTTP answers asking for a retry (5xx, 503, 408, 429, 401).
    pub retryable: u64,
    /// Network errors and timeouts.
    pub network: u64,
    /// Re-seals asked for (stale timestamp, replayed nonce).
    pub reseal: u64,
    /// Permanent refusals.
    pub rejected: u64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

/// The one-line result of a load run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Printers (concurrent senders).
    pub printers: usize,
    /// Real seconds measured.
    pub duration_s: f64,
    /// Job records per upload.
    pub jobs_per_upload: usize,
    /// Uploads delivered (200).
    pub uploads: u64,
    /// Delivered uploads per second.
    pub uploads_per_s: f64,
    /// Job records delivered.
    pub job_records: u64,
    /// Delivered job records per second.
    pub job_records_per_s: f64,
    /// Of the delivered uploads, answered `duplicate`.
    pub duplicates: u64,
    /// Failed attempts by kind.
    pub errors: ErrorCounts,
    /// Latency of every attempt that got an HTTP answer, in ms.
    pub latency_ms: Latency,
    /// Envelope size, mean bytes.
    pub mean_envelope_bytes: u64,
}

#[derive(Debug, Default)]
struct Tally {
    uploads: u64,
    job_records: u64,
    duplicates: u64,
    errors: ErrorCounts,
    latencies_us: Vec<u64>,
    bytes: u64,
}

/// Percentile `q` (0..=1) of sorted microsecond samples, in milliseconds (nearest rank).
pub fn percentile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1_000.0
}

/// Run the load against `hub` with the registered `printers`.
pub async fn run(printers: &[FleetPrinter], hub: &HubClient, config: &LoadConfig) -> LoadReport {
    let started = Instant::now();
    let deadline = started + config.duration;
    let mut tasks = JoinSet::new();
    for p in printers {
        let p = p.clone();
        let hub = hub.clone();
        let config = config.clone();
        tasks.spawn(async move { drive(p, hub, config, deadline).await });
    }
    let mut total = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(t) => {
                total.uploads += t.uploads;
                total.job_records += t.job_records;
                total.duplicates += t.duplicates;
                total.errors.retryable += t.errors.retryable;
                total.errors.network += t.errors.network;
                total.errors.reseal += t.errors.reseal;
                total.errors.rejected += t.errors.rejected;
                total.bytes += t.bytes;
                total.latencies_us.extend(t.latencies_us);
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    total.latencies_us.sort_unstable();
    let lat = &total.latencies_us;
    LoadReport {
        printers: printers.len(),
        duration_s: elapsed,
        jobs_per_upload: config.jobs_per_upload,
        uploads: total.uploads,
        uploads_per_s: total.uploads as f64 / elapsed,
        job_records: total.job_records,
        job_records_per_s: total.job_records as f64 / elapsed,
        duplicates: total.duplicates,
        errors: total.errors,
        latency_ms: Latency {
            p50: percentile_ms(lat, 0.50),
            p90: percentile_ms(lat, 0.90),
            p99: percentile_ms(lat, 0.99),
            max: percentile_ms(lat, 1.0),
        },
        mean_envelope_bytes: total.bytes.checked_div(total.uploads).unwrap_or(0),
    }
}

/// One printer's loop: build an upload of `jobs_per_upload` jobs, deliver it, repeat.
async fn drive(
    printer: FleetPrinter,
    hub: HubClient,
    config: LoadConfig,
    deadline: Instant,
) -> Tally {
    let seed = derive_seed(config.seed, &printer.serial_number);
    let options = DeviceOptions {
        // Load runs care about throughput, not consumable realism: keep the
        // printer busy and never waiting for an operator for long.
        job_rate: 20.0,
        ..DeviceOptions::default()
    };
    let mut device =
        VirtualPrinter::with_options(printer.model, &printer.serial_number, seed, options);
    let keys = printer_keys(&printer.secret, &printer.serial_number);
    let mut ids = SimRng::new(derive_seed(seed, "batches"));
    let mut tally = Tally::default();
    device.boot(config.start);
    let far = config.start + chrono::TimeDelta::days(365 * 50);
    'uploads: while Instant::now() < deadline {
        let mut batch = Vec::with_capacity(config.jobs_per_upload);
        while batch.len() < config.jobs_per_upload.max(1) {
            let Some(events) = device.step(far) else {
                break;
            };
            batch.extend(events.into_iter().filter_map(|e| match e {
                Event::Job(job) => Some(*job),
                _ => None,
            }));
        }
        let jobs = batch.len();
        // Status and counters as of the last job of the batch, like the firmware's uploads.
        let at = device.now();
        let mut report = device.report(at);
        for job in batch {
            job.push_into(&mut report);
        }
        let mut payload = Payload::new(ids.uuid(), "ppu-sim-load", at, UploadTrigger::Jobs);
        payload.printers.push(report);
        let mut bytes = match seal_printer_payload(&keys, &printer.serial_number, &payload) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(serial = %printer.serial_number, error = %e, "cannot seal");
                tally.errors.rejected += 1;
                continue;
            }
        };
        loop {
            if Instant::now() >= deadline {
                break 'uploads;
            }
            let sent = Instant::now();
            let outcome = hub.ingest(&bytes).await;
            let latency = sent.elapsed();
            if !matches!(outcome, IngestOutcome::Retry { status: None, .. }) {
                tally.latencies_us.push(latency.as_micros() as u64);
            }
            match outcome {
                IngestOutcome::Delivered(answer) => {
                    tally.uploads += 1;
                    tally.job_records += jobs as u64;
                    tally.duplicates += u64::from(answer.duplicate);
                    tally.bytes += bytes.len() as u64;
                    break;
                }
                IngestOutcome::Retry {
                    status,
                    retry_after,
                    ..
                } => {
                    if status.is_none() {
                        tally.errors.network += 1;
                    } else {
                        tally.errors.retryable += 1;
                    }
                    let wait = retry_after.unwrap_or(Duration::from_millis(200));
                    tokio::time::sleep_until((Instant::now() + wait).min(deadline)).await;
                }
                IngestOutcome::Reseal { .. } => {
                    tally.errors.reseal += 1;
                    match seal_printer_payload(&keys, &printer.serial_number, &payload) {
                        Ok(b) => bytes = b,
                        Err(_) => break,
                    }
                }
                IngestOutcome::Rejected { status, reason } => {
                    tally.errors.rejected += 1;
                    tracing::error!(serial = %printer.serial_number, status, reason = %reason, "upload refused");
                    break;
                }
            }
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u64> = (1..=100).map(|ms| ms * 1_000).collect();
        assert_eq!(percentile_ms(&samples, 0.5), 50.0);
        assert_eq!(percentile_ms(&samples, 0.9), 90.0);
        assert_eq!(percentile_ms(&samples, 0.99), 99.0);
        assert_eq!(percentile_ms(&samples, 1.0), 100.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }
}
