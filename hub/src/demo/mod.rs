//! `ppu-hub demo`: the hub and a simulated fleet in one process.
//!
//! One command starts the hub (HTTPS on `127.0.0.1:8443`, embedded SQLite in
//! `data/demo`, never the production `data`) and a fleet of virtual printers
//! from the `ppu-sim` crate: two resellers, five customer sites, 25 printers
//! of mixed DesignJet and PageWide XL models, on an accelerated clock (by
//! default one simulated hour per real second). Everything goes through the
//! same front door as real devices:
//! - at three sites the printers are **direct-connected**: registered through
//!   the admin API, they upload sealed envelopes to `/api/v1/ingest`
//!   themselves;
//! - at two sites (one per reseller) a real **Data Collector** reads the
//!   printers' HP LEDM web servers on loopback ports and uploads for them
//!   (`collected.rs`); it was enrolled with a one-time code, and the hub
//!   registers its printers on their first upload.
//!
//! # Starting again
//! The fleet file (`demo-fleet.json` in the data directory, private: it holds
//! the printers' secrets) remembers the provisioned printers and how far the
//! simulation got. On the next start the printers are rebuilt from their seed
//! and replayed, without sending, to where the hub's data ends
//! ([`ppu_sim::direct::DirectFleet::replay`]), so their lifetime counters keep
//! growing instead of starting again at zero, which the hub would rightly
//! record as counter regressions.
//!
//! # Stopping
//! On SIGINT or SIGTERM the collectors finish their step and send their
//! spools, the printers send what they still hold, the outboxes drain, the
//! fleet file is saved, then the hub drains ingest and saves its actors'
//! snapshots; the process exits 0.

mod collected;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Datelike as _, TimeZone as _, Utc, Weekday};
use ppu_sim::clock::{AcceleratedClock, Clock as _};
use ppu_sim::direct::{DirectFleet, FleetOptions};
use ppu_sim::fleet::{self, AdminClient, AdminError, FleetFile};
use ppu_sim::rng::derive_seed;
use ppu_sim::upload::{HubClient, tls_config};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::collected::{CollectedSite, CollectedSummary, DemoClock, RunningSite};
use crate::Application;
use crate::settings::{MetricsConfig, Settings};

/// The demo's data directory unless `--data-dir` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "data/demo";
/// The fleet file in the data directory.
pub const FLEET_FILE: &str = "demo-fleet.json";
/// Marks a data directory as the demo's own, so the demo never writes its
/// simulated resellers into a production database by mistake.
const MARKER: &str = ".ppu-hub-demo";
/// Real time between simulation ticks.
const TICK: Duration = Duration::from_millis(200);
/// Time the printers get to deliver what they hold when the demo stops.
const DRAIN: Duration = Duration::from_secs(20);
/// Version of the fleet file format (2: sites behind a Data Collector).
const FILE_VERSION: u32 = 2;

/// How a site's printers reach the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    /// Each printer uploads itself.
    Direct,
    /// A Data Collector on the site's network reads them and uploads.
    Collector,
}

/// A customer site of the demo: account name, site name, how its printers report.
type SitePlan = (&'static str, &'static str, Connection);

