//! The demo's sites behind a Data Collector.
//!
//! At such a site the printers do not upload themselves: each one serves its
//! data read-only over HTTPS in HP LEDM style on a loopback port
//! ([`ppu_sim::ledm::LedmServer`]), and a real [`ppu_collector::Collector`],
//! enrolled with a one-time code like one installed at a customer, reads
//! them on the demo's accelerated clock and uploads what it found. The hub
//! registers the printers the collector reports for its site on their first
//! upload; nothing is provisioned for them beforehand.
//!
//! The collector keeps its state (credentials, job cursors, spool) in
//! `collector-<account>/` in the demo's data directory, so a second start
//! continues where the first stopped: what the spool still held is sent, and
//! no job is read twice.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use ppu_collector::Collector;
use ppu_collector::clock::{Clock as CollectorClock, Sleep};
use ppu_collector::enroll::{EnrollRequest, enroll};
use ppu_collector::state::StateDir;
use ppu_protocol::collector_config::{
    CollectorConfig, PrinterTlsPolicy, ProxyConfig, Scheme, Target,
};
use ppu_sim::clock::{AcceleratedClock, Clock as _};
use ppu_sim::fleet::{AdminClient, AdminError};
use ppu_sim::ledm::server::advance_all;
use ppu_sim::ledm::{LedmServer, LedmServerConfig, SharedPrinter};
use ppu_sim::rng::derive_seed;
use ppu_sim::{ModelId, VirtualPrinter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;

use super::HubAccess;

/// Minutes between the collector's poll cycles: its default, three hours.
const POLL_INTERVAL_MINUTES: u32 = 180;
/// Seconds between job polls: one simulated hour (one real second at the
/// default speed), so jobs show up between the three-hourly cycles without
/// reading the printers dozens of times per real second.
const JOB_POLL_INTERVAL_S: u32 = 3_600;
/// Time the collector gets to send what its spool holds when the demo stops.
const FINAL_DELIVERY: Duration = Duration::from_secs(10);

/// A printer at a collected site.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SitePrinter {
    /// Serial number.
    pub serial_number: String,
    /// Model.
    pub model: ModelId,
}

/// A site whose printers a Data Collector reads, as saved in the fleet file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectedSite {
    /// Reseller id as the hub returned it.
    pub reseller_id: Value,
    /// Site id as the hub returned it.
    pub site_id: Value,
    /// Customer account name of the site.
    pub account_name: String,
    /// The collector's state directory, relative to the demo's data directory.
    pub state_dir: String,
    /// The printers on the site's network.
    pub printers: Vec<SitePrinter>,
}

impl CollectedSite {
    fn state_path(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(&self.state_dir)
    }
}

/// Create the site and enroll its collector with a one-time code from the
/// hub, as an installer would with `ppu-collector enroll`.
///
/// # Errors
/// An [`AdminError`] from the hub, or an enrollment that fails.
pub async fn provision(
    admin: &AdminClient,
    hub: &HubAccess,
    data_dir: &Path,
    reseller_id: &Value,
    (account_name, site_name): (&str, &str),
    printers: &[(ModelId, String)],
) -> Result<CollectedSite, ProvisionError> {
    let site_id = admin
        .create_site(reseller_id, account_name, site_name)
        .await?;
    let site = CollectedSite {
        reseller_id: reseller_id.clone(),
        site_id,
        account_name: account_name.to_owned(),
        state_dir: format!("collector-{account_name}"),
        printers: printers
            .iter()
            .map(|(model, serial)| SitePrinter {
                serial_number: serial.clone(),
                model: *model,
            })
            .collect(),
    };
    let code = enrollment_code(hub, &site.site_id)
        .await
        .map_err(ProvisionError::Enroll)?;
    // A state directory left from a fleet this hub no longer knows holds
    // credentials the hub would refuse.
    let dir = site.state_path(data_dir);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("deleting {}", dir.display()))
            .map_err(ProvisionError::Enroll)?;
    }
    let state = StateDir::open(&dir)
        .with_context(|| format!("creating {}", dir.display()))
        .map_err(ProvisionError::Enroll)?;
    enroll(
        &state,
        &EnrollRequest {
            hub_url: hub.base_url.clone(),
            account_name: site.account_name.clone(),
            code,
            hub_ca_file: Some(hub.cert.display().to_string()),
            proxy: ProxyConfig::None,
        },
    )
    .await
    .with_context(|| format!("enrolling the Data Collector of {account_name}"))
    .map_err(ProvisionError::Enroll)?;
    tracing::info!(account = %account_name, "data collector enrolled");
    Ok(site)
}

