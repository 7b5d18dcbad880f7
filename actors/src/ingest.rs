//! The ingest writer: stores verified uploads durably, in group commits, then
//! hands each printer's records to its actor.
//!
//! One writer per hub node consumes a bounded queue. It takes up to
//! `max_batch` uploads at a time, stores them in one transaction (the ledger
//! row, job records, counter readings, status snapshots), commits, and only
//! then answers each upload and dispatches the records to the printer actors,
//! in upload-id order. A full queue is refused at the edge (`try_send`), so a
//! burst becomes `503 Retry-After` and never an unbounded backlog.
//!
//! Idempotency lives here, checked inside the transaction against the ledger:
//! the same envelope bytes, or the same sender batch id, answer `duplicate`;
//! a nonce seen with different bytes is a replay; a job UUID already stored is
//! never stored or counted again.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use ppu_entities::{anomaly, counter_reading, printer, site, status_snapshot, upload};
use ppu_protocol::api::{IngestResponse, RecordCounts, RejectedPrinter};
use ppu_protocol::envelope::{Header, SenderKind};
use ppu_protocol::model::{
    DeviceAlert, LifetimeCounters, Payload, PrinterConfig, PrinterStatus, Timestamp,
};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::alerts::{self, AlertBus, AlertEvent, AlertOp, AlertOpError, AlertOwner};
use crate::domain::alerts as rules;
use crate::domain::usage::{JobFacts, Regression, Usage, counter_step};
use crate::store::{self, Db, RowOwner};

/// An authenticated sender, as resolved from its credential.
#[derive(Debug, Clone)]
pub struct Sender {
    /// Collector or printer.
    pub kind: SenderKind,
    /// Id from the envelope header.
    pub sender_id: String,
    /// The site it reports for.
    pub site_id: i64,
    /// That site's reseller.
    pub reseller_id: i64,
    /// For a direct-connected printer: its printer id.
    pub printer_id: Option<i64>,
    /// The credential row.
    pub credential_id: i64,
}

/// An upload whose MAC verified and whose payload decoded.
#[derive(Debug, Clone)]
pub struct VerifiedUpload {
    /// Envelope header.
    pub header: Header,
    /// Decoded payload.
    pub payload: Payload,
    /// Hex SHA-256 of the envelope (the upload id).
    pub envelope_sha256: String,
    /// Envelope size in bytes.
    pub size_bytes: usize,
    /// Who sent it.
    pub sender: Sender,
    /// When the hub received it.
    pub received_at: DateTime<Utc>,
    /// Per printer report (same index), why it cannot be stored
    /// ([`crate::domain::plausible`]). Checked by the front end, off the
    /// single writer; use [`VerifiedUpload::new`].
    pub implausible: Vec<Option<String>>,
}

impl VerifiedUpload {
    /// An upload with its reports' plausibility checked (CPU work that belongs
    /// on the caller's thread, not in the writer's transaction).
    pub fn new(
        header: Header,
        payload: Payload,
        envelope_sha256: String,
        size_bytes: usize,
        sender: Sender,
        received_at: DateTime<Utc>,
    ) -> Self {
        let implausible = payload
            .printers
            .iter()
            .map(crate::domain::plausible::implausible)
            .collect();
        Self {
            header,
            payload,
            envelope_sha256,
            size_bytes,
            sender,
            received_at,
            implausible,
        }
    }
}

/// Why an upload was not stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    /// The nonce was used before by this sender with different bytes.
    #[error("nonce already used by this sender")]
    ReplayedNonce,
    /// The ingest queue is full: retry later.
    #[error("ingest queue is full")]
    Busy,
    /// The database could not store it: retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The hub is shutting down: retry later.
    #[error("hub is shutting down")]
    ShuttingDown,
}

/// What one printer's part of a stored upload changes in its actor.
#[derive(Debug, Clone)]
pub struct PrinterUpdate {
    /// Upload that carried it (the actors' watermark).
    pub upload_id: i64,
    /// Printer.
    pub printer: PrinterRef,
    /// Serial number.
    pub serial_number: String,
    /// When the hub received it.
    pub received_at: DateTime<Utc>,
    /// When the device was read.
    pub collected_at: Timestamp,
    /// Configuration, if reported.
    pub config: Option<PrinterConfig>,
    /// Status, if reported.
    pub status: Option<PrinterStatus>,
    /// The lifetime counters after this reading, if one was reported.
    pub counters: Option<LifetimeCounters>,
    /// Usage added by this upload: new jobs and counter deltas.
    pub usage: Usage,
    /// Counters that went backwards.
    pub regressions: Vec<Regression>,
    /// Device alerts reported.
    pub alerts: Vec<DeviceAlert>,
}

/// A printer's identity and ownership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrinterRef {
    /// Printer id.
    pub id: i64,
    /// Site id.
    pub site_id: i64,
    /// Reseller id.
    pub reseller_id: i64,
}

/// The result of a stored (or recognised duplicate) upload.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The answer for the sender.
    pub response: IngestResponse,
    /// Records for the actors (empty for duplicates).
    pub updates: Vec<PrinterUpdate>,
    /// Alert changes the upload caused, published after commit.
    pub events: Vec<AlertEvent>,
}

/// What the writer does, in queue order.
#[derive(Debug)]
pub enum Command {
    /// Store an upload (boxed: the queue holds many of these).
    Ingest(Box<IngestRequest>),
    /// Change alerts (acknowledge, clear, sweep), ordered with the uploads.
    Alert(AlertRequest),
}

/// Why an alert operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AlertFailure {
    /// The operation does not apply.
    #[error(transparent)]
    Refused(#[from] AlertOpError),
    /// The database could not store it.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// An alert operation in the writer's queue.
#[derive(Debug)]
pub struct AlertRequest {
    /// The operation.
    pub op: AlertOp,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Result<Vec<AlertEvent>, AlertFailure>>,
}

/// A request in the writer's queue.
#[derive(Debug)]
pub struct IngestRequest {
    /// The upload.
    pub upload: VerifiedUpload,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Result<IngestResponse, IngestError>>,
}

/// Dispatches committed updates to the actors; implemented by the fleet.
pub trait Dispatch: Send + 'static {
    /// Apply committed updates in record order, (upload id, printer id).
    /// Returns when all are applied.
    fn dispatch(&self, updates: Vec<PrinterUpdate>)
    -> impl std::future::Future<Output = ()> + Send;
}

/// The writer's caches. Only ever updated after a commit.
#[derive(Debug, Default)]
struct Caches {
    printers: HashMap<String, PrinterRef>,
    baselines: HashMap<i64, Baseline>,
}

/// The last lifetime counters of a printer and when they were read.
type Baseline = (LifetimeCounters, DateTime<Utc>);

/// What a batch has written but not yet committed.
#[derive(Debug, Default)]
struct Overlay {
    printers: HashMap<String, PrinterRef>,
    baselines: HashMap<i64, Baseline>,
    envelopes: HashMap<String, IngestResponse>,
    nonces: HashSet<(String, String)>,
    batches: HashMap<(String, String), IngestResponse>,
    jobs: HashSet<Uuid>,
}

/// Bound on cached baselines and printers; beyond it the caches start over
/// (they are a read-through optimisation, never the truth).
const CACHE_LIMIT: usize = 200_000;

