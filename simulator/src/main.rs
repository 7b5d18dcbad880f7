//! `ppu-sim`: virtual HP large-format printers for ppu-hub.
//!
//! See `ppu-sim --help` and the library documentation of `ppu_sim`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use ppu_sim::clock::{AcceleratedClock, Clock};
use ppu_sim::device::{DeviceOptions, VirtualPrinter};
use ppu_sim::direct::{DirectFleet, FleetOptions};
use ppu_sim::fleet::{self, AdminClient, FleetFile, ProvisionRequest};
use ppu_sim::ledm::server::advance_all;
use ppu_sim::ledm::{LedmServer, LedmServerConfig, SharedPrinter};
use ppu_sim::load::{self, LoadConfig};
use ppu_sim::models::ModelId;
use ppu_sim::rng::derive_seed;
use ppu_sim::upload::{HubClient, http_client};

/// Virtual HP DesignJet and PageWide XL printers for testing ppu-hub.
///
/// Printers are simulated deterministically from a seed: jobs, consumables,
/// alerts and lifetime counters. Simulated time runs faster than real time
/// (`--speed 3600`: one simulated hour per real second).
#[derive(Debug, Parser)]
#[command(name = "ppu-sim", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run direct-connected printers that upload to a hub.
    ///
    /// Provisions a reseller, a site and the printers through the hub's admin
    /// API (or reuses a fleet file), then lets the printers work and upload
    /// every 3 hours, 19 jobs or 100 pages, and at once on high-severity alerts.
    /// Prints a JSON summary line when it stops (Ctrl-C or --sim-duration).
    Run(RunArgs),
    /// Serve printers' LEDM web pages (for Data Collector tests), read-only.
    ///
    /// Printer i listens on 127.0.0.1:(base-port + i) and serves
    /// /DevMgmt/DiscoveryTree.xml, ProductConfigDyn.xml, ProductStatusDyn.xml,
    /// ConsumableConfigDyn.xml, ProductUsageDyn.xml, MediaHandlingDyn.xml and
    /// /hp/device/webAccess/accounting.csv?since=N. Anything but GET/HEAD gets 405.
    ServeLedm(ServeArgs),
    /// Drive many printers as fast as the hub allows and print one JSON line of results.
    Load(LoadArgs),
    /// List the simulated printer models.
    Models,
}

#[derive(Debug, Args)]
struct HubArgs {
    /// Base URL of the hub, e.g. https://localhost:8443 (http:// is accepted for tests).
    #[arg(long, value_name = "URL")]
    hub: String,
    /// PEM file with the CA (or self-signed certificate) to trust for the hub.
    #[arg(long, value_name = "FILE")]
    hub_ca: Option<PathBuf>,
    /// Admin bearer token for provisioning (not needed with --fleet).
    #[arg(
        long,
        env = "PPU_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
}

