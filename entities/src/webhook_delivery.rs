//! The `webhook_deliveries` table.

use sea_orm::entity::prelude::*;

/// A row of `webhook_deliveries`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Webhook.
    pub webhook_id: i64,
    /// Alert event delivered.
    pub event_id: i64,
    /// `pending`, `delivered` or `failed` (gave up).
    pub state: String,
    /// Attempts made.
    pub attempts: i32,
    /// HTTP status of the last attempt.
    pub last_status: Option<i32>,
    /// Error of the last attempt.
    pub last_error: Option<String>,
    /// When the next attempt is due.
    pub next_attempt_at: DateTimeUtc,
    /// When it was delivered.
    pub delivered_at: Option<DateTimeUtc>,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
