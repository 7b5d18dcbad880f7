//! Wire format shared by the hub, the Data Collector and direct-connected printers.
//!
//! # Layout
//! - [`model`]: the telemetry payload (Appendix A of the white paper), versioned.
//! - [`envelope`]: the sealed upload: MessagePack, LZ4, AES-128-CBC, HMAC-SHA256.
//! - [`api`]: the JSON answers of the ingest exchange.
//! - [`collector_config`]: the Data Collector's configuration (TOML file, hub API).
//!
//! Nothing here does I/O; PROTOCOL.md at the repository root is the
//! normative description of the bytes.

pub mod api;
pub mod collector_config;
pub mod envelope;
pub mod model;

pub use model::*;
