//! The job accounting export (`/hp/device/webAccess/accounting.csv`).
//!
//! HP's DesignJet EWS offers an accounting page with a CSV export; no public
//! wire specification exists, so this is our version of it: the columns of
//! the EWS page (type, source, print quality, copies, pages, status, paper
//! type, paper area, paper length, ink used per color) plus every field the
//! Data Collector needs to rebuild a complete `PrintJob` / `ScanJob` /
//! `CopyJob`. [`parse`] is the reference reader and the round-trip tests
//! prove that nothing is lost.
//!
//! # Format
//! RFC 4180 CSV, UTF-8, `\r\n` line ends, one header line. Empty field = absent.
//! Timestamps are RFC 3339 UTC with milliseconds. Enumerations use the
//! snake_case identifiers of `ppu_protocol`. Ink is in integer microlitres,
//! one `ink_<color>_ul` column per ink of the model, in slot order (the EWS
//! shows millilitres; integers keep sums exact). `application_categories`
//! is `id=media_area_mm2:printed_area_mm2:ink_ul:media_length_mm`, entries
//! separated by `;`. `pages` counts printed pages including copies.
//!
//! # Incremental reads
//! `?since=N` returns the jobs with a sequence number greater than `N`. The
//! response headers `X-Oldest-Sequence-Number` and `X-Last-Sequence-Number`
//! tell a collector whether jobs fell out of the bounded log since its last
//! read (oldest > N + 1).

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use ppu_protocol::{
    CopyJob, InkColor, InkUsage, JobCategoryUsage, JobIdentity, PrintDetails, PrintJob,
    ScanDetails, ScanJob, Timestamp,
};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::xml::wire;
use crate::device::{JobKind, JobRecord};

/// Columns before the per-color ink columns.
pub const LEADING_COLUMNS: &[&str] = &[
    "sequence_number",
    "job_uuid",
    "job_type",
    "job_name",
    "user_name",
    "account_id",
    "project_id",
    "application_id",
    "custom_field",
    "submitted_at",
    "status",
    "source",
    "print_quality",
    "print_category",
    "copies",
    "pages",
    "printed_at",
    "print_time_s",
    "paper_type",
    "paper_area_mm2",
    "paper_length_mm",
    "printed_area_mm2",
    "non_white_coverage_bp",
    "color_coverage_bp",
    "ink_total_ul",
];

/// Columns after the per-color ink columns.
pub const TRAILING_COLUMNS: &[&str] = &[
    "application_categories",
    "scan_status",
    "scanned_at",
    "scanned_area_mm2",
];

/// Why an accounting CSV could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AccountingError {
    /// The header lacks a required column.
    #[error("accounting csv lacks column `{0}`")]
    MissingColumn(String),
    /// A row is malformed.
    #[error("accounting csv line {line}: {message}")]
    Row {
        /// 1-based line number (the header is line 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Render `jobs` as the accounting CSV of a printer with ink colors `colors` (slot order).
pub fn render<'a>(jobs: impl IntoIterator<Item = &'a JobRecord>, colors: &[&str]) -> String {
    let mut out = String::new();
    let header: Vec<String> = LEADING_COLUMNS
        .iter()
        .map(|c| (*c).to_owned())
        .chain(colors.iter().map(|c| format!("ink_{c}_ul")))
        .chain(TRAILING_COLUMNS.iter().map(|c| (*c).to_owned()))
        .collect();
    write_row(&mut out, header.iter().map(String::as_str));
    for job in jobs {
        let row = job_row(job, colors);
        write_row(&mut out, row.iter().map(String::as_str));
    }
    out
}

