//! The `uploads` table.

use sea_orm::entity::prelude::*;

/// A row of `uploads`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "uploads")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Hex SHA-256 of the envelope bytes (the public upload id).
    #[sea_orm(unique)]
    pub envelope_sha256: String,
    /// `collector` or `printer`.
    pub sender_kind: String,
    /// Sender id from the envelope header.
    pub sender_id: String,
    /// Hex nonce from the envelope header (unique per sender).
    pub nonce: String,
    /// Batch id from the payload (unique per sender).
    pub batch_id: String,
    /// Timestamp from the envelope header.
    pub sent_at: DateTimeUtc,
    /// When the hub stored it.
    pub received_at: DateTimeUtc,
    /// Envelope size.
    pub size_bytes: i64,
    /// The answer given, replayed to retries.
    pub response: Json,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
