//! Alert lifecycle in the database, and the in-memory bus that pushes alert
//! events to subscribers (SSE clients, the webhook dispatcher) right away.
//!
//! Every change goes through the ingest writer, so alert changes are totally
//! ordered with the uploads that cause them and stored in the same
//! transaction. Each change appends an `alert_events` row whose id is the
//! event id clients resume from; the bus carries those events only once
//! committed. Beside them it pushes observations ([`ObservedAlert`]): the
//! device alerts of an accepted upload, at once, before it is stored.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use ppu_entities::{alert, alert_event, alert_setting, credential, printer, site};
use ppu_protocol::model::Severity;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Statement,
};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::domain::alerts::{AlertThresholds, Evaluation, Raise, device_code, stopped_reporting};
use crate::store;

/// Alert states.
pub mod state {
    /// Open, nobody acknowledged it.
    pub const ACTIVE: &str = "active";
    /// Open, acknowledged by someone.
    pub const ACKNOWLEDGED: &str = "acknowledged";
    /// Closed.
    pub const CLEARED: &str = "cleared";
}

/// An alert as the API and the event stream show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    /// Alert id.
    pub id: i64,
    /// Stable code.
    pub code: String,
    /// Severity.
    pub severity: Severity,
    /// Message.
    pub message: String,
    /// `device` or `derived`.
    pub source: String,
    /// `active`, `acknowledged` or `cleared`.
    pub state: String,
    /// Printer id.
    pub printer_id: Option<i64>,
    /// Printer serial number.
    pub serial_number: Option<String>,
    /// Collector credential id (collector alerts).
    pub collector_id: Option<i64>,
    /// Site.
    pub site_id: i64,
    /// Reseller.
    pub reseller_id: i64,
    /// First occurrence.
    pub first_seen: DateTime<Utc>,
    /// Latest occurrence.
    pub last_seen: DateTime<Utc>,
    /// Occurrences.
    pub occurrences: i64,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who cleared it (`auto` when its condition resolved).
    pub cleared_by: Option<String>,
    /// When.
    pub cleared_at: Option<DateTime<Utc>>,
}

impl AlertView {
    /// From a row and the printer's serial number.
    pub fn from_row(m: &alert::Model, serial_number: Option<String>) -> Self {
        Self {
            id: m.id,
            code: m.code.clone(),
            severity: m.severity.parse().unwrap_or(Severity::Info),
            message: m.message.clone(),
            source: m.source.clone(),
            state: m.state.clone(),
            printer_id: m.printer_id,
            serial_number,
            collector_id: m.collector_id,
            site_id: m.site_id,
            reseller_id: m.reseller_id,
            first_seen: m.first_seen,
            last_seen: m.last_seen,
            occurrences: m.occurrences,
            acknowledged_by: m.acknowledged_by.clone(),
            acknowledged_at: m.acknowledged_at,
            cleared_by: m.cleared_by.clone(),
            cleared_at: m.cleared_at,
        }
    }
}

/// One change of one alert, as pushed to subscribers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Event id (strictly increasing; SSE `id`, webhook de-duplication key).
    pub event_id: i64,
    /// `raised`, `updated` (severity changed), `acknowledged` or `cleared`.
    pub kind: String,
    /// The alert after the change.
    pub alert: AlertView,
    /// When the change was stored.
    pub at: DateTime<Utc>,
}

/// A device alert seen in an upload the hub accepted, pushed before that
/// upload is stored (`event: observed` on the stream, no event id).
///
/// It is a preview: the stored `raised` event (with its id, in the event log,
/// sent to webhooks) follows once the upload commits. If storing fails the
/// upload is refused, its sender sends it again, and the stored event follows
/// that retry. Only raises of device alerts the hub does not already hold
/// open are observed; derived alerts and clears come stored only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedAlert {
    /// Always `observed`.
    pub kind: String,
    /// Stable code (`device:<code>`).
    pub code: String,
    /// Severity.
    pub severity: Severity,
    /// Message.
    pub message: String,
    /// Always `device`.
    pub source: String,
    /// Printer id.
    pub printer_id: i64,
    /// Printer serial number.
    pub serial_number: String,
    /// Site.
    pub site_id: i64,
    /// Reseller.
    pub reseller_id: i64,
    /// When the device detected it.
    pub seen_at: DateTime<Utc>,
    /// When the hub received the upload.
    pub observed_at: DateTime<Utc>,
    /// Id of the upload that carries it (hex SHA-256 of the envelope).
    pub upload_id: String,
}

