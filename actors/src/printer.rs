//! `PrinterActor`: the live state of one printer.
//!
//! It keeps the latest configuration, status and lifetime counters, the usage
//! accumulated from jobs and counter deltas, and forwards each update's usage
//! to its site. It is rebuilt from its last snapshot plus the records stored
//! after it, so it can be evicted when idle and started again on any node.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use ppu_entities::{counter_reading, printer, status_snapshot};
use ppu_protocol::model::{DeviceAlert, LifetimeCounters, PrinterConfig, PrinterStatus};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};

use crate::domain::Watermark;
use crate::domain::usage::Usage;
use crate::fleet::{ActorSettings, Fleet, UsageDelta};
use crate::ingest::PrinterUpdate;
use crate::store::{self, Scope};

/// Everything a printer actor knows; also its snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PrinterState {
    /// Records folded in so far.
    pub watermark: Watermark,
    /// Latest configuration.
    pub config: Option<PrinterConfig>,
    /// Latest status.
    pub status: Option<PrinterStatus>,
    /// When the latest status was read.
    pub status_at: Option<DateTime<Utc>>,
    /// Latest lifetime counters (the baseline after the last reading).
    pub counters: Option<LifetimeCounters>,
    /// When they were read.
    pub counters_at: Option<DateTime<Utc>>,
    /// Accumulated usage.
    pub usage: Usage,
    /// Receipt time of the last upload.
    pub last_upload_at: Option<DateTime<Utc>>,
    /// Counter readings that went backwards.
    pub anomalies: u64,
    /// The device's alert table as last reported.
    pub device_alerts: Vec<DeviceAlert>,
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
            self.config = Some(c.clone());
        }
        if let Some(s) = &u.status {
            self.status = Some(s.clone());
            self.status_at = Some(u.collected_at);
        }
        if let Some(c) = &u.counters {
            self.counters = Some(c.clone());
            self.counters_at = Some(u.collected_at);
        }
        self.usage.merge(&u.usage);
        self.last_upload_at = Some(u.received_at);
        if !u.regressions.is_empty() {
            self.anomalies += 1;
        }
        if u.status.is_some() || !u.alerts.is_empty() {
            self.device_alerts.clone_from(&u.alerts);
        }
        true
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

/// Save a snapshot now (graceful shutdown).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), String>")]
pub struct Flush;

/// The printer actor.
#[derive(Debug)]
pub struct PrinterActor {
    id: i64,
    serial_number: String,
    site_id: i64,
    reseller_id: i64,
    direct: bool,
    state: PrinterState,
    saved: Watermark,
    fleet: Fleet,
    settings: ActorSettings,
    queued: Arc<AtomicUsize>,
    last_activity: Instant,
}

impl PrinterActor {
    /// A printer actor for printer `id`; it hydrates itself when started.
    pub fn new(id: i64, fleet: Fleet, queued: Arc<AtomicUsize>) -> Self {
        let settings = fleet.settings().clone();
        Self {
            id,
            serial_number: String::new(),
            site_id: 0,
            reseller_id: 0,
            direct: false,
            state: PrinterState::default(),
            saved: Watermark::default(),
            fleet,
            settings,
            queued,
            last_activity: Instant::now(),
        }
    }

    fn save(&mut self, ctx: &mut Context<Self>) {
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

/// Everything hydration reads.
struct Hydrated {
    row: printer::Model,
    reseller_id: i64,
    state: PrinterState,
}

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
    let (usage, mark) = store::usage_since(db, Scope::Printer(id), state.watermark).await?;
    state.usage.merge(&usage);
    state.watermark = mark;
    if let Some(s) = status_snapshot::Entity::find()
        .filter(status_snapshot::Column::PrinterId.eq(id))
        .filter(status_snapshot::Column::Status.is_not_null())
        .order_by_desc(status_snapshot::Column::Id)
        .one(db)
        .await?
    {
        state.status = s.status.as_ref().map(store::from_json).transpose()?;
        state.status_at = Some(s.taken_at);
    }
    if let Some(s) = status_snapshot::Entity::find()
        .filter(status_snapshot::Column::PrinterId.eq(id))
        .filter(status_snapshot::Column::Config.is_not_null())
        .order_by_desc(status_snapshot::Column::Id)
        .one(db)
        .await?
    {
        state.config = s.config.as_ref().map(store::from_json).transpose()?;
    }
    let readings = counter_reading::Entity::find()
        .filter(counter_reading::Column::PrinterId.eq(id))
        .order_by_desc(counter_reading::Column::Id);
    if let Some(r) = readings.clone().one(db).await? {
        state.counters = Some(store::from_json(&r.counters)?);
        state.counters_at = Some(r.read_at);
    }
    state.anomalies = sea_orm::PaginatorTrait::count(
        readings.filter(counter_reading::Column::Anomaly.eq(true)),
        db,
    )
    .await?;
    state.last_upload_at = row.last_upload_at;
    Ok(Hydrated {
        row,
        reseller_id,
        state,
    })
}

impl Actor for PrinterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.settings.printer_mailbox);
        metrics::gauge!(crate::metrics::ACTORS_LIVE, "kind" => "printer").increment(1.0);
        // Hydrate before handling any message: `wait` holds the mailbox.
        let fleet = self.fleet.clone();
        let id = self.id;
        ctx.wait(hydrate(fleet, id).into_actor(self).map(|res, act, ctx| match res {
            Ok(h) => {
                act.serial_number = h.row.serial_number;
                act.site_id = h.row.site_id;
                act.reseller_id = h.reseller_id;
                act.direct = h.row.direct;
                act.saved = h.state.watermark;
                act.state = h.state;
            }
            Err(e) => {
                tracing::error!(printer_id = act.id, error = %e, "printer actor could not hydrate");
                ctx.stop();
            }
        }));
        ctx.run_interval(self.settings.snapshot_interval, |act, ctx| act.save(ctx));
        let tick = self
            .settings
            .idle_ttl
            .min(Duration::from_secs(60))
            .max(Duration::from_millis(50));
        ctx.run_interval(tick, |act, ctx| {
            if act.last_activity.elapsed() >= act.settings.idle_ttl
                && act.queued.load(Ordering::Acquire) == 0
            {
                act.save(ctx);
                ctx.stop();
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
            serial_number: self.serial_number.clone(),
            site_id: self.site_id,
            reseller_id: self.reseller_id,
            direct: self.direct,
            state: self.state.clone(),
            mailbox_depth: self.queued.load(Ordering::Acquire),
            mailbox_capacity: self.settings.printer_mailbox,
            idle_seconds: self.last_activity.elapsed().as_secs(),
        })
    }
}

impl Handler<Flush> for PrinterActor {
    type Result = ResponseActFuture<Self, Result<(), String>>;

    fn handle(&mut self, _msg: Flush, _ctx: &mut Self::Context) -> Self::Result {
        let db = self.fleet.db().clone();
        let state = self.state.clone();
        let mark = state.watermark;
        let id = self.id;
        Box::pin(
            async move { store::save_snapshot(&db.write, Scope::Printer(id), &state).await }
                .into_actor(self)
                .map(move |res, act, _| {
                    res.map(|()| act.saved = act.saved.max(mark))
                        .map_err(|e| e.to_string())
                }),
        )
    }
}