/// Why a collected site could not be provisioned.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The admin API refused (e.g. 409: the account name is taken).
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// Enrollment failed.
    #[error("{0:#}")]
    Enroll(anyhow::Error),
}

/// `POST /api/v1/sites/{id}/enrollment-codes`: a one-time code for the site.
async fn enrollment_code(hub: &HubAccess, site_id: &Value) -> anyhow::Result<String> {
    let id = site_id.to_string();
    let id = id.trim_matches('"');
    let response = hub
        .http
        .post(format!(
            "{}/api/v1/sites/{id}/enrollment-codes",
            hub.base_url
        ))
        .bearer_auth(&hub.token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .context("asking the hub for an enrollment code")?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        anyhow::bail!("the hub refused an enrollment code for site {id}: {status} {body}");
    }
    body["code"]
        .as_str()
        .map(str::to_owned)
        .context("the hub's enrollment answer has no code")
}

/// The demo's accelerated clock, as the collector sees it: simulated time
/// for polls and payloads, real time for envelope timestamps.
#[derive(Debug, Clone)]
pub struct DemoClock(pub AcceleratedClock);

impl CollectorClock for DemoClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_> {
        let wait = self.0.real_duration(deadline - self.0.now());
        Box::pin(tokio::time::sleep(wait))
    }

    fn wall_now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A collected site while the demo runs: its printers, their web server
/// and the collector reading them.
pub struct RunningSite {
    account_name: String,
    printers: Vec<SharedPrinter>,
    server: LedmServer,
    collector: Arc<Collector>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RunningSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSite")
            .field("account_name", &self.account_name)
            .field("printers", &self.printers.len())
            .finish_non_exhaustive()
    }
}

/// What the status line says about the collected sites.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CollectedSummary {
    /// Printers the collectors read in their last poll cycles.
    pub collected: u32,
    /// Jobs the printers logged so far.
    pub jobs: u64,
    /// Collectors whose last delivery failed.
    pub failing: usize,
}

