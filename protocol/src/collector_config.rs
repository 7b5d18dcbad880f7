//! The Data Collector's configuration, shared by the hub and the collector.
//!
//! The same serde type is read by the collector from its TOML file and
//! travels as JSON between the hub's API (where resellers edit it) and a
//! running collector (which fetches it after an upload when the version
//! changed). [`CollectorConfig::validate`] is the one place that decides
//! what is acceptable, so the hub refuses exactly what a collector would
//! refuse.
//!
//! ```toml
//! account_name = "acme-berlin"
//! hub_url = "https://ppu.example.com"
//! poll_interval_minutes = 180      # default; under 30 is refused
//! job_poll_interval_s = 30         # default; see below
//!
//! [[targets]]
//! address = "10.0.0.10-10.0.0.60"  # single IP, range or CIDR block
//! scheme = "ledm-https"            # default; or ipps, ipp, ledm-http
//!
//! [[targets]]
//! address = "10.0.1.0/28"
//! scheme = "ipps"
//! ports = [631]
//! tls = { mode = "pinned", sha256 = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"] }
//!
//! [proxy]
//! mode = "explicit"                # or "system" (default: HTTPS_PROXY / NO_PROXY) or "none"
//! url = "http://proxy.example.com:3128"
//! username = "collector"
//! password = "secret"
//! ```
//!
//! # Choices
//! - **Intervals.** The white paper fixes the collection interval: every 180
//!   minutes by default, every 30 minutes at the fastest. Jobs are read on
//!   their own, shorter schedule (`job_poll_interval_s`, default 30 s)
//!   because devices keep a bounded job history: `ippeveprinter` purges a
//!   completed job 60 s after completion, so a 30 s job poll sees every job
//!   at least once even when one poll is late by up to 30 s. Jobs read
//!   between two collection polls are kept on disk and sent with the next
//!   upload; job polls never talk to the hub.
//! - **Hub TLS is always verified.** There is deliberately no option to turn
//!   it off; `hub_ca_file` only *adds* a trust anchor (a private CA).
//! - **Printer TLS.** Printers ship self-signed certificates, so the default
//!   is trust on first use: the first certificate seen at an address is
//!   pinned and any later change is refused. A target may instead pin
//!   fingerprints, trust a CA file, or use the system's roots. There is no
//!   "accept anything" mode.
//! - **Size limits.** A target expands to at most
//!   [`MAX_ADDRESSES_PER_TARGET`] addresses (a /20) and the whole
//!   configuration to at most [`MAX_ENDPOINTS`] address/port pairs, so a typo
//!   such as `10.0.0.0/8` is refused instead of scanning 16 million hosts.
//! - **What the hub may change.** A configuration fetched from the hub
//!   replaces everything except `account_name`, `hub_url` and `hub_ca_file`
//!   ([`CollectorConfig::merged_with_remote`]): the hub cannot redirect a
//!   collector to another server or change which certificates it trusts
//!   for the hub.
//!
//! Nothing here does I/O: file paths are only carried, never opened.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// The default and recommended collection interval, in minutes (white paper).
pub const DEFAULT_POLL_INTERVAL_MINUTES: u32 = 180;
/// The fastest collection interval allowed, in minutes (white paper).
pub const MIN_POLL_INTERVAL_MINUTES: u32 = 30;
/// The slowest collection interval allowed, in minutes (one week).
pub const MAX_POLL_INTERVAL_MINUTES: u32 = 7 * 24 * 60;
/// The default job poll interval in seconds: half of `ippeveprinter`'s
/// 60 s retention of completed jobs.
pub const DEFAULT_JOB_POLL_INTERVAL_S: u32 = 30;
/// The fastest job poll interval allowed, in seconds.
pub const MIN_JOB_POLL_INTERVAL_S: u32 = 5;
/// The most addresses one target may expand to (an IPv4 /20).
pub const MAX_ADDRESSES_PER_TARGET: u128 = 4096;
/// The most address/port pairs a whole configuration may expand to.
pub const MAX_ENDPOINTS: u128 = 16_384;
/// The smallest spool limit allowed, in bytes.
pub const MIN_SPOOL_BYTES: u64 = 1024 * 1024;
/// The default spool limit, in bytes (months of uploads at the fastest interval).
pub const DEFAULT_SPOOL_BYTES: u64 = 256 * 1024 * 1024;
/// The longest account name, in bytes: it is the sender id of an
/// enrollment envelope, which holds at most 128 bytes.
pub const MAX_ACCOUNT_NAME_BYTES: usize = 128;

/// The printer families named in the white paper, the default of
/// [`CollectorConfig::supported_models`].
pub const DEFAULT_SUPPORTED_MODELS: &[&str] = &[
    "DesignJet T920",
    "DesignJet T1500",
    "DesignJet T2500",
    "DesignJet T3500",
    "DesignJet T7100",
    "DesignJet T7200",
    "DesignJet Z6200",
    "DesignJet Z6600",
    "DesignJet Z6800",
    "PageWide XL 4000",
    "PageWide XL 4500",
    "PageWide XL 5000",
    "PageWide XL 8000",
];

/// The whole configuration of one Data Collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    /// The customer account (site) the collector is installed for; decides
    /// which reseller sees the data.
    pub account_name: String,
    /// Base URL of the hub, `https://` only.
    pub hub_url: String,
    /// A PEM file with extra CA certificates trusted for the hub, in addition
    /// to the public roots (a path on the collector's machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_ca_file: Option<String>,
    /// Where the printers are.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Minutes between two collection polls (and uploads).
    #[serde(default = "default_poll_interval")]
    pub poll_interval_minutes: u32,
    /// Seconds between two reads of the printers' job lists (see the module docs).
    #[serde(default = "default_job_poll_interval")]
    pub job_poll_interval_s: u32,
    /// Concurrency and timeouts.
    #[serde(default)]
    pub network: NetworkSettings,
    /// How to reach the hub through a proxy. Printers are always reached directly.
    #[serde(default)]
    pub proxy: ProxyConfig,
    /// How printers' TLS certificates are checked, unless a target says otherwise.
    #[serde(default)]
    pub printer_tls: PrinterTlsPolicy,
    /// Models that are collected; others are reported as skipped. An entry
    /// matches a device whose make and model contains its words in order,
    /// case-insensitively (see [`model_matches`]).
    #[serde(default = "default_supported_models")]
    pub supported_models: Vec<String>,
    /// The on-disk spool for uploads the hub has not acknowledged yet.
    #[serde(default)]
    pub spool: SpoolSettings,
}

