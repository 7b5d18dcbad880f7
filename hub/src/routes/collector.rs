//! Data Collector endpoints: enrollment and remote configuration.

use actix_web::web;

/// Register the routes.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
