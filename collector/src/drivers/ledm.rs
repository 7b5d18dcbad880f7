//! HP LEDM over HTTP(S): the XML documents of the embedded web server and
//! the job accounting CSV, read with `GET` only.
//!
//! The discovery tree (`/DevMgmt/DiscoveryTree.xml`) says where each
//! document is (`ResourceURI` by `ResourceType`); the well-known paths are
//! the fallback for devices that do not list a document. Elements are
//! matched by local name (see [`super::xml`]), values with units are
//! converted to the payload's units (µl, mm², mm), and enumerations go
//! through [`super::wire_enum`] so an unknown value becomes `unknown`.
//!
//! | document | gives |
//! |---|---|
//! | `ProductConfigDyn` | make and model, serial, product number, firmware, print categories, accessories |
//! | `ProductStatusDyn` | engine state, alert table |
//! | `ConsumableConfigDyn` | cartridges and printheads |
//! | `ProductUsageDyn` | lifetime counters |
//! | `MediaHandlingDyn` | media sources, supported media types |
//! | accounting CSV | jobs, incrementally with `?since=N` ([`super::accounting`]) |

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use ppu_protocol::{
    Accessory, ApplicationCategoryUsage, CartridgeTypeUsage, DeviceAlert, EngineState,
    EngineStatus, InkCartridge, InkColor, JobCategoryThresholds, LifetimeCounters, MediaSource,
    MediaTypeInfo, MediaTypeUsage, PrintCategorySetting, PrinterConfig, PrinterReport,
    PrinterStatus, Printhead, ScanCounters, Severity,
};

use super::xml::Element;
use super::{Access, Identity, JobCursor, JobRead, date, ink_color, rfc3339, wire_enum};
use crate::printer_client::{PrinterClient, PrinterError};

/// Path of the discovery tree.
pub const DISCOVERY_TREE: &str = "/DevMgmt/DiscoveryTree.xml";

/// The documents the driver reads: (resource type suffix, default path).
const DOCUMENTS: &[(&str, &str)] = &[
    ("ProductConfigDyn", "/DevMgmt/ProductConfigDyn.xml"),
    ("ProductStatusDyn", "/DevMgmt/ProductStatusDyn.xml"),
    ("ConsumableConfigDyn", "/DevMgmt/ConsumableConfigDyn.xml"),
    ("ProductUsageDyn", "/DevMgmt/ProductUsageDyn.xml"),
    ("MediaHandlingDyn", "/DevMgmt/MediaHandlingDyn.xml"),
];

/// Resource type of the job accounting CSV in the discovery tree.
const ACCOUNTING_TYPE: &str = "JobAccountingCsv";

/// Where a device's documents are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    by_type: HashMap<String, String>,
}

impl Resources {
    /// Read the discovery tree: `ResourceType` (its local part, after any
    /// `prefix:`) to `ResourceURI`.
    pub fn from_discovery_tree(root: &Element) -> Self {
        let mut by_type = HashMap::new();
        collect_resources(root, &mut by_type);
        Self { by_type }
    }

    /// The path of the document of type `suffix`, or `default`.
    pub fn path<'a>(&'a self, suffix: &str, default: &'a str) -> &'a str {
        self.by_type.get(suffix).map_or(default, String::as_str)
    }

    /// The accounting CSV path, when the device lists one.
    pub fn accounting(&self) -> Option<&str> {
        self.by_type.get(ACCOUNTING_TYPE).map(String::as_str)
    }
}

fn collect_resources(el: &Element, out: &mut HashMap<String, String>) {
    if let (Some(uri), Some(kind)) = (el.text_at(&["ResourceURI"]), el.text_at(&["ResourceType"])) {
        let local = kind.rsplit(':').next().unwrap_or(kind);
        // `ledm:hpLedmProductUsageDyn` -> `ProductUsageDyn`, `hpJobAccountingCsv` -> `JobAccountingCsv`.
        let key = local
            .strip_prefix("hpLedm")
            .or_else(|| local.strip_prefix("hp"))
            .unwrap_or(local);
        out.entry(key.to_owned()).or_insert_with(|| uri.to_owned());
    }
    for c in &el.children {
        collect_resources(c, out);
    }
}

