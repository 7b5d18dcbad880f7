//! Shared pieces of the reliability suite (`hub/tests/reliability_suite.rs`, see
//! RELIABILITY.md): the real `ppu-hub` binary as a child process that can be
//! `kill -9`ed and restarted, a seeded PRNG, a load generator that keeps its
//! own ledger of acknowledged uploads and jobs, and the checks that compare
//! the hub (API and database) with that ledger.
//!
//! Mode: `PPU_RELIABILITY_MODE=long` runs the long variants (more crashes,
//! longer outages); anything else is the short CI mode.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use ppu_protocol::api::IngestResponse;
use ppu_protocol::envelope::{self, Header, SenderKeys, SenderKind};
use ppu_protocol::model::*;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{ADMIN_TOKEN, Backend};

// ---------------------------------------------------------------------------
// Mode, randomness, small helpers
// ---------------------------------------------------------------------------

/// Run each named `async fn(Backend)` on SQLite and on PostgreSQL, like
/// `on_both_backends!`. The whole test target is `test = false` in
/// hub/Cargo.toml, so the parallel `cargo test --workspace` never builds
/// it; `scripts/reliability.sh` runs it one test at a time.
#[macro_export]
macro_rules! reliability_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    if let Some(b) = $crate::support::Backend::postgres().await {
                        let url = match &b {
                            $crate::support::Backend::Postgres(u) => u.clone(),
                            $crate::support::Backend::Sqlite => unreachable!(),
                        };
                        super::$name(b).await;
                        // Passed: the database is not needed for a post-mortem.
                        $crate::common::drop_postgres_database(&url).await;
                    }
                }
            )*
        }
    };
}

/// Drop the test database at `url` (created by `Backend::postgres`) from the
/// shared server, cutting any connection left.
pub async fn drop_postgres_database(url: &str) {
    let base = std::env::var("PPU_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = url.rsplit('/').next().unwrap_or_default();
    assert!(
        name.starts_with("ppu_test_")
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "not a test database: {url}"
    );
    let admin = Database::connect(&base).await.unwrap();
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap_or_else(|e| panic!("drop {name}: {e}"));
}

/// Short (CI) or long mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Short,
    Long,
}

pub fn mode() -> Mode {
    match std::env::var("PPU_RELIABILITY_MODE").as_deref() {
        Ok("long") => Mode::Long,
        _ => Mode::Short,
    }
}

/// A small seeded PRNG (xorshift64*), so that a failing run can be repeated
/// with `PPU_RELIABILITY_SEED`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The run's seed: `PPU_RELIABILITY_SEED`, or the clock (printed).
    pub fn from_env(what: &str) -> Self {
        let seed = std::env::var("PPU_RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64);
        eprintln!("[{what}] PPU_RELIABILITY_SEED={seed}");
        Self::new(seed)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..hi` (`hi` exclusive, `hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next())
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client that trusts `cert`, with timeouts (a killed hub must never hang a sender).
pub fn client(cert: &Path, timeout: Duration) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(4)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------
// The real binary
// ---------------------------------------------------------------------------

/// How to run a `ppu-hub` child.
#[derive(Debug, Clone)]
pub struct HubOptions {
    pub data_dir: PathBuf,
    /// `None`: SQLite in the data directory.
    pub database_url: Option<String>,
    pub port: u16,
    /// Contents of the `--config` file.
    pub config_toml: String,
    pub rust_log: String,
    pub extra_args: Vec<String>,
}

impl HubOptions {
    pub fn new(data_dir: &Path, backend: &Backend) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            database_url: match backend {
                Backend::Sqlite => None,
                Backend::Postgres(url) => Some(url.clone()),
            },
            port: free_port(),
            config_toml: "[actors]\nsnapshot_interval_secs = 1\n".into(),
            rust_log: "info".into(),
            extra_args: Vec::new(),
        }
    }
}

/// A `ppu-hub serve` child process. Killed (SIGKILL) when dropped.
pub struct HubProcess {
    pub opts: HubOptions,
    child: Option<Child>,
    /// stdout and stderr of every run, appended.
    pub log: PathBuf,
    pub cert: PathBuf,
    pub base: String,
    pub starts: u32,
}

impl HubProcess {
    /// Spawn and wait until `/readyz` answers 200.
    pub async fn start(opts: HubOptions) -> HubProcess {
        let mut hub = Self::spawn(opts);
        hub.wait_ready(Duration::from_secs(60)).await;
        hub
    }

    /// Spawn without waiting.
    pub fn spawn(opts: HubOptions) -> HubProcess {
        std::fs::create_dir_all(&opts.data_dir).unwrap();
        let log = opts.data_dir.join("hub.log");
        let mut hub = HubProcess {
            cert: opts.data_dir.join("tls-cert.pem"),
            base: format!("https://localhost:{}", opts.port),
            opts,
            child: None,
            log,
            starts: 0,
        };
        hub.spawn_child();
        hub
    }

