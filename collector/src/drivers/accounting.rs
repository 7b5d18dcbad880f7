//! The job accounting CSV of the DesignJet embedded web server.
//!
//! No public wire specification exists for it; the columns read here are
//! those of the EWS accounting page (type, source, print quality, copies,
//! pages, status, paper type, paper area, paper length, ink used per color)
//! plus the job identity columns, as the simulator serves them (see
//! `simulator/src/ledm/accounting.rs`). The reader goes by column *name*,
//! so column order and extra columns do not matter. A value that does not
//! parse leaves its field at the default; a row that cannot become a job
//! at all (no sequence number, no print or scan part) is skipped and
//! reported, never a failure of the whole read.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ppu_protocol::{
    CopyJob, InkColor, InkUsage, JobCategoryUsage, JobIdentity, PrintDetails, PrintJob,
    ScanDetails, ScanJob,
};
use uuid::Uuid;

use super::{Job, derived_job_uuid, ink_color, rfc3339, wire_enum};

/// The jobs of one CSV.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Jobs with their sequence numbers, in file order.
    pub jobs: Vec<(u64, Job)>,
    /// Rows that were skipped, and why.
    pub problems: Vec<String>,
}

/// Split RFC 4180 CSV into records.
pub fn records(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut any = false;
    let mut chars = text.chars().peekable();
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
                out.push(std::mem::take(&mut record));
                any = false;
            }
            _ => field.push(c),
        }
    }
    if any {
        record.push(field);
        out.push(record);
    }
    out
}

struct Row<'a> {
    fields: &'a [String],
    index: &'a HashMap<String, usize>,
}

impl Row<'_> {
    fn raw(&self, column: &str) -> &str {
        self.index
            .get(column)
            .and_then(|i| self.fields.get(*i))
            .map_or("", |s| s.trim())
    }

    fn opt(&self, column: &str) -> Option<String> {
        let v = self.raw(column);
        (!v.is_empty()).then(|| v.to_owned())
    }

    fn num<T: std::str::FromStr + Default>(&self, column: &str) -> T {
        self.raw(column).parse().unwrap_or_default()
    }

    fn time(&self, column: &str) -> Option<DateTime<Utc>> {
        rfc3339(self.raw(column))
    }
}

/// Read a CSV of `serial`'s jobs.
pub fn parse(text: &str, serial: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut rows = records(text).into_iter();
    let Some(header) = rows.next() else {
        return parsed;
    };
    let index: HashMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().to_owned(), i))
        .collect();
    let ink_columns: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let color = h.trim().strip_prefix("ink_")?.strip_suffix("_ul")?;
            (color != "total").then(|| (i, ink_color(color)))
        })
        .collect();
    for (n, fields) in rows.enumerate() {
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let row = Row {
            fields: &fields,
            index: &index,
        };
        match job(&row, &ink_columns, serial) {
            Ok(j) => parsed.jobs.push(j),
            Err(why) => parsed.problems.push(format!("line {}: {why}", n + 2)),
        }
    }
    parsed
}