#[derive(Debug, Args)]
struct FleetArgs {
    /// Number of printers to provision.
    #[arg(long, default_value_t = 10)]
    printers: usize,
    /// Seed for serial numbers and everything the printers do.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Models to cycle through, comma separated (default: every model), e.g. t1500,z6200,pwxl-8000.
    #[arg(long, value_delimiter = ',')]
    models: Vec<ModelId>,
    /// Reuse printers provisioned earlier instead of provisioning new ones.
    #[arg(long, value_name = "FILE")]
    fleet: Option<PathBuf>,
    /// Where to save the provisioned fleet (with its secrets) [default: ppu-sim-fleet-<seed>.json].
    #[arg(long, value_name = "FILE")]
    save_fleet: Option<PathBuf>,
    /// Reseller name when provisioning [default: "ppu-sim reseller <seed>"].
    #[arg(long)]
    reseller_name: Option<String>,
    /// Customer account name of the site when provisioning (unique in the hub)
    /// [default: "Simulated Customer <seed>"].
    #[arg(long)]
    account_name: Option<String>,
    /// Site name when provisioning [default: "Simulated Site <seed>"].
    #[arg(long)]
    site_name: Option<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    hub: HubArgs,
    #[command(flatten)]
    fleet: FleetArgs,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 3600.0)]
    speed: f64,
    /// Simulated start instant (RFC 3339) [default: now].
    #[arg(long, value_name = "RFC3339")]
    start: Option<DateTime<Utc>>,
    /// Stop after this much simulated time, e.g. 7d (default: run until Ctrl-C).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    sim_duration: Option<Duration>,
    /// Also serve the printers' LEDM pages from this port on (printer i on port P+i).
    #[arg(long, value_name = "P")]
    ledm_base_port: Option<u16>,
    /// Serve LEDM over plain HTTP instead of HTTPS.
    #[arg(long)]
    ledm_plain_http: bool,
    /// Real milliseconds between simulation ticks.
    #[arg(long, default_value_t = 200)]
    tick_ms: u64,
    /// At the end, write every printer's job UUIDs, lifetime counters, upload
    /// statistics and refused uploads here (JSON), to compare with the hub.
    #[arg(long, value_name = "FILE")]
    report_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Number of printers.
    #[arg(long, default_value_t = 5)]
    printers: usize,
    /// Port of the first printer; printer i listens on base-port + i.
    #[arg(long, value_name = "P")]
    base_port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    ip: std::net::IpAddr,
    /// Seed for serial numbers and everything the printers do.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Models to cycle through, comma separated (default: every model).
    #[arg(long, value_delimiter = ',')]
    models: Vec<ModelId>,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 3600.0)]
    speed: f64,
    /// Simulated start instant (RFC 3339) [default: now].
    #[arg(long, value_name = "RFC3339")]
    start: Option<DateTime<Utc>>,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    plain_http: bool,
    /// Write the self-signed certificate (PEM) here so a collector can trust it.
    #[arg(long, value_name = "FILE")]
    cert_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct LoadArgs {
    #[command(flatten)]
    hub: HubArgs,
    #[command(flatten)]
    fleet: FleetArgs,
    /// How long to run, real time: seconds (60) or a duration (2m).
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    duration: Duration,
    /// Job records per upload.
    #[arg(long, default_value_t = 19)]
    jobs_per_upload: usize,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs >= 0.0 => Ok(Duration::from_secs_f64(secs)),
        _ => humantime::parse_duration(s).map_err(|e| e.to_string()),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::ServeLedm(args) => serve_ledm(args).await,
        Command::Load(args) => load_cmd(args).await,
        Command::Models => {
            models();
            Ok(())
        }
    }
}

/// The fleet of a run: from `--fleet`, or provisioned (and saved) now.
async fn obtain_fleet(hub: &HubArgs, args: &FleetArgs) -> anyhow::Result<FleetFile> {
    if let Some(path) = &args.fleet {
        let file = FleetFile::load(path)
            .with_context(|| format!("reading fleet file {}", path.display()))?;
        tracing::info!(printers = file.printers.len(), path = %path.display(), "using existing fleet");
        return Ok(file);
    }
    let Some(token) = &hub.admin_token else {
        bail!("provisioning needs --admin-token (or PPU_ADMIN_TOKEN); or pass --fleet FILE");
    };
    let http = http_client(hub.hub_ca.as_deref(), Duration::from_secs(30))?;
    let admin = AdminClient::new(&hub.hub, token, http);
    let request = ProvisionRequest {
        printers: args.printers,
        seed: args.seed,
        models: args.models.clone(),
        reseller_name: args
            .reseller_name
            .clone()
            .unwrap_or_else(|| format!("ppu-sim reseller {}", args.seed)),
        account_name: args
            .account_name
            .clone()
            .unwrap_or_else(|| format!("Simulated Customer {}", args.seed)),
        site_name: args
            .site_name
            .clone()
            .unwrap_or_else(|| format!("Simulated Site {}", args.seed)),
    };
    let file = fleet::provision(&admin, &request)
        .await
        .context("provisioning the fleet")?;
    let path = args
        .save_fleet
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("ppu-sim-fleet-{}.json", args.seed)));
    file.save(&path)
        .with_context(|| format!("saving fleet file {}", path.display()))?;
    tracing::info!(printers = file.printers.len(), path = %path.display(), "fleet provisioned and saved (it holds the secrets)");
    Ok(file)
}

