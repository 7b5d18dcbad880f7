//! `PrinterActor`: the live state of one printer.
//!
//! It keeps the latest configuration, status and lifetime counters, the usage
//! accumulated from jobs and counter deltas, and forwards each update's usage
//! to its site. It is rebuilt from its last snapshot plus the records stored
//! after it, so it can be evicted when idle and started again on any node.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use ppu_entities::{actor_snapshot, counter_reading, printer, status_snapshot};
use ppu_protocol::model::{DeviceAlert, LifetimeCounters, PrinterConfig, PrinterStatus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};
use serde::{Deserialize, Serialize};

use crate::domain::Watermark;
use crate::domain::packed::Packed;
use crate::domain::status_doc::StatusDoc;
use crate::domain::usage::Usage;
use crate::fleet::{Fleet, UsageDelta};
use crate::ingest::PrinterUpdate;
use crate::store::{self, Scope};

/// Everything a printer actor knows; also its snapshot.
///
/// The documents (configuration, status, counters, usage, device alerts) are
/// kept [`Packed`] (the status as a [`StatusDoc`], its media catalog shared
/// among the printers of a model): a printer actor is one of up to 100,000
/// resident at once, and the documents are read only for views and
/// snapshots. In JSON (views) the documents appear unpacked; the stored
/// snapshot (MessagePack, see [`store::SNAPSHOT_FORM`]) keeps them packed as
/// they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PrinterState {
    /// Records folded in so far.
    pub watermark: Watermark,
    /// Latest configuration.
    pub config: Option<Packed<PrinterConfig>>,
    /// Latest status.
    pub status: Option<StatusDoc>,
    /// When the latest status was read.
    pub status_at: Option<DateTime<Utc>>,
    /// Latest lifetime counters (the baseline after the last reading).
    pub counters: Option<Packed<LifetimeCounters>>,
    /// When they were read.
    pub counters_at: Option<DateTime<Utc>>,
    /// Accumulated usage.
    pub usage: Packed<Usage>,
    /// Receipt time of the last upload.
    pub last_upload_at: Option<DateTime<Utc>>,
    /// Counter readings that went backwards.
    pub anomalies: u64,
    /// The device's alert table as last reported.
    pub device_alerts: Packed<Vec<DeviceAlert>>,
}

impl PrinterState {
    /// Fold one update in. Returns `false` (and changes nothing) when the
    /// update is not past the watermark, i.e. already included.
    pub fn apply(&mut self, u: &PrinterUpdate) -> bool {
        let mark = Watermark::new(u.upload_id, u.printer.id);
        if mark <= self.watermark {
            return false;
        }
        self.watermark = mark;
        if let Some(c) = &u.config {
            self.config = Some(Packed::new(c));
        }
        if let Some(s) = &u.status {
            self.status = Some(StatusDoc::new(s));
            self.status_at = Some(u.collected_at);
        }
        if let Some(c) = &u.counters {
            self.counters = Some(Packed::new(c));
            self.counters_at = Some(u.collected_at);
        }
        self.add_usage(&u.usage);
        self.last_upload_at = Some(u.received_at);
        if !u.regressions.is_empty() {
            self.anomalies += 1;
        }
        if u.status.is_some() || !u.alerts.is_empty() {
            self.device_alerts = Packed::new(&u.alerts);
        }
        true
    }

    /// Add usage (an empty one changes nothing and costs no repacking).
    pub fn add_usage(&mut self, usage: &Usage) {
        if *usage != Usage::default() {
            self.usage.update(|total| total.merge(usage));
        }
    }

    /// The latest configuration, unpacked.
    pub fn config(&self) -> Option<PrinterConfig> {
        self.config.as_ref().map(Packed::get)
    }

    /// The latest status, unpacked.
    pub fn status(&self) -> Option<PrinterStatus> {
        self.status.as_ref().map(StatusDoc::get)
    }

    /// The latest lifetime counters, unpacked.
    pub fn counters(&self) -> Option<LifetimeCounters> {
        self.counters.as_ref().map(Packed::get)
    }

