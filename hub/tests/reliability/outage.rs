//! Reliability scenario 2 (RELIABILITY.md): the database goes away under load.
//!
//! The test runs its OWN throwaway PostgreSQL (initdb into a temporary
//! directory, as the `postgres` OS user when run as root), never the shared
//! server. Under load from collectors and direct printers it stops
//! PostgreSQL with `pg_ctl stop -m immediate` (a crash, not a clean
//! shutdown), keeps it down, and starts it again. During the outage every
//! upload must be answered 503 (never a 2xx: nothing can be stored) and
//! `/readyz` must say not ready (503); no route may answer another 5xx. The
//! senders keep their data and resend; afterwards every acknowledged job is
//! stored exactly once and the views equal a recount from the senders' ledger.
//!
//! Short mode: one outage of 8 s. Long mode: two outages of 30 s.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::support::*;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A private PostgreSQL 15 cluster in a temporary directory.
struct OwnPostgres {
    dir: tempfile::TempDir,
    port: u16,
}

fn is_root() -> bool {
    // SAFETY-free check: the effective uid from /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Run a PostgreSQL tool, as the `postgres` user when we are root.
fn pg_tool(tool: &str, args: &[&str]) -> std::process::Output {
    let path = format!("{PG_BIN}/{tool}");
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &path]);
        c
    } else {
        Command::new(&path)
    };
    cmd.args(args).output().expect("run a PostgreSQL tool")
}

impl OwnPostgres {
    /// `None` (loudly) when PostgreSQL 15 is not installed; CI has it.
    fn init() -> Option<OwnPostgres> {
        if !Path::new(PG_BIN).join("initdb").exists() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{PG_BIN}/initdb is required in CI");
            }
            eprintln!("\n!!! SKIPPING the database outage test: no {PG_BIN}/initdb\n");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("ppu-rel-pg-")
            .tempdir()
            .unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown the PostgreSQL directory");
        }
        let data = dir.path().join("data");
        let out = pg_tool(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pg = OwnPostgres {
            dir,
            port: free_port(),
        };
        pg.start();
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=50",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log");
        let out = pg_tool(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// A crash of the database server: no checkpoint, connections cut.
    fn stop_immediate(&self) {
        let out = pg_tool(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = pg_tool(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "immediate",
                "stop",
            ],
        );
    }
}

