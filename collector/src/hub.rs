//! The HTTPS client for the hub: enrollment, uploads, configuration.
//!
//! The hub's certificate is always verified (public roots plus an optional
//! CA file, see [`crate::tls::hub_config`]). The proxy is the system's
//! (`HTTPS_PROXY`, `NO_PROXY`, ...), none, or one configured for the
//! collector alone; a connection failure through an explicit proxy is
//! reported as a proxy problem, so an installer sees at once which hop is
//! broken.

use std::path::Path;
use std::time::Duration;

use ppu_protocol::api::{ErrorBody, IngestResponse};
use ppu_protocol::collector_config::{CollectorConfig, ProxyConfig};
use serde::Deserialize;

use crate::printer_client::error_chain;

/// Why a request to the hub failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The proxy could not be reached or refused the tunnel.
    #[error("cannot reach the hub through the proxy {proxy}: {detail}")]
    Proxy {
        /// The proxy (without credentials).
        proxy: String,
        /// What went wrong.
        detail: String,
    },
    /// No connection to the hub (refused, timeout, DNS, TLS).
    #[error("cannot reach the hub at {url}: {detail}")]
    Unreachable {
        /// The hub URL.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The hub answered with an error.
    #[error("the hub answered {status} {code}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The error code of the body (`bad_mac`, `busy`, ...), or `""`.
        code: String,
        /// The message of the body.
        message: String,
        /// `Retry-After`, in seconds.
        retry_after: Option<u64>,
    },
    /// The hub's answer could not be understood.
    #[error("unexpected answer from the hub: {0}")]
    Protocol(String),
    /// The client could not be built (CA file, proxy).
    #[error("{0}")]
    Setup(String),
}

impl HubError {
    /// The error code of a hub error answer.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Status { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status of a hub error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The answer to `POST /api/v1/enroll`.
#[derive(Debug, Clone, Deserialize)]
pub struct Enrollment {
    /// The new collector id.
    pub collector_id: String,
    /// The collector's secret (derive the keys, then forget it).
    pub secret: String,
    /// The site.
    pub site_id: i64,
    /// The site's configuration version.
    #[serde(default)]
    pub config_version: u64,
}

/// The answer to `POST /api/v1/collector/config`.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfigAnswer {
    /// The site's configuration version.
    pub config_version: u64,
    /// The configuration, when one was set.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
}

/// How the hub is reached: everything a client is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSettings {
    /// Base URL.
    pub url: url::Url,
    /// Extra CA file.
    pub ca_file: Option<String>,
    /// Proxy.
    pub proxy: ProxyConfig,
    /// Request timeout in seconds.
    pub timeout_s: u32,
}

impl HubSettings {
    /// The settings of a configuration.
    ///
    /// # Errors
    /// When the hub URL is invalid.
    pub fn of(config: &CollectorConfig) -> Result<Self, HubError> {
        Ok(Self {
            url: config
                .hub_url()
                .map_err(|e| HubError::Setup(e.to_string()))?,
            ca_file: config.hub_ca_file.clone(),
            proxy: config.proxy.clone(),
            timeout_s: config.network.hub_timeout_s,
        })
    }
}

/// A client for one hub.
#[derive(Debug, Clone)]
pub struct HubClient {
    settings: HubSettings,
    http: reqwest::Client,
    proxy: Option<String>,
}

/// The proxy the environment sets for HTTPS, if any (for messages only;
/// reqwest applies it, including `NO_PROXY`).
fn system_proxy() -> Option<String> {
    ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .map(|p| ppu_protocol::collector_config::redact_url(&p))
}

impl HubClient {
    /// A client for the hub of `settings`.
    ///
    /// # Errors
    /// [`HubError::Setup`] when the CA file or the proxy is unusable.
    pub fn new(settings: &HubSettings) -> Result<Self, HubError> {
        let tls = crate::tls::hub_config(settings.ca_file.as_deref().map(Path::new))
            .map_err(|e| HubError::Setup(e.to_string()))?;
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(settings.timeout_s.into()))
            .user_agent(concat!("ppu-collector/", env!("CARGO_PKG_VERSION")));
        let proxy = match &settings.proxy {
            ProxyConfig::System => system_proxy().map(|p| format!("{p} (system settings)")),
            ProxyConfig::None => {
                builder = builder.no_proxy();
                None
            }
            ProxyConfig::Explicit { .. } => {
                let target = settings
                    .proxy
                    .explicit()
                    .map_err(|e| HubError::Setup(e.to_string()))?
                    .ok_or_else(|| HubError::Setup("explicit proxy without url".into()))?;
                let mut p = reqwest::Proxy::all(target.url.as_str())
                    .map_err(|e| HubError::Setup(format!("proxy {}: {e}", target.url)))?;
                if let Some((user, password)) = &target.credentials {
                    p = p.basic_auth(user, password);
                }
                builder = builder.proxy(p);
                Some(target.url.to_string())
            }
        };
        let http = builder
            .build()
            .map_err(|e| HubError::Setup(format!("cannot build the hub client: {e}")))?;
        Ok(Self {
            settings: settings.clone(),
            http,
            proxy,
        })
    }

    /// What the client was built from.
    pub fn settings(&self) -> &HubSettings {
        &self.settings
    }

    fn url(&self, path: &str) -> String {
        let base = self.settings.url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    /// Post an envelope to `path` and decode a 2xx JSON answer.
    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        envelope: Vec<u8>,
    ) -> Result<T, HubError> {
        let resp = self
            .http
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(envelope)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = resp.bytes().await.map_err(|e| self.transport_error(&e))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body)
                .map_err(|e| HubError::Protocol(format!("{path}: {e}")));
        }
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(b) => (b.error.code, b.error.message),
            Err(_) => (
                String::new(),
                String::from_utf8_lossy(&body).chars().take(200).collect(),
            ),
        };
        Err(HubError::Status {
            status,
            code,
            message,
            retry_after,
        })
    }

    fn transport_error(&self, e: &reqwest::Error) -> HubError {
        let detail = error_chain(e);
        match &self.proxy {
            Some(proxy) if e.is_connect() => HubError::Proxy {
                proxy: proxy.clone(),
                detail,
            },
            _ => HubError::Unreachable {
                url: self.settings.url.to_string(),
                detail,
            },
        }
    }

    /// `POST /api/v1/enroll`.
    ///
    /// # Errors
    /// [`HubError`].
    pub async fn enroll(&self, envelope: Vec<u8>) -> Result<Enrollment, HubError> {
        self.post("/api/v1/enroll", envelope).await
    }

    /// `POST /api/v1/ingest`.
    ///
    /// # Errors
    /// [`HubError`].
    pub async fn ingest(&self, envelope: Vec<u8>) -> Result<IngestResponse, HubError> {
        self.post("/api/v1/ingest", envelope).await
    }

    /// `POST /api/v1/collector/config`.
    ///
    /// # Errors
    /// [`HubError`].
    pub async fn config(&self, envelope: Vec<u8>) -> Result<ConfigAnswer, HubError> {
        self.post("/api/v1/collector/config", envelope).await
    }
}
