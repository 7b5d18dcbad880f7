//! SeaORM entities: the hub's tables as Rust types.
//!
//! Only this crate and `migration/` know table layouts. These are *database*
//! types: they are not serialized onto the wire (the wire types live in
//! `ppu-protocol`) and carry no behaviour beyond SeaORM's.
//!
//! # Layout
//! One module per table. Quantities keep the wire units (`_ul`, `_mm2`, `_mm`)
//! as `i64`; timestamps are UTC; small nested structures are JSON columns.

pub mod actor_snapshot;
pub mod alert;
pub mod alert_event;
pub mod alert_setting;
pub mod anomaly;
pub mod api_token;
pub mod audit_entry;
pub mod billing_contract;
pub mod billing_rollup;
pub mod billing_statement;
pub mod counter_reading;
pub mod credential;
pub mod job;
pub mod printer;
pub mod reseller;
pub mod session;
pub mod site;
pub mod status_snapshot;
pub mod upload;
pub mod user;
pub mod webhook;
pub mod webhook_delivery;

pub use sea_orm;
