//! HTTP routes.

pub mod admin;
pub mod alerts;
pub mod collector;
pub mod health;
pub mod ingest;

use actix_web::web;

/// Register every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/api/v1/ingest", web::post().to(ingest::ingest))
        .configure(admin::configure)
        .configure(alerts::configure)
        .configure(collector::configure);
}