/// What the bus knows of a printer alert that is open.
#[derive(Debug, Clone, Copy)]
enum Open {
    /// Stored and open.
    Stored,
    /// Observed at this instant, not yet stored.
    Observed(std::time::Instant),
}

/// An observation not confirmed by a stored event within this long is
/// forgotten (its upload was never stored), so the alert can be observed again.
const OBSERVED_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// The in-memory fan-out of alert events.
///
/// Two broadcast channels: committed events, and observations pushed before
/// their upload commits ([`ObservedAlert`]). A subscriber that falls more than
/// its capacity behind loses events and is told so (it resyncs from the event
/// log); it can never slow the publisher or the other subscribers.
#[derive(Debug, Clone)]
pub struct AlertBus {
    tx: broadcast::Sender<Arc<AlertEvent>>,
    observed: broadcast::Sender<Arc<ObservedAlert>>,
    /// Open printer alerts by (serial number, code): decides what is new
    /// enough to be observed, before the printer's id is even looked up. A
    /// derived view of the `alerts` table, never the truth.
    open: Arc<DashMap<(String, String), Open>>,
}

impl AlertBus {
    /// A bus buffering `capacity` events per subscriber.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        let (observed, _) = broadcast::channel(capacity.max(16));
        Self {
            tx,
            observed,
            open: Arc::new(DashMap::new()),
        }
    }

    /// Receive every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<AlertEvent>> {
        self.tx.subscribe()
    }

    /// Receive every observation pushed from now on.
    pub fn subscribe_observed(&self) -> broadcast::Receiver<Arc<ObservedAlert>> {
        self.observed.subscribe()
    }

    /// Publish committed events (no-op without subscribers).
    pub fn publish(&self, events: Vec<AlertEvent>) {
        for e in events {
            metrics::counter!(crate::metrics::ALERT_EVENTS_TOTAL, "kind" => e.kind.clone(), "severity" => e.alert.severity.as_str()).increment(1);
            if e.alert.printer_id.is_some()
                && let Some(serial) = &e.alert.serial_number
            {
                let key = (serial.clone(), e.alert.code.clone());
                if e.alert.state == state::CLEARED {
                    self.open.remove(&key);
                } else {
                    self.open.insert(key, Open::Stored);
                }
            }
            let _ = self.tx.send(Arc::new(e));
        }
    }

    /// Remember alerts stored as open (at start: what the database holds), so
    /// that they are not observed as new. Observations already made are kept.
    pub fn know_open(&self, alerts: impl IntoIterator<Item = (String, String)>) {
        for key in alerts {
            self.open.entry(key).or_insert(Open::Stored);
        }
    }

    /// Whether the device alert `code` of printer `serial` is open (stored,
    /// or observed within the last 10 minutes): a raise of it would not be observed.
    pub fn is_open(&self, serial: &str, code: &str) -> bool {
        self.open
            .get(&(serial.to_owned(), device_code(code)))
            .is_some_and(|o| match *o {
                Open::Stored => true,
                Open::Observed(at) => at.elapsed() < OBSERVED_TTL,
            })
    }

    /// Push the raises in `candidates` that are not open yet.
    pub fn observe(&self, candidates: Vec<ObservedAlert>) {
        for o in candidates {
            let key = (o.serial_number.clone(), o.code.clone());
            let fresh = match self.open.entry(key) {
                dashmap::Entry::Occupied(mut e) => match *e.get() {
                    Open::Observed(at) if at.elapsed() >= OBSERVED_TTL => {
                        e.insert(Open::Observed(std::time::Instant::now()));
                        true
                    }
                    _ => false,
                },
                dashmap::Entry::Vacant(e) => {
                    e.insert(Open::Observed(std::time::Instant::now()));
                    true
                }
            };
            if fresh {
                metrics::counter!(crate::metrics::ALERT_OBSERVED_TOTAL, "severity" => o.severity.as_str()).increment(1);
                let _ = self.observed.send(Arc::new(o));
            }
        }
    }
}

