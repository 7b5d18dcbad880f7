//! The Data Collector: reads HP large-format printers in a customer's LAN,
//! read-only, and uploads their configuration, status, usage and job
//! metadata to the hub.
//!
//! It is something an installer can trust at a customer site:
//! - **read-only towards printers**: HTTP `GET` for HP LEDM, and only the
//!   IPP operations Get-Printer-Attributes and Get-Jobs; no type in the
//!   crate can build another request ([`printer_client`]);
//! - **outbound only**: it opens no listening socket; it connects to the
//!   printers and to the hub (HTTPS, certificate always verified, through a
//!   proxy when configured);
//! - **no data lost when the line is down**: every envelope is written to
//!   an on-disk spool before it is sent and leaves it only when the hub
//!   acknowledged it; jobs are read incrementally with durable cursors.
//!
//! # Layout
//! - [`engine`]: the [`Collector`]: poll cycles, job polls, delivery,
//!   remote configuration, and the run loop.
//! - [`drivers`]: what is read from a device: [`drivers::ledm`] (HP LEDM
//!   XML over HTTPS, [`drivers::xml`], the accounting CSV in
//!   [`drivers::accounting`]) and [`drivers::ipp`] (IPP/IPPS).
//! - [`printer_client`]: the read-only HTTP/IPP client for one printer.
//! - [`tls`]: hub TLS (verified) and printer TLS (trust on first use, pins).
//! - [`hub`]: the hub client: enrollment, uploads, configuration.
//! - [`batch`]: splitting a poll's data into envelopes under 90 KB.
//! - [`spool`]: the on-disk queue of sealed envelopes.
//! - [`state`]: the state directory: credentials, status, job cursors, pins.
//! - [`files`]: atomic, fsynced, private file writes.
//! - [`clock`]: injected time, so tests can live through days in seconds.
//! - [`enroll`]: enrollment with a one-time code.
//!
//! The binary (`src/main.rs`) is the `ppu-collector` command line:
//! `enroll`, `run`, `probe`, `status`, `check-config`.

pub mod batch;
pub mod clock;
pub mod drivers;
pub mod engine;
pub mod enroll;
pub mod files;
pub mod hub;
pub mod printer_client;
pub mod spool;
pub mod state;
pub mod tls;

pub use engine::Collector;