fn default_poll_interval() -> u32 {
    DEFAULT_POLL_INTERVAL_MINUTES
}

fn default_job_poll_interval() -> u32 {
    DEFAULT_JOB_POLL_INTERVAL_S
}

fn default_supported_models() -> Vec<String> {
    DEFAULT_SUPPORTED_MODELS
        .iter()
        .map(|m| (*m).to_owned())
        .collect()
}

/// One set of addresses to look for printers at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// A single address (`10.0.0.5`), an inclusive range
    /// (`10.0.0.10-10.0.0.60`) or a CIDR block (`10.0.1.0/24`; for IPv4
    /// blocks of 4 or more addresses the network and broadcast addresses are
    /// left out). IPv6 works the same way.
    pub address: String,
    /// Ports to try at every address; empty means the scheme's default port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// How to talk to the printers.
    #[serde(default)]
    pub scheme: Scheme,
    /// Certificate policy for these addresses, overriding
    /// [`CollectorConfig::printer_tls`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<PrinterTlsPolicy>,
}

impl Target {
    /// A target for `address` with the default scheme and port.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            ports: Vec::new(),
            scheme: Scheme::default(),
            tls: None,
        }
    }

    /// The parsed addresses.
    ///
    /// # Errors
    /// [`ConfigError::MalformedAddress`] or [`ConfigError::RangeTooLarge`].
    pub fn range(&self) -> Result<AddressRange, ConfigError> {
        let range = AddressRange::parse(&self.address)?;
        if range.len() > MAX_ADDRESSES_PER_TARGET {
            return Err(ConfigError::RangeTooLarge {
                address: self.address.clone(),
                count: range.len(),
                max: MAX_ADDRESSES_PER_TARGET,
            });
        }
        Ok(range)
    }

    /// The ports to try: the configured ones, or the scheme's default.
    pub fn effective_ports(&self) -> Vec<u16> {
        if self.ports.is_empty() {
            vec![self.scheme.default_port()]
        } else {
            let mut ports = self.ports.clone();
            ports.sort_unstable();
            ports.dedup();
            ports
        }
    }
}

/// How the collector talks to a printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Scheme {
    /// HP LEDM XML and the job accounting CSV over HTTPS (port 443).
    #[default]
    #[serde(rename = "ledm-https")]
    LedmHttps,
    /// HP LEDM over plain HTTP (port 80), for old firmware; an explicit choice.
    #[serde(rename = "ledm-http")]
    LedmHttp,
    /// IPP over TLS (port 631).
    #[serde(rename = "ipps")]
    Ipps,
    /// IPP over plain HTTP (port 631), an explicit choice.
    #[serde(rename = "ipp")]
    Ipp,
}

impl Scheme {
    /// Every scheme.
    pub const ALL: [Scheme; 4] = [Self::LedmHttps, Self::LedmHttp, Self::Ipps, Self::Ipp];

    /// The identifier used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LedmHttps => "ledm-https",
            Self::LedmHttp => "ledm-http",
            Self::Ipps => "ipps",
            Self::Ipp => "ipp",
        }
    }

    /// The port used when a target lists none.
    pub fn default_port(self) -> u16 {
        match self {
            Self::LedmHttps => 443,
            Self::LedmHttp => 80,
            Self::Ipps | Self::Ipp => 631,
        }
    }

    /// Whether the scheme uses TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Self::LedmHttps | Self::Ipps)
    }

    /// Whether this is an IPP scheme (otherwise LEDM).
    pub fn is_ipp(self) -> bool {
        matches!(self, Self::Ipps | Self::Ipp)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Concurrency and timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    /// Printers talked to at the same time (discovery and polling).
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Seconds to wait for a printer to accept a connection.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: u32,
    /// Seconds one request to a printer may take.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_s: u32,
    /// Seconds one request to the hub may take.
    #[serde(default = "default_hub_timeout")]
    pub hub_timeout_s: u32,
}

fn default_concurrency() -> u32 {
    32
}
fn default_connect_timeout() -> u32 {
    3
}
fn default_request_timeout() -> u32 {
    20
}
fn default_hub_timeout() -> u32 {
    60
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            concurrency: default_concurrency(),
            connect_timeout_s: default_connect_timeout(),
            request_timeout_s: default_request_timeout(),
            hub_timeout_s: default_hub_timeout(),
        }
    }
}

/// How the hub is reached.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProxyConfig {
    /// The system's proxy settings: `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY`
    /// and `NO_PROXY` from the environment.
    #[default]
    System,
    /// Connect directly, ignoring the environment.
    None,
    /// A proxy for the collector alone.
    Explicit {
        /// `http://host:port` or `https://host:port`.
        url: String,
        /// User name for basic authentication.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        /// Password for basic authentication.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
}

impl fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::System => f.write_str("System"),
            Self::None => f.write_str("None"),
            Self::Explicit {
                url,
                username,
                password,
            } => f
                .debug_struct("Explicit")
                .field("url", &redact_url(url))
                .field("username", username)
                .field("password", &password.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

/// `url` with any password replaced, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            // Setting a password only fails for URLs that cannot have one.
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A validated explicit proxy.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyTarget {
    /// The proxy URL without credentials.
    pub url: url::Url,
    /// Basic authentication, if any: user name and password.
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for ProxyTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyTarget")
            .field("url", &self.url.as_str())
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(u, _)| (u, "<redacted>")),
            )
            .finish()
    }
}

impl ProxyConfig {
    /// The explicit proxy, parsed; `None` for the other modes.
    ///
    /// # Errors
    /// [`ConfigError::BadProxyUrl`] when the URL or the credentials are unusable.
    pub fn explicit(&self) -> Result<Option<ProxyTarget>, ConfigError> {
        let Self::Explicit {
            url,
            username,
            password,
        } = self
        else {
            return Ok(None);
        };
        let bad = |reason: &str| ConfigError::BadProxyUrl {
            url: redact_url(url),
            reason: reason.to_owned(),
        };
        let mut parsed = url::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
            return Err(bad("a proxy url has no path or query"));
        }
        let in_url = (!parsed.username().is_empty()).then(|| {
            (
                parsed.username().to_owned(),
                parsed.password().unwrap_or("").to_owned(),
            )
        });
        let in_fields = match (username, password) {
            (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
            (None, Some(_)) => return Err(bad("a password needs a username")),
            (None, None) => None,
        };
        let credentials = match (in_url, in_fields) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "give the credentials either in the url or as username/password, not both",
                ));
            }
            (a, b) => a.or(b),
        };
        // Credentials are kept apart so that the URL can be logged.
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        Ok(Some(ProxyTarget {
            url: parsed,
            credentials,
        }))
    }
}

