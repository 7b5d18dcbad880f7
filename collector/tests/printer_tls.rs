//! Printer certificates: trust on first use, then only the pinned one; or
//! an explicit pin from the configuration.

mod common;

use std::sync::Arc;

use chrono::Utc;
use common::*;
use ppu_collector::Collector;
use ppu_collector::clock::SystemClock;
use ppu_collector::state::{PinStore, StateDir};
use ppu_protocol::collector_config::{PrinterTlsPolicy, Scheme};
use ppu_sim::ModelId;
use ppu_sim::ledm::{LedmServer, LedmServerConfig};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn serve_on(port: u16) -> LedmServer {
    // A fresh self-signed certificate on every start, like a reset printer.
    LedmServer::start(
        vec![busy(ModelId::T7200, "CN1TLS0001", 7, Utc::now())],
        LedmServerConfig {
            base_port: port,
            workers: 1,
            ..LedmServerConfig::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn first_certificate_is_pinned_and_a_new_one_is_refused() {
    let port = free_port();
    let server = serve_on(port).await;
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    fake_enrollment(&state, NO_HUB);
    let pins_path = state.pins_path();
    let collector = Collector::new(
        state,
        config(vec![loopback(vec![port], Scheme::LedmHttps)]),
        Arc::new(SystemClock),
    )
    .unwrap();
    let s = collector.poll_cycle().await.unwrap();
    assert_eq!(s.collected, 1, "{s:?}");
    let pinned = PinStore::open(&pins_path)
        .unwrap()
        .get(&format!("127.0.0.1:{port}"))
        .expect("pinned on first use");
    let again = collector.poll_cycle().await.unwrap();
    assert_eq!(again.collected, 1, "the same certificate is accepted");

    // Same address, new certificate: refused, loudly, with both fingerprints.
    server.stop().await;
    let server = serve_on(port).await;
    let s = collector.poll_cycle().await.unwrap();
    assert_eq!((s.found, s.collected), (1, 0), "{s:?}");
    let reason = &s.skipped[0].reason;
    assert!(
        reason.contains("certificate changed since first use"),
        "{reason}"
    );
    assert!(reason.contains(&hex::encode(pinned)), "{reason}");
    server.stop().await;
}

#[tokio::test]
async fn explicit_pins_accept_only_their_certificate() {
    let port = free_port();
    let server = serve_on(port).await;
    let pem = server.certificate_pem().unwrap().to_owned();
    let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    let right = hex::encode(ppu_collector::tls::fingerprint(&der));
    for (pin, collected) in [(right, 1), ("00".repeat(32), 0)] {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        fake_enrollment(&state, NO_HUB);
        let mut target = loopback(vec![port], Scheme::LedmHttps);
        target.tls = Some(PrinterTlsPolicy::Pinned { sha256: vec![pin] });
        let collector = Collector::new(state, config(vec![target]), Arc::new(SystemClock)).unwrap();
        let s = collector.poll_cycle().await.unwrap();
        assert_eq!(s.collected, collected, "{s:?}");
        if collected == 0 {
            assert!(s.skipped[0].reason.contains("certificate"), "{s:?}");
        }
    }
    server.stop().await;
}

use rustls_pki_types::pem::PemObject as _;