    /// The accumulated usage, unpacked.
    pub fn usage(&self) -> Usage {
        self.usage.get()
    }

    /// The device's alert table, unpacked.
    pub fn device_alerts(&self) -> Vec<DeviceAlert> {
        self.device_alerts.get()
    }

    /// Bytes this state holds on the heap (the packed documents).
    pub fn heap_bytes(&self) -> usize {
        self.config.as_ref().map_or(0, Packed::heap_bytes)
            + self.status.as_ref().map_or(0, StatusDoc::heap_bytes)
            + self.counters.as_ref().map_or(0, Packed::heap_bytes)
            + self.usage.heap_bytes()
            + self.device_alerts.heap_bytes()
    }
}

/// What support staff see of a printer actor.
#[derive(Debug, Clone, Serialize)]
pub struct PrinterView {
    /// Printer id.
    pub printer_id: i64,
    /// Serial number.
    pub serial_number: String,
    /// Site id.
    pub site_id: i64,
    /// Reseller id.
    pub reseller_id: i64,
    /// Direct-connected.
    pub direct: bool,
    /// The live state.
    #[serde(flatten)]
    pub state: PrinterState,
    /// Messages waiting in the actor's mailbox.
    pub mailbox_depth: usize,
    /// The mailbox capacity.
    pub mailbox_capacity: usize,
    /// Seconds since the actor last handled a message.
    pub idle_seconds: u64,
}

/// Apply a committed update.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ApplyUpdate(pub PrinterUpdate);

/// Ask for the actor's view.
#[derive(Debug, Message)]
#[rtype(result = "PrinterView")]
pub struct Inspect;

/// Hand over the state for a snapshot if it changed since the stored one
/// (graceful shutdown: the fleet saves them in batches).
#[derive(Debug, Message)]
#[rtype(result = "Option<(i64, PrinterState)>")]
pub struct TakeSnapshot;

/// The printer actor.
#[derive(Debug)]
pub struct PrinterActor {
    id: i64,
    serial_number: Box<str>,
    site_id: i64,
    reseller_id: i64,
    direct: bool,
    /// Whether the state is already hydrated (preloaded in bulk).
    hydrated: bool,
    state: PrinterState,
    saved: Watermark,
    fleet: Fleet,
    queued: Arc<AtomicUsize>,
    last_activity: Instant,
    last_snapshot: Instant,
}

impl PrinterActor {
    /// A printer actor for printer `id`; it hydrates itself when started.
    pub fn new(id: i64, fleet: Fleet, queued: Arc<AtomicUsize>) -> Self {
        let now = Instant::now();
        Self {
            id,
            serial_number: Box::default(),
            site_id: 0,
            reseller_id: 0,
            direct: false,
            hydrated: false,
            state: PrinterState::default(),
            saved: Watermark::default(),
            fleet,
            queued,
            last_activity: now,
            last_snapshot: now,
        }
    }

    /// A printer actor started with a state already hydrated (bulk preload):
    /// it reads nothing when started.
    pub(crate) fn hydrated(h: Hydrated, fleet: Fleet, queued: Arc<AtomicUsize>) -> Self {
        let mut actor = Self::new(h.id, fleet, queued);
        actor.hydrated = true;
        actor.install(h);
        actor
    }

    fn install(&mut self, h: Hydrated) {
        self.serial_number = h.serial_number;
        self.site_id = h.site_id;
        self.reseller_id = h.reseller_id;
        self.direct = h.direct;
        self.saved = h.stored;
        self.state = h.state;
    }

