//! Settings: defaults < file < environment < command line.
//!
//! With no configuration at all the hub serves HTTPS on 127.0.0.1:8443 with a
//! self-signed certificate and embedded SQLite, both kept in `./data`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use ppu_actors::ActorSettings;
use serde::Deserialize;

/// Everything the hub can be configured with.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTPS server listens on.
    pub listen: SocketAddr,
    /// Directory for the SQLite database, the generated certificate and the admin token.
    pub data_dir: PathBuf,
    /// Database URL; default: SQLite file `ppu-hub.db` in `data_dir`.
    pub database_url: Option<String>,
    /// PEM certificate chain; default: a self-signed certificate generated in `data_dir`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key matching `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Admin token for the provisioning API; default: generated once into `data_dir/admin-token`.
    pub admin_token: Option<String>,
    /// Envelopes whose timestamp is further than this from the hub's clock are refused.
    pub timestamp_window_secs: u64,
    /// Largest envelope accepted on the wire, bytes.
    pub max_envelope_bytes: usize,
    /// Largest decompressed payload accepted, bytes.
    pub max_decompressed_bytes: usize,
    /// HTTP worker threads (default: one per core).
    pub workers: Option<usize>,
    /// Seconds given to in-flight requests on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// Actor capacities and timings.
    pub actors: ActorConfig,
    /// Prometheus metrics.
    pub metrics: MetricsConfig,
}

/// The `[metrics]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Separate HTTPS listener for `/metrics` (operators only); empty disables it.
    pub listen: String,
    /// When set, `/metrics` is also served on the main listener to requests
    /// bearing this token.
    pub token: Option<String>,
    /// Export per-printer consumable gauges (cardinality grows with the fleet).
    pub per_printer: bool,
    /// Seconds between refreshes of the fleet gauges (printers reporting, open alerts).
    pub fleet_refresh_secs: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9464".into(),
            token: None,
            per_printer: false,
            fleet_refresh_secs: 15,
        }
    }
}

impl MetricsConfig {
    /// The separate listener's address, if enabled.
    pub fn listen_addr(&self) -> Result<Option<SocketAddr>, SettingsError> {
        if self.listen.trim().is_empty() {
            return Ok(None);
        }
        self.listen
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| SettingsError::Invalid {
                name: "metrics.listen",
                message: format!("{e}"),
            })
    }
}

/// The `[actors]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActorConfig {
    /// Uploads waiting for the writer; beyond it ingest answers 503.
    pub ingest_queue: usize,
    /// Uploads per group commit at most.
    pub max_batch: usize,
    /// Printer actor mailbox capacity.
    pub printer_mailbox: usize,
    /// Site and reseller actor mailbox capacity.
    pub aggregate_mailbox: usize,
    /// Seconds between snapshots of a changed actor.
    pub snapshot_interval_secs: u64,
    /// Seconds of idleness before an actor is evicted.
    pub idle_ttl_secs: u64,
    /// Milliseconds between checks for printers that stopped reporting.
    pub sweep_interval_ms: u64,
}

impl Default for ActorConfig {
    fn default() -> Self {
        let d = ActorSettings::default();
        Self {
            ingest_queue: d.ingest_queue,
            max_batch: d.max_batch,
            printer_mailbox: d.printer_mailbox,
            aggregate_mailbox: d.aggregate_mailbox,
            snapshot_interval_secs: d.snapshot_interval.as_secs(),
            idle_ttl_secs: d.idle_ttl.as_secs(),
            sweep_interval_ms: u64::try_from(d.sweep_interval.as_millis()).unwrap_or(60_000),
        }
    }
}

