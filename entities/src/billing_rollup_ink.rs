//! The `billing_rollup_ink` table: ink per color, on the key of `billing_rollups`.

use sea_orm::entity::prelude::*;

/// A row of `billing_rollup_ink`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_rollup_ink")]
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
    /// Ink color.
    pub color: String,
    /// Ink, µl.
    pub ink_ul: i64,
    /// Of which non-HP ink, µl (meter basis only).
    pub non_hp_ink_ul: i64,
}

/// No relations are declared: queries join explicitly where they need to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
