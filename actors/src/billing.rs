//! Billing persistence: the usage rollups, contracts, statements, evidence.
//!
//! The rating itself is pure ([`crate::domain::billing`]); this module reads
//! and writes what it needs through SeaORM, on SQLite and PostgreSQL.
//!
//! # Layout
//! - [`rollup`]: the maintained aggregates. The ingest writer adds every new
//!   job and counter delta to them inside its transaction
//!   ([`rollup::add_jobs_to_rollups`]); totals and statements read only them.
//! - [`contracts`]: creating (validated, superseding) and listing contracts.
//! - [`totals`]: usage totals for a reseller, site or printer, grouped.
//! - [`statements`]: statements per period, adjustments for late data,
//!   closing, evidence and digests; the allocation of amounts to groups.
//!
//! # Consistency
//! Rollups are written in the same transaction as the records they sum, so
//! they never disagree with them. Closing a period reads rollups and
//! records in one snapshot that no ingest commit can enter (SQLite: the
//! write lock; PostgreSQL: an advisory lock the ingest writer takes shared
//! before it stores billing records), and records the highest job and
//! reading ids it saw: a closed statement's evidence is exactly the records
//! up to those ids, forever.

pub mod contracts;
pub mod rollup;
pub mod statements;
pub mod totals;

pub use rollup::add_jobs_to_rollups;

use sea_orm::DbErr;

/// Why a billing request failed.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The request is invalid (a 400): a stable code and a message.
    #[error("{message}")]
    Invalid {
        /// Stable code.
        code: &'static str,
        /// What is wrong, lowercase.
        message: String,
    },
    /// The request conflicts with the state (a 409): a stable code and a message.
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// What conflicts, lowercase.
        message: String,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl BillingError {
    fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }

    fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
}

/// Advisory lock key (PostgreSQL) that orders closing against ingest:
/// ingest holds it shared while it stores billing records, closing holds
/// it exclusively. ASCII "ppu-bill".
const CLOSE_LOCK_KEY: i64 = 0x7070_752d_6269_6c6c;