    fn spawn_child(&mut self) {
        let o = &self.opts;
        let config = o.data_dir.join("hub.toml");
        std::fs::write(&config, &o.config_toml).unwrap();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ppu-hub"));
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", o.port))
            .arg("--data-dir")
            .arg(&o.data_dir)
            .arg("--metrics-listen")
            .arg("127.0.0.1:0")
            .arg("--workers")
            .arg("2")
            .args(&o.extra_args)
            .env("PPU_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", &o.rust_log)
            .env_remove("DATABASE_URL")
            .env_remove("PPU_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        if let Some(url) = &o.database_url {
            cmd.arg("--database-url").arg(url);
        }
        self.child = Some(cmd.spawn().expect("start ppu-hub"));
        self.starts += 1;
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Wait until `/readyz` is 200. Panics (with the log's tail) on timeout
    /// or when the process exits.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        self.wait_for("/readyz", timeout).await;
    }

    /// Wait until `path` answers 200 (e.g. `/healthz` while the database is down).
    pub async fn wait_for(&mut self, path: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "ppu-hub exited with {status} while starting\n{}",
                    self.log_tail(60)
                );
            }
            if self.cert.exists() {
                let c = client(&self.cert, Duration::from_secs(2));
                if let Ok(r) = c.get(format!("{}{path}", self.base)).send().await
                    && r.status().is_success()
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "ppu-hub not ready ({path}) after {timeout:?}\n{}",
            self.log_tail(60)
        );
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM (graceful stop) and wait up to `timeout`; returns the exit code.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(s) = c.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Start again on the same data directory and port, and wait until ready.
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn_child();
        self.wait_ready(Duration::from_secs(60)).await;
    }

    /// Start again without waiting.
    pub fn respawn(&mut self) {
        self.kill9();
        self.spawn_child();
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Resident memory of the process, KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The log, without ANSI color codes.
    pub fn log_text(&self) -> String {
        strip_ansi(&String::from_utf8_lossy(
            &std::fs::read(&self.log).unwrap_or_default(),
        ))
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        let from = all.len().saturating_sub(lines);
        format!(
            "--- last {} lines of {} ---\n{}",
            all.len() - from,
            self.log.display(),
            all[from..].join("\n")
        )
    }

    /// Lines of the log that report a panic.
    pub fn panics(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.contains("panicked"))
            .map(str::to_owned)
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn client(&self) -> reqwest::Client {
        client(&self.cert, Duration::from_secs(30))
    }

    /// A direct connection to the hub's database.
    pub async fn db(&self) -> DatabaseConnection {
        let url = match &self.opts.database_url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}?mode=rw",
                self.opts.data_dir.join("ppu-hub.db").display()
            ),
        };
        Database::connect(&url).await.unwrap()
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill9();
        // PPU_RELIABILITY_KEEP_LOGS=DIR keeps every hub's log for a post-mortem.
        if let Ok(dir) = std::env::var("PPU_RELIABILITY_KEEP_LOGS") {
            let _ = std::fs::create_dir_all(&dir);
            let name = format!(
                "hub-{}-{}.log",
                self.opts.port,
                std::thread::current()
                    .name()
                    .unwrap_or("test")
                    .replace("::", "-")
            );
            let _ = std::fs::copy(&self.log, Path::new(&dir).join(name));
        }
    }
}

/// `text` without ANSI escape sequences (`ESC [ ... final`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for f in chars.by_ref() {
                if ('@'..='~').contains(&f) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Admin GET; panics unless 200.
