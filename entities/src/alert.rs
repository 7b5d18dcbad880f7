//! The `alerts` table.

use sea_orm::entity::prelude::*;

/// A row of `alerts`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Printer, for printer alerts.
    pub printer_id: Option<i64>,
    /// Collector credential, for collector alerts.
    pub collector_id: Option<i64>,
    /// Site.
    pub site_id: i64,
    /// Reseller.
    pub reseller_id: i64,
    /// Stable alert code.
    pub code: String,
    /// Severity.
    pub severity: String,
    /// Message.
    pub message: String,
    /// `device` (reported) or `derived` (raised by the hub).
    pub source: String,
    /// `active`, `acknowledged` or `cleared`.
    pub state: String,
    /// First occurrence.
    pub first_seen: DateTimeUtc,
    /// Latest occurrence.
    pub last_seen: DateTimeUtc,
    /// Number of occurrences.
    pub occurrences: i64,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When it was acknowledged.
    pub acknowledged_at: Option<DateTimeUtc>,
    /// Who cleared it (`auto` when the condition resolved).
    pub cleared_by: Option<String>,
    /// When it was cleared.
    pub cleared_at: Option<DateTimeUtc>,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
