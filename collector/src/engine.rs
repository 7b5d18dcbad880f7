//! The collector itself: poll cycles, job polls, delivery, remote configuration.
//!
//! ```text
//!            every job_poll_interval_s            every poll_interval_minutes
//! printers ──── job poll ────┐            ┌──── poll cycle: discovery, status, counters
//!                            v            v
//!                 job store (cursor + pending jobs, per printer, on disk)
//!                                         │ payload(s) <= 90 KB, sealed
//!                                         v
//!                                   spool (on disk) ── delivery, oldest first ──> hub
//!                                                        backoff + jitter, re-seal when stale
//! ```
//!
//! Three loops run concurrently in [`Collector::run`]: the poll cycle, the
//! job poll and maintenance (spool retries, the hourly configuration
//! check). Time comes from an injected [`Clock`](crate::clock::Clock), so tests can live
//! through days in seconds.
//!
//! Invariants:
//! - A job leaves a device's cursor only into the job store, and leaves the
//!   job store only into the spool; both moves are durable before the next
//!   step. So no job is lost, and the hub's job-UUID check catches the one
//!   repeat a crash between two steps can cause.
//! - The spool is delivered strictly oldest first; a failure stops the
//!   round, so batches arrive in the order they were made.
//! - Nothing the hub sends can make the collector write to a printer, talk
//!   to another hub or trust another certificate for the hub
//!   ([`CollectorConfig::merged_with_remote`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt as _;
use ppu_protocol::collector_config::{CollectorConfig, Endpoint};
use ppu_protocol::envelope::{self, Header, Limits, SenderKeys, SenderKind};
use ppu_protocol::{CollectorReport, Payload, PrinterReport, SkippedDevice, UploadTrigger};
use uuid::Uuid;

use crate::batch;
use crate::clock::SharedClock;
use crate::drivers::{self, Access, Identity, Job, ipp, ledm};
use crate::hub::{HubClient, HubError, HubSettings};
use crate::printer_client::{PrinterClient, PrinterError};
use crate::spool::{Spool, SpoolError};
use crate::state::{
    Credentials, CycleSummary, JobStore, PinStore, RejectedConfig, RemoteConfig, StateDir, Status,
};
use crate::tls::PrinterTls;

/// The agent name in every payload.
pub const AGENT: &str = concat!("ppu-collector/", env!("CARGO_PKG_VERSION"));

/// Re-seal a spooled envelope before sending when it is older than this:
/// the hub refuses timestamps more than 15 minutes off (PROTOCOL.md 8).
const RESEAL_AFTER: Duration = Duration::minutes(10);
/// The configuration is checked at least this often.
const CONFIG_CHECK_INTERVAL: Duration = Duration::hours(1);
/// First retry delay after a failed delivery; doubles up to [`BACKOFF_MAX`].
const BACKOFF_BASE: Duration = Duration::seconds(30);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::minutes(30);
/// Retry delay when the hub does not know the collector (401).
const BACKOFF_AUTH: Duration = Duration::hours(1);

/// The configuration in force and its version (0: the local file only).
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    /// The merged configuration.
    pub config: CollectorConfig,
    /// The hub's version of it.
    pub version: u64,
}

/// A printer found by the last poll cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownPrinter {
    /// Where it is.
    pub endpoint: Endpoint,
    /// Its serial number.
    pub serial: String,
    /// Its make and model.
    pub make_and_model: String,
    /// How its jobs are read.
    pub access: Access,
}

/// The outcome of one endpoint in a poll cycle.
#[derive(Debug)]
enum Probe {
    /// Nothing answered.
    Absent,
    /// A device that is not collected.
    Skipped(SkippedDevice),
    /// A collected printer.
    Collected {
        known: KnownPrinter,
        report: Box<PrinterReport>,
        missed: u64,
    },
}

#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    next_attempt: Option<DateTime<Utc>>,
}

/// What one delivery round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Envelopes acknowledged.
    pub delivered: u32,
    /// Their bytes.
    pub bytes: u64,
    /// Why the round stopped early, if it did.
    pub error: Option<String>,
}

