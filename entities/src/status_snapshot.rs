//! The `status_snapshots` table.

use sea_orm::entity::prelude::*;

/// A row of `status_snapshots`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "status_snapshots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Printer.
    pub printer_id: i64,
    /// Upload that carried it.
    pub upload_id: i64,
    /// When the device was read.
    pub taken_at: DateTimeUtc,
    /// Printer configuration (JSON), if reported.
    pub config: Option<Json>,
    /// Printer status (JSON), if reported.
    pub status: Option<Json>,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
