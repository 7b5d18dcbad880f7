//! `Application`: build the hub from `Settings`, bind, run, stop.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use ppu_actors::Fleet;
use ppu_actors::store::Db;
use sea_orm_migration::MigratorTrait as _;

use crate::error::extractors;
use crate::settings::Settings;
use crate::state::AppState;
use crate::tls;

/// A built, bound hub.
pub struct Application {
    port: u16,
    metrics: Option<(u16, ServerHandle)>,
    server: Server,
    fleet: Fleet,
    state: AppState,
    tls: tls::TlsFiles,
}

impl Application {
    /// Connect and migrate the database, start the actors, bind the HTTPS
    /// listener (port 0 picks a free port). Must run inside an actix `System`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
        let url = settings.database_url();
        let db = Db::connect(&url)
            .await
            .with_context(|| format!("connecting to the database {}", redact(&url)))?;
        ppu_migration::Migrator::up(&db.write, None)
            .await
            .context("running database migrations")?;
        let admin_token = admin_token(&settings)?;
        let tls = tls::ensure_files(
            &settings.data_dir,
            settings.tls_cert.as_deref(),
            settings.tls_key.as_deref(),
        )?;
        let tls_config = tls::server_config(&tls)?;

        crate::metrics::install();
        let mut actor_settings = settings.actors.to_actor_settings();
        actor_settings.per_printer_metrics = settings.metrics.per_printer;
        let fleet = Fleet::start(db.clone(), actor_settings);
        fleet.load_open_alerts().await;
        actix_web::rt::spawn(crate::metrics::refresh_forever(
            db.clone(),
            fleet.clone(),
            std::time::Duration::from_secs(settings.metrics.fleet_refresh_secs),
        ));
        let dispatcher =
            crate::webhooks::Dispatcher::new(db.clone(), std::time::Duration::from_millis(500))?;
        actix_web::rt::spawn(dispatcher.run(fleet.alerts().subscribe()));
        let settings = Arc::new(settings);
        let state = AppState::new(db, fleet.clone(), settings.clone(), &admin_token);

        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let data = web::Data::new(state.clone());
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(256 * 1024)
                        .error_handler(extractors::json),
                )
                .app_data(web::PathConfig::default().error_handler(extractors::path))
                .app_data(web::QueryConfig::default().error_handler(extractors::query))
                .wrap(tracing_actix_web::TracingLogger::default())
                .configure(crate::routes::configure)
                .default_service(web::to(not_found))
        })
        .disable_signals()
        .shutdown_timeout(settings.shutdown_timeout_secs);
        if let Some(w) = settings.workers {
            server = server.workers(w.max(1));
        }
        let server = server
            .listen_rustls_0_23(listener, tls_config.clone())
            .context("starting the HTTPS listener")?
            .run();
        let metrics_port = match settings.metrics.listen_addr()? {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .with_context(|| format!("binding the metrics listener {addr}"))?;
                let port = listener.local_addr()?.port();
                let metrics_server = HttpServer::new(|| {
                    App::new().route("/metrics", web::get().to(crate::metrics::exposition))
                })
                .workers(1)
                .disable_signals()
                .listen_rustls_0_23(listener, tls_config)
                .context("starting the metrics listener")?
                .run();
                let handle = metrics_server.handle();
                actix_web::rt::spawn(metrics_server);
                tracing::info!(listen = %addr, port, "metrics listening (https)");
                Some((port, handle))
            }
            None => None,
        };
        tracing::info!(listen = %settings.listen, port, "hub listening (https)");
        Ok(Self {
            port,
            server,
            fleet,
            state,
            tls,
            metrics: metrics_port,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, if enabled.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(p, _)| *p)
    }

    /// The certificate the hub serves (clients may trust it as a CA in tests and the demo).
    pub fn tls_cert_path(&self) -> &std::path::Path {
        &self.tls.cert
    }

    /// The shared state (for in-process tools and tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serve until the server is stopped (by [`Self::handle`] or a signal
    /// watched by the caller), then drain ingest and save snapshots.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await.context("http server failed")?;
        if let Some((_, handle)) = &self.metrics {
            handle.stop(true).await;
        }
        self.fleet.shutdown().await;
        Ok(())
    }
}

async fn not_found() -> Result<actix_web::HttpResponse, crate::error::ApiError> {
    Err(crate::error::ApiError::not_found("route"))
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((scheme_user, host)) => {
            let scheme = scheme_user.split("//").next().unwrap_or("");
            format!("{scheme}//***@{host}")
        }
        None => url.to_owned(),
    }
}

/// The admin token: configured, or generated once into `data_dir/admin-token`.
fn admin_token(settings: &Settings) -> anyhow::Result<String> {
    if let Some(t) = &settings.admin_token {
        return Ok(t.clone());
    }
    let path = settings.data_dir.join("admin-token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_owned();
        anyhow::ensure!(t.len() >= 16, "{} is too short", path.display());
        return Ok(t);
    }
    let token = crate::files::random_secret(32);
    crate::files::write_private(&path, token.as_bytes())?;
    tracing::info!(path = %path.display(), "generated an admin token");
    Ok(token)
}
