//! Direct-connection firmware: when a printer uploads and what, as pure logic.
//!
//! The white paper's rules: a direct-connected printer uploads **every 3
//! hours, every 19 jobs or every 100 pages, whichever comes first**, and
//! sends **high-severity alerts at once when detected, also while booting**.
//! Failed uploads are kept in order and retried with backoff, never dropped.
//!
//! Everything here is synchronous and free of I/O:
//! - [`UploadTriggers`]: the three usage triggers (unit-tested at their boundaries);
//! - [`Firmware`]: watches a [`VirtualPrinter`]'s events and produces the
//!   payloads to upload ([`Firmware::run_until`]);
//! - [`Outbox`] and [`Backoff`]: the ordered retry queue; the HTTP side
//!   ([`crate::direct`]) only reports outcomes to it.
//!
//! # What an upload contains
//! - *Usage uploads* (`Scheduled`, `Jobs`, `Pages`): configuration, status,
//!   lifetime counters, the alert table plus alerts cleared since the last
//!   usage upload (`active: false`), and every job finished since the last
//!   usage upload. They reset the triggers.
//! - *Alert uploads* (`Alert`, or `Boot` when detected while booting):
//!   configuration, status and the alert table; no counters, no jobs, and the
//!   triggers keep running. They are produced before anything else of the
//!   same instant, so a boot-time alert goes out before any usage upload.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::TimeDelta;
use ppu_protocol::{DeviceAlert, Payload, Timestamp, UploadTrigger};

use crate::device::{Event, JobRecord, VirtualPrinter};
use crate::rng::SimRng;

/// The upload rules of the direct-connection firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwarePolicy {
    /// Longest time between usage uploads.
    pub interval: TimeDelta,
    /// Upload after this many jobs.
    pub max_jobs: u32,
    /// Upload after this many printed pages.
    pub max_pages: u64,
}

impl Default for FirmwarePolicy {
    /// The white paper's values: 3 hours, 19 jobs, 100 pages.
    fn default() -> Self {
        Self {
            interval: TimeDelta::hours(3),
            max_jobs: 19,
            max_pages: 100,
        }
    }
}

/// The usage-upload triggers since the last usage upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTriggers {
    policy: FirmwarePolicy,
    last_upload_at: Timestamp,
    jobs: u32,
    pages: u64,
}

impl UploadTriggers {
    /// Triggers counting from `started_at` (boot time or last upload).
    pub fn new(policy: FirmwarePolicy, started_at: Timestamp) -> Self {
        Self {
            policy,
            last_upload_at: started_at,
            jobs: 0,
            pages: 0,
        }
    }

    /// Count a finished job with `pages` printed pages; returns the trigger
    /// when this job reaches the job or page threshold (jobs win a tie).
    pub fn record_job(&mut self, pages: u64) -> Option<UploadTrigger> {
        self.jobs += 1;
        self.pages += pages;
        if self.jobs >= self.policy.max_jobs {
            Some(UploadTrigger::Jobs)
        } else if self.pages >= self.policy.max_pages {
            Some(UploadTrigger::Pages)
        } else {
            None
        }
    }

    /// When the interval trigger fires.
    pub fn due_at(&self) -> Timestamp {
        self.last_upload_at + self.policy.interval
    }

    /// Whether the interval has elapsed at `now`.
    pub fn is_due(&self, now: Timestamp) -> bool {
        now >= self.due_at()
    }

    /// A usage upload was produced at `at`: start counting again.
    pub fn reset(&mut self, at: Timestamp) {
        self.last_upload_at = at;
        self.jobs = 0;
        self.pages = 0;
    }

    /// Jobs counted since the last usage upload.
    pub fn jobs(&self) -> u32 {
        self.jobs
    }

    /// Pages counted since the last usage upload.
    pub fn pages(&self) -> u64 {
        self.pages
    }
}

/// The firmware's upload logic for one printer.
#[derive(Debug, Clone)]
pub struct Firmware {
    triggers: UploadTriggers,
    agent: String,
    started_at: Timestamp,
    /// Jobs finished since the last usage upload.
    pending_jobs: Vec<JobRecord>,
    /// Alerts that cleared since the last usage upload.
    cleared_alerts: Vec<DeviceAlert>,
    /// Source of batch ids, seeded so that a simulation's payloads are reproducible.
    rng: SimRng,
}