/// Resellers and their customer sites.
const TENANTS: &[(&str, &[SitePlan])] = &[
    (
        "Plotterwerk Partner GmbH",
        &[
            (
                "acme-architekten-berlin",
                "ACME Architekten, Berlin",
                Connection::Direct,
            ),
            (
                "stadtwerke-leipzig",
                "Stadtwerke Leipzig, Planungsamt",
                Connection::Collector,
            ),
            (
                "bauer-ingenieure-hamburg",
                "Bauer Ingenieure, Hamburg",
                Connection::Direct,
            ),
        ],
    ),
    (
        "Wide Format Services Ltd",
        &[
            (
                "northgate-engineering-leeds",
                "Northgate Engineering, Leeds",
                Connection::Direct,
            ),
            (
                "harbour-print-bristol",
                "Harbour Print & Copy, Bristol",
                Connection::Collector,
            ),
        ],
    ),
];
/// Printers per site; models cycle through the whole catalog.
const PRINTERS_PER_SITE: usize = 5;
/// Portal accounts: (email, display name, role, index into [`TENANTS`] for reseller roles).
const USERS: &[(&str, &str, &str, Option<usize>)] = &[
    (
        "admin@ppu-demo.example",
        "Platform operator",
        "platform_admin",
        None,
    ),
    (
        "service@plotterwerk.example",
        "Service desk",
        "reseller_admin",
        Some(0),
    ),
    (
        "billing@wideformat.example",
        "Billing clerk",
        "reseller_user",
        Some(1),
    ),
];

/// Options of `ppu-hub demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Address the hub listens on (port 0 picks a free port; the banner shows it).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Data directory of the demo: SQLite database, certificate, admin token, fleet file.
    /// It must be empty or the demo's own.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Simulated seconds per real second (3600: one simulated hour per second).
    #[arg(long, default_value_t = 3600.0)]
    pub speed: f64,
    /// Seed of a new fleet (serial numbers, jobs, alerts); a saved fleet keeps its own.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Real seconds between status lines.
    #[arg(long, default_value_t = 5)]
    pub status_secs: u64,
    /// Delete the demo's data directory first and start with a new fleet.
    #[arg(long)]
    pub reset: bool,
}

impl DemoArgs {
    fn validate(&self) -> anyhow::Result<()> {
        if !(self.speed.is_finite() && self.speed > 0.0 && self.speed <= 86_400.0) {
            bail!(
                "--speed must be above 0 and at most 86400 (one simulated day per second), not {}",
                self.speed
            );
        }
        if self.status_secs == 0 {
            bail!("--status-secs must be at least 1");
        }
        Ok(())
    }

    /// The hub's settings: defaults with the demo's address and directory.
    ///
    /// Deliberately not [`Settings::load`]: `DATABASE_URL`, `PPU_DATA_DIR` and
    /// a settings file may point at a production hub, and the demo must only
    /// ever write into its own embedded SQLite database.
    fn settings(&self) -> Settings {
        Settings {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            // An open `curl -N .../alerts/stream` must not hold Ctrl-C for the default 30 s.
            shutdown_timeout_secs: 5,
            // No second listener on the fixed metrics port: it would collide with a
            // `ppu-hub serve` on the same machine and with demos started side by side.
            metrics: MetricsConfig {
                listen: String::new(),
                ..MetricsConfig::default()
            },
            ..Settings::default()
        }
    }
}

/// A reseller of the demo fleet.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DemoReseller {
    id: Value,
    name: String,
}

/// A portal account of the demo (the password is generated, kept in the fleet file).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DemoUser {
    email: String,
    password: String,
    /// What the account may see, for the banner.
    scope: String,
}

/// The fleet file: what was provisioned and how far the simulation got.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DemoFleet {
    version: u32,
    /// Seed of the devices (serial numbers, jobs).
    seed: u64,
    /// Simulated instant the printers were first switched on.
    sim_start: DateTime<Utc>,
    /// Everything the printers produced up to this simulated instant reached the hub.
    delivered_until: DateTime<Utc>,
    /// Simulated instants at which a run stopped cleanly after the printers
    /// had sent what they held (replayed on the next start).
    stops: Vec<DateTime<Utc>>,
    /// Runs started so far; seeds each run's batch ids.
    runs: u64,
    resellers: Vec<DemoReseller>,
    /// One fleet file per site of direct-connected printers, with their secrets.
    sites: Vec<FleetFile>,
    /// The sites behind a Data Collector.
    collected: Vec<CollectedSite>,
    /// Portal accounts.
    #[serde(default)]
    users: Vec<DemoUser>,
}