/// How a printer's TLS certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum PrinterTlsPolicy {
    /// Trust on first use: pin the certificate first seen at an address and
    /// refuse any other one later.
    #[default]
    Tofu,
    /// Accept only certificates with one of these SHA-256 fingerprints (of
    /// the DER certificate; hex, colons allowed).
    Pinned {
        /// The fingerprints.
        sha256: Vec<String>,
    },
    /// Verify against the CA certificates in this PEM file (path on the
    /// collector's machine), including the name.
    CaFile {
        /// The PEM file.
        path: String,
    },
    /// Verify against the public roots, including the name.
    System,
}

impl PrinterTlsPolicy {
    /// The pinned fingerprints, decoded (empty for other modes).
    ///
    /// # Errors
    /// [`ConfigError::BadFingerprint`] for a value that is not 32 bytes of hex.
    pub fn pins(&self) -> Result<Vec<[u8; 32]>, ConfigError> {
        let Self::Pinned { sha256 } = self else {
            return Ok(Vec::new());
        };
        if sha256.is_empty() {
            return Err(ConfigError::BadFingerprint {
                value: String::new(),
                reason: "a pinned policy needs at least one fingerprint".to_owned(),
            });
        }
        sha256.iter().map(|v| parse_fingerprint(v)).collect()
    }
}

/// Decode a SHA-256 fingerprint written as 64 hex digits, colons allowed.
///
/// # Errors
/// [`ConfigError::BadFingerprint`].
pub fn parse_fingerprint(value: &str) -> Result<[u8; 32], ConfigError> {
    let bad = |reason: &str| ConfigError::BadFingerprint {
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let digits: Vec<u8> = value
        .trim()
        .trim_start_matches("sha256:")
        .bytes()
        .filter(|b| *b != b':')
        .collect();
    if digits.len() != 64 {
        return Err(bad("expected 64 hex digits (a SHA-256 fingerprint)"));
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        let hi = hex_digit(pair[0]).ok_or_else(|| bad("not hexadecimal"))?;
        let lo = hex_digit(pair[1]).ok_or_else(|| bad("not hexadecimal"))?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The on-disk spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolSettings {
    /// The most bytes the spool may hold. When it is full the collector stops
    /// taking new data off the printers' job logs (nothing is dropped) and
    /// says so in its log, its status and its next report to the hub.
    #[serde(default = "default_spool_bytes")]
    pub max_bytes: u64,
}

fn default_spool_bytes() -> u64 {
    DEFAULT_SPOOL_BYTES
}

impl Default for SpoolSettings {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_SPOOL_BYTES,
        }
    }
}

/// One address/port pair to look for a printer at, with how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The address.
    pub ip: IpAddr,
    /// The port.
    pub port: u16,
    /// The protocol.
    pub scheme: Scheme,
    /// The certificate policy (TLS schemes only).
    pub tls: PrinterTlsPolicy,
}

impl Endpoint {
    /// `ip:port` (IPv6 in brackets), the address used in reports and pins.
    pub fn address(&self) -> String {
        std::net::SocketAddr::new(self.ip, self.port).to_string()
    }
}

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRange {
    /// IPv4 addresses `first..=last`.
    V4 {
        /// First address.
        first: Ipv4Addr,
        /// Last address.
        last: Ipv4Addr,
    },
    /// IPv6 addresses `first..=last`.
    V6 {
        /// First address.
        first: Ipv6Addr,
        /// Last address.
        last: Ipv6Addr,
    },
}

impl AddressRange {
    /// Parse a single address, `first-last` or `address/prefix`.
    ///
    /// # Errors
    /// [`ConfigError::MalformedAddress`] with the reason.
    pub fn parse(spec: &str) -> Result<Self, ConfigError> {
        let bad = |reason: String| ConfigError::MalformedAddress {
            address: spec.to_owned(),
            reason,
        };
        let s = spec.trim();
        if s.is_empty() {
            return Err(bad("empty address".to_owned()));
        }
        let ip = |part: &str| -> Result<IpAddr, ConfigError> {
            part.trim()
                .parse::<IpAddr>()
                .map_err(|_| bad(format!("`{}` is not an IP address", part.trim())))
        };
        if let Some((addr, prefix)) = s.split_once('/') {
            let base = ip(addr)?;
            let prefix: u32 = prefix
                .trim()
                .parse()
                .map_err(|_| bad(format!("`{}` is not a prefix length", prefix.trim())))?;
            return match base {
                IpAddr::V4(v4) => {
                    if prefix > 32 {
                        return Err(bad(format!("prefix /{prefix} is longer than 32 bits")));
                    }
                    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                    let network = u32::from(v4) & mask;
                    let broadcast = network | !mask;
                    if network != u32::from(v4) {
                        return Err(bad(format!(
                            "`{v4}` is not the start of a /{prefix} block (did you mean {}/{prefix}?)",
                            Ipv4Addr::from(network)
                        )));
                    }
                    // The network and broadcast addresses are not hosts.
                    let (first, last) = if prefix <= 30 {
                        (network + 1, broadcast - 1)
                    } else {
                        (network, broadcast)
                    };
                    Ok(Self::V4 {
                        first: first.into(),
                        last: last.into(),
                    })
                }
                IpAddr::V6(v6) => {
                    if prefix > 128 {
                        return Err(bad(format!("prefix /{prefix} is longer than 128 bits")));
                    }
                    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                    let network = u128::from(v6) & mask;
                    if network != u128::from(v6) {
                        return Err(bad(format!(
                            "`{v6}` is not the start of a /{prefix} block (did you mean {}/{prefix}?)",
                            Ipv6Addr::from(network)
                        )));
                    }
                    Ok(Self::V6 {
                        first: network.into(),
                        last: (network | !mask).into(),
                    })
                }
            };
        }
        if let Some((a, b)) = s.split_once('-') {
            return match (ip(a)?, ip(b)?) {
                (IpAddr::V4(first), IpAddr::V4(last)) if first <= last => {
                    Ok(Self::V4 { first, last })
                }
                (IpAddr::V6(first), IpAddr::V6(last)) if first <= last => {
                    Ok(Self::V6 { first, last })
                }
                (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                    Err(bad("the range ends before it starts".to_owned()))
                }
                _ => Err(bad("the range mixes IPv4 and IPv6".to_owned())),
            };
        }
        Ok(match ip(s)? {
            IpAddr::V4(a) => Self::V4 { first: a, last: a },
            IpAddr::V6(a) => Self::V6 { first: a, last: a },
        })
    }

