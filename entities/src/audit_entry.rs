//! The `audit_log` table.

use sea_orm::entity::prelude::*;

/// A row of `audit_log`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When.
    pub at: DateTimeUtc,
    /// Who (`user:<email>`, `token:<prefix>`, `admin-token`).
    pub actor: String,
    /// Reseller concerned, if any.
    pub reseller_id: Option<i64>,
    /// What, e.g. `token.create`, `collector_config.update`, `billing.export`.
    pub action: String,
    /// On what, e.g. `site:12`.
    pub object: String,
    /// Details (JSON), never secrets.
    pub detail: Option<Json>,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
