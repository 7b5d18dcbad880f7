//! The `users` table.

use sea_orm::entity::prelude::*;

/// A row of `users`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Login, unique, lowercase.
    #[sea_orm(unique)]
    pub email: String,
    /// Display name.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// `platform_admin`, `reseller_admin`, `reseller_user` or `support`.
    pub role: String,
    /// The reseller of reseller roles.
    pub reseller_id: Option<i64>,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Disabled users cannot log in.
    pub disabled_at: Option<DateTimeUtc>,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
