//! The domain: plain Rust, no I/O, no clock, no actors. Actors drive it.

pub mod alerts;
pub mod billing;
pub mod packed;
pub mod plausible;
pub mod status_doc;
pub mod usage;

use serde::{Deserialize, Serialize};

/// How far the records of the database are folded into an actor's state.
///
/// Records are ordered by `(upload_id, printer_id)`: the ingest writer
/// dispatches uploads in commit order and, within an upload, printers in id
/// order. An actor applies a live update only if it is past its watermark, and
/// hydration reads only the records past the snapshot's watermark; together
/// they make every record count exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Watermark {
    /// Upload id.
    pub upload_id: i64,
    /// Printer id within that upload.
    pub printer_id: i64,
}

impl Watermark {
    /// The position of one printer's records in one upload.
    pub fn new(upload_id: i64, printer_id: i64) -> Self {
        Self {
            upload_id,
            printer_id,
        }
    }
}