impl DemoFleet {
    fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let fleet: Self = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a demo fleet file", path.display()))?;
        if fleet.version != FILE_VERSION {
            bail!(
                "{} has format version {}, this ppu-hub writes {FILE_VERSION}; start over with --reset",
                path.display(),
                fleet.version
            );
        }
        Ok(fleet)
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        // The file holds the printers' shared secrets: owner-only, written atomically.
        crate::files::write_private(path, serde_json::to_string_pretty(self)?.as_bytes())
    }

    /// The direct-connected printers.
    fn printers(&self) -> impl Iterator<Item = &fleet::FleetPrinter> {
        self.sites.iter().flat_map(|s| s.printers.iter())
    }

    /// Every printer's serial number and model, direct or collected.
    fn all_printers(&self) -> impl Iterator<Item = (&str, ppu_sim::ModelId)> {
        self.printers()
            .map(|p| (p.serial_number.as_str(), p.model))
            .chain(
                self.collected
                    .iter()
                    .flat_map(|s| s.printers.iter())
                    .map(|p| (p.serial_number.as_str(), p.model)),
            )
    }
}

/// Run the demo until SIGINT or SIGTERM. Must run inside an actix `System`.
///
/// # Errors
/// Invalid options, a data directory that is not the demo's, a hub that does
/// not start, or provisioning that fails.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    args.validate()?;
    // Installed first, so that Ctrl-C during start-up also ends in a clean stop.
    let shutdown = shutdown_signal()?;
    tokio::pin!(shutdown);
    prepare_data_dir(&args.data_dir, args.reset)?;

    let app = Application::build(args.settings()).await?;
    let port = app.port();
    let cert = app.tls_cert_path().to_owned();
    let handle = app.handle();
    let server = actix_web::rt::spawn(app.run_until_stopped());

    // Whatever happens to the fleet, the hub is stopped gracefully below.
    let result = simulate(&args, port, &cert, &mut shutdown).await;

    println!("stopping the hub: finishing in-flight uploads, saving snapshots ...");
    handle.stop(true).await;
    server
        .await
        .context("the hub task failed")?
        .context("the hub failed")?;
    if result.is_ok() {
        println!("demo stopped cleanly");
    }
    result
}

/// Provision or load the fleet, print the banner, run the fleet until `shutdown`.
async fn simulate(
    args: &DemoArgs,
    port: u16,
    cert: &Path,
    shutdown: &mut Pin<&mut impl Future<Output = ()>>,
) -> anyhow::Result<()> {
    let hub = HubAccess::new(args, port, cert)?;
    let started = tokio::select! {
        r = start_fleet(args, &hub) => r?,
        () = shutdown.as_mut() => return Ok(()),
    };
    let (mut demo, mut fleet) = started;
    print_banner(args, &hub, &demo);
    run_fleet(args, &hub, &mut demo, &mut fleet, shutdown).await
}

