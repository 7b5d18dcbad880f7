//! `ppu-bench`: the benchmark harness of issue 10 (see BENCHMARKS.md).
//!
//! Every scenario starts a real hub in this process (`Application::build` on a
//! temporary data directory, SQLite or a fresh PostgreSQL database), talks to
//! it over HTTPS exactly as senders and support staff do, and prints one JSON
//! line per figure on stdout. Each figure is measured side by side with its
//! limit in the same run (the same server's `/healthz` rate, a raw bulk insert
//! into the same database, ...), so the ratios hold on a noisy machine.
//! Progress goes to stderr; the hub's own logs go to `hub.log` in the data
//! directory with the production filter (`info,sqlx=warn,sea_orm=warn`).
//!
//! The load generator runs on its own Tokio runtime (two threads) in the same
//! process: on a 2-core machine client and server share the cores, for the
//! hub's figures and for their limits alike.
//!
//! `scripts/bench.sh` is the one documented command; it runs every scenario.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use anyhow::{Context as _, ensure};
use chrono::{DateTime, TimeDelta, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use futures_util::StreamExt as _;
use ppu_actors::domain::usage::{JobFacts, counter_step};
use ppu_actors::store::{self, RowOwner};
use ppu_hub::state::AppState;
use ppu_hub::{Application, Settings};
use ppu_protocol::envelope::{self, Header, SenderKeys, SenderKind};
use ppu_protocol::model::{
    CollectorReport, DeviceAlert, Payload, PrinterReport, PrinterStatus, Severity, UploadTrigger,
};
use ppu_sim::{DeviceOptions, Event, ModelId, VirtualPrinter};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, EntityTrait, QueryFilter, QuerySelect, Statement,
};
use serde_json::{Value, json};
use tokio::runtime::Handle;
use uuid::Uuid;

/// The allocator of the `ppu-hub` binary, so the hub in this process keeps
/// its memory as in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";