/// The Data Collector.
#[derive(Debug)]
pub struct Collector {
    clock: SharedClock,
    state: StateDir,
    credentials: Credentials,
    keys: SenderKeys,
    local: CollectorConfig,
    effective: tokio::sync::watch::Sender<Arc<Effective>>,
    hub: RwLock<Arc<HubClient>>,
    tls: Arc<PrinterTls>,
    jobs: JobStore,
    spool: tokio::sync::Mutex<Spool>,
    backoff: Mutex<Backoff>,
    known: RwLock<Vec<KnownPrinter>>,
    status: Mutex<Status>,
    last_config_check: Mutex<Option<DateTime<Utc>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Collector {
    /// A collector for the enrolled state directory `state` with the local
    /// configuration `local` (already validated).
    ///
    /// # Errors
    /// When the collector is not enrolled, the configuration does not match
    /// the enrollment, or the state cannot be read.
    pub fn new(
        state: StateDir,
        local: CollectorConfig,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        local.validate()?;
        let credentials = state.credentials()?;
        let keys = credentials.keys()?;
        if credentials.account_name != local.account_name {
            anyhow::bail!(
                "the state directory {} is enrolled for account {:?}, but the configuration says {:?}",
                state.root().display(),
                credentials.account_name,
                local.account_name
            );
        }
        if local.hub_url()?.as_str()
            != ppu_protocol::collector_config::parse_hub_url(&credentials.hub_url)?.as_str()
        {
            anyhow::bail!(
                "the state directory {} is enrolled with the hub {}, but the configuration says {}",
                state.root().display(),
                credentials.hub_url,
                local.hub_url
            );
        }
        let mut status = state.status()?;
        let mut effective = Effective {
            config: local.clone(),
            version: 0,
        };
        if let Some(remote) = state.remote_config()? {
            let merged = local.merged_with_remote(&remote.config);
            match merged.validate() {
                Ok(()) => {
                    effective = Effective {
                        config: merged,
                        version: remote.version,
                    };
                }
                Err(e) => tracing::error!(
                    config_version = remote.version,
                    error = %e,
                    "stored hub configuration is invalid; using the local file"
                ),
            }
        }
        status.config_version = effective.version;
        let hub = HubClient::new(&HubSettings::of(&effective.config)?)?;
        let pins = Arc::new(PinStore::open(&state.pins_path())?);
        let jobs = JobStore::open(&state.printers_dir())?;
        let spool = Spool::open(&state.spool_dir(), effective.config.spool.max_bytes)?;
        Ok(Self {
            clock,
            credentials,
            keys,
            local,
            effective: tokio::sync::watch::Sender::new(Arc::new(effective)),
            hub: RwLock::new(Arc::new(hub)),
            tls: Arc::new(PrinterTls::new(Some(pins))),
            jobs,
            spool: tokio::sync::Mutex::new(spool),
            backoff: Mutex::new(Backoff::default()),
            known: RwLock::new(Vec::new()),
            status: Mutex::new(status),
            last_config_check: Mutex::new(None),
            state,
        })
    }

    /// The configuration in force.
    pub fn effective(&self) -> Arc<Effective> {
        self.effective.borrow().clone()
    }

    /// A receiver that sees every configuration change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Arc<Effective>> {
        self.effective.subscribe()
    }

    /// The collector id.
    pub fn collector_id(&self) -> &str {
        &self.credentials.collector_id
    }