/// Refuse a directory that holds anything but the demo's own data; with
/// `reset`, delete the demo's directory first.
fn prepare_data_dir(dir: &Path, reset: bool) -> anyhow::Result<()> {
    let is_demo = dir.join(MARKER).exists();
    let is_empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    if !is_demo && !is_empty {
        bail!(
            "refusing to run the demo in {}: it holds data the demo did not create \
             (use an empty directory, e.g. the default --data-dir {DEFAULT_DATA_DIR})",
            dir.display()
        );
    }
    if reset && is_demo {
        std::fs::remove_dir_all(dir).with_context(|| format!("deleting {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "data of `ppu-hub demo`; `ppu-hub demo --reset` deletes this directory\n",
    )
    .with_context(|| format!("writing {}", dir.join(MARKER).display()))?;
    Ok(())
}

/// How the demo reaches its own hub: the base URL users see, and clients
/// that trust the hub's certificate.
#[derive(Debug)]
struct HubAccess {
    /// `https://localhost:PORT`: the self-signed certificate is for `localhost`.
    base_url: String,
    cert: PathBuf,
    token: String,
    token_path: PathBuf,
    admin: AdminClient,
    ingest: HubClient,
    http: reqwest::Client,
}

impl HubAccess {
    fn new(args: &DemoArgs, port: u16, cert: &Path) -> anyhow::Result<Self> {
        let token_path = args.data_dir.join("admin-token");
        let token = std::fs::read_to_string(&token_path)
            .with_context(|| format!("reading {}", token_path.display()))?
            .trim()
            .to_owned();
        // The certificate names `localhost`; resolving it to the listen address
        // keeps TLS verification on whatever address the hub was bound to.
        let ip = match args.listen.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config(Some(cert))?)
            .resolve("localhost", SocketAddr::new(ip, port))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("ppu-hub-demo/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the demo's http client")?;
        let base_url = format!("https://localhost:{port}");
        Ok(Self {
            admin: AdminClient::new(&base_url, &token, http.clone()),
            ingest: HubClient::with_http(&base_url, http.clone()),
            base_url,
            cert: cert.to_owned(),
            token,
            token_path,
            http,
        })
    }

    /// `GET` an admin route; `None` on any failure (used for display and checks only).
    async fn get(&self, path: &str) -> Option<(u16, Value)> {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.unwrap_or(Value::Null)))
    }
}

/// Load the saved fleet (when it still matches the hub's database) or
/// provision a new one, and build the simulated printers, replayed to where
/// the hub's data ends.
async fn start_fleet(args: &DemoArgs, hub: &HubAccess) -> anyhow::Result<(DemoFleet, DirectFleet)> {
    let path = args.data_dir.join(FLEET_FILE);
    let saved = if path.exists() {
        Some(DemoFleet::load(&path)?)
    } else {
        None
    };
    let saved = match saved {
        Some(demo) if fleet_is_registered(hub, &demo).await => Some(demo),
        Some(_) => {
            // E.g. the database was deleted but the fleet file was not.
            tracing::warn!(path = %path.display(), "the saved fleet is not registered in this hub, provisioning a new one");
            None
        }
        None => None,
    };
    let mut demo = match saved {
        Some(demo) => demo,
        None => {
            println!(
                "provisioning {} resellers, {} sites, {} printers, enrolling {} Data Collectors ...",
                TENANTS.len(),
                site_count(),
                site_count() * PRINTERS_PER_SITE,
                collector_site_count()
            );
            provision(hub, &args.data_dir, args.seed).await?
        }
    };
    if demo.users.is_empty() {
        demo.users = create_users(hub, &demo.resellers).await;
    }
    demo.runs += 1;
    demo.save(&path)?;

    let options = FleetOptions {
        run_seed: demo.seed,
        ..FleetOptions::default()
    };
    let mut fleet =
        DirectFleet::from_fleet_files(&demo.sites, hub.ingest.clone(), demo.sim_start, &options);
    if demo.runs > 1 {
        let span = demo.delivered_until - demo.sim_start;
        println!(
            "replaying {} simulated days of {} printers to where the hub's data ends ...",
            span.num_days(),
            fleet.printers().count()
        );
        let (stops, until) = (demo.stops.clone(), demo.delivered_until);
        let batch_seed = derive_seed(demo.seed, &format!("demo run {}", demo.runs));
        // Replaying is CPU work of up to seconds; keep it off the hub's event loop.
        fleet = tokio::task::spawn_blocking(move || {
            fleet.replay(&stops, until, batch_seed);
            fleet
        })
        .await
        .context("replaying the fleet")?;
    }
    Ok((demo, fleet))
}

