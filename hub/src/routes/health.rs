//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: ready only when the database answers.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.db.ping().await {
        let (printers, sites, resellers) = state.fleet.live_actors();
        Ok(HttpResponse::Ok().json(json!({
            "status": "ready",
            "ingest_queue_depth": state.fleet.ingest_queue_depth(),
            "live_actors": {"printers": printers, "sites": sites, "resellers": resellers},
        })))
    } else {
        Err(ApiError::unavailable(
            "not_ready",
            "the database does not answer",
            5,
        ))
    }
}