#[derive(Debug, Parser)]
#[command(about = "ppu-hub benchmarks: one JSON line per figure on stdout")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mix {
    /// Direct-connected printers: one report (status, counters, ~19 jobs) per upload.
    Direct,
    /// Collector bundles: ten such reports per upload.
    Collector,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Durable ingest throughput, with its HTTP limit and its storage limit.
    Ingest {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BackendArg,
        /// Which upload shapes to run (repeat or comma-separate).
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "direct,collector"
        )]
        mix: Vec<Mix>,
        /// Seconds per timed window.
        #[arg(long, default_value_t = 8)]
        secs: u64,
        /// Uploads in flight.
        #[arg(long, default_value_t = 128)]
        concurrency: usize,
        /// Job records per printer report.
        #[arg(long, default_value_t = 19)]
        jobs: usize,
        /// Skip the limits (profiling runs).
        #[arg(long)]
        no_limits: bool,
        /// Measure only the storage limit, for `secs` (profiling runs).
        #[arg(long)]
        storage_only: bool,
        /// At most this many uploads per mix (profiling runs under valgrind).
        #[arg(long)]
        max_uploads: Option<usize>,
    },
    /// Upload receipt to SSE frame latency under background load.
    Alerts {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BackendArg,
        /// Seconds of probing.
        #[arg(long, default_value_t = 10)]
        secs: u64,
        /// Background uploads per second.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// Probes per second.
        #[arg(long, default_value_t = 20)]
        probes: u64,
    },
    /// Resident memory per printer actor and hydration time after a restart.
    Actors {
        /// Printer actors.
        #[arg(long, default_value_t = 100_000)]
        count: usize,
        /// Internal: which process of the scenario this is.
        #[arg(long, value_enum)]
        phase: Option<Phase>,
        /// Internal: the data directory shared by the phases.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Seconds the graceful stop (snapshot flush) may take before the first
        /// process is ended the hard way (the restart then rebuilds from records).
        #[arg(long, default_value_t = 60)]
        shutdown_cap_secs: u64,
    },
    /// `GET /api/v1/billing/totals` for a reseller with 1,000 printers and a year of jobs.
    Billing {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BackendArg,
        #[arg(long, default_value_t = 1000)]
        printers: usize,
        /// Job records per printer over the year.
        #[arg(long, default_value_t = 200)]
        jobs_per_printer: usize,
        #[arg(long, default_value_t = 500)]
        requests: usize,
    },
    /// One collector poll cycle over simulated printers.
    Collector {
        #[arg(long, default_value_t = 1000)]
        printers: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phase {
    /// Populate, spawn every actor, measure, stop gracefully.
    First,
    /// Start again on the same data and hydrate every actor.
    Restart,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The load generator's runtime: two threads, separate from the hub's.
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()?;
    let handle = client_rt.handle().clone();
    let result = actix_web::rt::System::new().block_on(async move {
        match cli.scenario {
            Scenario::Ingest {
                backend,
                mix,
                secs,
                concurrency,
                jobs,
                no_limits,
                storage_only,
                max_uploads,
            } => {
                ingest_scenario(
                    handle,
                    backend,
                    &mix,
                    Duration::from_secs(secs),
                    IngestOptions {
                        concurrency,
                        jobs,
                        no_limits,
                        storage_only,
                        max_uploads,
                    },
                )
                .await
            }
            Scenario::Alerts {
                backend,
                secs,
                rate,
                probes,
            } => alerts_scenario(handle, backend, Duration::from_secs(secs), rate, probes).await,
            Scenario::Actors {
                count,
                phase,
                data_dir,
                shutdown_cap_secs,
            } => actors_scenario(count, phase, data_dir, shutdown_cap_secs).await,
            Scenario::Billing {
                backend,
                printers,
                jobs_per_printer,
                requests,
            } => billing_scenario(handle, backend, printers, jobs_per_printer, requests).await,
            Scenario::Collector { printers } => collector_scenario(printers).await,
        }
    });
    client_rt.shutdown_timeout(Duration::from_secs(2));
    result
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// Print one figure.
fn emit(v: Value) {
    println!("{v}");
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("[ppu-bench] {}", msg.as_ref());
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

/// Resident set size of this process, bytes.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The cumulative buckets (`le` in seconds, count) of one of the hub's
/// histograms, read from its in-process Prometheus recorder.
fn hub_histogram(name: &str) -> Vec<(f64, u64)> {
    let text = ppu_hub::metrics::install().render();
    let prefix = format!("{name}_bucket{{");
    let mut buckets: Vec<(f64, u64)> = text
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let count = l.rsplit(' ').next()?.parse().ok()?;
            Some((le, count))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// Seconds recorded so far in each stage of the ingest writer
/// (`ppu_ingest_stage_duration_seconds_sum` by `stage`), and the number of
/// batches committed so far (the `commit` stage's count).
fn writer_stage_seconds() -> (BTreeMap<String, f64>, u64) {
    let text = ppu_hub::metrics::install().render();
    let name = ppu_actors::metrics::INGEST_STAGE_SECONDS;
    let sum_prefix = format!("{name}_sum{{stage=\"");
    let seconds = text
        .lines()
        .filter_map(|l| l.strip_prefix(&sum_prefix))
        .filter_map(|l| {
            let (stage, rest) = l.split_once('"')?;
            Some((stage.to_owned(), rest.rsplit(' ').next()?.parse().ok()?))
        })
        .collect();
    let commit_count = format!("{name}_count{{stage=\"commit\"}} ");
    let batches = text
        .lines()
        .find_map(|l| l.strip_prefix(&commit_count)?.trim().parse().ok())
        .unwrap_or(0);
    (seconds, batches)
}

/// The writer's time per stage between two readings of
/// [`writer_stage_seconds`], as a share of `window` (a sum near 1 means the
/// writer was busy all the time: it is what limits ingest), and the batches
/// it committed in between.
fn writer_profile(before: &(BTreeMap<String, f64>, u64), window: Duration) -> (f64, Value, u64) {
    let (after, batches) = writer_stage_seconds();
    let mut shares = serde_json::Map::new();
    let mut busy = 0.0;
    for (stage, s) in &after {
        let spent = s - before.0.get(stage).copied().unwrap_or(0.0);
        busy += spent;
        shares.insert(stage.clone(), json!(round(spent / window.as_secs_f64(), 3)));
    }
    (
        round(busy / window.as_secs_f64(), 3),
        Value::Object(shares),
        batches.saturating_sub(before.1),
    )
}

/// Observations between two readings of [`hub_histogram`]: their count and
/// the upper bounds (ms) of the buckets holding the 50th and 99th percentile.
fn histogram_window(before: &[(f64, u64)], after: &[(f64, u64)]) -> (u64, f64, f64) {
    let diff: Vec<(f64, u64)> = after
        .iter()
        .map(|&(le, n)| {
            let old = before.iter().find(|b| b.0 == le).map_or(0, |b| b.1);
            (le, n.saturating_sub(old))
        })
        .collect();
    let total = diff.last().map_or(0, |d| d.1);
    let bound = |q: f64| {
        let rank = (q * total as f64).ceil() as u64;
        diff.iter()
            .find(|d| d.1 >= rank.max(1))
            .map_or(f64::NAN, |d| d.0 * 1e3)
    };
    (total, bound(0.5), bound(0.99))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

// ---------------------------------------------------------------------------
// The hub under test
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Backend {
    Sqlite,
    Postgres { url: String, name: String },
}

impl Backend {
    fn label(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }
}

fn postgres_base() -> String {
    std::env::var("PPU_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn make_backend(arg: BackendArg) -> anyhow::Result<Backend> {
    match arg {
        BackendArg::Sqlite => Ok(Backend::Sqlite),
        BackendArg::Postgres => {
            let base = postgres_base();
            // Databases left by interrupted runs are dropped after an hour.
            let (url, name) = ppu_actors::store::scratch_postgres_database(&base, "ppu_bench")
                .await
                .with_context(|| format!("PostgreSQL at {base} (set PPU_TEST_POSTGRES_URL)"))?;
            Ok(Backend::Postgres { url, name })
        }
    }
}

async fn drop_backend(backend: &Backend) {
    if let Backend::Postgres { name, .. } = backend
        && let Ok(admin) = Database::connect(&postgres_base()).await
    {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

/// Log the hub the way production does (`info,sqlx=warn,sea_orm=warn`, or
/// `RUST_LOG`), into a file: `PPU_BENCH_HUB_LOG` if set (kept), else one in
/// the run's temporary directory.
fn init_logs(dir: &Path) {
    let path =
        std::env::var_os("PPU_BENCH_HUB_LOG").map_or_else(|| dir.join("hub.log"), PathBuf::from);
    let Ok(file) = std::fs::File::create(path) else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}

struct Hub {
    base: String,
    cert: PathBuf,
    admin: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    done: Option<tokio::sync::oneshot::Receiver<()>>,
    state: AppState,
}

impl Hub {
    async fn start(
        data_dir: &Path,
        backend: &Backend,
        tweak: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Hub> {
        let mut s = Settings {
            listen: "127.0.0.1:0".parse()?,
            data_dir: data_dir.to_owned(),
            admin_token: Some(ADMIN_TOKEN.into()),
            shutdown_timeout_secs: 5,
            ..Settings::default()
        };
        // No metrics listener: it would contend for a fixed port with other hubs.
        s.metrics.listen = String::new();
        if let Backend::Postgres { url, .. } = backend {
            s.database_url = Some(url.clone());
        }
        tweak(&mut s);
        let app = Application::build(s).await.context("hub starts")?;
        let port = app.port();
        let cert = app.tls_cert_path().to_owned();
        let handle = app.handle();
        let state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        actix_web::rt::spawn(async move {
            if let Err(e) = app.run_until_stopped().await {
                progress(format!("hub stopped with an error: {e:#}"));
            }
            let _ = tx.send(());
        });
        Ok(Hub {
            base: format!("https://localhost:{port}"),
            admin: client_trusting(&cert, 4)?,
            cert,
            handle,
            done: Some(rx),
            state,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Graceful stop: drain ingest, save snapshots.
    async fn stop(&mut self) {
        self.handle.stop(true).await;
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }

    async fn admin_post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let r = self
            .admin
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        ensure!(status.is_success(), "POST {path}: {status} {v}");
        Ok(v)
    }

    async fn tenant(&self, reseller: &str, account: &str) -> anyhow::Result<(i64, i64)> {
        let r = self
            .admin_post("/api/v1/resellers", json!({"name": reseller}))
            .await?;
        let rid = r["id"].as_i64().context("reseller id")?;
        let s = self
            .admin_post(
                "/api/v1/sites",
                json!({"reseller_id": rid, "account_name": account}),
            )
            .await?;
        Ok((rid, s["id"].as_i64().context("site id")?))
    }

    async fn direct_printer(&self, site_id: i64, serial: &str) -> anyhow::Result<Sender> {
        let r = self
            .admin_post(
                "/api/v1/printers",
                json!({"site_id": site_id, "serial_number": serial, "direct": true}),
            )
            .await?;
        Ok(Sender::new(
            SenderKind::Printer,
            r["sender_id"].as_str().context("sender_id")?,
            r["secret"].as_str().context("secret")?,
        ))
    }

    async fn collector(&self, site_id: i64, serials: &[String]) -> anyhow::Result<Sender> {
        let r = self
            .admin_post("/api/v1/collectors", json!({"site_id": site_id}))
            .await?;
        for serial in serials {
            self.admin_post(
                "/api/v1/printers",
                json!({"site_id": site_id, "serial_number": serial, "direct": false}),
            )
            .await?;
        }
        Ok(Sender::new(
            SenderKind::Collector,
            r["sender_id"].as_str().context("sender_id")?,
            r["secret"].as_str().context("secret")?,
        ))
    }
}

/// A reqwest client that trusts the hub's self-signed certificate.
fn client_trusting(cert: &Path, pool: usize) -> anyhow::Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert)? {
        roots.add(c?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .pool_max_idle_per_host(pool)
        .timeout(Duration::from_secs(600))
        .build()?)
}

/// A registered sender and its keys.
#[derive(Clone)]
struct Sender {
    kind: SenderKind,
    id: String,
    keys: SenderKeys,
}

impl Sender {
    fn new(kind: SenderKind, id: &str, secret: &str) -> Self {
        Self {
            kind,
            id: id.to_owned(),
            keys: SenderKeys::derive(secret.as_bytes(), kind, id),
        }
    }

    fn seal(&self, payload: &Payload) -> anyhow::Result<Bytes> {
        let header = Header::new(self.kind, self.id.clone(), Utc::now());
        Ok(Bytes::from(envelope::seal(&header, payload, &self.keys)?))
    }
}

// ---------------------------------------------------------------------------
// Realistic uploads, from the simulator's device model
// ---------------------------------------------------------------------------

/// A simulated printer producing consecutive reports of `jobs` jobs each,
/// exactly as the simulator's load mode does: status and counters as of the
/// last job, device alerts as the device has them.
struct SimDevice {
    device: VirtualPrinter,
    far: DateTime<Utc>,
}

impl SimDevice {
    fn new(serial: &str, index: usize, start: DateTime<Utc>) -> Self {
        Self::with_rate(
            serial,
            index,
            start,
            20.0,
            start + TimeDelta::days(365 * 50),
        )
    }

    /// A device whose model's job rate is multiplied by `job_rate`, simulated
    /// from `start` up to `far` at most.
    fn with_rate(
        serial: &str,
        index: usize,
        start: DateTime<Utc>,
        job_rate: f64,
        far: DateTime<Utc>,
    ) -> Self {
        let model = ModelId::ALL[index % ModelId::ALL.len()];
        let options = DeviceOptions {
            job_rate,
            accounting_log_capacity: 64,
            ..DeviceOptions::default()
        };
        let mut device =
            VirtualPrinter::with_options(model, serial, 0xbe7c_0000 + index as u64, options);
        device.boot(start);
        Self { device, far }
    }

    fn next_report(&mut self, jobs: usize) -> PrinterReport {
        let mut batch = Vec::with_capacity(jobs);
        while batch.len() < jobs.max(1) {
            let Some(events) = self.device.step(self.far) else {
                break;
            };
            batch.extend(events.into_iter().filter_map(|e| match e {
                Event::Job(job) => Some(*job),
                _ => None,
            }));
        }
        let at = self.device.now();
        let mut report = self.device.report(at);
        for job in batch {
            job.push_into(&mut report);
        }
        report
    }
}

/// One sealed upload, ready to post.
#[derive(Clone)]
struct Upload {
    body: Bytes,
    jobs: u32,
}

/// A sender with its simulated printers.
struct Source {
    sender: Sender,
    devices: Vec<SimDevice>,
}

impl Source {
    /// The next upload of this source: one report per device.
    fn next_upload(&mut self, jobs: usize) -> anyhow::Result<(Upload, Payload)> {
        let reports: Vec<PrinterReport> = self
            .devices
            .iter_mut()
            .map(|d| d.next_report(jobs))
            .collect();
        let at = reports
            .iter()
            .map(|r| r.collected_at)
            .max()
            .unwrap_or_else(Utc::now);
        let mut payload = Payload::new(Uuid::new_v4(), "ppu-bench/1", at, UploadTrigger::Scheduled);
        payload.printers = reports;
        if self.sender.kind == SenderKind::Collector {
            payload.collector = Some(CollectorReport {
                config_version: 1,
                poll_started_at: Some(at),
                poll_duration_ms: 4_000,
                devices_found: u32::try_from(self.devices.len()).unwrap_or(u32::MAX),
                ..CollectorReport::default()
            });
        }
        let jobs = u32::try_from(payload.job_count()).unwrap_or(u32::MAX);
        Ok((
            Upload {
                body: self.sender.seal(&payload)?,
                jobs,
            },
            payload,
        ))
    }
}

/// Provision `sources` senders of the mix (direct printers, or collectors of
/// ten printers each), spread over `sites` sites of one reseller.
async fn provision(hub: &Hub, mix: Mix, sources: usize, tag: &str) -> anyhow::Result<Vec<Source>> {
    let (_, site) = hub
        .tenant(&format!("Bench {tag}"), &format!("bench-{tag}"))
        .await?;
    let start = Utc::now() - TimeDelta::days(30);
    let mut out = Vec::with_capacity(sources);
    let mut pending = futures_util::stream::iter(0..sources)
        .map(|i| async move {
            match mix {
                Mix::Direct => {
                    let serial = format!("{tag}D{i:05}");
                    let sender = hub.direct_printer(site, &serial).await?;
                    Ok::<_, anyhow::Error>((i, sender, vec![serial]))
                }
                Mix::Collector => {
                    let serials: Vec<String> =
                        (0..10).map(|k| format!("{tag}C{i:04}P{k}")).collect();
                    let sender = hub.collector(site, &serials).await?;
                    Ok((i, sender, serials))
                }
            }
        })
        .buffer_unordered(8);
    let mut got = Vec::with_capacity(sources);
    while let Some(r) = pending.next().await {
        got.push(r?);
    }
    got.sort_by_key(|(i, _, _)| *i);
    for (i, sender, serials) in got {
        let devices = serials
            .iter()
            .enumerate()
            .map(|(k, s)| SimDevice::new(s, i * 10 + k, start))
            .collect();
        out.push(Source { sender, devices });
    }
    Ok(out)
}

/// Generate `rounds` consecutive uploads per source (in parallel on two
/// threads), arranged per load task: task `t` owns sources `t, t+C, ...` and
/// sends their uploads round by round, so a printer's uploads stay in order.
fn generate(
    sources: &mut [Source],
    rounds: usize,
    jobs: usize,
    tasks: usize,
) -> anyhow::Result<(Vec<Vec<Upload>>, Vec<Payload>)> {
    let half = sources.len().div_ceil(2);
    let (a, b) = sources.split_at_mut(half);
    let gen_part = |part: &mut [Source]| -> anyhow::Result<(Vec<Vec<Upload>>, Vec<Payload>)> {
        let mut per_source = Vec::with_capacity(part.len());
        let mut samples = Vec::new();
        for s in part.iter_mut() {
            let mut ups = Vec::with_capacity(rounds);
            for r in 0..rounds {
                let (u, p) = s.next_upload(jobs)?;
                if r == 0 && samples.len() < 8 {
                    samples.push(p);
                }
                ups.push(u);
            }
            per_source.push(ups);
        }
        Ok((per_source, samples))
    };
    let (ra, rb) = std::thread::scope(|scope| {
        let ha = scope.spawn(|| gen_part(a));
        let rb = gen_part(b);
        (ha.join().expect("generator thread"), rb)
    });
    let (mut per_source, mut samples) = ra?;
    let (more, more_samples) = rb?;
    per_source.extend(more);
    samples.extend(more_samples);
    let tasks = tasks.min(per_source.len()).max(1);
    let mut out: Vec<Vec<Upload>> = (0..tasks).map(|_| Vec::new()).collect();
    for r in 0..rounds {
        for (i, ups) in per_source.iter().enumerate() {
            out[i % tasks].push(ups[r].clone());
        }
    }
    Ok((out, samples))
}

// ---------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct LoadResult {
    ok: u64,
    jobs: u64,
    busy: u64,
    errors: u64,
    elapsed: Duration,
    latencies_ms: Vec<f64>,
}

impl LoadResult {
    fn per_s(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64()
    }
}

/// Post each task's uploads in order, one in flight per task, until done or `deadline`.
async fn run_uploads(
    rt: &Handle,
    client: &reqwest::Client,
    url: String,
    tasks: Vec<Vec<Upload>>,
    window: Option<Duration>,
) -> anyhow::Result<LoadResult> {
    let started = Instant::now();
    let deadline = window.map(|w| started + w);
    let mut handles = Vec::new();
    for seq in tasks {
        let client = client.clone();
        let url = url.clone();
        handles.push(rt.spawn(async move {
            let mut r = LoadResult::default();
            for up in seq {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                loop {
                    let sent = Instant::now();
                    let resp = client
                        .post(&url)
                        .header("content-type", "application/octet-stream")
                        .body(up.body.clone())
                        .send()
                        .await;
                    match resp {
                        Ok(resp) => {
                            let status = resp.status().as_u16();
                            let _ = resp.bytes().await;
                            if status == 200 {
                                r.latencies_ms.push(sent.elapsed().as_secs_f64() * 1e3);
                                r.ok += 1;
                                r.jobs += u64::from(up.jobs);
                                break;
                            } else if status == 503 {
                                r.busy += 1;
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            } else {
                                r.errors += 1;
                                break;
                            }
                        }
                        Err(_) => {
                            r.errors += 1;
                            break;
                        }
                    }
                }
            }
            r
        }));
    }
    let mut total = LoadResult::default();
    for h in handles {
        let r = h.await?;
        total.ok += r.ok;
        total.jobs += r.jobs;
        total.busy += r.busy;
        total.errors += r.errors;
        total.latencies_ms.extend(r.latencies_ms);
    }
    total.elapsed = started.elapsed();
    total.latencies_ms.sort_by(f64::total_cmp);
    Ok(total)
}

/// `GET /healthz` as fast as `concurrency` connections allow, for `window`.
async fn run_healthz(
    rt: &Handle,
    client: &reqwest::Client,
    url: String,
    concurrency: usize,
    window: Duration,
) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let deadline = started + window;
    let mut handles = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.clone();
        handles.push(rt.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                if let Ok(r) = client.get(&url).send().await
                    && r.status().is_success()
                    && r.bytes().await.is_ok()
                {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut n = 0;
    for h in handles {
        n += h.await?;
    }
    Ok((n, started.elapsed()))
}

// ---------------------------------------------------------------------------
// 1. Ingest throughput
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct IngestOptions {
    concurrency: usize,
    jobs: usize,
    no_limits: bool,
    storage_only: bool,
    max_uploads: Option<usize>,
}

async fn ingest_scenario(
    rt: Handle,
    backend_arg: BackendArg,
    mixes: &[Mix],
    window: Duration,
    opts: IngestOptions,
) -> anyhow::Result<()> {
    let backend = make_backend(backend_arg).await?;
    let tmp = tempfile::tempdir()?;
    init_logs(tmp.path());
    let mut hub = Hub::start(tmp.path(), &backend, |_| {}).await?;
    let result = ingest_run(&rt, &hub, &backend, mixes, window, opts).await;
    hub.stop().await;
    drop_backend(&backend).await;
    result
}

async fn ingest_run(
    rt: &Handle,
    hub: &Hub,
    backend: &Backend,
    mixes: &[Mix],
    window: Duration,
    opts: IngestOptions,
) -> anyhow::Result<()> {
    let IngestOptions {
        concurrency,
        jobs,
        no_limits,
        storage_only,
        max_uploads,
    } = opts;
    let label = backend.label();
    let target_jobs = match backend {
        Backend::Sqlite => 50_000.0,
        Backend::Postgres { .. } => 20_000.0,
    };
    let client = client_trusting(&hub.cert, concurrency)?;
    let max_batch = hub.state.settings.actors.max_batch;

    // HTTP limit: the same server, the same client, the same concurrency.
    let healthz = if no_limits || storage_only {
        None
    } else {
        let _ = run_healthz(
            rt,
            &client,
            hub.url("/healthz"),
            concurrency,
            Duration::from_secs(1),
        )
        .await?;
        let (n, el) = run_healthz(
            rt,
            &client,
            hub.url("/healthz"),
            concurrency,
            window.min(Duration::from_secs(5)),
        )
        .await?;
        let rate = n as f64 / el.as_secs_f64();
        progress(format!("{label}: /healthz {rate:.0} requests/s"));
        emit(json!({
            "scenario": "ingest", "backend": label, "figure": "http_limit_healthz_requests_per_s",
            "value": round(rate, 0), "unit": "requests/s", "concurrency": concurrency,
        }));
        Some(rate)
    };

    for (m, &mix) in mixes.iter().enumerate() {
        let mix_name = match mix {
            Mix::Direct => "direct",
            Mix::Collector => "collector",
        };
        let per_upload_reports = match mix {
            Mix::Direct => 1,
            Mix::Collector => 10,
        };
        // Uploads in flight: a collector bundle carries ten reports, so fewer of them.
        let conc = match mix {
            Mix::Direct => concurrency,
            Mix::Collector => (concurrency / 4).max(4),
        };
        // Sources: two per task, so each task alternates printers.
        let sources_n = (conc * 2).max(2);
        progress(format!(
            "{label}/{mix_name}: provisioning {sources_n} senders"
        ));
        let mut sources = provision(
            hub,
            mix,
            sources_n,
            &format!("m{m}{}", mix_name.chars().next().unwrap_or('x')),
        )
        .await?;
        // Warm-up: each sender's first upload (spawns and hydrates actors, fills caches).
        let (warm, samples, back) = tokio::task::spawn_blocking(move || {
            generate(&mut sources, 1, jobs, conc).map(|(t, s)| (t, s, sources))
        })
        .await??;
        sources = back;
        let w = run_uploads(rt, &client, hub.url("/api/v1/ingest"), warm, None).await?;
        ensure!(w.errors == 0, "warm-up uploads failed: {w:?}");
        let warm_rate = w.per_s(w.ok);
        progress(format!(
            "{label}/{mix_name}: warm-up done ({} uploads, {warm_rate:.0}/s)",
            w.ok
        ));
        if storage_only {
            let reports_per_tx = max_batch.min(conc) * per_upload_reports;
            let (rows_s, per_tx) =
                storage_limit(hub, &samples, reports_per_tx, window, false).await?;
            emit(json!({
                "scenario": "ingest", "backend": label, "mix": mix_name,
                "figure": "storage_limit_bulk_insert_job_records_per_s",
                "value": round(rows_s, 0), "unit": "records/s", "rows_per_transaction": per_tx,
            }));
            continue;
        }
        // Enough uploads for the window: four times the warm-up rate, at most
        // twice the target, at least two rounds.
        let by_target =
            target_jobs * 2.0 * window.as_secs_f64() / (jobs * per_upload_reports) as f64;
        let by_warm = warm_rate * 4.0 * window.as_secs_f64();
        let uploads_needed = (by_target.min(by_warm) as usize)
            .max(2 * sources_n)
            .min(max_uploads.unwrap_or(usize::MAX));
        let rounds = uploads_needed.div_ceil(sources_n).max(1);
        let gen_started = Instant::now();
        let (tasks, _, back) = tokio::task::spawn_blocking(move || {
            generate(&mut sources, rounds, jobs, conc).map(|(t, s)| (t, s, sources))
        })
        .await??;
        drop(back);
        let n_uploads: usize = tasks.iter().map(Vec::len).sum();
        let bytes: usize = tasks.iter().flatten().map(|u| u.body.len()).sum();
        let total_jobs: u64 = tasks.iter().flatten().map(|u| u64::from(u.jobs)).sum();
        progress(format!(
            "{label}/{mix_name}: {n_uploads} uploads sealed in {:.1}s, mean {} bytes, {:.1} jobs/upload",
            gen_started.elapsed().as_secs_f64(),
            bytes / n_uploads.max(1),
            total_jobs as f64 / n_uploads.max(1) as f64
        ));

        let stages_before = writer_stage_seconds();
        let r = run_uploads(rt, &client, hub.url("/api/v1/ingest"), tasks, Some(window)).await?;
        ensure!(r.ok > 0, "no upload stored: {r:?}");
        let (writer_busy, writer_stages, batches) = writer_profile(&stages_before, r.elapsed);
        let per_batch = r.ok as f64 / batches.max(1) as f64;
        let uploads_s = r.per_s(r.ok);
        let jobs_s = r.per_s(r.jobs);
        progress(format!(
            "{label}/{mix_name}: {uploads_s:.0} uploads/s, {jobs_s:.0} job records/s ({} ok, {} busy, {} errors in {:.1}s); writer busy {writer_busy}, {batches} batches of {per_batch:.1} uploads: {writer_stages}",
            r.ok,
            r.busy,
            r.errors,
            r.elapsed.as_secs_f64()
        ));

        // Storage limit: the same job rows, fresh UUIDs, bulk inserted into the
        // same database through the hub's write handle, in transactions of
        // the hub's group-commit size.
        let reports_per_tx = max_batch.min(conc) * per_upload_reports;
        let (storage, storage_rollups) = if no_limits {
            (None, None)
        } else {
            let w = window.min(Duration::from_secs(5));
            (
                Some(storage_limit(hub, &samples, reports_per_tx, w, false).await?),
                Some(storage_limit(hub, &samples, reports_per_tx, w, true).await?),
            )
        };
        let p50 = percentile(&r.latencies_ms, 0.5);
        let p99 = percentile(&r.latencies_ms, 0.99);
        emit(json!({
            "scenario": "ingest", "backend": label, "mix": mix_name, "figure": "uploads_per_s",
            "value": round(uploads_s, 0), "unit": "uploads/s",
            "limit": healthz.map(|h| json!({"name": "http_limit_healthz_requests_per_s", "value": round(h, 0)})),
            "ratio_to_limit": healthz.map(|h| round(uploads_s / h, 3)),
            "latency_ms": {"p50": round(p50, 1), "p99": round(p99, 1)},
            "uploads": r.ok, "busy_503": r.busy, "errors": r.errors,
            "window_s": round(r.elapsed.as_secs_f64(), 2), "concurrency": conc,
            "reports_per_upload": per_upload_reports,
            "mean_envelope_bytes": bytes / n_uploads.max(1),
            "writer": {
                "busy_share": writer_busy, "stage_shares": writer_stages,
                "batches": batches, "mean_uploads_per_batch": round(per_batch, 1),
            },
        }));
        if let Some((rows_s, rows_per_tx)) = storage {
            emit(json!({
                "scenario": "ingest", "backend": label, "mix": mix_name,
                "figure": "storage_limit_bulk_insert_job_records_per_s",
                "value": round(rows_s, 0), "unit": "records/s", "rows_per_transaction": rows_per_tx,
            }));
        }
        if let Some((rows_s, rows_per_tx)) = storage_rollups {
            emit(json!({
                "scenario": "ingest", "backend": label, "mix": mix_name,
                "figure": "storage_limit_jobs_with_rollups_records_per_s",
                "value": round(rows_s, 0), "unit": "records/s", "rows_per_transaction": rows_per_tx,
                "ingest_ratio": round(jobs_s / rows_s, 3),
                "note": "the same bulk insert plus the billing rollup upserts every stored job needs",
            }));
        }
        let half_storage = storage.map(|(s, _)| s / 2.0);
        let met = jobs_s >= target_jobs && half_storage.is_none_or(|h| jobs_s >= h);
        emit(json!({
            "scenario": "ingest", "backend": label, "mix": mix_name, "figure": "job_records_per_s",
            "value": round(jobs_s, 0), "unit": "records/s",
            "target": format!(">= {target_jobs} and >= half the storage limit"),
            "met": met,
            "limit": storage.map(|(s, _)| json!({"name": "storage_limit_bulk_insert_job_records_per_s", "value": round(s, 0)})),
            "ratio_to_limit": storage.map(|(s, _)| round(jobs_s / s, 3)),
            "jobs_per_report": round(r.jobs as f64 / (r.ok as f64 * per_upload_reports as f64), 1),
        }));
    }
    Ok(())
}

/// Bulk insert job rows like the ones of `samples` (fresh UUIDs) into the
/// hub's database through its write handle, `reports_per_tx` printer reports'
/// worth of rows per transaction, for about `window`. Returns (rows/s, rows per transaction).
///
/// With `rollups`, each transaction also adds the rows to the billing rollups
/// exactly as the ingest writer does (`add_jobs_to_rollups`): the writes every
/// stored job needs besides its own row.
async fn storage_limit(
    hub: &Hub,
    samples: &[Payload],
    reports_per_tx: usize,
    window: Duration,
    rollups: bool,
) -> anyhow::Result<(f64, usize)> {
    use ppu_entities::{job, printer, upload};
    let db = &hub.state.db;
    // Real owners (foreign keys): an existing upload and printers.
    let upload_id: i64 = upload::Entity::find()
        .select_only()
        .column(upload::Column::Id)
        .into_tuple()
        .one(&db.read)
        .await?
        .context("no upload stored")?;
    let printers: Vec<(i64, i64)> = printer::Entity::find()
        .select_only()
        .columns([printer::Column::Id, printer::Column::SiteId])
        .limit(64)
        .into_tuple()
        .all(&db.read)
        .await?;
    let reports: Vec<&PrinterReport> = samples.iter().flat_map(|p| p.printers.iter()).collect();
    ensure!(
        !reports.is_empty() && !printers.is_empty(),
        "nothing to insert"
    );
    let rows_for_tx = |k: usize| -> Vec<job::ActiveModel> {
        let mut rows = Vec::new();
        for i in 0..reports_per_tx {
            let report = reports[(k * reports_per_tx + i) % reports.len()];
            let (printer_id, site_id) = printers[i % printers.len()];
            let owner = RowOwner {
                printer_id,
                site_id,
                reseller_id: 1,
                upload_id,
                received_at: Utc::now(),
            };
            for j in &report.print_jobs {
                let mut j = j.clone();
                j.job.uuid = Uuid::new_v4();
                rows.push(store::print_job_row(&owner, &j, &JobFacts::from_print(&j)));
            }
            for j in &report.scan_jobs {
                let mut j = j.clone();
                j.job.uuid = Uuid::new_v4();
                rows.push(store::scan_job_row(&owner, &j, &JobFacts::from_scan(&j)));
            }
            for j in &report.copy_jobs {
                let mut j = j.clone();
                j.job.uuid = Uuid::new_v4();
                rows.push(store::copy_job_row(&owner, &j, &JobFacts::from_copy(&j)));
            }
        }
        rows
    };
    let reseller = hub_reseller_of(db, printers[0].1).await?;
    let mut timed = Duration::ZERO;
    let mut rows_total = 0usize;
    let mut per_tx = 0usize;
    let mut k = 0;
    while timed < window || k < 3 {
        let mut rows = rows_for_tx(k);
        for r in &mut rows {
            r.reseller_id = Set(reseller);
        }
        let n = rows.len();
        per_tx = n;
        let started = Instant::now();
        let tx = db.begin_write().await?;
        if rollups {
            ppu_actors::billing::add_jobs_to_rollups(&tx, &rows, &[]).await?;
        }
        store::insert_jobs(&tx, rows).await?;
        tx.commit().await?;
        timed += started.elapsed();
        rows_total += n;
        k += 1;
    }
    let rate = rows_total as f64 / timed.as_secs_f64();
    let what = if rollups { " with their rollups" } else { "" };
    progress(format!(
        "storage limit: {rate:.0} job rows/s{what} ({per_tx} rows per transaction, {k} transactions)"
    ));
    Ok((rate, per_tx))
}

async fn hub_reseller_of(db: &ppu_actors::store::Db, site_id: i64) -> anyhow::Result<i64> {
    Ok(ppu_entities::site::Entity::find_by_id(site_id)
        .one(&db.read)
        .await?
        .context("site")?
        .reseller_id)
}

// ---------------------------------------------------------------------------
// 2. Alert latency
// ---------------------------------------------------------------------------

async fn alerts_scenario(
    rt: Handle,
    backend_arg: BackendArg,
    window: Duration,
    rate: u64,
    probes_per_s: u64,
) -> anyhow::Result<()> {
    let backend = make_backend(backend_arg).await?;
    let tmp = tempfile::tempdir()?;
    init_logs(tmp.path());
    let mut hub = Hub::start(tmp.path(), &backend, |_| {}).await?;
    let result = alerts_run(&rt, &hub, &backend, window, rate, probes_per_s).await;
    hub.stop().await;
    drop_backend(&backend).await;
    result
}

async fn alerts_run(
    rt: &Handle,
    hub: &Hub,
    backend: &Backend,
    window: Duration,
    rate: u64,
    probes_per_s: u64,
) -> anyhow::Result<()> {
    let label = backend.label();
    let concurrency = 64usize;
    let sources_n = 128usize;
    // Background: realistic direct uploads, paced to `rate` per second.
    let total = (rate as f64 * (window.as_secs_f64() + 3.0)) as usize;
    let rounds = total.div_ceil(sources_n) + 1;
    progress(format!(
        "{label}/alerts: provisioning {sources_n} printers, generating {} uploads",
        rounds * sources_n
    ));
    let mut sources = provision(hub, Mix::Direct, sources_n, "al").await?;
    let (mut tasks, _) =
        tokio::task::spawn_blocking(move || generate(&mut sources, rounds, 19, 64)).await??;
    let warm: Vec<Vec<Upload>> = tasks
        .iter_mut()
        .map(|t| t.drain(..2.min(t.len())).collect())
        .collect();
    let client = client_trusting(&hub.cert, concurrency + 4)?;
    let w = run_uploads(rt, &client, hub.url("/api/v1/ingest"), warm, None).await?;
    ensure!(w.errors == 0, "warm-up failed: {w:?}");

    // The probe printer and its uploads: alternately raising and clearing a device alert.
    let (_, site) = hub.tenant("Bench alerts probe", "probe-site").await?;
    let probe = hub.direct_printer(site, "PROBE-1").await?;
    let n_probes = (probes_per_s as f64 * window.as_secs_f64()) as usize;
    let mut probe_bodies = Vec::with_capacity(n_probes);
    for i in 0..n_probes {
        let mut report = PrinterReport::new("PROBE-1", Utc::now());
        report.status = Some(PrinterStatus::default());
        if i % 2 == 0 {
            report.alerts.push(DeviceAlert {
                code: "bench.probe".into(),
                severity: Severity::Major,
                message: "benchmark probe".into(),
                detected_at: Utc::now(),
                active: true,
                during_boot: false,
            });
        }
        let mut p = Payload::new(
            Uuid::new_v4(),
            "ppu-bench/1",
            Utc::now(),
            UploadTrigger::Alert,
        );
        p.printers.push(report);
        probe_bodies.push((
            probe.seal(&p)?,
            if i % 2 == 0 { "raised" } else { "cleared" },
        ));
    }

    // The SSE client.
    let sse_client = client_trusting(&hub.cert, 2)?;
    let resp = sse_client
        .get(hub.url("/api/v1/alerts/stream?printer=PROBE-1"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?;
    ensure!(
        resp.status().as_u16() == 200,
        "SSE stream: {}",
        resp.status()
    );
    let (frames_tx, mut frames_rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let reader = rt.spawn(async move {
        let mut resp = resp;
        let mut buf = String::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            let at = Instant::now();
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(pos) = buf.find("\n\n") {
                let raw: String = buf.drain(..pos + 2).collect();
                let mut event = "";
                let mut data = Value::Null;
                for line in raw.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = match v {
                            "alert" => "alert",
                            "observed" => "observed",
                            _ => "other",
                        };
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(v).unwrap_or(Value::Null);
                    }
                }
                let probe = match event {
                    "alert" => data["alert"]["serial_number"] == "PROBE-1",
                    "observed" => data["serial_number"] == "PROBE-1",
                    _ => false,
                };
                if probe {
                    let kind = data["kind"].as_str().unwrap_or("").to_owned();
                    if frames_tx.send((kind, at)).is_err() {
                        return;
                    }
                }
            }
        }
    });

    // Background load, paced: each task sends every `concurrency / rate` seconds.
    let period = Duration::from_secs_f64(concurrency as f64 / rate as f64);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let bg_errors = Arc::new(AtomicU64::new(0));
    let mut bg = Vec::new();
    let bg_started = Instant::now();
    for (t, seq) in tasks.into_iter().enumerate() {
        let client = client.clone();
        let url = hub.url("/api/v1/ingest");
        let stop = stop.clone();
        let sent = sent.clone();
        let errors = bg_errors.clone();
        bg.push(rt.spawn(async move {
            // Stagger the tasks over one period.
            tokio::time::sleep(period.mul_f64(t as f64 / concurrency as f64)).await;
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for up in seq {
                tick.tick().await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match client
                    .post(&url)
                    .header("content-type", "application/octet-stream")
                    .body(up.body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent_at_start = sent.load(Ordering::Relaxed);
    let commits_before = hub_histogram(ppu_actors::metrics::INGEST_COMMIT_SECONDS);
    let probe_started = Instant::now();

    // Probes, one at a time: send, wait for the answer and the frames. A
    // raise is pushed twice: `observed` on receipt (the figure: the first
    // frame a subscriber gets), then the stored `raised` after the commit; a
    // clear only stored. Both stored latencies are kept beside the figure.
    let probe_client = client_trusting(&hub.cert, 2)?;
    let interval = Duration::from_secs_f64(1.0 / probes_per_s as f64);
    let mut latencies = Vec::with_capacity(n_probes);
    let mut stored_raise = Vec::with_capacity(n_probes);
    let mut stored_clear = Vec::with_capacity(n_probes);
    let mut missed = 0u64;
    let probe_url = hub.url("/api/v1/ingest");
    for (i, (body, kind)) in probe_bodies.into_iter().enumerate() {
        let slot = probe_started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(slot.into()).await;
        let pc = probe_client.clone();
        let url = probe_url.clone();
        let t0 = Instant::now();
        let post = rt.spawn(async move {
            pc.post(&url)
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
        let raise = kind == "raised";
        let frames = tokio::time::timeout(Duration::from_secs(5), async {
            let mut first = None;
            while let Some((k, at)) = frames_rx.recv().await {
                if first.is_none() && (k == kind || (raise && k == "observed")) {
                    first = Some(at);
                }
                if k == kind {
                    return first.map(|f| (f, at));
                }
            }
            None
        })
        .await;
        let status = post.await?.unwrap_or(0);
        match frames {
            Ok(Some((first, stored))) if status == 200 => {
                let ms = |at: Instant| at.duration_since(t0).as_secs_f64() * 1e3;
                if raise {
                    latencies.push(ms(first));
                    stored_raise.push(ms(stored));
                } else {
                    stored_clear.push(ms(stored));
                }
            }
            Ok(Some(_)) => {
                missed += 1;
                if missed <= 3 {
                    progress(format!("probe {i}: answered {status}"));
                }
            }
            _ => {
                missed += 1;
                if missed <= 3 {
                    progress(format!(
                        "probe {i}: answered {status}, no {kind} frame within 5 s"
                    ));
                }
            }
        }
    }
    let probe_elapsed = probe_started.elapsed();
    let bg_rate =
        (sent.load(Ordering::Relaxed) - sent_at_start) as f64 / probe_elapsed.as_secs_f64();
    // What a probe waits for: the group commit in progress when it arrives,
    // then its own. The writer's commit times over the probe window, side by side.
    let (commits, commit_p50, commit_p99) = histogram_window(
        &commits_before,
        &hub_histogram(ppu_actors::metrics::INGEST_COMMIT_SECONDS),
    );
    stop.store(true, Ordering::Relaxed);
    for h in bg {
        let _ = h.await;
    }
    reader.abort();
    let _ = bg_started;
    let summary = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN),
        )
    };
    let (p50, p99, max) = summary(&mut latencies);
    let (raised_p50, raised_p99, _) = summary(&mut stored_raise);
    let (cleared_p50, cleared_p99, _) = summary(&mut stored_clear);
    progress(format!(
        "{label}/alerts: first frame (observed) p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms over {} raises ({missed} probes missed); stored raised p50 {raised_p50:.1} / p99 {raised_p99:.1} ms, stored cleared p50 {cleared_p50:.1} / p99 {cleared_p99:.1} ms; background {bg_rate:.0} uploads/s; {commits} group commits, p50 <= {commit_p50} ms, p99 <= {commit_p99} ms",
        latencies.len()
    ));
    let probes = latencies.len() + stored_clear.len();
    let background = json!({"target_uploads_per_s": rate, "achieved_uploads_per_s": round(bg_rate, 0),
        "errors": bg_errors.load(Ordering::Relaxed), "jobs_per_upload": 19,
        "group_commits": commits, "uploads_per_commit": round((bg_rate * probe_elapsed.as_secs_f64() + probes as f64) / commits.max(1) as f64, 1),
        "commit_p50_ms_at_most": commit_p50, "commit_p99_ms_at_most": commit_p99});
    let stored = json!({
        "raised_p50_ms": round(raised_p50, 2), "raised_p99_ms": round(raised_p99, 2),
        "cleared_p50_ms": round(cleared_p50, 2), "cleared_p99_ms": round(cleared_p99, 2),
        "clears": stored_clear.len(),
    });
    emit(json!({
        "scenario": "alerts", "backend": label, "figure": "alert_latency_p50_ms",
        "value": round(p50, 2), "unit": "ms", "frame": "observed", "raises": latencies.len(),
        "missed": missed, "stored": stored, "background": background,
    }));
    emit(json!({
        "scenario": "alerts", "backend": label, "figure": "alert_latency_p99_ms",
        "value": round(p99, 2), "unit": "ms", "frame": "observed", "target": "< 20",
        "met": p99 < 20.0 && missed == 0, "max_ms": round(max, 2), "raises": latencies.len(),
        "missed": missed, "stored": stored, "background": background,
    }));
    Ok(())
}

// ---------------------------------------------------------------------------
// 3. Actor scale
// ---------------------------------------------------------------------------

async fn actors_scenario(
    count: usize,
    phase: Option<Phase>,
    data_dir: Option<PathBuf>,
    shutdown_cap_secs: u64,
) -> anyhow::Result<()> {
    match phase {
        None => {
            // Orchestrate: two fresh processes on one data directory.
            let tmp = tempfile::tempdir()?;
            let exe = std::env::current_exe()?;
            for p in ["first", "restart"] {
                let status = std::process::Command::new(&exe)
                    .args(["actors", "--count", &count.to_string(), "--phase", p])
                    .arg("--data-dir")
                    .arg(tmp.path())
                    .args(["--shutdown-cap-secs", &shutdown_cap_secs.to_string()])
                    .status()?;
                ensure!(status.success(), "actors phase {p} failed: {status}");
            }
            Ok(())
        }
        Some(phase) => {
            let dir = data_dir.context("--data-dir")?;
            init_logs(&dir);
            actors_phase(count, phase, &dir, Duration::from_secs(shutdown_cap_secs)).await
        }
    }
}

async fn actors_phase(count: usize, phase: Phase, dir: &Path, cap: Duration) -> anyhow::Result<()> {
    // Keep every actor resident for the whole run (no eviction), and no snapshot ticks.
    let tweak = |s: &mut Settings| {
        s.actors.idle_ttl_secs = 3600;
        s.actors.snapshot_interval_secs = 3600;
    };
    let mut hub = Hub::start(dir, &Backend::Sqlite, tweak).await?;
    if phase == Phase::First {
        populate_printers(&hub, count).await?;
    }
    let ids: Vec<i64> = ppu_entities::printer::Entity::find()
        .select_only()
        .column(ppu_entities::printer::Column::Id)
        .into_tuple()
        .all(&hub.state.db.read)
        .await?;
    ensure!(
        ids.len() == count,
        "{} printers in the database, expected {count}",
        ids.len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0 = rss_bytes();
    let started = Instant::now();
    let fleet = hub.state.fleet.clone();
    // After a restart the snapshots are complete: hydrate in pages first.
    let preloaded = match phase {
        Phase::First => 0,
        Phase::Restart => fleet.preload_printers().await?,
    };
    let preload_s = started.elapsed().as_secs_f64();
    let mut views = futures_util::stream::iter(ids.iter().copied())
        .map(|id| {
            let fleet = fleet.clone();
            async move { fleet.printer_view(id).await.is_some() }
        })
        .buffer_unordered(256);
    let mut live = 0usize;
    let mut done = 0usize;
    while let Some(ok) = views.next().await {
        live += usize::from(ok);
        done += 1;
        if done.is_multiple_of(20_000) {
            progress(format!(
                "actors: {done} hydrated after {:.1}s",
                started.elapsed().as_secs_f64()
            ));
        }
    }
    drop(views);
    let spawn_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss1 = rss_bytes();
    let (printers_live, _, _) = fleet.live_actors();
    ensure!(live == count, "{live} of {count} actors answered");
    let per_actor = rss1.saturating_sub(rss0) as f64 / count as f64;
    let which = match phase {
        Phase::First => "first_start",
        Phase::Restart => "after_restart",
    };
    progress(format!(
        "actors ({which}): {count} live in {spawn_s:.1}s; RSS {} -> {} MiB = {per_actor:.0} bytes per actor",
        rss0 >> 20,
        rss1 >> 20
    ));
    emit(json!({
        "scenario": "actors", "backend": "sqlite", "figure": format!("resident_bytes_per_printer_actor_{which}"),
        "value": round(per_actor, 0), "unit": "bytes", "target": "< 4096", "met": per_actor < 4096.0,
        "actors": printers_live, "rss_before_mib": rss0 >> 20, "rss_after_mib": rss1 >> 20,
        "state": "config, status, counters and usage of a simulated printer per actor",
    }));
    match phase {
        Phase::First => {
            emit(json!({
                "scenario": "actors", "backend": "sqlite", "figure": "spawn_and_hydrate_s_first_start",
                "value": round(spawn_s, 2), "unit": "s", "actors": count,
                "note": "no snapshots yet: every actor rebuilds from its records",
            }));
            // Graceful stop: the fleet saves every actor's snapshot.
            let stop_started = Instant::now();
            let db = hub.state.db.read.clone();
            let stopping = actix_web::rt::spawn(async move {
                hub.stop().await;
            });
            let mut saved = 0i64;
            while !stopping.is_finished() && stop_started.elapsed() < cap {
                tokio::time::sleep(Duration::from_millis(500)).await;
                saved = count_rows(&db, "actor_snapshots WHERE kind = 'printer'")
                    .await
                    .unwrap_or(saved);
            }
            let stop_s = stop_started.elapsed().as_secs_f64();
            let finished = stopping.is_finished();
            let rate = saved as f64 / stop_s;
            let projected = if finished {
                stop_s
            } else {
                count as f64 / rate.max(1e-9)
            };
            progress(format!(
                "actors: graceful stop {} after {stop_s:.1}s ({saved} snapshots saved, {rate:.0}/s)",
                if finished { "finished" } else { "cut" }
            ));
            emit(json!({
                "scenario": "actors", "backend": "sqlite", "figure": "graceful_stop_snapshot_flush_s",
                "value": round(projected, 1), "unit": "s", "actors": count,
                "measured": finished, "snapshots_saved": saved, "snapshots_per_s": round(rate, 0),
                "note": if finished { "measured" } else { "projected from the rate over the capped window; the process is then ended and the restart rebuilds the rest from records" },
            }));
            if !finished {
                // Leave the way a killed process does.
                std::process::exit(0);
            }
        }
        Phase::Restart => {
            // The target is for 100,000 actors: a smaller run is judged by its
            // linear projection, never by its own (smaller) time.
            let projected = spawn_s * (100_000.0 / count.max(1) as f64).max(1.0);
            emit(json!({
                "scenario": "actors", "backend": "sqlite", "figure": "hydration_s_after_restart",
                "value": round(spawn_s, 2), "unit": "s", "target": "< 10 for 100,000 actors",
                "met": projected < 10.0, "projected_s_for_100000": round(projected, 1),
                "actors": count, "concurrency": 256,
                "preloaded": preloaded, "preload_s": round(preload_s, 2),
                "note": "Fleet::preload_printers (pages of 1,000 printers) then a view of every actor",
            }));
            hub.handle.stop(false).await;
            // The snapshot flush of a restart run is not measured again.
            std::process::exit(0);
        }
    }
    Ok(())
}

async fn count_rows(db: &sea_orm::DatabaseConnection, from: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {from}"),
        ))
        .await?
        .context("count")?;
    Ok(row.try_get::<i64>("", "n")?)
}

/// `count` printers over 100 sites of one reseller, each with the records of
/// one realistic upload (configuration, status and lifetime counters of a
/// simulated printer), written straight into the database in bulk.
async fn populate_printers(hub: &Hub, count: usize) -> anyhow::Result<()> {
    use ppu_entities::{counter_reading, printer, status_snapshot, upload};
    use sea_orm::QueryOrder;
    let started = Instant::now();
    let (reseller, first_site) = hub.tenant("Bench actors", "actors-0").await?;
    let sites_n = 100usize;
    let mut sites = vec![first_site];
    for s in 1..sites_n {
        let v = hub
            .admin_post(
                "/api/v1/sites",
                json!({"reseller_id": reseller, "account_name": format!("actors-{s}")}),
            )
            .await?;
        sites.push(v["id"].as_i64().context("site id")?);
    }
    // One record-keeping upload row that the records point to.
    let db = &hub.state.db;
    let now = Utc::now();
    let up = upload::ActiveModel {
        envelope_sha256: Set(format!("{:064x}", 1)),
        sender_kind: Set("printer".into()),
        sender_id: Set("bench-populate".into()),
        nonce: Set("00".repeat(16)),
        batch_id: Set(Uuid::new_v4().to_string()),
        sent_at: Set(now),
        received_at: Set(now),
        size_bytes: Set(0),
        response: Set(Value::Null),
        ..Default::default()
    };
    let upload_id = upload::Entity::insert(up)
        .exec(&db.write)
        .await?
        .last_insert_id;
    // Templates: one simulated printer per model.
    let templates: Vec<(Value, Value, Value, Value)> = ModelId::ALL
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let mut d = SimDevice::new(&format!("T{i}"), i, now - TimeDelta::days(30));
            let report = d.next_report(19);
            let counters = report.counters.clone().unwrap_or_default();
            let step = counter_step(None, &counters);
            (
                store::to_json(&report.config),
                store::to_json(&report.status),
                store::to_json(&step.baseline),
                store::to_json(&step.delta),
            )
        })
        .collect();
    const CHUNK: usize = 1000;
    let mut next = 0usize;
    while next < count {
        let n = CHUNK.min(count - next);
        let tx = db.begin_write().await?;
        let rows: Vec<printer::ActiveModel> = (next..next + n)
            .map(|i| printer::ActiveModel {
                serial_number: Set(format!("ACT{i:07}")),
                site_id: Set(sites[i % sites_n]),
                direct: Set(false),
                expected_interval_s: Set(10_800),
                created_at: Set(now),
                last_upload_at: Set(Some(now)),
                ..Default::default()
            })
            .collect();
        printer::Entity::insert_many(rows)
            .exec_without_returning(&tx)
            .await?;
        let ids: Vec<(i64, i64)> = printer::Entity::find()
            .select_only()
            .columns([printer::Column::Id, printer::Column::SiteId])
            .filter(printer::Column::SerialNumber.gte(format!("ACT{next:07}")))
            .filter(printer::Column::SerialNumber.lt(format!("ACT{:07}", next + n)))
            .order_by_asc(printer::Column::Id)
            .into_tuple()
            .all(&tx)
            .await?;
        let snapshots: Vec<status_snapshot::ActiveModel> = ids
            .iter()
            .enumerate()
            .map(|(k, (id, _))| {
                let t = &templates[(next + k) % templates.len()];
                status_snapshot::ActiveModel {
                    printer_id: Set(*id),
                    upload_id: Set(upload_id),
                    taken_at: Set(now),
                    config: Set(Some(t.0.clone())),
                    status: Set(Some(t.1.clone())),
                    ..Default::default()
                }
            })
            .collect();
        for c in snapshots.chunks(500) {
            status_snapshot::Entity::insert_many(c.to_vec())
                .exec_without_returning(&tx)
                .await?;
        }
        let readings: Vec<counter_reading::ActiveModel> = ids
            .iter()
            .enumerate()
            .map(|(k, (id, site))| {
                let t = &templates[(next + k) % templates.len()];
                counter_reading::ActiveModel {
                    printer_id: Set(*id),
                    site_id: Set(*site),
                    reseller_id: Set(reseller),
                    upload_id: Set(upload_id),
                    read_at: Set(now),
                    counters: Set(t.2.clone()),
                    delta: Set(t.3.clone()),
                    anomaly: Set(false),
                    ..Default::default()
                }
            })
            .collect();
        for c in readings.chunks(500) {
            counter_reading::Entity::insert_many(c.to_vec())
                .exec_without_returning(&tx)
                .await?;
        }
        tx.commit().await?;
        next += n;
    }
    progress(format!(
        "actors: {count} printers with status and counters written in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

// ---------------------------------------------------------------------------
// 4. Billing query
// ---------------------------------------------------------------------------

async fn billing_scenario(
    rt: Handle,
    backend_arg: BackendArg,
    printers: usize,
    jobs_per_printer: usize,
    requests: usize,
) -> anyhow::Result<()> {
    let backend = make_backend(backend_arg).await?;
    let tmp = tempfile::tempdir()?;
    init_logs(tmp.path());
    let mut hub = Hub::start(tmp.path(), &backend, |_| {}).await?;
    let result = billing_run(&rt, &hub, &backend, printers, jobs_per_printer, requests).await;
    hub.stop().await;
    drop_backend(&backend).await;
    result
}

/// Sequential GETs of `url` with `client`: sorted latencies, ms, and the last body.
async fn timed_gets(
    rt: &Handle,
    client: &reqwest::Client,
    url: String,
    n: usize,
) -> anyhow::Result<(Vec<f64>, Value)> {
    let client = client.clone();
    rt.spawn(async move {
        let mut lat = Vec::with_capacity(n);
        let mut last = Value::Null;
        for _ in 0..n {
            let t0 = Instant::now();
            let r = client.get(&url).bearer_auth(ADMIN_TOKEN).send().await?;
            let status = r.status();
            let body = r.bytes().await?;
            lat.push(t0.elapsed().as_secs_f64() * 1e3);
            ensure!(status.is_success(), "GET {url}: {status}");
            last = serde_json::from_slice(&body).unwrap_or(Value::Null);
        }
        lat.sort_by(f64::total_cmp);
        Ok((lat, last))
    })
    .await?
}

async fn billing_run(
    rt: &Handle,
    hub: &Hub,
    backend: &Backend,
    printers: usize,
    jobs_per_printer: usize,
    requests: usize,
) -> anyhow::Result<()> {
    use chrono::{Datelike as _, NaiveDate};
    let label = backend.label();
    // The year: the last twelve whole calendar months plus the current one,
    // so the range is month-aligned (`to` is the first of next month).
    let today = Utc::now().date_naive();
    let next_month = if today.month() == 12 {
        NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)
    }
    .context("date")?;
    let from =
        NaiveDate::from_ymd_opt(next_month.year() - 1, next_month.month(), 1).context("date")?;
    let start = from.and_hms_opt(0, 0, 0).context("time")?.and_utc();
    let until = Utc::now() - TimeDelta::minutes(5);

    // Population: collectors of ten printers each (one reseller, one site),
    // each printer simulated over the year at the job rate that gives it
    // `jobs_per_printer` jobs, delivered through the hub's ingest path so the
    // rollups are maintained by the writer exactly as in production.
    let collectors = printers.div_ceil(10);
    progress(format!(
        "{label}/billing: provisioning {collectors} collectors with {} printers",
        collectors * 10
    ));
    let populate_started = Instant::now();
    let mut sources = provision(hub, Mix::Collector, collectors, "bl").await?;
    let workdays_per_year = 261.0;
    for (i, src) in sources.iter_mut().enumerate() {
        for (k, d) in src.devices.iter_mut().enumerate() {
            let index = i * 10 + k;
            let model = ModelId::ALL[index % ModelId::ALL.len()];
            let per_workday = model.spec().workload.jobs_per_workday;
            let rate = jobs_per_printer as f64 / (per_workday * workdays_per_year);
            let serial = d.device.serial().to_owned();
            *d = SimDevice::with_rate(&serial, index, start, rate, until);
        }
    }
    let per_report = 20usize;
    let per_source = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Vec<Upload>>> {
        let mut all = Vec::with_capacity(sources.len());
        for s in &mut sources {
            let mut ups = Vec::new();
            while s.devices.iter().any(|d| d.device.now() < d.far) {
                ups.push(s.next_upload(per_report)?.0);
            }
            all.push(ups);
        }
        Ok(all)
    })
    .await??;
    let n_uploads: usize = per_source.iter().map(Vec::len).sum();
    let jobs_sent: u64 = per_source.iter().flatten().map(|u| u64::from(u.jobs)).sum();
    progress(format!(
        "{label}/billing: {n_uploads} uploads with {jobs_sent} jobs sealed after {:.1}s",
        populate_started.elapsed().as_secs_f64()
    ));
    // Sixteen tasks; each sends its collectors' uploads in order.
    let tasks_n = 16usize.min(per_source.len()).max(1);
    let mut tasks: Vec<Vec<Upload>> = (0..tasks_n).map(|_| Vec::new()).collect();
    for (i, ups) in per_source.into_iter().enumerate() {
        tasks[i % tasks_n].extend(ups);
    }
    let client = client_trusting(&hub.cert, 32)?;
    let r = run_uploads(rt, &client, hub.url("/api/v1/ingest"), tasks, None).await?;
    ensure!(r.errors == 0, "population uploads failed: {r:?}");
    progress(format!(
        "{label}/billing: {} uploads, {} jobs stored in {:.1}s (population total {:.1}s)",
        r.ok,
        r.jobs,
        r.elapsed.as_secs_f64(),
        populate_started.elapsed().as_secs_f64()
    ));
    let db = &hub.state.db;
    let reseller: i64 = ppu_entities::reseller::Entity::find()
        .select_only()
        .column(ppu_entities::reseller::Column::Id)
        .filter(ppu_entities::reseller::Column::Name.eq("Bench bl"))
        .into_tuple()
        .one(&db.read)
        .await?
        .context("the billing reseller")?;
    let job_rows = count_rows(&db.read, &format!("jobs WHERE reseller_id = {reseller}")).await?;
    let rollup_rows = count_rows(&db.read, "billing_rollups").await?;
    progress(format!(
        "{label}/billing: {job_rows} job rows, {rollup_rows} rollup rows (ink per color in each)"
    ));

    // Limit: the same client's round trip to /healthz, sequential, same run.
    let n = requests.max(20);
    let _ = timed_gets(rt, &hub.admin, hub.url("/healthz"), 20).await?;
    let (hz, _) = timed_gets(rt, &hub.admin, hub.url("/healthz"), n).await?;
    let hz50 = percentile(&hz, 0.5);
    let hz99 = percentile(&hz, 0.99);
    emit(json!({
        "scenario": "billing", "backend": label, "figure": "http_limit_healthz_round_trip_ms",
        "value": {"p50": round(hz50, 2), "p99": round(hz99, 2)}, "unit": "ms", "requests": n,
    }));
    // The scan the rollups avoid: the same year's totals summed over job rows.
    let scan_sql = {
        let (a, b) = (
            start.format("%Y-%m-%d %H:%M:%S"),
            next_month.format("%Y-%m-%d"),
        );
        match backend {
            Backend::Sqlite => format!(
                "SELECT COUNT(*) AS n, SUM(pages) AS p, SUM(media_area_mm2) AS a, SUM(ink_total_ul) AS i \
                 FROM jobs WHERE reseller_id = {reseller} AND occurred_at >= '{a}' AND occurred_at < '{b}'"
            ),
            Backend::Postgres { .. } => format!(
                "SELECT COUNT(*) AS n, SUM(pages) AS p, SUM(media_area_mm2) AS a, SUM(ink_total_ul) AS i \
                 FROM jobs WHERE reseller_id = {reseller} AND occurred_at >= '{a}+00' AND occurred_at < '{b} 00:00:00+00'"
            ),
        }
    };
    let mut scan = Vec::new();
    let mut scanned = 0i64;
    for _ in 0..7 {
        let t0 = Instant::now();
        let row = db
            .read
            .query_one_raw(Statement::from_string(
                db.read.get_database_backend(),
                scan_sql.clone(),
            ))
            .await?
            .context("scan row")?;
        scan.push(t0.elapsed().as_secs_f64() * 1e3);
        scanned = row.try_get::<i64>("", "n")?;
    }
    scan.sort_by(f64::total_cmp);
    let scan50 = percentile(&scan, 0.5);
    emit(json!({
        "scenario": "billing", "backend": label, "figure": "job_row_scan_same_year_ms",
        "value": round(scan50, 1), "unit": "ms", "rows_scanned": scanned, "runs": scan.len(),
        "note": "SUM over the reseller's job rows for the year, in the database, no HTTP: what the rollups avoid",
    }));

    let base =
        format!("/api/v1/billing/totals?scope=reseller&id={reseller}&from={from}&to={next_month}");
    for group_by in ["", "month", "site", "printer"] {
        let url = if group_by.is_empty() {
            hub.url(&base)
        } else {
            hub.url(&format!("{base}&group_by={group_by}"))
        };
        let _ = timed_gets(rt, &hub.admin, url.clone(), 5).await?;
        let (lat, body) = timed_gets(rt, &hub.admin, url, n).await?;
        let total_jobs = body["total"]["usage"]["jobs"].as_u64();
        ensure!(
            total_jobs == Some(r.jobs),
            "billing totals report {total_jobs:?} jobs, {} were stored",
            r.jobs
        );
        let p50 = percentile(&lat, 0.5);
        let p99 = percentile(&lat, 0.99);
        let shape = if group_by.is_empty() {
            "ungrouped"
        } else {
            group_by
        };
        progress(format!(
            "{label}/billing: totals {shape}: p50 {p50:.1} ms, p99 {p99:.1} ms ({} groups)",
            body["groups"].as_array().map_or(0, Vec::len)
        ));
        emit(json!({
            "scenario": "billing", "backend": label, "figure": format!("billing_totals_{shape}_p99_ms"),
            "value": round(p99, 2), "unit": "ms", "p50_ms": round(p50, 2), "target": "< 50", "met": p99 < 50.0,
            "limit": {"name": "http_limit_healthz_round_trip_ms", "p50": round(hz50, 2), "p99": round(hz99, 2)},
            "ratio_to_limit_p99": round(p99 / hz99, 2),
            "requests": n, "groups": body["groups"].as_array().map_or(0, Vec::len),
            "printers": collectors * 10, "jobs": r.jobs, "job_rows_in_db": job_rows,
            "rollup_rows_in_db": rollup_rows, "from": from.to_string(), "to_exclusive": next_month.to_string(),
            "source": body["source"],
        }));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// 5. Collector poll cycle
// ---------------------------------------------------------------------------

async fn collector_scenario(printers: usize) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    init_logs(tmp.path());
    let hub_dir = tmp.path().join("hub");
    std::fs::create_dir_all(&hub_dir)?;
    let mut hub = Hub::start(&hub_dir, &Backend::Sqlite, |_| {}).await?;
    let result = collector_run(&hub, tmp.path(), printers).await;
    hub.stop().await;
    result
}

async fn collector_run(hub: &Hub, dir: &Path, printers: usize) -> anyhow::Result<()> {
    use ppu_collector::Collector;
    use ppu_collector::clock::SystemClock;
    use ppu_collector::enroll::{EnrollRequest, enroll};
    use ppu_collector::state::StateDir;
    use ppu_protocol::collector_config::{CollectorConfig, ProxyConfig, Scheme, Target};
    use ppu_sim::ledm::{LedmServer, LedmServerConfig, SharedPrinter, server::advance_all};

    const ACCOUNT: &str = "bench-collector";
    let (_, site) = hub.tenant("Bench collector", ACCOUNT).await?;
    let code = hub
        .admin_post(&format!("/api/v1/sites/{site}/enrollment-codes"), json!({}))
        .await?;
    let state_dir = dir.join("collector");
    std::fs::create_dir_all(&state_dir)?;
    let state = StateDir::open(&state_dir)?;
    enroll(
        &state,
        &EnrollRequest {
            hub_url: hub.base.clone(),
            account_name: ACCOUNT.to_owned(),
            code: code["code"].as_str().context("code")?.to_owned(),
            hub_ca_file: Some(hub.cert.display().to_string()),
            proxy: ProxyConfig::None,
        },
    )
    .await?;

    // The printers: HP LEDM over HTTPS, every model of the catalog, switched
    // on six hours ago; one port each on the loopback address.
    let now = Utc::now();
    let shared: Vec<SharedPrinter> = (0..printers)
        .map(|i| {
            let model = ModelId::ALL[i % ModelId::ALL.len()];
            let mut p = VirtualPrinter::new(model, format!("CNBNCH{i:05}"), 0xc011_0000 + i as u64);
            p.boot(now - TimeDelta::hours(6));
            p.advance(now - TimeDelta::hours(3));
            Arc::new(std::sync::Mutex::new(p))
        })
        .collect();
    let server = LedmServer::start(
        shared.clone(),
        LedmServerConfig {
            workers: 2,
            ..LedmServerConfig::default()
        },
    )
    .await?;
    let ports: Vec<u16> = server.endpoints().iter().map(|e| e.addr.port()).collect();
    let mut config = CollectorConfig::new(ACCOUNT, &hub.base);
    config.hub_ca_file = Some(hub.cert.display().to_string());
    config.proxy = ProxyConfig::None;
    config.targets = vec![Target {
        address: "127.0.0.1".into(),
        ports,
        scheme: Scheme::LedmHttps,
        tls: None,
    }];
    let concurrency = config.network.concurrency;
    let collector = Collector::new(state, config, Arc::new(SystemClock))?;

    // First contact: discovery, certificate pinning, the three hours of job history before it.
    let t0 = Instant::now();
    let first = collector.poll_cycle().await?;
    let first_s = t0.elapsed().as_secs_f64();
    progress(format!(
        "collector: first cycle {first_s:.1}s: {} collected, {} jobs, {} envelopes, {} bytes",
        first.collected, first.jobs, first.envelopes, first.bytes_sent
    ));
    ensure!(
        first.collected as usize == printers,
        "first cycle collected {} of {printers} printers: {:?}",
        first.collected,
        first.skipped.iter().take(3).collect::<Vec<_>>()
    );
    // Three hours later: the steady-state cycle.
    advance_all(&shared, Utc::now());
    let t1 = Instant::now();
    let steady = collector.poll_cycle().await?;
    let steady_s = t1.elapsed().as_secs_f64();
    progress(format!(
        "collector: 3-hour cycle {steady_s:.1}s: {} collected, {} jobs, {} envelopes, {} bytes",
        steady.collected, steady.jobs, steady.envelopes, steady.bytes_sent
    ));
    ensure!(
        steady.collected as usize == printers && steady.delivered >= steady.envelopes,
        "3-hour cycle incomplete: {steady:?}"
    );
    let stored = count_rows(&hub.state.db.read, "uploads").await?;
    emit(json!({
        "scenario": "collector", "figure": "poll_cycle_s", "value": round(steady_s, 2), "unit": "s",
        "target": "< 60", "met": steady_s < 60.0, "printers": printers, "concurrency": concurrency,
        "jobs": steady.jobs, "envelopes": steady.envelopes,
        "note": "steady state: three hours of printing since the previous cycle; includes upload to the hub and its acknowledgement",
    }));
    emit(json!({
        "scenario": "collector", "figure": "poll_cycle_s_first_contact", "value": round(first_s, 2), "unit": "s",
        "target": "< 60", "met": first_s < 60.0, "printers": printers, "concurrency": concurrency,
        "jobs": first.jobs, "envelopes": first.envelopes,
        "note": "discovery, certificate pinning and three hours of job history",
    }));
    emit(json!({
        "scenario": "collector", "figure": "bytes_uploaded_per_printer_per_3h",
        "value": steady.bytes_sent / printers.max(1) as u64, "unit": "bytes",
        "jobs_per_printer": round(f64::from(steady.jobs) / printers.max(1) as f64, 1),
        "envelopes": steady.envelopes, "uploads_stored_by_hub": stored,
    }));
    server.stop().await;
    Ok(())
}