/// What identification learned, kept for reading the rest.
#[derive(Debug, Clone)]
pub struct LedmDevice {
    /// Document locations.
    pub resources: Resources,
    /// The product configuration document.
    pub product_config: Element,
}

impl LedmDevice {
    /// How job polls reach this device.
    pub fn access(&self) -> Access {
        Access::Ledm {
            accounting: self.resources.accounting().map(str::to_owned),
        }
    }
}

async fn document(client: &PrinterClient, path: &str) -> Result<Element, PrinterError> {
    let resp = client.get(path).await?;
    if resp.status != 200 {
        return Err(PrinterError::Status {
            status: resp.status,
            path: path.to_owned(),
        });
    }
    let text = String::from_utf8_lossy(&resp.body);
    Element::parse(&text).map_err(|e| PrinterError::Protocol(format!("{path}: {e}")))
}

/// Identify the device: discovery tree (when present) and product configuration.
///
/// # Errors
/// When the device does not speak LEDM (the caller reports it as skipped)
/// or cannot be reached.
pub async fn identify(client: &PrinterClient) -> Result<(Identity, LedmDevice), PrinterError> {
    let resources = match document(client, DISCOVERY_TREE).await {
        Ok(tree) if tree.name == "DiscoveryTree" => Resources::from_discovery_tree(&tree),
        Ok(_) | Err(PrinterError::Status { .. } | PrinterError::Protocol(_)) => {
            Resources::default()
        }
        Err(e) => return Err(e),
    };
    let path = resources.path(DOCUMENTS[0].0, DOCUMENTS[0].1).to_owned();
    let product_config = document(client, &path).await?;
    if product_config.name != "ProductConfigDyn" {
        return Err(PrinterError::Protocol(format!(
            "{path} is a `{}` document, not ProductConfigDyn",
            product_config.name
        )));
    }
    let identity = parse_identity(&product_config);
    Ok((
        identity,
        LedmDevice {
            resources,
            product_config,
        },
    ))
}

/// Read configuration, status, alerts and counters into a report for
/// `serial`. A document that cannot be read leaves its part absent.
pub async fn read(
    client: &PrinterClient,
    device: &LedmDevice,
    serial: &str,
    collected_at: DateTime<Utc>,
) -> PrinterReport {
    let mut report = PrinterReport::new(serial, collected_at);
    let pc = &device.product_config;
    report.config = Some(parse_config(pc));
    let mut status = PrinterStatus {
        job_category_thresholds: parse_thresholds(pc),
        print_category_settings: parse_print_categories(pc),
        accessories: parse_accessories(pc),
        ..PrinterStatus::default()
    };
    let mut any_status = false;
    let fetch = |suffix: &'static str, default: &'static str| {
        let path = device.resources.path(suffix, default).to_owned();
        async move {
            match document(client, &path).await {
                Ok(doc) => Some(doc),
                Err(e) => {
                    tracing::warn!(address = %client.address(), path = %path, error = %e, "ledm document unavailable");
                    None
                }
            }
        }
    };
    if let Some(doc) = fetch(DOCUMENTS[1].0, DOCUMENTS[1].1).await {
        let (engine, alerts) = parse_status(&doc, collected_at);
        status.engine = engine;
        report.alerts = alerts;
        any_status = true;
    }
    if let Some(doc) = fetch(DOCUMENTS[2].0, DOCUMENTS[2].1).await {
        let (cartridges, printheads) = parse_consumables(&doc);
        status.cartridges = cartridges;
        status.printheads = printheads;
        any_status = true;
    }
    if let Some(doc) = fetch(DOCUMENTS[3].0, DOCUMENTS[3].1).await {
        report.counters = Some(parse_usage(&doc));
    }
    if let Some(doc) = fetch(DOCUMENTS[4].0, DOCUMENTS[4].1).await {
        let (sources, types) = parse_media(&doc);
        status.media_sources = sources;
        status.supported_media_types = types;
        any_status = true;
    }
    if any_status || status != PrinterStatus::default() {
        report.status = Some(status);
    }
    report
}