impl ActorConfig {
    /// As the actors crate wants them.
    pub fn to_actor_settings(&self) -> ActorSettings {
        ActorSettings {
            ingest_queue: self.ingest_queue,
            max_batch: self.max_batch,
            printer_mailbox: self.printer_mailbox,
            aggregate_mailbox: self.aggregate_mailbox,
            snapshot_interval: Duration::from_secs(self.snapshot_interval_secs.max(1)),
            idle_ttl: Duration::from_secs(self.idle_ttl_secs.max(1)),
            sweep_interval: Duration::from_millis(self.sweep_interval_ms.max(10)),
            ..ActorSettings::default()
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            tls_cert: None,
            tls_key: None,
            admin_token: None,
            timestamp_window_secs: 15 * 60,
            max_envelope_bytes: ppu_protocol::envelope::DEFAULT_MAX_ENVELOPE_BYTES,
            max_decompressed_bytes: ppu_protocol::envelope::DEFAULT_MAX_DECOMPRESSED_BYTES,
            workers: None,
            shutdown_timeout_secs: 30,
            log_format: "text".into(),
            actors: ActorConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

/// Command-line (and environment) overrides; each wins over the file.
#[derive(Debug, Clone, Default, Args)]
pub struct SettingsArgs {
    /// TOML settings file (keys as in Settings; see README).
    #[arg(long, short = 'c', env = "PPU_CONFIG")]
    pub config: Option<PathBuf>,
    /// Listen address, e.g. 0.0.0.0:8443.
    #[arg(long, env = "PPU_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Data directory (SQLite file, generated certificate, admin token).
    #[arg(long, env = "PPU_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://FILE?mode=rwc or postgres://USER@HOST/DB. A
    /// PostgreSQL server on loopback with no `sslmode` is reached without TLS;
    /// for a remote one add `?sslmode=verify-full`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// PEM certificate chain for HTTPS.
    #[arg(long, env = "PPU_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, env = "PPU_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Admin token for the provisioning API (prefer the environment over the command line).
    #[arg(long, env = "PPU_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Allowed clock difference for envelope timestamps, seconds.
    #[arg(long, env = "PPU_TIMESTAMP_WINDOW_SECS")]
    pub timestamp_window_secs: Option<u64>,
    /// HTTP worker threads.
    #[arg(long, env = "PPU_WORKERS")]
    pub workers: Option<usize>,
    /// Log format: text or json.
    #[arg(long, env = "PPU_LOG_FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// Separate HTTPS listener for /metrics (empty string disables it).
    #[arg(long, env = "PPU_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("invalid settings file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid setting {name}: {message}")]
    Invalid {
        /// Setting name.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Settings {
    /// Defaults, then the file (if any), then environment and command line.
    pub fn load(args: &SettingsArgs) -> Result<Self, SettingsError> {
        let mut s = match &args.config {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        if let Some(v) = args.listen {
            s.listen = v;
        }
        if let Some(v) = &args.data_dir {
            s.data_dir.clone_from(v);
        }
        if let Some(v) = &args.database_url {
            s.database_url = Some(v.clone());
        }
        if let Some(v) = &args.tls_cert {
            s.tls_cert = Some(v.clone());
        }
        if let Some(v) = &args.tls_key {
            s.tls_key = Some(v.clone());
        }
        if let Some(v) = &args.admin_token {
            s.admin_token = Some(v.clone());
        }
        if let Some(v) = args.timestamp_window_secs {
            s.timestamp_window_secs = v;
        }
        if let Some(v) = args.workers {
            s.workers = Some(v);
        }
        if let Some(v) = &args.log_format {
            s.log_format.clone_from(v);
        }
        if let Some(v) = &args.metrics_listen {
            s.metrics.listen.clone_from(v);
        }
        s.validate()?;
        Ok(s)
    }

    /// Read a TOML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| SettingsError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Check ranges.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |name, message: &str| {
            Err(SettingsError::Invalid {
                name,
                message: message.to_owned(),
            })
        };
        if self.timestamp_window_secs == 0 {
            return invalid("timestamp_window_secs", "must be at least 1");
        }
        if self.max_envelope_bytes < 1024 {
            return invalid("max_envelope_bytes", "must be at least 1024");
        }
        if self.max_decompressed_bytes < self.max_envelope_bytes {
            return invalid(
                "max_decompressed_bytes",
                "must be at least max_envelope_bytes",
            );
        }
        if self.actors.ingest_queue == 0 || self.actors.max_batch == 0 {
            return invalid("actors.ingest_queue/max_batch", "must be at least 1");
        }
        if self.actors.printer_mailbox == 0 || self.actors.aggregate_mailbox == 0 {
            return invalid("actors.*_mailbox", "must be at least 1");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return invalid("tls_cert/tls_key", "set both or neither");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return invalid("log_format", "must be text or json");
        }
        self.metrics.listen_addr()?;
        if let Some(t) = &self.metrics.token
            && t.len() < 16
        {
            return invalid("metrics.token", "must have at least 16 characters");
        }
        if let Some(t) = &self.admin_token
            && t.len() < 16
        {
            return invalid("admin_token", "must have at least 16 characters");
        }
        Ok(())
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("ppu-hub.db").display()
            )
        })
    }

    /// Limits for the envelope decoder.
    pub fn limits(&self) -> ppu_protocol::envelope::Limits {
        ppu_protocol::envelope::Limits {
            max_envelope_bytes: self.max_envelope_bytes,
            max_decompressed_bytes: self.max_decompressed_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_arguments_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\ntimestamp_window_secs = 60\n[actors]\nmax_batch = 8\n",
        )
        .unwrap();
        let args = SettingsArgs {
            config: Some(path),
            timestamp_window_secs: Some(120),
            ..SettingsArgs::default()
        };
        let s = Settings::load(&args).unwrap();
        assert_eq!(s.listen.port(), 9000, "file over default");
        assert_eq!(s.timestamp_window_secs, 120, "argument over file");
        assert_eq!(s.actors.max_batch, 8);
        assert_eq!(s.actors.ingest_queue, ActorConfig::default().ingest_queue);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, "lissten = \"x\"\n").unwrap();
        let err = Settings::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("lissten"), "{err}");
        let args = SettingsArgs {
            timestamp_window_secs: Some(0),
            ..SettingsArgs::default()
        };
        let err = Settings::load(&args).unwrap_err().to_string();
        assert!(err.contains("timestamp_window_secs"), "{err}");
    }

    #[test]
    fn no_configuration_means_sqlite_in_data() {
        let s = Settings::load(&SettingsArgs::default()).unwrap();
        assert_eq!(s.listen.port(), 8443);
        assert!(s.database_url().starts_with("sqlite://data/ppu-hub.db"));
    }
}