/// Create the portal accounts with generated passwords. An account that
/// cannot be created (e.g. it exists, its password lost with an old fleet
/// file) is left out with a warning: the admin token still works.
async fn create_users(hub: &HubAccess, resellers: &[DemoReseller]) -> Vec<DemoUser> {
    let mut users = Vec::new();
    for (email, name, role, tenant) in USERS {
        let reseller = tenant.and_then(|i| resellers.get(i));
        let password = crate::files::random_secret(12);
        let body = serde_json::json!({
            "email": email,
            "name": name,
            "password": password,
            "role": role,
            "reseller_id": reseller.map(|r| r.id.clone()),
        });
        let answer = hub
            .http
            .post(format!("{}/api/v1/users", hub.base_url))
            .bearer_auth(&hub.token)
            .json(&body)
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => users.push(DemoUser {
                email: (*email).to_owned(),
                password,
                scope: match reseller {
                    Some(r) => format!("{} of {}", role.replace('_', " "), r.name),
                    None => "platform admin: every reseller".to_owned(),
                },
            }),
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                tracing::warn!(%email, %status, answer = %text, "cannot create the demo portal account");
            }
            Err(e) => tracing::warn!(%email, error = %e, "cannot create the demo portal account"),
        }
    }
    users
}

fn site_count() -> usize {
    TENANTS.iter().map(|(_, sites)| sites.len()).sum()
}

fn collector_site_count() -> usize {
    TENANTS
        .iter()
        .flat_map(|(_, sites)| sites.iter())
        .filter(|(_, _, c)| *c == Connection::Collector)
        .count()
}

/// Whether the hub knows the saved fleet's first printer.
async fn fleet_is_registered(hub: &HubAccess, demo: &DemoFleet) -> bool {
    let Some(first) = demo.printers().next() else {
        return false;
    };
    // Only a clear "not found" means another database: a printer actor that is
    // still starting (503) is no reason to provision a second fleet.
    !matches!(
        hub.get(&format!("/api/v1/printers/{}", first.serial_number))
            .await,
        Some((404, _))
    )
}

/// Create the resellers, sites and printers. When a name or serial number is
/// taken (a fleet file lost after provisioning), try again with new names and
/// serial numbers; what the failed attempt created stays, unused.
async fn provision(hub: &HubAccess, data_dir: &Path, seed: u64) -> anyhow::Result<DemoFleet> {
    const ATTEMPTS: u64 = 5;
    let mut attempt = 0;
    loop {
        let seed = seed.wrapping_add(attempt * 1_000_003);
        let suffix = if attempt == 0 {
            String::new()
        } else {
            format!(" #{}", attempt + 1)
        };
        match provision_once(hub, data_dir, seed, &suffix).await {
            Ok(demo) => return Ok(demo),
            Err(collected::ProvisionError::Admin(AdminError::Status {
                status: 409, body, ..
            })) if attempt + 1 < ATTEMPTS => {
                tracing::warn!(%body, "a demo name is taken, provisioning with new names");
                attempt += 1;
            }
            Err(e) => return Err(e).context("provisioning the demo fleet"),
        }
    }
}

async fn provision_once(
    hub: &HubAccess,
    data_dir: &Path,
    seed: u64,
    suffix: &str,
) -> Result<DemoFleet, collected::ProvisionError> {
    let admin = &hub.admin;
    let mut plan = fleet::plan(site_count() * PRINTERS_PER_SITE, seed, &[]).into_iter();
    let mut resellers = Vec::new();
    let mut sites = Vec::new();
    let mut collected = Vec::new();
    for (reseller, tenant_sites) in TENANTS {
        let name = format!("{reseller}{suffix}");
        let reseller_id = admin.create_reseller(&name).await?;
        resellers.push(DemoReseller {
            id: reseller_id.clone(),
            name,
        });
        for (account, site_name, connection) in *tenant_sites {
            let account = if suffix.is_empty() {
                (*account).to_owned()
            } else {
                format!("{account}-{seed}")
            };
            let printers: Vec<_> = plan.by_ref().take(PRINTERS_PER_SITE).collect();
            match connection {
                Connection::Direct => sites.push(
                    fleet::provision_site(
                        admin,
                        &reseller_id,
                        &account,
                        site_name,
                        &printers,
                        seed,
                    )
                    .await?,
                ),
                Connection::Collector => collected.push(
                    collected::provision(
                        admin,
                        hub,
                        data_dir,
                        &reseller_id,
                        (&account, site_name),
                        &printers,
                    )
                    .await?,
                ),
            }
        }
    }
    let sim_start = workday_morning(Utc::now());
    Ok(DemoFleet {
        version: FILE_VERSION,
        seed,
        sim_start,
        delivered_until: sim_start,
        stops: Vec::new(),
        runs: 0,
        resellers,
        sites,
        collected,
        users: Vec::new(),
    })
}