/// Read the accounting CSV since the cursor.
///
/// # Errors
/// When the device cannot be read or answers with an error.
pub async fn read_jobs(
    client: &PrinterClient,
    path: &str,
    serial: &str,
    cursor: &JobCursor,
) -> Result<JobRead, PrinterError> {
    let mut since = cursor.last_sequence;
    let mut page = accounting_page(client, path, serial, since).await?;
    // The device was reset or replaced: its numbering restarted below our
    // cursor. Read it from the start; the hub drops job UUIDs it already has.
    if page.last.is_some_and(|l| l < since) {
        tracing::warn!(
            address = %client.address(),
            serial_number = %serial,
            last = ?page.last,
            cursor = since,
            "job numbering restarted on the device; reading its log from the start"
        );
        since = 0;
        page = accounting_page(client, path, serial, 0).await?;
    }
    let mut next = JobCursor {
        last_sequence: since,
        seen: Vec::new(),
    };
    let mut jobs = Vec::new();
    for (seq, job) in page.jobs {
        if seq > since {
            next.last_sequence = next.last_sequence.max(seq);
            jobs.push(job);
        }
    }
    // Jobs between our cursor and the oldest the device still has are lost.
    let missed = match page.oldest {
        Some(o) if since > 0 && o > since + 1 => o - since - 1,
        _ => 0,
    };
    Ok(JobRead {
        jobs,
        cursor: next,
        missed,
    })
}

struct AccountingPage {
    jobs: Vec<(u64, super::Job)>,
    oldest: Option<u64>,
    last: Option<u64>,
}

async fn accounting_page(
    client: &PrinterClient,
    path: &str,
    serial: &str,
    since: u64,
) -> Result<AccountingPage, PrinterError> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let resp = client.get(&format!("{path}{sep}since={since}")).await?;
    if resp.status != 200 {
        return Err(PrinterError::Status {
            status: resp.status,
            path: path.to_owned(),
        });
    }
    let number = |name: &str| resp.header(name).and_then(|v| v.trim().parse::<u64>().ok());
    let (oldest, last) = (
        number("X-Oldest-Sequence-Number"),
        number("X-Last-Sequence-Number"),
    );
    let parsed = super::accounting::parse(&String::from_utf8_lossy(&resp.body), serial);
    for problem in &parsed.problems {
        tracing::warn!(address = %client.address(), serial_number = %serial, problem = %problem, "accounting row skipped");
    }
    Ok(AccountingPage {
        jobs: parsed.jobs,
        oldest,
        last,
    })
}

// ---------------------------------------------------------------------------
// Document parsers (pure)
// ---------------------------------------------------------------------------

fn text(el: &Element, path: &[&str]) -> Option<String> {
    el.text_at(path).map(str::to_owned)
}

fn number<T: std::str::FromStr>(el: &Element, path: &[&str]) -> Option<T> {
    el.text_at(path).and_then(|t| t.parse().ok())
}

fn flag(el: &Element, path: &[&str]) -> Option<bool> {
    match el.text_at(path)?.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// A decimal string scaled by `10^places`, rounded: `"12.3456"`, 3 -> 12346.
fn scaled(s: &str, places: u32) -> Option<u64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits = frac.bytes().map(|b| u64::from(b - b'0'));
    let mut value = int.checked_mul(10u64.pow(places))?;
    for p in (0..places).rev() {
        value += digits.next().unwrap_or(0) * 10u64.pow(p);
    }
    if digits.next().is_some_and(|d| d >= 5) {
        value += 1;
    }
    Some(value)
}

