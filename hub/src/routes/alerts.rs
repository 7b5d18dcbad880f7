//! Alerts: list, acknowledge, clear, thresholds, the live Server-Sent Events
//! stream, and webhook management.
//!
//! The stream subscribes to the alert bus *before* it replays missed events
//! from the event log, then skips live events it already sent, so a client
//! that reconnects with `Last-Event-ID` gets exactly what it missed. Each
//! client has its own bounded buffer and task: a stalled client lags, gets a
//! `resync` event and a replay from the log, and never slows the others or
//! the ingest path.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use ppu_actors::alerts::{AlertEvent, AlertOp, AlertView, ObservedAlert, state};
use ppu_actors::domain::alerts::AlertThresholds;
use ppu_actors::ingest::AlertFailure;
use ppu_entities::{
    alert, alert_event, alert_setting, printer, reseller, webhook, webhook_delivery,
};
use ppu_protocol::model::Severity;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::openapi::{AlertSchema, AlertThresholdsSchema};
use crate::state::AppState;

/// Register the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/alerts", web::get().to(list))
        .route("/api/v1/alerts/stream", web::get().to(stream))
        .route(
            "/api/v1/alerts/{id}/acknowledge",
            web::post().to(acknowledge),
        )
        .route("/api/v1/alerts/{id}/clear", web::post().to(clear))
        .route(
            "/api/v1/resellers/{id}/alert-settings",
            web::get().to(get_settings),
        )
        .route(
            "/api/v1/resellers/{id}/alert-settings",
            web::put().to(put_settings),
        )
        .route("/api/v1/webhooks", web::post().to(create_webhook))
        .route("/api/v1/webhooks", web::get().to(list_webhooks))
        .route(
            "/api/v1/webhooks/{id}/deliveries",
            web::get().to(deliveries),
        );
}

fn severity(s: &str) -> Result<Severity, ApiError> {
    s.parse::<Severity>()
        .map_err(|e| ApiError::bad_request("invalid_severity", e))
}

/// Filters shared by the list and the stream.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertFilter {
    /// Only this reseller.
    pub reseller: Option<i64>,
    /// Only this site.
    pub site: Option<i64>,
    /// Only this printer (serial number).
    pub printer: Option<String>,
    /// At least this severity: `critical`, `major`, `minor`, `warning`, `info`.
    pub min_severity: Option<String>,
    /// Only this state (`active`, `acknowledged`, `cleared`, or `open` for both open states).
    pub state: Option<String>,
    /// Seen at or after.
    pub since: Option<DateTime<Utc>>,
    /// Seen before.
    pub until: Option<DateTime<Utc>>,
    /// At most this many (default 100, max 1000; list only).
    pub limit: Option<u64>,
    /// Resume after this event id (stream only; `Last-Event-ID` wins).
    pub last_event_id: Option<i64>,
    /// Also send `observed` events: device alerts pushed on receipt, before
    /// their upload is stored (stream only; default true).
    pub observed: Option<bool>,
}

struct Resolved {
    reseller: Option<i64>,
    site: Option<i64>,
    printer_id: Option<i64>,
    min: Severity,
}

impl Resolved {
    fn matches(&self, a: &AlertView) -> bool {
        self.matches_parts(a.reseller_id, a.site_id, a.printer_id, a.severity)
    }

    fn matches_observed(&self, o: &ObservedAlert) -> bool {
        self.matches_parts(o.reseller_id, o.site_id, Some(o.printer_id), o.severity)
    }

    fn matches_parts(
        &self,
        reseller: i64,
        site: i64,
        printer: Option<i64>,
        severity: Severity,
    ) -> bool {
        self.reseller.is_none_or(|r| r == reseller)
            && self.site.is_none_or(|s| s == site)
            && self.printer_id.is_none_or(|p| Some(p) == printer)
            && severity.at_least(self.min)
    }
}