/// The device alerts an accepted upload raises, as observations, for the
/// printers whose ids `printer_of` resolves (by serial number). Reports that
/// failed the plausibility check are left out.
pub fn observations(
    upload: &crate::ingest::VerifiedUpload,
    mut printer_of: impl FnMut(&str) -> Option<i64>,
) -> Vec<ObservedAlert> {
    let mut out = Vec::new();
    for (report, implausible) in upload.payload.printers.iter().zip(&upload.implausible) {
        if implausible.is_some() || !report.alerts.iter().any(|a| a.active) {
            continue;
        }
        let serial = report.serial_number.trim();
        let Some(printer_id) = printer_of(serial) else {
            continue;
        };
        for a in report.alerts.iter().filter(|a| a.active) {
            out.push(ObservedAlert {
                kind: "observed".into(),
                code: device_code(&a.code),
                severity: a.severity,
                message: a.message.clone(),
                source: "device".into(),
                printer_id,
                serial_number: serial.to_owned(),
                site_id: upload.sender.site_id,
                reseller_id: upload.sender.reseller_id,
                seen_at: a.detected_at,
                observed_at: upload.received_at,
                upload_id: upload.envelope_sha256.clone(),
            });
        }
    }
    out
}

/// Open printer alerts as stored: (serial number, code) pairs.
pub async fn open_printer_alerts<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<(String, String)>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT p.serial_number, a.code FROM alerts a \
                 JOIN printers p ON p.id = a.printer_id WHERE a.state <> '{}'",
                state::CLEARED
            ),
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "serial_number")?, r.try_get("", "code")?)))
        .collect()
}

/// Whom an alert belongs to.
#[derive(Debug, Clone)]
pub struct AlertOwner {
    /// Printer (printer alerts).
    pub printer_id: Option<i64>,
    /// Printer serial.
    pub serial_number: Option<String>,
    /// Collector credential (collector alerts).
    pub collector_id: Option<i64>,
    /// Site.
    pub site_id: i64,
    /// Reseller.
    pub reseller_id: i64,
}

async fn record<C: ConnectionTrait>(
    db: &C,
    kind: &str,
    row: &alert::Model,
    serial: Option<String>,
    at: DateTime<Utc>,
) -> Result<AlertEvent, DbErr> {
    let (mut event, stored) = event_row(kind, row, serial, at);
    let id = alert_event::Entity::insert(stored)
        .exec(db)
        .await?
        .last_insert_id;
    event.event_id = id;
    Ok(event)
}

/// An event of `row` and its `alert_events` row, without an id. The stored
/// event leaves its id to the row's id column (one insert, no update after
/// it): readers take it from there (`stored_event`).
fn event_row(
    kind: &str,
    row: &alert::Model,
    serial: Option<String>,
    at: DateTime<Utc>,
) -> (AlertEvent, alert_event::ActiveModel) {
    let event = AlertEvent {
        event_id: 0,
        kind: kind.to_owned(),
        alert: AlertView::from_row(row, serial),
        at,
    };
    let stored = alert_event::ActiveModel {
        alert_id: Set(row.id),
        reseller_id: Set(row.reseller_id),
        site_id: Set(row.site_id),
        printer_id: Set(row.printer_id),
        kind: Set(kind.to_owned()),
        severity: Set(row.severity.clone()),
        event: Set(store::to_json(&event)),
        created_at: Set(at),
        ..Default::default()
    };
    (event, stored)
}

