//! TLS for both sides: the hub (always verified) and the printers (pinned).
//!
//! **The hub** is verified against the public roots (`webpki-roots`) plus
//! an optional extra CA file. There is no code path that skips hub
//! verification.
//!
//! **Printers** ship self-signed certificates that nobody renews, so the
//! default policy is trust on first use: a [`PinVerifier`] accepts the
//! first certificate an address presents, the collector records its
//! SHA-256 fingerprint in the state directory once the device answered, and
//! from then on only that certificate is accepted. Pinned certificates are
//! compared byte for byte, so their validity dates and names do not matter
//! (they are routinely expired and name `localhost`); the handshake
//! signature is still verified against the pinned key. A target may
//! instead pin explicit fingerprints, or verify against a CA file or the
//! public roots (then names and dates count, as usual).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ppu_protocol::collector_config::{Endpoint, PrinterTlsPolicy};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest as _, Sha256};

use crate::state::PinStore;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A CA file could not be read.
    #[error("cannot read CA file {path}: {detail}")]
    CaFile {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// A pinned fingerprint does not decode.
    #[error(transparent)]
    Config(#[from] ppu_protocol::collector_config::ConfigError),
    /// rustls refused the configuration.
    #[error("tls configuration: {0}")]
    Rustls(String),
}

/// The crypto provider used everywhere (ring, like the hub).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// SHA-256 of a DER certificate.
pub fn fingerprint(cert: &[u8]) -> [u8; 32] {
    Sha256::digest(cert).into()
}

/// Read every certificate of a PEM file (at least one).
///
/// # Errors
/// [`TlsError::CaFile`].
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |detail: String| TlsError::CaFile {
        path: path.display().to_string(),
        detail,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no certificate in the file".into()));
    }
    Ok(certs)
}

fn roots_with(extra: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = extra {
        for cert in read_pem_certs(path)? {
            roots.add(cert).map_err(|e| TlsError::CaFile {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
        }
    }
    Ok(roots)
}

/// The TLS configuration for the hub: public roots plus `extra_ca`.
///
/// # Errors
/// When the CA file cannot be read.
pub fn hub_config(extra_ca: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    let roots = roots_with(extra_ca)?;
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// What a [`PinVerifier`] expects and what it saw.
#[derive(Debug, Default)]
pub struct PinCheck {
    /// Accepted fingerprints; empty on first use.
    expected: Vec<[u8; 32]>,
    /// The certificate presented in the last handshake.
    seen: Mutex<Option<[u8; 32]>>,
}

impl PinCheck {
    /// The fingerprint the device presented, if a handshake got that far.
    pub fn presented(&self) -> Option<[u8; 32]> {
        *self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the device presented a certificate that is not pinned.
    pub fn mismatch(&self) -> Option<(String, String)> {
        let presented = self.presented()?;
        (!self.expected.is_empty() && !self.expected.contains(&presented))
            .then(|| (hex::encode(self.expected[0]), hex::encode(presented)))
    }

    /// Whether this is a first use (nothing pinned yet).
    pub fn is_first_use(&self) -> bool {
        self.expected.is_empty()
    }
}

/// A verifier that accepts exactly the pinned certificates (or, on first
/// use, whatever is presented) and still checks the handshake signature.
#[derive(Debug)]
pub struct PinVerifier {
    check: Arc<PinCheck>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity);
        *self
            .check
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(presented);
        if self.check.expected.is_empty() || self.check.expected.contains(&presented) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate {} is not the pinned one",
                hex::encode(presented)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Builds the TLS configuration for each printer endpoint.
#[derive(Debug)]
pub struct PrinterTls {
    provider: Arc<CryptoProvider>,
    pins: Option<Arc<PinStore>>,
    ca_roots: Mutex<HashMap<String, Arc<RootCertStore>>>,
}

impl PrinterTls {
    /// Printer TLS that records trust-on-first-use pins in `pins`; without
    /// a store (`probe`), first use is accepted but nothing is remembered.
    pub fn new(pins: Option<Arc<PinStore>>) -> Self {
        Self {
            provider: provider(),
            pins,
            ca_roots: Mutex::new(HashMap::new()),
        }
    }

    /// The pin store, if any.
    pub fn pins(&self) -> Option<&Arc<PinStore>> {
        self.pins.as_ref()
    }

    /// The configuration for `endpoint`, and the pin check when it is pinned.
    ///
    /// # Errors
    /// When a CA file cannot be read or a fingerprint does not decode.
    pub fn client_config(
        &self,
        endpoint: &Endpoint,
    ) -> Result<(rustls::ClientConfig, Option<Arc<PinCheck>>), TlsError> {
        let builder = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let pinned = match &endpoint.tls {
            PrinterTlsPolicy::Tofu => Some(
                self.pins
                    .as_ref()
                    .and_then(|p| p.get(&endpoint.address()))
                    .into_iter()
                    .collect(),
            ),
            PrinterTlsPolicy::Pinned { .. } => Some(endpoint.tls.pins()?),
            PrinterTlsPolicy::CaFile { .. } | PrinterTlsPolicy::System => None,
        };
        if let Some(expected) = pinned {
            let check = Arc::new(PinCheck {
                expected,
                seen: Mutex::new(None),
            });
            let config = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinVerifier {
                    check: check.clone(),
                    provider: self.provider.clone(),
                }))
                .with_no_client_auth();
            return Ok((config, Some(check)));
        }
        let roots = match &endpoint.tls {
            PrinterTlsPolicy::CaFile { path } => self.ca_roots(path)?,
            _ => Arc::new(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }),
        };
        Ok((
            builder.with_root_certificates(roots).with_no_client_auth(),
            None,
        ))
    }

    fn ca_roots(&self, path: &str) -> Result<Arc<RootCertStore>, TlsError> {
        let mut cache = self
            .ca_roots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(r) = cache.get(path) {
            return Ok(r.clone());
        }
        let mut roots = RootCertStore::empty();
        for cert in read_pem_certs(Path::new(path))? {
            roots.add(cert).map_err(|e| TlsError::CaFile {
                path: path.to_owned(),
                detail: e.to_string(),
            })?;
        }
        let roots = Arc::new(roots);
        cache.insert(path.to_owned(), roots.clone());
        Ok(roots)
    }
}