    /// The current status.
    pub fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    /// Printers found by the last poll cycle.
    pub fn known_printers(&self) -> Vec<KnownPrinter> {
        self.known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn hub(&self) -> Arc<HubClient> {
        self.hub
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn save_status(&self) {
        let status = self.status();
        if let Err(e) = self.state.save_status(&status) {
            tracing::error!(error = %e, "cannot write status.json");
        }
    }

    fn seal(&self, payload: &Payload) -> Result<Vec<u8>, envelope::SealError> {
        let header = Header::new(
            SenderKind::Collector,
            self.credentials.collector_id.clone(),
            self.clock.wall_now(),
        );
        envelope::seal(&header, payload, &self.keys)
    }

    // -----------------------------------------------------------------------
    // Reading printers
    // -----------------------------------------------------------------------

    async fn probe(&self, endpoint: Endpoint, config: &CollectorConfig) -> Probe {
        let address = endpoint.address();
        let client = match PrinterClient::new(&endpoint, &self.tls, &config.network) {
            Ok(c) => c,
            Err(e) => {
                return Probe::Skipped(SkippedDevice {
                    address,
                    reason: e.to_string(),
                });
            }
        };
        let skipped = |reason: String| {
            tracing::info!(address = %client.address(), reason = %reason, "device skipped");
            Probe::Skipped(SkippedDevice {
                address: client.address(),
                reason,
            })
        };
        let identified = if endpoint.scheme.is_ipp() {
            ipp::identify(&client)
                .await
                .map(|(id, dev)| (id, Device::Ipp(dev)))
        } else {
            ledm::identify(&client)
                .await
                .map(|(id, dev)| (id, Device::Ledm(Box::new(dev))))
        };
        let (identity, device) = match identified {
            Ok(x) => x,
            Err(e) if e.is_absent() => return Probe::Absent,
            Err(e @ PrinterError::Status { .. }) if !endpoint.scheme.is_ipp() => {
                return skipped(format!("not an HP LEDM device ({e})"));
            }
            Err(e @ PrinterError::Protocol(_)) => {
                return skipped(format!("not a supported {} device ({e})", endpoint.scheme));
            }
            Err(e) => return skipped(e.to_string()),
        };
        let Some(_) = config.supported_model(&identity.make_and_model) else {
            let model = if identity.make_and_model.is_empty() {
                "(no make and model reported)"
            } else {
                identity.make_and_model.as_str()
            };
            return skipped(format!("unsupported model: {model}"));
        };
        let Some(serial) = identity
            .serial_number
            .clone()
            .filter(|s| !s.trim().is_empty())
        else {
            return skipped(format!(
                "{} reports no serial number",
                identity.make_and_model
            ));
        };
        // The device is a supported printer: keep its certificate.
        client.commit_pin(&self.tls);
        let now = self.clock.now();
        let report = match &device {
            Device::Ipp(d) => ipp::report(&d.attributes, &serial, now),
            Device::Ledm(d) => ledm::read(&client, d, &serial, now).await,
        };
        let known = KnownPrinter {
            serial: serial.clone(),
            make_and_model: identity.make_and_model.clone(),
            access: device.access(),
            endpoint,
        };
        let missed = self.read_jobs_of(&client, &known).await.unwrap_or(0);
        tracing::info!(
            address = %client.address(),
            serial_number = %serial,
            model = %identity.make_and_model,
            "printer collected"
        );
        Probe::Collected {
            known,
            report: Box::new(report),
            missed,
        }
    }

    /// Read `printer`'s new jobs into the job store. Returns the jobs the
    /// device no longer had.
    async fn read_jobs_of(&self, client: &PrinterClient, printer: &KnownPrinter) -> Option<u64> {
        let mut state = self.jobs.lock(&printer.serial).await;
        let read = match drivers::read_jobs(client, &printer.access, &printer.serial, &state.cursor)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(address = %client.address(), serial_number = %printer.serial, error = %e, "cannot read jobs");
                return None;
            }
        };
        if read.jobs.is_empty() && read.cursor == state.cursor && read.missed == 0 {
            return Some(0);
        }
        let before = state.clone();
        let added = state.append(read.jobs);
        state.cursor = read.cursor;
        state.missed += read.missed;
        if read.missed > 0 {
            tracing::error!(
                address = %client.address(),
                serial_number = %printer.serial,
                missed = read.missed,
                "jobs were purged by the printer before they could be read; poll jobs more often"
            );
        }
        // Cursor and jobs are committed together, or not at all.
        if let Err(e) = self.jobs.save(&state) {
            tracing::error!(serial_number = %printer.serial, error = %e, "cannot save jobs; they will be read again");
            *state = before;
            return None;
        }
        if added > 0 {
            tracing::debug!(serial_number = %printer.serial, jobs = added, "jobs read");
        }
        Some(read.missed)
    }

    /// Read the new jobs of every printer found by the last poll cycle.
    /// Returns the number of jobs now waiting for the next upload.
    pub async fn job_poll(&self) -> usize {
        let config = self.effective().config.clone();
        let printers = self.known_printers();
        let concurrency = config.network.concurrency as usize;
        futures_util::stream::iter(printers)
            .for_each_concurrent(concurrency, |p| {
                let config = &config;
                async move {
                    match PrinterClient::new(&p.endpoint, &self.tls, &config.network) {
                        Ok(client) => {
                            self.read_jobs_of(&client, &p).await;
                        }
                        Err(e) => tracing::warn!(address = %p.endpoint.address(), error = %e, "cannot reach printer"),
                    }
                }
            })
            .await;
        let mut pending = 0;
        for serial in self.jobs.serials() {
            pending += self.jobs.lock(&serial).await.pending.len();
        }
        pending
    }

    // -----------------------------------------------------------------------
    // The poll cycle
    // -----------------------------------------------------------------------

