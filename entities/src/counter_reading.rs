//! The `counter_readings` table.

use sea_orm::entity::prelude::*;

/// A row of `counter_readings`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "counter_readings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Printer read.
    pub printer_id: i64,
    /// Its site at the time.
    pub site_id: i64,
    /// Its reseller at the time.
    pub reseller_id: i64,
    /// Upload that carried the reading.
    pub upload_id: i64,
    /// When the device was read.
    pub read_at: DateTimeUtc,
    /// The absolute lifetime counters (JSON).
    pub counters: Json,
    /// Usage since the previous reading: positive deltas only (JSON).
    pub delta: Json,
    /// A counter went backwards: this reading starts a new baseline.
    pub anomaly: bool,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