/// Record an event of `row` in `batch`: its id now, its row at the flush.
async fn record_in<C: ConnectionTrait>(
    db: &C,
    batch: &mut AlertBatch,
    kind: &str,
    row: &alert::Model,
    serial: Option<String>,
    at: DateTime<Utc>,
) -> Result<AlertEvent, DbErr> {
    let id = batch.event_ids.next(db, "alert_events").await?;
    let (mut event, mut stored) = event_row(kind, row, serial, at);
    stored.id = Set(id);
    batch.events.push(stored);
    event.event_id = id;
    Ok(event)
}

/// The event an `alert_events` row holds, its id taken from the row (the
/// stored JSON leaves `event_id` to the row's id column). `None` for a row
/// whose JSON is not an event.
pub fn stored_event(row: &alert_event::Model) -> Option<AlertEvent> {
    let mut event: AlertEvent = serde_json::from_value(row.event.clone()).ok()?;
    event.event_id = row.id;
    Some(event)
}

/// Whose open alerts: a printer's or a collector's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum OwnerKey {
    Printer(i64),
    Collector(i64),
}

impl OwnerKey {
    fn of(owner: &AlertOwner) -> Option<Self> {
        match (owner.printer_id, owner.collector_id) {
            (Some(p), _) => Some(Self::Printer(p)),
            (None, Some(c)) => Some(Self::Collector(c)),
            (None, None) => None,
        }
    }
}

/// The alerts a batch of uploads works on, in memory.
///
/// The open alerts of an owner are read once per batch (those of many
/// printers in one query, [`AlertBatch::preload`]) and kept current as the
/// batch's uploads raise, refresh and clear them. Nothing is written per
/// upload: a new alert and every event get their ids from blocks reserved
/// in the transaction ([`store::IdBlock`]; the event carries both ids), and
/// [`AlertBatch::flush`] writes the batch's new alerts and events in
/// multi-row inserts and its changes to existing rows (a refresh on every
/// upload that reports the alert again, a severity change, a clear) each
/// row once in its final state, just before the commit. Only the writer
/// changes alerts, so what the batch holds is what the database holds once
/// it is flushed.
#[derive(Debug, Default)]
pub struct AlertBatch {
    open: HashMap<OwnerKey, Vec<alert::Model>>,
    /// Existing rows changed by the batch, by id, in their final state.
    changed: BTreeMap<i64, alert::Model>,
    /// Alerts the batch raised, by their reserved ids, in their final state.
    raised: BTreeMap<i64, alert::Model>,
    /// Events of the batch, in the order they happened (ids ascending).
    events: Vec<alert_event::ActiveModel>,
    alert_ids: store::IdBlock,
    event_ids: store::IdBlock,
}

/// Rows per multi-row insert of [`AlertBatch::flush`].
const INSERT_CHUNK: usize = 400;

/// Printers per query of [`AlertBatch::preload`].
const PRELOAD_CHUNK: usize = 500;

