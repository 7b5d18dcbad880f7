//! The `api_tokens` table.

use sea_orm::entity::prelude::*;

/// A row of `api_tokens`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Hex SHA-256 of the token (tokens are 256-bit random: a fast hash is enough).
    #[sea_orm(unique)]
    pub token_sha256: String,
    /// First characters of the token, to recognise it in lists.
    pub prefix: String,
    /// Display name.
    pub name: String,
    /// Role granted.
    pub role: String,
    /// Reseller scope (reseller roles).
    pub reseller_id: Option<i64>,
    /// Who created it.
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last use.
    pub last_used_at: Option<DateTimeUtc>,
    /// Revocation time.
    pub revoked_at: Option<DateTimeUtc>,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
