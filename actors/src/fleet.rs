//! `Fleet`: the one handle the front end uses. It owns the actor registry,
//! the ingest queue and the actors' arbiter; no `Addr` leaves this module's
//! crate.
//!
//! Routing: an actor is spawned on first use (hydrating itself), evicted when
//! idle, and a message that finds a closed mailbox is retried once on a fresh
//! actor, which is safe because every update is idempotent (watermarks).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use ppu_entities::printer;
use ppu_protocol::model::UploadTrigger;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::{mpsc, oneshot};

use crate::aggregate::{
    AggregateActor, AggregateView, ApplyDelta, FlushAggregate, InspectAggregate,
};
use crate::alerts::{AlertBus, AlertEvent, AlertOp};
use crate::domain::Watermark;
use crate::domain::usage::Usage;
use crate::ingest::{
    AlertFailure, AlertRequest, Command, Dispatch, IngestError, IngestRequest, PrinterUpdate,
    VerifiedUpload, Writer,
};
use crate::printer::{ApplyUpdate, Inspect, PrinterActor, PrinterView, TakeSnapshot};
use crate::store::{self, Db, Scope};

/// Pause before the one retry of a snapshot save that failed during a
/// graceful stop.
const SHUTDOWN_RETRY_PAUSE: Duration = Duration::from_millis(250);

/// Capacities and timings of the actors, chosen on purpose (see ARCHITECTURE.md).
#[derive(Debug, Clone)]
pub struct ActorSettings {
    /// Uploads waiting for the ingest writer; beyond it the hub answers 503.
    pub ingest_queue: usize,
    /// Uploads committed in one transaction at most.
    pub max_batch: usize,
    /// Mailbox capacity of a printer actor.
    pub printer_mailbox: usize,
    /// Mailbox capacity of a site or reseller actor.
    pub aggregate_mailbox: usize,
    /// How often a changed actor saves a snapshot.
    pub snapshot_interval: Duration,
    /// An actor idle this long saves a snapshot and stops.
    pub idle_ttl: Duration,
    /// How often silent printers are checked for `stopped_reporting`.
    pub sweep_interval: Duration,
    /// Alert events buffered per live subscriber before it must resync.
    pub alert_buffer: usize,
    /// Export per-printer consumable gauges.
    pub per_printer_metrics: bool,
}

impl Default for ActorSettings {
    fn default() -> Self {
        Self {
            ingest_queue: 1024,
            max_batch: 64,
            printer_mailbox: 16,
            aggregate_mailbox: 256,
            snapshot_interval: Duration::from_secs(60),
            idle_ttl: Duration::from_secs(15 * 60),
            sweep_interval: Duration::from_secs(60),
            alert_buffer: 4096,
            per_printer_metrics: false,
        }
    }
}

/// Printers hydrated per page by [`Fleet::preload_printers`].
pub const PRELOAD_PAGE: u64 = 1000;

/// A usage delta travelling from a printer to its site and reseller.
#[derive(Debug, Clone)]
pub struct UsageDelta {
    /// Position of the records it comes from.
    pub mark: Watermark,
    /// The usage added.
    pub usage: Usage,
    /// Receipt time of the upload.
    pub at: DateTime<Utc>,
}

#[derive(Debug)]
struct Entry<A: Actor> {
    addr: Addr<A>,
    queued: Arc<AtomicUsize>,
}