impl AlertBatch {
    /// Read the open alerts of `printers` not read yet, in a few queries.
    pub async fn preload<C: ConnectionTrait>(
        &mut self,
        db: &C,
        printers: impl IntoIterator<Item = i64>,
    ) -> Result<(), DbErr> {
        let ids: Vec<i64> = printers
            .into_iter()
            .filter(|p| !self.open.contains_key(&OwnerKey::Printer(*p)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for chunk in ids.chunks(PRELOAD_CHUNK) {
            for p in chunk {
                self.open.insert(OwnerKey::Printer(*p), Vec::new());
            }
            let rows = alert::Entity::find()
                .filter(alert::Column::State.ne(state::CLEARED))
                .filter(alert::Column::PrinterId.is_in(chunk.iter().copied()))
                .order_by_asc(alert::Column::Id)
                .all(db)
                .await?;
            for a in rows {
                if let Some(p) = a.printer_id {
                    self.open.entry(OwnerKey::Printer(p)).or_default().push(a);
                }
            }
        }
        Ok(())
    }

    /// The open alerts of `key`, read from the database the first time.
    async fn open_of<C: ConnectionTrait>(
        &mut self,
        db: &C,
        key: OwnerKey,
    ) -> Result<&mut Vec<alert::Model>, DbErr> {
        match self.open.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => Ok(e.into_mut()),
            std::collections::hash_map::Entry::Vacant(e) => {
                let q = alert::Entity::find().filter(alert::Column::State.ne(state::CLEARED));
                let q = match key {
                    OwnerKey::Printer(p) => q.filter(alert::Column::PrinterId.eq(p)),
                    OwnerKey::Collector(c) => q.filter(alert::Column::CollectorId.eq(c)),
                };
                let rows = q.order_by_asc(alert::Column::Id).all(db).await?;
                Ok(e.insert(rows))
            }
        }
    }

    /// Write the batch's new alerts and events and every changed row, in
    /// its final state, in a few statements.
    pub async fn flush<C: ConnectionTrait>(mut self, db: &C) -> Result<(), DbErr> {
        let backend = db.get_database_backend();
        // An alert raised and then changed by the batch goes in as it ends.
        self.changed.retain(|id, m| match self.raised.get_mut(id) {
            Some(new) => {
                *new = m.clone();
                false
            }
            None => true,
        });
        let raised: Vec<alert::ActiveModel> = self
            .raised
            .into_values()
            .map(|m| alert::ActiveModel::from(m).reset_all())
            .collect();
        let inserts = store::insert_statements(backend, raised, INSERT_CHUNK)
            .into_iter()
            .chain(store::insert_statements(backend, self.events, INSERT_CHUNK));
        for stmt in inserts {
            db.execute_raw(stmt).await?;
        }
        let rows = self
            .changed
            .into_values()
            .map(|m| {
                vec![
                    m.id.into(),
                    m.severity.into(),
                    m.message.into(),
                    m.last_seen.into(),
                    m.occurrences.into(),
                    m.state.into(),
                    m.cleared_by.into(),
                    m.cleared_at.into(),
                ]
            })
            .collect();
        store::update_from_values(
            db,
            "alerts",
            &[
                ("id", "bigint", None),
                ("severity", "text", Some("v.severity")),
                ("message", "text", Some("v.message")),
                ("last_seen", "timestamptz", Some("v.last_seen")),
                ("occurrences", "bigint", Some("v.occurrences")),
                ("state", "text", Some("v.state")),
                ("cleared_by", "text", Some("v.cleared_by")),
                ("cleared_at", "timestamptz", Some("v.cleared_at")),
            ],
            rows,
        )
        .await
    }
}

/// Insert a new open alert of `owner` and its `raised` event.
async fn insert_raised<C: ConnectionTrait>(
    db: &C,
    owner: &AlertOwner,
    r: &Raise,
    now: DateTime<Utc>,
) -> Result<(alert::Model, AlertEvent), DbErr> {
    let mut row = alert::ActiveModel::from(raised_row(owner, r, 0)).reset_all();
    row.id = sea_orm::ActiveValue::NotSet;
    let row = row.insert(db).await?;
    let event = record(db, "raised", &row, owner.serial_number.clone(), now).await?;
    Ok((row, event))
}

/// A new open alert of `owner` with id `id`.
fn raised_row(owner: &AlertOwner, r: &Raise, id: i64) -> alert::Model {
    alert::Model {
        id,
        printer_id: owner.printer_id,
        collector_id: owner.collector_id,
        site_id: owner.site_id,
        reseller_id: owner.reseller_id,
        code: r.code.clone(),
        severity: r.severity.as_str().to_owned(),
        message: r.message.clone(),
        source: r.source.as_str().to_owned(),
        state: state::ACTIVE.to_owned(),
        first_seen: r.seen_at,
        last_seen: r.seen_at,
        occurrences: 1,
        acknowledged_by: None,
        acknowledged_at: None,
        cleared_by: None,
        cleared_at: None,
    }
}

async fn clear_row<C: ConnectionTrait>(
    db: &C,
    a: &alert::Model,
    by: &str,
    serial: Option<String>,
    now: DateTime<Utc>,
) -> Result<AlertEvent, DbErr> {
    let row = alert::ActiveModel {
        id: Set(a.id),
        state: Set(state::CLEARED.to_owned()),
        cleared_by: Set(Some(by.to_owned())),
        cleared_at: Set(Some(now)),
        ..Default::default()
    }
    .update(db)
    .await?;
    record(db, "cleared", &row, serial, now).await
}

/// Apply an evaluation to an owner's open alerts, as held by `batch`:
/// raise, count, clear. Changes to existing rows are written by
/// [`AlertBatch::flush`].
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    batch: &mut AlertBatch,
    owner: &AlertOwner,
    eval: &Evaluation,
    now: DateTime<Utc>,
) -> Result<Vec<AlertEvent>, DbErr> {
    if eval.raise.is_empty() && eval.cleared.is_empty() && eval.evaluated.is_empty() {
        return Ok(Vec::new());
    }
    let Some(key) = OwnerKey::of(owner) else {
        return Ok(Vec::new());
    };
    // Clears apply to the alerts open before this evaluation, not to one it
    // raises itself (a report may carry a code as cleared and as active again).
    let open_before: std::collections::HashSet<i64> =
        batch.open_of(db, key).await?.iter().map(|a| a.id).collect();
    let mut events = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in &eval.raise {
        if !seen.insert(r.code.as_str()) {
            continue;
        }
        let refreshed = batch
            .open_of(db, key)
            .await?
            .iter_mut()
            .find(|a| a.code == r.code)
            .map(|a| {
                let severity_changed = a.severity != r.severity.as_str();
                a.last_seen = r.seen_at.max(a.last_seen);
                a.occurrences += 1;
                r.severity.as_str().clone_into(&mut a.severity);
                a.message.clone_from(&r.message);
                (a.clone(), severity_changed)
            });
        match refreshed {
            Some((row, severity_changed)) => {
                if severity_changed {
                    let serial = owner.serial_number.clone();
                    events.push(record_in(db, batch, "updated", &row, serial, now).await?);
                }
                batch.changed.insert(row.id, row);
            }
            None => {
                let id = batch.alert_ids.next(db, "alerts").await?;
                let row = raised_row(owner, r, id);
                let serial = owner.serial_number.clone();
                events.push(record_in(db, batch, "raised", &row, serial, now).await?);
                batch.open_of(db, key).await?.push(row.clone());
                batch.raised.insert(id, row);
            }
        }
    }
    let open = batch.open_of(db, key).await?;
    let (cleared, still_open): (Vec<_>, Vec<_>) = std::mem::take(open)
        .into_iter()
        .partition(|a| open_before.contains(&a.id) && eval.clears(&a.code));
    *open = still_open;
    for mut a in cleared {
        state::CLEARED.clone_into(&mut a.state);
        a.cleared_by = Some("auto".to_owned());
        a.cleared_at = Some(now);
        let serial = owner.serial_number.clone();
        events.push(record_in(db, batch, "cleared", &a, serial, now).await?);
        batch.changed.insert(a.id, a);
    }
    Ok(events)
}