pub async fn admin_get(c: &reqwest::Client, base: &str, path: &str) -> Value {
    let r = c
        .get(format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let s = r.status();
    let v = r.json().await.unwrap_or(Value::Null);
    assert!(s.is_success(), "GET {path}: {s} {v}");
    v
}

/// Admin POST; panics unless 2xx.
pub async fn admin_post(c: &reqwest::Client, base: &str, path: &str, body: Value) -> Value {
    let r = c
        .post(format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let s = r.status();
    let v = r.json().await.unwrap_or(Value::Null);
    assert!(s.is_success(), "POST {path}: {s} {v}");
    v
}

/// `SELECT COUNT(*)` of any query returning one row with column `n`.
pub async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

// ---------------------------------------------------------------------------
// Senders and the ledger
// ---------------------------------------------------------------------------

/// A registered collector or direct printer and the printers it reports.
#[derive(Clone)]
pub struct LoadSender {
    pub kind: SenderKind,
    pub id: String,
    pub keys: SenderKeys,
    pub secret: String,
    pub site: i64,
    pub printers: Vec<String>,
}

impl LoadSender {
    pub fn seal(&self, payload: &Payload) -> Vec<u8> {
        let header = Header::new(self.kind, self.id.clone(), Utc::now());
        envelope::seal(&header, payload, &self.keys).unwrap()
    }
}

/// One tenant for a load run: a reseller, `sites` sites, and per site one
/// collector reporting `printers_per_collector` printers plus `direct`
/// direct-connected printers.
pub async fn provision(
    c: &reqwest::Client,
    base: &str,
    tag: &str,
    sites: usize,
    printers_per_collector: usize,
    direct: usize,
) -> (i64, Vec<i64>, Vec<LoadSender>) {
    let r = admin_post(
        c,
        base,
        "/api/v1/resellers",
        json!({"name": format!("R-{tag}")}),
    )
    .await;
    let rid = r["id"].as_i64().unwrap();
    let mut site_ids = Vec::new();
    let mut senders = Vec::new();
    for s in 0..sites {
        let site = admin_post(
            c,
            base,
            "/api/v1/sites",
            json!({"reseller_id": rid, "account_name": format!("{tag}-site-{s}")}),
        )
        .await;
        let sid = site["id"].as_i64().unwrap();
        site_ids.push(sid);
        let col = admin_post(c, base, "/api/v1/collectors", json!({"site_id": sid})).await;
        let id = col["sender_id"].as_str().unwrap().to_owned();
        let secret = col["secret"].as_str().unwrap().to_owned();
        senders.push(LoadSender {
            kind: SenderKind::Collector,
            keys: SenderKeys::derive(secret.as_bytes(), SenderKind::Collector, &id),
            id,
            secret,
            site: sid,
            printers: (0..printers_per_collector)
                .map(|p| format!("{tag}-S{s}-C{p}"))
                .collect(),
        });
        for d in 0..direct {
            let serial = format!("{tag}-S{s}-D{d}");
            let p = admin_post(
                c,
                base,
                "/api/v1/printers",
                json!({"site_id": sid, "serial_number": serial, "direct": true}),
            )
            .await;
            let secret = p["secret"].as_str().unwrap().to_owned();
            senders.push(LoadSender {
                kind: SenderKind::Printer,
                keys: SenderKeys::derive(secret.as_bytes(), SenderKind::Printer, &serial),
                id: serial.clone(),
                secret,
                site: sid,
                printers: vec![serial],
            });
        }
    }
    (rid, site_ids, senders)
}

/// One acknowledged job.
#[derive(Debug, Clone)]
pub struct JobEntry {
    pub uuid: Uuid,
    pub pages: u64,
    pub ink_ul: u64,
    pub media_mm2: u64,
}

/// What the ledger knows about one printer.
#[derive(Debug, Clone, Default)]
pub struct PrinterLedger {
    pub site: i64,
    pub jobs: Vec<JobEntry>,
    /// First and last acknowledged lifetime page counter.
    pub first_pages: Option<u64>,
    pub last_pages: u64,
    pub reports: u64,
}

impl PrinterLedger {
    pub fn pages(&self) -> u64 {
        self.jobs.iter().map(|j| j.pages).sum()
    }
    pub fn ink(&self) -> u64 {
        self.jobs.iter().map(|j| j.ink_ul).sum()
    }
    pub fn media(&self) -> u64 {
        self.jobs.iter().map(|j| j.media_mm2).sum()
    }
    pub fn meter_pages(&self) -> u64 {
        self.last_pages - self.first_pages.unwrap_or(self.last_pages)
    }
}

/// The load generator's own record, independent of the hub.
#[derive(Debug, Default)]
pub struct Ledger {
    pub printers: BTreeMap<String, PrinterLedger>,
    /// Batches acknowledged (200), each counted once.
    pub batches: BTreeSet<Uuid>,
    pub attempts: u64,
    pub resent_same_bytes: u64,
    pub resealed: u64,
    pub network_errors: u64,
    pub answered_503: u64,
    pub answered_duplicate: u64,
    /// 5xx other than 503: PROTOCOL.md says retry, but the hub should never answer one.
    pub other_5xx: Vec<String>,
    /// A 200 whose counts do not match the upload (a partial store).
    pub inconsistent: Vec<String>,
    /// 2xx answers received while the test knew the database was down.
    pub acked_during_outage: u64,
}

impl Ledger {
    pub fn jobs(&self) -> u64 {
        self.printers.values().map(|p| p.jobs.len() as u64).sum()
    }

    pub fn summary(&self) -> String {
        format!(
            "batches acked={} jobs acked={} attempts={} resent-same-bytes={} resealed={} network-errors={} 503={} duplicate-answers={} other-5xx={} inconsistent={}",
            self.batches.len(),
            self.jobs(),
            self.attempts,
            self.resent_same_bytes,
            self.resealed,
            self.network_errors,
            self.answered_503,
            self.answered_duplicate,
            self.other_5xx.len(),
            self.inconsistent.len()
        )
    }
}

/// Shared switches between the test and its senders.
#[derive(Debug, Default)]
pub struct Switches {
    /// Senders finish their upload in flight and stop.
    pub stop: AtomicBool,
    /// The test has stopped the database: a 2xx now would be acknowledged without storing.
    pub db_down: AtomicBool,
}

fn job(uuid: Uuid, pages: u32, ink_ul: u64, media_mm2: u64) -> PrintJob {
    PrintJob {
        job: JobIdentity {
            uuid,
            name: format!("reliability-{uuid}.pdf"),
            sequence_number: 1,
            project_id: Some("rel".into()),
            application_id: None,
            custom_field: None,
            account_id: Some("cc-1".into()),
            user_name: Some("tester".into()),
            submitted_at: None,
        },
        print: PrintDetails {
            printed_at: Utc::now(),
            status: PrintStatus::Printed,
            source: JobSource::Driver,
            category: PrintCategory::LineDrawing,
            quality: PrintQuality::Normal,
            media_type: Some("bond".into()),
            pages,
            copies: 1,
            print_time_s: 30,
            ink: vec![InkUsage {
                color: InkColor::new("cyan"),
                used_ul: ink_ul,
            }],
            media_area_mm2: media_mm2,
            media_length_mm: 1000,
            printed_area_mm2: media_mm2 / 10,
            categories: vec![],
            non_white_coverage_bp: 500,
            color_coverage_bp: 100,
        },
    }
}

/// Build one upload of `sender`: for each of its printers 0..=`max_jobs` new
/// jobs and lifetime counters advanced by their pages. Returns the payload
/// and, per printer, (jobs, counter pages after the upload).
fn build_upload(
    sender: &LoadSender,
    counters: &mut BTreeMap<String, u64>,
    rng: &mut Rng,
    max_jobs: u64,
) -> (Payload, Vec<(String, Vec<JobEntry>, u64)>) {
    let mut payload = Payload::new(
        Uuid::new_v4(),
        "ppu-reliability/1",
        Utc::now(),
        UploadTrigger::Jobs,
    );
    let mut meta = Vec::new();
    for serial in &sender.printers {
        let n = rng.range(0, max_jobs + 1);
        let jobs: Vec<JobEntry> = (0..n)
            .map(|_| JobEntry {
                uuid: Uuid::new_v4(),
                pages: rng.range(1, 5),
                ink_ul: rng.range(1, 500),
                media_mm2: rng.range(1_000, 2_000_000),
            })
            .collect();
        let pages = counters.entry(serial.clone()).or_insert(1_000);
        *pages += jobs.iter().map(|j| j.pages).sum::<u64>();
        let mut report = PrinterReport::new(serial.clone(), Utc::now());
        report.config = Some(PrinterConfig {
            product_number: "2RQ10A".into(),
            product_name: "HP DesignJet T1700".into(),
            serial_number: serial.clone(),
            firmware_version: "1.0".into(),
        });
        report.counters = Some(LifetimeCounters {
            pages: *pages,
            jobs: *pages / 2,
            total_ink_used_ul: *pages * 10,
            total_media_area_mm2: *pages * 1_000_000,
            ..LifetimeCounters::default()
        });
        report.print_jobs = jobs
            .iter()
            .map(|j| job(j.uuid, j.pages as u32, j.ink_ul, j.media_mm2))
            .collect();
        payload.printers.push(report);
        meta.push((serial.clone(), jobs, *pages));
    }
    (payload, meta)
}

/// How a sender retries.
#[derive(Debug, Clone, Copy)]
pub struct SenderPolicy {
    pub max_jobs_per_printer: u64,
    /// Upper bound of the wait after a 503 (Retry-After is honoured up to this).
    pub max_retry_after: Duration,
    /// Wait after a network error.
    pub network_backoff: Duration,
    /// Pause between uploads.
    pub think: Duration,
    /// After a lost answer, wait this long (past the hub's timestamp window)
    /// before one in three retries, so the retry is refused as stale and the
    /// payload is sealed again with the same batch id.
    pub stale_after_loss: Option<Duration>,
}

impl Default for SenderPolicy {
    fn default() -> Self {
        Self {
            max_jobs_per_printer: 6,
            max_retry_after: Duration::from_millis(1500),
            network_backoff: Duration::from_millis(150),
            think: Duration::from_millis(0),
            stale_after_loss: None,
        }
    }
}

/// A sender's loop, as PROTOCOL.md section 8 asks: one upload in flight;
/// resend the same bytes after a network error, a 5xx or a 503; seal the
/// same payload again (same batch id) after 422 `stale_timestamp` or 409.
/// Every upload it starts is finished (acknowledged) before it stops.
pub async fn run_sender(
    sender: LoadSender,
    client: reqwest::Client,
    url: String,
    ledger: Arc<Mutex<Ledger>>,
    switches: Arc<Switches>,
    mut rng: Rng,
    policy: SenderPolicy,
) {
    let mut counters = BTreeMap::new();
    while !switches.stop.load(Ordering::SeqCst) {
        let (payload, meta) = build_upload(
            &sender,
            &mut counters,
            &mut rng,
            policy.max_jobs_per_printer,
        );
        let n_jobs: u64 = meta.iter().map(|m| m.1.len() as u64).sum();
        let mut bytes = sender.seal(&payload);
        let mut first = true;
        let started = Instant::now();
        loop {
            if !first {
                ledger.lock().unwrap().resent_same_bytes += 1;
            }
            first = false;
            ledger.lock().unwrap().attempts += 1;
            let down_before = switches.db_down.load(Ordering::SeqCst);
            let r = client
                .post(&url)
                .header("content-type", "application/octet-stream")
                .body(bytes.clone())
                .send()
                .await;
            let r = match r {
                Ok(r) => r,
                Err(_) => {
                    ledger.lock().unwrap().network_errors += 1;
                    match policy.stale_after_loss {
                        Some(wait) if rng.range(0, 3) == 0 => tokio::time::sleep(wait).await,
                        _ => tokio::time::sleep(policy.network_backoff).await,
                    }
                    continue;
                }
            };
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body: Value = match r.bytes().await {
                Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
                Err(_) => {
                    // The answer was lost: we do not know whether it was stored.
                    ledger.lock().unwrap().network_errors += 1;
                    tokio::time::sleep(policy.network_backoff).await;
                    continue;
                }
            };
            let down_after = switches.db_down.load(Ordering::SeqCst);
            match status {
                200 => {
                    let resp: IngestResponse = serde_json::from_value(body.clone())
                        .unwrap_or_else(|e| panic!("bad 200 body {body}: {e}"));
                    let mut l = ledger.lock().unwrap();
                    if down_before && down_after {
                        l.acked_during_outage += 1;
                    }
                    if resp.duplicate {
                        l.answered_duplicate += 1;
                    } else if u64::from(resp.accepted.print_jobs) != n_jobs
                        || resp.duplicates.print_jobs != 0
                        || !resp.rejected_printers.is_empty()
                        || resp.accepted.printers as usize != meta.len()
                    {
                        l.inconsistent.push(format!(
                            "batch {} of {}: {n_jobs} jobs sent, answer {body}",
                            payload.batch_id, sender.id
                        ));
                    }
                    assert!(
                        l.batches.insert(payload.batch_id),
                        "batch acknowledged twice by the ledger"
                    );
                    for (serial, jobs, pages) in &meta {
                        let p = l.printers.entry(serial.clone()).or_default();
                        p.site = sender.site;
                        p.jobs.extend(jobs.iter().cloned());
                        p.first_pages.get_or_insert(*pages);
                        p.last_pages = *pages;
                        p.reports += 1;
                    }
                    break;
                }
                503 => {
                    ledger.lock().unwrap().answered_503 += 1;
                    let wait =
                        Duration::from_secs(retry_after.unwrap_or(1)).min(policy.max_retry_after);
                    tokio::time::sleep(wait).await;
                }
                422 | 409 => {
                    let code = body["error"]["code"].as_str().unwrap_or("");
                    assert!(
                        code == "stale_timestamp" || code == "replayed_nonce",
                        "{status} {body}"
                    );
                    ledger.lock().unwrap().resealed += 1;
                    bytes = sender.seal(&payload);
                    first = true;
                }
                s if s >= 500 => {
                    ledger.lock().unwrap().other_5xx.push(format!("{s} {body}"));
                    tokio::time::sleep(policy.network_backoff).await;
                }
                s => panic!(
                    "sender {}: unexpected answer {s} {body} after {:?}",
                    sender.id,
                    started.elapsed()
                ),
            }
        }
        if !policy.think.is_zero() {
            tokio::time::sleep(policy.think).await;
        }
    }
}

/// Start one task per sender.
pub fn start_load(
    senders: &[LoadSender],
    client: &reqwest::Client,
    url: &str,
    ledger: &Arc<Mutex<Ledger>>,
    switches: &Arc<Switches>,
    rng: &mut Rng,
    policy: SenderPolicy,
) -> Vec<tokio::task::JoinHandle<()>> {
    senders
        .iter()
        .map(|s| {
            tokio::spawn(run_sender(
                s.clone(),
                client.clone(),
                url.to_owned(),
                ledger.clone(),
                switches.clone(),
                rng.fork(),
                policy,
            ))
        })
        .collect()
}

/// Stop the senders and wait for their uploads in flight to be acknowledged.
pub async fn stop_load(switches: &Switches, tasks: Vec<tokio::task::JoinHandle<()>>) {
    switches.stop.store(true, Ordering::SeqCst);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .expect("a sender did not finish its upload in flight within 120 s")
            .expect("sender task");
    }
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// Compare the database with the ledger: every acknowledged job stored once,
/// nothing else stored, one upload row per acknowledged batch. Returns the
/// differences (empty: all good) and a one-line summary.
pub async fn check_database(db: &DatabaseConnection, ledger: &Ledger) -> (Vec<String>, String) {
    let mut errors = Vec::new();
    let jobs_rows = scalar(db, "SELECT COUNT(*) AS n FROM jobs").await;
    let distinct = scalar(db, "SELECT COUNT(DISTINCT uuid) AS n FROM jobs").await;
    let uploads = scalar(db, "SELECT COUNT(*) AS n FROM uploads").await;
    let distinct_batches = scalar(
        db,
        "SELECT COUNT(*) AS n FROM (SELECT DISTINCT sender_kind, sender_id, batch_id FROM uploads) b",
    )
    .await;
    let readings = scalar(db, "SELECT COUNT(*) AS n FROM counter_readings").await;
    let anomalies = scalar(db, "SELECT COUNT(*) AS n FROM anomalies").await;
    let expected_jobs = ledger.jobs() as i64;
    if jobs_rows != expected_jobs {
        errors.push(format!(
            "jobs table has {jobs_rows} rows, the ledger {expected_jobs} acknowledged jobs"
        ));
    }
    if distinct != jobs_rows {
        errors.push(format!(
            "{} job UUIDs stored more than once",
            jobs_rows - distinct
        ));
    }
    if uploads != ledger.batches.len() as i64 {
        errors.push(format!(
            "uploads table has {uploads} rows, the ledger {} acknowledged batches",
            ledger.batches.len()
        ));
    }
    if distinct_batches != uploads {
        errors.push(format!(
            "{} batches stored more than once",
            uploads - distinct_batches
        ));
    }
    let reports: u64 = ledger.printers.values().map(|p| p.reports).sum();
    if readings != reports as i64 {
        errors.push(format!(
            "counter_readings has {readings} rows, the ledger {reports} acknowledged reports"
        ));
    }
    if anomalies != 0 {
        errors.push(format!(
            "{anomalies} counter anomalies (counters never went backwards)"
        ));
    }
    // Every acknowledged UUID is there, and per printer the sums match.
    let stored: BTreeSet<Uuid> = {
        use sea_orm::{EntityTrait, QuerySelect};
        ppu_entities::job::Entity::find()
            .select_only()
            .column(ppu_entities::job::Column::Uuid)
            .into_tuple::<Uuid>()
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .collect()
    };
    let mut missing = 0;
    let mut acked = BTreeSet::new();
    for p in ledger.printers.values() {
        for j in &p.jobs {
            acked.insert(j.uuid);
            if !stored.contains(&j.uuid) {
                missing += 1;
            }
        }
    }
    let extra = stored.difference(&acked).count();
    if missing > 0 {
        errors.push(format!("{missing} acknowledged jobs are missing (LOST)"));
    }
    if extra > 0 {
        errors.push(format!(
            "{extra} stored jobs were never acknowledged to a sender"
        ));
    }
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT p.serial_number AS serial, COUNT(j.id) AS n, COALESCE(SUM(j.pages), 0) AS pages, \
             COALESCE(SUM(j.ink_total_ul), 0) AS ink, COALESCE(SUM(j.media_area_mm2), 0) AS media \
             FROM printers p LEFT JOIN jobs j ON j.printer_id = p.id GROUP BY p.serial_number"
                .to_owned(),
        ))
        .await
        .unwrap();
    for row in rows {
        let serial: String = row.try_get("", "serial").unwrap();
        let get = |c: &str| -> i64 {
            row.try_get::<i64>("", c)
                .or_else(|_| {
                    row.try_get::<sea_orm::prelude::Decimal>("", c)
                        .map(|d| d.to_string().parse().unwrap())
                })
                .unwrap()
        };
        let Some(p) = ledger.printers.get(&serial) else {
            continue;
        };
        let got = (get("n"), get("pages"), get("ink"), get("media"));
        let want = (
            p.jobs.len() as i64,
            p.pages() as i64,
            p.ink() as i64,
            p.media() as i64,
        );
        if got != want {
            errors.push(format!(
                "printer {serial}: database (jobs, pages, ink, media) {got:?}, ledger {want:?}"
            ));
        }
    }
    let summary = format!(
        "db: jobs={jobs_rows} distinct-uuids={distinct} uploads={uploads} counter-readings={readings} anomalies={anomalies} missing={missing} extra={extra}"
    );
    (errors, summary)
}