impl<A: Actor> Clone for Entry<A> {
    fn clone(&self) -> Self {
        Self {
            addr: self.addr.clone(),
            queued: self.queued.clone(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    db: Db,
    settings: ActorSettings,
    arbiter: ArbiterHandle,
    printers: DashMap<i64, Entry<PrinterActor>>,
    /// Bumped before a printer actor leaves the registry (see `preload_printers`).
    printer_stops: AtomicU64,
    sites: DashMap<i64, Entry<AggregateActor>>,
    resellers: DashMap<i64, Entry<AggregateActor>>,
    ingest: RwLock<Option<Lanes>>,
    bus: AlertBus,
    writer_done: std::sync::Mutex<Option<oneshot::Receiver<()>>>,
}

/// The writer's two queues.
#[derive(Debug)]
struct Lanes {
    /// Everything, in order.
    main: mpsc::Sender<Command>,
    /// Uploads with trigger `alert`: taken before the main queue.
    alert: mpsc::Sender<Command>,
}

/// Room in the alert lane: uploads a sender marks `alert` jump the queue, so
/// the lane is small; when it is full they are refused like any other.
pub const ALERT_LANE: usize = 64;

/// How long an upload carrying an active alert waits for its printers to be
/// looked up for an observation before it is queued without one.
const OBSERVE_LOOKUP_TIMEOUT: Duration = Duration::from_millis(250);

/// Handle to the live fleet of actors. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

impl Fleet {
    /// Start the fleet: an arbiter (its own thread, off the HTTP workers'
    /// event loops) for the actors and the ingest writer. Must be called
    /// inside an actix `System`.
    pub fn start(db: Db, settings: ActorSettings) -> Self {
        let arbiter = Arbiter::new();
        let (tx, rx) = mpsc::channel(settings.ingest_queue.max(1));
        let (alert_tx, alert_rx) = mpsc::channel(ALERT_LANE);
        let (done_tx, done_rx) = oneshot::channel();
        let bus = AlertBus::new(settings.alert_buffer);
        let fleet = Self {
            inner: Arc::new(Inner {
                db: db.clone(),
                settings: settings.clone(),
                arbiter: arbiter.handle(),
                printers: DashMap::new(),
                printer_stops: AtomicU64::new(0),
                sites: DashMap::new(),
                resellers: DashMap::new(),
                ingest: RwLock::new(Some(Lanes {
                    main: tx.clone(),
                    alert: alert_tx,
                })),
                bus: bus.clone(),
                writer_done: std::sync::Mutex::new(Some(done_rx)),
            }),
        };
        let db_for_checkpoints = db.clone();
        let writer = Writer::new(db, rx, fleet.clone(), bus, settings.max_batch)
            .with_alert_lane(alert_rx)
            .with_per_printer_metrics(settings.per_printer_metrics);
        // The writer has a thread of its own: its statements are a chain of
        // round trips, and on the actors' thread each answer waited behind
        // whatever the actors had queued.
        let writer_thread = Arbiter::new();
        writer_thread.spawn(async move {
            writer.run().await;
            let _ = done_tx.send(());
        });
        // The sweeper holds a weak sender so that it never keeps the writer alive.
        let weak = tx.downgrade();
        let weak_for_checkpoints = tx.downgrade();
        drop(tx);
        let every = settings.sweep_interval;
        arbiter.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(tx) = weak.upgrade() else { break };
                let (reply, rx) = oneshot::channel();
                let op = AlertOp::Sweep {
                    now: chrono::Utc::now(),
                };
                if tx
                    .send(Command::Alert(AlertRequest { op, reply }))
                    .await
                    .is_err()
                {
                    break;
                }
                drop(tx);
                if let Ok(Err(e)) = rx.await {
                    tracing::warn!(error = %e, "stopped-reporting sweep failed");
                }
            }
        });
        // SQLite: the WAL is checkpointed here, off the writer's commits.
        if db_for_checkpoints.backend() == sea_orm::DbBackend::Sqlite {
            let weak = weak_for_checkpoints;
            arbiter.spawn(async move {
                let mut tick = tokio::time::interval(store::CHECKPOINT_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                // Stops when the writer's queue is closed.
                while weak.upgrade().is_some() {
                    tick.tick().await;
                    if let Err(e) = db_for_checkpoints.checkpoint().await {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            });
        }
        // The arbiter thread lives as long as the System; the handle keeps it addressable.
        std::mem::forget(arbiter);
        std::mem::forget(writer_thread);
        fleet
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The actor settings.
    pub fn settings(&self) -> &ActorSettings {
        &self.inner.settings
    }

    /// Queue a verified upload for storage and wait until it is durable and applied.
    ///
    /// Never waits for room in the queue: a full queue is [`IngestError::Busy`].
    /// An upload with trigger `alert` goes to the alert lane, which the writer
    /// empties first. Once the upload is queued, the device alerts it raises
    /// that are not open yet are pushed on the alert bus at once
    /// ([`crate::alerts::ObservedAlert`]); the stored events follow the commit.
    pub async fn ingest(
        &self,
        upload: VerifiedUpload,
    ) -> Result<ppu_protocol::api::IngestResponse, IngestError> {
        let observed = self.observations(&upload).await;
        let alert_lane = upload.payload.trigger == UploadTrigger::Alert;
        let (reply, rx) = oneshot::channel();
        {
            let guard = self
                .inner
                .ingest
                .read()
                .map_err(|_| IngestError::ShuttingDown)?;
            let lanes = guard.as_ref().ok_or(IngestError::ShuttingDown)?;
            let tx = if alert_lane {
                &lanes.alert
            } else {
                &lanes.main
            };
            // Room first, then the observations, then the upload: an
            // observation always precedes the stored events of its upload.
            let permit = tx.try_reserve().map_err(|e| match e {
                mpsc::error::TrySendError::Full(()) => IngestError::Busy,
                mpsc::error::TrySendError::Closed(()) => IngestError::ShuttingDown,
            })?;
            if !observed.is_empty() {
                self.inner.bus.observe(observed);
            }
            permit.send(Command::Ingest(Box::new(IngestRequest { upload, reply })));
        }
        if alert_lane {
            metrics::counter!(crate::metrics::INGEST_ALERT_LANE_TOTAL).increment(1);
        }
        rx.await.map_err(|_| IngestError::ShuttingDown)?
    }

    /// Tell the alert bus which printer alerts the database holds open, so
    /// that a raise of one of them is not observed as new (call at start,
    /// before uploads are taken). A failure is logged: those alerts may then
    /// be observed once more.
    pub async fn load_open_alerts(&self) {
        match crate::alerts::open_printer_alerts(&self.inner.db.read).await {
            Ok(open) => self.inner.bus.know_open(open),
            Err(e) => {
                tracing::warn!(error = %e, "open alerts not loaded; they may be observed once more")
            }
        }
    }

    /// The device alerts `upload` raises, for printers of its sender's site
    /// (looked up by serial number, only for a report that carries an active
    /// alert the bus does not hold open: a printer reporting the same open
    /// alert in every upload costs no lookup). A failed lookup observes
    /// nothing: the stored events still follow.
    async fn observations(&self, upload: &VerifiedUpload) -> Vec<crate::alerts::ObservedAlert> {
        let bus = &self.inner.bus;
        let serials: Vec<String> = upload
            .payload
            .printers
            .iter()
            .zip(&upload.implausible)
            .filter(|(r, bad)| {
                let serial = r.serial_number.trim();
                bad.is_none()
                    && r.alerts
                        .iter()
                        .any(|a| a.active && !bus.is_open(serial, &a.code))
            })
            .map(|(r, _)| r.serial_number.trim().to_owned())
            .collect();
        if serials.is_empty() {
            return Vec::new();
        }
        let lookup = printer::Entity::find()
            .select_only()
            .columns([
                printer::Column::Id,
                printer::Column::SerialNumber,
                printer::Column::SiteId,
            ])
            .filter(printer::Column::SerialNumber.is_in(serials))
            .into_tuple::<(i64, String, i64)>()
            .all(&self.inner.db.read);
        // Never hold an upload back for long: without an answer in time, the
        // stored events still follow.
        let found = match tokio::time::timeout(OBSERVE_LOOKUP_TIMEOUT, lookup).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "printers of an alert upload not resolved; nothing observed");
                return Vec::new();
            }
            Err(_) => {
                tracing::debug!(
                    "printers of an alert upload not resolved in time; nothing observed"
                );
                return Vec::new();
            }
        };
        let site = upload.sender.site_id;
        let direct = upload.sender.printer_id;
        crate::alerts::observations(upload, |serial| {
            found
                .iter()
                .find(|(id, s, site_id)| {
                    s == serial && *site_id == site && direct.is_none_or(|d| d == *id)
                })
                .map(|(id, _, _)| *id)
        })
    }

    /// Run an alert operation in order with the uploads (never waits for room).
    pub async fn alert_op(&self, op: AlertOp) -> Result<Vec<AlertEvent>, AlertFailure> {
        let (reply, rx) = oneshot::channel();
        {
            let guard = self
                .inner
                .ingest
                .read()
                .map_err(|_| AlertFailure::Unavailable("shutting down".into()))?;
            let tx = &guard
                .as_ref()
                .ok_or_else(|| AlertFailure::Unavailable("shutting down".into()))?
                .main;
            tx.try_send(Command::Alert(AlertRequest { op, reply }))
                .map_err(|_| AlertFailure::Unavailable("the hub is busy".into()))?;
        }
        rx.await
            .map_err(|_| AlertFailure::Unavailable("shutting down".into()))?
    }

    /// The bus of committed alert events.
    pub fn alerts(&self) -> &AlertBus {
        &self.inner.bus
    }

    /// Uploads waiting in the ingest queue.
    pub fn ingest_queue_depth(&self) -> usize {
        self.inner
            .ingest
            .read()
            .ok()
            .and_then(|g| {
                g.as_ref().map(|l| {
                    l.main.max_capacity() - l.main.capacity() + l.alert.max_capacity()
                        - l.alert.capacity()
                })
            })
            .unwrap_or(0)
    }

    /// Live actors: (printers, sites, resellers).
    pub fn live_actors(&self) -> (usize, usize, usize) {
        (
            self.inner.printers.len(),
            self.inner.sites.len(),
            self.inner.resellers.len(),
        )
    }

    fn printer_entry(&self, id: i64) -> Entry<PrinterActor> {
        self.inner
            .printers
            .entry(id)
            .or_insert_with(|| {
                let queued = Arc::new(AtomicUsize::new(0));
                let fleet = self.clone();
                let q = queued.clone();
                let addr = PrinterActor::start_in_arbiter(&self.inner.arbiter, move |_| {
                    PrinterActor::new(id, fleet, q)
                });
                Entry { addr, queued }
            })
            .clone()
    }

    fn aggregate_entry(&self, scope: Scope, parent: Option<i64>) -> Entry<AggregateActor> {
        let map = match scope {
            Scope::Site(_) => &self.inner.sites,
            _ => &self.inner.resellers,
        };
        map.entry(scope.id())
            .or_insert_with(|| {
                let queued = Arc::new(AtomicUsize::new(0));
                let fleet = self.clone();
                let q = queued.clone();
                let addr = AggregateActor::start_in_arbiter(&self.inner.arbiter, move |_| {
                    AggregateActor::new(scope, parent, fleet, q)
                });
                Entry { addr, queued }
            })
            .clone()
    }

    /// Called by a stopping printer actor: drop its registry entry (only if it is still that actor's).
    pub(crate) fn forget_printer(&self, id: i64, queued: &Arc<AtomicUsize>) {
        // Before the removal: a preload that finds the entry vacant after it
        // also sees the count changed.
        self.inner.printer_stops.fetch_add(1, Ordering::AcqRel);
        self.inner
            .printers
            .remove_if(&id, |_, e| Arc::ptr_eq(&e.queued, queued));
    }

    /// Called by a stopping aggregate actor.
    pub(crate) fn forget_aggregate(&self, scope: Scope, queued: &Arc<AtomicUsize>) {
        let map = match scope {
            Scope::Site(_) => &self.inner.sites,
            _ => &self.inner.resellers,
        };
        map.remove_if(&scope.id(), |_, e| Arc::ptr_eq(&e.queued, queued));
    }

    async fn send_printer(&self, update: PrinterUpdate) {
        let id = update.printer.id;
        for attempt in 0..3 {
            let e = self.printer_entry(id);
            e.queued.fetch_add(1, Ordering::AcqRel);
            match e.addr.send(ApplyUpdate(update.clone())).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::debug!(printer_id = id, attempt, error = %err, "printer mailbox closed, retrying on a fresh actor");
                    self.forget_printer(id, &e.queued);
                }
            }
        }
        tracing::error!(
            printer_id = id,
            "printer actor unavailable; state will catch up from the database"
        );
    }

    /// Forward a printer's delta to its site (which forwards to its reseller).
    pub(crate) async fn forward_to_site(&self, site: i64, reseller: i64, delta: UsageDelta) {
        self.send_aggregate(Scope::Site(site), Some(reseller), delta)
            .await;
    }

    /// Forward a site's delta to its reseller.
    pub(crate) async fn forward_to_reseller(&self, reseller: i64, delta: UsageDelta) {
        self.send_aggregate(Scope::Reseller(reseller), None, delta)
            .await;
    }

    async fn send_aggregate(&self, scope: Scope, parent: Option<i64>, delta: UsageDelta) {
        for attempt in 0..3 {
            let e = self.aggregate_entry(scope, parent);
            e.queued.fetch_add(1, Ordering::AcqRel);
            match e.addr.send(ApplyDelta(delta.clone())).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::debug!(kind = scope.kind(), id = scope.id(), attempt, error = %err, "mailbox closed, retrying");
                    self.forget_aggregate(scope, &e.queued);
                }
            }
        }
        tracing::error!(
            kind = scope.kind(),
            id = scope.id(),
            "aggregate actor unavailable; state will catch up from the database"
        );
    }

    /// The live view of a printer (spawning and hydrating its actor if needed).
    pub async fn printer_view(&self, printer_id: i64) -> Option<PrinterView> {
        for _ in 0..3 {
            let e = self.printer_entry(printer_id);
            if let Ok(v) = e.addr.send(Inspect).await {
                return Some(v);
            }
            self.forget_printer(printer_id, &e.queued);
        }
        None
    }

    /// Start an actor for every printer that has none, hydrating them in
    /// pages of [`PRELOAD_PAGE`] printers (a handful of queries per page; see
    /// `printer::hydrate_page`) instead of a handful of queries per printer.
    ///
    /// A printer whose snapshot is complete starts already hydrated; one
    /// with records past its snapshot starts the ordinary way and hydrates
    /// itself (awaited page by page, so at most a page of them read at once).
    /// Updates committed meanwhile are safe either way: an update committed
    /// after a page was read reaches the actor through its mailbox (past the
    /// watermark: applied), and an actor some update already started is left
    /// alone; and if any printer actor stopped while a page was being read
    /// (it may have applied updates the page does not show), that page's
    /// printers take the per-printer path. Returns how many actors it started.
    pub async fn preload_printers(&self) -> Result<usize, sea_orm::DbErr> {
        let mut after = 0;
        let mut started = 0usize;
        loop {
            // A printer actor that stopped while the page was read may have
            // applied updates committed after the read: if any stopped, the
            // page's printers take the per-printer path instead.
            let stops = self.inner.printer_stops.load(Ordering::Acquire);
            let page =
                crate::printer::hydrate_page(&self.inner.db.read, after, PRELOAD_PAGE).await?;
            let Some(last) = page.last else { break };
            after = last;
            let mut page_behind = page.behind;
            for h in page.ready {
                let id = h.id;
                if let dashmap::Entry::Vacant(v) = self.inner.printers.entry(id) {
                    // Checked under the registry's lock of this entry.
                    if self.inner.printer_stops.load(Ordering::Acquire) != stops {
                        drop(v);
                        page_behind.push(id);
                        continue;
                    }
                    let queued = Arc::new(AtomicUsize::new(0));
                    let fleet = self.clone();
                    let q = queued.clone();
                    let addr = PrinterActor::start_in_arbiter(&self.inner.arbiter, move |_| {
                        PrinterActor::hydrated(h, fleet, q)
                    });
                    v.insert(Entry { addr, queued });
                    started += 1;
                }
            }
            let mut behind = Vec::new();
            for id in page_behind {
                if !self.inner.printers.contains_key(&id) {
                    behind.push(self.printer_entry(id).addr);
                    started += 1;
                }
            }
            for addr in behind {
                // Answered once the actor has hydrated (or stopped, failing to).
                let _ = addr.send(Inspect).await;
            }
        }
        Ok(started)
    }

    /// The live view of a site.
    pub async fn site_view(&self, site_id: i64, reseller_id: i64) -> Option<AggregateView> {
        self.aggregate_view(Scope::Site(site_id), Some(reseller_id))
            .await
    }

    /// The live view of a reseller.
    pub async fn reseller_view(&self, reseller_id: i64) -> Option<AggregateView> {
        self.aggregate_view(Scope::Reseller(reseller_id), None)
            .await
    }

    async fn aggregate_view(&self, scope: Scope, parent: Option<i64>) -> Option<AggregateView> {
        for _ in 0..3 {
            let e = self.aggregate_entry(scope, parent);
            if let Ok(v) = e.addr.send(InspectAggregate).await {
                return Some(v);
            }
            self.forget_aggregate(scope, &e.queued);
        }
        None
    }

    /// Graceful shutdown: stop taking uploads, let the writer store and apply
    /// what is queued, then save every live actor's snapshot.
    pub async fn shutdown(&self) {
        if let Ok(mut g) = self.inner.ingest.write() {
            g.take();
        }
        let done = self
            .inner
            .writer_done
            .lock()
            .ok()
            .and_then(|mut g| g.take());
        if let Some(done) = done {
            let _ = done.await;
        }
        let printers: Vec<_> = self.inner.printers.iter().map(|e| e.addr.clone()).collect();
        let sites: Vec<_> = self.inner.sites.iter().map(|e| e.addr.clone()).collect();
        let resellers: Vec<_> = self
            .inner
            .resellers
            .iter()
            .map(|e| e.addr.clone())
            .collect();
        let mut failed = 0usize;
        // Printers: collect the changed states, then save them in batches
        // (one multi-row upsert per transaction) rather than one
        // transaction per actor.
        let mut states = Vec::new();
        for addr in printers {
            match addr.send(TakeSnapshot).await {
                Ok(Some((id, state))) => states.push((Scope::Printer(id), state)),
                Ok(None) => {}
                Err(_) => failed += 1,
            }
        }
        for chunk in states.chunks(store::SNAPSHOT_BATCH) {
            let started = std::time::Instant::now();
            // A failed batch is tried once more: a stop must not lose a
            // snapshot to one transient database error (the actors would
            // rebuild from records, correct but slower).
            let mut result = store::save_snapshots(&self.inner.db, chunk).await;
            if let Err(e) = &result {
                tracing::warn!(snapshots = chunk.len(), error = %e, "printer snapshots not saved; trying once more");
                tokio::time::sleep(SHUTDOWN_RETRY_PAUSE).await;
                result = store::save_snapshots(&self.inner.db, chunk).await;
            }
            match result {
                Ok(n) => {
                    metrics::histogram!(crate::metrics::SNAPSHOT_SECONDS)
                        .record(started.elapsed().as_secs_f64());
                    metrics::counter!(crate::metrics::SNAPSHOTS_TOTAL, "kind" => "printer", "outcome" => "ok")
                        .increment(n as u64);
                }
                Err(e) => {
                    metrics::counter!(crate::metrics::SNAPSHOTS_TOTAL, "kind" => "printer", "outcome" => "error")
                        .increment(chunk.len() as u64);
                    tracing::warn!(snapshots = chunk.len(), error = %e, "printer snapshots not saved");
                    failed += chunk.len();
                }
            }
        }
        for addr in sites.into_iter().chain(resellers) {
            let mut result = addr.send(FlushAggregate).await;
            if !matches!(result, Ok(Ok(()))) {
                tracing::warn!(outcome = ?result, "aggregate snapshot not saved; trying once more");
                tokio::time::sleep(SHUTDOWN_RETRY_PAUSE).await;
                result = addr.send(FlushAggregate).await;
            }
            if !matches!(result, Ok(Ok(()))) {
                tracing::warn!(outcome = ?result, "aggregate snapshot not saved");
                failed += 1;
            }
        }
        if failed > 0 {
            tracing::warn!(
                failed,
                "some snapshots were not saved; actors will rebuild from records"
            );
        }
        tracing::info!("fleet stopped");
    }
}

impl Dispatch for Fleet {
    async fn dispatch(&self, mut updates: Vec<PrinterUpdate>) {
        // In record order, (upload id, printer id), one after the other: a
        // site's and a reseller's watermark is that order, so an update of
        // one printer must not overtake an earlier one of another printer of
        // the same site (sending the printers concurrently lost records).
        updates.sort_by_key(|u| (u.upload_id, u.printer.id));
        for u in updates {
            self.send_printer(u).await;
        }
    }
}