    fn save(&mut self, ctx: &mut Context<Self>) {
        self.last_snapshot = Instant::now();
        if self.state.watermark == self.saved {
            return;
        }
        let db = self.fleet.db().clone();
        let state = self.state.clone();
        let mark = state.watermark;
        let id = self.id;
        ctx.spawn(
            async move {
                let started = std::time::Instant::now();
                let res = store::save_snapshot(&db.write, Scope::Printer(id), &state).await;
                metrics::histogram!(crate::metrics::SNAPSHOT_SECONDS).record(started.elapsed().as_secs_f64());
                res
            }
                .into_actor(self)
                .map(move |res, act, _| match res {
                    Ok(()) => {
                        act.saved = act.saved.max(mark);
                        metrics::counter!(crate::metrics::SNAPSHOTS_TOTAL, "kind" => "printer", "outcome" => "ok").increment(1);
                    }
                    Err(e) => {
                        metrics::counter!(crate::metrics::SNAPSHOTS_TOTAL, "kind" => "printer", "outcome" => "error").increment(1);
                        tracing::warn!(printer_id = id, error = %e, "printer snapshot not saved");
                    }
                }),
        );
    }
}

/// Everything hydration produces: the printer's identity and its state.
#[derive(Debug)]
pub(crate) struct Hydrated {
    pub(crate) id: i64,
    pub(crate) serial_number: Box<str>,
    pub(crate) site_id: i64,
    pub(crate) reseller_id: i64,
    pub(crate) direct: bool,
    pub(crate) state: PrinterState,
    /// Watermark of the snapshot stored in the database (what a save would not change).
    pub(crate) stored: Watermark,
}

/// Per-printer hydration: the snapshot plus every record past its watermark.
async fn hydrate(fleet: Fleet, id: i64) -> Result<Hydrated, DbErr> {
    let db = &fleet.db().read;
    let row = printer::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("printer {id}")))?;
    let reseller_id = ppu_entities::site::Entity::find_by_id(row.site_id)
        .one(db)
        .await?
        .map_or(0, |s| s.reseller_id);
    let mut state: PrinterState = store::load_snapshot(db, Scope::Printer(id))
        .await?
        .unwrap_or_default();
    let stored = state.watermark;
    let (usage, mark) = store::usage_since(db, Scope::Printer(id), state.watermark).await?;
    state.add_usage(&usage);
    state.watermark = mark;
    if let Some(s) = status_snapshot::Entity::find()
        .filter(status_snapshot::Column::PrinterId.eq(id))
        .filter(status_snapshot::Column::Status.is_not_null())
        .order_by_desc(status_snapshot::Column::Id)
        .one(db)
        .await?
    {
        state.status = s
            .status
            .as_ref()
            .map(store::from_json::<PrinterStatus>)
            .transpose()?
            .map(StatusDoc::from);
        state.status_at = Some(s.taken_at);
    }
    if let Some(s) = status_snapshot::Entity::find()
        .filter(status_snapshot::Column::PrinterId.eq(id))
        .filter(status_snapshot::Column::Config.is_not_null())
        .order_by_desc(status_snapshot::Column::Id)
        .one(db)
        .await?
    {
        state.config = s
            .config
            .as_ref()
            .map(store::from_json::<PrinterConfig>)
            .transpose()?
            .map(Packed::from);
    }
    let readings = counter_reading::Entity::find()
        .filter(counter_reading::Column::PrinterId.eq(id))
        .order_by_desc(counter_reading::Column::Id);
    if let Some(r) = readings.clone().one(db).await? {
        state.counters = Some(Packed::from(store::from_json::<LifetimeCounters>(
            &r.counters,
        )?));
        state.counters_at = Some(r.read_at);
    }
    state.anomalies = sea_orm::PaginatorTrait::count(
        readings.filter(counter_reading::Column::Anomaly.eq(true)),
        db,
    )
    .await?;
    state.last_upload_at = row.last_upload_at;
    Ok(Hydrated {
        id,
        serial_number: row.serial_number.into_boxed_str(),
        site_id: row.site_id,
        reseller_id,
        direct: row.direct,
        state,
        stored,
    })
}