/// Compare the live actors (printer, site and reseller views) and the
/// billing totals with the ledger.
pub async fn check_api(
    c: &reqwest::Client,
    base: &str,
    reseller: i64,
    sites: &[i64],
    ledger: &Ledger,
) -> Vec<String> {
    let mut errors = Vec::new();
    let n = |v: &Value| v.as_u64().unwrap_or(u64::MAX);
    for (serial, p) in &ledger.printers {
        let v = admin_get(c, base, &format!("/api/v1/printers/{serial}")).await;
        let u = &v["usage"];
        let got = (
            n(&u["jobs"]["print_jobs"]),
            n(&u["jobs"]["pages"]),
            n(&u["jobs"]["ink_by_color_ul"]["cyan"]),
            n(&u["jobs"]["media_area_mm2"]),
            n(&u["meter"]["pages"]),
        );
        let want = (
            p.jobs.len() as u64,
            p.pages(),
            if p.jobs.is_empty() { u64::MAX } else { p.ink() },
            p.media(),
            p.meter_pages(),
        );
        if got != want {
            errors.push(format!(
                "GET printers/{serial}: (jobs, pages, cyan ink, media, meter pages) {got:?}, ledger {want:?}"
            ));
        }
    }
    let today = Utc::now().date_naive();
    let from = today - chrono::Days::new(2);
    let to = today + chrono::Days::new(2);
    let mut all = (0u64, 0u64);
    for site in sites {
        let printers: Vec<&PrinterLedger> = ledger
            .printers
            .values()
            .filter(|p| p.site == *site)
            .collect();
        let want = (
            printers.iter().map(|p| p.jobs.len() as u64).sum::<u64>(),
            printers.iter().map(|p| p.pages()).sum::<u64>(),
        );
        all.0 += want.0;
        all.1 += want.1;
        let v = admin_get(c, base, &format!("/api/v1/sites/{site}")).await;
        let u = &v["actor"]["usage"]["jobs"];
        let got = (n(&u["print_jobs"]), n(&u["pages"]));
        if got != want {
            errors.push(format!(
                "GET sites/{site} actor: (jobs, pages) {got:?}, ledger {want:?}"
            ));
        }
        let t = admin_get(
            c,
            base,
            &format!(
                "/api/v1/billing/totals?scope=site&id={site}&from={from}&to={to}&amounts=false"
            ),
        )
        .await;
        let u = &t["total"]["usage"];
        let got = (n(&u["print_jobs"]), n(&u["pages"]));
        if got != want {
            errors.push(format!(
                "GET billing/totals site {site}: (jobs, pages) {got:?}, ledger {want:?}"
            ));
        }
    }
    let v = admin_get(c, base, &format!("/api/v1/resellers/{reseller}")).await;
    let u = &v["actor"]["usage"]["jobs"];
    let got = (n(&u["print_jobs"]), n(&u["pages"]));
    if got != all {
        errors.push(format!(
            "GET resellers/{reseller} actor: (jobs, pages) {got:?}, ledger {all:?}"
        ));
    }
    errors
}

