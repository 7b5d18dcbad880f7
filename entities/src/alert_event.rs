//! The `alert_events` table.

use sea_orm::entity::prelude::*;

/// A row of `alert_events`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_events")]
pub struct Model {
    /// Event id: the SSE event id, strictly increasing.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The alert.
    pub alert_id: i64,
    /// Reseller (SSE scope).
    pub reseller_id: i64,
    /// Site.
    pub site_id: i64,
    /// Printer, if a printer alert.
    pub printer_id: Option<i64>,
    /// `raised`, `cleared`, `acknowledged`, `updated`.
    pub kind: String,
    /// Severity at the time.
    pub severity: String,
    /// The event body as pushed (JSON).
    pub event: Json,
    /// When it happened.
    pub created_at: DateTimeUtc,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
