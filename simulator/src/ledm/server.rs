//! The read-only HTTP(S) server: one loopback port per printer.
//!
//! One actix-web server listens on every printer's port and finds the printer
//! by the local port a request came in on, so a fleet of printers costs one
//! set of worker threads. Every request is recorded in a [`RequestLog`]
//! *before* it is answered, so a test can prove that a collector only reads:
//! anything but `GET`/`HEAD` answers `405 Method Not Allowed` and touches
//! nothing.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::dev::ServerHandle;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use ppu_protocol::Timestamp;

use super::{accounting, xml};
use crate::device::VirtualPrinter;

/// A printer shared between the simulation (which advances it) and the server (which reads it).
pub type SharedPrinter = Arc<Mutex<VirtualPrinter>>;

/// Lock a shared printer, recovering from a poisoned lock: the printer's
/// state is only ever changed by complete `step` calls, so it stays consistent.
pub fn lock(printer: &SharedPrinter) -> MutexGuard<'_, VirtualPrinter> {
    printer
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Serial number of the printer whose port was hit.
    pub serial: String,
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string (may be empty).
    pub query: String,
    /// Status code answered.
    pub status: u16,
}

/// The shared log of every request received by a [`LedmServer`].
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<Vec<RequestRecord>>>);

impl RequestLog {
    /// A copy of all records so far, in arrival order.
    pub fn snapshot(&self) -> Vec<RequestRecord> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Records whose method is not `GET` or `HEAD`.
    pub fn writes(&self) -> Vec<RequestRecord> {
        self.snapshot()
            .into_iter()
            .filter(|r| r.method != "GET" && r.method != "HEAD")
            .collect()
    }

    fn push(&self, record: RequestRecord) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(record);
    }
}

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct LedmServerConfig {
    /// Address to bind (loopback by default).
    pub ip: IpAddr,
    /// Port of the first printer; printer `i` gets `base_port + i`. `0` binds
    /// every printer to an ephemeral port (tests).
    pub base_port: u16,
    /// Serve HTTPS with a self-signed certificate (otherwise plain HTTP).
    pub tls: bool,
    /// Worker threads of the server.
    pub workers: usize,
}

impl Default for LedmServerConfig {
    fn default() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            base_port: 0,
            tls: true,
            workers: 2,
        }
    }
}

/// One printer's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedmEndpoint {
    /// Printer serial number.
    pub serial: String,
    /// Bound address.
    pub addr: SocketAddr,
    /// Base URL, e.g. `https://127.0.0.1:8443`.
    pub base_url: String,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum LedmServerError {
    /// Binding a port failed.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Creating the self-signed certificate failed.
    #[error("cannot create the self-signed certificate: {0}")]
    Certificate(String),
}

/// A running LEDM server for a set of printers.
#[derive(Debug)]
pub struct LedmServer {
    handle: ServerHandle,
    endpoints: Vec<LedmEndpoint>,
    log: RequestLog,
    certificate_pem: Option<String>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

struct AppState {
    by_port: HashMap<u16, SharedPrinter>,
    log: RequestLog,
}

impl LedmServer {
    /// Bind one port per printer and start serving. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// When a port cannot be bound or the certificate cannot be created.
    pub async fn start(
        printers: Vec<SharedPrinter>,
        config: LedmServerConfig,
    ) -> Result<Self, LedmServerError> {
        let log = RequestLog::default();
        let (tls, certificate_pem) = if config.tls {
            let (cfg, pem) = self_signed_tls().map_err(LedmServerError::Certificate)?;
            (Some(cfg), Some(pem))
        } else {
            (None, None)
        };
        let mut listeners = Vec::new();
        let mut endpoints = Vec::new();
        let mut by_port = HashMap::new();
        for (i, printer) in printers.into_iter().enumerate() {
            let port = if config.base_port == 0 {
                0
            } else {
                config.base_port.saturating_add(i as u16)
            };
            let addr = SocketAddr::new(config.ip, port);
            let listener =
                TcpListener::bind(addr).map_err(|source| LedmServerError::Bind { addr, source })?;
            let bound = listener
                .local_addr()
                .map_err(|source| LedmServerError::Bind { addr, source })?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            endpoints.push(LedmEndpoint {
                serial: lock(&printer).serial().to_owned(),
                addr: bound,
                base_url: format!("{scheme}://{bound}"),
            });
            by_port.insert(bound.port(), printer);
            listeners.push((listener, bound));
        }
        let state = web::Data::new(AppState {
            by_port,
            log: log.clone(),
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(handle))
        })
        .workers(config.workers.max(1))
        .disable_signals()
        .shutdown_timeout(1);
        for (listener, addr) in listeners {
            server = match &tls {
                Some(cfg) => server.listen_rustls_0_23(listener, cfg.clone()),
                None => server.listen(listener),
            }
            .map_err(|source| LedmServerError::Bind { addr, source })?;
        }
        let running = server.run();
        let handle = running.handle();
        let task = tokio::spawn(running);
        Ok(Self {
            handle,
            endpoints,
            log,
            certificate_pem,
            task,
        })
    }

