//! The driver of direct-connected printers: device + firmware + outbox + HTTP.
//!
//! A [`DirectPrinter`] owns one printer's firmware state and outbox; its
//! device sits behind a [`SharedPrinter`] so an LEDM server can serve the
//! same printer at the same time. A [`DirectFleet`] drives many of them,
//! either in steps of simulated time chosen by the caller
//! ([`DirectFleet::run_until`], deterministic, for end-to-end tests) or
//! against a [`Clock`] in real time ([`DirectFleet::run_realtime`], the CLI).
//!
//! Uploads are sealed lazily, at their first attempt, and then resent as the
//! same bytes until the hub answers; a payload is sealed again (same
//! `batch_id`) only when the hub calls its timestamp stale or its nonce
//! replayed, or when the sealed bytes are older than ten minutes and would
//! soon be stale (PROTOCOL.md section 8).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use ppu_protocol::envelope::SenderKeys;
use ppu_protocol::{LifetimeCounters, Payload, Timestamp, UploadTrigger};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

use crate::clock::Clock;
use crate::device::{DeviceOptions, VirtualPrinter};
use crate::firmware::{Backoff, Firmware, FirmwarePolicy, Outbox, Rejected};
use crate::fleet::{FleetFile, FleetPrinter};
use crate::ledm::SharedPrinter;
use crate::ledm::server::lock;
use crate::models::ModelId;
use crate::rng::derive_seed;
use crate::upload::{HubClient, IngestOutcome, printer_keys, seal_printer_payload};

/// Sealed bytes older than this are sealed again before a retry (the hub's window is 15 minutes).
const RESEAL_AFTER: Duration = Duration::from_secs(10 * 60);
/// Consecutive re-seals of one upload before it is treated as a retryable failure.
const MAX_RESEALS: u32 = 3;
/// Shortest wait after a 401: the hub asks for rare retries.
const SLOW_RETRY: Duration = Duration::from_secs(60);

/// One upload waiting in a printer's outbox.
#[derive(Debug, Clone)]
pub struct QueuedUpload {
    /// The payload (kept so it can be sealed again with the same `batch_id`).
    pub payload: Payload,
    /// The sealed bytes and when they were sealed; `None` until the first attempt.
    sealed: Option<(Vec<u8>, Instant)>,
    /// Re-seals since the last retryable failure.
    reseals: u32,
    /// Attempts so far.
    pub attempts: u32,
}

impl QueuedUpload {
    fn new(payload: Payload) -> Self {
        Self {
            payload,
            sealed: None,
            reseals: 0,
            attempts: 0,
        }
    }

    /// The sealed bytes of the last attempt, if any.
    pub fn sealed_bytes(&self) -> Option<&[u8]> {
        self.sealed.as_ref().map(|(b, _)| b.as_slice())
    }
}

/// Counters of one printer's uploads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UploadStats {
    /// Payloads produced by the firmware.
    pub produced: u64,
    /// Payloads delivered (200), duplicates included.
    pub delivered: u64,
    /// Of which the hub called duplicate.
    pub duplicates: u64,
    /// Retryable failures (5xx, 503, 401, timeouts, network).
    pub retries: u64,
    /// Re-seals (stale timestamp, replayed nonce, age).
    pub reseals: u64,
    /// Permanent refusals.
    pub rejected: u64,
    /// Alert and boot uploads delivered.
    pub alert_uploads: u64,
    /// Job records the hub newly accepted.
    pub jobs_accepted: u64,
    /// Job records the hub already knew.
    pub jobs_duplicate: u64,
}

/// One direct-connected printer with its firmware, keys and outbox.
#[derive(Debug)]
pub struct DirectPrinter {
    serial: String,
    device: SharedPrinter,
    firmware: Firmware,
    keys: SenderKeys,
    outbox: Outbox<QueuedUpload>,
    stats: UploadStats,
}

