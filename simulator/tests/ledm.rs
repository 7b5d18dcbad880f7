//! The LEDM server: documents parse namespace-aware and carry the device's
//! data, the accounting CSV rebuilds every job, and nothing but GET/HEAD is
//! accepted (and every request is logged).

use std::sync::{Arc, Mutex};

use chrono::{TimeDelta, TimeZone, Utc};
use ppu_protocol::Timestamp;
use ppu_sim::device::{DeviceOptions, VirtualPrinter};
use ppu_sim::ledm::server::lock;
use ppu_sim::ledm::{
    LedmDialect, LedmServer, LedmServerConfig, SharedPrinter, accounting, family, ns_family, xml,
};
use ppu_sim::models::ModelId;
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// A minimal namespace-resolved DOM: what a collector sees after resolving prefixes.
#[derive(Debug, Clone, Default)]
struct El {
    ns: String,
    local: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<El>,
}

impl El {
    fn child(&self, local: &str) -> &El {
        self.children
            .iter()
            .find(|c| c.local == local)
            .unwrap_or_else(|| {
                panic!(
                    "<{}> has no <{local}>: {:?}",
                    self.local,
                    self.children.iter().map(|c| &c.local).collect::<Vec<_>>()
                )
            })
    }
    fn all(&self, local: &str) -> Vec<&El> {
        self.children.iter().filter(|c| c.local == local).collect()
    }
    fn path(&self, path: &[&str]) -> &El {
        path.iter().fold(self, |el, p| el.child(p))
    }
    fn text_at(&self, path: &[&str]) -> &str {
        &self.path(path).text
    }
    fn walk<'a>(&'a self, out: &mut Vec<&'a El>) {
        out.push(self);
        for c in &self.children {
            c.walk(out);
        }
    }
}

fn element(ns: ResolveResult<'_>, e: &quick_xml::events::BytesStart<'_>) -> El {
    let ns = match ns {
        ResolveResult::Bound(n) => n.as_ref().to_owned(),
        ResolveResult::Unbound => String::new(),
        ResolveResult::Unknown(p) => panic!("unknown prefix {p}"),
    };
    El {
        ns,
        local: e.local_name().as_ref().to_owned(),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    a.key.as_ref().to_owned(),
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap()
                        .into_owned(),
                )
            })
            .collect(),
        ..El::default()
    }
}

fn parse(doc: &str) -> El {
    let mut reader = NsReader::from_str(doc);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<El> = Vec::new();
    loop {
        match reader.read_resolved_event().expect("well-formed xml") {
            (ns, Event::Start(e)) => stack.push(element(ns, &e)),
            (ns, Event::Empty(e)) => {
                let el = element(ns, &e);
                stack.last_mut().expect("inside the root").children.push(el);
            }
            (_, Event::End(_)) => {
                let el = stack.pop().expect("balanced");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return el,
                }
            }
            (_, Event::Text(t)) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&t.xml10_content());
                }
            }
            (_, Event::GeneralRef(r)) => {
                let c = match r.resolve_char_ref().unwrap() {
                    Some(c) => c,
                    None => match r.xml10_content().as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => panic!("unknown entity {other}"),
                    },
                };
                stack.last_mut().expect("inside an element").text.push(c);
            }
            (_, Event::Eof) => panic!("document ended inside the root"),
            _ => {}
        }
    }
}

/// Millilitres with three decimals back to microlitres.
fn ul(value: &str) -> u64 {
    let (whole, frac) = value.split_once('.').expect("three decimals");
    assert_eq!(frac.len(), 3, "{value}");
    whole.parse::<u64>().unwrap() * 1_000 + frac.parse::<u64>().unwrap()
}

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2024, 4, 1, 6, 0, 0).unwrap()
}

fn busy_printer(model: ModelId, serial: &str, dialect: LedmDialect) -> VirtualPrinter {
    let options = DeviceOptions {
        ledm_dialect: Some(dialect),
        boot_alert_probability: 1.0,
        non_hp_probability: 0.5,
        ..DeviceOptions::default()
    };
    let mut p = VirtualPrinter::with_options(model, serial, 77, options);
    p.advance(t0());
    p.advance(t0() + TimeDelta::days(9));
    p
}