/// `check_api` until it passes or `timeout` (actors are updated right after
/// the commit that acknowledged an upload, so the last answers may be a few
/// milliseconds ahead of the views).
pub async fn check_api_eventually(
    c: &reqwest::Client,
    base: &str,
    reseller: i64,
    sites: &[i64],
    ledger: &Ledger,
    timeout: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let errors = check_api(c, base, reseller, sites, ledger).await;
        if errors.is_empty() || Instant::now() > deadline {
            return errors;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------
// Plausible values, so that one bad value at a time gets past the others
// ---------------------------------------------------------------------------

/// Objects that exist, so that one bad field at a time gets past the others.
#[derive(Debug, Clone)]
pub struct Known {
    pub reseller: i64,
    pub site: i64,
    pub printer: i64,
    pub serial: String,
    pub alert: i64,
}

pub fn int_like(ty: &str) -> bool {
    ["i64", "u64", "i32", "u32", "u16", "u8", "usize", "i16"]
        .iter()
        .any(|t| ty.contains(t))
}

/// A plausible value for a field, from its name and type.
pub fn plausible(name: &str, ty: &str, k: &Known) -> Value {
    let ty = ty.trim();
    if ty.starts_with("Vec<") || ty.starts_with("Option<Vec<") {
        return json!([]);
    }
    if ty.contains("bool") {
        return json!(true);
    }
    if ty.contains("DateTime") {
        return json!("2026-01-01T00:00:00Z");
    }
    if ty.contains("NaiveDate") {
        return json!("2026-01-01");
    }
    if int_like(ty) {
        return match name {
            n if n.contains("reseller") => json!(k.reseller),
            n if n.contains("site") => json!(k.site),
            n if n.contains("printer") => json!(k.printer),
            n if n.contains("limit") => json!(10),
            _ => json!(1),
        };
    }
    if ty.contains("String") || ty.contains("str") {
        return match name {
            "serial_number" | "printer" | "serial" => json!(k.serial),
            "from" => json!("2026-01-01"),
            "to" => json!("2026-02-01"),
            "period" => json!("2026-01"),
            "scope" => json!("site"),
            "basis" => json!("jobs"),
            "format" => json!("json"),
            "role" => json!("reseller_user"),
            "url" => json!("https://example.invalid/hook"),
            "min_severity" | "severity" => json!("major"),
            "state" => json!("open"),
            "password" => json!("a long enough password 123"),
            "email" | "username" | "login" => json!("someone@example.invalid"),
            _ => json!(format!("plausible-{name}")),
        };
    }
    if ty.contains("Value") {
        return json!({});
    }
    // A struct of ours: an empty object (its own fields are not known here).
    json!({})
}

pub fn plausible_query(fields: &[Field], k: &Known) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|f| {
            let v = plausible(&f.name, &f.ty, k);
            let s = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (f.name.clone(), s)
        })
        .collect()
}

