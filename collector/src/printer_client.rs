//! The only way the collector talks to a printer, and it can only read.
//!
//! A [`PrinterClient`] offers two requests and nothing else:
//! - [`PrinterClient::get`]: an HTTP `GET` (LEDM documents, the accounting CSV);
//! - [`PrinterClient::ipp`]: an IPP request whose operation is one of
//!   [`IppRead`]: Get-Printer-Attributes or Get-Jobs. IPP travels as an HTTP
//!   `POST` by definition (RFC 8010); the operation inside is what decides
//!   whether a request reads or writes, and no writing operation can be
//!   expressed here.
//!
//! This is the read-only guarantee of the white paper made structural: a
//! driver cannot change a printer because no type in the crate can build
//! such a request. The read-only tests check it on the wire.
//!
//! Printers are always reached directly (never through the proxy, which is
//! for the hub), with the configured connect and request timeouts, and with
//! the endpoint's certificate policy (see [`crate::tls`]).

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use ipp::prelude::{
    DelimiterTag, IppAttribute, IppRequestResponse, IppValue, IppVersion, Operation,
};
use ppu_protocol::collector_config::{Endpoint, NetworkSettings};

use crate::tls::{PinCheck, PrinterTls, TlsError};

/// The most bytes read from one printer response (an accounting CSV of
/// 10 000 jobs is about 4 MB).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// The user name the collector gives in IPP requests.
pub const IPP_USER: &str = "ppu-collector";

/// Why a printer request failed.
#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    /// Nothing answers at the address: no device there.
    #[error("no answer: {0}")]
    NoAnswer(String),
    /// The device presented a certificate other than the pinned one.
    #[error(
        "certificate changed since first use (pinned sha256 {pinned}, presented {presented}); if the printer was replaced, remove its address from pins.json in the state directory"
    )]
    CertificateChanged {
        /// Pinned fingerprint (hex).
        pinned: String,
        /// Presented fingerprint (hex).
        presented: String,
    },
    /// The TLS handshake failed for another reason.
    #[error("tls handshake failed: {0}")]
    Tls(String),
    /// The device accepted the connection but did not answer in time.
    #[error("no response within {0} s")]
    Timeout(u32),
    /// The device answered with an HTTP error.
    #[error("http {status} for {path}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The path asked for.
        path: String,
    },
    /// The answer is not what the protocol says.
    #[error("{0}")]
    Protocol(String),
    /// The answer is larger than [`MAX_RESPONSE_BYTES`].
    #[error("response larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    /// The TLS configuration could not be built (a CA file, a fingerprint).
    #[error(transparent)]
    Config(#[from] TlsError),
}

impl PrinterError {
    /// Whether the error means "no device at this address" (as opposed to
    /// "a device that could not be read").
    pub fn is_absent(&self) -> bool {
        matches!(self, Self::NoAnswer(_))
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The IPP operations the collector may send: both only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IppRead {
    /// Get-Printer-Attributes with these requested attributes.
    PrinterAttributes(&'static [&'static str]),
    /// Get-Jobs `which-jobs=completed` with these requested attributes.
    CompletedJobs(&'static [&'static str]),
}

impl IppRead {
    /// The IPP operation.
    pub fn operation(self) -> Operation {
        match self {
            Self::PrinterAttributes(_) => Operation::GetPrinterAttributes,
            Self::CompletedJobs(_) => Operation::GetJobs,
        }
    }
}

/// A client for one printer endpoint.
#[derive(Debug)]
pub struct PrinterClient {
    endpoint: Endpoint,
    base: String,
    http: reqwest::Client,
    pin: Option<Arc<PinCheck>>,
    request_timeout_s: u32,
}

impl PrinterClient {
    /// A client for `endpoint`.
    ///
    /// # Errors
    /// When the TLS configuration cannot be built.
    pub fn new(
        endpoint: &Endpoint,
        tls: &PrinterTls,
        network: &NetworkSettings,
    ) -> Result<Self, PrinterError> {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(network.connect_timeout_s.into()))
            .timeout(Duration::from_secs(network.request_timeout_s.into()))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ppu-collector/", env!("CARGO_PKG_VERSION")));
        let mut pin = None;
        if endpoint.scheme.is_tls() {
            let (config, check) = tls.client_config(endpoint)?;
            pin = check;
            builder = builder.use_preconfigured_tls(config);
        } else {
            // Plain HTTP never uses it (redirects are off), but reqwest
            // wants a TLS configuration with an explicit crypto provider.
            builder = builder.use_preconfigured_tls(crate::tls::hub_config(None)?);
        }
        let http = builder
            .build()
            .map_err(|e| PrinterError::Protocol(format!("cannot build http client: {e}")))?;
        let scheme = if endpoint.scheme.is_tls() {
            "https"
        } else {
            "http"
        };
        let host = match endpoint.ip {
            std::net::IpAddr::V4(a) => a.to_string(),
            std::net::IpAddr::V6(a) => format!("[{a}]"),
        };
        Ok(Self {
            endpoint: endpoint.clone(),
            base: format!("{scheme}://{host}:{}", endpoint.port),
            http,
            pin,
            request_timeout_s: network.request_timeout_s,
        })
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `ip:port`.
    pub fn address(&self) -> String {
        self.endpoint.address()
    }