fn check_documents(p: &VirtualPrinter) {
    let config = p.config();
    let status = p.status();
    let counters = p.counters();

    let tree = parse(&xml::discovery_tree(p.ledm_dialect()));
    assert_eq!(tree.local, "DiscoveryTree");
    assert_eq!(ns_family(&tree.ns), family::DISCOVERY);
    let listed: Vec<(String, String)> = tree
        .all("SupportedTree")
        .iter()
        .map(|t| {
            (
                t.text_at(&["ResourceURI"]).to_owned(),
                t.text_at(&["ResourceType"]).to_owned(),
            )
        })
        .collect();
    for (path, kind) in xml::RESOURCES {
        assert!(
            listed.contains(&((*path).to_owned(), (*kind).to_owned())),
            "{path} not listed"
        );
    }
    assert_eq!(
        ns_family(&tree.child("SupportedTree").child("ResourceURI").ns),
        family::DICTIONARIES
    );

    let pc = parse(&xml::product_config(p));
    assert_eq!(
        (pc.local.as_str(), ns_family(&pc.ns)),
        ("ProductConfigDyn", family::PRODUCT_CONFIG)
    );
    let info = pc.child("ProductInformation");
    assert_eq!(
        ns_family(&info.child("SerialNumber").ns),
        family::DICTIONARIES
    );
    assert_eq!(info.text_at(&["SerialNumber"]), config.serial_number);
    assert_eq!(info.text_at(&["ProductNumber"]), config.product_number);
    assert_eq!(info.text_at(&["MakeAndModel"]), p.model().make_and_model);
    assert_eq!(
        info.text_at(&["Version", "Revision"]),
        config.firmware_version
    );
    let thresholds = status.job_category_thresholds.unwrap();
    assert_eq!(
        pc.text_at(&[
            "PrintCategorySettings",
            "JobCategoryThresholds",
            "LineDrawingMaxCoverageBp"
        ]),
        thresholds.line_drawing_max_bp.to_string()
    );
    assert_eq!(
        pc.child("Accessories").all("Accessory").len(),
        status.accessories.len()
    );

    let ps = parse(&xml::product_status(p));
    assert_eq!(ns_family(&ps.ns), family::PRODUCT_STATUS);
    let category = ps.path(&["Status", "StatusCategory"]);
    assert_eq!(ns_family(&category.ns), family::STATUS_CATEGORY);
    assert_eq!(category.text, xml::status_category(status.engine.state));
    let alerts = ps.child("AlertTable").all("Alert");
    assert_eq!(alerts.len(), p.alerts().len());
    for (el, alert) in alerts.iter().zip(p.alerts()) {
        let id = el.child("ProductStatusAlertID");
        assert_eq!(ns_family(&id.ns), family::ALERT_DETAILS);
        assert_eq!(id.text, alert.code);
        assert_eq!(el.text_at(&["Severity"]), alert.severity.as_str());
        assert_eq!(
            el.text_at(&["AlertDetails", "AlertDetailsMessage"]),
            alert.message
        );
    }

    let cc = parse(&xml::consumable_config(p));
    assert_eq!(ns_family(&cc.ns), family::CONSUMABLE_CONFIG);
    let infos = cc.all("ConsumableInfo");
    assert_eq!(
        infos.len(),
        status.cartridges.len() + status.printheads.len()
    );
    for (el, c) in infos.iter().zip(&status.cartridges) {
        assert_eq!(el.text_at(&["ConsumableTypeEnum"]), "ink");
        assert_eq!(el.text_at(&["ConsumableLabelCode"]), c.slot);
        assert_eq!(el.text_at(&["ProductNumber"]), c.product_number);
        assert_eq!(el.text_at(&["SerialNumber"]), c.serial_number);
        assert_eq!(el.text_at(&["Manufacturer", "Name"]), c.manufacturer);
        let state = el.path(&["ConsumableLifeState", "ConsumableState"]);
        assert_eq!(ns_family(&state.ns), family::DICTIONARIES);
        assert_eq!(ul(el.text_at(&["Capacity", "MaxCapacity"])), c.capacity_ul);
        assert_eq!(el.text_at(&["Capacity", "Unit"]), "milliliters");
        assert_eq!(
            el.text_at(&["ConsumablePercentageLevelRemaining"]),
            c.level_pct.unwrap().to_string()
        );
        assert_eq!(
            el.text_at(&["Warranty", "ExpirationDate"]),
            c.expires_on.unwrap().to_string()
        );
        assert_eq!(
            ul(el.text_at(&["CumulativeMarkingAgentUsed", "ValueFloat"])),
            c.ink_used_ul
        );
        assert_eq!(
            ul(el.text_at(&["CumulativeNonHPMarkingAgentUsed", "ValueFloat"])),
            c.non_hp_ink_used_ul
        );
    }
    for (el, h) in infos[status.cartridges.len()..]
        .iter()
        .zip(&status.printheads)
    {
        assert_eq!(el.text_at(&["ConsumableTypeEnum"]), "printhead");
        assert_eq!(
            el.text_at(&["HealthMetric"]),
            h.health_pct.unwrap().to_string()
        );
        assert_eq!(el.all("MarkerColor").len(), h.colors.len());
        assert_eq!(el.text_at(&["NonHPInkUsed"]), h.non_hp_ink_used.to_string());
    }

    let pu = parse(&xml::product_usage(p));
    assert_eq!(ns_family(&pu.ns), family::PRODUCT_USAGE);
    assert_eq!(
        pu.text_at(&["PrinterSubunit", "TotalImpressions"]),
        counters.pages.to_string()
    );
    assert_eq!(
        pu.text_at(&["PrinterSubunit", "TotalJobs"]),
        counters.jobs.to_string()
    );
    assert_eq!(
        ul(pu.text_at(&["PrinterSubunit", "TotalMarkingAgentUsed", "ValueFloat"])),
        counters.total_ink_used_ul
    );
    let agents = pu.child("ConsumableSubunit").all("UsageByMarkingAgent");
    assert_eq!(agents.len(), counters.cartridge_types.len());
    for (el, t) in agents.iter().zip(&counters.cartridge_types) {
        assert_eq!(el.text_at(&["ProductNumber"]), t.product_number);
        let used = el.child("CumulativeMarkingAgentUsed");
        assert_eq!(ns_family(&used.ns), family::DICTIONARIES);
        assert_eq!(ul(&used.child("ValueFloat").text), t.ink_used_ul);
        assert_eq!(
            ul(el.text_at(&["CumulativeHPMarkingAgentUsed", "ValueFloat"])),
            t.hp_ink_used_ul
        );
        assert_eq!(
            el.text_at(&["CumulativeInsertions"]),
            t.insertions.to_string()
        );
    }
    let media = pu.child("PrinterSubunit").all("UsageByMediaType");
    assert_eq!(media.len(), counters.media_types.len());
    if p.model().is_mfp() {
        let scan = pu.child("ScannerEngineSubunit");
        assert_eq!(
            scan.text_at(&["TotalScannedArea", "ValueInt"]),
            counters.scan.total_area_mm2.to_string()
        );
        assert_eq!(
            scan.text_at(&["CopyArea", "ValueInt"]),
            counters.scan.copy_area_mm2.to_string()
        );
    }

    let mh = parse(&xml::media_handling(p));
    assert_eq!(ns_family(&mh.ns), family::MEDIA_HANDLING);
    assert_eq!(mh.all("InputTray").len(), status.media_sources.len());
    let types = mh.child("SupportedMediaTypes").all("MediaTypeSupport");
    assert_eq!(types.len(), status.supported_media_types.len());
    for t in types {
        let langs: Vec<&str> = t
            .all("LocalizedName")
            .iter()
            .flat_map(|n| {
                n.attrs
                    .iter()
                    .filter(|(k, _)| k == "xml:lang")
                    .map(|(_, v)| v.as_str())
            })
            .collect();
        for lang in ["en", "de", "fr", "es", "it"] {
            assert!(langs.contains(&lang), "{lang} missing in {langs:?}");
        }
    }

    // Every element of every document lives in an HP namespace: nothing unbound.
    for doc in [&tree, &pc, &ps, &cc, &pu, &mh] {
        let mut all = Vec::new();
        doc.walk(&mut all);
        for el in all {
            assert!(
                el.ns.starts_with("http://www.hp.com/schemas/imaging/con/"),
                "{} in {}",
                el.local,
                el.ns
            );
        }
    }
}