    /// One poll cycle: find and read every printer, put everything new into
    /// envelopes (spooled), then deliver the spool.
    ///
    /// # Errors
    /// Only for problems that stop the cycle as a whole (an invalid
    /// configuration, a spool that cannot be written); unreachable printers
    /// and an unreachable hub are part of the summary.
    pub async fn poll_cycle(&self) -> anyhow::Result<CycleSummary> {
        let started_at = self.clock.now();
        let timer = Instant::now();
        let effective = self.effective();
        let config = effective.config.clone();
        let endpoints = config.endpoints()?;
        tracing::info!(
            endpoints = endpoints.len(),
            config_version = effective.version,
            "poll cycle started"
        );
        if endpoints.is_empty() {
            tracing::warn!("the configuration has no targets: nothing to collect");
        }
        let mut summary = CycleSummary {
            started_at: Some(started_at),
            endpoints: u32::try_from(endpoints.len()).unwrap_or(u32::MAX),
            ..CycleSummary::default()
        };
        let probes: Vec<Probe> = futures_util::stream::iter(endpoints)
            .map(|e| self.probe(e, &config))
            .buffered(config.network.concurrency as usize)
            .collect()
            .await;

        let mut known: Vec<KnownPrinter> = Vec::new();
        let mut reports: Vec<PrinterReport> = Vec::new();
        let mut seen_serials: HashMap<String, String> = HashMap::new();
        for probe in probes {
            match probe {
                Probe::Absent => {}
                Probe::Skipped(s) => {
                    summary.found += 1;
                    summary.skipped.push(s);
                }
                Probe::Collected {
                    known: k,
                    report,
                    missed,
                } => {
                    summary.found += 1;
                    let address = k.endpoint.address();
                    if let Some(first) = seen_serials.get(&k.serial) {
                        summary.skipped.push(SkippedDevice {
                            address,
                            reason: format!("same printer ({}) as {first}", k.serial),
                        });
                        continue;
                    }
                    seen_serials.insert(k.serial.clone(), address);
                    summary.collected += 1;
                    summary.missed_jobs += missed;
                    reports.push(*report);
                    known.push(k);
                }
            }
        }
        *self
            .known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = known;

        // Pending jobs of every printer, including ones not reachable now.
        let mut by_serial: HashMap<String, usize> = reports
            .iter()
            .enumerate()
            .map(|(i, r)| (r.serial_number.clone(), i))
            .collect();
        let now = self.clock.now();
        for serial in self.jobs.serials() {
            let state = self.jobs.lock(&serial).await;
            if state.pending.is_empty() {
                continue;
            }
            let i = *by_serial.entry(serial.clone()).or_insert_with(|| {
                reports.push(PrinterReport::new(serial.clone(), now));
                reports.len() - 1
            });
            for job in state.pending.iter().cloned() {
                job.push_into(&mut reports[i]);
            }
        }
        summary.jobs = u32::try_from(reports.iter().map(PrinterReport::job_count).sum::<usize>())
            .unwrap_or(u32::MAX);

        let (spool_entries, spool_bytes) = {
            let spool = self.spool.lock().await;
            (spool.len(), spool.bytes())
        };
        let report = CollectorReport {
            config_version: effective.version,
            poll_started_at: Some(started_at),
            poll_duration_ms: u64::try_from(timer.elapsed().as_millis()).unwrap_or(u64::MAX),
            devices_found: summary.found,
            skipped: summary.skipped.clone(),
            spool_entries: u32::try_from(spool_entries).unwrap_or(u32::MAX),
            spool_bytes,
            spool_full: lock(&self.status).spool_full_unreported,
        };
        let mut payload = Payload::new(Uuid::new_v4(), AGENT, now, UploadTrigger::Scheduled);
        payload.printers = reports;
        payload.collector = Some(report);
        let parts = batch::split(
            payload,
            batch::MAX_ENVELOPE_BYTES,
            &self.credentials.collector_id,
            &self.keys,
            now,
        )?;
        for part in parts {
            match self.spool_payload(&part).await {
                Ok(()) => {
                    summary.envelopes += 1;
                    summary.batch_ids.push(part.batch_id);
                }
                Err(SpoolError::Full { used, limit, .. }) => {
                    summary.spool_full = true;
                    let mut status = lock(&self.status);
                    status.spool_full_since.get_or_insert(now);
                    status.spool_full_unreported = true;
                    tracing::error!(
                        used_bytes = used,
                        limit_bytes = limit,
                        "spool full: the hub has not acknowledged uploads for a long time; new jobs stay in the job store and on the printers, nothing is dropped"
                    );
                    break;
                }
                Err(SpoolError::Io(e)) => return Err(e.into()),
            }
        }
        if !summary.spool_full {
            lock(&self.status).spool_full_since = None;
        }

        let delivery = self.deliver(true).await;
        summary.delivered = delivery.delivered;
        summary.bytes_sent = delivery.bytes;
        summary.duration_ms = u64::try_from(timer.elapsed().as_millis()).unwrap_or(u64::MAX);
        lock(&self.status).last_poll = Some(summary.clone());
        self.save_status();
        let spool = self.spool.lock().await;
        tracing::info!(
            found = summary.found,
            collected = summary.collected,
            skipped = summary.skipped.len(),
            jobs = summary.jobs,
            envelopes = summary.envelopes,
            delivered = summary.delivered,
            bytes_sent = summary.bytes_sent,
            spool_entries = spool.len(),
            spool_bytes = spool.bytes(),
            duration_ms = summary.duration_ms,
            "poll cycle finished"
        );
        Ok(summary)
    }