/// The ingest writer task.
#[derive(Debug)]
pub struct Writer<D> {
    db: Db,
    rx: mpsc::Receiver<Command>,
    /// Uploads with trigger `alert`, taken before anything in `rx`.
    alert_rx: Option<mpsc::Receiver<Command>>,
    dispatch: D,
    bus: AlertBus,
    max_batch: usize,
    per_printer_metrics: bool,
    caches: Caches,
    /// Batches whose commit failed without telling whether it happened, in
    /// commit order, with what they would dispatch (see [`InDoubt`]).
    in_doubt: Vec<InDoubt>,
    /// Tests: report this many successful commits as failed.
    #[cfg(test)]
    commits_reported_failed: usize,
}

/// A batch whose `COMMIT` failed: the connection can break after the
/// database committed and before it said so (a database that stops, a
/// network that fails). Its senders were answered 503 and send the same
/// envelopes again, which the ledger then answers `duplicate`, with no
/// records for the actors. So the writer keeps what the batch would have
/// dispatched, asks the ledger whether the batch is there once the database
/// answers again, and dispatches it then, before any later upload: the
/// actors never miss records that are stored.
#[derive(Debug)]
struct InDoubt {
    /// One envelope the batch stored (a transaction is all or nothing).
    envelope: String,
    /// What a successful commit would have published and dispatched.
    results: Vec<Stored>,
}

/// How long the writer keeps asking the ledger about a batch in doubt before
/// it answers its uploads 503 and asks again before the next batch.
const IN_DOUBT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What became of a batch, its failed commit settled where it could be.
#[derive(Debug)]
enum Outcome {
    /// Stored (a commit that failed but had happened included).
    Stored(Vec<Result<Stored, IngestError>>),
    /// Nothing of it is stored.
    NotStored(DbErr),
    /// The database did not say within [`IN_DOUBT_WAIT`]: kept in doubt.
    InDoubt,
}

/// Answer every upload of `batch` 503: nothing of it is stored (yet).
fn refuse(batch: Vec<IngestRequest>, why: &str) {
    for req in batch {
        let _ = req
            .reply
            .send(Err(IngestError::Unavailable(why.to_owned())));
    }
}

/// Why a batch was not stored, or may not have been.
#[derive(Debug)]
enum BatchError {
    /// Before the commit: nothing of the batch is stored.
    NotStored(DbErr),
    /// The commit failed: the batch may be stored or not.
    CommitFailed {
        /// The commit's error.
        error: DbErr,
        /// What the batch staged, per upload.
        results: Vec<Result<Stored, IngestError>>,
    },
}

impl<D: Dispatch> Writer<D> {
    /// A writer consuming `rx`, committing up to `max_batch` uploads at a time.
    pub fn new(
        db: Db,
        rx: mpsc::Receiver<Command>,
        dispatch: D,
        bus: AlertBus,
        max_batch: usize,
    ) -> Self {
        Self {
            db,
            rx,
            alert_rx: None,
            dispatch,
            bus,
            max_batch: max_batch.max(1),
            per_printer_metrics: false,
            caches: Caches::default(),
            in_doubt: Vec::new(),
            #[cfg(test)]
            commits_reported_failed: 0,
        }
    }

    /// Export per-printer consumable gauges (high cardinality on big fleets).
    pub fn with_per_printer_metrics(mut self, on: bool) -> Self {
        self.per_printer_metrics = on;
        self
    }

    /// Take uploads from `lane` before anything of the main queue: each time
    /// the writer takes work, what waits in the lane is stored first, in a
    /// transaction of its own, so an alert waits at most for the commit in
    /// progress and never behind the backlog.
    pub fn with_alert_lane(mut self, lane: mpsc::Receiver<Command>) -> Self {
        self.alert_rx = Some(lane);
        self
    }

    /// The next commands: the alert lane's if any wait there, else the main
    /// queue's. 0 when the main queue is closed and drained.
    async fn next_commands(&mut self, into: &mut Vec<Command>) -> usize {
        loop {
            let Some(lane) = self.alert_rx.as_mut() else {
                return self.rx.recv_many(into, self.max_batch).await;
            };
            let (first, from_lane) = tokio::select! {
                biased;
                cmd = lane.recv() => match cmd {
                    Some(cmd) => (cmd, true),
                    None => {
                        // Closed and drained: only the main queue is left.
                        self.alert_rx = None;
                        continue;
                    }
                },
                cmd = self.rx.recv() => match cmd {
                    Some(cmd) => (cmd, false),
                    None => return 0,
                },
            };
            into.push(first);
            let queue = if from_lane { lane } else { &mut self.rx };
            while into.len() < self.max_batch {
                match queue.try_recv() {
                    Ok(cmd) => into.push(cmd),
                    Err(_) => break,
                }
            }
            return into.len();
        }
    }

    /// Run until every sender of the queues is dropped and the queues are drained.
    pub async fn run(mut self) {
        let mut received = Vec::with_capacity(self.max_batch);
        loop {
            let n = self.next_commands(&mut received).await;
            if n == 0 {
                break;
            }
            // Consecutive uploads commit together; an alert operation runs
            // alone, in its place in the queue.
            let mut batch = Vec::new();
            for cmd in received.drain(..) {
                match cmd {
                    Command::Ingest(req) => batch.push(*req),
                    Command::Alert(req) => {
                        if !batch.is_empty() {
                            self.process(std::mem::take(&mut batch)).await;
                        }
                        self.alert_op(req).await;
                    }
                }
            }
            if !batch.is_empty() {
                self.process(batch).await;
            }
        }
        tracing::info!("ingest writer drained and stopped");
    }

    async fn alert_op(&mut self, req: AlertRequest) {
        let now = match &req.op {
            AlertOp::Sweep { now } => *now,
            _ => Utc::now(),
        };
        let result = async {
            let tx = self.db.begin_write().await?;
            let res = alerts::run_op(&tx, &req.op, now).await?;
            tx.commit().await?;
            Ok::<_, DbErr>(res)
        }
        .await;
        let answer = match result {
            Ok(Ok(events)) => {
                self.bus.publish(events.clone());
                Ok(events)
            }
            Ok(Err(refused)) => Err(AlertFailure::Refused(refused)),
            Err(e) => {
                tracing::warn!(error = %e, "alert operation not stored");
                Err(AlertFailure::Unavailable(e.to_string()))
            }
        };
        let _ = req.reply.send(answer);
    }

    async fn process(&mut self, batch: Vec<IngestRequest>) {
        // Nothing later may reach the actors before a batch in doubt is settled.
        if !self.settle_in_doubt().await {
            refuse(batch, "an earlier commit is not settled yet");
            return;
        }
        let started = std::time::Instant::now();
        let uploads: Vec<&VerifiedUpload> = batch.iter().map(|r| &r.upload).collect();
        match self.store_settled(&uploads).await {
            Outcome::Stored(results) => {
                metrics::histogram!(crate::metrics::INGEST_COMMIT_SECONDS)
                    .record(started.elapsed().as_secs_f64());
                let mut clock = StageClock::start();
                self.finish(batch, results).await;
                clock.lap("dispatch");
            }
            Outcome::InDoubt => refuse(batch, "the commit's outcome is not known yet"),
            Outcome::NotStored(err) if batch.len() > 1 => {
                tracing::warn!(error = %err, uploads = batch.len(), "batch commit failed, retrying uploads one by one");
                for req in batch {
                    if !self.in_doubt.is_empty() {
                        // Nothing may pass a batch in doubt.
                        refuse(vec![req], "an earlier commit is not settled yet");
                        continue;
                    }
                    match self.store_settled(&[&req.upload]).await {
                        Outcome::Stored(results) => self.finish(vec![req], results).await,
                        Outcome::InDoubt => {
                            refuse(vec![req], "the commit's outcome is not known yet");
                        }
                        Outcome::NotStored(err) => {
                            tracing::error!(error = %err, "upload not stored");
                            refuse(vec![req], &err.to_string());
                        }
                    }
                }
            }
            Outcome::NotStored(err) => {
                tracing::error!(error = %err, "upload not stored");
                refuse(batch, &err.to_string());
            }
        }
    }

