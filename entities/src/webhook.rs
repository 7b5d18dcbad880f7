//! The `webhooks` table.

use sea_orm::entity::prelude::*;

/// A row of `webhooks`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Reseller whose alerts are sent.
    pub reseller_id: i64,
    /// Target URL.
    pub url: String,
    /// HMAC signing secret (needed to sign; never shown again after creation).
    pub secret: String,
    /// Minimum severity sent.
    pub min_severity: String,
    /// Whether deliveries are made.
    pub active: bool,
    /// Last alert event id turned into deliveries.
    pub cursor: i64,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