/// Admin GET routes probed during the outage: any answer but a 5xx other than 503 is fine.
async fn probe_routes(c: &reqwest::Client, base: &str, paths: &[String]) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for p in paths {
        let status = match c
            .get(format!("{base}{p}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
        {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        out.push((p.clone(), status));
    }
    out
}

#[actix_web::test]
async fn database_outage_under_load() {
    let Some(pg) = OwnPostgres::init() else {
        return;
    };
    let (outages, outage_len) = match mode() {
        Mode::Short => (1, Duration::from_secs(8)),
        Mode::Long => (2, Duration::from_secs(30)),
    };
    let started = Instant::now();
    let mut rng = Rng::from_env("outage");
    let tmp = tempfile::tempdir().unwrap();
    let backend = Backend::Postgres(pg.url());
    let mut opts = HubOptions::new(tmp.path(), &backend);
    opts.config_toml =
        "[actors]\nsnapshot_interval_secs = 1\ningest_queue = 64\nmax_batch = 16\n".into();
    let hub = HubProcess::start(opts).await;
    let c = hub.client();
    let (reseller, sites, senders) = provision(&c, &hub.base, "outage", 2, 3, 2).await;
    let probes: Vec<String> = vec![
        format!("/api/v1/printers/{}", senders[0].printers[0]),
        format!("/api/v1/sites/{}", sites[0]),
        format!("/api/v1/resellers/{reseller}"),
        "/healthz".into(),
    ];

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let switches = Arc::new(Switches::default());
    let load_client = client(&hub.cert, Duration::from_secs(15));
    let tasks = start_load(
        &senders,
        &load_client,
        &hub.url("/api/v1/ingest"),
        &ledger,
        &switches,
        &mut rng,
        SenderPolicy::default(),
    );

    let mut errors: Vec<String> = Vec::new();
    let mut readyz_polls = 0;
    let mut readyz_slowest = Duration::ZERO;
    let mut recoveries = Vec::new();
    let mut probe_answers = std::collections::BTreeMap::<String, u16>::new();
    for o in 0..outages {
        tokio::time::sleep(Duration::from_millis(rng.range(2000, 4000))).await;
        let acked_before = ledger.lock().unwrap().batches.len();
        let c503_before = ledger.lock().unwrap().answered_503;
        pg.stop_immediate();
        switches.db_down.store(true, Ordering::SeqCst);
        let down_at = Instant::now();
        eprintln!(
            "[outage] PostgreSQL stopped (-m immediate) #{} after {:?}, {acked_before} batches acknowledged",
            o + 1,
            started.elapsed()
        );
        // Give the hub a moment to notice (connections in flight fail first).
        tokio::time::sleep(Duration::from_millis(500)).await;
        while down_at.elapsed() < outage_len {
            let t = Instant::now();
            let r = c.get(hub.url("/readyz")).send().await;
            readyz_polls += 1;
            readyz_slowest = readyz_slowest.max(t.elapsed());
            match r {
                Ok(r) if r.status().as_u16() == 503 => {}
                Ok(r) => errors.push(format!(
                    "/readyz answered {} {:?} during the outage",
                    r.status(),
                    r.text().await.unwrap_or_default()
                )),
                Err(e) => errors.push(format!("/readyz failed during the outage: {e}")),
            }
            for (p, s) in probe_routes(&c, &hub.base, &probes).await {
                if s >= 500 && s != 503 || s == 0 {
                    errors.push(format!("GET {p} answered {s} during the outage"));
                }
                probe_answers.insert(format!("outage: GET {p}"), s);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let acked_during = ledger.lock().unwrap().batches.len() - acked_before;
        let c503 = ledger.lock().unwrap().answered_503 - c503_before;
        switches.db_down.store(false, Ordering::SeqCst);
        pg.start();
        let up_at = Instant::now();
        let mut hub_ready = false;
        while up_at.elapsed() < Duration::from_secs(90) {
            if let Ok(r) = c.get(hub.url("/readyz")).send().await
                && r.status().is_success()
            {
                hub_ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !hub_ready {
            errors.push("the hub did not become ready within 90 s of PostgreSQL's restart".into());
        }
        // Uploads flow again.
        let flow_from = ledger.lock().unwrap().batches.len();
        let flow_deadline = Instant::now() + Duration::from_secs(60);
        while ledger.lock().unwrap().batches.len() < flow_from + 5 && Instant::now() < flow_deadline
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let recovered = up_at.elapsed();
        recoveries.push(recovered);
        eprintln!(
            "[outage] #{}: down {:?}, {c503} answers 503 and {acked_during} batches acknowledged (all before the stop) while down; ready again {:?} after PostgreSQL's start",
            o + 1,
            outage_len,
            recovered
        );
        if ledger.lock().unwrap().batches.len() < flow_from + 5 {
            errors.push(format!(
                "uploads did not flow again within 60 s after outage #{}",
                o + 1
            ));
        }
        if c503 == 0 {
            errors.push(format!(
                "no sender got a 503 during outage #{} (load not reaching the hub?)",
                o + 1
            ));
        }
    }
    for (p, s) in probe_routes(&c, &hub.base, &probes).await {
        probe_answers.insert(format!("after: GET {p}"), s);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_load(&switches, tasks).await;
    let ledger = Arc::try_unwrap(ledger).unwrap().into_inner().unwrap();
    if ledger.acked_during_outage > 0 {
        errors.push(format!(
            "{} uploads sent while the database was down were answered 2xx (acknowledged without storing)",
            ledger.acked_during_outage
        ));
    }
    errors.extend(ledger.other_5xx.iter().map(|e| format!("other 5xx: {e}")));
    errors.extend(ledger.inconsistent.iter().cloned());
    errors.extend(
        check_api_eventually(
            &c,
            &hub.base,
            reseller,
            &sites,
            &ledger,
            Duration::from_secs(20),
        )
        .await,
    );
    let (db_errors, db_summary) = check_database(&hub.db().await, &ledger).await;
    errors.extend(db_errors);
    errors.extend(hub.panics().into_iter().map(|p| format!("hub log: {p}")));
    eprintln!("[outage] answers of probed routes: {probe_answers:?}");
    eprintln!(
        "[outage] RESULT outages={outages} of {:?} readyz-polls={readyz_polls} (all 503, slowest answer {readyz_slowest:?}) recovery={recoveries:?} {} {} elapsed={:?} errors={}",
        outage_len,
        ledger.summary(),
        db_summary,
        started.elapsed(),
        errors.len()
    );
    // What the writer said about commits during the outage (a failed
    // commit, whether the ledger had it): the evidence when a count is off.
    for line in hub
        .log_text()
        .lines()
        .filter(|l| l.contains("commit") && (l.contains("WARN") || l.contains("ERROR")))
        .take(20)
    {
        eprintln!("[outage] hub: {line}");
    }
    assert!(
        errors.is_empty(),
        "{} problems:\n{}\n{}",
        errors.len(),
        errors.join("\n"),
        hub.log_tail(40)
    );
}
