//! `ppu-spool-writer`: a stand-in for the collector's write path, driven by
//! the reliability suite (tests/tests/reliability_collector.rs), which
//! `kill -9`s it at random moments.
//!
//! It uses the collector's own spool (`ppu_collector::spool::Spool`) the way
//! the collector's delivery does: every new envelope is pushed to the spool
//! (write-ahead) before it is sent; the oldest entry is sent; an entry older
//! than `--reseal-after-ms` is opened and sealed again (same payload, same
//! batch id) and replaced in the spool; an acknowledged entry is removed.
//! So a kill lands in a push, a replace, a remove or between them.
//!
//! It prints its ledger to stdout, one flushed line per event:
//! - `WILL <batch> <uuid,uuid,..>` before a push (the push may not finish);
//! - `PUSHED <batch> <seq>` after the push returned;
//! - `ACKED <batch> <duplicate>` after the hub answered 200 (before the removal);
//! - `REFUSED <batch> <status> <body>` when the hub refused an envelope;
//! - `DRAINED` in `--drain` mode once the spool is empty.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use clap::Parser;
use ppu_collector::spool::Spool;
use ppu_protocol::envelope::{self, Header, Limits, SenderKeys, SenderKind};
use ppu_protocol::model::*;
use uuid::Uuid;

#[derive(Debug, Parser)]
struct Args {
    /// The spool directory.
    #[arg(long)]
    spool: PathBuf,
    /// Hub base URL.
    #[arg(long)]
    hub: String,
    /// PEM certificate to trust for the hub.
    #[arg(long)]
    hub_ca: PathBuf,
    /// Collector id.
    #[arg(long)]
    sender_id: String,
    /// Collector secret.
    #[arg(long, env = "PPU_SPOOL_WRITER_SECRET", hide_env_values = true)]
    secret: String,
    /// Serial numbers reported, comma separated.
    #[arg(long, value_delimiter = ',')]
    serials: Vec<String>,
    /// Seal an entry again when it is older than this.
    #[arg(long, default_value_t = 700)]
    reseal_after_ms: u64,
    /// Send what is spooled, push nothing new, exit when the spool is empty.
    #[arg(long)]
    drain: bool,
    /// Seed of the job counts.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn payload(serials: &[String], rng: &mut u64) -> (Payload, Vec<Uuid>) {
    let mut p = Payload::new(
        Uuid::new_v4(),
        "ppu-spool-writer/1",
        Utc::now(),
        UploadTrigger::Scheduled,
    );
    let mut uuids = Vec::new();
    for serial in serials {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let n = 1 + (*rng % 4) as usize;
        let mut r = PrinterReport::new(serial.clone(), Utc::now());
        for _ in 0..n {
            let uuid = Uuid::new_v4();
            uuids.push(uuid);
            r.print_jobs.push(PrintJob {
                job: JobIdentity {
                    uuid,
                    name: format!("spool-{uuid}.pdf"),
                    sequence_number: 1,
                    project_id: None,
                    application_id: None,
                    custom_field: None,
                    account_id: None,
                    user_name: None,
                    submitted_at: None,
                },
                print: PrintDetails {
                    printed_at: Utc::now(),
                    status: PrintStatus::Printed,
                    source: JobSource::Driver,
                    category: PrintCategory::LineDrawing,
                    quality: PrintQuality::Normal,
                    media_type: Some("bond".into()),
                    pages: 1,
                    copies: 1,
                    print_time_s: 10,
                    ink: vec![],
                    media_area_mm2: 1000,
                    media_length_mm: 10,
                    printed_area_mm2: 100,
                    categories: vec![],
                    non_white_coverage_bp: 0,
                    color_coverage_bp: 0,
                },
            });
        }
        p.printers.push(r);
    }
    (p, uuids)
}

fn http(ca: &std::path::Path) -> anyhow::Result<reqwest::Client> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(ca)? {
        roots.add(c?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(10))
        .build()?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let keys = SenderKeys::derive(
        args.secret.as_bytes(),
        SenderKind::Collector,
        &args.sender_id,
    );
    let mut spool = Spool::open(&args.spool, 64 * 1024 * 1024)?;
    let client = http(&args.hub_ca)?;
    let url = format!("{}/api/v1/ingest", args.hub);
    let mut rng = args.seed.max(1);
    let reseal_after = chrono::Duration::milliseconds(args.reseal_after_ms as i64);
    let limits = Limits::default();
    loop {
        if !args.drain {
            let (p, uuids) = payload(&args.serials, &mut rng);
            let header = Header::new(SenderKind::Collector, args.sender_id.clone(), Utc::now());
            let bytes = envelope::seal(&header, &p, &keys)?;
            say(format!(
                "WILL {} {}",
                p.batch_id,
                uuids
                    .iter()
                    .map(Uuid::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ));
            let seq = spool.push(p.batch_id, &bytes)?;
            say(format!("PUSHED {} {seq}", p.batch_id));
        }
        // Deliver the oldest entry (a damaged one is moved aside by `oldest`).
        let Some(entry) = spool.oldest()? else {
            if args.drain {
                say("DRAINED".into());
                return Ok(());
            }
            continue;
        };
        let mut bytes = entry.envelope;
        let stale = envelope::peek_header(&bytes, &limits)
            .map(|h| Utc::now() - h.timestamp > reseal_after)
            .unwrap_or(true);
        if stale {
            let (_, msgpack) = envelope::open_bytes(&bytes, &keys, &limits)?;
            let header = Header::new(SenderKind::Collector, args.sender_id.clone(), Utc::now());
            bytes = envelope::seal_bytes(&header, &msgpack, &keys)?;
            spool.replace(entry.seq, &bytes)?;
        }
        match client
            .post(&url)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
        {
            Ok(r) if r.status().as_u16() == 200 => {
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                say(format!("ACKED {} {}", entry.batch_id, v["duplicate"]));
                spool.remove(entry.seq)?;
            }
            Ok(r) if r.status().as_u16() == 503 || r.status().is_server_error() => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                say(format!("REFUSED {} {status} {body}", entry.batch_id));
                if status == 422 || status == 409 {
                    // Sealed again on the next round (stale), like the collector.
                    continue;
                }
                spool.reject(entry.seq, &format!("{status} {body}"))?;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
