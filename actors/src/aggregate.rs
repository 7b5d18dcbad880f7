//! `SiteActor` and `ResellerActor`: usage aggregated over a site's printers
//! and over a reseller's sites.
//!
//! Both are the same actor at two levels: a site forwards every delta it
//! applies to its reseller. Each is rebuilt from its snapshot plus the records
//! of its scope stored after the snapshot's watermark.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use serde::{Deserialize, Serialize};

use crate::domain::Watermark;
use crate::domain::usage::Usage;
use crate::fleet::{ActorSettings, Fleet, UsageDelta};
use crate::store::{self, Scope};

/// Everything an aggregate knows; also its snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregateState {
    /// Records folded in so far.
    pub watermark: Watermark,
    /// Usage of every printer in scope.
    pub usage: Usage,
    /// Printers that reported usage into this aggregate.
    pub printers: BTreeSet<i64>,
    /// Receipt time of the last upload folded in.
    pub last_upload_at: Option<DateTime<Utc>>,
}

impl AggregateState {
    /// Fold one delta in; `false` when it is already included.
    pub fn apply(&mut self, d: &UsageDelta) -> bool {
        if d.mark <= self.watermark {
            return false;
        }
        self.watermark = d.mark;
        self.usage.merge(&d.usage);
        self.printers.insert(d.mark.printer_id);
        self.last_upload_at = Some(self.last_upload_at.map_or(d.at, |t| t.max(d.at)));
        true
    }
}

/// What the API shows of a site or reseller actor.
#[derive(Debug, Clone, Serialize)]
pub struct AggregateView {
    /// `site` or `reseller`.
    pub kind: &'static str,
    /// Site or reseller id.
    pub id: i64,
    /// The live state.
    #[serde(flatten)]
    pub state: AggregateState,
    /// Messages waiting in the mailbox.
    pub mailbox_depth: usize,
    /// The mailbox capacity.
    pub mailbox_capacity: usize,
}

/// Apply a printer's (or a site's) usage delta.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ApplyDelta(pub UsageDelta);

/// Ask for the actor's view.
#[derive(Debug, Message)]
#[rtype(result = "AggregateView")]
pub struct InspectAggregate;

/// Save a snapshot now.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), String>")]
pub struct FlushAggregate;

/// A site or reseller actor.
#[derive(Debug)]
pub struct AggregateActor {
    scope: Scope,
    /// For a site: its reseller, to forward to.
    parent: Option<i64>,
    state: AggregateState,
    saved: Watermark,
    fleet: Fleet,
    settings: ActorSettings,
    queued: Arc<AtomicUsize>,
    last_activity: Instant,
}

/// A site: one customer account's printers.
pub type SiteActor = AggregateActor;
/// A reseller: all its sites.
pub type ResellerActor = AggregateActor;

impl AggregateActor {
    /// An aggregate for `scope` (a site forwards to `parent`, its reseller).
    pub fn new(scope: Scope, parent: Option<i64>, fleet: Fleet, queued: Arc<AtomicUsize>) -> Self {
        let settings = fleet.settings().clone();
        Self {
            scope,
            parent,
            state: AggregateState::default(),
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
        let scope = self.scope;
        ctx.spawn(
            async move {
                let started = std::time::Instant::now();
                let res = store::save_snapshot(&db.write, scope, &state).await;
                metrics::histogram!(crate::metrics::SNAPSHOT_SECONDS).record(started.elapsed().as_secs_f64());
                res
            }
                .into_actor(self)
                .map(move |res, act, _| match res {
                    Ok(()) => {
                        act.saved = act.saved.max(mark);
                        metrics::counter!(crate::metrics::SNAPSHOTS_TOTAL, "kind" => scope.kind(), "outcome" => "ok").increment(1);
                    }
                    Err(e) => {
                        metrics::counter!(crate::metrics::SNAPSHOTS_TOTAL, "kind" => scope.kind(), "outcome" => "error").increment(1);
                        tracing::warn!(kind = scope.kind(), id = scope.id(), error = %e, "snapshot not saved");
                    }
                }),
        );
    }
}

async fn hydrate(fleet: Fleet, scope: Scope) -> Result<AggregateState, DbErr> {
    let db = &fleet.db().read;
    let mut state: AggregateState = store::load_snapshot(db, scope).await?.unwrap_or_default();
    let (usage, mark) = store::usage_since(db, scope, state.watermark).await?;
    state.usage.merge(&usage);
    state.watermark = mark;
    Ok(state)
}

impl Actor for AggregateActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.settings.aggregate_mailbox);
        metrics::gauge!(crate::metrics::ACTORS_LIVE, "kind" => self.scope.kind()).increment(1.0);
        let fleet = self.fleet.clone();
        let scope = self.scope;
        ctx.wait(hydrate(fleet, scope).into_actor(self).map(|res, act, ctx| match res {
            Ok(state) => {
                act.saved = state.watermark;
                act.state = state;
            }
            Err(e) => {
                tracing::error!(kind = act.scope.kind(), id = act.scope.id(), error = %e, "aggregate could not hydrate");
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
        self.fleet.forget_aggregate(self.scope, &self.queued);
        Running::Stop
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        metrics::gauge!(crate::metrics::ACTORS_LIVE, "kind" => self.scope.kind()).decrement(1.0);
    }
}

impl Handler<ApplyDelta> for AggregateActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: ApplyDelta, _ctx: &mut Self::Context) -> Self::Result {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        self.last_activity = Instant::now();
        let delta = msg.0;
        // Already included when this site hydrated past it (it was started by
        // this very delta). Forward anyway: whether the reseller has it is the
        // reseller's watermark to decide, and the reseller may have hydrated
        // before the upload was committed.
        let _newly_applied = self.state.apply(&delta);
        match self.parent {
            Some(reseller) => {
                let fleet = self.fleet.clone();
                AtomicResponse::new(Box::pin(
                    async move { fleet.forward_to_reseller(reseller, delta).await }
                        .into_actor(self),
                ))
            }
            None => AtomicResponse::new(Box::pin(fut::ready(()))),
        }
    }
}

impl Handler<InspectAggregate> for AggregateActor {
    type Result = MessageResult<InspectAggregate>;

    fn handle(&mut self, _msg: InspectAggregate, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(AggregateView {
            kind: self.scope.kind(),
            id: self.scope.id(),
            state: self.state.clone(),
            mailbox_depth: self.queued.load(Ordering::Acquire),
            mailbox_capacity: self.settings.aggregate_mailbox,
        })
    }
}

impl Handler<FlushAggregate> for AggregateActor {
    type Result = ResponseActFuture<Self, Result<(), String>>;

    fn handle(&mut self, _msg: FlushAggregate, _ctx: &mut Self::Context) -> Self::Result {
        let db = self.fleet.db().clone();
        let state = self.state.clone();
        let mark = state.watermark;
        let scope = self.scope;
        Box::pin(
            async move { store::save_snapshot(&db.write, scope, &state).await }
                .into_actor(self)
                .map(move |res, act, _| {
                    res.map(|()| act.saved = act.saved.max(mark))
                        .map_err(|e| e.to_string())
                }),
        )
    }
}
