//! Acceptance: a Data Collector pointed at an address range with 20
//! simulated HP printers (HP LEDM over HTTPS, both firmware dialects) and 3
//! devices it must not collect collects the 20, skips the 3 with reasons,
//! and the hub receives every printer and every job exactly once. Every
//! device only ever saw `GET`.
//!
//! Each device has its own loopback address (127.0.0.10 and up) on the same
//! port, so the configuration is a real range: `127.0.0.10-127.0.0.40`,
//! with 8 addresses where nothing answers.

mod collector_support;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{Duration, Utc};
use collector_support::*;
use ppu_collector::Collector;
use ppu_collector::clock::SystemClock;
use ppu_collector::state::StateDir;
use ppu_protocol::collector_config::{Scheme, Target};
use ppu_sim::ledm::server::lock;
use ppu_sim::ledm::{LedmServer, LedmServerConfig, SharedPrinter};
use ppu_sim::{ModelId, VirtualPrinter};

const ACCOUNT: &str = "acme-range";

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A port free on every address we need.
fn common_port() -> u16 {
    'search: for _ in 0..100 {
        let port = free_port();
        for last in 10..=40 {
            if std::net::TcpListener::bind(SocketAddr::new(ip(last), port)).is_err() {
                continue 'search;
            }
        }
        return port;
    }
    panic!("no port free on 127.0.0.10-40");
}

const LASERJET_CONFIG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<prdcfgdyn:ProductConfigDyn xmlns:prdcfgdyn="http://www.hp.com/schemas/imaging/con/ledm/productconfigdyn/2007/11/05" xmlns:dd="http://www.hp.com/schemas/imaging/con/dictionaries/1.0/">
 <prdcfgdyn:ProductInformation>
  <dd:MakeAndModel>HP LaserJet Pro M404dn</dd:MakeAndModel>
  <dd:ProductNumber>W1A53A</dd:ProductNumber>
  <dd:SerialNumber>PHB8K00001</dd:SerialNumber>
  <dd:Version><dd:Revision>002.2149A</dd:Revision></dd:Version>
 </prdcfgdyn:ProductInformation>
</prdcfgdyn:ProductConfigDyn>"#;

const T1700_CONFIG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ProductConfigDyn xmlns="http://www.hp.com/schemas/imaging/con/ledm/productconfigdyn/2009/03/16" xmlns:dd="http://www.hp.com/schemas/imaging/con/dictionaries/1.0/">
 <ProductInformation>
  <dd:MakeAndModel>HP DesignJet T1700dr PostScript Printer</dd:MakeAndModel>
  <dd:SerialNumber>SG17000001</dd:SerialNumber>
 </ProductInformation>
</ProductConfigDyn>"#;

/// Three devices that are not collected: an office laser printer and a
/// DesignJet model outside the supported list (both LEDM), and a web server
/// that is no printer at all.
async fn start_other_devices(
    port: u16,
    methods: Arc<Mutex<Vec<String>>>,
) -> actix_web::dev::ServerHandle {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let handler = move |req: HttpRequest| {
        let methods = methods.clone();
        async move {
            methods.lock().unwrap().push(req.method().to_string());
            let device = req.app_config().local_addr().ip();
            let config = match device {
                d if d == ip(30) => Some(LASERJET_CONFIG),
                d if d == ip(31) => Some(T1700_CONFIG),
                _ => None,
            };
            match (config, req.path()) {
                (Some(c), "/DevMgmt/ProductConfigDyn.xml") => {
                    HttpResponse::Ok().content_type("text/xml").body(c)
                }
                (None, "/") => HttpResponse::Ok()
                    .content_type("text/html")
                    .body("<html>NAS</html>"),
                _ => HttpResponse::NotFound().finish(),
            }
        }
    };
    let mut server = HttpServer::new(move || App::new().default_service(web::to(handler.clone())))
        .workers(1)
        .disable_signals();
    for last in [30, 31, 32] {
        let listener = std::net::TcpListener::bind(SocketAddr::new(ip(last), port)).unwrap();
        server = server.listen_rustls_0_23(listener, tls.clone()).unwrap();
    }
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);
    handle
}