/// One page of bulk hydration (see [`hydrate_page`]).
#[derive(Debug, Default)]
pub(crate) struct Page {
    /// Printers whose snapshot covers every record stored for them: hydrated.
    pub(crate) ready: Vec<Hydrated>,
    /// Printers with records past their snapshot: they hydrate one by one.
    pub(crate) behind: Vec<i64>,
    /// The highest printer id of the page (`None` when past the last printer).
    pub(crate) last: Option<i64>,
}

/// Hydrate up to `limit` printers with ids above `after`, in four queries:
/// the printer rows, their sites, their snapshots, and for each printer the
/// upload id of its newest job, counter reading and status snapshot (three
/// index lookups per printer: `ix_jobs_printer`, `ix_readings_printer`,
/// `ix_status_printer`).
///
/// A snapshot is complete when no record of its printer is past its
/// watermark; then the snapshot *is* the state hydration would rebuild (it
/// was saved from a live state that had folded in exactly those records), and
/// the printer row adds the time of its last upload, as in [`hydrate`]. A
/// printer without a snapshot and without records is complete with the empty
/// state. Any other printer is listed in [`Page::behind`]: its records past
/// the snapshot must be read, which the per-printer path does.
pub(crate) async fn hydrate_page<C: ConnectionTrait>(
    db: &C,
    after: i64,
    limit: u64,
) -> Result<Page, DbErr> {
    let rows = printer::Entity::find()
        .filter(printer::Column::Id.gt(after))
        .order_by_asc(printer::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let (Some(first), Some(last)) = (rows.first().map(|r| r.id), rows.last().map(|r| r.id)) else {
        return Ok(Page::default());
    };
    let site_ids: BTreeSet<i64> = rows.iter().map(|r| r.site_id).collect();
    let resellers: HashMap<i64, i64> = ppu_entities::site::Entity::find()
        .select_only()
        .column(ppu_entities::site::Column::Id)
        .column(ppu_entities::site::Column::ResellerId)
        .filter(ppu_entities::site::Column::Id.is_in(site_ids))
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut snapshots: HashMap<String, actor_snapshot::Model> = actor_snapshot::Entity::find()
        .filter(actor_snapshot::Column::Kind.eq(Scope::Printer(0).kind()))
        .filter(actor_snapshot::Column::Key.is_in(rows.iter().map(|r| r.id.to_string())))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.key.clone(), s))
        .collect();
    // Newest record of each printer, of each kind (NULL when none).
    let newest: HashMap<i64, i64> = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT p.id AS id, \
                   (SELECT MAX(j.upload_id) FROM jobs j WHERE j.printer_id = p.id) AS jobs, \
                   (SELECT MAX(r.upload_id) FROM counter_readings r WHERE r.printer_id = p.id) AS readings, \
                   (SELECT s.upload_id FROM status_snapshots s WHERE s.printer_id = p.id \
                      ORDER BY s.id DESC LIMIT 1) AS status \
                 FROM printers p WHERE p.id >= {first} AND p.id <= {last}"
            ),
        ))
        .await?
        .into_iter()
        .map(|r| {
            let id: i64 = r.try_get("", "id")?;
            let newest = ["jobs", "readings", "status"]
                .into_iter()
                .map(|c| r.try_get::<Option<i64>>("", c))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(0);
            Ok((id, newest))
        })
        .collect::<Result<_, DbErr>>()?;
    let mut page = Page {
        last: Some(last),
        ..Page::default()
    };
    for row in rows {
        let state = snapshots
            .remove(&row.id.to_string())
            .and_then(|snapshot| store::decode_snapshot::<PrinterState>(&snapshot));
        let newest = newest.get(&row.id).copied().unwrap_or(0);
        let stored = state.as_ref().map(|s| s.watermark).unwrap_or_default();
        let complete = if newest == 0 {
            // No records: the snapshot (if any) or the empty state is everything.
            true
        } else {
            // The newest record's position is the highest of this printer.
            state.is_some() && Watermark::new(newest, row.id) <= stored
        };
        if !complete {
            page.behind.push(row.id);
            continue;
        }
        let mut state = state.unwrap_or_default();
        state.last_upload_at = row.last_upload_at;
        page.ready.push(Hydrated {
            id: row.id,
            serial_number: row.serial_number.into_boxed_str(),
            site_id: row.site_id,
            reseller_id: resellers.get(&row.site_id).copied().unwrap_or(0),
            direct: row.direct,
            state,
            stored,
        });
    }
    Ok(page)
}

