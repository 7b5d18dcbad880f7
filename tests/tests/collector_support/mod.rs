//! Harness of the Data Collector end-to-end tests: a real hub in this
//! process (SQLite, self-signed TLS), enrollment of a real collector state
//! directory through the hub's API, and database checks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ppu_collector::enroll::{EnrollRequest, enroll};
use ppu_collector::state::{Credentials, StateDir};
use ppu_hub::{Application, Settings};
use ppu_protocol::collector_config::{CollectorConfig, ProxyConfig, Target};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use sea_orm::{Database, DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::{Value, json};

/// The admin token of the test hubs.
pub const ADMIN_TOKEN: &str = "collector-e2e-admin-token-0123456789";

/// A hub running in this process (the test's actix `System`).
pub struct Hub {
    /// `https://localhost:PORT`.
    pub base: String,
    /// The port.
    pub port: u16,
    /// The hub's self-signed certificate (the collector's `hub_ca_file`).
    pub cert: PathBuf,
    /// Its data directory.
    pub data: Arc<tempfile::TempDir>,
    /// A client that trusts the hub.
    pub http: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    done: Option<tokio::sync::oneshot::Receiver<()>>,
}

fn client_trusting(cert: &Path) -> reqwest::Client {
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
        .no_proxy()
        .build()
        .unwrap()
}

impl Hub {
    /// A hub on a new data directory and an ephemeral port.
    pub async fn start() -> Hub {
        Self::start_on(Arc::new(tempfile::tempdir().unwrap()), 0, |_| {}).await
    }

    /// A hub on `data` and `port` (0: ephemeral), settings adjusted by `tweak`.
    pub async fn start_on(
        data: Arc<tempfile::TempDir>,
        port: u16,
        tweak: impl FnOnce(&mut Settings),
    ) -> Hub {
        let mut settings = Settings {
            listen: format!("127.0.0.1:{port}").parse().unwrap(),
            data_dir: data.path().to_owned(),
            admin_token: Some(ADMIN_TOKEN.into()),
            workers: Some(2),
            shutdown_timeout_secs: 5,
            ..Settings::default()
        };
        settings.metrics.listen = String::new();
        tweak(&mut settings);
        let app = Application::build(settings).await.expect("hub starts");
        let port = app.port();
        let cert = app.tls_cert_path().to_owned();
        let handle = app.handle();
        let (tx, rx) = tokio::sync::oneshot::channel();
        actix_web::rt::spawn(async move {
            app.run_until_stopped().await.expect("hub runs");
            let _ = tx.send(());
        });
        Hub {
            base: format!("https://localhost:{port}"),
            port,
            http: client_trusting(&cert),
            cert,
            data,
            handle,
            done: Some(rx),
        }
    }

    /// Stop (gracefully) and wait until the port is closed.
    pub async fn stop(&mut self) {
        self.handle.stop(true).await;
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST` an admin route.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// `PUT` an admin route.
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    /// `GET` an admin route.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// A reseller and a site with `account`; the site id.
    pub async fn site(&self, account: &str) -> i64 {
        let (s, r) = self
            .post(
                "/api/v1/resellers",
                json!({"name": format!("reseller of {account}")}),
            )
            .await;
        assert_eq!(s, 201, "{r}");
        let (s, site) = self
            .post(
                "/api/v1/sites",
                json!({"reseller_id": r["id"], "account_name": account}),
            )
            .await;
        assert_eq!(s, 201, "{site}");
        site["id"].as_i64().unwrap()
    }

    /// Enroll a collector for `site`/`account` into `state`, as `ppu-collector enroll` does.
    pub async fn enroll(&self, site: i64, account: &str, state: &StateDir) -> Credentials {
        let (s, v) = self
            .post(&format!("/api/v1/sites/{site}/enrollment-codes"), json!({}))
            .await;
        assert_eq!(s, 201, "{v}");
        enroll(
            state,
            &EnrollRequest {
                hub_url: self.base.clone(),
                account_name: account.to_owned(),
                code: v["code"].as_str().unwrap().to_lowercase(),
                hub_ca_file: Some(self.cert.display().to_string()),
                proxy: ProxyConfig::None,
            },
        )
        .await
        .expect("enrollment")
    }

    /// A collector configuration for this hub.
    pub fn config(&self, account: &str, targets: Vec<Target>) -> CollectorConfig {
        let mut c = CollectorConfig::new(account, &self.base);
        c.hub_ca_file = Some(self.cert.display().to_string());
        c.proxy = ProxyConfig::None;
        c.targets = targets;
        c.network.connect_timeout_s = 2;
        c.network.request_timeout_s = 10;
        c
    }

    /// The printer view (`GET /api/v1/printers/{serial}`).
    pub async fn printer(&self, serial: &str) -> Value {
        let (s, v) = self.get(&format!("/api/v1/printers/{serial}")).await;
        assert_eq!(s, 200, "{serial}: {v}");
        v
    }

    /// The hub's database.
    pub async fn db(&self) -> DatabaseConnection {
        Database::connect(format!(
            "sqlite://{}?mode=rw",
            self.data.path().join("ppu-hub.db").display()
        ))
        .await
        .unwrap()
    }

    /// Every stored job: (uuid, printer serial id, account id), in insertion order.
    pub async fn jobs(&self) -> Vec<ppu_entities::job::Model> {
        ppu_entities::job::Entity::find()
            .order_by_asc(ppu_entities::job::Column::Id)
            .all(&self.db().await)
            .await
            .unwrap()
    }

    /// Every stored upload, in the order the hub stored them.
    pub async fn uploads(&self) -> Vec<ppu_entities::upload::Model> {
        ppu_entities::upload::Entity::find()
            .order_by_asc(ppu_entities::upload::Column::Id)
            .all(&self.db().await)
            .await
            .unwrap()
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `count` consecutive free loopback ports (for a simulated printer range).
pub fn free_port_range(count: u16) -> u16 {
    'search: for _ in 0..200 {
        let base = free_port();
        if base > u16::MAX - count {
            continue;
        }
        let mut held = Vec::new();
        for p in base..base + count {
            match std::net::TcpListener::bind(("127.0.0.1", p)) {
                Ok(l) => held.push(l),
                Err(_) => continue 'search,
            }
        }
        return base;
    }
    panic!("no {count} consecutive free ports");
}
