//! The `anomalies` table.

use sea_orm::entity::prelude::*;

/// A row of `anomalies`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "anomalies")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Printer.
    pub printer_id: i64,
    /// The counter reading that started a new baseline.
    #[sea_orm(unique)]
    pub reading_id: i64,
    /// Kind, e.g. `counter_went_backwards`.
    pub kind: String,
    /// Which counters went backwards, from what to what (JSON).
    pub detail: Json,
    /// When it was detected.
    pub detected_at: DateTimeUtc,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