#[actix_web::test]
async fn twenty_printers_collected_three_devices_skipped_with_reasons() {
    let hub = Hub::start().await;
    let site = hub.site(ACCOUNT).await;
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    hub.enroll(site, ACCOUNT, &state).await;

    let now = Utc::now();
    let port = common_port();
    let mut printers: Vec<SharedPrinter> = Vec::new();
    let mut servers: Vec<LedmServer> = Vec::new();
    for i in 0..20u8 {
        let model = ModelId::ALL[usize::from(i) % ModelId::ALL.len()];
        let mut p = VirtualPrinter::new(model, format!("CN1RNG{i:04}"), u64::from(i));
        p.boot(now - Duration::hours(30));
        p.advance(now);
        let p = Arc::new(Mutex::new(p));
        printers.push(p.clone());
        servers.push(
            LedmServer::start(
                vec![p],
                LedmServerConfig {
                    ip: ip(10 + i),
                    base_port: port,
                    workers: 1,
                    tls: true,
                },
            )
            .await
            .unwrap(),
        );
    }
    let other_methods = Arc::new(Mutex::new(Vec::new()));
    let others = start_other_devices(port, other_methods.clone()).await;

    let config = hub.config(
        ACCOUNT,
        vec![Target {
            address: "127.0.0.10-127.0.0.40".into(),
            ports: vec![port],
            scheme: Scheme::LedmHttps,
            tls: None,
        }],
    );
    let collector = Collector::new(state, config, Arc::new(SystemClock)).unwrap();
    let started = std::time::Instant::now();
    let summary = collector.poll_cycle().await.unwrap();
    eprintln!(
        "poll cycle over 31 addresses: {:?}, {summary:?}",
        started.elapsed()
    );

    assert_eq!(summary.endpoints, 31);
    assert_eq!(summary.found, 23, "{summary:?}");
    assert_eq!(summary.collected, 20, "{summary:?}");
    let mut skipped: Vec<(String, String)> = summary
        .skipped
        .iter()
        .map(|s| (s.address.clone(), s.reason.clone()))
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            (
                format!("127.0.0.30:{port}"),
                "unsupported model: HP LaserJet Pro M404dn".to_owned()
            ),
            (
                format!("127.0.0.31:{port}"),
                "unsupported model: HP DesignJet T1700dr PostScript Printer".to_owned()
            ),
            (
                format!("127.0.0.32:{port}"),
                "not an HP LEDM device (http 404 for /DevMgmt/ProductConfigDyn.xml)".to_owned()
            ),
        ]
    );
    assert!(
        summary.delivered >= 1 && summary.bytes_sent > 0,
        "{summary:?}"
    );
    assert_eq!(collector.status().last_poll.unwrap().collected, 20);

    // The hub has the 20 printers, their data, and every job exactly once.
    let mut expected_jobs = HashSet::new();
    for p in &printers {
        let serial = lock(p).serial().to_owned();
        expected_jobs.extend(lock(p).job_log().map(|j| j.identity().uuid));
        let v = hub.printer(&serial).await;
        let want = lock(p).config();
        assert_eq!(v["config"]["serial_number"], serial.as_str());
        assert_eq!(
            v["config"]["firmware_version"],
            want.firmware_version.as_str(),
            "{v}"
        );
        assert_eq!(v["config"]["product_number"], want.product_number.as_str());
        assert!(
            !v["status"]["cartridges"].as_array().unwrap().is_empty(),
            "{v}"
        );
        assert_eq!(
            v["counters"]["pages"],
            serde_json::json!(lock(p).counters().pages)
        );
    }
    let jobs = hub.jobs().await;
    let stored: HashSet<_> = jobs.iter().map(|j| j.uuid).collect();
    assert_eq!(stored.len(), jobs.len(), "no job stored twice");
    assert_eq!(stored, expected_jobs, "every job");
    // The envelopes kept the size promise.
    for u in hub.uploads().await {
        assert!(u.size_bytes < 100_000, "upload of {} bytes", u.size_bytes);
    }
    // The hub learned about the skipped devices through the collector's report.
    let uploads = hub.uploads().await;
    assert_eq!(uploads.len() as u32, summary.envelopes);

    // Read-only, on every device.
    for s in &servers {
        assert!(
            s.request_log().writes().is_empty(),
            "{:?}",
            s.request_log().writes()
        );
        assert!(s.request_log().snapshot().iter().all(|r| r.method == "GET"));
    }
    assert!(other_methods.lock().unwrap().iter().all(|m| m == "GET"));

    // A second cycle finds no new job and sends none again.
    let again = collector.poll_cycle().await.unwrap();
    assert_eq!((again.collected, again.jobs), (20, 0), "{again:?}");
    assert_eq!(hub.jobs().await.len(), jobs.len());

    others.stop(true).await;
    for s in servers {
        s.stop().await;
    }
}