/// Resolve a filter for `who`: reseller roles are confined to their reseller;
/// a foreign reseller, site or printer answers 404.
async fn resolve(state: &AppState, who: &Principal, f: &AlertFilter) -> Result<Resolved, ApiError> {
    if let Some(r) = f.reseller {
        who.read(r, "reseller")?;
    }
    if let Some(site_id) = f.site {
        let site = ppu_entities::site::Entity::find_by_id(site_id)
            .one(&state.db.read)
            .await?
            .ok_or_else(|| ApiError::not_found("site"))?;
        who.read(site.reseller_id, "site")?;
    }
    let printer_id = match &f.printer {
        Some(serial) => Some(
            state
                .printer_by_serial(&crate::routes::admin::serial_number(serial)?)
                .await?
                .ok_or_else(|| ApiError::not_found("printer"))
                .map(|p| (p.id, p.site_id))?,
        ),
        None => None,
    };
    let printer_id = match printer_id {
        Some((id, site_id)) => {
            let site = ppu_entities::site::Entity::find_by_id(site_id)
                .one(&state.db.read)
                .await?
                .ok_or_else(|| ApiError::not_found("printer"))?;
            who.read(site.reseller_id, "printer")?;
            Some(id)
        }
        None => None,
    };
    Ok(Resolved {
        reseller: f.reseller.or(who.scope()),
        site: f.site,
        printer_id,
        min: f
            .min_severity
            .as_deref()
            .map(severity)
            .transpose()?
            .unwrap_or(Severity::Info),
    })
}

async fn with_serials(
    state: &AppState,
    rows: Vec<alert::Model>,
) -> Result<Vec<AlertView>, ApiError> {
    let ids: Vec<i64> = rows.iter().filter_map(|a| a.printer_id).collect();
    let printers: std::collections::HashMap<i64, String> = if ids.is_empty() {
        Default::default()
    } else {
        printer::Entity::find()
            .filter(printer::Column::Id.is_in(ids))
            .all(&state.db.read)
            .await?
            .into_iter()
            .map(|p| (p.id, p.serial_number))
            .collect()
    };
    Ok(rows
        .iter()
        .map(|a| AlertView::from_row(a, a.printer_id.and_then(|p| printers.get(&p).cloned())))
        .collect())
}

/// Alerts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    /// Newest first.
    #[schema(value_type = Vec<AlertSchema>)]
    pub alerts: Vec<AlertView>,
}

/// Alerts, newest first, filtered; reseller roles see only their reseller's.
#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    tag = "alerts",
    params(AlertFilter),
    responses(
        (status = 200, description = "The alerts.", body = AlertList),
        (status = 400, description = "`invalid_query`, `invalid_severity`, `invalid_state`, `invalid_serial_number`.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: the reseller, site or printer filtered on does not exist or is another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn list(
    who: Principal,
    state: web::Data<AppState>,
    q: web::Query<AlertFilter>,
) -> Result<HttpResponse, ApiError> {
    let r = resolve(&state, &who, &q).await?;
    let mut query = alert::Entity::find();
    if let Some(v) = r.reseller {
        query = query.filter(alert::Column::ResellerId.eq(v));
    }
    if let Some(v) = r.site {
        query = query.filter(alert::Column::SiteId.eq(v));
    }
    if let Some(v) = r.printer_id {
        query = query.filter(alert::Column::PrinterId.eq(v));
    }
    match q.state.as_deref() {
        None => {}
        Some("open") => query = query.filter(alert::Column::State.ne(state::CLEARED)),
        Some(s @ (state::ACTIVE | state::ACKNOWLEDGED | state::CLEARED)) => {
            query = query.filter(alert::Column::State.eq(s));
        }
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_state",
                format!("unknown state `{other}` (expected active, acknowledged, cleared or open)"),
            ));
        }
    }
    let allowed: Vec<&str> = Severity::ALL
        .iter()
        .filter(|s| s.at_least(r.min))
        .map(|s| s.as_str())
        .collect();
    query = query.filter(alert::Column::Severity.is_in(allowed));
    if let Some(t) = q.since {
        query = query.filter(alert::Column::LastSeen.gte(t));
    }
    if let Some(t) = q.until {
        query = query.filter(alert::Column::LastSeen.lt(t));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = query
        .order_by_desc(alert::Column::Id)
        .limit(limit)
        .all(&state.db.read)
        .await?;
    Ok(HttpResponse::Ok().json(AlertList {
        alerts: with_serials(&state, rows).await?,
    }))
}