    /// Store a batch; when its commit fails, ask the ledger whether it
    /// happened (see [`InDoubt`]).
    async fn store_settled(&mut self, uploads: &[&VerifiedUpload]) -> Outcome {
        let (error, results) = match self.store_batch(uploads).await {
            Ok(results) => return Outcome::Stored(results),
            Err(BatchError::NotStored(err)) => return Outcome::NotStored(err),
            Err(BatchError::CommitFailed { error, results }) => (error, results),
        };
        // The caches may or may not hold what the batch wrote: start over.
        self.caches = Caches::default();
        let envelope = results
            .iter()
            .flatten()
            .find(|s| !s.response.duplicate)
            .map(|s| s.response.upload_id.clone());
        let Some(envelope) = envelope else {
            // The batch stored nothing new: its outcome does not matter.
            return Outcome::NotStored(error);
        };
        tracing::warn!(error = %error, "commit failed; asking the ledger whether it happened");
        match self.ledger_has(&envelope).await {
            Some(true) => {
                tracing::warn!("the failed commit had happened: the batch is stored");
                Outcome::Stored(results)
            }
            Some(false) => Outcome::NotStored(error),
            None => {
                tracing::error!(error = %error, "commit outcome unknown; the batch stays in doubt until the database answers");
                self.in_doubt.push(InDoubt {
                    envelope,
                    results: results.into_iter().flatten().collect(),
                });
                Outcome::InDoubt
            }
        }
    }

    /// Settle the batches in doubt, in order: publish and dispatch those that
    /// were stored. False while the database does not answer.
    async fn settle_in_doubt(&mut self) -> bool {
        while let Some(first) = self.in_doubt.first() {
            match self.ledger_has(&first.envelope).await {
                None => return false,
                Some(stored) => {
                    let d = self.in_doubt.remove(0);
                    if stored {
                        tracing::warn!(
                            uploads = d.results.len(),
                            "a batch in doubt was stored: applying it now"
                        );
                        for r in d.results {
                            if !r.events.is_empty() {
                                self.bus.publish(r.events);
                            }
                            if !r.updates.is_empty() {
                                self.dispatch.dispatch(r.updates).await;
                            }
                        }
                    }
                }
            }
        }
        true
    }

    /// Whether the ledger holds `envelope`; `None` if the database does not
    /// answer within [`IN_DOUBT_WAIT`].
    async fn ledger_has(&self, envelope: &str) -> Option<bool> {
        let deadline = tokio::time::Instant::now() + IN_DOUBT_WAIT;
        loop {
            let found = upload::Entity::find()
                .select_only()
                .column(upload::Column::Id)
                .filter(upload::Column::EnvelopeSha256.eq(envelope))
                .into_tuple::<i64>()
                .one(&self.db.write)
                .await;
            match found {
                Ok(row) => return Some(row.is_some()),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    tracing::warn!(error = %e, "ledger not readable");
                    return None;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
            }
        }
    }

    async fn finish(
        &mut self,
        batch: Vec<IngestRequest>,
        results: Vec<Result<Stored, IngestError>>,
    ) {
        // Alerts first: they are pushed before anything slow.
        for stored in results.iter().flatten() {
            if !stored.events.is_empty() {
                self.bus.publish(stored.events.clone());
            }
        }
        // The batch's updates reach the actors in one call (in record
        // order), then every upload is answered.
        let mut updates = Vec::new();
        let mut answers = Vec::with_capacity(batch.len());
        for (req, result) in batch.into_iter().zip(results) {
            match result {
                Ok(stored) => {
                    for u in &stored.updates {
                        crate::metrics::record_update(u, self.per_printer_metrics);
                    }
                    if let Some(c) = &req.upload.payload.collector
                        && !stored.response.duplicate
                    {
                        crate::metrics::record_collector(
                            req.upload.sender.site_id,
                            c,
                            stored.response.accepted.printers,
                        );
                    }
                    updates.extend(stored.updates);
                    answers.push((req.reply, Ok(stored.response)));
                }
                Err(e) => answers.push((req.reply, Err(e))),
            }
        }
        if !updates.is_empty() {
            self.dispatch.dispatch(updates).await;
        }
        for (reply, answer) in answers {
            let _ = reply.send(answer);
        }
    }

    /// Store a batch in one transaction; commit; fold the overlay into the caches.
    /// A failed commit returns what the batch staged ([`BatchError::CommitFailed`]).
    async fn store_batch(
        &mut self,
        uploads: &[&VerifiedUpload],
    ) -> Result<Vec<Result<Stored, IngestError>>, BatchError> {
        let mut clock = StageClock::start();
        let (tx, results, overlay) = self
            .stage_batch(uploads, &mut clock)
            .await
            .map_err(BatchError::NotStored)?;
        let committed = tx.commit().await;
        clock.lap("commit");
        if let Err(error) = committed {
            return Err(BatchError::CommitFailed { error, results });
        }
        #[cfg(test)]
        if self.commits_reported_failed > 0 {
            self.commits_reported_failed -= 1;
            let error = DbErr::Custom("connection lost after COMMIT (test)".into());
            return Err(BatchError::CommitFailed { error, results });
        }
        if self.caches.printers.len() > CACHE_LIMIT {
            self.caches.printers.clear();
        }
        if self.caches.baselines.len() > CACHE_LIMIT {
            self.caches.baselines.clear();
        }
        self.caches.printers.extend(overlay.printers);
        self.caches.baselines.extend(overlay.baselines);
        Ok(results)
    }

    /// Write a batch in a transaction, up to its commit.
    async fn stage_batch(
        &mut self,
        uploads: &[&VerifiedUpload],
        clock: &mut StageClock,
    ) -> Result<
        (
            DatabaseTransaction,
            Vec<Result<Stored, IngestError>>,
            Overlay,
        ),
        DbErr,
    > {
        let tx = self.db.begin_write().await?;
        clock.lap("begin");
        let mut overlay = Overlay::default();
        let known = Known::load(&tx, uploads).await?;
        // The open alerts of the printers already known, in one query.
        let mut alert_batch = alerts::AlertBatch::default();
        let cached = uploads
            .iter()
            .flat_map(|up| up.payload.printers.iter())
            .filter_map(|r| self.caches.printers.get(r.serial_number.trim()))
            .map(|p| p.id);
        alert_batch.preload(&tx, cached).await?;
        let mut upload_ids = store::reserve_ids(&tx, "uploads", uploads.len()).await?;
        clock.lap("lookup");
        let mut deferred = Deferred::default();
        let mut thresholds = HashMap::new();
        let mut results = Vec::with_capacity(uploads.len());
        for up in uploads {
            let mut batch = Batch {
                caches: &self.caches,
                known: &known,
                overlay: &mut overlay,
                deferred: &mut deferred,
                thresholds: &mut thresholds,
                alerts: &mut alert_batch,
                upload_ids: &mut upload_ids,
            };
            results.push(store_one(&tx, &mut batch, up).await?);
        }
        clock.lap("uploads");
        alert_batch.flush(&tx).await?;
        clock.lap("alerts");
        let updates = results
            .iter()
            .flatten()
            .flat_map(|stored: &Stored| stored.updates.iter());
        deferred.flush(&tx, updates, clock).await?;
        Ok((tx, results, overlay))
    }
}