impl RunningSite {
    /// Switch the site's printers on (at `sim_start`, run up to `now`),
    /// serve them over HTTPS and start the collector on `clock`.
    ///
    /// # Errors
    /// A web server that does not start, or a collector state directory
    /// that is unreadable or not enrolled.
    pub async fn start(
        site: &CollectedSite,
        data_dir: &Path,
        hub: &HubAccess,
        seed: u64,
        (sim_start, now): (DateTime<Utc>, DateTime<Utc>),
        clock: &DemoClock,
    ) -> anyhow::Result<Self> {
        // After a restart the printers relive the simulated days so far (the
        // same seed, the same jobs, so the collector's cursors still fit):
        // CPU work of up to seconds, kept off the hub's event loop.
        let plan = site.printers.clone();
        let printers: Vec<SharedPrinter> = tokio::task::spawn_blocking(move || {
            plan.iter()
                .map(|p| {
                    let mut printer = VirtualPrinter::new(
                        p.model,
                        p.serial_number.clone(),
                        derive_seed(seed, &p.serial_number),
                    );
                    printer.boot(sim_start);
                    printer.advance(now);
                    Arc::new(Mutex::new(printer))
                })
                .collect()
        })
        .await
        .context("switching the printers on")?;
        let server = LedmServer::start(
            printers.clone(),
            LedmServerConfig {
                workers: 1,
                ..LedmServerConfig::default()
            },
        )
        .await
        .with_context(|| format!("starting the printers of {}", site.account_name))?;
        let config = collector_config(site, hub, &server)?;
        let dir = site.state_path(data_dir);
        let state = StateDir::open(&dir).with_context(|| format!("opening {}", dir.display()))?;
        follow_the_hub(&state, &hub.base_url)?;
        let collector = Arc::new(
            Collector::new(state, config, Arc::new(clock.clone()))
                .with_context(|| format!("starting the Data Collector of {}", site.account_name))?,
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = collector.clone();
        let task = actix_web::rt::spawn(async move {
            running
                .run(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            account_name: site.account_name.clone(),
            printers,
            server,
            collector,
            stop,
            task,
        })
    }

    /// Let the printers work up to `now`.
    pub fn advance(&self, now: DateTime<Utc>) {
        advance_all(&self.printers, now);
    }

    /// Add this site to `summary`.
    pub fn summarize(&self, summary: &mut CollectedSummary) {
        let status = self.collector.status();
        summary.collected += status.last_poll.map_or(0, |p| p.collected);
        summary.failing += usize::from(status.last_error.is_some());
        summary.jobs += self
            .printers
            .iter()
            .map(|p| ppu_sim::ledm::server::lock(p).job_log().count() as u64)
            .sum::<u64>();
    }

    /// Stop the collector after its current step, send what its spool
    /// holds (what does not get through stays spooled for the next start),
    /// and stop the printers' web server.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        let delivered = tokio::time::timeout(FINAL_DELIVERY, self.collector.deliver(true)).await;
        match delivered {
            Ok(d) if d.error.is_none() => {}
            Ok(d) => tracing::warn!(
                account = %self.account_name,
                error = d.error.as_deref().unwrap_or_default(),
                "the Data Collector keeps unsent data in its spool for the next start"
            ),
            Err(_) => tracing::warn!(
                account = %self.account_name,
                "the Data Collector keeps unsent data in its spool for the next start"
            ),
        }
        self.server.stop().await;
    }
}

/// The demo's hub may listen on another port than at the last start
/// (`--listen 127.0.0.1:0`); the collector is enrolled with the hub's URL,
/// so its credentials follow it (the keys stay valid: same hub, same database).
fn follow_the_hub(state: &StateDir, base_url: &str) -> anyhow::Result<()> {
    let mut credentials = state.credentials()?;
    if credentials.hub_url != base_url {
        credentials.hub_url = base_url.to_owned();
        ppu_collector::files::write_json(&state.credentials_path(), &credentials)
            .with_context(|| format!("updating {}", state.credentials_path().display()))?;
    }
    Ok(())
}

/// The collector's configuration: the site's printers on their loopback
/// ports, their certificate pinned (the server makes a new one each start).
fn collector_config(
    site: &CollectedSite,
    hub: &HubAccess,
    server: &LedmServer,
) -> anyhow::Result<CollectorConfig> {
    let pem = server
        .certificate_pem()
        .context("the printers' web server has no certificate")?;
    let der = rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .context("the printers' certificate is not PEM")?
        .context("reading the printers' certificate")?;
    let fingerprint = hex::encode(sha2::Sha256::digest(der.as_ref()));
    let mut config = CollectorConfig::new(&site.account_name, &hub.base_url);
    config.hub_ca_file = Some(hub.cert.display().to_string());
    config.proxy = ProxyConfig::None;
    config.poll_interval_minutes = POLL_INTERVAL_MINUTES;
    config.job_poll_interval_s = JOB_POLL_INTERVAL_S;
    config.targets = vec![Target {
        address: "127.0.0.1".into(),
        ports: server.endpoints().iter().map(|e| e.addr.port()).collect(),
        scheme: Scheme::LedmHttps,
        tls: Some(PrinterTlsPolicy::Pinned {
            sha256: vec![fingerprint],
        }),
    }];
    config.validate()?;
    Ok(config)
}
