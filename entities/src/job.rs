//! The `jobs` table.

use sea_orm::entity::prelude::*;

/// A row of `jobs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Job UUID, unique over all printers and kinds: counted once, ever.
    #[sea_orm(unique)]
    pub uuid: Uuid,
    /// `print`, `scan` or `copy`.
    pub kind: String,
    /// Printer that ran the job.
    pub printer_id: i64,
    /// Site of the printer when the job was stored.
    pub site_id: i64,
    /// Reseller of that site.
    pub reseller_id: i64,
    /// Upload that carried the job.
    pub upload_id: i64,
    /// Job name.
    pub name: String,
    /// Device sequence number.
    pub sequence_number: i64,
    /// Project id.
    pub project_id: Option<String>,
    /// Application id.
    pub application_id: Option<String>,
    /// Custom field.
    pub custom_field: Option<String>,
    /// Account id.
    pub account_id: Option<String>,
    /// User name.
    pub user_name: Option<String>,
    /// Timestamp from the submitting application.
    pub submitted_at: Option<DateTimeUtc>,
    /// Billing instant: print time, or scan time for scans.
    pub occurred_at: DateTimeUtc,
    /// Print time (print and copy jobs).
    pub printed_at: Option<DateTimeUtc>,
    /// Scan time (scan and copy jobs).
    pub scanned_at: Option<DateTimeUtc>,
    /// Print status.
    pub status: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// Print category.
    pub category: Option<String>,
    /// Print quality.
    pub quality: Option<String>,
    /// Media type id.
    pub media_type: Option<String>,
    /// Pages.
    pub pages: i64,
    /// Copies.
    pub copies: i64,
    /// Print time in seconds.
    pub print_time_s: i64,
    /// Ink over all colors, µl.
    pub ink_total_ul: i64,
    /// Ink per color, µl (JSON object).
    pub ink: Option<Json>,
    /// Media area, mm².
    pub media_area_mm2: i64,
    /// Media length, mm.
    pub media_length_mm: i64,
    /// Printed area, mm².
    pub printed_area_mm2: i64,
    /// Per application category usage (JSON array).
    pub categories: Option<Json>,
    /// Non-white pixel coverage, basis points.
    pub non_white_coverage_bp: i32,
    /// Color pixel coverage, basis points.
    pub color_coverage_bp: i32,
    /// Scan status (scan and copy jobs).
    pub scan_status: Option<String>,
    /// Scanned area, mm².
    pub scanned_area_mm2: i64,
    /// When the hub stored it.
    pub received_at: DateTimeUtc,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