/// A quantity element (`ValueInt`/`ValueFloat` + `Unit`) in the payload's
/// unit, converted by `convert`; `None` for an unknown unit.
fn quantity(el: &Element, convert: fn(&str, &str) -> Option<u64>) -> Option<u64> {
    let value = el
        .text_at(&["ValueFloat"])
        .or_else(|| el.text_at(&["ValueInt"]))?;
    let unit = el.text_at(&["Unit"]).unwrap_or("");
    convert(value, unit)
}

fn to_ul(value: &str, unit: &str) -> Option<u64> {
    match unit.to_ascii_lowercase().as_str() {
        "milliliters" | "millilitres" | "ml" | "" => scaled(value, 3),
        "microliters" | "microlitres" | "ul" => scaled(value, 0),
        "liters" | "litres" | "l" => scaled(value, 6),
        _ => None,
    }
}

fn to_mm2(value: &str, unit: &str) -> Option<u64> {
    let f = |places: u32, factor: u64| scaled(value, places).map(|v| v * factor);
    match unit.to_ascii_lowercase().as_str() {
        "squaremillimeters" | "squaremillimetres" | "" => f(0, 1),
        "squarecentimeters" | "squarecentimetres" => f(0, 100),
        "squaremeters" | "squaremetres" => f(6, 1),
        // 1 in² = 645.16 mm²
        "squareinches" => scaled(value, 2).map(|v| (v * 64_516 + 5_000) / 10_000),
        _ => None,
    }
}

fn to_mm(value: &str, unit: &str) -> Option<u64> {
    match unit.to_ascii_lowercase().as_str() {
        "millimeters" | "millimetres" | "" => scaled(value, 0),
        "centimeters" | "centimetres" => scaled(value, 1),
        "meters" | "metres" => scaled(value, 3),
        // 1 in = 25.4 mm
        "inches" => scaled(value, 1).map(|v| (v * 254 + 50) / 100),
        _ => None,
    }
}

fn ul_at(el: &Element, name: &str) -> Option<u64> {
    el.child(name).and_then(|e| quantity(e, to_ul))
}

fn mm2_at(el: &Element, name: &str) -> Option<u64> {
    el.child(name).and_then(|e| quantity(e, to_mm2))
}

fn mm_at(el: &Element, name: &str) -> Option<u64> {
    el.child(name).and_then(|e| quantity(e, to_mm))
}

/// Make and model and serial number from `ProductConfigDyn`.
pub fn parse_identity(pc: &Element) -> Identity {
    let info = pc.find("ProductInformation").unwrap_or(pc);
    Identity {
        make_and_model: text(info, &["MakeAndModel"])
            .or_else(|| text(info, &["ProductName"]))
            .unwrap_or_default(),
        serial_number: text(info, &["SerialNumber"]),
        uuid: text(info, &["UUID"]),
    }
}

/// The printer configuration from `ProductConfigDyn`.
pub fn parse_config(pc: &Element) -> PrinterConfig {
    let info = pc.find("ProductInformation").unwrap_or(pc);
    PrinterConfig {
        product_number: text(info, &["ProductNumber"]).unwrap_or_default(),
        product_name: text(info, &["ProductName"])
            .or_else(|| text(info, &["MakeAndModel"]))
            .unwrap_or_default(),
        serial_number: text(info, &["SerialNumber"]).unwrap_or_default(),
        firmware_version: text(info, &["Version", "Revision"])
            .or_else(|| text(info, &["FirmwareVersion"]))
            .unwrap_or_default(),
    }
}

fn parse_thresholds(pc: &Element) -> Option<JobCategoryThresholds> {
    let t = pc.find("JobCategoryThresholds")?;
    Some(JobCategoryThresholds {
        line_drawing_max_bp: number(t, &["LineDrawingMaxCoverageBp"])?,
        low_density_max_bp: number(t, &["LowDensityImageMaxCoverageBp"])?,
    })
}