    /// The printers' addresses, in the order the printers were given.
    pub fn endpoints(&self) -> &[LedmEndpoint] {
        &self.endpoints
    }

    /// The log of every request received.
    pub fn request_log(&self) -> RequestLog {
        self.log.clone()
    }

    /// PEM of the self-signed certificate (HTTPS only), for clients to trust.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// Stop serving and wait for the server to finish.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        // The server task ends once stopped; its io::Result carries nothing useful then.
        let _ = self.task.await;
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, and the rustls
/// server configuration using it (ring provider, as everywhere in the workspace).
fn self_signed_tls() -> Result<(rustls::ServerConfig, String), String> {
    let certified = rcgen::generate_simple_self_signed(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(|e| e.to_string())?;
    let pem = certified.cert.pem();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .map_err(|e| e.to_string())?;
    Ok((config, pem))
}

/// Every request lands here: log it, refuse writes, route reads.
async fn handle(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let port = req.app_config().local_addr().port();
    let printer = state.by_port.get(&port);
    let serial = printer
        .map(|p| lock(p).serial().to_owned())
        .unwrap_or_default();
    let response = match printer {
        _ if req.method() != Method::GET && req.method() != Method::HEAD => {
            HttpResponse::MethodNotAllowed()
                .insert_header((header::ALLOW, "GET, HEAD"))
                .content_type("text/plain")
                .body("read-only: only GET and HEAD are allowed\n")
        }
        None => HttpResponse::NotFound().finish(),
        Some(printer) => respond(&req, printer),
    };
    state.log.push(RequestRecord {
        serial,
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        status: response.status().as_u16(),
    });
    response
}

fn respond(req: &HttpRequest, printer: &SharedPrinter) -> HttpResponse {
    let p = lock(printer);
    if req.path() == xml::ACCOUNTING_CSV {
        let since = match query_param(req.query_string(), "since").map(str::parse::<u64>) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                return HttpResponse::BadRequest()
                    .content_type("text/plain")
                    .body("`since` must be a job sequence number\n");
            }
        };
        let colors: Vec<&str> = p.model().inks.iter().map(|i| i.color).collect();
        let body = accounting::render(p.jobs_since(since), &colors);
        let oldest = p
            .job_log()
            .next()
            .map_or(0, |j| j.identity().sequence_number);
        return HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header(("X-Oldest-Sequence-Number", oldest.to_string()))
            .insert_header((
                "X-Last-Sequence-Number",
                p.last_sequence_number().to_string(),
            ))
            .insert_header(("X-Device-Time", p.now().to_rfc3339()))
            .body(body);
    }
    match xml::render(req.path(), &p) {
        Some(body) => HttpResponse::build(StatusCode::OK)
            .content_type("text/xml; charset=utf-8")
            .body(body),
        None => HttpResponse::NotFound().finish(),
    }
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Advance every printer to `now` (used by the serving loop of the CLI and by tests).
pub fn advance_all(printers: &[SharedPrinter], now: Timestamp) {
    for p in printers {
        lock(p).advance(now);
    }
}