#[test]
fn documents_parse_namespace_aware_in_both_dialects() {
    for (model, dialect) in [
        (ModelId::T2500, LedmDialect::Classic),
        (ModelId::T2500, LedmDialect::Modern),
        (ModelId::Z6200, LedmDialect::Modern),
        (ModelId::PageWideXl4500, LedmDialect::Classic),
    ] {
        let p = busy_printer(model, "CN1LEDM001", dialect);
        assert!(!p.alerts().is_empty() || p.ledger().len() > 10);
        check_documents(&p);
    }
    // The dialects really differ in prefixes and dates, so prefix matching would fail.
    let classic = xml::product_config(&busy_printer(ModelId::T1500, "CN1", LedmDialect::Classic));
    let modern = xml::product_config(&busy_printer(ModelId::T1500, "CN1", LedmDialect::Modern));
    assert!(
        classic.contains("<prdcfgdyn:ProductConfigDyn")
            && classic.contains("productconfigdyn/2007/11/05")
    );
    assert!(
        modern.contains("<ProductConfigDyn xmlns=")
            && modern.contains("productconfigdyn/2009/03/16")
    );
}

#[test]
fn accounting_csv_rebuilds_every_job_and_honours_since() {
    for model in [ModelId::T3500, ModelId::Z6800, ModelId::PageWideXl8000] {
        let p = busy_printer(model, "SG1ACCT001", LedmDialect::Classic);
        let colors: Vec<&str> = p.model().inks.iter().map(|i| i.color).collect();
        let all: Vec<_> = p.job_log().cloned().collect();
        assert!(all.len() > 20);
        let csv = accounting::render(&all, &colors);
        assert_eq!(
            accounting::parse(&csv).unwrap(),
            all,
            "{model}: full round trip"
        );
        let since = all[all.len() / 2].identity().sequence_number;
        let tail: Vec<_> = p.jobs_since(since).cloned().collect();
        assert!(tail.iter().all(|j| j.identity().sequence_number > since));
        assert_eq!(tail.len(), all.len() - all.len() / 2 - 1);
        assert_eq!(
            accounting::parse(&accounting::render(&tail, &colors)).unwrap(),
            tail
        );
    }
}