impl Firmware {
    /// Firmware of a printer that is switched on at `started_at`; `seed`
    /// fixes the payloads' batch ids.
    pub fn new(policy: FirmwarePolicy, started_at: Timestamp, seed: u64) -> Self {
        Self {
            triggers: UploadTriggers::new(policy, started_at),
            agent: format!("ppu-sim-firmware/{}", env!("CARGO_PKG_VERSION")),
            started_at,
            pending_jobs: Vec::new(),
            cleared_alerts: Vec::new(),
            rng: SimRng::new(seed),
        }
    }

    /// The usage triggers.
    pub fn triggers(&self) -> &UploadTriggers {
        &self.triggers
    }

    /// Draw later batch ids from `seed`. A resumed simulation (see
    /// [`crate::direct::DirectFleet::replay`]) must not reuse the batch ids of
    /// an earlier run: the hub answers `duplicate` to a known batch id whatever
    /// the payload holds.
    pub fn reseed_batch_ids(&mut self, seed: u64) {
        self.rng = SimRng::new(seed);
    }

    /// Jobs waiting for the next usage upload.
    pub fn pending_jobs(&self) -> &[JobRecord] {
        &self.pending_jobs
    }

    /// Simulate `device` up to `now` and return every payload the firmware
    /// uploads on the way, in order. Boots the device at the firmware's start
    /// time first if it is still off.
    ///
    /// The device is stepped one occurrence at a time and never past the
    /// interval deadline, so each upload sees the counters of its instant.
    pub fn run_until(&mut self, device: &mut VirtualPrinter, now: Timestamp) -> Vec<Payload> {
        let mut out = Vec::new();
        if !device.is_booted() {
            let events = device.boot(self.started_at);
            out.extend(self.observe(&events, device));
        }
        loop {
            let deadline = self.triggers.due_at();
            let limit = deadline.min(now);
            match device.step(limit) {
                Some(events) => out.extend(self.observe(&events, device)),
                None if limit == deadline => {
                    out.push(self.usage_upload(UploadTrigger::Scheduled, deadline, device))
                }
                None => break,
            }
        }
        out
    }

    /// Produce a usage upload now (trigger `Manual`) with everything pending,
    /// e.g. at the end of a simulation so that every generated job is delivered.
    /// The device must already be simulated up to `at`.
    pub fn upload_now(&mut self, device: &VirtualPrinter, at: Timestamp) -> Payload {
        self.usage_upload(UploadTrigger::Manual, at, device)
    }

    /// Handle the events of one device step (all of the same instant) and
    /// return the payloads they cause: first an alert upload when a
    /// high-severity alert was raised, then a usage upload when a trigger fired.
    pub fn observe(&mut self, events: &[Event], device: &VirtualPrinter) -> Vec<Payload> {
        let Some(at) = events.first().map(Event::at) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let high: Vec<&DeviceAlert> = events
            .iter()
            .filter_map(|e| match e {
                Event::AlertRaised(a) if a.severity.is_high() => Some(a),
                _ => None,
            })
            .collect();
        if !high.is_empty() {
            let trigger = if high.iter().any(|a| a.during_boot) {
                UploadTrigger::Boot
            } else {
                UploadTrigger::Alert
            };
            out.push(self.alert_upload(trigger, at, device));
        }
        let mut fired = None;
        for e in events {
            match e {
                Event::Job(job) => {
                    let trigger = self.triggers.record_job(job.pages());
                    self.pending_jobs.push((**job).clone());
                    fired = fired.or(trigger);
                }
                Event::AlertCleared { alert, .. } => self.cleared_alerts.push(alert.clone()),
                _ => {}
            }
        }
        if let Some(trigger) = fired {
            out.push(self.usage_upload(trigger, at, device));
        } else if self.triggers.is_due(at) {
            out.push(self.usage_upload(UploadTrigger::Scheduled, at, device));
        }
        out
    }

    fn alert_upload(
        &mut self,
        trigger: UploadTrigger,
        at: Timestamp,
        device: &VirtualPrinter,
    ) -> Payload {
        let mut report = device.report(at);
        report.counters = None;
        let mut payload = Payload::new(self.rng.uuid(), self.agent.clone(), at, trigger);
        payload.printers.push(report);
        payload
    }

