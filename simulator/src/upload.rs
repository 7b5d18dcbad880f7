//! Talking to the hub's ingest endpoint: TLS client, sealing, answers.
//!
//! This is the only module that touches the envelope format
//! (`ppu_protocol::envelope`). A direct-connected printer seals as sender kind
//! `Printer` with its serial number as sender id; its keys are derived from the
//! UTF-8 bytes of the secret returned at registration, which never travels.
//!
//! The hub's answers are classified as PROTOCOL.md section 7.2 prescribes
//! ([`IngestOutcome`]): retry the *same bytes* on 5xx, 503, 408, 429 and
//! network errors; seal the same payload again (same `batch_id`) on 422
//! `stale_timestamp` and 409 `replayed_nonce`; keep the data and retry slowly
//! on 401 (`unknown_sender`, `bad_mac`: the printer may not be registered
//! yet); anything else in 4xx is a permanent refusal, which the caller keeps
//! in a rejected list and logs loudly.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ppu_protocol::Payload;
use ppu_protocol::api::{ErrorBody, IngestResponse};
use ppu_protocol::envelope::{self, Header, SealError, SenderKeys, SenderKind};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Errors building an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The CA file could not be read.
    #[error("cannot read ca file {path}: {source}")]
    ReadCa {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error("ca file {0} holds no pem certificate")]
    EmptyCa(String),
    /// TLS configuration failed.
    #[error("tls configuration: {0}")]
    Tls(String),
    /// reqwest refused the configuration.
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A rustls client configuration with the ring provider trusting the
/// certificates of `ca` (a PEM file, e.g. the hub's self-signed dev
/// certificate), or the system's roots when `ca` is `None`.
///
/// # Errors
/// When the file cannot be read or holds no certificate.
pub fn tls_config(ca: Option<&Path>) -> Result<rustls::ClientConfig, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let shown = path.display().to_string();
            let pem = std::fs::read(path).map_err(|source| ClientError::ReadCa {
                path: shown.clone(),
                source,
            })?;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .filter_map(Result::ok)
                .collect();
            if certs.is_empty() {
                return Err(ClientError::EmptyCa(shown));
            }
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(ClientError::EmptyCa(shown));
            }
        }
        None => {
            // Errors of individual system certificates are not fatal: use what loads.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ClientError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// An HTTP client for the hub: TLS per [`tls_config`], plain `http://` also
/// works (in-process tests), a request timeout so a hung hub cannot stall a printer forever.
///
/// # Errors
/// See [`tls_config`].
pub fn http_client(ca: Option<&Path>, timeout: Duration) -> Result<reqwest::Client, ClientError> {
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls_config(ca)?)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("ppu-sim/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Seal `payload` as direct-connected printer `serial`, stamped with the wall clock.
///
/// The header timestamp is real time, not simulated time: the hub checks it
/// against its own clock (replay window), while the payload carries the
/// simulated instants.
///
/// # Errors
/// [`SealError`] for an invalid serial or an unencodable payload (bugs).
pub fn seal_printer_payload(
    keys: &SenderKeys,
    serial: &str,
    payload: &Payload,
) -> Result<Vec<u8>, SealError> {
    let header = Header::new(SenderKind::Printer, serial, Utc::now());
    envelope::seal(&header, payload, keys)
}

/// The keys of direct-connected printer `serial` with registration secret `secret`.
pub fn printer_keys(secret: &str, serial: &str) -> SenderKeys {
    SenderKeys::derive(secret.as_bytes(), SenderKind::Printer, serial)
}

/// What the hub said to one upload attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestOutcome {
    /// Stored (or already stored: `duplicate`).
    Delivered(IngestResponse),
    /// Not stored; send the same bytes again later.
    Retry {
        /// HTTP status; `None` for network errors and timeouts.
        status: Option<u16>,
        /// The server's `Retry-After`, when given.
        retry_after: Option<Duration>,
        /// The hub asks for rare retries (401: not registered yet, wrong keys).
        slow: bool,
        /// Error code or description.
        reason: String,
    },
    /// Seal the same payload again (new header) and resend at once.
    Reseal {
        /// The error code (`stale_timestamp`, `replayed_nonce`).
        code: String,
    },
    /// Refused for good: keep the data aside and log it.
    Rejected {
        /// HTTP status.
        status: u16,
        /// Error code and message.
        reason: String,
    },
}

impl IngestOutcome {
    /// Short label for statistics: `delivered`, `retry`, `network`, `reseal`, `rejected`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Delivered(_) => "delivered",
            Self::Retry { status: None, .. } => "network",
            Self::Retry { .. } => "retry",
            Self::Reseal { .. } => "reseal",
            Self::Rejected { .. } => "rejected",
        }
    }
}