/// An operation on alerts that goes through the writer.
#[derive(Debug, Clone)]
pub enum AlertOp {
    /// Acknowledge an open alert.
    Acknowledge {
        /// Alert id.
        id: i64,
        /// Who.
        by: String,
    },
    /// Clear an open alert by hand.
    Clear {
        /// Alert id.
        id: i64,
        /// Who.
        by: String,
    },
    /// Raise `stopped_reporting` for printers silent too long, clear it for those back.
    Sweep {
        /// The current time (an accelerated clock in tests and the demo).
        now: DateTime<Utc>,
    },
}

/// Why an alert operation did nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertOpError {
    /// No such alert.
    #[error("alert not found")]
    NotFound,
    /// The alert is cleared; it cannot change any more.
    #[error("alert is already cleared")]
    AlreadyCleared,
    /// The alert is already acknowledged.
    #[error("alert is already acknowledged")]
    AlreadyAcknowledged,
}

async fn serial_of<C: ConnectionTrait>(
    db: &C,
    printer_id: Option<i64>,
) -> Result<Option<String>, DbErr> {
    let Some(id) = printer_id else {
        return Ok(None);
    };
    Ok(printer::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|p| p.serial_number))
}

/// Run an operation; returns the events it produced.
pub async fn run_op<C: ConnectionTrait>(
    db: &C,
    op: &AlertOp,
    now: DateTime<Utc>,
) -> Result<Result<Vec<AlertEvent>, AlertOpError>, DbErr> {
    match op {
        AlertOp::Acknowledge { id, by } | AlertOp::Clear { id, by } => {
            let Some(a) = alert::Entity::find_by_id(*id).one(db).await? else {
                return Ok(Err(AlertOpError::NotFound));
            };
            if a.state == state::CLEARED {
                return Ok(Err(AlertOpError::AlreadyCleared));
            }
            let serial = serial_of(db, a.printer_id).await?;
            if matches!(op, AlertOp::Clear { .. }) {
                return Ok(Ok(vec![clear_row(db, &a, by, serial, now).await?]));
            }
            if a.state == state::ACKNOWLEDGED {
                return Ok(Err(AlertOpError::AlreadyAcknowledged));
            }
            let row = alert::ActiveModel {
                id: Set(a.id),
                state: Set(state::ACKNOWLEDGED.to_owned()),
                acknowledged_by: Set(Some(by.clone())),
                acknowledged_at: Set(Some(now)),
                ..Default::default()
            }
            .update(db)
            .await?;
            Ok(Ok(vec![
                record(db, "acknowledged", &row, serial, now).await?,
            ]))
        }
        AlertOp::Sweep { now } => Ok(Ok(sweep(db, *now).await?)),
    }
}

