//! The `alert_settings` table.

use sea_orm::entity::prelude::*;

/// A row of `alert_settings`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_settings")]
pub struct Model {
    /// Reseller.
    #[sea_orm(primary_key, auto_increment = false)]
    pub reseller_id: i64,
    /// Thresholds (JSON).
    pub settings: Json,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