/// 08:00 UTC of the latest working day at or before `now`: simulated offices
/// are busy from the first second, so jobs show up at once.
fn workday_morning(now: DateTime<Utc>) -> DateTime<Utc> {
    let mut day = now.date_naive();
    let at_eight =
        |d: chrono::NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(8, 0, 0).unwrap_or_default());
    if at_eight(day) > now {
        day = day.pred_opt().unwrap_or(day);
    }
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        day = day.pred_opt().unwrap_or(day);
    }
    at_eight(day)
}

fn print_banner(args: &DemoArgs, hub: &HubAccess, demo: &DemoFleet) {
    let direct = demo.printers().count();
    let collected: usize = demo.collected.iter().map(|s| s.printers.len()).sum();
    let models: std::collections::BTreeSet<String> =
        demo.all_printers().map(|(_, m)| m.to_string()).collect();
    let base = &hub.base_url;
    let ca = hub.cert.display();
    let token_file = hub.token_path.display();
    let serial = demo
        .printers()
        .next()
        .map_or("SERIAL", |p| p.serial_number.as_str());
    let site = demo
        .sites
        .first()
        .map_or(Value::from(1), |s| s.site_id.clone());
    let reseller = demo
        .resellers
        .first()
        .map_or(Value::from(1), |r| r.id.clone());
    println!();
    println!("ppu-hub demo is running");
    println!(
        "  fleet:  {} resellers, {} sites, {} printers ({} models): {direct} direct-connected, \
         {collected} behind {} Data Collectors; seed {}",
        demo.resellers.len(),
        demo.sites.len() + demo.collected.len(),
        direct + collected,
        models.len(),
        demo.collected.len(),
        demo.seed
    );
    println!(
        "  clock:  {}x (one simulated hour every {:.1} s), simulated time starts at {}",
        args.speed,
        3600.0 / args.speed,
        demo.delivered_until.format("%Y-%m-%d %H:%M UTC")
    );
    println!("  portal: {base}/portal/  (self-signed certificate {ca})");
    for (i, u) in demo.users.iter().enumerate() {
        let label = if i == 0 { "login:" } else { "" };
        println!("  {label:<7} {} / {}  ({})", u.email, u.password, u.scope);
    }
    println!(
        "  API:    {base}/api/v1  with admin token {}  (also in {token_file})",
        hub.token
    );
    println!("  data:   {} (SQLite)", args.data_dir.display());
    println!();
    println!("Explore (in another terminal):");
    println!("  TOKEN=$(cat {token_file})");
    let curl = format!("curl -s --cacert {ca} -H \"Authorization: Bearer $TOKEN\"");
    println!("  {curl} {base}/api/v1/printers/{serial}");
    if let Some(p) = demo.collected.first().and_then(|s| s.printers.first()) {
        println!(
            "  {curl} {base}/api/v1/printers/{}    (read by a Data Collector)",
            p.serial_number
        );
    }
    println!("  {curl} {base}/api/v1/sites/{site}");
    println!("  {curl} {base}/api/v1/resellers/{reseller}");
    println!("  {curl} '{base}/api/v1/alerts?state=open'");
    println!("  {curl} -N {base}/api/v1/alerts/stream");
    println!();
    println!("Sites and printers:");
    let reseller_name = |id: &Value| {
        demo.resellers
            .iter()
            .find(|r| r.id == *id)
            .map_or("?", |r| r.name.as_str())
    };
    let direct = demo.sites.iter().map(|s| {
        let printers: Vec<_> = s
            .printers
            .iter()
            .map(|p| (&p.serial_number, p.model))
            .collect();
        (
            &s.site_id,
            &s.account_name,
            &s.reseller_id,
            "direct-connected",
            printers,
        )
    });
    let collected = demo.collected.iter().map(|s| {
        let printers: Vec<_> = s
            .printers
            .iter()
            .map(|p| (&p.serial_number, p.model))
            .collect();
        (
            &s.site_id,
            &s.account_name,
            &s.reseller_id,
            "behind a Data Collector",
            printers,
        )
    });
    for (site_id, account, reseller, how, printers) in direct.chain(collected) {
        let printers: Vec<String> = printers
            .into_iter()
            .map(|(serial, model)| format!("{serial} {model}"))
            .collect();
        println!(
            "  site {site_id} {account} ({}), {how}: {}",
            reseller_name(reseller),
            printers.join(", ")
        );
    }
    println!("Ctrl-C stops the demo; `ppu-hub demo` again continues where it stopped.");
    println!();
}

