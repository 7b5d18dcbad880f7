//! `ppu-soak`: the reliability suite's soak (RELIABILITY.md, scenario 6), run
//! by `scripts/reliability.sh --long`.
//!
//! Starts the `ppu-hub` binary (SQLite, or `--database-url`), lets `ppu-sim
//! run` provision and drive an accelerated fleet of direct-connected
//! printers against it for a fixed real time, samples the hub's resident
//! memory every `--sample-secs`, and at the end compares the hub's job rows
//! with what the simulator says the hub accepted. Prints one `soak: RESULT`
//! line and writes `result.json`, `rss.tsv`, the logs and the simulator's
//! report into `--out`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use sea_orm::{ConnectionTrait as _, Database, Statement};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// The ppu-hub binary (a release build).
    #[arg(long)]
    hub_bin: PathBuf,
    /// The ppu-sim binary.
    #[arg(long)]
    sim_bin: PathBuf,
    /// Output directory (created).
    #[arg(long)]
    out: PathBuf,
    /// Printers.
    #[arg(long, default_value_t = 10_000)]
    printers: usize,
    /// Real minutes of load (after provisioning).
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 60.0)]
    speed: f64,
    /// Seconds between memory samples.
    #[arg(long, default_value_t = 30)]
    sample_secs: u64,
    /// PostgreSQL instead of SQLite.
    #[arg(long)]
    database_url: Option<String>,
}

const TOKEN: &str = "soak-admin-token-0123456789abcdef";

fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killer(Child);
impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http(cert: &Path) -> anyhow::Result<reqwest::Client> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(cert)? {
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
        .timeout(Duration::from_secs(30))
        .build()?)
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await?
        .context("no row")?;
    Ok(row.try_get::<i64>("", "n")?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let data = args.out.join("hub");
    let port = free_port();
    let hub_log = std::fs::File::create(args.out.join("hub.log"))?;
    let mut cmd = Command::new(&args.hub_bin);
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--metrics-listen")
        .arg("")
        .env("PPU_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::from(hub_log.try_clone()?))
        .stderr(Stdio::from(hub_log));
    if let Some(url) = &args.database_url {
        cmd.arg("--database-url").arg(url);
    }
    let mut hub = Killer(cmd.spawn().context("start ppu-hub")?);
    let hub_pid = hub.0.id();
    let base = format!("https://localhost:{port}");
    let cert = data.join("tls-cert.pem");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if cert.exists()
            && let Ok(c) = http(&cert)
            && let Ok(r) = c.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the hub did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = http(&cert)?;
    let rss_boot = rss_kib(hub_pid).map_or(0, |r| r.0);

    let sim_log = std::fs::File::create(args.out.join("sim.log"))?;
    let sim_out = std::fs::File::create(args.out.join("sim.out"))?;
    let report = args.out.join("sim-report.json");
    let sim_secs = (args.minutes * 60.0 * args.speed) as u64;
    let mut sim = Killer(
        Command::new(&args.sim_bin)
            .arg("run")
            .arg("--hub")
            .arg(&base)
            .arg("--hub-ca")
            .arg(&cert)
            .arg("--printers")
            .arg(args.printers.to_string())
            .arg("--speed")
            .arg(args.speed.to_string())
            .arg("--sim-duration")
            .arg(format!("{sim_secs}s"))
            .arg("--save-fleet")
            .arg(args.out.join("fleet.json"))
            .arg("--report-out")
            .arg(&report)
            .env("PPU_ADMIN_TOKEN", TOKEN)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(sim_out))
            .stderr(Stdio::from(sim_log))
            .spawn()
            .context("start ppu-sim")?,
    );
    // Provisioning: until the simulator says it runs.
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(args.out.join("sim.log")).unwrap_or_default();
        if text.contains("running") {
            break;
        }
        if let Some(s) = sim.0.try_wait()? {
            bail!("ppu-sim exited during provisioning: {s}\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let provisioning = t0.elapsed();
    eprintln!(
        "soak: {} printers provisioned in {provisioning:?}; load for {} min at speed {}",
        args.printers, args.minutes, args.speed
    );
    let load_started = Instant::now();
    let mut samples = vec![(0.0, rss_kib(hub_pid).map_or(0, |r| r.0))];
    let mut tsv = String::from("seconds\trss_kib\tqueue_depth\tlive_printer_actors\n");
    let mut readyz_failures = 0;
    let mut next = load_started;
    let exit = loop {
        if let Some(s) = sim.0.try_wait()? {
            break s;
        }
        if Instant::now() >= next {
            next += Duration::from_secs(args.sample_secs);
            let t = load_started.elapsed().as_secs_f64();
            let rss = rss_kib(hub_pid).map_or(0, |r| r.0);
            let ready = match client.get(format!("{base}/readyz")).send().await {
                Ok(r) if r.status().is_success() => r.json::<Value>().await.unwrap_or_default(),
                _ => {
                    readyz_failures += 1;
                    Value::Null
                }
            };
            tsv.push_str(&format!(
                "{t:.0}\t{rss}\t{}\t{}\n",
                ready["ingest_queue_depth"], ready["live_actors"]["printers"]
            ));
            std::fs::write(args.out.join("rss.tsv"), &tsv)?;
            eprintln!(
                "soak: t={t:.0}s rss={} MiB queue={} live printers={}",
                rss / 1024,
                ready["ingest_queue_depth"],
                ready["live_actors"]["printers"]
            );
            samples.push((t, rss));
        }
        if load_started.elapsed() > Duration::from_secs_f64(args.minutes * 60.0 + 600.0) {
            bail!("ppu-sim did not stop 10 minutes after its time");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let load_secs = load_started.elapsed().as_secs_f64();
    let (rss_end, rss_peak) = rss_kib(hub_pid).unwrap_or_default();

    // The numbers.
    let summary: Value = std::fs::read_to_string(args.out.join("sim.out"))
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| serde_json::from_str(l).ok()))
        .unwrap_or(Value::Null);
    let db_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=ro", data.join("ppu-hub.db").display()));
    let db = Database::connect(&db_url).await?;
    let jobs = count(&db, "SELECT COUNT(*) AS n FROM jobs").await?;
    let distinct = count(&db, "SELECT COUNT(DISTINCT uuid) AS n FROM jobs").await?;
    let uploads = count(&db, "SELECT COUNT(*) AS n FROM uploads").await?;
    let accepted = summary["uploads"]["jobs_accepted"].as_i64().unwrap_or(-1);
    let hub_text = std::fs::read_to_string(args.out.join("hub.log")).unwrap_or_default();
    let hub_errors = hub_text.lines().filter(|l| l.contains("ERROR")).count();
    let hub_warnings = hub_text.lines().filter(|l| l.contains("WARN")).count();
    let panics = hub_text.lines().filter(|l| l.contains("panicked")).count();
    // Graceful stop.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(hub_pid.to_string())
        .status();
    let stop_deadline = Instant::now() + Duration::from_secs(60);
    let hub_exit = loop {
        if let Some(s) = hub.0.try_wait()? {
            break s.code();
        }
        if Instant::now() > stop_deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Memory after warm-up: the first sample past 5 minutes, or past a third
    // of a shorter run.
    let warm_after = (args.minutes * 20.0).min(300.0);
    let warm = samples
        .iter()
        .find(|(t, _)| *t >= warm_after)
        .or(samples.last())
        .copied()
        .unwrap_or((0.0, rss_boot));
    let result = json!({
        "printers": args.printers,
        "speed": args.speed,
        "minutes": args.minutes,
        "load_seconds": load_secs,
        "provisioning_seconds": provisioning.as_secs_f64(),
        "simulator_exit": exit.code(),
        "simulator": summary,
        "hub": {
            "uploads": uploads, "job_rows": jobs, "distinct_job_uuids": distinct,
            "error_lines": hub_errors, "warn_lines": hub_warnings, "panics": panics,
            "readyz_failures": readyz_failures, "exit_code_after_sigterm": hub_exit,
        },
        "rss_kib": {
            "after_boot": rss_boot, "load_start": samples[0].1, "after_warmup": warm.1,
            "warmup_at_s": warm.0, "end": rss_end, "peak": rss_peak,
        },
    });
    std::fs::write(
        args.out.join("result.json"),
        serde_json::to_string_pretty(&result)?,
    )?;
    let missing_or_extra = jobs - accepted;
    let duplicates = jobs - distinct;
    let ok = exit.success()
        && missing_or_extra == 0
        && duplicates == 0
        && summary["uploads"]["rejected"].as_i64() == Some(0)
        && panics == 0
        && hub_errors == 0
        && readyz_failures == 0
        && hub_exit == Some(0);
    println!(
        "soak: RESULT printers={} speed={} load={load_secs:.0}s provisioning={:.0}s uploads-delivered={} retries={} rejected={} jobs-generated={} jobs-accepted={accepted} job-rows={jobs} missing-or-extra={missing_or_extra} duplicates={duplicates} queued-at-end={} rss-MiB boot={} start={} warm={} end={} peak={} hub-errors={hub_errors} warnings={hub_warnings} panics={panics} readyz-failures={readyz_failures} hub-exit={hub_exit:?} ok={ok}",
        args.printers,
        args.speed,
        provisioning.as_secs_f64(),
        summary["uploads"]["delivered"],
        summary["uploads"]["retries"],
        summary["uploads"]["rejected"],
        summary["jobs_generated"],
        summary["queued"],
        rss_boot / 1024,
        samples[0].1 / 1024,
        warm.1 / 1024,
        rss_end / 1024,
        rss_peak / 1024,
    );
    if !ok {
        bail!("the soak found problems; see {}", args.out.display());
    }
    Ok(())
}
