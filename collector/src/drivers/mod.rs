//! Printer drivers: what the collector reads from a device, and how.
//!
//! Both drivers are strictly read-only: [`ledm`] only sends HTTP `GET`,
//! [`ipp`] only the IPP operations Get-Printer-Attributes and Get-Jobs
//! (see [`crate::printer_client`], which cannot express anything else).
//!
//! A driver turns a device into three things:
//! - an [`Identity`] (make and model, serial number), enough to decide
//!   whether the model is supported before reading anything more;
//! - a [`PrinterReport`] without jobs: configuration, status, alerts and
//!   lifetime counters. A document that cannot be read or a value that does
//!   not parse leaves the field absent (and is logged); it never fails the
//!   report;
//! - the jobs finished since a [`JobCursor`], read incrementally.

pub mod accounting;
pub mod ipp;
pub mod ledm;
pub mod xml;

use chrono::{DateTime, NaiveDate, Utc};
use ppu_protocol::{CopyJob, JobIdentity, PrintJob, PrinterReport, ScanJob};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::printer_client::{PrinterClient, PrinterError};

/// How a device was identified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Make and model as the device reports it.
    pub make_and_model: String,
    /// Serial number, when the device reports one.
    pub serial_number: Option<String>,
    /// The device's own UUID (IPP `printer-uuid`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

/// Where a known printer's data is, so that job polls need no rediscovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "snake_case")]
pub enum Access {
    /// HP LEDM: the accounting CSV path, when the device offers one.
    Ledm {
        /// Path of the job accounting CSV (from the discovery tree).
        accounting: Option<String>,
    },
    /// IPP: the printer's resource path.
    Ipp {
        /// e.g. `/ipp/print`.
        resource: String,
    },
}

/// A job record of any kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "record", rename_all = "snake_case")]
pub enum Job {
    /// A print job.
    Print(PrintJob),
    /// A scan job.
    Scan(ScanJob),
    /// A copy job.
    Copy(CopyJob),
}

impl Job {
    /// Identity and submitter data.
    pub fn identity(&self) -> &JobIdentity {
        match self {
            Self::Print(j) => &j.job,
            Self::Scan(j) => &j.job,
            Self::Copy(j) => &j.job,
        }
    }

    /// The job's UUID.
    pub fn uuid(&self) -> Uuid {
        self.identity().uuid
    }

    /// Put the record into the matching list of `report`.
    pub fn push_into(self, report: &mut PrinterReport) {
        match self {
            Self::Print(j) => report.print_jobs.push(j),
            Self::Scan(j) => report.scan_jobs.push(j),
            Self::Copy(j) => report.copy_jobs.push(j),
        }
    }
}

/// Where job reading stands for one printer. Committed to disk together
/// with the jobs it produced (see [`crate::state::JobStore`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCursor {
    /// LEDM: the highest accounting sequence number read. IPP: the highest job id seen.
    #[serde(default)]
    pub last_sequence: u64,
    /// IPP: the UUIDs of the completed jobs in the device's last listing.
    /// A listing shows each job until the device purges it, so a job is new
    /// when it is not in here, and the set never grows beyond the device's
    /// own history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<Uuid>,
}

/// The result of one job read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobRead {
    /// New job records, oldest first.
    pub jobs: Vec<Job>,
    /// The cursor after these jobs.
    pub cursor: JobCursor,
    /// Jobs the device no longer had when we asked (a gap in its sequence):
    /// they are lost for billing and reported loudly.
    pub missed: u64,
}

/// Read the jobs finished since `cursor`.
///
/// # Errors
/// When the device cannot be read; the cursor is unchanged then.
pub async fn read_jobs(
    client: &PrinterClient,
    access: &Access,
    serial: &str,
    cursor: &JobCursor,
) -> Result<JobRead, PrinterError> {
    match access {
        Access::Ledm {
            accounting: Some(path),
        } => ledm::read_jobs(client, path, serial, cursor).await,
        Access::Ledm { accounting: None } => Ok(JobRead {
            cursor: cursor.clone(),
            ..JobRead::default()
        }),
        Access::Ipp { resource } => ipp::read_jobs(client, resource, serial, cursor).await,
    }
}

/// Namespace of the UUIDs the collector derives for jobs a device reports
/// without one (v5 from the serial number and the device's job number).
pub const JOB_UUID_NAMESPACE: Uuid = Uuid::from_u128(0x6c1f_2a8e_1d4b_4f0e_9a57_3c2b_8d1e_0f42);

/// A stable UUID for a job the device did not give one.
pub fn derived_job_uuid(serial: &str, job_number: u64, created: Option<DateTime<Utc>>) -> Uuid {
    let name = format!(
        "{serial}/{job_number}/{}",
        created.map_or(0, |t| t.timestamp_millis())
    );
    Uuid::new_v5(&JOB_UUID_NAMESPACE, name.as_bytes())
}

/// `camelCase`, `kebab-case` or `Title Case` to `snake_case`.
pub fn snake_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev_lower = false;
    for c in s.trim().chars() {
        if c.is_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            prev_lower = false;
        } else if c.is_alphanumeric() {
            out.push(c);
            prev_lower = true;
        } else {
            if !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// Parse a device enumeration value into a protocol enum. Values are
/// normalized to snake_case first; anything unknown becomes the enum's
/// `Unknown` variant (every protocol enum has one), never an error.
pub fn wire_enum<T: DeserializeOwned + Default>(value: &str) -> T {
    serde_json::from_value(serde_json::Value::String(snake_case(value))).unwrap_or_default()
}

/// An ink color identifier (`matte_black`) from a device name
/// (`Matte Black`, `matteBlack`, `Matte-Black`).
pub fn ink_color(name: &str) -> String {
    snake_case(name)
}

/// Parse an RFC 3339 timestamp.
pub fn rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parse an ISO date (`2026-11-30`), or the date part of a timestamp.
pub fn date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppu_protocol::{ConsumableState, EngineState};

    #[test]
    fn device_values_normalize() {
        assert_eq!(snake_case("matteBlack"), "matte_black");
        assert_eq!(snake_case("Matte Black"), "matte_black");
        assert_eq!(snake_case("Matte-Black"), "matte_black");
        assert_eq!(snake_case("very_low"), "very_low");
        assert_eq!(snake_case(" veryLow "), "very_low");
        assert_eq!(
            wire_enum::<ConsumableState>("veryLow"),
            ConsumableState::VeryLow
        );
        assert_eq!(wire_enum::<ConsumableState>("ok"), ConsumableState::Ok);
        assert_eq!(
            wire_enum::<ConsumableState>("sparkly"),
            ConsumableState::Unknown
        );
        assert_eq!(wire_enum::<EngineState>(""), EngineState::Unknown);
        assert_eq!(date("2027-03-01"), NaiveDate::from_ymd_opt(2027, 3, 1));
        assert_eq!(
            date("2027-03-01T10:00:00Z"),
            NaiveDate::from_ymd_opt(2027, 3, 1)
        );
        assert_eq!(date("soon"), None);
        let a = derived_job_uuid("CN1", 7, None);
        assert_eq!(a, derived_job_uuid("CN1", 7, None), "stable");
        assert_ne!(a, derived_job_uuid("CN1", 8, None));
    }
}