pub fn plausible_body(fields: &[Field], k: &Known) -> serde_json::Map<String, Value> {
    fields
        .iter()
        .map(|f| (f.name.clone(), plausible(&f.name, &f.ty, k)))
        .collect()
}

// ---------------------------------------------------------------------------
// The hub's routes, read from its source
// ---------------------------------------------------------------------------

/// A field of a request's query or JSON body struct.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: String,
}

/// One route of the hub, as registered in a `configure` function.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub handler: String,
    pub file: String,
    /// `web::Query<T>` fields, when `T` was found.
    pub query: Option<Vec<Field>>,
    /// `web::Json<T>` fields; `Some(vec![])` for an untyped JSON body.
    pub json: Option<Vec<Field>>,
    /// `web::Form<T>` fields (portal forms).
    pub form: Option<Vec<Field>>,
    /// The handler reads the raw body (`web::Payload` / `web::Bytes`): an envelope.
    pub raw_body: bool,
    /// Whether the handler takes an authenticated principal.
    pub authenticated: bool,
}

impl Route {
    pub fn params(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect()
    }

    /// The path with each `{param}` replaced by `f(param)`.
    pub fn fill(&self, mut f: impl FnMut(&str) -> String) -> String {
        self.path
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(p) => f(p),
                    None => s.to_owned(),
                },
            )
            .collect::<Vec<_>>()
            .join("/")
    }
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text between the `{` at or after `from` and its matching `}`.
fn braced(text: &str, from: usize) -> Option<(usize, usize)> {
    let open = from + text[from..].find('{')?;
    let mut depth = 0;
    for (i, ch) in text[open..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((open + 1, open + i));
                }
            }
            _ => {}
        }
    }
    None
}

