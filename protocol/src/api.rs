//! JSON bodies of the ingest exchange that senders must understand.
//!
//! The request is a sealed envelope (`application/octet-stream`); the hub's
//! answer is one of these JSON documents. They are wire types like the
//! payload: versioned with the API path (`/api/v1`) and tolerant of fields
//! added later. With the `openapi` feature they also derive `utoipa::ToSchema`
//! for the hub's OpenAPI document.

use serde::{Deserialize, Serialize};

/// Counts of records in an upload, by kind.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecordCounts {
    /// Printer reports.
    #[serde(default)]
    pub printers: u32,
    /// Print job records.
    #[serde(default)]
    pub print_jobs: u32,
    /// Scan job records.
    #[serde(default)]
    pub scan_jobs: u32,
    /// Copy job records.
    #[serde(default)]
    pub copy_jobs: u32,
    /// Device alerts.
    #[serde(default)]
    pub alerts: u32,
}

impl RecordCounts {
    /// Job records of every kind.
    pub fn jobs(&self) -> u32 {
        self.print_jobs + self.scan_jobs + self.copy_jobs
    }
}

/// A printer report the hub refused, with the reason. The rest of the upload
/// is still accepted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedPrinter {
    /// Serial number as sent.
    pub serial_number: String,
    /// Stable reason code, e.g. `printer_of_another_site`.
    pub code: String,
    /// Human readable explanation.
    pub message: String,
}

/// The hub's answer to an accepted upload (HTTP 200).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestResponse {
    /// Identifier of the upload in the hub's ledger (hex SHA-256 of the envelope).
    pub upload_id: String,
    /// `true` when this exact upload had been stored before: nothing changed.
    #[serde(default)]
    pub duplicate: bool,
    /// Records newly stored by this upload.
    #[serde(default)]
    pub accepted: RecordCounts,
    /// Records that were already known (job UUIDs seen before) and were not counted again.
    #[serde(default)]
    pub duplicates: RecordCounts,
    /// Printer reports refused, each with its reason.
    #[serde(default)]
    pub rejected_printers: Vec<RejectedPrinter>,
    /// The sender's current configuration version; a collector fetches its
    /// configuration when this differs from the one it runs with.
    #[serde(default)]
    pub config_version: u64,
}

/// The one error body of every API route: `{"error": {"code": .., "message": ..}}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an [`ErrorBody`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable, machine readable code, e.g. `bad_mac`, `replayed_nonce`.
    pub code: String,
    /// Human readable message, lowercase, no trailing punctuation.
    pub message: String,
}