    /// The certificate the device presented (TLS schemes, after a request).
    pub fn presented_fingerprint(&self) -> Option<[u8; 32]> {
        self.pin.as_ref().and_then(|p| p.presented())
    }

    /// Remember the certificate seen on first use, after the device proved
    /// to be a printer worth talking to.
    pub fn commit_pin(&self, tls: &PrinterTls) {
        let (Some(check), Some(store)) = (&self.pin, tls.pins()) else {
            return;
        };
        if let (true, Some(fp)) = (check.is_first_use(), check.presented()) {
            match store.record(&self.address(), fp) {
                Ok(()) => tracing::info!(
                    address = %self.address(),
                    sha256 = %hex::encode(fp),
                    "printer certificate pinned on first use"
                ),
                Err(e) => tracing::error!(
                    address = %self.address(),
                    error = %e,
                    "cannot record printer certificate pin"
                ),
            }
        }
    }

    /// `GET path` (path and query, starting with `/`).
    ///
    /// # Errors
    /// [`PrinterError`]; an HTTP error status is returned as `Ok` with that status.
    pub async fn get(&self, path: &str) -> Result<Response, PrinterError> {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// Send a read-only IPP request to `resource` (e.g. `/ipp/print`) and
    /// parse the answer.
    ///
    /// # Errors
    /// [`PrinterError`], including an IPP error status.
    pub async fn ipp(
        &self,
        resource: &str,
        read: IppRead,
    ) -> Result<IppRequestResponse, PrinterError> {
        let body = self.ipp_request(resource, read)?.to_bytes();
        let req = self
            .http
            .post(format!("{}{resource}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/ipp")
            .body(body.to_vec());
        let resp = self.send(req).await?;
        if resp.status != 200 {
            return Err(PrinterError::Status {
                status: resp.status,
                path: resource.to_owned(),
            });
        }
        let parsed = ipp::parser::IppParser::new(Cursor::new(resp.body))
            .parse()
            .map_err(|e| PrinterError::Protocol(format!("not an ipp response: {e}")))?;
        let status = parsed.header().status_code();
        if !status.is_success() {
            return Err(PrinterError::Protocol(format!(
                "ipp {} failed: {status:?}",
                match read {
                    IppRead::PrinterAttributes(_) => "get-printer-attributes",
                    IppRead::CompletedJobs(_) => "get-jobs",
                }
            )));
        }
        Ok(parsed)
    }

    fn ipp_request(
        &self,
        resource: &str,
        read: IppRead,
    ) -> Result<IppRequestResponse, PrinterError> {
        let bad = |e: ipp::parser::IppParseError| PrinterError::Protocol(e.to_string());
        // The printer-uri is added by hand: the crate's helper would turn
        // `ipps://` into `ipp://`.
        let mut req =
            IppRequestResponse::new(IppVersion::v2_0(), read.operation(), None).map_err(bad)?;
        let scheme = if self.endpoint.scheme.is_tls() {
            "ipps"
        } else {
            "ipp"
        };
        let authority = self.base.split_once("://").map_or("", |(_, a)| a);
        let op = DelimiterTag::OperationAttributes;
        let attrs = req.attributes_mut();
        attrs.add(
            op,
            IppAttribute::with_name(
                "printer-uri",
                IppValue::new_uri(format!("{scheme}://{authority}{resource}")).map_err(bad)?,
            )
            .map_err(bad)?,
        );
        attrs.add(
            op,
            IppAttribute::with_name(
                "requesting-user-name",
                IppValue::new_name_without_language(IPP_USER).map_err(bad)?,
            )
            .map_err(bad)?,
        );
        let requested = match read {
            IppRead::PrinterAttributes(r) => r,
            IppRead::CompletedJobs(r) => {
                attrs.add(
                    op,
                    IppAttribute::with_name(
                        "which-jobs",
                        IppValue::new_keyword("completed").map_err(bad)?,
                    )
                    .map_err(bad)?,
                );
                r
            }
        };
        let keywords = requested
            .iter()
            .map(|k| IppValue::new_keyword(*k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        attrs.add(
            op,
            IppAttribute::with_name("requested-attributes", IppValue::Array(keywords))
                .map_err(bad)?,
        );
        Ok(req)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Response, PrinterError> {
        let mut resp = req.send().await.map_err(|e| self.classify(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.classify(&e))? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(PrinterError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn classify(&self, e: &reqwest::Error) -> PrinterError {
        if let Some((pinned, presented)) = self.pin.as_ref().and_then(|p| p.mismatch()) {
            return PrinterError::CertificateChanged { pinned, presented };
        }
        let detail = error_chain(e);
        let tls_error = has_source::<rustls::Error>(e);
        let handshake_started = self.presented_fingerprint().is_some();
        if tls_error || handshake_started && e.is_connect() {
            return PrinterError::Tls(detail);
        }
        if e.is_connect() {
            return PrinterError::NoAnswer(detail);
        }
        if e.is_timeout() {
            return PrinterError::Timeout(self.request_timeout_s);
        }
        PrinterError::Protocol(detail)
    }
}

/// Whether `e`'s source chain contains an error of type `T`.
fn has_source<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<T>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.get_ref().is_some_and(|inner| inner.is::<T>())
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// An error and its sources, `: `-separated, without repeats.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}