/// Tick the fleet against the accelerated clock until `shutdown`, print a
/// status line every `--status-secs`, then deliver what the printers hold.
async fn run_fleet(
    args: &DemoArgs,
    hub: &HubAccess,
    demo: &mut DemoFleet,
    fleet: &mut DirectFleet,
    shutdown: &mut Pin<&mut impl Future<Output = ()>>,
) -> anyhow::Result<()> {
    let path = args.data_dir.join(FLEET_FILE);
    let clock = AcceleratedClock::new(fleet.now(), args.speed);
    let mut collected = Vec::with_capacity(demo.collected.len());
    for site in &demo.collected {
        let started = RunningSite::start(
            site,
            &args.data_dir,
            hub,
            demo.seed,
            (demo.sim_start, fleet.now()),
            &DemoClock(clock.clone()),
        )
        .await;
        match started {
            Ok(running) => collected.push(running),
            Err(e) => {
                for running in collected {
                    running.stop().await;
                }
                return Err(e);
            }
        }
    }
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let status_every = Duration::from_secs(args.status_secs);
    let mut next_status = tokio::time::Instant::now() + status_every;
    loop {
        tokio::select! {
            () = shutdown.as_mut() => break,
            _ = tick.tick() => {}
        }
        let now = clock.now();
        for site in &collected {
            site.advance(now);
        }
        fleet.tick(now).await;
        if fleet.queued() == 0 {
            demo.delivered_until = fleet.now();
        }
        if tokio::time::Instant::now() >= next_status {
            next_status += status_every;
            print_status(hub, demo, fleet, &collected).await;
            // Saved as it goes, so that even after a crash the next start replays
            // no further than what reached the hub.
            if let Err(e) = demo.save(&path) {
                tracing::warn!(error = %e, "cannot save the fleet file");
            }
        }
    }

    println!("stopping the Data Collectors and the printers: sending what they hold ...");
    fleet.upload_pending();
    let stop_collectors =
        futures_util::future::join_all(collected.into_iter().map(RunningSite::stop));
    let (left, _) = tokio::join!(fleet.drain(DRAIN), stop_collectors);
    if left == 0 {
        demo.stops.push(fleet.now());
        demo.delivered_until = fleet.now();
    } else {
        // Not recorded as a stop: the next start replays to the last point
        // everything had arrived and sends the rest again (counted once by job UUID).
        tracing::warn!(
            queued = left,
            "stopping with uploads the hub has not confirmed"
        );
    }
    demo.save(&path)?;
    print_status(hub, demo, fleet, &[]).await;
    let rejected: usize = fleet.printers().map(|p| p.rejected().len()).sum();
    if rejected > 0 {
        tracing::error!(
            rejected,
            "the hub refused uploads of the demo fleet for good"
        );
    }
    Ok(())
}

