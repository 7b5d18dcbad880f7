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
        let request = self
            .http
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(envelope);
        // A byte body is reusable: the copy shares it, it does not copy it.
        let again = request.try_clone();
        let resp = match (request.send().await, again) {
            (Ok(resp), _) => resp,
            // A kept-alive connection the hub (or a proxy) closed while it was
            // idle fails the request that was just written to it, before the
            // hub read it. Try once more at once, on a fresh connection:
            // repeating any of these POSTs is safe (the hub answers a repeated
            // envelope as a duplicate, or refuses a reused nonce, which the
            // caller seals again). Timeouts and refused connections are not
            // repeated here: they are the backoff's to handle.
            (Err(e), Some(again)) if !e.is_timeout() && !e.is_connect() => {
                tracing::debug!(path, error = %error_chain(&e), "request failed on a kept-alive connection; sending once more");
                again.send().await.map_err(|e| self.transport_error(&e))?
            }
            (Err(e), _) => return Err(self.transport_error(&e)),
        };
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// Read one HTTP/1.1 request (head and `content-length` body); `false`
    /// when the peer closed the connection first.
    async fn read_request(sock: &mut TcpStream) -> bool {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        true
    }

    /// A client for a plain-HTTP test server on `addr`.
    fn plain_client(addr: std::net::SocketAddr) -> HubClient {
        HubClient::new(&HubSettings {
            url: format!("http://{addr}").parse().unwrap(),
            ca_file: None,
            proxy: ProxyConfig::None,
            timeout_s: 10,
        })
        .unwrap()
    }

    async fn answer(sock: &mut TcpStream) {
        let body = r#"{"config_version":3}"#;
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(resp.as_bytes()).await.unwrap();
    }

    #[tokio::test]
    async fn a_request_lost_on_a_closed_kept_alive_connection_is_sent_again() {
        // A hub that answers the first request of its first connection, keeps
        // it open, reads the second request on it and closes the connection
        // without answering (the race with an idle timeout, made certain);
        // every later connection is answered.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let seen = Arc::clone(&seen);
                let drop_second = std::mem::take(&mut first);
                tokio::spawn(async move {
                    let mut n = 0;
                    while read_request(&mut sock).await {
                        seen.fetch_add(1, Ordering::SeqCst);
                        n += 1;
                        if drop_second && n == 2 {
                            return; // closes the socket unanswered
                        }
                        answer(&mut sock).await;
                    }
                });
            }
        });
        let client = plain_client(addr);
        let first: ConfigAnswer = client
            .post("/api/v1/collector/config", vec![1; 64])
            .await
            .unwrap();
        assert_eq!(first.config_version, 3);
        let second: ConfigAnswer = client
            .post("/api/v1/collector/config", vec![2; 64])
            .await
            .expect("sent again on a fresh connection");
        assert_eq!(second.config_version, 3);
        // The lost request and the one sent again both reached the hub.
        assert_eq!(requests.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_repeated() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = plain_client(addr);
        let err = client.ingest(vec![0; 16]).await.unwrap_err();
        assert!(matches!(err, HubError::Unreachable { .. }), "{err:?}");
    }
}
