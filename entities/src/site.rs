//! The `sites` table.

use sea_orm::entity::prelude::*;

/// A row of `sites`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sites")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The reseller that owns this customer account.
    pub reseller_id: i64,
    /// The customer account name a collector is installed with (unique).
    #[sea_orm(unique)]
    pub account_name: String,
    /// Display name.
    pub name: String,
    /// The Data Collector configuration resellers edit (JSON), if any.
    pub collector_config: Option<Json>,
    /// Version of `collector_config`; bumped on every change.
    pub config_version: i64,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