/// Fields of `struct name { .. }` in any of `sources`.
fn struct_fields(sources: &[(String, String)], name: &str) -> Option<Vec<Field>> {
    for (_, text) in sources {
        let needle = format!("struct {name} {{");
        let Some(at) = text.find(&needle) else {
            continue;
        };
        let (a, b) = braced(text, at)?;
        let mut fields = Vec::new();
        let mut depth = 0i32;
        for line in text[a..b].lines() {
            let l = line.trim();
            let starts_at_top = depth == 0;
            depth += l.matches(['<', '(', '[', '{']).count() as i32;
            depth -= l.matches(['>', ')', ']', '}']).count() as i32;
            if !starts_at_top || l.starts_with("//") || l.starts_with('#') {
                continue;
            }
            let l = l.strip_prefix("pub ").unwrap_or(l);
            if let Some((n, ty)) = l.split_once(':') {
                let n = n.trim().trim_start_matches("r#");
                if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    fields.push(Field {
                        name: n.to_owned(),
                        ty: ty.trim().trim_end_matches(',').to_owned(),
                    });
                }
            }
        }
        return Some(fields);
    }
    None
}

/// Every route registered by a `configure` function in hub/src (read at
/// test time, so routes added later are covered without editing the tests).
/// Panics on registrations it cannot read (`web::resource`, `web::scope`,
/// `.service(`), so that the suite is updated rather than silently skipping.
pub fn hub_routes() -> Vec<Route> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rs_files(&root.join("src"), &mut files);
    for other in ["../actors/src", "../protocol/src"] {
        rs_files(&root.join(other), &mut files);
    }
    files.sort();
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect();
    let mut routes = Vec::new();
    for (file, text) in sources.iter().filter(|(f, _)| f.contains("/hub/src/")) {
        let mut search = 0;
        while let Some(rel) = text[search..].find("fn configure(") {
            let at = search + rel;
            let (a, b) = braced(text, at).expect("configure body");
            search = b;
            let body = &text[a..b];
            // Scopes: `.service(web::scope("/prefix") ... .route(..) ...)`.
            let mut scopes: Vec<(usize, usize, String)> = Vec::new();
            let mut from = 0;
            while let Some(rel) = body[from..].find("web::scope(\"") {
                let at = from + rel;
                from = at + 1;
                let prefix_start = at + "web::scope(\"".len();
                let prefix =
                    &body[prefix_start..prefix_start + body[prefix_start..].find('"').unwrap()];
                let open = body[..at]
                    .rfind(".service(")
                    .expect("a scope inside .service(")
                    + ".service".len();
                let mut depth = 0;
                let mut end = body.len();
                for (i, ch) in body[open..].char_indices() {
                    match ch {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + i;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                scopes.push((open, end, prefix.to_owned()));
            }
            let services = body.matches(".service(").count();
            assert!(
                !body.contains("web::resource(") && services == scopes.len(),
                "{file}: configure registers services this parser does not read; teach hub_routes() in hub/tests/reliability/common.rs"
            );
            let mut offset = 0;
            for chunk in body.split(".route(") {
                let chunk_at = offset;
                offset += chunk.len() + ".route(".len();
                if chunk_at == 0 {
                    continue;
                }
                let Some(p0) = chunk.find('"') else { continue };
                let rest = &chunk[p0 + 1..];
                let local = &rest[..rest.find('"').unwrap()];
                let prefix = scopes
                    .iter()
                    .find(|(a, b, _)| *a < chunk_at && chunk_at < *b)
                    .map(|(_, _, p)| p.as_str())
                    .unwrap_or("");
                let path = &format!("{prefix}{local}");
                let Some(m0) = rest.find("web::") else {
                    continue;
                };
                let m = &rest[m0 + 5..];
                let method = m[..m.find('(').unwrap()].to_uppercase();
                let Some(t0) = m.find(".to(") else { continue };
                let handler: String = m[t0 + 4..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let short = handler.rsplit("::").next().unwrap().to_owned();
                // The handler's signature: in the module its path names, or
                // the configure's own file, or any hub file.
                let module = handler.rsplit("::").nth(1).unwrap_or("");
                let rank = |f: &str| -> u8 {
                    if !module.is_empty()
                        && (f.ends_with(&format!("/{module}.rs"))
                            || f.ends_with(&format!("/{module}/mod.rs")))
                    {
                        0
                    } else if f == file.as_str() {
                        1
                    } else {
                        2
                    }
                };
                let mut candidates: Vec<&(String, String)> = sources
                    .iter()
                    .filter(|(f, _)| f.contains("/hub/src/"))
                    .collect();
                candidates.sort_by_key(|(f, _)| rank(f));
                let sig = candidates
                    .iter()
                    .find_map(|(_, t)| {
                        let n = format!("async fn {short}(");
                        t.find(&n).map(|i| {
                            let s = &t[i..];
                            s[..s.find('{').unwrap_or(s.len())].to_owned()
                        })
                    })
                    .unwrap_or_default();
                let generic = |wrapper: &str| -> Option<String> {
                    let i = sig.find(wrapper)?;
                    let s = &sig[i + wrapper.len()..];
                    let mut depth = 1;
                    let end = s
                        .char_indices()
                        .find(|(_, c)| {
                            match c {
                                '<' => depth += 1,
                                '>' => depth -= 1,
                                _ => {}
                            }
                            depth == 0
                        })
                        .map(|(i, _)| i)?;
                    Some(s[..end].rsplit("::").next().unwrap().to_owned())
                };
                let query =
                    generic("web::Query<").map(|t| struct_fields(&sources, &t).unwrap_or_default());
                let json = generic("web::Json<").map(|t| {
                    if t == "Value" {
                        Vec::new()
                    } else {
                        struct_fields(&sources, &t).unwrap_or_default()
                    }
                });
                let form =
                    generic("web::Form<").map(|t| struct_fields(&sources, &t).unwrap_or_default());
                routes.push(Route {
                    method,
                    path: path.to_owned(),
                    handler: short,
                    file: file.rsplit('/').next().unwrap().to_owned(),
                    query,
                    json,
                    form,
                    raw_body: sig.contains("web::Payload") || sig.contains("web::Bytes"),
                    authenticated: sig.contains("Principal") || sig.contains("Admin"),
                });
            }
        }
    }
    assert!(
        routes.len() >= 20,
        "found only {} routes in hub/src",
        routes.len()
    );
    routes
}

// ---------------------------------------------------------------------------
// A raw HTTPS/1.1 client: exact request lines (no URL normalization), slow
// writers, and whatever bytes we like.
// ---------------------------------------------------------------------------

/// What came back.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

pub fn tls_config(cert: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// Connect and finish the TLS handshake.
pub fn tls_connect(
    port: u16,
    config: &Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> std::io::Result<TlsStream> {
    use std::io::Write as _;
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    tcp.set_nodelay(true)?;
    let conn = rustls::ClientConnection::new(config.clone(), "localhost".try_into().unwrap())
        .map_err(std::io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.flush()?;
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// Read one response (Content-Length, chunked, or until EOF; an event
/// stream stops after its headers).
pub fn read_response(s: &mut TlsStream) -> std::io::Result<RawResponse> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = match s.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed before a response head ({} bytes: {:?})",
                    buf.len(),
                    String::from_utf8_lossy(&buf[..buf.len().min(200)])
                ),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut resp = RawResponse {
        status,
        headers,
        body: buf[head_end + 4..].to_vec(),
    };
    if resp
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/event-stream"))
    {
        return Ok(resp);
    }
    let mut read_more = |resp: &mut RawResponse| -> std::io::Result<bool> {
        match s.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                resp.body.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        }
    };
    if let Some(len) = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        while resp.body.len() < len {
            if !read_more(&mut resp)? {
                break;
            }
        }
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        while !resp.body.ends_with(b"0\r\n\r\n") {
            if !read_more(&mut resp)? {
                break;
            }
        }
        // De-chunk.
        let raw = std::mem::take(&mut resp.body);
        let mut i = 0;
        while i < raw.len() {
            let Some(nl) = raw[i..].windows(2).position(|w| w == b"\r\n") else {
                break;
            };
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&raw[i..i + nl])
                    .split(';')
                    .next()
                    .unwrap()
                    .trim(),
                16,
            )
            .unwrap_or(0);
            i += nl + 2;
            if size == 0 {
                break;
            }
            resp.body
                .extend_from_slice(&raw[i..(i + size).min(raw.len())]);
            i += size + 2;
        }
    } else if status != 204 && status != 304 {
        while read_more(&mut resp)? {}
    }
    Ok(resp)
}

