//! HTTP routes.

pub mod admin;
pub mod alerts;
pub mod billing;
pub mod collector;
pub mod health;
pub mod ingest;

use actix_web::web;

/// Register every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/api/v1/ingest", web::post().to(ingest::ingest))
        .configure(crate::auth::configure)
        .configure(admin::configure)
        .configure(alerts::configure)
        .configure(billing::configure)
        .configure(collector::configure)
        .configure(crate::openapi::configure)
        .configure(crate::portal::configure);
}
