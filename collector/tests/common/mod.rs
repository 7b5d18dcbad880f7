//! Helpers for the collector's integration tests: simulated LEDM printers, a
//! recording IPP printer, and a state directory enrolled with fake keys
//! (for tests that never reach a hub: uploads just stay in the spool).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use ipp::prelude::{
    DelimiterTag, IppAttribute, IppAttributeGroup, IppRequestResponse, IppValue, IppVersion,
    StatusCode,
};
use ppu_collector::state::{Credentials, StateDir};
use ppu_protocol::collector_config::{CollectorConfig, Scheme, Target};
use ppu_protocol::envelope::{SenderKeys, SenderKind};
use ppu_sim::ledm::{LedmServer, LedmServerConfig, SharedPrinter};
use ppu_sim::{ModelId, VirtualPrinter};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The account of every test.
pub const ACCOUNT: &str = "acme-test";
/// A hub nobody listens at: uploads fail and stay in the spool.
pub const NO_HUB: &str = "https://127.0.0.1:9/";

/// Write credentials with fresh random keys for `hub` into `state`.
pub fn fake_enrollment(state: &StateDir, hub: &str) -> SenderKeys {
    let keys = SenderKeys::derive(
        uuid::Uuid::new_v4().as_bytes(),
        SenderKind::Collector,
        "col-test",
    );
    Credentials::new(hub, ACCOUNT, "col-test", 1, &keys, Utc::now())
        .save(&state.credentials_path())
        .unwrap();
    keys
}

/// A configuration for `targets`, reaching no hub.
pub fn config(targets: Vec<Target>) -> CollectorConfig {
    let mut c = CollectorConfig::new(ACCOUNT, NO_HUB);
    c.targets = targets;
    c.network.connect_timeout_s = 2;
    c.network.request_timeout_s = 10;
    c
}

/// A target for these loopback ports.
pub fn loopback(ports: Vec<u16>, scheme: Scheme) -> Target {
    Target {
        address: "127.0.0.1".into(),
        ports,
        scheme,
        tls: None,
    }
}

/// A printer that has been busy for a day before `now`.
pub fn busy(model: ModelId, serial: &str, seed: u64, now: DateTime<Utc>) -> SharedPrinter {
    let mut p = VirtualPrinter::new(model, serial, seed);
    p.boot(now - Duration::days(1));
    p.advance(now);
    Arc::new(Mutex::new(p))
}

/// Serve `printers` over HTTPS (self-signed), one port each.
pub async fn serve(printers: Vec<SharedPrinter>) -> LedmServer {
    LedmServer::start(
        printers,
        LedmServerConfig {
            workers: 1,
            ..LedmServerConfig::default()
        },
    )
    .await
    .expect("ledm server starts")
}

/// Ports of a server's printers.
pub fn ports(server: &LedmServer) -> Vec<u16> {
    server.endpoints().iter().map(|e| e.addr.port()).collect()
}

/// One request a [`RecordingIpp`] printer received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IppRecord {
    /// HTTP method.
    pub method: String,
    /// HTTP path.
    pub path: String,
    /// IPP operation id (`None` when the body is not IPP).
    pub operation: Option<i16>,
    /// The operation attributes' names.
    pub attributes: Vec<String>,
}

/// A plain-IPP printer on loopback that records every request and answers
/// Get-Printer-Attributes and Get-Jobs like a DesignJet on `ippeveprinter`.
#[derive(Debug, Clone)]
pub struct RecordingIpp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it received.
    pub log: Arc<Mutex<Vec<IppRecord>>>,
}

fn attr(name: &str, value: IppValue) -> IppAttribute {
    IppAttribute::with_name(name, value).unwrap()
}