/// One request on a fresh connection (`Connection: close`).
pub fn raw_request(
    port: u16,
    config: &Arc<rustls::ClientConfig>,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<RawResponse> {
    raw_request_within(
        port,
        config,
        method,
        target,
        headers,
        body,
        Duration::from_secs(30),
    )
}

/// [`raw_request`] with a read/write timeout.
pub fn raw_request_within(
    port: u16,
    config: &Arc<rustls::ClientConfig>,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<RawResponse> {
    use std::io::Write as _;
    let mut s = tls_connect(port, config, timeout)?;
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    let mut has_length = false;
    for (n, v) in headers {
        has_length |= n.eq_ignore_ascii_case("content-length");
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !has_length && (!body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH")) {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    // A hub that answers early (413) may close before it read everything.
    let written = s.write_all(&bytes).and_then(|()| s.flush());
    match read_response(&mut s) {
        Ok(r) => Ok(r),
        Err(e) => Err(written.err().unwrap_or(e)),
    }
}

/// Percent-encode everything but unreserved characters (RFC 3986).
pub fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Row counts of every table of the hub's database, in one query.
pub struct TableCounts {
    sql: String,
    pub tables: Vec<String>,
}

impl TableCounts {
    pub async fn new(db: &DatabaseConnection, skip: &[&str]) -> TableCounts {
        let backend = db.get_database_backend();
        let list = match backend {
            sea_orm::DatabaseBackend::Sqlite => {
                "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            }
            _ => "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'",
        };
        let mut tables: Vec<String> = db
            .query_all_raw(Statement::from_string(backend, list.to_owned()))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.try_get::<String>("", "t").unwrap())
            .filter(|t| !skip.contains(&t.as_str()) && t != "seaql_migrations")
            .collect();
        tables.sort();
        let sql = format!(
            "SELECT {}",
            tables
                .iter()
                .map(|t| format!("(SELECT COUNT(*) FROM \"{t}\") AS \"{t}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        TableCounts { sql, tables }
    }

    pub async fn get(&self, db: &DatabaseConnection) -> BTreeMap<String, i64> {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                self.sql.clone(),
            ))
            .await
            .unwrap()
            .unwrap();
        self.tables
            .iter()
            .map(|t| (t.clone(), row.try_get::<i64>("", t).unwrap()))
            .collect()
    }
}
