//! `ppu-collector`: the Data Collector's command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ppu_collector::clock::SystemClock;
use ppu_collector::enroll::{EnrollRequest, enroll};
use ppu_collector::spool::Spool;
use ppu_collector::state::StateDir;
use ppu_collector::{Collector, engine};
use ppu_protocol::collector_config::{
    CollectorConfig, Endpoint, PrinterTlsPolicy, ProxyConfig, Scheme,
};

/// Reads HP large-format printers in this network (read-only) and uploads
/// their usage, status and job metadata to the PPU hub.
///
/// Typical installation: `ppu-collector enroll ...` once, write the
/// configuration file, then run `ppu-collector run` as a service (see the
/// systemd unit in the package). The collector opens no listening socket.
#[derive(Debug, Parser)]
#[command(name = "ppu-collector", version, about, long_about)]
struct Cli {
    /// Log format: `text` or `json`. The level comes from RUST_LOG (default info).
    #[arg(
        long,
        global = true,
        default_value = "text",
        env = "PPU_COLLECTOR_LOG_FORMAT"
    )]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Enroll with the hub using a one-time enrollment code from the portal.
    ///
    /// The code never leaves this machine: the collector proves it knows it.
    /// The credentials (collector id and keys, never the code) are stored in
    /// STATE_DIR/credentials.json, readable by the owner only.
    Enroll {
        /// Hub URL, e.g. https://ppu.example.com (https only).
        #[arg(long)]
        hub: String,
        /// The customer account name of this site.
        #[arg(long)]
        account: String,
        /// The enrollment code, e.g. 7KQ2M-XW9RT-B4C8D-NP3ZA.
        #[arg(long, env = "PPU_COLLECTOR_ENROLLMENT_CODE", hide_env_values = true)]
        code: String,
        /// A PEM file with an extra CA certificate for the hub.
        #[arg(long)]
        hub_ca: Option<PathBuf>,
        /// A proxy for this request, e.g. http://user:pw@proxy:3128
        /// (default: the system's HTTPS_PROXY / NO_PROXY).
        #[arg(long)]
        proxy: Option<String>,
        /// Where the collector keeps its state.
        #[arg(
            long,
            env = "PPU_COLLECTOR_STATE_DIR",
            default_value = "/var/lib/ppu-collector"
        )]
        state_dir: PathBuf,
    },
    /// Run: poll the printers on schedule and upload, until stopped (SIGTERM, Ctrl-C).
    Run {
        /// The configuration file (TOML).
        #[arg(
            long,
            env = "PPU_COLLECTOR_CONFIG",
            default_value = "/etc/ppu-collector/collector.toml"
        )]
        config: PathBuf,
        /// Where the collector keeps its state.
        #[arg(
            long,
            env = "PPU_COLLECTOR_STATE_DIR",
            default_value = "/var/lib/ppu-collector"
        )]
        state_dir: PathBuf,
        /// Run one poll cycle (and deliver the spool), then exit.
        #[arg(long)]
        once: bool,
    },
    /// Print, as JSON, what would be collected from one printer; stores nothing.
    ///
    /// URL schemes: https:// and http:// (HP LEDM), ipps:// and ipp:// (IPP).
    Probe {
        /// The printer, e.g. https://10.0.0.12 or ipps://10.0.0.13:631/ipp/print.
        url: String,
        /// Accept only this certificate (SHA-256, hex); by default any
        /// certificate is accepted and its fingerprint shown.
        #[arg(long)]
        pin: Option<String>,
        /// A configuration file for timeouts and the supported models (optional).
        #[arg(long, env = "PPU_COLLECTOR_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Show the last poll, last upload, spool and configuration version (no network).
    Status {
        /// Where the collector keeps its state.
        #[arg(
            long,
            env = "PPU_COLLECTOR_STATE_DIR",
            default_value = "/var/lib/ppu-collector"
        )]
        state_dir: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check a configuration file and print it with every default filled in.
    CheckConfig {
        /// The configuration file (TOML).
        #[arg(
            long,
            env = "PPU_COLLECTOR_CONFIG",
            default_value = "/etc/ppu-collector/collector.toml"
        )]
        config: PathBuf,
    },
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load_config(path: &Path) -> anyhow::Result<CollectorConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    let config =
        CollectorConfig::from_toml_str(&text).with_context(|| format!("{}", path.display()))?;
    config
        .validate()
        .with_context(|| format!("{}", path.display()))?;
    Ok(config)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async {
                match term.as_mut() {
                    Some(t) => { t.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn endpoint_of(url: &str, pin: Option<String>) -> anyhow::Result<Endpoint> {
    let parsed = url::Url::parse(url).with_context(|| format!("invalid printer url {url:?}"))?;
    let scheme = match parsed.scheme() {
        "https" => Scheme::LedmHttps,
        "http" => Scheme::LedmHttp,
        "ipps" => Scheme::Ipps,
        "ipp" => Scheme::Ipp,
        other => anyhow::bail!("unsupported scheme {other:?}: use https, http, ipps or ipp"),
    };
    let host = parsed
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("no host in {url:?}"))?
        .trim_matches(['[', ']']);
    let port = parsed.port().unwrap_or(scheme.default_port());
    let ip = match host.parse() {
        Ok(ip) => ip,
        Err(_) => tokio::net::lookup_host((host, port))
            .await?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{host} does not resolve"))?
            .ip(),
    };
    Ok(Endpoint {
        ip,
        port,
        scheme,
        tls: match pin {
            Some(p) => PrinterTlsPolicy::Pinned { sha256: vec![p] },
            None => PrinterTlsPolicy::Tofu,
        },
    })
}

fn print_status(state_dir: &Path, json: bool) -> anyhow::Result<()> {
    let state = StateDir::open(state_dir)?;
    let credentials = state.credentials().ok();
    let status = state.status()?;
    let remote = state.remote_config()?;
    let max = remote
        .as_ref()
        .map_or(ppu_protocol::collector_config::DEFAULT_SPOOL_BYTES, |r| {
            r.config.spool.max_bytes
        });
    let spool = Spool::open(&state.spool_dir(), max)?;
    if json {
        let v = serde_json::json!({
            "collector_id": credentials.as_ref().map(|c| c.collector_id.clone()),
            "account_name": credentials.as_ref().map(|c| c.account_name.clone()),
            "hub_url": credentials.as_ref().map(|c| c.hub_url.clone()),
            "status": status,
            "spool": {"entries": spool.len(), "bytes": spool.bytes(), "full": status.spool_full_since.is_some()},
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    match &credentials {
        Some(c) => {
            println!(
                "collector      {} (account {:?}, site {})",
                c.collector_id, c.account_name, c.site_id
            );
            println!("hub            {}", c.hub_url);
        }
        None => println!("collector      not enrolled (run `ppu-collector enroll`)"),
    }
    let source = if status.config_version == 0 {
        "local file"
    } else {
        "from the hub"
    };
    println!(
        "configuration  version {} ({source})",
        status.config_version
    );
    if let Some(r) = &status.rejected_config {
        println!(
            "               refused version {} at {}: {}",
            r.version,
            r.at.to_rfc3339(),
            r.error
        );
    }
    match &status.last_poll {
        Some(p) => {
            println!(
                "last poll      {} ({} ms): {} found, {} collected, {} skipped, {} jobs, {} envelopes, {} bytes sent",
                p.started_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                p.duration_ms,
                p.found,
                p.collected,
                p.skipped.len(),
                p.jobs,
                p.envelopes,
                p.bytes_sent
            );
            for s in &p.skipped {
                println!("  skipped      {}: {}", s.address, s.reason);
            }
            if p.missed_jobs > 0 {
                println!(
                    "  LOST JOBS    {} jobs were purged by printers before they could be read",
                    p.missed_jobs
                );
            }
        }
        None => println!("last poll      never"),
    }
    println!(
        "last upload    {}",
        status
            .last_upload_at
            .map_or("never".to_owned(), |t| t.to_rfc3339())
    );
    if let Some(e) = &status.last_error {
        println!("last error     {e}");
    }
    println!(
        "spool          {} envelopes, {} of {} bytes",
        spool.len(),
        spool.bytes(),
        spool.max_bytes()
    );
    if let Some(since) = status.spool_full_since {
        println!(
            "               SPOOL FULL since {}: new jobs wait in the job store and on the printers",
            since.to_rfc3339()
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(&cli.log_format);
    match cli.command {
        Command::Enroll {
            hub,
            account,
            code,
            hub_ca,
            proxy,
            state_dir,
        } => {
            let state = StateDir::open(&state_dir)?;
            let proxy = match proxy {
                Some(url) => {
                    let p = ProxyConfig::Explicit {
                        url,
                        username: None,
                        password: None,
                    };
                    p.explicit()?;
                    p
                }
                None => ProxyConfig::System,
            };
            let creds = enroll(
                &state,
                &EnrollRequest {
                    hub_url: hub,
                    account_name: account,
                    code,
                    hub_ca_file: hub_ca.map(|p| p.display().to_string()),
                    proxy,
                },
            )
            .await?;
            println!(
                "enrolled as collector {} for account {:?} (site {}); credentials in {}",
                creds.collector_id,
                creds.account_name,
                creds.site_id,
                state.credentials_path().display()
            );
        }
        Command::Run {
            config,
            state_dir,
            once,
        } => {
            let config = load_config(&config)?;
            let state = StateDir::open(&state_dir)?;
            let _lock = state.lock()?;
            let collector = Collector::new(state, config, Arc::new(SystemClock))?;
            tracing::info!(collector_id = %collector.collector_id(), "collector started");
            if once {
                let summary = collector.poll_cycle().await?;
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                collector.run(shutdown_signal()).await;
            }
        }
        Command::Probe { url, pin, config } => {
            let config = match config.filter(|p| p.exists()) {
                Some(p) => load_config(&p)?,
                None => CollectorConfig::new("probe", "https://hub.invalid"),
            };
            let endpoint = endpoint_of(&url, pin).await?;
            let result = engine::probe(endpoint, &config).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        Command::Status { state_dir, json } => print_status(&state_dir, json)?,
        Command::CheckConfig { config } => {
            let config = load_config(&config)?;
            let endpoints = config.endpoints()?.len();
            println!("# valid: {endpoints} address/port pairs to look at");
            print!("{}", config.to_toml_string());
        }
    }
    Ok(())
}
