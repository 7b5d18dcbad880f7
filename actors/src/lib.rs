//! Actors: the live, derived view of the fleet.
//!
//! The database is the system of record. Each printer, site and reseller is
//! an actix actor that folds the records of its scope into counters and
//! usage, can be rebuilt at any time from its last snapshot plus the records
//! stored after it, and saves snapshots through SeaORM.
//!
//! # Layout
//! - [`domain`]: plain Rust: usage, counter deltas, watermarks. No I/O.
//! - [`store`]: SeaORM reads and writes; database connection.
//! - [`ingest`]: the group-commit writer that makes uploads durable.
//! - [`printer`], [`aggregate`]: the actors.
//! - [`fleet`]: the handle the front end uses: routing, spawning, eviction,
//!   backpressure, shutdown. Nothing outside this crate sees an `Addr`.
//!
//! This crate knows nothing of HTTP.

pub mod aggregate;
pub mod alerts;
pub mod billing;
pub mod domain;
pub mod fleet;
pub mod ingest;
pub mod metrics;
pub mod printer;
pub mod store;

pub use fleet::{ActorSettings, Fleet};
