//! The `billing_contracts` table: the terms a site or a printer is billed by.

use sea_orm::entity::prelude::*;

/// A row of `billing_contracts`.
///
/// Rows are immutable except `effective_to`, which is set once when a later
/// contract for the same scope supersedes this one.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_contracts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `site` (every printer of the site without a contract of its own) or `printer`.
    pub scope: String,
    /// Reseller of the site.
    pub reseller_id: i64,
    /// The site (for a printer contract: the printer's site when it was made).
    pub site_id: i64,
    /// The printer of a printer contract.
    pub printer_id: Option<i64>,
    /// Display name.
    pub name: String,
    /// ISO 4217 currency code.
    pub currency: String,
    /// `monthly` or `quarterly`.
    pub period: String,
    /// Day of the month (1 to 28) periods start on.
    pub anchor_day: i32,
    /// `jobs` (per-job records by print time) or `meter` (lifetime counter deltas).
    pub basis: String,
    /// First day in force.
    pub effective_from: Date,
    /// First day no longer in force (exclusive); `None` while open-ended.
    pub effective_to: Option<Date>,
    /// Days after a period's end before it may be closed.
    pub grace_days: i32,
    /// The validated terms (`ppu_actors::domain::billing::Terms`, JSON).
    pub terms: Json,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