impl DirectPrinter {
    /// A printer of `model` with `serial` and registration `secret`, switched
    /// on at `start`; `seed` fixes everything random in the device and firmware.
    pub fn new(
        model: ModelId,
        serial: &str,
        secret: &str,
        seed: u64,
        start: Timestamp,
        options: DeviceOptions,
        policy: FirmwarePolicy,
    ) -> Self {
        let device =
            VirtualPrinter::with_options(model, serial, derive_seed(seed, "device"), options);
        Self {
            serial: serial.to_owned(),
            device: Arc::new(Mutex::new(device)),
            firmware: Firmware::new(policy, start, derive_seed(seed, "firmware")),
            keys: printer_keys(secret, serial),
            outbox: Outbox::new(Backoff::new(
                Duration::from_secs(1),
                Duration::from_secs(60),
                derive_seed(seed, "backoff"),
            )),
            stats: UploadStats::default(),
        }
    }

    /// A printer of a fleet file; its seed is derived from `run_seed` and the serial number.
    pub fn from_fleet(
        printer: &FleetPrinter,
        run_seed: u64,
        start: Timestamp,
        options: DeviceOptions,
    ) -> Self {
        Self::new(
            printer.model,
            &printer.serial_number,
            &printer.secret,
            derive_seed(run_seed, &printer.serial_number),
            start,
            options,
            FirmwarePolicy::default(),
        )
    }

    /// Replace the backoff between failed attempts (tests use short ones).
    pub fn set_backoff(&mut self, backoff: Backoff) {
        let mut outbox = Outbox::new(backoff);
        for item in self.outbox.iter().cloned() {
            outbox.push(item);
        }
        self.outbox = outbox;
    }

    /// Serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The device, shared (e.g. with an LEDM server).
    pub fn device(&self) -> SharedPrinter {
        Arc::clone(&self.device)
    }

    /// Every job UUID the device generated, in order.
    pub fn job_uuids(&self) -> Vec<Uuid> {
        lock(&self.device).ledger().uuids().collect()
    }

    /// The device's current lifetime counters.
    pub fn counters(&self) -> LifetimeCounters {
        lock(&self.device).counters()
    }

    /// Upload statistics.
    pub fn stats(&self) -> UploadStats {
        self.stats
    }

    /// The outbox (uploads waiting, head first).
    pub fn outbox(&self) -> &Outbox<QueuedUpload> {
        &self.outbox
    }

    /// Uploads the hub refused for good.
    pub fn rejected(&self) -> &[Rejected<QueuedUpload>] {
        self.outbox.rejected()
    }

    /// Simulate up to `now` and queue the payloads the firmware produces.
    /// Returns how many were queued.
    pub fn advance_to(&mut self, now: Timestamp) -> usize {
        let payloads = {
            let mut device = lock(&self.device);
            self.firmware.run_until(&mut device, now)
        };
        let n = payloads.len();
        for p in payloads {
            self.outbox.push(QueuedUpload::new(p));
        }
        self.stats.produced += n as u64;
        n
    }

    /// Queue a `Manual` usage upload with every job and cleared alert still
    /// pending in the firmware (the end of a run), at the device's current instant.
    pub fn upload_pending(&mut self) {
        let payload = {
            let device = lock(&self.device);
            let at = device.now();
            self.firmware.upload_now(&device, at)
        };
        self.outbox.push(QueuedUpload::new(payload));
        self.stats.produced += 1;
    }

    /// Simulate up to `to` like [`advance_to`](Self::advance_to) but drop the
    /// payloads instead of queueing them (see [`replay`](Self::replay)).
    fn skip_to(&mut self, to: Timestamp) {
        let mut device = lock(&self.device);
        self.firmware.run_until(&mut device, to);
    }

    /// [`upload_pending`](Self::upload_pending) while replaying: the firmware
    /// forgets what it holds, nothing is queued.
    fn skip_pending(&mut self) {
        let device = lock(&self.device);
        let at = device.now();
        self.firmware.upload_now(&device, at);
    }