fn ts(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn job_row(job: &JobRecord, colors: &[&str]) -> Vec<String> {
    let id = job.identity();
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let print = job.print();
    let scan = job.scan();
    let p = |f: &dyn Fn(&PrintDetails) -> String| print.map(f).unwrap_or_default();
    let status = match (print, scan) {
        (Some(p), _) => wire(&p.status),
        (None, Some(s)) => wire(&s.status),
        (None, None) => String::new(),
    };
    let mut row = vec![
        id.sequence_number.to_string(),
        id.uuid.to_string(),
        job.kind().as_str().to_owned(),
        id.name.clone(),
        opt(&id.user_name),
        opt(&id.account_id),
        opt(&id.project_id),
        opt(&id.application_id),
        opt(&id.custom_field),
        id.submitted_at.map(ts).unwrap_or_default(),
        status,
        p(&|p| wire(&p.source)),
        p(&|p| wire(&p.quality)),
        p(&|p| wire(&p.category)),
        p(&|p| p.copies.to_string()),
        p(&|p| p.pages.to_string()),
        p(&|p| ts(p.printed_at)),
        p(&|p| p.print_time_s.to_string()),
        p(&|p| p.media_type.clone().unwrap_or_default()),
        p(&|p| p.media_area_mm2.to_string()),
        p(&|p| p.media_length_mm.to_string()),
        p(&|p| p.printed_area_mm2.to_string()),
        p(&|p| p.non_white_coverage_bp.to_string()),
        p(&|p| p.color_coverage_bp.to_string()),
        p(&|p| p.total_ink_ul().to_string()),
    ];
    for color in colors {
        row.push(p(&|p| {
            p.ink
                .iter()
                .find(|i| i.color.as_str() == *color)
                .map(|i| i.used_ul.to_string())
                .unwrap_or_default()
        }));
    }
    row.push(p(&|p| {
        p.categories
            .iter()
            .map(|c| {
                format!(
                    "{}={}:{}:{}:{}",
                    c.category_id,
                    c.media_area_mm2,
                    c.printed_area_mm2,
                    c.ink_used_ul,
                    c.media_length_mm
                )
            })
            .collect::<Vec<_>>()
            .join(";")
    }));
    row.push(scan.map(|s| wire(&s.status)).unwrap_or_default());
    row.push(scan.map(|s| ts(s.scanned_at)).unwrap_or_default());
    row.push(
        scan.map(|s| s.scanned_area_mm2.to_string())
            .unwrap_or_default(),
    );
    row
}

fn write_row<'a>(out: &mut String, fields: impl Iterator<Item = &'a str>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push_str("\r\n");
}

/// Split RFC 4180 CSV into records of fields.
fn split_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                any = false;
            }
            _ => field.push(c),
        }
    }
    if any {
        record.push(field);
        records.push(record);
    }
    records
}

/// Read an accounting CSV back into job records (the reference reader).
///
/// # Errors
/// [`AccountingError`] when a required column is missing or a value does not parse.
pub fn parse(text: &str) -> Result<Vec<JobRecord>, AccountingError> {
    let mut records = split_records(text).into_iter();
    let Some(header) = records.next() else {
        return Ok(Vec::new());
    };
    let index: HashMap<&str, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    for c in LEADING_COLUMNS.iter().chain(TRAILING_COLUMNS) {
        if !index.contains_key(c) {
            return Err(AccountingError::MissingColumn((*c).to_owned()));
        }
    }
    let ink_columns: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let color = h.strip_prefix("ink_")?.strip_suffix("_ul")?;
            (color != "total").then(|| (i, color.to_owned()))
        })
        .collect();
    let mut jobs = Vec::new();
    for (n, row) in records.enumerate() {
        let line = n + 2;
        let row = Row {
            fields: &row,
            index: &index,
            line,
        };
        jobs.push(row.job(&ink_columns)?);
    }
    Ok(jobs)
}

struct Row<'a> {
    fields: &'a [String],
    index: &'a HashMap<&'a str, usize>,
    line: usize,
}