    /// Number of addresses.
    pub fn len(&self) -> u128 {
        match *self {
            Self::V4 { first, last } => u128::from(u32::from(last) - u32::from(first)) + 1,
            Self::V6 { first, last } => (u128::from(last) - u128::from(first)).saturating_add(1),
        }
    }

    /// Whether the range is empty (never: ranges are inclusive).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Self::V4 { first, last }, IpAddr::V4(a)) => first <= a && a <= last,
            (Self::V6 { first, last }, IpAddr::V6(a)) => first <= a && a <= last,
            _ => false,
        }
    }

    /// The addresses, in order.
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + use<> {
        let (v4, v6) = match *self {
            Self::V4 { first, last } => (Some(u32::from(first)..=u32::from(last)), None),
            Self::V6 { first, last } => (None, Some(u128::from(first)..=u128::from(last))),
        };
        v4.into_iter()
            .flatten()
            .map(|a| IpAddr::V4(a.into()))
            .chain(v6.into_iter().flatten().map(|a| IpAddr::V6(a.into())))
    }
}

/// Why a configuration is refused. Every message names the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML / JSON or does not have the expected shape.
    #[error("invalid configuration: {0}")]
    Syntax(String),
    /// The account name is empty, too long or has control characters.
    #[error("account_name {value:?} is invalid: {reason}")]
    AccountName {
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
    /// The hub URL is unusable.
    #[error("hub_url {url:?} is invalid: {reason}")]
    HubUrl {
        /// The value.
        url: String,
        /// Why.
        reason: String,
    },
    /// An empty `hub_ca_file`.
    #[error("hub_ca_file must be a path when given")]
    HubCaFile,
    /// The collection interval is below the white paper's minimum.
    #[error(
        "poll_interval_minutes = {minutes} is too short: the fastest allowed collection interval is every {min} minutes"
    )]
    IntervalTooShort {
        /// The configured value.
        minutes: u32,
        /// The minimum.
        min: u32,
    },
    /// The collection interval is above the maximum.
    #[error(
        "poll_interval_minutes = {minutes} is too long: the maximum is {max} minutes (one week)"
    )]
    IntervalTooLong {
        /// The configured value.
        minutes: u32,
        /// The maximum.
        max: u32,
    },
    /// The job poll interval is out of range.
    #[error(
        "job_poll_interval_s = {seconds} is out of range: it must be between {min} seconds and the poll interval ({max} seconds)"
    )]
    JobIntervalOutOfRange {
        /// The configured value.
        seconds: u32,
        /// The minimum.
        min: u32,
        /// The maximum (the collection interval).
        max: u64,
    },
    /// A target address does not parse.
    #[error("malformed address range {address:?}: {reason}")]
    MalformedAddress {
        /// The value.
        address: String,
        /// Why.
        reason: String,
    },
    /// A target covers too many addresses.
    #[error(
        "address range {address:?} has {count} addresses, more than the {max} allowed per target; split it or narrow it"
    )]
    RangeTooLarge {
        /// The value.
        address: String,
        /// Its size.
        count: u128,
        /// The limit.
        max: u128,
    },
    /// All targets together are too many address/port pairs.
    #[error("the targets expand to {count} address/port pairs, more than the {max} allowed")]
    TooManyEndpoints {
        /// The total.
        count: u128,
        /// The limit.
        max: u128,
    },
    /// Port 0.
    #[error("target {address:?}: port 0 is not a port")]
    BadPort {
        /// The target.
        address: String,
    },
    /// The explicit proxy is unusable.
    #[error("bad proxy url {url:?}: {reason}")]
    BadProxyUrl {
        /// The value, password redacted.
        url: String,
        /// Why.
        reason: String,
    },
    /// A pinned fingerprint does not decode.
    #[error("bad certificate fingerprint {value:?}: {reason}")]
    BadFingerprint {
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
    /// An empty CA file path.
    #[error("a ca_file printer tls policy needs a path")]
    PrinterCaFile,
    /// The supported model list is empty or has an empty entry.
    #[error("supported_models {reason}")]
    SupportedModels {
        /// Why.
        reason: String,
    },
    /// A network setting is out of range.
    #[error("network.{field} = {value} is out of range ({min} to {max})")]
    Network {
        /// The field.
        field: &'static str,
        /// The value.
        value: u32,
        /// The minimum.
        min: u32,
        /// The maximum.
        max: u32,
    },
    /// The spool limit is too small to hold an upload.
    #[error("spool.max_bytes = {value} is too small: the minimum is {min} bytes")]
    SpoolTooSmall {
        /// The value.
        value: u64,
        /// The minimum.
        min: u64,
    },
}

impl ConfigError {
    /// A stable machine-readable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Syntax(_) => "syntax",
            Self::AccountName { .. } => "account_name",
            Self::HubUrl { .. } => "hub_url",
            Self::HubCaFile => "hub_ca_file",
            Self::IntervalTooShort { .. } => "interval_too_short",
            Self::IntervalTooLong { .. } => "interval_too_long",
            Self::JobIntervalOutOfRange { .. } => "job_interval_out_of_range",
            Self::MalformedAddress { .. } => "malformed_address",
            Self::RangeTooLarge { .. } => "range_too_large",
            Self::TooManyEndpoints { .. } => "too_many_endpoints",
            Self::BadPort { .. } => "bad_port",
            Self::BadProxyUrl { .. } => "bad_proxy_url",
            Self::BadFingerprint { .. } => "bad_fingerprint",
            Self::PrinterCaFile => "printer_ca_file",
            Self::SupportedModels { .. } => "supported_models",
            Self::Network { .. } => "network",
            Self::SpoolTooSmall { .. } => "spool_too_small",
        }
    }
}