async fn print_status(
    hub: &HubAccess,
    demo: &DemoFleet,
    fleet: &DirectFleet,
    collected: &[RunningSite],
) {
    let s = fleet.summary();
    let day = (s.simulated_until - demo.sim_start).num_days() + 1;
    let alerts = match hub.get("/api/v1/alerts?state=open&limit=1000").await {
        Some((200, v)) => v["alerts"]
            .as_array()
            .map_or_else(|| "?".to_owned(), |a| a.len().to_string()),
        _ => "?".to_owned(),
    };
    let mut c = CollectedSummary::default();
    for site in collected {
        site.summarize(&mut c);
    }
    let collectors = if collected.is_empty() {
        String::new()
    } else {
        let failing = if c.failing == 0 {
            String::new()
        } else {
            format!(", {} cannot reach the hub", c.failing)
        };
        format!(
            " · collectors: {} printers read, {} jobs logged{failing}",
            c.collected, c.jobs
        )
    };
    println!(
        "[{} · day {day}] direct: uploads {} sent ({} alert), {} queued, {} retried, jobs {} stored this run, {} generated in all{collectors} · open alerts {alerts}",
        s.simulated_until.format("%Y-%m-%d %H:%M"),
        s.uploads.delivered,
        s.uploads.alert_uploads,
        s.queued,
        s.uploads.retries,
        s.uploads.jobs_accepted,
        s.jobs_generated,
    );
}

/// Logs to stderr at `warn` unless `RUST_LOG` says otherwise: the terminal
/// belongs to the banner and the status lines, and the hub's request log at
/// `info` would bury them.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when
/// this is called, not when the future is first polled.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt =
            signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let mut terminate =
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulation_starts_on_a_working_morning() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // Wednesday afternoon: that morning.
        assert_eq!(
            workday_morning(at("2026-03-04T15:30:00Z")),
            at("2026-03-04T08:00:00Z")
        );
        // Wednesday before eight: Tuesday.
        assert_eq!(
            workday_morning(at("2026-03-04T06:00:00Z")),
            at("2026-03-03T08:00:00Z")
        );
        // Sunday and Monday at dawn: Friday.
        assert_eq!(
            workday_morning(at("2026-03-08T12:00:00Z")),
            at("2026-03-06T08:00:00Z")
        );
        assert_eq!(
            workday_morning(at("2026-03-09T07:59:00Z")),
            at("2026-03-06T08:00:00Z")
        );
    }

    #[test]
    fn the_demo_refuses_a_directory_it_did_not_create() {
        let tmp = tempfile::tempdir().unwrap();
        let prod = tmp.path().join("data");
        std::fs::create_dir_all(&prod).unwrap();
        std::fs::write(prod.join("ppu-hub.db"), b"production").unwrap();
        let err = prepare_data_dir(&prod, true).unwrap_err().to_string();
        assert!(err.contains("refusing"), "{err}");
        assert!(
            prod.join("ppu-hub.db").exists(),
            "--reset must not delete it"
        );

        let demo = tmp.path().join("demo");
        prepare_data_dir(&demo, false).unwrap();
        std::fs::write(demo.join(FLEET_FILE), b"{}").unwrap();
        prepare_data_dir(&demo, false).unwrap();
        assert!(
            demo.join(FLEET_FILE).exists(),
            "a second start keeps the fleet"
        );
        prepare_data_dir(&demo, true).unwrap();
        assert!(!demo.join(FLEET_FILE).exists(), "--reset starts over");
        assert!(demo.join(MARKER).exists());
    }
}
