//! Test harness: a real hub on port 0 with a fresh database (SQLite file or a
//! new PostgreSQL database), a client that trusts its certificate, and senders
//! that seal real envelopes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ppu_hub::{Application, Settings};
use ppu_protocol::api::IngestResponse;
use ppu_protocol::envelope::{self, Header, SenderKeys, SenderKind};
use ppu_protocol::model::*;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use uuid::Uuid;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Where the test's database lives.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A SQLite file in the test's data directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server (URL of that database).
    Postgres(String),
}

impl Backend {
    /// A fresh PostgreSQL database, or `None` (loudly) when no server answers
    /// outside CI. With `CI=true` a missing server fails the test.
    pub async fn postgres() -> Option<Backend> {
        let base = std::env::var("PPU_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        // Databases of earlier runs (named with their creation time) are dropped after an hour.
        match ppu_actors::store::scratch_postgres_database(&base, "ppu_test").await {
            Ok((url, _)) => Some(Backend::Postgres(url)),
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("PostgreSQL at {base} is required in CI: {e}")
            }
            Err(e) => {
                eprintln!(
                    "\n!!! SKIPPING PostgreSQL test: no server at {base} ({e}); set PPU_TEST_POSTGRES_URL\n"
                );
                None
            }
        }
    }
}

/// The hub's warnings and errors go to the test's captured output, so a
/// failing test shows what the hub logged (`RUST_LOG` overrides the level).
fn init_test_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A running hub.
pub struct TestHub {
    pub port: u16,
    pub metrics_port: Option<u16>,
    pub base: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    pub backend: Backend,
    pub cert: PathBuf,
    handle: actix_web::dev::ServerHandle,
    done: Option<tokio::sync::oneshot::Receiver<()>>,
    _tmp: Arc<tempfile::TempDir>,
}

pub fn settings(data_dir: &Path, backend: &Backend) -> Settings {
    let mut s = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_owned(),
        admin_token: Some(ADMIN_TOKEN.into()),
        workers: Some(2),
        shutdown_timeout_secs: 5,
        ..Settings::default()
    };
    s.metrics.listen = "127.0.0.1:0".into();
    if let Backend::Postgres(url) = backend {
        s.database_url = Some(url.clone());
    }
    s
}

/// A reqwest client that trusts `cert` (the hub's self-signed certificate).
pub fn client_trusting(cert: &Path) -> reqwest::Client {
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
        .build()
        .unwrap()
}

impl TestHub {
    /// Start a hub with default settings on `backend`.
    pub async fn start(backend: Backend) -> TestHub {
        Self::start_with(backend, |_| {}).await
    }

    /// Start a hub, adjusting settings first.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestHub {
        let tmp = Arc::new(tempfile::tempdir().unwrap());
        Self::start_in(tmp, backend, tweak).await
    }

    async fn start_in(
        tmp: Arc<tempfile::TempDir>,
        backend: Backend,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestHub {
        init_test_logs();
        let mut s = settings(tmp.path(), &backend);
        tweak(&mut s);
        let app = Application::build(s).await.expect("hub starts");
        let port = app.port();
        let metrics_port = app.metrics_port();
        let cert = app.tls_cert_path().to_owned();
        let handle = app.handle();
        let (tx, rx) = tokio::sync::oneshot::channel();
        actix_web::rt::spawn(async move {
            app.run_until_stopped().await.expect("hub runs");
            let _ = tx.send(());
        });
        TestHub {
            port,
            metrics_port,
            base: format!("https://localhost:{port}"),
            client: client_trusting(&cert),
            data_dir: tmp.path().to_owned(),
            backend,
            cert,
            handle,
            done: Some(rx),
            _tmp: tmp,
        }
    }

    /// Stop gracefully (drain, snapshots) and start again on the same data.
    pub async fn restart(mut self) -> TestHub {
        self.stop().await;
        let tmp = self._tmp.clone();
        Self::start_in(tmp, self.backend.clone(), |_| {}).await
    }

    /// Graceful stop.
    pub async fn stop(&mut self) {
        self.handle.stop(true).await;
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Post raw envelope bytes.
    pub async fn post_envelope(&self, bytes: Vec<u8>) -> (u16, Option<String>, Value) {
        let r = self
            .client
            .post(self.url("/api/v1/ingest"))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, retry, r.json().await.unwrap_or(Value::Null))
    }

    /// Create a reseller and a site; returns (reseller_id, site_id).
    pub async fn tenant(&self, reseller: &str, account: &str) -> (i64, i64) {
        let (s, r) = self
            .admin_post("/api/v1/resellers", json!({"name": reseller}))
            .await;
        assert_eq!(s, 201, "{r}");
        let rid = r["id"].as_i64().unwrap();
        let (s, site) = self
            .admin_post(
                "/api/v1/sites",
                json!({"reseller_id": rid, "account_name": account}),
            )
            .await;
        assert_eq!(s, 201, "{site}");
        (rid, site["id"].as_i64().unwrap())
    }

    pub async fn collector(&self, site_id: i64) -> TestSender {
        let (s, r) = self
            .admin_post("/api/v1/collectors", json!({"site_id": site_id}))
            .await;
        assert_eq!(s, 201, "{r}");
        TestSender::new(
            SenderKind::Collector,
            r["sender_id"].as_str().unwrap(),
            r["secret"].as_str().unwrap(),
        )
    }

    pub async fn direct_printer(&self, site_id: i64, serial: &str) -> TestSender {
        let (s, r) = self
            .admin_post(
                "/api/v1/printers",
                json!({"site_id": site_id, "serial_number": serial, "direct": true}),
            )
            .await;
        assert_eq!(s, 201, "{r}");
        TestSender::new(
            SenderKind::Printer,
            r["sender_id"].as_str().unwrap(),
            r["secret"].as_str().unwrap(),
        )
    }

    pub async fn printer(&self, serial: &str) -> Value {
        let (s, v) = self.admin_get(&format!("/api/v1/printers/{serial}")).await;
        assert_eq!(s, 200, "{v}");
        v
    }
}