    /// Bring a printer built at its original start instant back to where an
    /// earlier run left it, without sending anything: simulate to each of
    /// `stops` (the instants at which earlier runs ended with
    /// [`upload_pending`](Self::upload_pending)) and let the firmware forget
    /// its pending data there, then simulate to `until`; every payload on the
    /// way is dropped, because the hub already has it.
    ///
    /// Deterministic: devices and firmware do not depend on how simulated time
    /// was cut into steps, so the replayed state equals the earlier run's state
    /// and later uploads continue it (the same next jobs, lifetime counters that
    /// keep growing). Stops after `until` are ignored.
    ///
    /// Afterwards batch ids are drawn from `batch_seed` (and the serial number),
    /// so this run never reuses an earlier run's batch id: if the earlier run
    /// sent more than it recorded, the hub gets those jobs again under new batch
    /// ids and counts them once by job UUID, instead of answering `duplicate`
    /// to an upload whose content differs.
    pub fn replay(&mut self, stops: &[Timestamp], until: Timestamp, batch_seed: u64) {
        for stop in stops.iter().filter(|s| **s <= until) {
            self.skip_to(*stop);
            self.skip_pending();
        }
        self.skip_to(until);
        let seed = derive_seed(batch_seed, &self.serial);
        self.firmware
            .reseed_batch_ids(derive_seed(seed, "batch ids"));
    }

    /// Send queued uploads in order until the outbox is empty, the head is
    /// backing off, or an attempt fails. Returns how many were delivered.
    pub async fn flush(&mut self, hub: &HubClient) -> usize {
        let mut delivered = 0;
        while self.outbox.is_ready(Instant::now()) {
            let serial = self.serial.clone();
            let Some(head) = self.outbox.head_mut() else {
                break;
            };
            let stale = head
                .sealed
                .as_ref()
                .is_some_and(|(_, at)| at.elapsed() > RESEAL_AFTER);
            if head.sealed.is_none() || stale {
                match seal_printer_payload(&self.keys, &serial, &head.payload) {
                    Ok(bytes) => head.sealed = Some((bytes, Instant::now())),
                    Err(e) => {
                        tracing::error!(serial = %serial, error = %e, "cannot seal upload, moving it to the rejected list");
                        self.outbox.on_rejected(0, format!("seal: {e}"));
                        self.stats.rejected += 1;
                        continue;
                    }
                }
                if stale {
                    self.stats.reseals += 1;
                }
            }
            head.attempts += 1;
            let trigger = head.payload.trigger;
            let bytes = head
                .sealed
                .as_ref()
                .map(|(b, _)| b.clone())
                .unwrap_or_default();
            match hub.ingest(&bytes).await {
                IngestOutcome::Delivered(answer) => {
                    self.stats.delivered += 1;
                    self.stats.duplicates += u64::from(answer.duplicate);
                    self.stats.jobs_accepted += u64::from(answer.accepted.jobs());
                    self.stats.jobs_duplicate += u64::from(answer.duplicates.jobs());
                    if matches!(trigger, UploadTrigger::Alert | UploadTrigger::Boot) {
                        self.stats.alert_uploads += 1;
                    }
                    for r in &answer.rejected_printers {
                        tracing::error!(serial = %serial, code = %r.code, message = %r.message, "hub refused the printer report");
                    }
                    self.outbox.on_delivered();
                    delivered += 1;
                }
                IngestOutcome::Reseal { code } => {
                    self.stats.reseals += 1;
                    if let Some(head) = self.outbox.head_mut() {
                        head.sealed = None;
                        head.reseals += 1;
                        if head.reseals > MAX_RESEALS {
                            head.reseals = 0;
                            let delay = self.outbox.on_retryable_failure(Instant::now(), None);
                            tracing::warn!(serial = %serial, code = %code, ?delay, "upload keeps being refused after re-sealing, backing off");
                            self.stats.retries += 1;
                            break;
                        }
                    }
                    tracing::info!(serial = %serial, code = %code, "sealing the upload again");
                }
                IngestOutcome::Retry {
                    status,
                    retry_after,
                    slow,
                    reason,
                } => {
                    self.stats.retries += 1;
                    let retry_after = if slow {
                        Some(retry_after.unwrap_or_default().max(SLOW_RETRY))
                    } else {
                        retry_after
                    };
                    let delay = self
                        .outbox
                        .on_retryable_failure(Instant::now(), retry_after);
                    if slow {
                        tracing::error!(serial = %serial, ?status, reason = %reason, ?delay, "hub does not accept this printer's credentials, keeping the upload");
                    } else {
                        tracing::warn!(serial = %serial, ?status, reason = %reason, ?delay, queued = self.outbox.len(), "upload failed, will retry the same bytes");
                    }
                    break;
                }
                IngestOutcome::Rejected { status, reason } => {
                    self.stats.rejected += 1;
                    tracing::error!(serial = %serial, status, reason = %reason, trigger = ?trigger, "hub refused the upload for good, keeping it in the rejected list");
                    self.outbox.on_rejected(status, reason);
                }
            }
        }
        delivered
    }
}

