//! The `actor_snapshots` table.

use sea_orm::entity::prelude::*;

/// A row of `actor_snapshots`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "actor_snapshots")]
pub struct Model {
    /// `printer`, `site` or `reseller`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    /// The actor key (printer, site or reseller id).
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// The state's stored form: `{"form": "msgpack", "version": n}` when the
    /// state is in `packed`; otherwise the state itself as JSON (snapshots
    /// saved before migration 000005).
    pub state: Json,
    /// The actor state in MessagePack, including the watermarks of the records
    /// it covers (packed documents as they are kept in memory).
    pub packed: Option<Vec<u8>>,
    /// When it was saved.
    pub saved_at: DateTimeUtc,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