    /// Seal `payload`, write it to the spool, then take its jobs out of the
    /// job store.
    async fn spool_payload(&self, payload: &Payload) -> Result<(), SpoolError> {
        let sealed = self
            .seal(payload)
            .map_err(|e| SpoolError::Io(std::io::Error::other(e.to_string())))?;
        self.spool.lock().await.push(payload.batch_id, &sealed)?;
        for report in &payload.printers {
            let sent: HashSet<Uuid> = report
                .print_jobs
                .iter()
                .map(|j| j.job.uuid)
                .chain(report.scan_jobs.iter().map(|j| j.job.uuid))
                .chain(report.copy_jobs.iter().map(|j| j.job.uuid))
                .collect();
            if sent.is_empty() {
                continue;
            }
            let mut state = self.jobs.lock(&report.serial_number).await;
            state.remove(&sent);
            state.missed = 0;
            if let Err(e) = self.jobs.save(&state) {
                // The jobs are in the spool and still in the job store: they
                // will be sent again and the hub counts them once.
                tracing::error!(serial_number = %report.serial_number, error = %e, "cannot update the job store");
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Delivery
    // -----------------------------------------------------------------------

    fn backoff_after_failure(&self, err: &HubError, now: DateTime<Utc>) {
        let mut b = lock(&self.backoff);
        b.failures = b.failures.saturating_add(1);
        let exp = BACKOFF_BASE * 2i32.saturating_pow(b.failures.saturating_sub(1).min(10));
        let mut delay = exp.min(BACKOFF_MAX);
        if matches!(err.status(), Some(401)) {
            delay = BACKOFF_AUTH;
        }
        if let HubError::Status {
            retry_after: Some(s),
            ..
        } = err
        {
            delay = delay.max(Duration::seconds(i64::try_from(*s).unwrap_or(0)));
        }
        // Up to +20 % jitter, so that collectors that lost the hub together
        // do not all come back in the same second.
        let jitter_ms = rand::random_range(0..=delay.num_milliseconds().max(1) / 5);
        b.next_attempt = Some(now + delay + Duration::milliseconds(jitter_ms));
    }

    /// When the next delivery attempt is due (`None`: now).
    pub fn next_delivery_at(&self) -> Option<DateTime<Utc>> {
        lock(&self.backoff).next_attempt
    }

    fn reseal(&self, envelope_bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        // Our own envelope, so the limits are the protocol's maximum.
        let limits = Limits::default();
        let (_, msgpack) = envelope::open_bytes(envelope_bytes, &self.keys, &limits)?;
        let header = Header::new(
            SenderKind::Collector,
            self.credentials.collector_id.clone(),
            self.clock.wall_now(),
        );
        Ok(envelope::seal_bytes(&header, &msgpack, &self.keys)?)
    }

    /// Send the spool, oldest first, until it is empty or an attempt fails.
    /// Without `force`, nothing is sent before the backoff delay passed.
    pub async fn deliver(&self, force: bool) -> Delivery {
        let mut out = Delivery::default();
        let now = self.clock.now();
        if !force && lock(&self.backoff).next_attempt.is_some_and(|t| now < t) {
            return out;
        }
        let mut spool = self.spool.lock().await;
        let mut config_version = None;
        let mut resealed_for: Option<u64> = None;
        loop {
            let entry = match spool.oldest() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the spool");
                    out.error = Some(e.to_string());
                    break;
                }
            };
            let now = self.clock.wall_now();
            let mut bytes = entry.envelope;
            let stale = envelope::peek_header(&bytes, &Limits::default())
                .map(|h| now - h.timestamp > RESEAL_AFTER || h.timestamp - now > RESEAL_AFTER)
                .unwrap_or(true);
            if stale {
                match self.reseal(&bytes) {
                    Ok(fresh) => {
                        if let Err(e) = spool.replace(entry.seq, &fresh) {
                            tracing::error!(error = %e, "cannot rewrite a spooled envelope");
                        }
                        tracing::debug!(batch_id = %entry.batch_id, "spooled envelope sealed again");
                        bytes = fresh;
                    }
                    Err(e) => {
                        tracing::error!(batch_id = %entry.batch_id, error = %e, "cannot open a spooled envelope; moved to spool/rejected");
                        let _ = spool.reject(entry.seq, &format!("cannot be sealed again: {e}"));
                        continue;
                    }
                }
            }
            let size = bytes.len() as u64;
            let original = bytes.clone();
            lock(&self.status).last_attempt_at = Some(now);
            match self.hub().ingest(bytes).await {
                Ok(resp) => {
                    if let Err(e) = spool.remove(entry.seq) {
                        tracing::error!(error = %e, "cannot remove a delivered envelope from the spool");
                    }
                    out.delivered += 1;
                    out.bytes += size;
                    for r in &resp.rejected_printers {
                        tracing::warn!(serial_number = %r.serial_number, code = %r.code, message = %r.message, "hub refused a printer report");
                    }
                    tracing::info!(
                        batch_id = %entry.batch_id,
                        upload_id = %resp.upload_id,
                        duplicate = resp.duplicate,
                        jobs = resp.accepted.jobs(),
                        bytes = size,
                        "upload acknowledged"
                    );
                    *lock(&self.backoff) = Backoff::default();
                    let mut status = lock(&self.status);
                    status.last_upload_at = Some(now);
                    status.last_error = None;
                    status.spool_full_unreported = false;
                    config_version = Some(resp.config_version);
                }
                Err(
                    e @ HubError::Status {
                        status: 422 | 409, ..
                    },
                ) if resealed_for != Some(entry.seq) => {
                    // Stale timestamp or reused nonce: seal the same payload
                    // again (same batch id) and retry once at once.
                    tracing::info!(batch_id = %entry.batch_id, error = %e, "sealing again");
                    resealed_for = Some(entry.seq);
                    match self.reseal(&original) {
                        Ok(fresh) => {
                            if let Err(io) = spool.replace(entry.seq, &fresh) {
                                tracing::error!(error = %io, "cannot rewrite a spooled envelope");
                                out.error = Some(io.to_string());
                                break;
                            }
                        }
                        Err(err) => {
                            tracing::error!(batch_id = %entry.batch_id, error = %err, "cannot open a spooled envelope; moved to spool/rejected");
                            let _ =
                                spool.reject(entry.seq, &format!("cannot be sealed again: {err}"));
                        }
                    }
                }
                Err(
                    e @ HubError::Status {
                        status: 400 | 413 | 415,
                        ..
                    },
                ) => {
                    // No retry can fix these; keep the data aside, loudly.
                    tracing::error!(batch_id = %entry.batch_id, error = %e, "hub refused an envelope for good; moved to spool/rejected");
                    if let Err(io) = spool.reject(entry.seq, &e.to_string()) {
                        tracing::error!(error = %io, "cannot move the envelope aside");
                        out.error = Some(e.to_string());
                        break;
                    }
                }
                Err(e @ HubError::Status { status: 422, .. }) => {
                    tracing::error!(batch_id = %entry.batch_id, error = %e, "the hub refuses the timestamp even after sealing again: check this machine's clock (ntp)");
                    self.backoff_after_failure(&e, now);
                    lock(&self.status).last_error = Some(format!("{e}; check the clock"));
                    out.error = Some(e.to_string());
                    break;
                }
                Err(e) => {
                    tracing::warn!(batch_id = %entry.batch_id, error = %e, spool_entries = spool.len(), "upload failed; kept in the spool");
                    self.backoff_after_failure(&e, now);
                    lock(&self.status).last_error = Some(e.to_string());
                    out.error = Some(e.to_string());
                    break;
                }
            }
        }
        drop(spool);
        self.save_status();
        if let Some(v) = config_version
            && v != self.effective().version
        {
            let _ = self.refresh_config().await;
        }
        out
    }

    // -----------------------------------------------------------------------
    // Remote configuration
    // -----------------------------------------------------------------------

    /// Fetch the configuration from the hub and apply it when its version
    /// differs. Returns whether a new configuration is now in force.
    ///
    /// # Errors
    /// When the hub cannot be asked; an invalid configuration is not an
    /// error (it is refused, logged and kept in the status).
    pub async fn refresh_config(&self) -> Result<bool, HubError> {
        let now = self.clock.now();
        *lock(&self.last_config_check) = Some(now);
        let mut probe = Payload::new(Uuid::new_v4(), AGENT, now, UploadTrigger::Manual);
        probe.printers = Vec::new();
        let sealed = self
            .seal(&probe)
            .map_err(|e| HubError::Protocol(e.to_string()))?;
        let answer = self.hub().config(sealed).await?;
        let current = self.effective();
        if answer.config_version == current.version {
            return Ok(false);
        }
        let Some(json) = answer.config else {
            return Ok(false);
        };
        let rejected = |error: String| {
            tracing::error!(
                config_version = answer.config_version,
                error = %error,
                "configuration from the hub refused; keeping the last good one"
            );
            let mut status = lock(&self.status);
            status.rejected_config = Some(RejectedConfig {
                version: answer.config_version,
                error,
                at: now,
            });
        };
        let remote = match CollectorConfig::from_json_value(json) {
            Ok(c) => c,
            Err(e) => {
                rejected(e.to_string());
                self.save_status();
                return Ok(false);
            }
        };
        let merged = self.local.merged_with_remote(&remote);
        if let Err(e) = merged.validate() {
            rejected(e.to_string());
            self.save_status();
            return Ok(false);
        }
        let settings = HubSettings::of(&merged)?;
        if &settings != self.hub().settings() {
            match HubClient::new(&settings) {
                Ok(client) => {
                    *self
                        .hub
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(client);
                }
                Err(e) => {
                    rejected(e.to_string());
                    self.save_status();
                    return Ok(false);
                }
            }
        }
        if let Err(e) = self.state.save_remote_config(&RemoteConfig {
            version: answer.config_version,
            config: remote,
        }) {
            tracing::error!(error = %e, "cannot store the configuration from the hub; applying it for this run");
        }
        self.spool
            .lock()
            .await
            .set_max_bytes(merged.spool.max_bytes);
        {
            let mut status = lock(&self.status);
            status.config_version = answer.config_version;
            status.rejected_config = None;
        }
        self.save_status();
        tracing::info!(
            config_version = answer.config_version,
            previous_version = current.version,
            targets = merged.targets.len(),
            poll_interval_minutes = merged.poll_interval_minutes,
            "configuration from the hub applied"
        );
        self.effective.send_replace(Arc::new(Effective {
            config: merged,
            version: answer.config_version,
        }));
        Ok(true)
    }

    // -----------------------------------------------------------------------
    // Run loop
    // -----------------------------------------------------------------------

    /// Run until `shutdown` completes: a poll cycle at once and then every
    /// poll interval, job polls every job poll interval, spool retries and
    /// an hourly configuration check in between.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let loops = async {
            tokio::join!(
                self.cycle_loop(stop_rx.clone()),
                self.job_loop(stop_rx.clone()),
                self.maintenance_loop(stop_rx.clone()),
            );
        };
        tokio::pin!(loops);
        tokio::select! {
            () = &mut loops => {}
            () = shutdown => {
                tracing::info!("stopping");
                let _ = stop_tx.send(true);
                loops.await;
            }
        }
    }

    /// Sleep until `deadline`, a configuration change or a stop. Returns
    /// `false` on stop.
    async fn wait(
        &self,
        deadline: DateTime<Utc>,
        stop: &mut tokio::sync::watch::Receiver<bool>,
        config: &mut tokio::sync::watch::Receiver<Arc<Effective>>,
    ) -> bool {
        let changed = tokio::select! {
            () = self.clock.sleep_until(deadline) => true,
            _ = stop.wait_for(|s| *s) => return false,
            _ = config.changed() => true,
        };
        changed && !*stop.borrow()
    }

    async fn cycle_loop(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut config = self.subscribe();
        let mut last_start: Option<DateTime<Utc>> = None;
        loop {
            let interval = Duration::minutes(i64::from(
                config.borrow_and_update().config.poll_interval_minutes,
            ));
            let due = last_start.map_or_else(|| self.clock.now(), |t| t + interval);
            if self.clock.now() < due {
                if !self.wait(due, &mut stop, &mut config).await {
                    return;
                }
                continue;
            }
            last_start = Some(self.clock.now());
            if let Err(e) = self.poll_cycle().await {
                tracing::error!(error = %e, "poll cycle failed");
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    async fn job_loop(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut config = self.subscribe();
        let mut last: Option<DateTime<Utc>> = None;
        loop {
            let interval = Duration::seconds(i64::from(
                config.borrow_and_update().config.job_poll_interval_s,
            ));
            let due = last.map_or_else(|| self.clock.now() + interval, |t| t + interval);
            if self.clock.now() < due {
                if !self.wait(due, &mut stop, &mut config).await {
                    return;
                }
                continue;
            }
            last = Some(self.clock.now());
            self.job_poll().await;
        }
    }

    async fn maintenance_loop(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut config = self.subscribe();
        loop {
            let now = self.clock.now();
            let config_due =
                lock(&self.last_config_check).map_or(now, |t| t + CONFIG_CHECK_INTERVAL);
            let pending = !self.spool.lock().await.is_empty();
            let delivery_due = self.next_delivery_at().filter(|_| pending);
            if now >= config_due {
                if let Err(e) = self.refresh_config().await {
                    tracing::warn!(error = %e, "configuration check failed");
                }
                continue;
            }
            if let Some(t) = delivery_due
                && now >= t
            {
                self.deliver(false).await;
                continue;
            }
            let deadline = delivery_due.map_or(config_due, |t| t.min(config_due));
            if !self.wait(deadline, &mut stop, &mut config).await {
                return;
            }
        }
    }
}

/// What identification produced, per driver.
#[derive(Debug)]
enum Device {
    Ipp(ipp::IppDevice),
    Ledm(Box<ledm::LedmDevice>),
}

impl Device {
    fn access(&self) -> Access {
        match self {
            Self::Ipp(d) => d.access(),
            Self::Ledm(d) => d.access(),
        }
    }
}

/// What `ppu-collector probe` prints.
#[derive(Debug, serde::Serialize)]
pub struct ProbeResult {
    /// `ip:port`.
    pub address: String,
    /// The protocol used.
    pub scheme: String,
    /// SHA-256 of the certificate the device presented (TLS only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_sha256: Option<String>,
    /// What the device says it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// The supported-model entry it matches, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supported_as: Option<String>,
    /// Why it would not be collected, if it would not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The report the collector would upload (jobs below).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<PrinterReport>,
    /// Jobs the device currently offers.
    pub jobs_available: usize,
    /// The most recent of them (at most 10).
    pub recent_jobs: Vec<Job>,
}

/// Read one printer as a poll cycle would, without storing anything
/// (certificates are accepted and shown, not pinned).
///
/// # Errors
/// When nothing answers at the endpoint.
pub async fn probe(endpoint: Endpoint, config: &CollectorConfig) -> anyhow::Result<ProbeResult> {
    let tls = PrinterTls::new(None);
    let client = PrinterClient::new(&endpoint, &tls, &config.network)?;
    let mut out = ProbeResult {
        address: endpoint.address(),
        scheme: endpoint.scheme.to_string(),
        certificate_sha256: None,
        identity: None,
        supported_as: None,
        skipped: None,
        report: None,
        jobs_available: 0,
        recent_jobs: Vec::new(),
    };
    let identified = if endpoint.scheme.is_ipp() {
        ipp::identify(&client)
            .await
            .map(|(id, d)| (id, Device::Ipp(d)))
    } else {
        ledm::identify(&client)
            .await
            .map(|(id, d)| (id, Device::Ledm(Box::new(d))))
    };
    out.certificate_sha256 = client.presented_fingerprint().map(hex::encode);
    let (identity, device) = match identified {
        Ok(x) => x,
        Err(e) if e.is_absent() => anyhow::bail!("nothing answers at {}: {e}", endpoint.address()),
        Err(e) => {
            out.skipped = Some(e.to_string());
            return Ok(out);
        }
    };
    out.supported_as = config
        .supported_model(&identity.make_and_model)
        .map(str::to_owned);
    if out.supported_as.is_none() {
        out.skipped = Some(format!("unsupported model: {}", identity.make_and_model));
    }
    let serial = identity.serial_number.clone().unwrap_or_default();
    let now = Utc::now();
    out.report = Some(match &device {
        Device::Ipp(d) => ipp::report(&d.attributes, &serial, now),
        Device::Ledm(d) => ledm::read(&client, d, &serial, now).await,
    });
    match drivers::read_jobs(&client, &device.access(), &serial, &Default::default()).await {
        Ok(read) => {
            out.jobs_available = read.jobs.len();
            let skip = read.jobs.len().saturating_sub(10);
            out.recent_jobs = read.jobs.into_iter().skip(skip).collect();
        }
        Err(e) => tracing::warn!(error = %e, "cannot read jobs"),
    }
    out.identity = Some(identity);
    Ok(out)
}
