//! The `billing_rollups` table: usage summed by day or month and by the
//! billing dimensions, maintained in the ingest transaction.

use sea_orm::entity::prelude::*;

/// A row of `billing_rollups`. See the billing migration for the key layout.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_rollups")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `x` printer by job dimensions, `p` printer, `s` site, `r` reseller.
    pub level: String,
    /// `jobs` or `meter`.
    pub basis: String,
    /// `d` (day) or `m` (month).
    pub grain: String,
    /// The UTC day, or the first day of the UTC month.
    pub bucket: Date,
    /// Reseller.
    pub reseller_id: i64,
    /// Site (0 at reseller level).
    pub site_id: i64,
    /// Printer (0 at site and reseller level).
    pub printer_id: i64,
    /// Media type id (`''`: none, or not split).
    pub media_type: String,
    /// Print category (`''`: none, or not split).
    pub category: String,
    /// Job account id (`''`: none, or not split).
    pub account_id: String,
    /// Job project id (`''`: none, or not split).
    pub project_id: String,
    /// Job records.
    pub jobs: i64,
    /// Print jobs.
    pub print_jobs: i64,
    /// Scan jobs.
    pub scan_jobs: i64,
    /// Copy jobs.
    pub copy_jobs: i64,
    /// Pages.
    pub pages: i64,
    /// Copies.
    pub copies: i64,
    /// Ink over all colors, µl.
    pub ink_ul: i64,
    /// Non-HP ink, µl (meter basis only).
    pub non_hp_ink_ul: i64,
    /// Media area, mm².
    pub media_area_mm2: i64,
    /// Media length, mm.
    pub media_length_mm: i64,
    /// Printed area, mm².
    pub printed_area_mm2: i64,
    /// Scanned area of scans, mm².
    pub scan_area_mm2: i64,
    /// Scanned area of copies, mm².
    pub copy_scan_area_mm2: i64,
    /// Ink per color: `{"<color>": [ink_ul, non_hp_ink_ul], ...}` (`jsonb` on
    /// PostgreSQL, text on SQLite; `{}` when none).
    pub ink: Json,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
