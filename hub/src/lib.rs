//! The ppu-hub server: the actix-web front end over the actors.
//!
//! # Layout
//! - [`settings`]: defaults < file < environment < command line.
//! - [`app`]: `Application::build` binds the HTTPS listener and starts the fleet.
//! - [`routes`]: ingest, provisioning, inspection, health.
//! - [`error`]: the one API error shape.
//! - [`openapi`]: the OpenAPI document and its docs page.
//! - [`state`]: shared state, sender credential cache.
//! - [`tls`]: rustls configuration and the generated self-signed certificate.
//!
//! Only this crate knows HTTP.

pub mod app;
pub mod auth;
pub mod demo;
pub mod error;
pub mod files;
pub mod metrics;
pub mod openapi;
pub mod portal;
pub mod routes;
pub mod settings;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod webhooks;

pub use app::Application;
pub use settings::Settings;