impl CollectorConfig {
    /// A configuration with every default and no targets.
    pub fn new(account_name: impl Into<String>, hub_url: impl Into<String>) -> Self {
        Self {
            account_name: account_name.into(),
            hub_url: hub_url.into(),
            hub_ca_file: None,
            targets: Vec::new(),
            poll_interval_minutes: DEFAULT_POLL_INTERVAL_MINUTES,
            job_poll_interval_s: DEFAULT_JOB_POLL_INTERVAL_S,
            network: NetworkSettings::default(),
            proxy: ProxyConfig::default(),
            printer_tls: PrinterTlsPolicy::default(),
            supported_models: default_supported_models(),
            spool: SpoolSettings::default(),
        }
    }

    /// Parse TOML (the collector's file). Does not validate.
    ///
    /// # Errors
    /// [`ConfigError::Syntax`] with the parser's message (line and column).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string().trim_end().to_owned()))
    }

    /// Parse JSON (the hub's API). Does not validate.
    ///
    /// # Errors
    /// [`ConfigError::Syntax`] with the parser's message.
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))
    }

    /// Parse a JSON value (the hub's API). Does not validate.
    ///
    /// # Errors
    /// [`ConfigError::Syntax`] with the parser's message.
    pub fn from_json_value(value: serde_json::Value) -> Result<Self, ConfigError> {
        serde_json::from_value(value).map_err(|e| ConfigError::Syntax(e.to_string()))
    }

    /// Render as TOML.
    ///
    /// # Panics
    /// Never: every field has a TOML representation.
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).expect("a collector configuration is representable in toml")
    }

    /// The collection interval.
    pub fn poll_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.poll_interval_minutes) * 60)
    }

    /// The job poll interval.
    pub fn job_poll_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.job_poll_interval_s))
    }

    /// Check everything; the first problem found is returned.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_account_name(&self.account_name)?;
        self.hub_url()?;
        if self
            .hub_ca_file
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            return Err(ConfigError::HubCaFile);
        }
        if self.poll_interval_minutes < MIN_POLL_INTERVAL_MINUTES {
            return Err(ConfigError::IntervalTooShort {
                minutes: self.poll_interval_minutes,
                min: MIN_POLL_INTERVAL_MINUTES,
            });
        }
        if self.poll_interval_minutes > MAX_POLL_INTERVAL_MINUTES {
            return Err(ConfigError::IntervalTooLong {
                minutes: self.poll_interval_minutes,
                max: MAX_POLL_INTERVAL_MINUTES,
            });
        }
        let poll_s = u64::from(self.poll_interval_minutes) * 60;
        if self.job_poll_interval_s < MIN_JOB_POLL_INTERVAL_S
            || u64::from(self.job_poll_interval_s) > poll_s
        {
            return Err(ConfigError::JobIntervalOutOfRange {
                seconds: self.job_poll_interval_s,
                min: MIN_JOB_POLL_INTERVAL_S,
                max: poll_s,
            });
        }
        let n = &self.network;
        for (field, value, min, max) in [
            ("concurrency", n.concurrency, 1, 256),
            ("connect_timeout_s", n.connect_timeout_s, 1, 60),
            ("request_timeout_s", n.request_timeout_s, 1, 300),
            ("hub_timeout_s", n.hub_timeout_s, 5, 600),
        ] {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::Network {
                    field,
                    value,
                    min,
                    max,
                });
            }
        }
        self.proxy.explicit()?;
        check_tls_policy(&self.printer_tls)?;
        self.endpoint_count()?;
        for t in &self.targets {
            if let Some(tls) = &t.tls {
                check_tls_policy(tls)?;
            }
        }
        if self.supported_models.is_empty() {
            return Err(ConfigError::SupportedModels {
                reason: "is empty: no printer would ever be collected".to_owned(),
            });
        }
        if self.supported_models.iter().any(|m| words(m).is_empty()) {
            return Err(ConfigError::SupportedModels {
                reason: "has an empty entry".to_owned(),
            });
        }
        if self.spool.max_bytes < MIN_SPOOL_BYTES {
            return Err(ConfigError::SpoolTooSmall {
                value: self.spool.max_bytes,
                min: MIN_SPOOL_BYTES,
            });
        }
        Ok(())
    }

    /// The hub URL, parsed: `https` with a host.
    ///
    /// # Errors
    /// [`ConfigError::HubUrl`].
    pub fn hub_url(&self) -> Result<url::Url, ConfigError> {
        parse_hub_url(&self.hub_url)
    }

    fn endpoint_count(&self) -> Result<u128, ConfigError> {
        let mut total: u128 = 0;
        for t in &self.targets {
            let range = t.range()?;
            if t.ports.contains(&0) {
                return Err(ConfigError::BadPort {
                    address: t.address.clone(),
                });
            }
            total = total.saturating_add(range.len() * t.effective_ports().len() as u128);
        }
        if total > MAX_ENDPOINTS {
            return Err(ConfigError::TooManyEndpoints {
                count: total,
                max: MAX_ENDPOINTS,
            });
        }
        Ok(total)
    }

    /// Every address/port pair of every target, in configuration order,
    /// without repeats (the first target naming a pair wins).
    ///
    /// # Errors
    /// The target errors of [`validate`](Self::validate).
    pub fn endpoints(&self) -> Result<Vec<Endpoint>, ConfigError> {
        self.endpoint_count()?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for t in &self.targets {
            let tls = t.tls.clone().unwrap_or_else(|| self.printer_tls.clone());
            for ip in t.range()?.iter() {
                for port in t.effective_ports() {
                    if seen.insert((ip, port)) {
                        out.push(Endpoint {
                            ip,
                            port,
                            scheme: t.scheme,
                            tls: tls.clone(),
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// The supported-model entry that `make_and_model` matches, if any.
    pub fn supported_model(&self, make_and_model: &str) -> Option<&str> {
        self.supported_models
            .iter()
            .find(|m| model_matches(m, make_and_model))
            .map(String::as_str)
    }

    /// This (local) configuration with everything the hub may manage taken
    /// from `remote`: all but `account_name`, `hub_url` and `hub_ca_file`.
    pub fn merged_with_remote(&self, remote: &CollectorConfig) -> CollectorConfig {
        CollectorConfig {
            account_name: self.account_name.clone(),
            hub_url: self.hub_url.clone(),
            hub_ca_file: self.hub_ca_file.clone(),
            ..remote.clone()
        }
    }
}

fn check_account_name(value: &str) -> Result<(), ConfigError> {
    let bad = |reason: &str| ConfigError::AccountName {
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    if value.trim().is_empty() {
        return Err(bad("it is empty"));
    }
    if value.trim() != value {
        return Err(bad("it has leading or trailing spaces"));
    }
    if value.len() > MAX_ACCOUNT_NAME_BYTES {
        return Err(bad("it is longer than 128 bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(bad("it has control characters"));
    }
    Ok(())
}

/// Parse a hub URL: `https` with a host, no credentials, no query.
///
/// # Errors
/// [`ConfigError::HubUrl`].
pub fn parse_hub_url(value: &str) -> Result<url::Url, ConfigError> {
    let bad = |reason: &str| ConfigError::HubUrl {
        url: redact_url(value),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(value.trim()).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "https" {
        return Err(bad(
            "the hub is only reached over https (its certificate is always verified)",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials do not belong in the hub url"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a hub url has no query or fragment"));
    }
    Ok(url)
}

fn check_tls_policy(policy: &PrinterTlsPolicy) -> Result<(), ConfigError> {
    policy.pins()?;
    if let PrinterTlsPolicy::CaFile { path } = policy
        && path.trim().is_empty()
    {
        return Err(ConfigError::PrinterCaFile);
    }
    Ok(())
}

/// Lowercase alphanumeric words of `s`.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether a device's make and model matches a supported-model entry: the
/// entry's words appear in the device's words, consecutively and in order,
/// ignoring case and punctuation. `"DesignJet T1500"` matches
/// `"HP DesignJet T1500 PostScript ePrinter"` but not `"HP DesignJet T15000"`.
pub fn model_matches(entry: &str, make_and_model: &str) -> bool {
    let want = words(entry);
    let have = words(make_and_model);
    !want.is_empty() && have.windows(want.len()).any(|w| w == want.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> CollectorConfig {
        let mut c = CollectorConfig::new("acme-berlin", "https://hub.example.com");
        c.targets.push(Target::new("10.0.0.10-10.0.0.60"));
        c
    }

    #[test]
    fn the_documented_example_parses_and_validates() {
        let text = r#"
account_name = "acme-berlin"
hub_url = "https://ppu.example.com"
poll_interval_minutes = 180
job_poll_interval_s = 30

[[targets]]
address = "10.0.0.10-10.0.0.60"
scheme = "ledm-https"

[[targets]]
address = "10.0.1.0/28"
scheme = "ipps"
ports = [631]
tls = { mode = "pinned", sha256 = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"] }

[proxy]
mode = "explicit"
url = "http://proxy.example.com:3128"
username = "collector"
password = "secret"
"#;
        let c = CollectorConfig::from_toml_str(text).unwrap();
        c.validate().unwrap();
        assert_eq!(c.targets.len(), 2);
        assert_eq!(c.targets[1].scheme, Scheme::Ipps);
        assert_eq!(c.supported_models.len(), DEFAULT_SUPPORTED_MODELS.len());
        let endpoints = c.endpoints().unwrap();
        // 51 addresses of the range + 14 hosts of the /28.
        assert_eq!(endpoints.len(), 51 + 14);
        assert_eq!(endpoints[0].address(), "10.0.0.10:443");
        assert_eq!(endpoints[51].address(), "10.0.1.1:631");
        assert!(matches!(endpoints[51].tls, PrinterTlsPolicy::Pinned { .. }));
        assert_eq!(endpoints[0].tls, PrinterTlsPolicy::Tofu);
        let proxy = c.proxy.explicit().unwrap().unwrap();
        assert_eq!(proxy.url.as_str(), "http://proxy.example.com:3128/");
        assert_eq!(
            proxy.credentials,
            Some(("collector".to_owned(), "secret".to_owned()))
        );
        // The password never shows in Debug output.
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn defaults_fill_a_minimal_file() {
        let c = CollectorConfig::from_toml_str(
            "account_name = \"a\"\nhub_url = \"https://h.example\"\n",
        )
        .unwrap();
        assert_eq!(c, CollectorConfig::new("a", "https://h.example"));
        assert_eq!(c.poll_interval_minutes, 180);
        assert_eq!(c.job_poll_interval_s, 30);
        assert_eq!(c.proxy, ProxyConfig::System);
        assert_eq!(c.printer_tls, PrinterTlsPolicy::Tofu);
        c.validate().unwrap();
    }

    #[test]
    fn toml_and_json_round_trip() {
        let mut c = base();
        c.hub_ca_file = Some("/etc/ppu/hub-ca.pem".into());
        c.targets.push(Target {
            address: "fd00::10-fd00::20".into(),
            ports: vec![8443, 443],
            scheme: Scheme::LedmHttps,
            tls: Some(PrinterTlsPolicy::CaFile {
                path: "/etc/ppu/printers.pem".into(),
            }),
        });
        c.proxy = ProxyConfig::Explicit {
            url: "https://proxy:8443".into(),
            username: None,
            password: None,
        };
        c.validate().unwrap();
        let toml = c.to_toml_string();
        assert_eq!(CollectorConfig::from_toml_str(&toml).unwrap(), c, "{toml}");
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(CollectorConfig::from_json_str(&json).unwrap(), c, "{json}");
    }

    #[test]
    fn intervals_are_checked() {
        let mut c = base();
        c.poll_interval_minutes = 29;
        let e = c.validate().unwrap_err();
        assert_eq!(
            e,
            ConfigError::IntervalTooShort {
                minutes: 29,
                min: 30
            }
        );
        assert_eq!(
            e.to_string(),
            "poll_interval_minutes = 29 is too short: the fastest allowed collection interval is every 30 minutes"
        );
        c.poll_interval_minutes = 30;
        c.validate().unwrap();
        c.poll_interval_minutes = MAX_POLL_INTERVAL_MINUTES + 1;
        assert_eq!(c.validate().unwrap_err().code(), "interval_too_long");
        c.poll_interval_minutes = 30;
        c.job_poll_interval_s = 4;
        assert_eq!(
            c.validate().unwrap_err().code(),
            "job_interval_out_of_range"
        );
        c.job_poll_interval_s = 30 * 60 + 1;
        assert_eq!(
            c.validate().unwrap_err().code(),
            "job_interval_out_of_range"
        );
        c.job_poll_interval_s = 30 * 60;
        c.validate().unwrap();
    }

    #[test]
    fn ranges_parse() {
        let r = AddressRange::parse("10.0.0.10-10.0.0.60").unwrap();
        assert_eq!(r.len(), 51);
        assert!(r.contains("10.0.0.10".parse().unwrap()));
        assert!(r.contains("10.0.0.60".parse().unwrap()));
        assert!(!r.contains("10.0.0.61".parse().unwrap()));
        assert!(!r.contains("::1".parse().unwrap()));

        let r = AddressRange::parse("192.168.1.0/24").unwrap();
        assert_eq!(r.len(), 254, "network and broadcast are not hosts");
        let all: Vec<IpAddr> = r.iter().collect();
        assert_eq!(all[0], "192.168.1.1".parse::<IpAddr>().unwrap());
        assert_eq!(all[253], "192.168.1.254".parse::<IpAddr>().unwrap());
        assert_eq!(AddressRange::parse("10.0.0.4/31").unwrap().len(), 2);
        assert_eq!(AddressRange::parse("10.0.0.4/32").unwrap().len(), 1);
        assert_eq!(AddressRange::parse(" 10.0.0.4 ").unwrap().len(), 1);
        assert_eq!(
            AddressRange::parse("0.0.0.0/0").unwrap().len(),
            (1u128 << 32) - 2
        );

        let r = AddressRange::parse("fd00::/120").unwrap();
        assert_eq!(r.len(), 256);
        assert_eq!(AddressRange::parse("::/0").unwrap().len(), u128::MAX);
        let r = AddressRange::parse("fd00::1-fd00::3").unwrap();
        assert_eq!(
            r.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            ["fd00::1", "fd00::2", "fd00::3"]
        );
    }

    #[test]
    fn malformed_ranges_say_why() {
        for (spec, why) in [
            ("", "empty address"),
            ("10.0.0.300", "is not an IP address"),
            ("10.0.0.60-10.0.0.10", "ends before it starts"),
            ("10.0.0.1-fd00::1", "mixes IPv4 and IPv6"),
            ("10.0.0.1-", "is not an IP address"),
            ("10.0.0.0/33", "longer than 32 bits"),
            ("10.0.0.0/x", "is not a prefix length"),
            ("10.0.0.5/24", "did you mean 10.0.0.0/24?"),
            ("printer.local", "is not an IP address"),
        ] {
            let e = AddressRange::parse(spec).unwrap_err();
            assert_eq!(e.code(), "malformed_address", "{spec}");
            assert!(e.to_string().contains(why), "{spec}: {e}");
        }
        let mut c = base();
        c.targets.push(Target::new("10.0.0.60-10.0.0.10"));
        let e = c.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed address range \"10.0.0.60-10.0.0.10\": the range ends before it starts"
        );
    }

    #[test]
    fn large_ranges_are_refused() {
        let mut c = base();
        c.targets = vec![Target::new("10.0.0.0/8")];
        let e = c.validate().unwrap_err();
        assert_eq!(
            e,
            ConfigError::RangeTooLarge {
                address: "10.0.0.0/8".into(),
                count: (1 << 24) - 2,
                max: 4096
            }
        );
        assert!(e.to_string().contains("16777214 addresses"), "{e}");
        c.targets = vec![Target::new("10.0.0.0/20")];
        c.validate().unwrap();
        c.targets = vec![Target::new("10.0.0.0/19")];
        assert_eq!(c.validate().unwrap_err().code(), "range_too_large");
        // Four /20 blocks on one port are fine, on two ports they are too many pairs.
        c.targets = (0..4)
            .map(|i| Target::new(format!("10.{i}.0.0/20")))
            .collect();
        c.validate().unwrap();
        for t in &mut c.targets {
            t.ports = vec![443, 8443];
        }
        assert_eq!(c.validate().unwrap_err().code(), "too_many_endpoints");
    }

    #[test]
    fn ports_default_by_scheme_and_repeats_are_dropped() {
        let mut c = base();
        c.targets = vec![
            Target {
                scheme: Scheme::Ipps,
                ..Target::new("10.0.0.1")
            },
            Target {
                ports: vec![8443, 443, 8443],
                ..Target::new("10.0.0.1-10.0.0.2")
            },
            Target::new("10.0.0.1"),
        ];
        let e: Vec<String> = c
            .endpoints()
            .unwrap()
            .iter()
            .map(|e| format!("{} {}", e.address(), e.scheme))
            .collect();
        assert_eq!(
            e,
            [
                "10.0.0.1:631 ipps",
                "10.0.0.1:443 ledm-https",
                "10.0.0.1:8443 ledm-https",
                "10.0.0.2:443 ledm-https",
                "10.0.0.2:8443 ledm-https",
            ]
        );
        c.targets[0].ports = vec![0];
        assert_eq!(c.validate().unwrap_err().code(), "bad_port");
    }

    #[test]
    fn hub_url_must_be_https() {
        let mut c = base();
        for (url, why) in [
            ("http://hub.example.com", "only reached over https"),
            ("hub.example.com", "relative URL without a base"),
            ("https://user:pw@hub.example.com", "credentials"),
            ("https://hub.example.com/?x=1", "no query"),
        ] {
            c.hub_url = url.into();
            let e = c.validate().unwrap_err();
            assert_eq!(e.code(), "hub_url", "{url}");
            assert!(e.to_string().contains(why), "{url}: {e}");
            assert!(!e.to_string().contains(":pw@"), "password leaked: {e}");
        }
        c.hub_url = "https://hub.example.com:8443/base/".into();
        c.validate().unwrap();
    }

    #[test]
    fn proxies_are_checked() {
        let mut c = base();
        for (proxy, code) in [
            (
                ProxyConfig::Explicit {
                    url: "proxy:3128".into(),
                    username: None,
                    password: None,
                },
                Some("bad_proxy_url"),
            ),
            (
                ProxyConfig::Explicit {
                    url: "socks5://proxy:1080".into(),
                    username: None,
                    password: None,
                },
                Some("bad_proxy_url"),
            ),
            (
                ProxyConfig::Explicit {
                    url: "http://proxy:3128/path".into(),
                    username: None,
                    password: None,
                },
                Some("bad_proxy_url"),
            ),
            (
                ProxyConfig::Explicit {
                    url: "http://u:p@proxy:3128".into(),
                    username: Some("u".into()),
                    password: None,
                },
                Some("bad_proxy_url"),
            ),
            (
                ProxyConfig::Explicit {
                    url: "http://proxy:3128".into(),
                    username: None,
                    password: Some("p".into()),
                },
                Some("bad_proxy_url"),
            ),
            (
                ProxyConfig::Explicit {
                    url: "http://u:p@proxy:3128".into(),
                    username: None,
                    password: None,
                },
                None,
            ),
            (ProxyConfig::None, None),
            (ProxyConfig::System, None),
        ] {
            c.proxy = proxy.clone();
            assert_eq!(c.validate().err().map(|e| e.code()), code, "{proxy:?}");
        }
        c.proxy = ProxyConfig::Explicit {
            url: "http://u:hunter2@proxy:3128".into(),
            username: None,
            password: None,
        };
        let p = c.proxy.explicit().unwrap().unwrap();
        assert_eq!(
            p.url.as_str(),
            "http://proxy:3128/",
            "credentials kept apart"
        );
        assert_eq!(p.credentials, Some(("u".into(), "hunter2".into())));
        assert!(!format!("{p:?} {:?}", c.proxy).contains("hunter2"));
        c.proxy = ProxyConfig::Explicit {
            url: "ftp://u:hunter2@proxy".into(),
            username: None,
            password: None,
        };
        let e = c.validate().unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn printer_tls_policies_are_checked() {
        let fp = "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08";
        let pinned = PrinterTlsPolicy::Pinned {
            sha256: vec![fp.into()],
        };
        assert_eq!(pinned.pins().unwrap()[0][..2], [0x9f, 0x86]);
        let mut c = base();
        c.printer_tls = pinned;
        c.validate().unwrap();
        for bad in [
            PrinterTlsPolicy::Pinned { sha256: vec![] },
            PrinterTlsPolicy::Pinned {
                sha256: vec!["abcd".into()],
            },
            PrinterTlsPolicy::Pinned {
                sha256: vec!["z".repeat(64)],
            },
        ] {
            c.printer_tls = bad;
            assert_eq!(c.validate().unwrap_err().code(), "bad_fingerprint");
        }
        c.printer_tls = PrinterTlsPolicy::Tofu;
        c.targets[0].tls = Some(PrinterTlsPolicy::CaFile { path: " ".into() });
        assert_eq!(c.validate().unwrap_err().code(), "printer_ca_file");
        let t: Target =
            toml::from_str("address = \"10.0.0.1\"\ntls = { mode = \"system\" }\n").unwrap();
        assert_eq!(t.tls, Some(PrinterTlsPolicy::System));
        let e = CollectorConfig::from_toml_str(
            "account_name = \"a\"\nhub_url = \"https://h\"\nprinter_tls = { mode = \"insecure\" }\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown variant `insecure`"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = CollectorConfig::from_toml_str(
            "account_name = \"a\"\nhub_url = \"https://h\"\npoll_interval = 10\n",
        )
        .unwrap_err();
        assert_eq!(e.code(), "syntax");
        assert!(
            e.to_string().contains("unknown field `poll_interval`"),
            "{e}"
        );
        let e = CollectorConfig::from_json_str(r#"{"account_name":"a"}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `hub_url`"), "{e}");
    }

    #[test]
    fn account_names_and_other_fields_are_checked() {
        let mut c = base();
        for (name, ok) in [
            ("", false),
            (" x", false),
            ("a\u{7}b", false),
            (&"x".repeat(129), false),
            (&"x".repeat(128), true),
            ("Müller & Söhne", true),
        ] {
            c.account_name = name.to_owned();
            assert_eq!(c.validate().is_ok(), ok, "{name:?}");
        }
        c.account_name = "a".into();
        c.network.concurrency = 0;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "network.concurrency = 0 is out of range (1 to 256)"
        );
        c.network = NetworkSettings::default();
        c.spool.max_bytes = 10;
        assert_eq!(c.validate().unwrap_err().code(), "spool_too_small");
        c.spool = SpoolSettings::default();
        c.supported_models = vec![];
        assert_eq!(c.validate().unwrap_err().code(), "supported_models");
        c.supported_models = vec![" - ".into()];
        assert_eq!(c.validate().unwrap_err().code(), "supported_models");
        c.supported_models = default_supported_models();
        c.hub_ca_file = Some(String::new());
        assert_eq!(c.validate().unwrap_err().code(), "hub_ca_file");
    }

    #[test]
    fn models_match_on_words() {
        let c = base();
        for (device, supported) in [
            ("HP DesignJet T1500 PostScript ePrinter", true),
            ("HP DesignJet T2500 eMFP", true),
            ("HP DESIGNJET Z6200 42in Photo", true),
            ("HP PageWide XL 4500 MFP", true),
            ("HP PageWide XL 8000 Blueprinter", true),
            ("HP DesignJet T15000", false),
            ("HP DesignJet T1700dr PS", false),
            ("HP LaserJet Pro M404dn", false),
            ("HP PageWide XL", false),
            ("", false),
        ] {
            assert_eq!(c.supported_model(device).is_some(), supported, "{device}");
        }
        assert!(model_matches("designjet-t1700", "HP DesignJet T1700 PS"));
        assert!(!model_matches("", "HP DesignJet T1700 PS"));
    }

    #[test]
    fn remote_configuration_cannot_redirect_the_collector() {
        let local = base();
        let mut remote = CollectorConfig::new("other", "https://evil.example");
        remote.hub_ca_file = Some("/tmp/evil.pem".into());
        remote.poll_interval_minutes = 60;
        remote.targets = vec![Target::new("10.9.9.9")];
        let merged = local.merged_with_remote(&remote);
        assert_eq!(merged.account_name, "acme-berlin");
        assert_eq!(merged.hub_url, "https://hub.example.com");
        assert_eq!(merged.hub_ca_file, None);
        assert_eq!(merged.poll_interval_minutes, 60);
        assert_eq!(merged.targets, remote.targets);
    }
}