fn printer_answer(serial: &str) -> IppRequestResponse {
    let mut resp =
        IppRequestResponse::new_response(IppVersion::v2_0(), StatusCode::SuccessfulOk, 1).unwrap();
    let mut g = IppAttributeGroup::new(DelimiterTag::PrinterAttributes);
    let text = |s: &str| IppValue::new_text_without_language(s).unwrap();
    g.attributes_mut().extend([
        attr("printer-make-and-model", text("HP DesignJet T2500 eMFP")),
        attr("printer-serial-number", text(serial)),
        attr("printer-firmware-string-version", text("3.1.4")),
        attr("printer-state", IppValue::Enum(3)),
        attr(
            "printer-state-reasons",
            IppValue::new_keyword("none").unwrap(),
        ),
        attr("printer-impressions-completed", IppValue::Integer(4242)),
    ]);
    resp.attributes_mut().groups_mut().push(g);
    resp
}

fn jobs_answer() -> IppRequestResponse {
    let mut resp =
        IppRequestResponse::new_response(IppVersion::v2_0(), StatusCode::SuccessfulOk, 1).unwrap();
    for (id, uuid) in [
        (1, "6f1c2a4e-93b0-4c1d-8a55-0d2e7b61c9a0"),
        (2, "7f1c2a4e-93b0-4c1d-8a55-0d2e7b61c9a0"),
    ] {
        let mut g = IppAttributeGroup::new(DelimiterTag::JobAttributes);
        g.attributes_mut().extend([
            attr("job-id", IppValue::Integer(id)),
            attr(
                "job-uuid",
                IppValue::new_uri(format!("urn:uuid:{uuid}")).unwrap(),
            ),
            attr(
                "job-name",
                IppValue::new_name_without_language("plan.pdf").unwrap(),
            ),
            attr(
                "job-account-id",
                IppValue::new_name_without_language("CC-1").unwrap(),
            ),
            attr("job-state", IppValue::Enum(9)),
            attr("job-impressions-completed", IppValue::Integer(2)),
        ]);
        resp.attributes_mut().groups_mut().push(g);
    }
    resp
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((method, path, body))
}

impl RecordingIpp {
    /// Start on an ephemeral loopback port.
    pub async fn start(serial: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (log2, serial) = (log.clone(), serial.to_owned());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let log = log2.clone();
                let serial = serial.clone();
                tokio::spawn(async move {
                    while let Some((method, path, body)) = read_request(&mut sock).await {
                        let parsed = ipp::parser::IppParser::new(std::io::Cursor::new(body))
                            .parse()
                            .ok();
                        let operation = parsed.as_ref().map(|p| p.header().operation_or_status);
                        let attributes = parsed
                            .as_ref()
                            .map(|p| {
                                p.attributes()
                                    .groups_of(DelimiterTag::OperationAttributes)
                                    .flat_map(|g| {
                                        g.attributes().iter().map(|a| a.name().to_string())
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        log.lock().unwrap().push(IppRecord {
                            method: method.clone(),
                            path,
                            operation,
                            attributes,
                        });
                        let answer = match operation {
                            Some(0x000B) => Some(printer_answer(&serial)),
                            Some(0x000A) => Some(jobs_answer()),
                            _ => None,
                        };
                        let reply = match answer {
                            Some(a) => {
                                let body = a.to_bytes();
                                let mut r = format!(
                                    "HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\nContent-Length: {}\r\n\r\n",
                                    body.len()
                                )
                                .into_bytes();
                                r.extend_from_slice(&body);
                                r
                            }
                            None => {
                                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec()
                            }
                        };
                        if sock.write_all(&reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, log }
    }

    /// Everything received so far.
    pub fn records(&self) -> Vec<IppRecord> {
        self.log.lock().unwrap().clone()
    }
}

/// Open every spooled envelope of `state` with `keys`, oldest first.
pub fn spooled_payloads(state: &Path, keys: &SenderKeys) -> Vec<ppu_protocol::Payload> {
    let mut names: Vec<_> = std::fs::read_dir(state.join("spool"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "env"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap();
            let (_, payload) = ppu_protocol::envelope::open(
                &bytes[41..],
                keys,
                &ppu_protocol::envelope::Limits::default(),
            )
            .unwrap();
            payload
        })
        .collect()
}
