//! The `printers` table.

use sea_orm::entity::prelude::*;

/// A row of `printers`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "printers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Serial number: the printer identity.
    #[sea_orm(unique)]
    pub serial_number: String,
    /// The site the printer belongs to.
    pub site_id: i64,
    /// Registered for direct connection (has its own credential).
    pub direct: bool,
    /// Product number from the last configuration report.
    pub product_number: Option<String>,
    /// Product name from the last configuration report.
    pub product_name: Option<String>,
    /// Firmware version from the last configuration report.
    pub firmware_version: Option<String>,
    /// Expected reporting interval in seconds (3 hours for direct printers).
    pub expected_interval_s: i64,
    /// Receipt time of the last upload that carried this printer.
    pub last_upload_at: Option<DateTimeUtc>,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