fn parse_print_categories(pc: &Element) -> Vec<PrintCategorySetting> {
    pc.find_all("PrintCategory")
        .into_iter()
        .filter_map(|c| {
            Some(PrintCategorySetting {
                category: wire_enum(c.text_at(&["Category"])?),
                enabled: flag(c, &["Enabled"]).unwrap_or(false),
                custom_name: text(c, &["CustomName"]),
            })
        })
        .collect()
}

fn parse_accessories(pc: &Element) -> Vec<Accessory> {
    pc.find_all("Accessory")
        .into_iter()
        .filter_map(|a| {
            Some(Accessory {
                name: text(a, &["Name"])?,
                product_number: text(a, &["ProductNumber"]),
                state: a.text_at(&["State"]).map(wire_enum).unwrap_or_default(),
            })
        })
        .collect()
}

/// Engine state and alerts from `ProductStatusDyn`.
pub fn parse_status(
    doc: &Element,
    collected_at: DateTime<Utc>,
) -> (EngineStatus, Vec<DeviceAlert>) {
    let category = doc
        .find("StatusCategory")
        .map(|e| e.text.as_str())
        .unwrap_or("");
    let state = match category {
        "ready" => EngineState::Ready,
        "processing" | "printing" | "busy" => EngineState::Printing,
        "inPowerSave" | "sleep" | "powerSave" => EngineState::Sleep,
        "initializing" | "booting" => EngineState::Booting,
        "attentionRequired" | "warning" => EngineState::Warning,
        "serviceRequired" | "error" => EngineState::Error,
        _ => EngineState::Unknown,
    };
    let engine = EngineStatus {
        state,
        detail: doc
            .find("Status")
            .and_then(|s| text(s, &["Detail"]))
            .or_else(|| {
                doc.find("Detail")
                    .map(|d| d.text.clone())
                    .filter(|t| !t.is_empty())
            }),
    };
    let alerts = doc
        .find_all("Alert")
        .into_iter()
        .filter_map(|a| {
            let code = text(a, &["ProductStatusAlertID"])?;
            let details = a.child("AlertDetails");
            let severity = a
                .text_at(&["Severity"])
                .map(|s| s.to_ascii_lowercase())
                .map(|s| match s.as_str() {
                    "error" => Severity::Major,
                    "fatal" => Severity::Critical,
                    other => other.parse().unwrap_or(Severity::Info),
                })
                .unwrap_or_default();
            Some(DeviceAlert {
                code,
                severity,
                message: details
                    .and_then(|d| text(d, &["AlertDetailsMessage"]))
                    .unwrap_or_default(),
                detected_at: details
                    .and_then(|d| d.text_at(&["AlertDetailsTimeStamp"]))
                    .and_then(rfc3339)
                    .unwrap_or(collected_at),
                active: true,
                during_boot: details
                    .and_then(|d| flag(d, &["AlertDetailsDuringBoot"]))
                    .unwrap_or(false),
            })
        })
        .collect();
    (engine, alerts)
}