/// Options for building a fleet.
#[derive(Debug, Clone, Default)]
pub struct FleetOptions {
    /// Device knobs for every printer.
    pub device: DeviceOptions,
    /// Seed of this run (printer seeds derive from it and the serial number).
    pub run_seed: u64,
    /// Backoff between failed attempts; `None` keeps the default (1 s doubling to 60 s).
    pub backoff: Option<(Duration, Duration)>,
}

/// Summary of a fleet, e.g. printed by the CLI at the end of a run.
#[derive(Debug, Clone, Serialize)]
pub struct FleetSummary {
    /// Printers.
    pub printers: usize,
    /// Simulated instant reached.
    pub simulated_until: Timestamp,
    /// Jobs generated by all devices.
    pub jobs_generated: u64,
    /// Uploads waiting in outboxes.
    pub queued: usize,
    /// Upload statistics over all printers.
    pub uploads: UploadStats,
}

/// Many direct-connected printers uploading to one hub.
#[derive(Debug)]
pub struct DirectFleet {
    /// `None` only while a printer is lent to a flush task.
    printers: Vec<Option<DirectPrinter>>,
    hub: HubClient,
    now: Timestamp,
    /// Concurrent flushes at most.
    concurrency: usize,
}

impl DirectFleet {
    /// A fleet of `printers` starting at `start`, uploading to `hub`.
    pub fn new(printers: Vec<DirectPrinter>, hub: HubClient, start: Timestamp) -> Self {
        Self {
            printers: printers.into_iter().map(Some).collect(),
            hub,
            now: start,
            concurrency: 64,
        }
    }

    /// The printers of a fleet file, switched on at `start`.
    pub fn from_fleet_file(
        file: &FleetFile,
        hub: HubClient,
        start: Timestamp,
        options: &FleetOptions,
    ) -> Self {
        let printers = file
            .printers
            .iter()
            .map(|p| {
                let mut printer =
                    DirectPrinter::from_fleet(p, options.run_seed, start, options.device.clone());
                if let Some((initial, max)) = options.backoff {
                    printer.set_backoff(Backoff::new(
                        initial,
                        max,
                        derive_seed(options.run_seed, &p.serial_number),
                    ));
                }
                printer
            })
            .collect();
        Self::new(printers, hub, start)
    }

    /// The printers of several fleet files (e.g. one per site, see
    /// [`crate::fleet::provision_site`]), switched on at `start`, as one fleet.
    pub fn from_fleet_files(
        files: &[FleetFile],
        hub: HubClient,
        start: Timestamp,
        options: &FleetOptions,
    ) -> Self {
        let printers = files
            .iter()
            .flat_map(|f| f.printers.iter().cloned())
            .collect();
        let merged = FleetFile {
            hub: hub.base_url().to_owned(),
            reseller_id: serde_json::Value::Null,
            site_id: serde_json::Value::Null,
            account_name: String::new(),
            seed: options.run_seed,
            printers,
        };
        Self::from_fleet_file(&merged, hub, start, options)
    }

    /// Bring a fleet built at its original start instant back to where an
    /// earlier run left it, without sending anything; see [`DirectPrinter::replay`].
    pub fn replay(&mut self, stops: &[Timestamp], until: Timestamp, batch_seed: u64) {
        for p in self.printers.iter_mut().flatten() {
            p.replay(stops, until, batch_seed);
        }
        if until > self.now {
            self.now = until;
        }
    }

    /// The printers.
    pub fn printers(&self) -> impl Iterator<Item = &DirectPrinter> {
        self.printers.iter().flatten()
    }

    /// The shared devices (to serve them over LEDM as well).
    pub fn devices(&self) -> Vec<SharedPrinter> {
        self.printers().map(DirectPrinter::device).collect()
    }

    /// The simulated instant the fleet has reached.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Advance every printer to `now` and flush every outbox once (concurrently).
    pub async fn tick(&mut self, now: Timestamp) {
        if now > self.now {
            self.now = now;
        }
        for p in self.printers.iter_mut().flatten() {
            p.advance_to(self.now);
        }
        self.flush_all().await;
    }

