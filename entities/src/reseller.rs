//! The `resellers` table.

use sea_orm::entity::prelude::*;

/// A row of `resellers`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "resellers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unique display name.
    #[sea_orm(unique)]
    pub name: String,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