/// Resolves on Ctrl-C or SIGTERM (then the CLI stops cleanly and prints its summary).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // Without a signal handler, run until the process is killed.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let fleet_file = obtain_fleet(&args.hub, &args.fleet).await?;
    let hub = HubClient::new(&args.hub.hub, args.hub.hub_ca.as_deref())?;
    let start = args.start.unwrap_or_else(Utc::now);
    let options = FleetOptions {
        device: DeviceOptions::default(),
        run_seed: args.fleet.seed,
        backoff: None,
    };
    let mut fleet = DirectFleet::from_fleet_file(&fleet_file, hub, start, &options);
    let ledm = match args.ledm_base_port {
        Some(port) => {
            let config = LedmServerConfig {
                base_port: port,
                tls: !args.ledm_plain_http,
                ..LedmServerConfig::default()
            };
            let server = LedmServer::start(fleet.devices(), config).await?;
            for e in server.endpoints() {
                tracing::info!(serial = %e.serial, url = %e.base_url, "ledm server");
            }
            Some(server)
        }
        None => None,
    };
    let clock = AcceleratedClock::new(start, args.speed);
    let until = args
        .sim_duration
        .map(|d| chrono::TimeDelta::from_std(d).map(|d| start + d))
        .transpose()
        .context("--sim-duration is too long")?;
    tracing::info!(printers = fleet_file.printers.len(), speed = args.speed, %start, "running");
    fleet
        .run_realtime(
            &clock,
            Duration::from_millis(args.tick_ms.max(10)),
            until,
            Duration::from_secs(30),
            shutdown_signal(),
        )
        .await;
    if let Some(server) = ledm {
        server.stop().await;
    }
    println!("{}", serde_json::to_string(&fleet.summary())?);
    if let Some(path) = &args.report_out {
        let printers: Vec<serde_json::Value> = fleet
            .printers()
            .map(|p| {
                serde_json::json!({
                    "serial_number": p.serial(),
                    "job_uuids": p.job_uuids(),
                    "counters": p.counters(),
                    "uploads": p.stats(),
                    "queued": p.outbox().len(),
                    "rejected": p.rejected().iter().map(|r| serde_json::json!({
                        "status": r.status,
                        "reason": r.reason,
                        "batch_id": r.item.payload.batch_id,
                        "trigger": r.item.payload.trigger,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let report = serde_json::json!({ "summary": fleet.summary(), "printers": printers });
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    for p in fleet.printers() {
        for r in p.rejected() {
            tracing::error!(serial = %p.serial(), status = r.status, reason = %r.reason, trigger = ?r.item.payload.trigger, "upload was refused by the hub");
        }
    }
    Ok(())
}

async fn serve_ledm(args: ServeArgs) -> anyhow::Result<()> {
    let start = args.start.unwrap_or_else(Utc::now);
    let printers: Vec<SharedPrinter> = fleet::plan(args.printers, args.seed, &args.models)
        .into_iter()
        .map(|(model, serial)| {
            let seed = derive_seed(args.seed, &serial);
            let mut p = VirtualPrinter::new(model, serial, derive_seed(seed, "device"));
            p.boot(start);
            Arc::new(std::sync::Mutex::new(p))
        })
        .collect();
    let config = LedmServerConfig {
        ip: args.ip,
        base_port: args.base_port,
        tls: !args.plain_http,
        ..LedmServerConfig::default()
    };
    let server = LedmServer::start(printers.clone(), config).await?;
    if let (Some(path), Some(pem)) = (&args.cert_out, server.certificate_pem()) {
        std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))?;
        tracing::info!(path = %path.display(), "certificate written");
    }
    for (e, p) in server.endpoints().iter().zip(&printers) {
        let model = ppu_sim::ledm::server::lock(p).model().id;
        tracing::info!(serial = %e.serial, model = %model, url = %e.base_url, "serving");
    }
    let clock = AcceleratedClock::new(start, args.speed);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = tick.tick() => advance_all(&printers, clock.now()),
        }
    }
    let log = server.request_log();
    server.stop().await;
    tracing::info!(
        requests = log.snapshot().len(),
        refused_writes = log.writes().len(),
        "stopped"
    );
    Ok(())
}

async fn load_cmd(args: LoadArgs) -> anyhow::Result<()> {
    let fleet_file = obtain_fleet(&args.hub, &args.fleet).await?;
    let hub = HubClient::new(&args.hub.hub, args.hub.hub_ca.as_deref())?;
    let config = LoadConfig {
        duration: args.duration,
        jobs_per_upload: args.jobs_per_upload,
        seed: args.fleet.seed,
        start: Utc::now(),
    };
    let report = load::run(&fleet_file.printers, &hub, &config).await;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn models() {
    for id in ModelId::ALL {
        let m = id.spec();
        let inks: Vec<&str> = m.inks.iter().map(|i| i.color).collect();
        let rolls = m
            .media_sources
            .iter()
            .filter(|s| s.kind == ppu_protocol::MediaSourceKind::Roll)
            .count();
        println!(
            "{:<10} {:<7} {:<58} rolls={} scanner={} inks={}",
            id.as_str(),
            m.product_number,
            m.product_name,
            rolls,
            if m.is_mfp() { "yes" } else { "no" },
            inks.join(",")
        );
    }
}