    fn usage_upload(
        &mut self,
        trigger: UploadTrigger,
        at: Timestamp,
        device: &VirtualPrinter,
    ) -> Payload {
        self.triggers.reset(at);
        let mut report = device.report(at);
        report.alerts.append(&mut self.cleared_alerts);
        for job in self.pending_jobs.drain(..) {
            job.push_into(&mut report);
        }
        let mut payload = Payload::new(self.rng.uuid(), self.agent.clone(), at, trigger);
        payload.printers.push(report);
        payload
    }
}

// ---------------------------------------------------------------------------
// Retry queue
// ---------------------------------------------------------------------------

/// Exponential backoff with jitter between upload attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    failures: u32,
    rng: SimRng,
}

impl Backoff {
    /// Backoff from `initial` doubling up to `max`; `seed` fixes the jitter.
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        Self {
            initial,
            max,
            failures: 0,
            rng: SimRng::new(seed),
        }
    }

    /// The delay after one more failure: `initial x 2^(failures-1)`, capped,
    /// then scaled by a random factor in `[0.5, 1.0]` so that a fleet does not
    /// retry in lockstep.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let exp = self.failures.saturating_sub(1).min(20);
        let base = self.initial.saturating_mul(1 << exp).min(self.max);
        base.mul_f64(0.5 + self.rng.unit() / 2.0)
    }

    /// Start over after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

impl Default for Backoff {
    /// 1 s doubling up to 60 s.
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(60), 0)
    }
}

/// An entry the hub refused for good, kept for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected<T> {
    /// The refused entry.
    pub item: T,
    /// HTTP status.
    pub status: u16,
    /// The hub's explanation (error code and message when it sent one).
    pub reason: String,
}

/// Ordered queue of uploads waiting to be delivered.
///
/// Only the head is ever sent, so uploads arrive in the order they were
/// produced. A retryable failure keeps the head (same bytes) and delays the
/// next attempt; a permanent failure moves the head to [`Outbox::rejected`].
/// Nothing is ever dropped.
#[derive(Debug, Clone)]
pub struct Outbox<T> {
    queue: VecDeque<T>,
    rejected: Vec<Rejected<T>>,
    backoff: Backoff,
    not_before: Option<tokio::time::Instant>,
    delivered: u64,
    retries: u64,
}

impl<T> Outbox<T> {
    /// An empty outbox using `backoff` between failed attempts.
    pub fn new(backoff: Backoff) -> Self {
        Self {
            queue: VecDeque::new(),
            rejected: Vec::new(),
            backoff,
            not_before: None,
            delivered: 0,
            retries: 0,
        }
    }

    /// Queue an upload behind the others.
    pub fn push(&mut self, item: T) {
        self.queue.push_back(item);
    }

    /// The upload to send next.
    pub fn head(&self) -> Option<&T> {
        self.queue.front()
    }

    /// Mutable access to the head (to re-seal an envelope whose timestamp the hub found stale).
    pub fn head_mut(&mut self) -> Option<&mut T> {
        self.queue.front_mut()
    }

    /// Whether the head may be sent at `now` (there is one and no backoff is pending).
    pub fn is_ready(&self, now: tokio::time::Instant) -> bool {
        !self.queue.is_empty() && self.not_before.is_none_or(|t| now >= t)
    }

    /// When the head may be sent next (`None` when it may be sent now or the queue is empty).
    pub fn not_before(&self) -> Option<tokio::time::Instant> {
        self.not_before
    }

    /// The head was delivered: remove and return it.
    pub fn on_delivered(&mut self) -> Option<T> {
        let item = self.queue.pop_front()?;
        self.backoff.reset();
        self.not_before = None;
        self.delivered += 1;
        Some(item)
    }

    /// The head could not be delivered but may be retried: keep it, wait
    /// for the backoff delay or the server's `Retry-After`, whichever is longer.
    pub fn on_retryable_failure(
        &mut self,
        now: tokio::time::Instant,
        retry_after: Option<Duration>,
    ) -> Duration {
        let delay = self
            .backoff
            .next_delay()
            .max(retry_after.unwrap_or_default());
        self.not_before = Some(now + delay);
        self.retries += 1;
        delay
    }