async fn start(printers: Vec<SharedPrinter>, tls: bool) -> LedmServer {
    LedmServer::start(
        printers,
        LedmServerConfig {
            tls,
            workers: 1,
            ..LedmServerConfig::default()
        },
    )
    .await
    .expect("server starts")
}

fn shared(p: VirtualPrinter) -> SharedPrinter {
    Arc::new(Mutex::new(p))
}

#[tokio::test]
async fn server_refuses_every_write_and_logs_every_request() {
    let printers = vec![
        shared(busy_printer(
            ModelId::T1500,
            "CN1SRV0001",
            LedmDialect::Classic,
        )),
        shared(busy_printer(
            ModelId::PageWideXl4000,
            "SG1SRV0002",
            LedmDialect::Modern,
        )),
    ];
    let server = start(printers.clone(), false).await;
    let http = ppu_sim::upload::http_client(None, std::time::Duration::from_secs(10)).unwrap();
    let snapshot = |p: &SharedPrinter| {
        let p = lock(p);
        (
            p.counters(),
            p.status(),
            p.alerts().to_vec(),
            p.ledger().len(),
            p.thresholds(),
            xml::product_usage(&p),
        )
    };
    let before: Vec<_> = printers.iter().map(snapshot).collect();

    let paths = [
        xml::DISCOVERY_TREE,
        xml::PRODUCT_CONFIG,
        xml::PRODUCT_USAGE,
        xml::ACCOUNTING_CSV,
        "/DevMgmt/NoSuchThing.xml",
    ];
    let mut writes = 0;
    for e in server.endpoints() {
        for path in paths {
            for method in ["POST", "PUT", "DELETE", "PATCH"] {
                let r = http
                    .request(method.parse().unwrap(), format!("{}{path}", e.base_url))
                    .body("<ProductConfigDyn><SerialNumber>EVIL</SerialNumber></ProductConfigDyn>")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 405, "{method} {path}");
                assert_eq!(r.headers()["allow"], "GET, HEAD");
                writes += 1;
            }
        }
    }
    let after: Vec<_> = printers.iter().map(snapshot).collect();
    assert_eq!(before, after, "writes changed nothing");

    // Reads work and serve the right printer on each port.
    for (e, p) in server.endpoints().iter().zip(&printers) {
        let body = http
            .get(format!("{}{}", e.base_url, xml::PRODUCT_CONFIG))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let doc = parse(&body);
        assert_eq!(
            doc.text_at(&["ProductInformation", "SerialNumber"]),
            lock(p).serial()
        );
        let head = http
            .head(format!("{}{}", e.base_url, xml::PRODUCT_USAGE))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200);
        let missing = http
            .get(format!("{}/DevMgmt/Nope.xml", e.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);

        // Incremental accounting: everything, then only what is newer.
        let (last, colors) = {
            let p = lock(p);
            (
                p.last_sequence_number(),
                p.model().inks.iter().map(|i| i.color).collect::<Vec<_>>(),
            )
        };
        let url = format!("{}{}", e.base_url, xml::ACCOUNTING_CSV);
        let full = http.get(&url).send().await.unwrap();
        assert_eq!(
            full.headers()["x-last-sequence-number"],
            last.to_string().as_str()
        );
        let jobs = accounting::parse(&full.text().await.unwrap()).unwrap();
        assert_eq!(jobs.len() as u64, last);
        let expected: Vec<_> = lock(p).job_log().cloned().collect();
        assert_eq!(jobs, expected);
        let newer = accounting::parse(
            &http
                .get(format!("{url}?since={}", last - 3))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            newer
                .iter()
                .map(|j| j.identity().sequence_number)
                .collect::<Vec<_>>(),
            [last - 2, last - 1, last]
        );
        assert!(colors.iter().all(|c| !c.is_empty()));
        let bad = http.get(format!("{url}?since=abc")).send().await.unwrap();
        assert_eq!(bad.status(), 400);
    }

    let log = server.request_log();
    let refused = log.writes();
    assert_eq!(refused.len(), writes);
    assert!(refused.iter().all(|r| r.status == 405));
    assert!(
        refused
            .iter()
            .any(|r| r.serial == "SG1SRV0002" && r.method == "PATCH")
    );
    let reads = log.snapshot().len() - writes;
    assert_eq!(reads, 2 * 6, "every read is logged too");
    server.stop().await;
}

#[tokio::test]
async fn https_with_the_self_signed_certificate() {
    let printer = shared(busy_printer(
        ModelId::Z6600,
        "SG1TLS0001",
        LedmDialect::Modern,
    ));
    let server = start(vec![printer], true).await;
    let pem = server
        .certificate_pem()
        .expect("https has a certificate")
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ledm.pem");
    std::fs::write(&ca, pem).unwrap();
    let http = ppu_sim::upload::http_client(Some(&ca), std::time::Duration::from_secs(5)).unwrap();
    let e = &server.endpoints()[0];
    assert!(e.base_url.starts_with("https://"));
    let body = http
        .get(format!("{}{}", e.base_url, xml::PRODUCT_STATUS))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(parse(&body).local, "ProductStatusDyn");
    // A client that does not trust the certificate is refused.
    let untrusting = ppu_sim::upload::http_client(None, std::time::Duration::from_secs(5)).unwrap();
    assert!(
        untrusting
            .get(format!("{}{}", e.base_url, xml::PRODUCT_STATUS))
            .send()
            .await
            .is_err()
    );
    server.stop().await;
}