/// A collector or direct printer that seals envelopes.
#[derive(Clone)]
pub struct TestSender {
    pub kind: SenderKind,
    pub id: String,
    pub keys: SenderKeys,
}

impl TestSender {
    pub fn new(kind: SenderKind, id: &str, secret: &str) -> Self {
        Self {
            kind,
            id: id.to_owned(),
            keys: SenderKeys::derive(secret.as_bytes(), kind, id),
        }
    }

    pub fn seal_at(&self, payload: &Payload, at: DateTime<Utc>) -> Vec<u8> {
        let header = Header::new(self.kind, self.id.clone(), at);
        envelope::seal(&header, payload, &self.keys).unwrap()
    }

    pub fn seal(&self, payload: &Payload) -> Vec<u8> {
        self.seal_at(payload, Utc::now())
    }
}

pub fn payload(printers: Vec<PrinterReport>) -> Payload {
    let mut p = Payload::new(
        Uuid::new_v4(),
        "hub-tests/1",
        Utc::now(),
        UploadTrigger::Scheduled,
    );
    p.printers = printers;
    p
}

pub fn print_job(uuid: Uuid, pages: u32, cyan_ul: u64, media_mm2: u64) -> PrintJob {
    PrintJob {
        job: JobIdentity {
            uuid,
            name: format!("drawing-{uuid}.pdf"),
            sequence_number: 1,
            project_id: Some("tower-b".into()),
            application_id: None,
            custom_field: None,
            account_id: Some("dept-7".into()),
            user_name: Some("someone".into()),
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
            print_time_s: 40,
            ink: vec![InkUsage {
                color: InkColor::new("cyan"),
                used_ul: cyan_ul,
            }],
            media_area_mm2: media_mm2,
            media_length_mm: 1189,
            printed_area_mm2: media_mm2 / 10,
            categories: vec![],
            non_white_coverage_bp: 500,
            color_coverage_bp: 100,
        },
    }
}

pub fn counters(pages: u64, ink_ul: u64) -> LifetimeCounters {
    LifetimeCounters {
        cartridge_types: vec![CartridgeTypeUsage {
            product_number: "P2V71A".into(),
            color: InkColor::new("cyan"),
            ink_used_ul: ink_ul,
            hp_ink_used_ul: ink_ul,
            non_hp_ink_used_ul: 0,
            insertions: 2,
        }],
        pages,
        jobs: pages / 2,
        total_ink_used_ul: ink_ul,
        total_media_area_mm2: pages * 1_000_000,
        ..LifetimeCounters::default()
    }
}

/// A printer report with config, counters and `jobs` new print jobs.
pub fn report(serial: &str, jobs: &[Uuid], pages: u64, ink_ul: u64) -> PrinterReport {
    let mut r = PrinterReport::new(serial, Utc::now());
    r.config = Some(PrinterConfig {
        product_number: "2RQ10A".into(),
        product_name: "HP DesignJet T1700".into(),
        serial_number: serial.into(),
        firmware_version: "1.2.3".into(),
    });
    r.status = Some(PrinterStatus::default());
    r.counters = Some(counters(pages, ink_ul));
    r.print_jobs = jobs
        .iter()
        .map(|u| print_job(*u, 2, 10, 1_000_000))
        .collect();
    r
}

/// `IngestResponse` from a 200 body.
pub fn ingest_response(v: &Value) -> IngestResponse {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("not an ingest response: {e}: {v}"))
}

/// Run each named async test fn on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
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
                        super::$name(b).await
                    }
                }
            )*
        }
    };
}

impl TestHub {
    /// A direct connection to the hub's database (for "nothing stored" checks).
    pub async fn db(&self) -> sea_orm::DatabaseConnection {
        let url = match &self.backend {
            Backend::Sqlite => format!(
                "sqlite://{}?mode=rw",
                self.data_dir.join("ppu-hub.db").display()
            ),
            Backend::Postgres(url) => url.clone(),
        };
        Database::connect(&url).await.unwrap()
    }

    /// Rows in `table`.
    pub async fn count(&self, table: &str) -> i64 {
        let db = self.db().await;
        let backend = db.get_database_backend();
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}