    /// Simulate up to `end` in steps of `step`, flushing after every step.
    /// Deterministic in what the printers generate; uploads that fail stay queued.
    pub async fn run_until(&mut self, end: Timestamp, step: TimeDelta) {
        let step = step.max(TimeDelta::seconds(1));
        while self.now < end {
            let next = (self.now + step).min(end);
            self.tick(next).await;
        }
    }

    /// Have every printer queue a `Manual` upload of what its firmware still
    /// holds (see [`DirectPrinter::upload_pending`]); call [`drain`](Self::drain) after.
    pub fn upload_pending(&mut self) {
        for p in self.printers.iter_mut().flatten() {
            p.upload_pending();
        }
    }

    /// Keep flushing until every outbox is empty, waiting out backoffs; gives
    /// up after `timeout`. Returns the number of uploads still queued.
    pub async fn drain(&mut self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            self.flush_all().await;
            let queued = self.queued();
            if queued == 0 || Instant::now() >= deadline {
                return queued;
            }
            let wake = self
                .printers()
                .filter_map(|p| p.outbox().not_before())
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_millis(50))
                .min(deadline);
            tokio::time::sleep_until(wake.max(Instant::now() + Duration::from_millis(5))).await;
        }
    }

    /// Run in real time against `clock` until `until` (simulated) or until
    /// `shutdown` resolves, ticking every `tick` of real time; then try to
    /// deliver what is queued for up to `drain` more.
    pub async fn run_realtime(
        &mut self,
        clock: &dyn Clock,
        tick: Duration,
        until: Option<Timestamp>,
        drain: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = interval.tick() => {}
            }
            let now = match until {
                Some(end) => clock.now().min(end),
                None => clock.now(),
            };
            self.tick(now).await;
            if until.is_some_and(|end| now >= end) {
                break;
            }
        }
        // Deliver the jobs the triggers have not sent yet, so a run's every job reaches the hub.
        self.upload_pending();
        let left = self.drain(drain).await;
        if left > 0 {
            tracing::warn!(queued = left, "stopping with uploads still queued");
        }
    }

    /// Uploads waiting over all printers.
    pub fn queued(&self) -> usize {
        self.printers().map(|p| p.outbox().len()).sum()
    }

    /// Totals over the fleet.
    pub fn summary(&self) -> FleetSummary {
        let mut uploads = UploadStats::default();
        let mut jobs = 0;
        for p in self.printers() {
            let s = p.stats();
            uploads.produced += s.produced;
            uploads.delivered += s.delivered;
            uploads.duplicates += s.duplicates;
            uploads.retries += s.retries;
            uploads.reseals += s.reseals;
            uploads.rejected += s.rejected;
            uploads.alert_uploads += s.alert_uploads;
            uploads.jobs_accepted += s.jobs_accepted;
            uploads.jobs_duplicate += s.jobs_duplicate;
            jobs += lock(&p.device).ledger().len() as u64;
        }
        FleetSummary {
            printers: self.printers.len(),
            simulated_until: self.now,
            jobs_generated: jobs,
            queued: self.queued(),
            uploads,
        }
    }

    /// Flush every printer whose outbox is ready, at most `concurrency` at a time.
    /// Printers are lent to tasks and put back, so each outbox stays single-threaded.
    async fn flush_all(&mut self) {
        let now = Instant::now();
        let limit = Arc::new(tokio::sync::Semaphore::new(self.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for (i, slot) in self.printers.iter_mut().enumerate() {
            if !slot.as_ref().is_some_and(|p| p.outbox().is_ready(now)) {
                continue;
            }
            let Some(mut printer) = slot.take() else {
                continue;
            };
            let hub = self.hub.clone();
            let limit = Arc::clone(&limit);
            tasks.spawn(async move {
                // The semaphore is never closed, so acquiring cannot fail.
                let _permit = limit.acquire_owned().await;
                printer.flush(&hub).await;
                (i, printer)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((i, printer)) => self.printers[i] = Some(printer),
                // A flush task only panics on a bug; losing the printer would hide it.
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
    }
}