/// The hub's ingest endpoint.
#[derive(Debug, Clone)]
pub struct HubClient {
    http: reqwest::Client,
    base_url: String,
}

impl HubClient {
    /// A client for the hub at `base_url` (`https://host:port` or `http://...`),
    /// trusting `ca` for HTTPS (see [`tls_config`]).
    ///
    /// # Errors
    /// See [`http_client`].
    pub fn new(base_url: &str, ca: Option<&Path>) -> Result<Self, ClientError> {
        Ok(Self::with_http(
            base_url,
            http_client(ca, Duration::from_secs(15))?,
        ))
    }

    /// A client reusing an existing reqwest client.
    pub fn with_http(base_url: &str, http: reqwest::Client) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The hub's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The underlying HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `POST {hub}/api/v1/ingest` with `envelope` and classify the answer.
    pub async fn ingest(&self, envelope: &[u8]) -> IngestOutcome {
        let url = format!("{}/api/v1/ingest", self.base_url);
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(envelope.to_vec())
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                return IngestOutcome::Retry {
                    status: None,
                    retry_after: None,
                    slow: false,
                    reason: e.to_string(),
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                // The hub may have stored it; the same bytes are safe to resend.
                return IngestOutcome::Retry {
                    status: Some(status.as_u16()),
                    retry_after,
                    slow: false,
                    reason: format!("reading the answer: {e}"),
                };
            }
        };
        classify(status.as_u16(), retry_after, &body)
    }
}

/// Map an HTTP answer to what the sender does next (PROTOCOL.md 7.2).
pub fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> IngestOutcome {
    if status == 200 {
        return match serde_json::from_slice::<IngestResponse>(body) {
            Ok(answer) => IngestOutcome::Delivered(answer),
            // Stored, but the answer is unreadable: retrying the same bytes
            // gets a readable `duplicate: true` answer without double counting.
            Err(e) => IngestOutcome::Retry {
                status: Some(status),
                retry_after,
                slow: false,
                reason: format!("unreadable 200 answer: {e}"),
            },
        };
    }
    let error = serde_json::from_slice::<ErrorBody>(body).ok();
    let code = error
        .as_ref()
        .map(|e| e.error.code.clone())
        .unwrap_or_default();
    let reason = match &error {
        Some(e) => format!("{}: {}", e.error.code, e.error.message),
        None => format!(
            "http {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ),
    };
    match status {
        422 if code == "stale_timestamp" => IngestOutcome::Reseal { code },
        409 if code == "replayed_nonce" => IngestOutcome::Reseal { code },
        401 => IngestOutcome::Retry {
            status: Some(status),
            retry_after,
            slow: true,
            reason,
        },
        408 | 429 | 500..=599 => IngestOutcome::Retry {
            status: Some(status),
            retry_after,
            slow: false,
            reason,
        },
        _ => IngestOutcome::Rejected { status, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str) -> Vec<u8> {
        format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#).into_bytes()
    }

    #[test]
    fn answers_are_classified_as_the_protocol_says() {
        let ok = br#"{"upload_id":"ab","duplicate":true}"#;
        assert!(matches!(classify(200, None, ok), IngestOutcome::Delivered(r) if r.duplicate));
        assert!(matches!(
            classify(503, Some(Duration::from_secs(2)), &err("busy")),
            IngestOutcome::Retry { retry_after: Some(d), slow: false, .. } if d == Duration::from_secs(2)
        ));
        assert!(matches!(
            classify(502, None, b"gateway"),
            IngestOutcome::Retry { .. }
        ));
        assert!(matches!(
            classify(429, None, b""),
            IngestOutcome::Retry { .. }
        ));
        assert!(matches!(
            classify(408, None, b""),
            IngestOutcome::Retry { .. }
        ));
        assert!(matches!(
            classify(401, None, &err("bad_mac")),
            IngestOutcome::Retry { slow: true, .. }
        ));
        assert!(matches!(
            classify(422, None, &err("stale_timestamp")),
            IngestOutcome::Reseal { .. }
        ));
        assert!(matches!(
            classify(409, None, &err("replayed_nonce")),
            IngestOutcome::Reseal { .. }
        ));
        assert!(matches!(
            classify(400, None, &err("malformed_payload")),
            IngestOutcome::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            classify(413, None, &err("too_large")),
            IngestOutcome::Rejected { .. }
        ));
        assert!(matches!(
            classify(200, None, b"not json"),
            IngestOutcome::Retry { .. }
        ));
    }
}