/// Cartridges and printheads from `ConsumableConfigDyn`.
pub fn parse_consumables(doc: &Element) -> (Vec<InkCartridge>, Vec<Printhead>) {
    let mut cartridges = Vec::new();
    let mut printheads = Vec::new();
    for c in doc.find_all("ConsumableInfo") {
        let kind = c
            .text_at(&["ConsumableTypeEnum"])
            .unwrap_or("")
            .to_ascii_lowercase();
        let slot = text(c, &["ConsumableLabelCode"]).unwrap_or_default();
        let colors: Vec<InkColor> = c
            .children_named("MarkerColor")
            .filter(|m| !m.text.is_empty())
            .map(|m| InkColor::new(ink_color(&m.text)))
            .collect();
        let state = c
            .path(&["ConsumableLifeState", "ConsumableState"])
            .or_else(|| c.find("ConsumableState"))
            .map(|s| wire_enum(&s.text))
            .unwrap_or_default();
        let expires_on = c.text_at(&["Warranty", "ExpirationDate"]).and_then(date);
        match kind.as_str() {
            "printhead" | "printheads" => printheads.push(Printhead {
                slot,
                colors,
                state,
                health_pct: number(c, &["HealthMetric"]),
                product_number: text(c, &["ProductNumber"]).unwrap_or_default(),
                product_name: text(c, &["ProductName"]).unwrap_or_default(),
                serial_number: text(c, &["SerialNumber"]).unwrap_or_default(),
                non_hp_ink_used: flag(c, &["NonHPInkUsed"]).unwrap_or(false),
                expires_on,
            }),
            "ink" | "inkcartridge" | "ink_cartridge" => {
                let Some(color) = colors.into_iter().next() else {
                    continue;
                };
                let capacity_ul = c.child("Capacity").and_then(|cap| {
                    to_ul(
                        cap.text_at(&["MaxCapacity"])?,
                        cap.text_at(&["Unit"]).unwrap_or(""),
                    )
                });
                cartridges.push(InkCartridge {
                    slot,
                    color,
                    state,
                    product_number: text(c, &["ProductNumber"]).unwrap_or_default(),
                    product_name: text(c, &["ProductName"]).unwrap_or_default(),
                    serial_number: text(c, &["SerialNumber"]).unwrap_or_default(),
                    manufacturer: text(c, &["Manufacturer", "Name"]).unwrap_or_default(),
                    capacity_ul: capacity_ul.unwrap_or(0),
                    ink_used_ul: ul_at(c, "CumulativeMarkingAgentUsed").unwrap_or(0),
                    non_hp_ink_used_ul: ul_at(c, "CumulativeNonHPMarkingAgentUsed").unwrap_or(0),
                    level_pct: number(c, &["ConsumablePercentageLevelRemaining"]),
                    expires_on,
                });
            }
            _ => {}
        }
    }
    (cartridges, printheads)
}

/// Lifetime counters from `ProductUsageDyn`.
pub fn parse_usage(doc: &Element) -> LifetimeCounters {
    let mut c = LifetimeCounters::default();
    if let Some(p) = doc.find("PrinterSubunit") {
        c.pages = number(p, &["TotalImpressions"]).unwrap_or(0);
        c.jobs = number(p, &["TotalJobs"]).unwrap_or(0);
        c.total_ink_used_ul = ul_at(p, "TotalMarkingAgentUsed").unwrap_or(0);
        c.total_media_area_mm2 = mm2_at(p, "TotalMediaAreaUsed").unwrap_or(0);
        c.media_types = p
            .children_named("UsageByMediaType")
            .filter_map(|m| {
                Some(MediaTypeUsage {
                    media_type: text(m, &["MediaType"])?,
                    name: text(m, &["MediaTypeName"]).unwrap_or_default(),
                    area_mm2: mm2_at(m, "AreaUsed").unwrap_or(0),
                })
            })
            .collect();
        c.application_categories = p
            .children_named("UsageByApplicationCategory")
            .filter_map(|a| {
                Some(ApplicationCategoryUsage {
                    category_id: text(a, &["ApplicationCategoryID"])?,
                    media_area_mm2: mm2_at(a, "AreaUsed").unwrap_or(0),
                    media_length_mm: mm_at(a, "LengthUsed").unwrap_or(0),
                })
            })
            .collect();
    }
    c.cartridge_types = doc
        .find_all("UsageByMarkingAgent")
        .into_iter()
        .filter_map(|m| {
            Some(CartridgeTypeUsage {
                product_number: text(m, &["ProductNumber"])?,
                color: InkColor::new(ink_color(m.text_at(&["MarkerColor"])?)),
                ink_used_ul: ul_at(m, "CumulativeMarkingAgentUsed").unwrap_or(0),
                hp_ink_used_ul: ul_at(m, "CumulativeHPMarkingAgentUsed").unwrap_or(0),
                non_hp_ink_used_ul: ul_at(m, "CumulativeNonHPMarkingAgentUsed").unwrap_or(0),
                insertions: number(m, &["CumulativeInsertions"]).unwrap_or(0),
            })
        })
        .collect();
    if let Some(s) = doc.find("ScannerEngineSubunit") {
        c.scan = ScanCounters {
            total_area_mm2: mm2_at(s, "TotalScannedArea").unwrap_or(0),
            scan_area_mm2: mm2_at(s, "ScanArea").unwrap_or(0),
            copy_area_mm2: mm2_at(s, "CopyArea").unwrap_or(0),
        };
    }
    c
}