    /// The hub refused the head for good: move it to the rejected list.
    pub fn on_rejected(&mut self, status: u16, reason: String) {
        if let Some(item) = self.queue.pop_front() {
            self.rejected.push(Rejected {
                item,
                status,
                reason,
            });
        }
        self.backoff.reset();
        self.not_before = None;
    }

    /// Uploads waiting, head first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.queue.iter()
    }

    /// Number of uploads waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Uploads the hub refused for good.
    pub fn rejected(&self) -> &[Rejected<T>] {
        &self.rejected
    }

    /// Uploads delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Retryable failures so far.
    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// Consecutive failures of the current head.
    pub fn consecutive_failures(&self) -> u32 {
        self.backoff.failures()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceOptions;
    use crate::models::ModelId;
    use chrono::{TimeZone, Utc};

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2024, 3, 4, 7, 0, 0).unwrap()
    }

    #[test]
    fn nineteenth_job_triggers_not_the_eighteenth() {
        let mut t = UploadTriggers::new(FirmwarePolicy::default(), t0());
        for i in 1..=18 {
            assert_eq!(t.record_job(1), None, "job {i}");
        }
        assert_eq!(t.record_job(1), Some(UploadTrigger::Jobs));
        t.reset(t0());
        assert_eq!(t.jobs(), 0);
    }

    #[test]
    fn hundredth_page_triggers_not_the_ninety_ninth() {
        let mut t = UploadTriggers::new(FirmwarePolicy::default(), t0());
        assert_eq!(t.record_job(50), None);
        assert_eq!(t.record_job(49), None, "99 pages");
        assert_eq!(t.record_job(1), Some(UploadTrigger::Pages), "100th page");
        // One big job crosses the threshold on its own.
        let mut t = UploadTriggers::new(FirmwarePolicy::default(), t0());
        assert_eq!(t.record_job(99), None);
        let mut u = UploadTriggers::new(FirmwarePolicy::default(), t0());
        assert_eq!(u.record_job(150), Some(UploadTrigger::Pages));
        assert_eq!(t.record_job(0), None, "a scan adds a job but no page");
    }

    #[test]
    fn three_hours_trigger_not_two_hours_fifty_nine() {
        let t = UploadTriggers::new(FirmwarePolicy::default(), t0());
        assert!(!t.is_due(t0() + TimeDelta::hours(2) + TimeDelta::minutes(59)));
        assert!(!t.is_due(t0() + TimeDelta::hours(3) - TimeDelta::milliseconds(1)));
        assert!(t.is_due(t0() + TimeDelta::hours(3)));
        assert_eq!(t.due_at(), t0() + TimeDelta::hours(3));
    }

    fn idle_printer(boot_alert: bool) -> VirtualPrinter {
        let options = DeviceOptions {
            job_rate: 0.0,
            error_rate: 0.0,
            power_cycle_mean_days: 0.0,
            boot_alert_probability: if boot_alert { 1.0 } else { 0.0 },
            ..DeviceOptions::default()
        };
        VirtualPrinter::with_options(ModelId::T1500, "CN1IDLE001", 1, options)
    }

    #[test]
    fn idle_printer_uploads_exactly_every_three_hours() {
        let mut device = idle_printer(false);
        let mut fw = Firmware::new(FirmwarePolicy::default(), t0(), 1);
        let first = fw.run_until(
            &mut device,
            t0() + TimeDelta::hours(2) + TimeDelta::minutes(59),
        );
        assert!(first.is_empty(), "{first:?}");
        let at_three = fw.run_until(&mut device, t0() + TimeDelta::hours(3));
        assert_eq!(at_three.len(), 1);
        assert_eq!(at_three[0].trigger, UploadTrigger::Scheduled);
        assert_eq!(at_three[0].generated_at, t0() + TimeDelta::hours(3));
        let day = fw.run_until(&mut device, t0() + TimeDelta::hours(24));
        let times: Vec<i64> = day
            .iter()
            .map(|p| (p.generated_at - t0()).num_hours())
            .collect();
        assert_eq!(times, [6, 9, 12, 15, 18, 21, 24]);
    }

    #[test]
    fn boot_alert_upload_goes_out_before_any_usage_upload() {
        let mut device = idle_printer(true);
        let mut fw = Firmware::new(FirmwarePolicy::default(), t0(), 1);
        let uploads = fw.run_until(&mut device, t0() + TimeDelta::hours(7));
        let triggers: Vec<UploadTrigger> = uploads.iter().map(|p| p.trigger).collect();
        assert_eq!(
            triggers,
            [
                UploadTrigger::Boot,
                UploadTrigger::Scheduled,
                UploadTrigger::Scheduled
            ]
        );
        let boot = &uploads[0];
        assert_eq!(boot.generated_at, t0());
        let report = &boot.printers[0];
        assert!(report.counters.is_none() && report.print_jobs.is_empty());
        assert!(
            report
                .alerts
                .iter()
                .any(|a| a.during_boot && a.severity.is_high())
        );
    }

    #[test]
    fn every_job_is_uploaded_once_and_triggers_hold_between_uploads() {
        let mut device = VirtualPrinter::new(ModelId::PageWideXl5000, "SG1FW00001", 11);
        let mut fw = Firmware::new(FirmwarePolicy::default(), t0(), 1);
        let uploads = fw.run_until(&mut device, t0() + TimeDelta::days(5));
        let mut uploaded = Vec::new();
        let mut last_usage = t0();
        for p in &uploads {
            let r = &p.printers[0];
            let jobs = r.job_count();
            let pages: u64 = r
                .print_jobs
                .iter()
                .map(|j| u64::from(j.print.pages))
                .chain(r.copy_jobs.iter().map(|j| u64::from(j.print.pages)))
                .sum();
            match p.trigger {
                UploadTrigger::Jobs => assert_eq!(jobs, 19),
                UploadTrigger::Pages => {
                    assert!(jobs < 19 && pages >= 100, "{jobs} jobs {pages} pages");
                    // Before the last job the threshold had not been reached.
                    let last = r.print_jobs.last().map_or(0, |j| u64::from(j.print.pages));
                    assert!(pages - last < 100 || jobs == 1);
                }
                UploadTrigger::Scheduled => {
                    assert!(jobs < 19 && pages < 100);
                    assert_eq!(p.generated_at - last_usage, TimeDelta::hours(3));
                }
                UploadTrigger::Alert | UploadTrigger::Boot => {
                    assert_eq!(jobs, 0);
                    continue;
                }
                other => panic!("unexpected trigger {other:?}"),
            }
            assert!(p.generated_at - last_usage <= TimeDelta::hours(3));
            last_usage = p.generated_at;
            uploaded.extend(r.print_jobs.iter().map(|j| j.job.uuid));
            uploaded.extend(r.scan_jobs.iter().map(|j| j.job.uuid));
            uploaded.extend(r.copy_jobs.iter().map(|j| j.job.uuid));
        }
        uploaded.extend(fw.pending_jobs().iter().map(|j| j.identity().uuid));
        let generated: Vec<_> = device.ledger().uuids().collect();
        assert_eq!(
            uploaded, generated,
            "each job uploaded exactly once, in order"
        );
        assert!(uploads.iter().any(|p| p.trigger == UploadTrigger::Pages));
    }

    #[test]
    fn outbox_keeps_order_and_never_drops() {
        let mut outbox = Outbox::new(Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(8),
            3,
        ));
        for i in 0..3 {
            outbox.push(i);
        }
        let now = tokio::time::Instant::now();
        assert!(outbox.is_ready(now));
        let d1 = outbox.on_retryable_failure(now, None);
        assert!(d1 >= Duration::from_millis(500) && d1 <= Duration::from_secs(1));
        assert!(!outbox.is_ready(now));
        assert_eq!(outbox.head(), Some(&0), "failed head stays first");
        let d = outbox.on_retryable_failure(now, Some(Duration::from_secs(30)));
        assert_eq!(d, Duration::from_secs(30), "retry-after wins when longer");
        for _ in 0..10 {
            assert!(outbox.on_retryable_failure(now, None) <= Duration::from_secs(8));
        }
        assert!(outbox.is_ready(now + Duration::from_secs(9)));
        assert_eq!(outbox.on_delivered(), Some(0));
        outbox.on_rejected(400, "bad_mac".into());
        assert_eq!(outbox.rejected()[0].item, 1);
        assert_eq!(outbox.iter().copied().collect::<Vec<_>>(), [2]);
        assert_eq!(outbox.consecutive_failures(), 0);
    }
}