impl Row<'_> {
    fn err(&self, message: String) -> AccountingError {
        AccountingError::Row {
            line: self.line,
            message,
        }
    }

    fn raw(&self, column: &str) -> &str {
        self.index
            .get(column)
            .and_then(|i| self.fields.get(*i))
            .map_or("", String::as_str)
    }

    fn opt(&self, column: &str) -> Option<String> {
        let v = self.raw(column);
        (!v.is_empty()).then(|| v.to_owned())
    }

    fn num<T: std::str::FromStr>(&self, column: &str) -> Result<T, AccountingError> {
        self.raw(column).parse().map_err(|_| {
            self.err(format!(
                "`{column}` is not a number: `{}`",
                self.raw(column)
            ))
        })
    }

    fn time(&self, column: &str) -> Result<Option<Timestamp>, AccountingError> {
        let v = self.raw(column);
        if v.is_empty() {
            return Ok(None);
        }
        DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| self.err(format!("`{column}`: {e}")))
    }

    fn required_time(&self, column: &str) -> Result<Timestamp, AccountingError> {
        self.time(column)?
            .ok_or_else(|| self.err(format!("`{column}` is empty")))
    }

    fn enumeration<T: DeserializeOwned>(&self, column: &str) -> Result<T, AccountingError> {
        serde_json::from_value(serde_json::Value::String(self.raw(column).to_owned()))
            .map_err(|e| self.err(format!("`{column}`: {e}")))
    }

    fn job(&self, ink_columns: &[(usize, String)]) -> Result<JobRecord, AccountingError> {
        let kind = match self.raw("job_type") {
            "print" => JobKind::Print,
            "scan" => JobKind::Scan,
            "copy" => JobKind::Copy,
            other => return Err(self.err(format!("unknown job type `{other}`"))),
        };
        let identity = JobIdentity {
            uuid: Uuid::parse_str(self.raw("job_uuid"))
                .map_err(|e| self.err(format!("job_uuid: {e}")))?,
            name: self.raw("job_name").to_owned(),
            sequence_number: self.num("sequence_number")?,
            project_id: self.opt("project_id"),
            application_id: self.opt("application_id"),
            custom_field: self.opt("custom_field"),
            account_id: self.opt("account_id"),
            user_name: self.opt("user_name"),
            submitted_at: self.time("submitted_at")?,
        };
        let print = if kind == JobKind::Scan {
            None
        } else {
            Some(self.print(ink_columns)?)
        };
        let scan = if kind == JobKind::Print {
            None
        } else {
            Some(ScanDetails {
                scanned_at: self.required_time("scanned_at")?,
                status: self.enumeration("scan_status")?,
                scanned_area_mm2: self.num("scanned_area_mm2")?,
            })
        };
        Ok(match (print, scan) {
            (Some(print), None) => JobRecord::Print(PrintJob {
                job: identity,
                print,
            }),
            (None, Some(scan)) => JobRecord::Scan(ScanJob {
                job: identity,
                scan,
            }),
            (Some(print), Some(scan)) => JobRecord::Copy(CopyJob {
                job: identity,
                scan,
                print,
            }),
            (None, None) => return Err(self.err("job neither prints nor scans".into())),
        })
    }

    fn print(&self, ink_columns: &[(usize, String)]) -> Result<PrintDetails, AccountingError> {
        let mut ink = Vec::new();
        for (i, color) in ink_columns {
            let v = self.fields.get(*i).map_or("", String::as_str);
            if v.is_empty() {
                continue;
            }
            ink.push(InkUsage {
                color: InkColor::new(color.clone()),
                used_ul: v
                    .parse()
                    .map_err(|_| self.err(format!("ink_{color}_ul is not a number: `{v}`")))?,
            });
        }
        let mut categories = Vec::new();
        for entry in self
            .raw("application_categories")
            .split(';')
            .filter(|e| !e.is_empty())
        {
            let bad = || self.err(format!("bad application category `{entry}`"));
            let (id, values) = entry.split_once('=').ok_or_else(bad)?;
            let v: Vec<u64> = values
                .split(':')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|_| bad())?;
            let [
                media_area_mm2,
                printed_area_mm2,
                ink_used_ul,
                media_length_mm,
            ] = v[..]
            else {
                return Err(bad());
            };
            categories.push(JobCategoryUsage {
                category_id: id.to_owned(),
                media_area_mm2,
                printed_area_mm2,
                ink_used_ul,
                media_length_mm,
            });
        }
        Ok(PrintDetails {
            printed_at: self.required_time("printed_at")?,
            status: self.enumeration("status")?,
            source: self.enumeration("source")?,
            category: self.enumeration("print_category")?,
            quality: self.enumeration("print_quality")?,
            media_type: self.opt("paper_type"),
            pages: self.num("pages")?,
            copies: self.num("copies")?,
            print_time_s: self.num("print_time_s")?,
            ink,
            media_area_mm2: self.num("paper_area_mm2")?,
            media_length_mm: self.num("paper_length_mm")?,
            printed_area_mm2: self.num("printed_area_mm2")?,
            categories,
            non_white_coverage_bp: self.num("non_white_coverage_bp")?,
            color_coverage_bp: self.num("color_coverage_bp")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_commas_quotes_and_newlines() {
        let mut out = String::new();
        write_row(
            &mut out,
            ["a,b", "say \"hi\"", "two\nlines", "plain"].into_iter(),
        );
        let back = split_records(&out);
        assert_eq!(back, vec![vec!["a,b", "say \"hi\"", "two\nlines", "plain"]]);
    }
}