fn job(row: &Row<'_>, ink_columns: &[(usize, String)], serial: &str) -> Result<(u64, Job), String> {
    let seq: u64 = row
        .raw("sequence_number")
        .parse()
        .map_err(|_| format!("no sequence number (`{}`)", row.raw("sequence_number")))?;
    let submitted_at = row.time("submitted_at");
    let uuid = Uuid::parse_str(row.raw("job_uuid"))
        .unwrap_or_else(|_| derived_job_uuid(serial, seq, submitted_at));
    let identity = JobIdentity {
        uuid,
        name: row.raw("job_name").to_owned(),
        sequence_number: seq,
        project_id: row.opt("project_id"),
        application_id: row.opt("application_id"),
        custom_field: row.opt("custom_field"),
        account_id: row.opt("account_id"),
        user_name: row.opt("user_name"),
        submitted_at,
    };
    let kind = row.raw("job_type").to_ascii_lowercase();
    let print = |status_column: &str| -> Result<PrintDetails, String> {
        let printed_at = row
            .time("printed_at")
            .ok_or_else(|| "no printed_at".to_owned())?;
        let ink = ink_columns
            .iter()
            .filter_map(|(i, color)| {
                let used_ul = row.fields.get(*i)?.trim().parse().ok()?;
                Some(InkUsage {
                    color: InkColor::new(color.clone()),
                    used_ul,
                })
            })
            .collect();
        let categories = row
            .raw("application_categories")
            .split(';')
            .filter_map(|entry| {
                let (id, values) = entry.split_once('=')?;
                let v: Vec<u64> = values
                    .split(':')
                    .map(|x| x.trim().parse().ok())
                    .collect::<Option<_>>()?;
                let [
                    media_area_mm2,
                    printed_area_mm2,
                    ink_used_ul,
                    media_length_mm,
                ] = v[..]
                else {
                    return None;
                };
                Some(JobCategoryUsage {
                    category_id: id.trim().to_owned(),
                    media_area_mm2,
                    printed_area_mm2,
                    ink_used_ul,
                    media_length_mm,
                })
            })
            .collect();
        Ok(PrintDetails {
            printed_at,
            status: wire_enum(row.raw(status_column)),
            source: wire_enum(row.raw("source")),
            category: wire_enum(row.raw("print_category")),
            quality: wire_enum(row.raw("print_quality")),
            media_type: row.opt("paper_type"),
            pages: row.num("pages"),
            copies: row.num("copies"),
            print_time_s: row.num("print_time_s"),
            ink,
            media_area_mm2: row.num("paper_area_mm2"),
            media_length_mm: row.num("paper_length_mm"),
            printed_area_mm2: row.num("printed_area_mm2"),
            categories,
            non_white_coverage_bp: row.num("non_white_coverage_bp"),
            color_coverage_bp: row.num("color_coverage_bp"),
        })
    };
    let scan = |status_column: &str| -> Result<ScanDetails, String> {
        Ok(ScanDetails {
            scanned_at: row
                .time("scanned_at")
                .ok_or_else(|| "no scanned_at".to_owned())?,
            status: wire_enum(row.raw(status_column)),
            scanned_area_mm2: row.num("scanned_area_mm2"),
        })
    };
    let job = match kind.as_str() {
        "print" => Job::Print(PrintJob {
            job: identity,
            print: print("status")?,
        }),
        "scan" => Job::Scan(ScanJob {
            job: identity,
            scan: scan("status")?,
        }),
        "copy" => Job::Copy(CopyJob {
            job: identity,
            scan: scan("scan_status")?,
            print: print("status")?,
        }),
        other => return Err(format!("unknown job type `{other}`")),
    };
    Ok((seq, job))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_jobs_and_bad_rows_are_reported() {
        let csv = "sequence_number,job_uuid,job_type,job_name,account_id,status,printed_at,pages,copies,ink_cyan_ul,ink_matte_black_ul,ink_total_ul,application_categories,paper_area_mm2\r\n\
            7,6f1c2a4e-93b0-4c1d-8a55-0d2e7b61c9a0,print,\"A1, \"\"final\"\"\",CC-1,printed,2026-01-05T10:00:00.000Z,2,1,12,,12,cad=10:2:12:841,1000\r\n\
            8,,print,no uuid,,cancelled,2026-01-05T10:05:00.000Z,x,1,,,,,\r\n\
            9,,fax,what,,,,,,,,,,\r\n\
            x,,print,,,,,,,,,,,\r\n";
        let p = parse(csv, "SN1");
        assert_eq!(p.jobs.len(), 2, "{:?}", p.problems);
        assert_eq!(p.problems.len(), 2, "{:?}", p.problems);
        assert!(p.problems[0].contains("unknown job type `fax`"));
        assert!(p.problems[1].contains("no sequence number"));
        let (seq, Job::Print(j)) = &p.jobs[0] else {
            panic!()
        };
        assert_eq!(*seq, 7);
        assert_eq!(j.job.name, "A1, \"final\"");
        assert_eq!(j.job.account_id.as_deref(), Some("CC-1"));
        assert_eq!(j.print.ink.len(), 1);
        assert_eq!(j.print.ink[0].color.as_str(), "cyan");
        assert_eq!(j.print.categories[0].media_length_mm, 841);
        assert_eq!(j.print.media_area_mm2, 1000);
        let (_, Job::Print(j2)) = &p.jobs[1] else {
            panic!()
        };
        assert_eq!(
            j2.job.uuid,
            derived_job_uuid("SN1", 8, None),
            "derived, stable uuid"
        );
        assert_eq!(j2.print.pages, 0, "unparsable value -> default");
        assert_eq!(j2.print.status, ppu_protocol::PrintStatus::Cancelled);
        assert!(parse("", "SN1").jobs.is_empty());
    }

    /// The simulator's CSV reads back into exactly its job records.
    #[test]
    fn simulator_accounting_round_trips() {
        use ppu_sim::ledm::accounting;
        use ppu_sim::{JobRecord, ModelId, VirtualPrinter};
        let start = DateTime::parse_from_rfc3339("2026-01-05T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for model in [ModelId::T2500, ModelId::PageWideXl4500, ModelId::Z6800] {
            let mut p = VirtualPrinter::new(model, "SN-CSV", 42);
            p.boot(start);
            p.advance(start + chrono::Duration::days(2));
            let colors: Vec<&str> = p.model().inks.iter().map(|i| i.color).collect();
            let csv = accounting::render(p.job_log(), &colors);
            let parsed = parse(&csv, "SN-CSV");
            assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
            let want: Vec<Job> = p
                .job_log()
                .map(|j| match j.clone() {
                    JobRecord::Print(j) => Job::Print(j),
                    JobRecord::Scan(j) => Job::Scan(j),
                    JobRecord::Copy(j) => Job::Copy(j),
                })
                .collect();
            assert!(!want.is_empty());
            let got: Vec<Job> = parsed.jobs.into_iter().map(|(_, j)| j).collect();
            assert_eq!(got, want, "{model}");
        }
    }
}
