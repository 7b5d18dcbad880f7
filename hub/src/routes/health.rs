//! Liveness, readiness, and the metrics exposition on the main listener.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

/// `{"status": "ok"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Live actors by level.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveActors {
    /// Printer actors.
    pub printers: u64,
    /// Site actors.
    pub sites: u64,
    /// Reseller actors.
    pub resellers: u64,
}

/// The hub is ready: the database answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// Always `ready`.
    pub status: &'static str,
    /// Uploads waiting in the ingest queue.
    pub ingest_queue_depth: u64,
    /// Live actors.
    pub live_actors: LiveActors,
}

/// `GET /healthz`: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    security(()),
    responses((status = 200, description = "The process answers.", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// `GET /readyz`: ready only when the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "The database answers.", body = Ready),
        (status = 503, description = "`not_ready`: the database does not answer.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.db.ping().await {
        let (printers, sites, resellers) = state.fleet.live_actors();
        Ok(HttpResponse::Ok().json(Ready {
            status: "ready",
            ingest_queue_depth: state.fleet.ingest_queue_depth() as u64,
            live_actors: LiveActors {
                printers: printers as u64,
                sites: sites as u64,
                resellers: resellers as u64,
            },
        }))
    } else {
        Err(ApiError::unavailable(
            "not_ready",
            "the database does not answer",
            5,
        ))
    }
}

/// `GET /metrics` on the main listener: Prometheus text, only with the
/// metrics token (operators usually scrape the separate metrics listener).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition.", content_type = "text/plain", body = String),
        (status = 401, description = "`unauthorized`: the metrics token is missing or wrong.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no metrics token is configured, so the main listener does not serve metrics.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    crate::metrics::exposition_with_token(state, req).await
}
