//! Shared harness of the end-to-end tests: an in-process hub on port 0 with a
//! fresh database (a SQLite file in a temporary directory, or a new
//! PostgreSQL database), clients that trust its certificate, and direct
//! database access for checks the API does not expose.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use ppu_hub::settings::MetricsConfig;
use ppu_hub::{Application, Settings};
use ppu_sim::fleet::AdminClient;
use ppu_sim::upload::{HubClient, http_client};
use sea_orm::{Database, DatabaseConnection};
use serde_json::Value;

/// The admin token of every test hub.
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdef";

/// Where a test hub keeps its data.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A SQLite file in the hub's temporary data directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server (the URL of that database).
    Postgres(String),
}

impl Backend {
    /// A fresh PostgreSQL database on `PPU_TEST_POSTGRES_URL` (default
    /// `postgres://postgres@127.0.0.1:5432/test`), or `None` with a loud
    /// message when no server answers. With `CI=true` a missing server fails.
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

/// A hub running in this process (the test's actix `System`).
pub struct TestHub {
    /// `https://localhost:PORT`.
    pub base: String,
    /// A client that trusts the hub's self-signed certificate.
    pub http: reqwest::Client,
    pub backend: Backend,
    pub data_dir: PathBuf,
    handle: actix_web::dev::ServerHandle,
    done: Option<tokio::sync::oneshot::Receiver<()>>,
    _tmp: tempfile::TempDir,
}

impl TestHub {
    /// Start a hub on `backend` with a new temporary data directory.
    pub async fn start(backend: Backend) -> TestHub {
        let tmp = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: tmp.path().to_owned(),
            admin_token: Some(ADMIN_TOKEN.into()),
            workers: Some(2),
            shutdown_timeout_secs: 5,
            // Tests run side by side: no listener on the fixed metrics port.
            metrics: MetricsConfig {
                listen: String::new(),
                ..MetricsConfig::default()
            },
            ..Settings::default()
        };
        if let Backend::Postgres(url) = &backend {
            settings.database_url = Some(url.clone());
        }
        let app = Application::build(settings).await.expect("hub starts");
        let base = format!("https://localhost:{}", app.port());
        let http = http_client(Some(app.tls_cert_path()), Duration::from_secs(30)).unwrap();
        let handle = app.handle();
        let (tx, rx) = tokio::sync::oneshot::channel();
        actix_web::rt::spawn(async move {
            app.run_until_stopped().await.expect("hub runs");
            let _ = tx.send(());
        });
        TestHub {
            base,
            http,
            backend,
            data_dir: tmp.path().to_owned(),
            handle,
            done: Some(rx),
            _tmp: tmp,
        }
    }

    /// The provisioning API as the simulator uses it.
    pub fn admin(&self) -> AdminClient {
        AdminClient::new(&self.base, ADMIN_TOKEN, self.http.clone())
    }

    /// The ingest endpoint as the simulator uses it.
    pub fn ingest(&self) -> HubClient {
        HubClient::with_http(&self.base, self.http.clone())
    }

    /// `GET` an admin route: status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `GET` an admin route that must answer 200.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// `GET` an admin route until `done` holds for its body or `within` has
    /// passed; returns the last body either way, for the caller to assert on.
    /// Actors fold an upload in just after the hub answered it, so a view read
    /// right after the last upload may still be a moment behind.
    pub async fn get_until(
        &self,
        path: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (status, body) = self.get(path).await;
            if (status == 200 && done(&body)) || tokio::time::Instant::now() >= deadline {
                assert_eq!(status, 200, "GET {path}: {body}");
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A connection to the hub's database, for what the API does not show.
    pub async fn db(&self) -> DatabaseConnection {
        let url = match &self.backend {
            Backend::Sqlite => format!(
                "sqlite://{}?mode=rw",
                self.data_dir.join("ppu-hub.db").display()
            ),
            Backend::Postgres(url) => url.clone(),
        };
        Database::connect(&url).await.unwrap()
    }

    /// Graceful stop: drain ingest, save snapshots.
    pub async fn stop(&mut self) {
        self.handle.stop(true).await;
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

/// Run each named `async fn(Backend)` on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_rt::test]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[actix_rt::test]
                async fn $name() {
                    if let Some(b) = $crate::support::Backend::postgres().await {
                        super::$name(b).await
                    }
                }
            )*
        }
    };
}