/// Who acknowledges or clears.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// Who acts, 1 to 200 printable characters.
    by: String,
}

async fn alert_op(
    state: &AppState,
    who: &Principal,
    op: AlertOp,
) -> Result<HttpResponse, ApiError> {
    let id = match &op {
        AlertOp::Acknowledge { id, .. } | AlertOp::Clear { id, .. } => *id,
        AlertOp::Sweep { .. } => return Err(ApiError::not_found("alert")),
    };
    let a = alert::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("alert"))?;
    who.operate(a.reseller_id, "alert")?;
    match state.fleet.alert_op(op).await {
        Ok(events) => {
            let alert = events
                .last()
                .map(|e| e.alert.clone())
                .ok_or_else(|| ApiError::internal("alert operation produced no event"))?;
            Ok(HttpResponse::Ok().json(alert))
        }
        Err(AlertFailure::Refused(ppu_actors::alerts::AlertOpError::NotFound)) => {
            Err(ApiError::not_found("alert"))
        }
        Err(AlertFailure::Refused(e)) => {
            Err(ApiError::conflict("invalid_transition", e.to_string()))
        }
        Err(AlertFailure::Unavailable(m)) => {
            Err(ApiError::unavailable("storage_unavailable", m, 2))
        }
    }
}

fn actor_name(body: &Actor) -> Result<String, ApiError> {
    let by = body.by.trim();
    if by.is_empty() || by.chars().count() > 200 || by.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_field",
            "by must have 1 to 200 printable characters",
        ));
    }
    Ok(by.to_owned())
}

