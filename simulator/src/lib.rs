//! Virtual HP large-format printers for testing ppu-hub.
//!
//! The simulator plays both sides the hub meets in the field: *direct-connected*
//! printers whose firmware uploads sealed envelopes by itself, and printers
//! that a Data Collector reads over their embedded web server (HP LEDM XML
//! and a job accounting CSV). It also drives load.
//!
//! Everything a printer does comes from a deterministic model: the same
//! model, serial number and seed give the same jobs, alerts and lifetime
//! counters, and every job UUID is kept in a ledger, so an end-to-end test can
//! check the hub's numbers against the simulator's own exactly.
//!
//! # Layout
//! Pure logic, no I/O, no wall clock (time is passed in):
//! - [`rng`]: a portable seeded PRNG (xoshiro256**), the only source of randomness.
//! - [`models`]: the catalog of DesignJet and PageWide XL models and their real shape.
//! - [`names`]: realistic job names, users, cost centers, serial numbers.
//! - [`device`]: [`device::VirtualPrinter`], the discrete-event device model,
//!   its [`device::Event`]s and its [`device::JobLedger`].
//! - [`firmware`]: direct-connection upload rules (3 h / 19 jobs / 100 pages,
//!   high-severity alerts at once) and the ordered retry [`firmware::Outbox`].
//! - [`ledm::xml`], [`ledm::accounting`]: the LEDM documents and the accounting CSV.
//!
//! Time and I/O:
//! - [`clock`]: the [`clock::Clock`] trait, an accelerated and a manual clock.
//! - [`upload`]: TLS client (custom CA), envelope sealing, the hub's answers.
//! - [`fleet`]: fleet planning, provisioning through the admin API, the fleet file.
//! - [`direct`]: [`direct::DirectPrinter`] / [`direct::DirectFleet`], the
//!   driver that runs devices and firmware and delivers their uploads.
//! - [`ledm::server`]: the read-only HTTP(S) server, one loopback port per printer.
//! - [`load`]: the load generator behind `ppu-sim load`.
//!
//! The binary (`src/main.rs`) is the `ppu-sim` CLI: `run`, `serve-ledm`,
//! `load` and `models`.

pub mod clock;
pub mod device;
pub mod direct;
pub mod firmware;
pub mod fleet;
pub mod ledm;
pub mod load;
pub mod models;
pub mod names;
pub mod rng;
pub mod upload;

pub use clock::{AcceleratedClock, Clock, ManualClock};
pub use device::{DeviceOptions, Event, JobKind, JobLedger, JobRecord, VirtualPrinter};
pub use direct::{DirectFleet, DirectPrinter, FleetOptions};
pub use firmware::{Firmware, FirmwarePolicy};
pub use fleet::{FleetFile, FleetPrinter};
pub use models::ModelId;
pub use upload::HubClient;