fn duplicate_of(mut response: IngestResponse) -> Stored {
    response.duplicate = true;
    Stored {
        response,
        updates: Vec::new(),
        events: Vec::new(),
    }
}

async fn find_printer(
    tx: &DatabaseTransaction,
    caches: &Caches,
    overlay: &mut Overlay,
    serial: &str,
) -> Result<Option<PrinterRef>, DbErr> {
    if let Some(p) = overlay
        .printers
        .get(serial)
        .or_else(|| caches.printers.get(serial))
    {
        return Ok(Some(*p));
    }
    let Some(p) = printer::Entity::find()
        .filter(printer::Column::SerialNumber.eq(serial))
        .one(tx)
        .await?
    else {
        return Ok(None);
    };
    let reseller_id = site_reseller(tx, p.site_id).await?;
    let found = PrinterRef {
        id: p.id,
        site_id: p.site_id,
        reseller_id,
    };
    // A printer's site and a site's reseller never change: cache it.
    overlay.printers.insert(serial.to_owned(), found);
    Ok(Some(found))
}

async fn site_reseller(tx: &DatabaseTransaction, site_id: i64) -> Result<i64, DbErr> {
    site::Entity::find_by_id(site_id)
        .one(tx)
        .await?
        .map(|s| s.reseller_id)
        .ok_or_else(|| DbErr::RecordNotFound(format!("site {site_id}")))
}

async fn baseline(
    tx: &DatabaseTransaction,
    caches: &Caches,
    overlay: &Overlay,
    printer_id: i64,
) -> Result<Option<Baseline>, DbErr> {
    if let Some(b) = overlay
        .baselines
        .get(&printer_id)
        .or_else(|| caches.baselines.get(&printer_id))
    {
        return Ok(Some(b.clone()));
    }
    let last = counter_reading::Entity::find()
        .filter(counter_reading::Column::PrinterId.eq(printer_id))
        .order_by_desc(counter_reading::Column::Id)
        .one(tx)
        .await?;
    last.map(|r| Ok((store::from_json(&r.counters)?, r.read_at)))
        .transpose()
}

/// A sender's key in the ledger: `kind/sender id`.
fn sender_key(kind: &str, sender_id: &str) -> String {
    format!("{kind}/{sender_id}")
}

/// What the database already holds about a batch's uploads, read with a few
/// queries per batch instead of several per upload: ledger rows with the
/// same envelope, nonce or batch id, the job UUIDs already stored, and the
/// sites' configuration versions.
#[derive(Debug, Default)]
struct Known {
    /// Envelope hash → the stored answer.
    envelopes: HashMap<String, serde_json::Value>,
    /// (sender key, nonce) already used.
    nonces: HashSet<(String, String)>,
    /// (sender key, batch id) → the stored answer.
    batches: HashMap<(String, String), serde_json::Value>,
    /// Job UUIDs already stored.
    jobs: HashSet<Uuid>,
    /// Configuration version per site.
    config_versions: HashMap<i64, i64>,
}

impl Known {
    async fn load(tx: &DatabaseTransaction, uploads: &[&VerifiedUpload]) -> Result<Self, DbErr> {
        let mut known = Self::default();
        // Chunks keep the OR chains well inside SQLite's expression depth limit.
        for chunk in uploads.chunks(50) {
            let mut any = Condition::any().add(
                upload::Column::EnvelopeSha256
                    .is_in(chunk.iter().map(|up| up.envelope_sha256.clone())),
            );
            for up in chunk {
                any = any.add(
                    Condition::all()
                        .add(upload::Column::SenderKind.eq(up.sender.kind.as_str()))
                        .add(upload::Column::SenderId.eq(&up.sender.sender_id))
                        .add(
                            Condition::any()
                                .add(upload::Column::Nonce.eq(hex::encode(up.header.nonce)))
                                .add(upload::Column::BatchId.eq(up.payload.batch_id.to_string())),
                        ),
                );
            }
            for row in upload::Entity::find().filter(any).all(tx).await? {
                let key = sender_key(&row.sender_kind, &row.sender_id);
                known.nonces.insert((key.clone(), row.nonce));
                known
                    .batches
                    .insert((key, row.batch_id), row.response.clone());
                known.envelopes.insert(row.envelope_sha256, row.response);
            }
        }
        let uuids: Vec<Uuid> = uploads
            .iter()
            .flat_map(|up| up.payload.printers.iter())
            .flat_map(|r| {
                r.print_jobs
                    .iter()
                    .map(|j| j.job.uuid)
                    .chain(r.scan_jobs.iter().map(|j| j.job.uuid))
                    .chain(r.copy_jobs.iter().map(|j| j.job.uuid))
            })
            .collect();
        for chunk in uuids.chunks(500) {
            let rows: Vec<Uuid> = ppu_entities::job::Entity::find()
                .select_only()
                .column(ppu_entities::job::Column::Uuid)
                .filter(ppu_entities::job::Column::Uuid.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(tx)
                .await?;
            known.jobs.extend(rows);
        }
        let sites: HashSet<i64> = uploads.iter().map(|up| up.sender.site_id).collect();
        let rows: Vec<(i64, i64)> = site::Entity::find()
            .select_only()
            .column(site::Column::Id)
            .column(site::Column::ConfigVersion)
            .filter(site::Column::Id.is_in(sites))
            .into_tuple()
            .all(tx)
            .await?;
        known.config_versions.extend(rows);
        Ok(known)
    }
}

/// Writes of a batch that need no id back, made once per batch just before
/// the commit, in upload order (ids keep the order of the uploads), one
/// multi-row statement per table and chunk.
#[derive(Debug, Default)]
struct Deferred {
    /// Ledger rows, their ids reserved.
    uploads: Vec<upload::ActiveModel>,
    jobs: Vec<ppu_entities::job::ActiveModel>,
    readings: Vec<counter_reading::ActiveModel>,
    /// Counter regressions: (upload id, printer id, the anomaly row without its reading id).
    anomalies: Vec<(i64, i64, anomaly::ActiveModel)>,
    snapshots: Vec<status_snapshot::ActiveModel>,
    /// The last change per printer (last upload time, identity from its configuration).
    printers: BTreeMap<i64, PrinterTouch>,
    /// When each credential was last used.
    credentials: BTreeMap<i64, DateTime<Utc>>,
}

/// What a batch changes on a printer row: when it last uploaded, and the
/// identity from its latest configuration (`None`: left as stored).
#[derive(Debug, Default)]
struct PrinterTouch {
    last_upload_at: Option<DateTime<Utc>>,
    product_number: Option<String>,
    product_name: Option<String>,
    firmware_version: Option<String>,
}

/// Rows per multi-row insert (SQLite allows 32,766 bound values; the widest
/// rows here have about 40 columns).
const INSERT_CHUNK: usize = 400;

impl Deferred {
    /// Write the batch's deferred rows. Their statements are built on a
    /// blocking thread while this task executes the ones already built:
    /// building them (rows into SQL and bound values, the rollup fold) took
    /// as long as the database took to run them, and each waited for the
    /// other.
    async fn flush<'a>(
        mut self,
        tx: &DatabaseTransaction,
        updates: impl Iterator<Item = &'a PrinterUpdate>,
        clock: &mut StageClock,
    ) -> Result<(), DbErr> {
        let updates: Vec<&PrinterUpdate> = updates.collect();
        let meters = crate::billing::rollup::meters_of(&updates);
        let anomalies = std::mem::take(&mut self.anomalies);
        let backend = tx.get_database_backend();
        let (built, mut to_run) = mpsc::unbounded_channel();
        let builder = tokio::task::spawn_blocking(move || {
            self.statements(backend, &meters, |stage, stmt| {
                // The receiver is gone only when a statement failed.
                built.send((stage, stmt)).is_ok()
            })
        });
        while let Some((stage, stmt)) = to_run.recv().await {
            tx.execute_raw(stmt).await?;
            clock.lap(stage);
        }
        builder
            .await
            .map_err(|e| DbErr::Custom(format!("building the batch's statements: {e}")))??;
        for (upload_id, printer_id, mut row) in anomalies {
            let reading: Option<i64> = counter_reading::Entity::find()
                .select_only()
                .column(counter_reading::Column::Id)
                .filter(counter_reading::Column::UploadId.eq(upload_id))
                .filter(counter_reading::Column::PrinterId.eq(printer_id))
                .into_tuple()
                .one(tx)
                .await?;
            let reading = reading.ok_or_else(|| {
                DbErr::RecordNotFound(format!(
                    "counter reading of printer {printer_id} in upload {upload_id}"
                ))
            })?;
            row.reading_id = Set(reading);
            anomaly::Entity::insert(row)
                .exec_without_returning(tx)
                .await?;
        }
        clock.lap("readings");
        Ok(())
    }