/// Media sources and supported media types from `MediaHandlingDyn`.
pub fn parse_media(doc: &Element) -> (Vec<MediaSource>, Vec<MediaTypeInfo>) {
    let sources = doc
        .find_all("InputTray")
        .into_iter()
        .filter_map(|t| {
            Some(MediaSource {
                id: text(t, &["InputBin"])?,
                kind: t.text_at(&["InputKind"]).map(wire_enum).unwrap_or_default(),
                state: t.text_at(&["State"]).map(wire_enum).unwrap_or_default(),
                media_type: text(t, &["MediaType"]),
                width_mm: mm_at(t, "MediaWidth").and_then(|v| u32::try_from(v).ok()),
                height_mm: mm_at(t, "MediaLength").and_then(|v| u32::try_from(v).ok()),
            })
        })
        .collect();
    let types = doc
        .find_all("MediaTypeSupport")
        .into_iter()
        .filter_map(|m| {
            let names: BTreeMap<String, String> = m
                .children_named("LocalizedName")
                .filter(|n| !n.text.is_empty())
                .map(|n| (n.attr("lang").unwrap_or("en").to_owned(), n.text.clone()))
                .collect();
            Some(MediaTypeInfo {
                id: text(m, &["MediaType"])?,
                names,
            })
        })
        .collect();
    (sources, types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_quantities_are_exact() {
        assert_eq!(scaled("12.345", 3), Some(12_345));
        assert_eq!(scaled("12.3456", 3), Some(12_346));
        assert_eq!(scaled("12", 3), Some(12_000));
        assert_eq!(scaled(".5", 3), Some(500));
        assert_eq!(scaled("0.000", 3), Some(0));
        assert_eq!(scaled("x", 3), None);
        assert_eq!(scaled("1.2e3", 3), None);
        assert_eq!(scaled("", 3), None);
        assert_eq!(to_ul("130.000", "milliliters"), Some(130_000));
        assert_eq!(to_ul("7", "microliters"), Some(7));
        assert_eq!(to_ul("1", "gallons"), None);
        assert_eq!(to_mm2("2", "squareMeters"), Some(2_000_000));
        assert_eq!(to_mm2("1", "squareInches"), Some(645));
        assert_eq!(to_mm("36", "inches"), Some(914));
        assert_eq!(to_mm("1189", "millimeters"), Some(1189));
    }

    #[test]
    fn missing_and_unknown_values_are_absent_not_errors() {
        let doc = Element::parse(
            r#"<ConsumableConfigDyn>
              <ConsumableInfo><ConsumableTypeEnum>ink</ConsumableTypeEnum><MarkerColor>Matte Black</MarkerColor>
                <ConsumableLifeState><ConsumableState>glowing</ConsumableState></ConsumableLifeState>
                <ConsumablePercentageLevelRemaining>lots</ConsumablePercentageLevelRemaining></ConsumableInfo>
              <ConsumableInfo><ConsumableTypeEnum>ink</ConsumableTypeEnum></ConsumableInfo>
              <ConsumableInfo><ConsumableTypeEnum>toner</ConsumableTypeEnum><MarkerColor>black</MarkerColor></ConsumableInfo>
            </ConsumableConfigDyn>"#,
        )
        .unwrap();
        let (cartridges, heads) = parse_consumables(&doc);
        assert_eq!(
            cartridges.len(),
            1,
            "a cartridge without a color is left out"
        );
        assert_eq!(cartridges[0].color.as_str(), "matte_black");
        assert_eq!(cartridges[0].state, ppu_protocol::ConsumableState::Unknown);
        assert_eq!(cartridges[0].level_pct, None);
        assert!(heads.is_empty());
        let usage = parse_usage(&Element::parse("<ProductUsageDyn/>").unwrap());
        assert_eq!(usage, LifetimeCounters::default());
        let (engine, alerts) = parse_status(
            &Element::parse(
                "<ProductStatusDyn><AlertTable><Alert/></AlertTable></ProductStatusDyn>",
            )
            .unwrap(),
            Utc::now(),
        );
        assert_eq!(engine.state, EngineState::Unknown);
        assert!(alerts.is_empty(), "an alert without an id is left out");
        let id = parse_identity(&Element::parse("<ProductConfigDyn/>").unwrap());
        assert_eq!(id.serial_number, None);
    }

    /// Every document of every simulated model, in both dialects, reads
    /// back into exactly what the simulated device holds.
    #[test]
    fn simulator_documents_round_trip() {
        use ppu_sim::ledm::{LedmDialect, xml};
        use ppu_sim::{DeviceOptions, ModelId, VirtualPrinter};
        let start = DateTime::parse_from_rfc3339("2026-01-05T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for (i, model) in ModelId::ALL.into_iter().enumerate() {
            for dialect in [LedmDialect::Classic, LedmDialect::Modern] {
                let options = DeviceOptions {
                    ledm_dialect: Some(dialect),
                    ..DeviceOptions::default()
                };
                let mut p =
                    VirtualPrinter::with_options(model, format!("SN{i:04}"), i as u64, options);
                p.boot(start);
                p.advance(start + chrono::Duration::days(3));
                let doc = |path| Element::parse(&xml::render(path, &p).unwrap()).unwrap();
                let tree = Resources::from_discovery_tree(&doc(xml::DISCOVERY_TREE));
                assert_eq!(tree.path("ProductUsageDyn", "-"), xml::PRODUCT_USAGE);
                assert_eq!(tree.accounting(), Some(xml::ACCOUNTING_CSV));
                let pc = doc(xml::PRODUCT_CONFIG);
                assert_eq!(parse_config(&pc), p.config(), "{model} {dialect:?}");
                let id = parse_identity(&pc);
                assert_eq!(id.make_and_model, p.model().make_and_model);
                assert_eq!(id.serial_number.as_deref(), Some(p.serial()));
                let want = p.status();
                assert_eq!(parse_thresholds(&pc), want.job_category_thresholds);
                assert_eq!(parse_print_categories(&pc), want.print_category_settings);
                assert_eq!(parse_accessories(&pc), want.accessories);
                let (engine, alerts) = parse_status(&doc(xml::PRODUCT_STATUS), p.now());
                assert_eq!(engine, want.engine, "{model} {dialect:?}");
                assert_eq!(alerts, p.alerts(), "{model} {dialect:?}");
                let (cartridges, heads) = parse_consumables(&doc(xml::CONSUMABLE_CONFIG));
                assert_eq!(cartridges, want.cartridges, "{model} {dialect:?}");
                assert_eq!(heads, want.printheads, "{model} {dialect:?}");
                let (sources, types) = parse_media(&doc(xml::MEDIA_HANDLING));
                assert_eq!(sources, want.media_sources, "{model} {dialect:?}");
                assert_eq!(types, want.supported_media_types, "{model} {dialect:?}");
                assert_eq!(
                    parse_usage(&doc(xml::PRODUCT_USAGE)),
                    p.counters(),
                    "{model} {dialect:?}"
                );
            }
        }
    }
}
