//! Splitting a poll's data into envelopes under the size promise.
//!
//! The white paper promises uploads under 100 KB; PROTOCOL.md section 8 says
//! how to split. A poll's payload is sealed as one envelope when it fits in
//! [`MAX_ENVELOPE_BYTES`] (90 000 bytes, leaving room below the promise);
//! otherwise it is halved, by printers first and then by one printer's jobs
//! (the first half keeps the printer's status and counters, the others
//! carry only jobs), until every part fits. Each part is its own batch with
//! its own `batch_id`; the collector's own report rides in the first.

use chrono::{DateTime, Utc};
use ppu_protocol::envelope::{self, Header, SenderKeys, SenderKind};
use ppu_protocol::{Payload, PrinterReport};
use uuid::Uuid;

use crate::drivers::Job;

/// The largest sealed envelope the collector sends.
pub const MAX_ENVELOPE_BYTES: usize = 90_000;

/// The size `payload` seals to.
///
/// # Errors
/// When the payload cannot be encoded.
pub fn sealed_size(
    payload: &Payload,
    sender_id: &str,
    keys: &SenderKeys,
    now: DateTime<Utc>,
) -> Result<usize, envelope::SealError> {
    let header = Header::new(SenderKind::Collector, sender_id, now);
    Ok(envelope::seal(&header, payload, keys)?.len())
}

fn jobs_of(report: &mut PrinterReport) -> Vec<Job> {
    let mut jobs: Vec<Job> = Vec::new();
    jobs.extend(report.print_jobs.drain(..).map(Job::Print));
    jobs.extend(report.scan_jobs.drain(..).map(Job::Scan));
    jobs.extend(report.copy_jobs.drain(..).map(Job::Copy));
    jobs
}

/// Split `payload` into parts that seal to at most `limit` bytes each.
/// Parts after the first get fresh batch ids and no collector report.
///
/// # Errors
/// When a payload cannot be encoded.
pub fn split(
    payload: Payload,
    limit: usize,
    sender_id: &str,
    keys: &SenderKeys,
    now: DateTime<Utc>,
) -> Result<Vec<Payload>, envelope::SealError> {
    let mut out = Vec::new();
    split_into(payload, limit, sender_id, keys, now, &mut out)?;
    for (i, p) in out.iter_mut().enumerate() {
        if i > 0 {
            p.batch_id = Uuid::new_v4();
            p.collector = None;
        }
    }
    Ok(out)
}

fn split_into(
    mut payload: Payload,
    limit: usize,
    sender_id: &str,
    keys: &SenderKeys,
    now: DateTime<Utc>,
    out: &mut Vec<Payload>,
) -> Result<(), envelope::SealError> {
    if sealed_size(&payload, sender_id, keys, now)? <= limit {
        out.push(payload);
        return Ok(());
    }
    if payload.printers.len() > 1 {
        let second = payload.printers.split_off(payload.printers.len() / 2);
        let mut rest = payload.clone();
        rest.printers = second;
        rest.collector = None;
        split_into(payload, limit, sender_id, keys, now, out)?;
        return split_into(rest, limit, sender_id, keys, now, out);
    }
    let Some(report) = payload.printers.first_mut() else {
        out.push(payload);
        return Ok(());
    };
    let mut jobs = jobs_of(report);
    if jobs.len() <= 1 {
        // One printer's status with at most one job cannot be split; it is
        // far below the hub's 1 MiB limit.
        tracing::warn!(
            serial_number = %report.serial_number,
            "one printer's report does not fit the envelope size target; sent as it is"
        );
        for j in jobs {
            j.push_into(report);
        }
        out.push(payload);
        return Ok(());
    }
    let later = jobs.split_off(jobs.len() / 2);
    for j in jobs {
        j.push_into(report);
    }
    let mut rest = payload.clone();
    rest.collector = None;
    let head = &mut rest.printers[0];
    let mut jobs_only = PrinterReport::new(head.serial_number.clone(), head.collected_at);
    for j in later {
        j.push_into(&mut jobs_only);
    }
    rest.printers = vec![jobs_only];
    split_into(payload, limit, sender_id, keys, now, out)?;
    split_into(rest, limit, sender_id, keys, now, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppu_protocol::{JobIdentity, PrintDetails, PrintJob, UploadTrigger};

    fn job(i: u64) -> PrintJob {
        PrintJob {
            job: JobIdentity {
                uuid: Uuid::new_v4(),
                name: format!("drawing-{i}-{}.pdf", Uuid::new_v4()),
                sequence_number: i,
                project_id: Some(format!("project-{i}")),
                application_id: None,
                custom_field: None,
                account_id: Some(format!("cc-{}", i % 7)),
                user_name: Some(format!("user{i}")),
                submitted_at: Some(Utc::now()),
            },
            print: PrintDetails {
                printed_at: Utc::now(),
                status: Default::default(),
                source: Default::default(),
                category: Default::default(),
                quality: Default::default(),
                media_type: Some("bond".into()),
                pages: 1,
                copies: 1,
                print_time_s: 30,
                ink: vec![],
                media_area_mm2: i * 1000,
                media_length_mm: i,
                printed_area_mm2: i,
                categories: vec![],
                non_white_coverage_bp: 0,
                color_coverage_bp: 0,
            },
        }
    }

    #[test]
    fn large_polls_are_split_and_nothing_is_lost() {
        let keys = SenderKeys::derive(b"k", SenderKind::Collector, "col-1");
        let now = Utc::now();
        let mut p = Payload::new(Uuid::new_v4(), "test", now, UploadTrigger::Scheduled);
        p.collector = Some(Default::default());
        for s in 0..3 {
            let mut r = PrinterReport::new(format!("SN{s}"), now);
            r.counters = Some(Default::default());
            r.print_jobs = (0..3000).map(|i| job(s * 10_000 + i)).collect();
            p.printers.push(r);
        }
        let first_batch = p.batch_id;
        let parts = split(p, MAX_ENVELOPE_BYTES, "col-1", &keys, now).unwrap();
        assert!(parts.len() > 3, "{} parts", parts.len());
        assert!(
            parts.len() < 20,
            "halving stays close to the minimum: {} parts",
            parts.len()
        );
        assert_eq!(parts[0].batch_id, first_batch);
        assert!(parts[0].collector.is_some());
        let mut batches = std::collections::HashSet::new();
        let mut jobs = 0;
        for part in &parts {
            assert!(sealed_size(part, "col-1", &keys, now).unwrap() <= MAX_ENVELOPE_BYTES);
            assert!(
                batches.insert(part.batch_id),
                "every part has its own batch id"
            );
            jobs += part.job_count();
        }
        assert_eq!(jobs, 9000);
        assert_eq!(parts.iter().filter(|p| p.collector.is_some()).count(), 1);
        // Every printer's counters are sent exactly once.
        let counters = parts
            .iter()
            .flat_map(|p| &p.printers)
            .filter(|r| r.counters.is_some())
            .count();
        assert_eq!(counters, 3);
    }

    #[test]
    fn small_polls_stay_whole() {
        let keys = SenderKeys::derive(b"k", SenderKind::Collector, "col-1");
        let now = Utc::now();
        let mut p = Payload::new(Uuid::new_v4(), "test", now, UploadTrigger::Scheduled);
        let mut r = PrinterReport::new("SN", now);
        r.print_jobs = (0..10).map(job).collect();
        p.printers.push(r);
        let parts = split(p.clone(), MAX_ENVELOPE_BYTES, "col-1", &keys, now).unwrap();
        assert_eq!(parts, vec![p]);
    }
}
