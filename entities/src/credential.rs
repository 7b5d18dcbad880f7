//! The `credentials` table.

use sea_orm::entity::prelude::*;

/// A row of `credentials`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "credentials")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `collector` or `printer`.
    pub sender_kind: String,
    /// Sender id as it appears in envelope headers.
    pub sender_id: String,
    /// Site the sender reports for.
    pub site_id: i64,
    /// For a direct-connected printer: the printer.
    pub printer_id: Option<i64>,
    /// Display name.
    pub name: String,
    /// Keys derived from the shared secret (never the secret itself).
    pub keys: Vec<u8>,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last successful upload.
    pub last_used_at: Option<DateTimeUtc>,
    /// Revocation time; a revoked sender is unknown to ingest.
    pub revoked_at: Option<DateTimeUtc>,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