    /// The batch's statements in the order they run, each handed to `emit`
    /// with its stage as soon as it is built; stops early when `emit`
    /// returns false.
    fn statements(
        self,
        backend: DbBackend,
        meters: &[crate::billing::rollup::RollupMeter],
        mut emit: impl FnMut(&'static str, Statement) -> bool,
    ) -> Result<(), DbErr> {
        let mut all = |stage: &'static str, stmts: Vec<Statement>| {
            stmts.into_iter().all(|stmt| emit(stage, stmt))
        };
        let lock = crate::billing::rollup::close_lock(backend);
        if !all("ledger", lock.into_iter().collect())
            || !all(
                "ledger",
                store::insert_statements(backend, self.uploads, INSERT_CHUNK),
            )
        {
            return Ok(());
        }
        // The job rows before their rollups: the database inserts the first
        // chunk while the rest, and the rollup fold, are built.
        let mut rollup_jobs = Vec::with_capacity(self.jobs.len());
        let mut jobs = self.jobs.into_iter().peekable();
        while jobs.peek().is_some() {
            let chunk: Vec<_> = jobs.by_ref().take(store::JOB_INSERT_CHUNK).collect();
            rollup_jobs.extend(crate::billing::rollup::rollup_jobs_of(&chunk)?);
            if !all(
                "jobs",
                store::insert_statements(backend, chunk, store::JOB_INSERT_CHUNK),
            ) {
                return Ok(());
            }
        }
        if !all(
            "readings",
            store::insert_statements(backend, self.readings, INSERT_CHUNK),
        ) || !all(
            "snapshots",
            store::insert_statements(backend, self.snapshots, INSERT_CHUNK),
        ) || !all(
            "rollups",
            crate::billing::rollup::statements(backend, &rollup_jobs, meters),
        ) {
            return Ok(());
        }
        let printers: Vec<Vec<sea_orm::Value>> = self
            .printers
            .into_iter()
            .map(|(id, p)| {
                vec![
                    id.into(),
                    p.last_upload_at.into(),
                    p.product_number.into(),
                    p.product_name.into(),
                    p.firmware_version.into(),
                ]
            })
            .collect();
        let printers = store::update_from_values_statements(
            backend,
            "printers",
            &[
                ("id", "bigint", None),
                ("last_upload_at", "timestamptz", Some("v.last_upload_at")),
                (
                    "product_number",
                    "text",
                    Some("COALESCE(v.product_number, printers.product_number)"),
                ),
                (
                    "product_name",
                    "text",
                    Some("COALESCE(v.product_name, printers.product_name)"),
                ),
                (
                    "firmware_version",
                    "text",
                    Some("COALESCE(v.firmware_version, printers.firmware_version)"),
                ),
            ],
            printers,
        );
        if !all("printers", printers) {
            return Ok(());
        }
        let credentials = self
            .credentials
            .into_iter()
            .map(|(id, at)| vec![id.into(), at.into()])
            .collect();
        all(
            "credentials",
            store::update_from_values_statements(
                backend,
                "credentials",
                &[
                    ("id", "bigint", None),
                    ("last_used_at", "timestamptz", Some("v.last_used_at")),
                ],
                credentials,
            ),
        );
        Ok(())
    }
}

/// Times the stages of a batch into [`crate::metrics::INGEST_STAGE_SECONDS`]:
/// each lap adds the time since the previous one to its stage, and each
/// stage is recorded once, when the clock is dropped (a stage of several
/// statements laps once per statement).
struct StageClock {
    last: std::time::Instant,
    spent: Vec<(&'static str, f64)>,
}

impl StageClock {
    fn start() -> Self {
        Self {
            last: std::time::Instant::now(),
            spent: Vec::new(),
        }
    }

    fn lap(&mut self, stage: &'static str) {
        let now = std::time::Instant::now();
        let secs = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        match self.spent.iter_mut().find(|(s, _)| *s == stage) {
            Some((_, total)) => *total += secs,
            None => self.spent.push((stage, secs)),
        }
    }
}

impl Drop for StageClock {
    fn drop(&mut self) {
        for (stage, secs) in self.spent.drain(..) {
            metrics::histogram!(crate::metrics::INGEST_STAGE_SECONDS, "stage" => stage)
                .record(secs);
        }
    }
}

/// What [`store_one`] works with besides the transaction.
struct Batch<'a> {
    caches: &'a Caches,
    known: &'a Known,
    overlay: &'a mut Overlay,
    deferred: &'a mut Deferred,
    /// Alert thresholds per reseller, read once per batch.
    thresholds: &'a mut HashMap<i64, rules::AlertThresholds>,
    /// The open alerts the batch works on.
    alerts: &'a mut alerts::AlertBatch,
    /// Ledger ids reserved for the batch, ascending: one per stored upload.
    upload_ids: &'a mut std::collections::VecDeque<i64>,
}