/// Thresholds of a reseller (defaults when none are stored).
pub async fn thresholds<C: ConnectionTrait>(
    db: &C,
    reseller_id: i64,
) -> Result<AlertThresholds, DbErr> {
    Ok(alert_setting::Entity::find_by_id(reseller_id)
        .one(db)
        .await?
        .and_then(|r| serde_json::from_value(r.settings).ok())
        .unwrap_or_default())
}

/// A collector's poll interval in seconds, from its site's configuration
/// (180 minutes when none is set).
fn collector_interval_s(site: Option<&site::Model>) -> i64 {
    site.and_then(|s| s.collector_config.as_ref())
        .and_then(|c| c.get("poll_interval_minutes"))
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(180)
        * 60
}

/// Raise `collector_offline` for collectors silent for longer than the
/// reseller's factor times their poll interval.
async fn sweep_collectors<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<Vec<AlertEvent>, DbErr> {
    let collectors = credential::Entity::find()
        .filter(credential::Column::SenderKind.eq("collector"))
        .filter(credential::Column::RevokedAt.is_null())
        .filter(credential::Column::LastUsedAt.is_not_null())
        .all(db)
        .await?;
    let mut events = Vec::new();
    for c in collectors {
        let Some(last) = c.last_used_at else { continue };
        let open = alert::Entity::find()
            .filter(alert::Column::CollectorId.eq(c.id))
            .filter(alert::Column::Code.eq("collector_offline"))
            .filter(alert::Column::State.ne(state::CLEARED))
            .one(db)
            .await?;
        if open.is_some() {
            continue;
        }
        let site = site::Entity::find_by_id(c.site_id).one(db).await?;
        let reseller_id = site.as_ref().map_or(0, |s| s.reseller_id);
        let factor = i64::from(thresholds(db, reseller_id).await?.stale_factor);
        let interval = collector_interval_s(site.as_ref());
        if (now - last).num_seconds() <= interval * factor {
            continue;
        }
        let owner = AlertOwner {
            printer_id: None,
            serial_number: None,
            collector_id: Some(c.id),
            site_id: c.site_id,
            reseller_id,
        };
        let r = Raise {
            code: "collector_offline".into(),
            severity: Severity::Major,
            message: format!(
                "data collector {} has not uploaded since {} (polls every {} min)",
                c.sender_id,
                last.to_rfc3339(),
                interval / 60
            ),
            source: crate::domain::alerts::AlertSource::Derived,
            seen_at: now,
        };
        events.push(insert_raised(db, &owner, &r, now).await?.1);
    }
    Ok(events)
}