impl Actor for PrinterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let settings = self.fleet.settings();
        ctx.set_mailbox_capacity(settings.printer_mailbox);
        metrics::gauge!(crate::metrics::ACTORS_LIVE, "kind" => "printer").increment(1.0);
        if !self.hydrated {
            // Hydrate before handling any message: `wait` holds the mailbox.
            let fleet = self.fleet.clone();
            let id = self.id;
            ctx.wait(hydrate(fleet, id).into_actor(self).map(|res, act, ctx| match res {
                Ok(h) => {
                    act.hydrated = true;
                    act.install(h);
                }
                Err(e) => {
                    tracing::error!(printer_id = act.id, error = %e, "printer actor could not hydrate");
                    ctx.stop();
                }
            }));
        }
        // One timer per actor (it is one of 100,000): it saves a snapshot
        // every `snapshot_interval` and stops the actor once idle.
        let tick = settings
            .idle_ttl
            .min(Duration::from_secs(60))
            .max(Duration::from_millis(50))
            .min(settings.snapshot_interval);
        ctx.run_interval(tick, move |act, ctx| {
            let settings = act.fleet.settings();
            if act.last_activity.elapsed() >= settings.idle_ttl
                && act.queued.load(Ordering::Acquire) == 0
            {
                act.save(ctx);
                ctx.stop();
            } else if act.last_snapshot.elapsed() + tick / 2 >= settings.snapshot_interval {
                act.save(ctx);
            }
        });
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        self.fleet.forget_printer(self.id, &self.queued);
        Running::Stop
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        metrics::gauge!(crate::metrics::ACTORS_LIVE, "kind" => "printer").decrement(1.0);
    }
}

impl Handler<ApplyUpdate> for PrinterActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: ApplyUpdate, _ctx: &mut Self::Context) -> Self::Result {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        self.last_activity = Instant::now();
        let update = msg.0;
        // Already included when this actor hydrated past it (it was started by
        // this very update). Forward anyway: whether the site has it is the
        // site's watermark to decide, and the site may have hydrated before
        // the upload was committed.
        let _newly_applied = self.state.apply(&update);
        if update.printer.site_id != self.site_id {
            self.site_id = update.printer.site_id;
            self.reseller_id = update.printer.reseller_id;
        }
        let delta = UsageDelta {
            mark: Watermark::new(update.upload_id, update.printer.id),
            usage: update.usage,
            at: update.received_at,
        };
        let fleet = self.fleet.clone();
        let (site, reseller) = (self.site_id, self.reseller_id);
        // Atomic: the next update waits until the site has this one, so the
        // site (and through it the reseller) sees this printer's updates in order.
        AtomicResponse::new(Box::pin(
            async move { fleet.forward_to_site(site, reseller, delta).await }.into_actor(self),
        ))
    }
}

impl Handler<Inspect> for PrinterActor {
    type Result = MessageResult<Inspect>;

    fn handle(&mut self, _msg: Inspect, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(PrinterView {
            printer_id: self.id,
            serial_number: self.serial_number.to_string(),
            site_id: self.site_id,
            reseller_id: self.reseller_id,
            direct: self.direct,
            state: self.state.clone(),
            mailbox_depth: self.queued.load(Ordering::Acquire),
            mailbox_capacity: self.fleet.settings().printer_mailbox,
            idle_seconds: self.last_activity.elapsed().as_secs(),
        })
    }
}

impl Handler<TakeSnapshot> for PrinterActor {
    type Result = MessageResult<TakeSnapshot>;

    fn handle(&mut self, _msg: TakeSnapshot, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult((self.state.watermark != self.saved).then(|| (self.id, self.state.clone())))
    }
}