/// Store one upload inside the batch transaction (rows that need no id
/// back go to the batch's [`Deferred`] writes).
///
/// `Err(DbErr)` aborts the whole batch; `Ok(Err(_))` refuses this upload only.
async fn store_one(
    tx: &DatabaseTransaction,
    batch: &mut Batch<'_>,
    up: &VerifiedUpload,
) -> Result<Result<Stored, IngestError>, DbErr> {
    let kind = up.sender.kind.as_str().to_owned();
    let sender_id = up.sender.sender_id.clone();
    let nonce = hex::encode(up.header.nonce);
    let batch_id = up.payload.batch_id.to_string();
    let sender = sender_key(&kind, &sender_id);

    // 1. The same bytes again: a retry.
    if let Some(r) = batch.overlay.envelopes.get(&up.envelope_sha256) {
        return Ok(Ok(duplicate_of(r.clone())));
    }
    if let Some(r) = batch.known.envelopes.get(&up.envelope_sha256) {
        return Ok(Ok(duplicate_of(store::from_json(r)?)));
    }
    // 2. Same nonce, other bytes: a replay (or a broken sender).
    let nonce_key = (sender.clone(), nonce.clone());
    if batch.overlay.nonces.contains(&nonce_key) || batch.known.nonces.contains(&nonce_key) {
        return Ok(Err(IngestError::ReplayedNonce));
    }
    // 3. The same batch re-sealed: a retry after the timestamp window.
    let batch_key = (sender, batch_id.clone());
    if let Some(r) = batch.overlay.batches.get(&batch_key) {
        return Ok(Ok(duplicate_of(r.clone())));
    }
    if let Some(r) = batch.known.batches.get(&batch_key) {
        return Ok(Ok(duplicate_of(store::from_json(r)?)));
    }

    // 4. Which printer reports are accepted.
    let mut rejected = Vec::new();
    let mut accepted_reports = Vec::new();
    let mut serials_seen = HashSet::new();
    for (i, report) in up.payload.printers.iter().enumerate() {
        let serial = report.serial_number.trim();
        let reject = |code: &str, message: String| RejectedPrinter {
            serial_number: report.serial_number.clone(),
            code: code.to_owned(),
            message,
        };
        if serial.is_empty() || serial.len() > 64 {
            rejected.push(reject(
                "invalid_serial_number",
                "serial number must have 1 to 64 characters".into(),
            ));
            continue;
        }
        if let Some(Some(why)) = up.implausible.get(i) {
            rejected.push(reject("implausible_value", why.clone()));
            continue;
        }
        if !serials_seen.insert(serial.to_owned()) {
            rejected.push(reject(
                "duplicate_printer_report",
                "the upload carries this printer twice; the first report was used".into(),
            ));
            continue;
        }
        let found = find_printer(tx, batch.caches, batch.overlay, serial).await?;
        let printer = match (up.sender.kind, found) {
            (SenderKind::Printer, Some(p)) if Some(p.id) == up.sender.printer_id => p,
            (SenderKind::Printer, _) => {
                rejected.push(reject(
                    "not_this_printer",
                    format!(
                        "a direct-connected printer may only report itself (sender {})",
                        up.sender.sender_id
                    ),
                ));
                continue;
            }
            (SenderKind::Collector, Some(p)) if p.site_id == up.sender.site_id => p,
            (SenderKind::Collector, Some(_)) => {
                rejected.push(reject(
                    "printer_of_another_site",
                    "this printer is registered to another site".into(),
                ));
                continue;
            }
            (SenderKind::Collector, None) => {
                // A collector found a new printer in its site's ranges: register it.
                let row = printer::ActiveModel {
                    serial_number: Set(serial.to_owned()),
                    site_id: Set(up.sender.site_id),
                    direct: Set(false),
                    expected_interval_s: Set(10_800),
                    created_at: Set(up.received_at),
                    ..Default::default()
                };
                let id = printer::Entity::insert(row).exec(tx).await?.last_insert_id;
                let p = PrinterRef {
                    id,
                    site_id: up.sender.site_id,
                    reseller_id: up.sender.reseller_id,
                };
                batch.overlay.printers.insert(serial.to_owned(), p);
                p
            }
        };
        accepted_reports.push((printer, report));
    }

    // 5. Which jobs are new (a UUID stored before, or earlier in this batch or
    //    upload, is a duplicate), and the answer, before anything is written.
    let mut accepted = RecordCounts::default();
    let mut duplicates = RecordCounts::default();
    let mut new_jobs: Vec<bool> = Vec::new();
    let mut seen_here = HashSet::new();
    let mut classify = |uuid: Uuid, dup: &mut u32, acc: &mut u32| {
        let new = !batch.known.jobs.contains(&uuid)
            && !batch.overlay.jobs.contains(&uuid)
            && seen_here.insert(uuid);
        if new {
            *acc += 1;
        } else {
            *dup += 1;
        }
        new_jobs.push(new);
    };
    for (_, report) in &accepted_reports {
        accepted.printers += 1;
        accepted.alerts += u32::try_from(report.alerts.len()).unwrap_or(u32::MAX);
        for j in &report.print_jobs {
            classify(
                j.job.uuid,
                &mut duplicates.print_jobs,
                &mut accepted.print_jobs,
            );
        }
        for j in &report.scan_jobs {
            classify(
                j.job.uuid,
                &mut duplicates.scan_jobs,
                &mut accepted.scan_jobs,
            );
        }
        for j in &report.copy_jobs {
            classify(
                j.job.uuid,
                &mut duplicates.copy_jobs,
                &mut accepted.copy_jobs,
            );
        }
    }
    let config_version = batch
        .known
        .config_versions
        .get(&up.sender.site_id)
        .copied()
        .unwrap_or(0);
    let response = IngestResponse {
        upload_id: up.envelope_sha256.clone(),
        duplicate: false,
        accepted,
        duplicates,
        rejected_printers: rejected,
        config_version: u64::try_from(config_version).unwrap_or(0),
    };

    // 6. The ledger row (its id orders everything this upload stores). Its
    //    id was reserved with the batch's; the row is written with the
    //    batch's other rows, before any row that refers to it.
    let upload_id = batch
        .upload_ids
        .pop_front()
        .ok_or_else(|| DbErr::Custom("more uploads than reserved ledger ids".into()))?;
    batch.deferred.uploads.push(upload::ActiveModel {
        id: Set(upload_id),
        envelope_sha256: Set(up.envelope_sha256.clone()),
        sender_kind: Set(kind.clone()),
        sender_id: Set(sender_id.clone()),
        nonce: Set(nonce.clone()),
        batch_id: Set(batch_id.clone()),
        sent_at: Set(up.header.timestamp),
        received_at: Set(up.received_at),
        size_bytes: Set(i64::try_from(up.size_bytes).unwrap_or(i64::MAX)),
        response: Set(store::to_json(&response)),
    });

    // 7. Records per accepted printer.
    let thresholds = if accepted_reports.is_empty() {
        rules::AlertThresholds::default()
    } else if let Some(t) = batch.thresholds.get(&up.sender.reseller_id) {
        t.clone()
    } else {
        let t = alerts::thresholds(tx, up.sender.reseller_id).await?;
        batch.thresholds.insert(up.sender.reseller_id, t.clone());
        t
    };
    let mut events = Vec::new();
    let mut updates = Vec::with_capacity(accepted_reports.len());
    let mut new_jobs = new_jobs.into_iter();
    for (printer, report) in accepted_reports {
        let owner = RowOwner {
            printer_id: printer.id,
            site_id: printer.site_id,
            reseller_id: printer.reseller_id,
            upload_id,
            received_at: up.received_at,
        };
        let mut usage = Usage::default();
        let mut is_new = |uuid: Uuid| {
            let new = new_jobs.next().unwrap_or(false);
            if new {
                batch.overlay.jobs.insert(uuid);
            }
            new
        };
        for j in &report.print_jobs {
            if is_new(j.job.uuid) {
                let f = JobFacts::from_print(j);
                batch
                    .deferred
                    .jobs
                    .push(store::print_job_row(&owner, j, &f));
                usage.jobs.add_job(&f);
            }
        }
        for j in &report.scan_jobs {
            if is_new(j.job.uuid) {
                let f = JobFacts::from_scan(j);
                batch.deferred.jobs.push(store::scan_job_row(&owner, j, &f));
                usage.jobs.add_job(&f);
            }
        }
        for j in &report.copy_jobs {
            if is_new(j.job.uuid) {
                let f = JobFacts::from_copy(j);
                batch.deferred.jobs.push(store::copy_job_row(&owner, j, &f));
                usage.jobs.add_job(&f);
            }
        }

        let mut regressions = Vec::new();
        let mut counters = None;
        let mut previous = None;
        if let Some(reading) = &report.counters {
            previous = baseline(tx, batch.caches, batch.overlay, printer.id).await?;
            let step = counter_step(previous.as_ref().map(|(c, _)| c), reading);
            batch.deferred.readings.push(counter_reading::ActiveModel {
                printer_id: Set(printer.id),
                site_id: Set(printer.site_id),
                reseller_id: Set(printer.reseller_id),
                upload_id: Set(upload_id),
                read_at: Set(report.collected_at),
                counters: Set(store::to_json(&step.baseline)),
                delta: Set(store::to_json(&step.delta)),
                anomaly: Set(!step.regressions.is_empty()),
                ..Default::default()
            });
            if !step.regressions.is_empty() {
                tracing::warn!(
                    printer_id = printer.id,
                    regressions = step.regressions.len(),
                    "lifetime counter went backwards: new baseline"
                );
                let row = anomaly::ActiveModel {
                    printer_id: Set(printer.id),
                    kind: Set("counter_went_backwards".into()),
                    detail: Set(store::to_json(&step.regressions)),
                    detected_at: Set(up.received_at),
                    ..Default::default()
                };
                batch.deferred.anomalies.push((upload_id, printer.id, row));
            }
            usage.meter = step.delta;
            regressions = step.regressions;
            batch
                .overlay
                .baselines
                .insert(printer.id, (step.baseline.clone(), report.collected_at));
            counters = Some(step.baseline);
        }

        let evaluation = rules::evaluate(
            report,
            rules::Context {
                thresholds: &thresholds,
                previous: previous.as_ref().map(|(c, at)| (c, *at)),
                regressions: &regressions,
            },
        );
        let owner = AlertOwner {
            printer_id: Some(printer.id),
            serial_number: Some(report.serial_number.trim().to_owned()),
            collector_id: None,
            site_id: printer.site_id,
            reseller_id: printer.reseller_id,
        };
        events.extend(alerts::apply(tx, batch.alerts, &owner, &evaluation, up.received_at).await?);

        if report.config.is_some() || report.status.is_some() {
            batch.deferred.snapshots.push(status_snapshot::ActiveModel {
                printer_id: Set(printer.id),
                upload_id: Set(upload_id),
                taken_at: Set(report.collected_at),
                config: Set(report.config.as_ref().map(store::to_json)),
                status: Set(report.status.as_ref().map(store::to_json)),
                ..Default::default()
            });
        }
        let p = batch.deferred.printers.entry(printer.id).or_default();
        p.last_upload_at = Some(up.received_at);
        if let Some(c) = &report.config {
            p.product_number = Some(c.product_number.clone());
            p.product_name = Some(c.product_name.clone());
            p.firmware_version = Some(c.firmware_version.clone());
        }

        updates.push(PrinterUpdate {
            upload_id,
            printer,
            serial_number: report.serial_number.trim().to_owned(),
            received_at: up.received_at,
            collected_at: report.collected_at,
            config: report.config.clone(),
            status: report.status.clone(),
            counters,
            usage,
            regressions,
            alerts: report.alerts.clone(),
        });
    }
    batch
        .deferred
        .credentials
        .insert(up.sender.credential_id, up.received_at);
    if up.sender.kind == SenderKind::Collector {
        events.extend(
            alerts::collector_seen(
                tx,
                batch.alerts,
                up.sender.credential_id,
                up.sender.site_id,
                up.sender.reseller_id,
                up.payload.collector.as_ref(),
                up.received_at,
            )
            .await?,
        );
    }

    batch
        .overlay
        .envelopes
        .insert(up.envelope_sha256.clone(), response.clone());
    batch.overlay.nonces.insert(nonce_key);
    batch.overlay.batches.insert(batch_key, response.clone());
    Ok(Ok(Stored {
        response,
        updates,
        events,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use ppu_entities::{credential, reseller, site};
    use ppu_migration::MigratorTrait;
    use ppu_protocol::model::{PrinterReport, PrinterStatus, UploadTrigger};
    use sea_orm::ActiveModelTrait;

    use super::*;

    /// Records the printer ids of the updates dispatched to the actors.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<i64>>>);

    impl Dispatch for Recorder {
        fn dispatch(
            &self,
            updates: Vec<PrinterUpdate>,
        ) -> impl std::future::Future<Output = ()> + Send {
            self.0
                .lock()
                .unwrap()
                .extend(updates.iter().map(|u| u.printer.id));
            async {}
        }
    }

    async fn upload_for(db: &Db, serial: &str) -> VerifiedUpload {
        let reseller = reseller::ActiveModel {
            name: Set("Doubt Co".into()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&db.write)
        .await
        .unwrap();
        let site = site::ActiveModel {
            reseller_id: Set(reseller.id),
            account_name: Set("doubt".into()),
            name: Set("Doubt site".into()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&db.write)
        .await
        .unwrap();
        let cred = credential::ActiveModel {
            sender_kind: Set("collector".into()),
            sender_id: Set("col-doubt".into()),
            site_id: Set(site.id),
            name: Set("collector".into()),
            keys: Set(vec![0; 32]),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&db.write)
        .await
        .unwrap();
        let mut payload =
            Payload::new(Uuid::new_v4(), "test", Utc::now(), UploadTrigger::Scheduled);
        let mut report = PrinterReport::new(serial, Utc::now());
        report.status = Some(PrinterStatus::default());
        payload.printers.push(report);
        let header = Header::new(SenderKind::Collector, "col-doubt", Utc::now());
        let sender = Sender {
            kind: SenderKind::Collector,
            sender_id: "col-doubt".into(),
            site_id: site.id,
            reseller_id: reseller.id,
            printer_id: None,
            credential_id: cred.id,
        };
        VerifiedUpload::new(header, payload, "ab".repeat(32), 100, sender, Utc::now())
    }

    /// One batch carries four uploads of a printer: an alert is raised, seen
    /// again, changes severity, then is gone from a full status report. The
    /// batch holds the alert in memory and writes its row once: the stored
    /// row and the events are what four batches of one upload each give.
    #[actix_rt::test]
    async fn an_alert_raised_refreshed_changed_and_cleared_in_one_batch() {
        use ppu_entities::{alert, alert_event};
        use ppu_protocol::model::{DeviceAlert, Severity};

        let (_dir, db) = crate::store::tests::scratch_sqlite().await;
        ppu_migration::Migrator::up(&db.write, None).await.unwrap();
        let first = upload_for(&db, "BATCH-1").await;
        let t0 = Utc::now();
        let uploads: Vec<VerifiedUpload> = [
            Some((Severity::Warning, "paper low")),
            Some((Severity::Warning, "paper low again")),
            Some((Severity::Critical, "paper out")),
            None,
        ]
        .into_iter()
        .enumerate()
        .map(|(i, alert)| {
            let at = t0 + chrono::Duration::seconds(i as i64);
            let mut payload = first.payload.clone();
            payload.batch_id = Uuid::new_v4();
            let report = &mut payload.printers[0];
            report.collected_at = at;
            report.alerts = alert
                .map(|(severity, message)| DeviceAlert {
                    code: "media:1".into(),
                    severity,
                    message: message.into(),
                    detected_at: at,
                    active: true,
                    during_boot: false,
                })
                .into_iter()
                .collect();
            let header = Header::new(SenderKind::Collector, "col-doubt", at);
            VerifiedUpload::new(
                header,
                payload,
                format!("{i:064x}"),
                100,
                first.sender.clone(),
                at,
            )
        })
        .collect();
        let (_tx, rx) = mpsc::channel(1);
        let mut writer = Writer::new(db.clone(), rx, Recorder::default(), AlertBus::new(16), 8);
        let refs: Vec<&VerifiedUpload> = uploads.iter().collect();
        let results = writer.store_batch(&refs).await.expect("stored");
        let kinds: Vec<(String, String, i64)> = results
            .iter()
            .flat_map(|r| r.as_ref().expect("accepted").events.iter())
            .map(|e| {
                (
                    e.kind.clone(),
                    e.alert.severity.as_str().to_owned(),
                    e.alert.occurrences,
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("raised".to_owned(), "warning".to_owned(), 1),
                ("updated".to_owned(), "critical".to_owned(), 3),
                ("cleared".to_owned(), "critical".to_owned(), 3),
            ]
        );

        // The batch's printer and credential rows, written once each.
        let p = printer::Entity::find()
            .filter(printer::Column::SerialNumber.eq("BATCH-1"))
            .one(&db.read)
            .await
            .unwrap()
            .unwrap();
        let last = t0 + chrono::Duration::seconds(3);
        assert_eq!(
            p.last_upload_at.map(|t| t.timestamp_millis()),
            Some(last.timestamp_millis())
        );
        let c = credential::Entity::find_by_id(first.sender.credential_id)
            .one(&db.read)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            c.last_used_at.map(|t| t.timestamp_millis()),
            Some(last.timestamp_millis())
        );

        let rows = alert::Entity::find().all(&db.read).await.unwrap();
        assert_eq!(rows.len(), 1, "one alert row");
        let row = &rows[0];
        assert_eq!(row.state, alerts::state::CLEARED);
        assert_eq!(row.occurrences, 3, "every report of it counted once");
        assert_eq!(row.severity, "critical");
        assert_eq!(row.message, "paper out");
        assert_eq!(row.cleared_by.as_deref(), Some("auto"));
        assert_eq!(
            row.last_seen.timestamp_millis(),
            (t0 + chrono::Duration::seconds(2)).timestamp_millis(),
            "last seen in the third upload"
        );

        // The stored events read back as they were pushed, ids included.
        let pushed: Vec<AlertEvent> = results
            .into_iter()
            .flat_map(|r| r.unwrap().events)
            .collect();
        let stored: Vec<AlertEvent> = alert_event::Entity::find()
            .order_by_asc(alert_event::Column::Id)
            .all(&db.read)
            .await
            .unwrap()
            .iter()
            .map(|r| alerts::stored_event(r).expect("an event"))
            .collect();
        assert_eq!(stored, pushed);
        assert!(stored.windows(2).all(|w| w[0].event_id < w[1].event_id));

        // The next batch reads the printer's open alerts up front (its
        // printer is cached now): the cleared one is not among them, so the
        // same code raises a new alert, and a second report refreshes it.
        let again: Vec<VerifiedUpload> = (0..2)
            .map(|i| {
                let mut u = uploads[i].clone();
                u.payload.batch_id = Uuid::new_v4();
                u.header = Header::new(SenderKind::Collector, "col-doubt", t0);
                u.envelope_sha256 = format!("{:064x}", 100 + i);
                u
            })
            .collect();
        assert!(writer.caches.printers.contains_key("BATCH-1"));
        let refs: Vec<&VerifiedUpload> = again.iter().collect();
        let results = writer.store_batch(&refs).await.expect("stored");
        let kinds: Vec<String> = results
            .iter()
            .flat_map(|r| r.as_ref().unwrap().events.iter().map(|e| e.kind.clone()))
            .collect();
        assert_eq!(kinds, ["raised"]);
        let open: Vec<alert::Model> = alert::Entity::find()
            .filter(alert::Column::State.ne(alerts::state::CLEARED))
            .all(&db.read)
            .await
            .unwrap();
        assert_eq!(open.len(), 1);
        assert_ne!(open[0].id, row.id, "a new alert");
        assert_eq!(open[0].occurrences, 2);
        assert_eq!(open[0].message, "paper low again");
    }

    /// A report may carry a code twice: cleared since the last upload and
    /// active again. The clear applies to what was open before the report,
    /// so with nothing open the alert is raised and stays open.
    #[actix_rt::test]
    async fn a_code_cleared_and_active_again_in_one_report_stays_open() {
        use ppu_entities::alert;
        use ppu_protocol::model::{DeviceAlert, Severity};

        let (_dir, db) = crate::store::tests::scratch_sqlite().await;
        ppu_migration::Migrator::up(&db.write, None).await.unwrap();
        let mut up = upload_for(&db, "AGAIN-1").await;
        let at = Utc::now();
        let entry = |active: bool| DeviceAlert {
            code: "jam:2".into(),
            severity: Severity::Major,
            message: "paper jam".into(),
            detected_at: at,
            active,
            during_boot: false,
        };
        up.payload.printers[0].alerts = vec![entry(false), entry(true)];
        let (_tx, rx) = mpsc::channel(1);
        let mut writer = Writer::new(db.clone(), rx, Recorder::default(), AlertBus::new(16), 8);
        let results = writer.store_batch(&[&up]).await.expect("stored");
        let kinds: Vec<String> = results
            .iter()
            .flat_map(|r| r.as_ref().unwrap().events.iter().map(|e| e.kind.clone()))
            .collect();
        assert_eq!(kinds, ["raised"]);
        let rows = alert::Entity::find().all(&db.read).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].state, alerts::state::ACTIVE);
    }

    /// The connection breaks after the database committed and before it said
    /// so: the writer asks the ledger, finds the batch, answers it as stored
    /// and dispatches its records; the sender's repeat is a duplicate.
    #[actix_rt::test]
    async fn a_commit_reported_failed_that_happened_still_reaches_the_actors() {
        let (_dir, db) = crate::store::tests::scratch_sqlite().await;
        ppu_migration::Migrator::up(&db.write, None).await.unwrap();
        let upload = upload_for(&db, "DOUBT-1").await;
        let recorder = Recorder::default();
        let (tx, rx) = mpsc::channel(4);
        let mut writer = Writer::new(db.clone(), rx, recorder.clone(), AlertBus::new(16), 8);
        writer.commits_reported_failed = 1;
        let running = actix_rt::spawn(writer.run());

        let send = |upload: VerifiedUpload| {
            let tx = tx.clone();
            async move {
                let (reply, answer) = oneshot::channel();
                tx.send(Command::Ingest(Box::new(IngestRequest { upload, reply })))
                    .await
                    .unwrap();
                answer.await.unwrap()
            }
        };
        let first = send(upload.clone()).await.expect("stored");
        assert!(!first.duplicate);
        assert_eq!(
            recorder.0.lock().unwrap().len(),
            1,
            "the records reached the actors"
        );
        let again = send(upload).await.expect("answered");
        assert!(again.duplicate, "the repeat is a duplicate");
        assert_eq!(
            recorder.0.lock().unwrap().len(),
            1,
            "and dispatches nothing more"
        );
        let uploads = upload::Entity::find().all(&db.read).await.unwrap();
        assert_eq!(uploads.len(), 1, "stored once");

        drop(tx);
        running.await.unwrap();
    }
}