/// A collector uploaded: clear its `collector_offline` alert, if any, and
/// raise (or clear) `collector_spool_full` from its own report: a spool that
/// reached its size limit while the hub was unreachable is said loudly here,
/// on the first upload that gets through.
pub async fn collector_seen<C: ConnectionTrait>(
    db: &C,
    batch: &mut AlertBatch,
    collector_id: i64,
    site_id: i64,
    reseller_id: i64,
    report: Option<&ppu_protocol::model::CollectorReport>,
    now: DateTime<Utc>,
) -> Result<Vec<AlertEvent>, DbErr> {
    let owner = AlertOwner {
        printer_id: None,
        serial_number: None,
        collector_id: Some(collector_id),
        site_id,
        reseller_id,
    };
    let mut eval = Evaluation::default();
    eval.evaluated.insert("collector_offline");
    if let Some(r) = report {
        eval.evaluated.insert("collector_spool_full");
        if r.spool_full {
            eval.raise.push(Raise {
                code: "collector_spool_full".into(),
                severity: Severity::Major,
                message: format!(
                    "data collector spool reached its size limit while the hub was unreachable \
                     ({} envelopes, {} bytes waiting): new polls are held back on the collector \
                     until the spool drains",
                    r.spool_entries, r.spool_bytes
                ),
                source: crate::domain::alerts::AlertSource::Derived,
                seen_at: now,
            });
        }
    }
    apply(db, batch, &owner, &eval, now).await
}

/// Raise `stopped_reporting` for every printer silent for longer than its
/// reseller's factor times its expected interval, and `collector_offline`
/// for silent collectors.
async fn sweep<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<Vec<AlertEvent>, DbErr> {
    let mut events = sweep_collectors(db, now).await?;
    let printers = printer::Entity::find()
        .filter(printer::Column::LastUploadAt.is_not_null())
        .order_by_asc(printer::Column::Id)
        .all(db)
        .await?;
    let open: Vec<alert::Model> = alert::Entity::find()
        .filter(alert::Column::Code.eq("stopped_reporting"))
        .filter(alert::Column::State.ne(state::CLEARED))
        .all(db)
        .await?;
    let open: HashMap<i64, &alert::Model> = open
        .iter()
        .filter_map(|a| a.printer_id.map(|p| (p, a)))
        .collect();
    let mut site_reseller: HashMap<i64, i64> = HashMap::new();
    let mut factors: HashMap<i64, u32> = HashMap::new();
    for p in printers {
        let Some(last) = p.last_upload_at else {
            continue;
        };
        if open.contains_key(&p.id) {
            continue;
        }
        let reseller_id = match site_reseller.get(&p.site_id) {
            Some(r) => *r,
            None => {
                let r = site::Entity::find_by_id(p.site_id)
                    .one(db)
                    .await?
                    .map_or(0, |s| s.reseller_id);
                site_reseller.insert(p.site_id, r);
                r
            }
        };
        let factor = match factors.get(&reseller_id) {
            Some(f) => *f,
            None => {
                let f = thresholds(db, reseller_id).await?.stale_factor;
                factors.insert(reseller_id, f);
                f
            }
        };
        let limit = chrono::Duration::seconds(p.expected_interval_s.max(1) * i64::from(factor));
        if now - last <= limit {
            continue;
        }
        let owner = AlertOwner {
            printer_id: Some(p.id),
            serial_number: Some(p.serial_number.clone()),
            collector_id: None,
            site_id: p.site_id,
            reseller_id,
        };
        let r = stopped_reporting(last, p.expected_interval_s, now);
        events.push(insert_raised(db, &owner, &r, now).await?.1);
    }
    Ok(events)
}