/// Acknowledge an active alert (admins and support staff).
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/acknowledge",
    tag = "alerts",
    params(("id" = i64, Path, description = "Alert id.")),
    request_body = Actor,
    responses(
        (status = 200, description = "The alert after the change.", body = AlertSchema),
        (status = 403, description = "`forbidden`: reseller users may not change alerts.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such alert, or another tenant's.", body = ppu_protocol::api::ErrorBody),
        (status = 409, description = "`invalid_transition`: already acknowledged or cleared.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn acknowledge(
    who: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<Actor>,
) -> Result<HttpResponse, ApiError> {
    let by = actor_name(&body)?;
    alert_op(
        &state,
        &who,
        AlertOp::Acknowledge {
            id: id.into_inner(),
            by,
        },
    )
    .await
}

/// Clear an open alert (admins and support staff).
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/clear",
    tag = "alerts",
    params(("id" = i64, Path, description = "Alert id.")),
    request_body = Actor,
    responses(
        (status = 200, description = "The alert after the change.", body = AlertSchema),
        (status = 403, description = "`forbidden`: reseller users may not change alerts.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such alert, or another tenant's.", body = ppu_protocol::api::ErrorBody),
        (status = 409, description = "`invalid_transition`: already cleared.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn clear(
    who: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<Actor>,
) -> Result<HttpResponse, ApiError> {
    let by = actor_name(&body)?;
    alert_op(
        &state,
        &who,
        AlertOp::Clear {
            id: id.into_inner(),
            by,
        },
    )
    .await
}

/// The reseller's alert thresholds.
#[utoipa::path(
    get,
    path = "/api/v1/resellers/{id}/alert-settings",
    tag = "alerts",
    params(("id" = i64, Path, description = "Reseller id.")),
    responses(
        (status = 200, description = "The thresholds (defaults when never set).", body = AlertThresholdsSchema),
        (status = 404, description = "`not_found`: no such reseller, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn get_settings(
    who: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    who.read(id, "reseller")?;
    reseller::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("reseller"))?;
    let t = ppu_actors::alerts::thresholds(&state.db.read, id).await?;
    Ok(HttpResponse::Ok().json(t))
}

/// Set the reseller's alert thresholds (admins of the reseller).
#[utoipa::path(
    put,
    path = "/api/v1/resellers/{id}/alert-settings",
    tag = "alerts",
    params(("id" = i64, Path, description = "Reseller id.")),
    request_body = AlertThresholdsSchema,
    responses(
        (status = 200, description = "The stored thresholds.", body = AlertThresholdsSchema),
        (status = 400, description = "`invalid_thresholds`: a value out of range.", body = ppu_protocol::api::ErrorBody),
        (status = 403, description = "`forbidden`: your role may not change thresholds.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such reseller, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn put_settings(
    who: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<AlertThresholds>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    who.administer(id, "reseller")?;
    body.validate()
        .map_err(|m| ApiError::bad_request("invalid_thresholds", m))?;
    reseller::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("reseller"))?;
    alert_setting::Entity::insert(alert_setting::ActiveModel {
        reseller_id: Set(id),
        settings: Set(serde_json::to_value(&*body).map_err(ApiError::internal)?),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(alert_setting::Column::ResellerId)
            .update_columns([
                alert_setting::Column::Settings,
                alert_setting::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&state.db.write)
    .await?;
    Ok(HttpResponse::Ok().json(&*body))
}

// ---------------------------------------------------------------------------
// Server-Sent Events
// ---------------------------------------------------------------------------

/// Keep-alive comment interval.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Frames buffered per client before its task waits (and then lags on the bus).
const CLIENT_BUFFER: usize = 64;
/// Events replayed at most on one (re)connection.
const REPLAY_LIMIT: u64 = 10_000;

fn frame(e: &AlertEvent) -> Bytes {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!(
        "id: {}\nevent: alert\ndata: {data}\n\n",
        e.event_id
    ))
}

/// An observation: no `id` (it is not in the event log and never replayed),
/// so a client's `Last-Event-ID` stays that of the last stored event.
fn observed_frame(o: &ObservedAlert) -> Bytes {
    let data = serde_json::to_string(o).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("event: observed\ndata: {data}\n\n"))
}

async fn replay(
    state: &AppState,
    filter: &Resolved,
    after: i64,
) -> Result<Vec<AlertEvent>, sea_orm::DbErr> {
    let mut q = alert_event::Entity::find().filter(alert_event::Column::Id.gt(after));
    if let Some(r) = filter.reseller {
        q = q.filter(alert_event::Column::ResellerId.eq(r));
    }
    let rows = q
        .order_by_asc(alert_event::Column::Id)
        .limit(REPLAY_LIMIT)
        .all(&state.db.read)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| ppu_actors::alerts::stored_event(&r))
        .filter(|e| filter.matches(&e.alert))
        .collect())
}

/// Server-Sent Events of alert changes, with the list's filters. Each stored
/// change is `id: <event id>`, `event: alert`, `data: {event_id, kind, alert,
/// at}`; resumes after `Last-Event-ID` (or `last_event_id`); a client that
/// fell behind gets `event: resync` and the missed events; keep-alive
/// comments every 15 s. Unless `observed=false`, a device alert that an
/// accepted upload raises is also pushed at once, before the upload is
/// stored, as `event: observed` without an id (`data: {kind: "observed",
/// code, severity, message, printer_id, serial_number, site_id, reseller_id,
/// seen_at, observed_at, upload_id}`); its stored `raised` event follows. The
/// stream does not end.
#[utoipa::path(
    get,
    path = "/api/v1/alerts/stream",
    tag = "alerts",
    params(
        AlertFilter,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id."),
    ),
    responses(
        (status = 200, description = "The event stream.", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_last_event_id` and the list's filter errors.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: the reseller, site or printer filtered on does not exist or is another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn stream(
    who: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<AlertFilter>,
) -> Result<HttpResponse, ApiError> {
    let filter = Arc::new(resolve(&state, &who, &q).await?);
    let header_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                ApiError::bad_request("invalid_last_event_id", "Last-Event-ID must be an integer")
            })
        })
        .transpose()?;
    let resume = header_id.or(q.last_event_id);
    // Subscribe first: nothing committed after this point can be missed.
    let mut live = state.fleet.alerts().subscribe();
    let mut observed = q
        .observed
        .unwrap_or(true)
        .then(|| state.fleet.alerts().subscribe_observed());
    let (tx, rx) = mpsc::channel::<Bytes>(CLIENT_BUFFER);
    let st = state.get_ref().clone();
    metrics::gauge!(crate::metrics::SSE_CLIENTS).increment(1.0);
    actix_web::rt::spawn(async move {
        let _guard = ClientGauge;
        // A new client gets what is published from its subscription on.
        let mut last_sent = resume.unwrap_or(0);
        if tx
            .send(Bytes::from_static(b"retry: 2000\n\n"))
            .await
            .is_err()
        {
            return;
        }
        if resume.is_some() {
            match replay(&st, &filter, last_sent).await {
                Ok(events) => {
                    for e in events {
                        last_sent = e.event_id;
                        if tx.send(frame(&e)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "sse replay failed"),
            }
        }
        let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
        keep_alive.tick().await;
        loop {
            tokio::select! {
                msg = live.recv() => match msg {
                    Ok(e) => {
                        if e.event_id <= last_sent || !filter.matches(&e.alert) {
                            continue;
                        }
                        last_sent = e.event_id;
                        if tx.send(frame(&e)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::info!(missed, "sse client fell behind, resyncing from the event log");
                        let note = format!("event: resync\ndata: {{\"missed\":{missed},\"after\":{last_sent}}}\n\n");
                        if tx.send(Bytes::from(note)).await.is_err() {
                            return;
                        }
                        match replay(&st, &filter, last_sent).await {
                            Ok(events) => {
                                for e in events {
                                    last_sent = e.event_id;
                                    if tx.send(frame(&e)).await.is_err() {
                                        return;
                                    }
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "sse resync failed"),
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                seen = recv_observed(&mut observed) => match seen {
                    Ok(o) => {
                        if filter.matches_observed(&o) && tx.send(observed_frame(&o)).await.is_err() {
                            return;
                        }
                    }
                    // Observations are previews: what was missed is in the stored events.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => observed = None,
                },
                _ = keep_alive.tick() => {
                    if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, actix_web::Error>(b), rx))
    });
    Ok(HttpResponse::Ok()
        .insert_header(("content-type", "text/event-stream"))
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

/// The next observation, or never without a subscription.
async fn recv_observed(
    rx: &mut Option<broadcast::Receiver<Arc<ObservedAlert>>>,
) -> Result<Arc<ObservedAlert>, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

struct ClientGauge;

impl Drop for ClientGauge {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::SSE_CLIENTS).decrement(1.0);
    }
}

async fn head_event_id(state: &AppState) -> i64 {
    alert_event::Entity::find()
        .order_by_desc(alert_event::Column::Id)
        .one(&state.db.read)
        .await
        .ok()
        .flatten()
        .map_or(0, |e| e.id)
}

// ---------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------

/// A new alert webhook.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// The reseller whose alerts it receives.
    reseller_id: i64,
    /// Target URL: https (http only on localhost).
    url: String,
    /// At least this severity (default `warning`).
    #[serde(default)]
    min_severity: Option<String>,
}

/// A new webhook: its signing secret is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    /// Webhook id.
    pub id: i64,
    /// Reseller.
    pub reseller_id: i64,
    /// Target URL.
    pub url: String,
    /// Minimum severity.
    #[schema(value_type = crate::openapi::SeveritySchema)]
    pub min_severity: Severity,
    /// HMAC-SHA256 signing secret of `X-PPU-Signature`. Shown once.
    pub secret: String,
}

/// A webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// Webhook id.
    pub id: i64,
    /// Reseller.
    pub reseller_id: i64,
    /// Target URL.
    pub url: String,
    /// Minimum severity.
    pub min_severity: String,
    /// Whether deliveries are made.
    pub active: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Webhooks.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// By id.
    pub webhooks: Vec<WebhookView>,
}

/// One delivery of one event to one webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    /// Delivery id.
    pub id: i64,
    /// The alert event delivered (`X-PPU-Event-Id`).
    pub event_id: i64,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i32,
    /// HTTP status of the last attempt.
    pub last_status: Option<i32>,
    /// Error of the last attempt.
    pub last_error: Option<String>,
    /// Next attempt (pending deliveries).
    pub next_attempt_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A webhook's delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Newest first, at most 500.
    pub deliveries: Vec<Delivery>,
}

/// Webhook targets must be HTTPS, except on loopback (for local receivers and tests).
pub fn validate_webhook_url(url: &str) -> Result<String, ApiError> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| ApiError::bad_request("invalid_url", format!("invalid url: {e}")))?;
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(ApiError::bad_request(
                "invalid_url",
                "webhook urls must use https (http only on localhost)",
            ));
        }
    }
    if parsed.host_str().is_none() || !parsed.username().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_url",
            "webhook url needs a host and no credentials",
        ));
    }
    Ok(parsed.to_string())
}

/// Create an alert webhook (admins of the reseller); the signing secret is shown once.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "alerts",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Created.", body = CreatedWebhook),
        (status = 400, description = "`invalid_url`, `invalid_severity`.", body = ppu_protocol::api::ErrorBody),
        (status = 403, description = "`forbidden`: your role may not manage webhooks.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such reseller, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn create_webhook(
    who: Principal,
    state: web::Data<AppState>,
    body: web::Json<NewWebhook>,
) -> Result<HttpResponse, ApiError> {
    who.administer(body.reseller_id, "reseller")?;
    let url = validate_webhook_url(&body.url)?;
    let min = body
        .min_severity
        .as_deref()
        .map(severity)
        .transpose()?
        .unwrap_or(Severity::Warning);
    reseller::Entity::find_by_id(body.reseller_id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("reseller"))?;
    let secret = crate::files::random_secret(32);
    // New webhooks receive events from now on, not the history.
    let cursor = head_event_id(&state).await;
    let id = webhook::Entity::insert(webhook::ActiveModel {
        reseller_id: Set(body.reseller_id),
        url: Set(url.clone()),
        secret: Set(secret.clone()),
        min_severity: Set(min.as_str().to_owned()),
        active: Set(true),
        cursor: Set(cursor),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec(&state.db.write)
    .await?
    .last_insert_id;
    Ok(
        HttpResponse::build(StatusCode::CREATED).json(CreatedWebhook {
            id,
            reseller_id: body.reseller_id,
            url,
            min_severity: min,
            secret,
        }),
    )
}

/// Which webhooks.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WebhookQuery {
    /// Only this reseller's.
    reseller: Option<i64>,
}

/// Webhooks (admins; reseller admins see their reseller's).
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "alerts",
    params(WebhookQuery),
    responses(
        (status = 200, description = "The webhooks (never their secrets).", body = WebhookList),
        (status = 403, description = "`forbidden`: admins only.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such reseller, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn list_webhooks(
    who: Principal,
    state: web::Data<AppState>,
    q: web::Query<WebhookQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(r) = q.reseller {
        who.administer(r, "reseller")?;
    }
    if matches!(
        who.role,
        crate::auth::Role::ResellerUser | crate::auth::Role::Support
    ) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role may not do this",
        ));
    }
    let mut query = webhook::Entity::find();
    if let Some(r) = q.reseller.or(who.scope()) {
        query = query.filter(webhook::Column::ResellerId.eq(r));
    }
    let rows = query
        .order_by_asc(webhook::Column::Id)
        .all(&state.db.read)
        .await?;
    Ok(HttpResponse::Ok().json(WebhookList {
        webhooks: rows
            .into_iter()
            .map(|w| WebhookView {
                id: w.id,
                reseller_id: w.reseller_id,
                url: w.url,
                min_severity: w.min_severity,
                active: w.active,
                created_at: w.created_at,
            })
            .collect(),
    }))
}

/// A webhook's delivery log (admins of its reseller).
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    tag = "alerts",
    params(("id" = i64, Path, description = "Webhook id.")),
    responses(
        (status = 200, description = "The latest 500 deliveries.", body = DeliveryList),
        (status = 403, description = "`forbidden`: your role may not read webhooks.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such webhook, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn deliveries(
    who: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let hook = webhook::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    who.administer(hook.reseller_id, "webhook")?;
    let rows = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::WebhookId.eq(id))
        .order_by_desc(webhook_delivery::Column::Id)
        .limit(500)
        .all(&state.db.read)
        .await?;
    Ok(HttpResponse::Ok().json(DeliveryList {
        deliveries: rows
            .into_iter()
            .map(|d| Delivery {
                id: d.id,
                event_id: d.event_id,
                state: d.state,
                attempts: d.attempts,
                last_status: d.last_status,
                last_error: d.last_error,
                next_attempt_at: d.next_attempt_at,
                delivered_at: d.delivered_at,
                created_at: d.created_at,
            })
            .collect(),
    }))
}
