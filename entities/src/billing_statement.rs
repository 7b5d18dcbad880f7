//! The `billing_statements` table: closed statements, frozen.

use sea_orm::entity::prelude::*;

/// A row of `billing_statements`. Written once, when a period is closed; never updated.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_statements")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The statement id, e.g. `site-3-2026-03-01` (scope, scope id, period start).
    #[sea_orm(unique)]
    pub key: String,
    /// `site` or `printer`.
    pub scope: String,
    /// Reseller.
    pub reseller_id: i64,
    /// Site.
    pub site_id: i64,
    /// Printer of a printer statement.
    pub printer_id: Option<i64>,
    /// First day of the period.
    pub period_start: Date,
    /// First day after the period.
    pub period_end: Date,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Statement total, exact decimal as text.
    pub total: String,
    /// The statement as served (JSON), lines included.
    pub document: Json,
    /// Hex SHA-256 over the canonical lines and evidence.
    pub digest: String,
    /// Highest job id visible when it was closed: its evidence is jobs up to it.
    pub job_watermark: i64,
    /// Highest counter reading id visible when it was closed.
    pub reading_watermark: i64,
    /// When it was closed.
    pub closed_at: DateTimeUtc,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
