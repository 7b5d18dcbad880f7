//! `ppu-hub`: the telemetry hub.

use clap::{Parser, Subcommand};
use ppu_hub::settings::{Settings, SettingsArgs};
use ppu_hub::{Application, telemetry};

/// mimalloc rather than the system allocator: with 100,000 printer actors
/// resident, glibc's arenas kept about half as much again as the live heap
/// (BENCHMARKS.md, actor scale).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// ppu-hub: pay-per-use telemetry hub for large-format printer fleets.
///
/// Receives encrypted uploads from Data Collectors and direct-connected
/// printers, keeps one actor per printer, site and reseller, and serves the
/// REST API. With no configuration it serves HTTPS on 127.0.0.1:8443 with a
/// self-signed certificate and SQLite in ./data.
#[derive(Debug, Parser)]
#[command(name = "ppu-hub", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hub until SIGTERM or Ctrl-C (then drain uploads, save snapshots, exit 0).
    Serve(SettingsArgs),
    /// Run the hub with a simulated fleet: 2 resellers, 5 sites, 25 printers.
    ///
    /// Starts the hub on its own data directory (default ./data/demo, SQLite)
    /// and virtual printers on an accelerated clock: 15 direct-connected, 10
    /// at two sites read by Data Collectors. Prints the portal URL and logins,
    /// the admin token and curl commands to explore, and a status line every
    /// few seconds. Ctrl-C or SIGTERM stops everything cleanly; the
    /// next start continues with the same printers.
    Demo(ppu_hub::demo::DemoArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let settings = match Settings::load(&args) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("ppu-hub: {e}");
                    std::process::exit(2);
                }
            };
            telemetry::init(&settings.log_format);
            actix_web::rt::System::new().block_on(serve(settings))
        }
        Command::Demo(args) => {
            ppu_hub::demo::init_logging();
            actix_web::rt::System::new().block_on(ppu_hub::demo::run(args))
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let handle = app.handle();
    actix_web::rt::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping: finishing in-flight requests");
        handle.stop(true).await;
    });
    app.run_until_stopped().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
