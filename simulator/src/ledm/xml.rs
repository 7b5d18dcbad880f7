//! The LEDM XML documents of one printer, written with quick-xml's writer.
//!
//! Each function renders one document from the printer's current state in
//! the printer's [`LedmDialect`]. The element structure is the same in every
//! dialect; only namespace URIs and prefixes differ (see the parent module).

use chrono::SecondsFormat;
use ppu_protocol::{EngineState, Timestamp};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde::Serialize;

use super::{LedmDialect, Namespaces, Ns};
use crate::device::VirtualPrinter;

/// Path of the discovery tree.
pub const DISCOVERY_TREE: &str = "/DevMgmt/DiscoveryTree.xml";
/// Path of the product configuration.
pub const PRODUCT_CONFIG: &str = "/DevMgmt/ProductConfigDyn.xml";
/// Path of the product status.
pub const PRODUCT_STATUS: &str = "/DevMgmt/ProductStatusDyn.xml";
/// Path of the consumable configuration.
pub const CONSUMABLE_CONFIG: &str = "/DevMgmt/ConsumableConfigDyn.xml";
/// Path of the usage counters.
pub const PRODUCT_USAGE: &str = "/DevMgmt/ProductUsageDyn.xml";
/// Path of the media handling document.
pub const MEDIA_HANDLING: &str = "/DevMgmt/MediaHandlingDyn.xml";
/// Path of the job accounting CSV.
pub const ACCOUNTING_CSV: &str = "/hp/device/webAccess/accounting.csv";

/// The resources listed by the discovery tree: (path, `dd:ResourceType`).
pub const RESOURCES: &[(&str, &str)] = &[
    (PRODUCT_CONFIG, "ledm:hpLedmProductConfigDyn"),
    (PRODUCT_STATUS, "ledm:hpLedmProductStatusDyn"),
    (CONSUMABLE_CONFIG, "ledm:hpLedmConsumableConfigDyn"),
    (PRODUCT_USAGE, "ledm:hpLedmProductUsageDyn"),
    (MEDIA_HANDLING, "ledm:hpLedmMediaHandlingDyn"),
    (ACCOUNTING_CSV, "hpJobAccountingCsv"),
];

/// Render the document at `path` for `printer`, or `None` for an unknown path
/// (the CSV is not an XML document and is rendered by [`super::accounting`]).
pub fn render(path: &str, printer: &VirtualPrinter) -> Option<String> {
    Some(match path {
        DISCOVERY_TREE => discovery_tree(printer.ledm_dialect()),
        PRODUCT_CONFIG => product_config(printer),
        PRODUCT_STATUS => product_status(printer),
        CONSUMABLE_CONFIG => consumable_config(printer),
        PRODUCT_USAGE => product_usage(printer),
        MEDIA_HANDLING => media_handling(printer),
        _ => return None,
    })
}

/// A small document builder over quick-xml's [`Writer`]; it only ever writes
/// into memory, so write errors cannot happen.
struct Doc {
    w: Writer<Vec<u8>>,
    ns: &'static Namespaces,
}

fn qname(ns: Ns, local: &str) -> String {
    if ns.prefix.is_empty() {
        local.to_owned()
    } else {
        format!("{}:{local}", ns.prefix)
    }
}

impl Doc {
    fn new(dialect: LedmDialect) -> Self {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 1);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .expect("writing to memory");
        Self {
            w,
            ns: dialect.namespaces(),
        }
    }

    fn event(&mut self, event: Event<'_>) {
        self.w.write_event(event).expect("writing to memory");
    }

    /// The root element with the namespace declarations it needs.
    fn root(&mut self, ns: Ns, local: &str, declare: &[Ns]) {
        let name = qname(ns, local);
        let mut start = BytesStart::new(name.as_str());
        let mut declared: Vec<&str> = Vec::new();
        for n in std::iter::once(&ns).chain(declare) {
            if declared.contains(&n.prefix) {
                continue;
            }
            declared.push(n.prefix);
            let attr = if n.prefix.is_empty() {
                "xmlns".to_owned()
            } else {
                format!("xmlns:{}", n.prefix)
            };
            start.push_attribute((attr.as_str(), n.uri));
        }
        self.event(Event::Start(start));
    }

    fn open(&mut self, ns: Ns, local: &str) {
        let name = qname(ns, local);
        self.event(Event::Start(BytesStart::new(name.as_str())));
    }

    fn open_with(&mut self, ns: Ns, local: &str, attrs: &[(&str, &str)]) {
        let name = qname(ns, local);
        let mut start = BytesStart::new(name.as_str());
        for a in attrs {
            start.push_attribute(*a);
        }
        self.event(Event::Start(start));
    }

    fn close(&mut self, ns: Ns, local: &str) {
        let name = qname(ns, local);
        self.event(Event::End(BytesEnd::new(name.as_str())));
    }

    fn leaf(&mut self, ns: Ns, local: &str, text: &str) {
        self.open(ns, local);
        self.event(Event::Text(BytesText::new(text)));
        self.close(ns, local);
    }

    fn leaf_with(&mut self, ns: Ns, local: &str, attrs: &[(&str, &str)], text: &str) {
        self.open_with(ns, local, attrs);
        self.event(Event::Text(BytesText::new(text)));
        self.close(ns, local);
    }

    /// `<X><dd:ValueInt>v</dd:ValueInt><dd:Unit>unit</dd:Unit></X>`
    fn int(&mut self, ns: Ns, local: &str, value: u64, unit: &str) {
        let dd = self.ns.dd;
        self.open(ns, local);
        self.leaf(dd, "ValueInt", &value.to_string());
        self.leaf(dd, "Unit", unit);
        self.close(ns, local);
    }

    /// Ink in millilitres with three decimals: exact microlitres.
    fn ml(&mut self, ns: Ns, local: &str, ul: u64) {
        let dd = self.ns.dd;
        self.open(ns, local);
        self.leaf(dd, "ValueFloat", &format_ml(ul));
        self.leaf(dd, "Unit", "milliliters");
        self.close(ns, local);
    }

    fn finish(self) -> String {
        String::from_utf8(self.w.into_inner()).expect("quick-xml writes the UTF-8 it was given")
    }
}

/// Microlitres as millilitres with exactly three decimals (`12345` -> `12.345`).
pub fn format_ml(ul: u64) -> String {
    format!("{}.{:03}", ul / 1_000, ul % 1_000)
}

/// The snake_case wire identifier of a `ppu_protocol` enum value.
pub(crate) fn wire<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `pscat:StatusCategory` value of an engine state.
pub fn status_category(state: EngineState) -> &'static str {
    match state {
        EngineState::Ready => "ready",
        EngineState::Printing => "processing",
        EngineState::Sleep => "inPowerSave",
        EngineState::Booting => "initializing",
        EngineState::Warning => "attentionRequired",
        EngineState::Error => "serviceRequired",
        EngineState::Unknown => "unknown",
    }
}

/// `/DevMgmt/DiscoveryTree.xml`
pub fn discovery_tree(dialect: LedmDialect) -> String {
    let mut d = Doc::new(dialect);
    let n = d.ns;
    d.root(n.ledm, "DiscoveryTree", &[n.dd]);
    d.leaf(n.dd, "Revision", "SVN-IPG-LEDM.216");
    for (path, kind) in RESOURCES {
        d.open(n.ledm, "SupportedTree");
        d.leaf(n.dd, "ResourceURI", path);
        d.leaf(n.dd, "ResourceType", kind);
        d.close(n.ledm, "SupportedTree");
    }
    d.close(n.ledm, "DiscoveryTree");
    d.finish()
}

/// `/DevMgmt/ProductConfigDyn.xml`
pub fn product_config(p: &VirtualPrinter) -> String {
    let mut d = Doc::new(p.ledm_dialect());
    let n = d.ns;
    let (pc, dd) = (n.prdcfgdyn, n.dd);
    let config = p.config();
    let status = p.status();
    d.root(pc, "ProductConfigDyn", &[dd]);
    d.open(pc, "ProductInformation");
    d.leaf(dd, "MakeAndModel", p.model().make_and_model);
    d.leaf(dd, "ProductName", &config.product_name);
    d.leaf(dd, "ProductNumber", &config.product_number);
    d.leaf(dd, "SerialNumber", &config.serial_number);
    d.open(dd, "Version");
    d.leaf(dd, "Revision", &config.firmware_version);
    d.close(dd, "Version");
    d.close(pc, "ProductInformation");

    d.open(pc, "PrintCategorySettings");
    if let Some(t) = status.job_category_thresholds {
        d.open(pc, "JobCategoryThresholds");
        d.leaf(
            pc,
            "LineDrawingMaxCoverageBp",
            &t.line_drawing_max_bp.to_string(),
        );
        d.leaf(
            pc,
            "LowDensityImageMaxCoverageBp",
            &t.low_density_max_bp.to_string(),
        );
        d.close(pc, "JobCategoryThresholds");
    }
    for s in &status.print_category_settings {
        d.open(pc, "PrintCategory");
        d.leaf(pc, "Category", s.category.as_str());
        d.leaf(pc, "Enabled", if s.enabled { "true" } else { "false" });
        if let Some(name) = &s.custom_name {
            d.leaf(pc, "CustomName", name);
        }
        d.close(pc, "PrintCategory");
    }
    d.close(pc, "PrintCategorySettings");

    d.open(pc, "Accessories");
    for a in &status.accessories {
        d.open(pc, "Accessory");
        d.leaf(dd, "Name", &a.name);
        if let Some(pn) = &a.product_number {
            d.leaf(dd, "ProductNumber", pn);
        }
        d.leaf(pc, "State", &wire(&a.state));
        d.close(pc, "Accessory");
    }
    d.close(pc, "Accessories");
    d.close(pc, "ProductConfigDyn");
    d.finish()
}

/// `/DevMgmt/ProductStatusDyn.xml`
pub fn product_status(p: &VirtualPrinter) -> String {
    let mut d = Doc::new(p.ledm_dialect());
    let n = d.ns;
    let (ps, pscat, ad, dd) = (n.psdyn, n.pscat, n.ad, n.dd);
    let status = p.status();
    d.root(ps, "ProductStatusDyn", &[dd, pscat, ad]);
    d.open(ps, "Status");
    d.leaf(
        pscat,
        "StatusCategory",
        status_category(status.engine.state),
    );
    if let Some(detail) = &status.engine.detail {
        d.leaf(dd, "Detail", detail);
    }
    d.close(ps, "Status");
    d.open(ps, "AlertTable");
    for (i, alert) in p.alerts().iter().enumerate() {
        d.open(ps, "Alert");
        d.leaf(ad, "ProductStatusAlertID", &alert.code);
        d.leaf(ad, "Severity", alert.severity.as_str());
        d.leaf(ad, "AlertPriority", &(i + 1).to_string());
        d.open(ad, "AlertDetails");
        d.leaf(ad, "AlertDetailsMessage", &alert.message);
        d.leaf(ad, "AlertDetailsTimeStamp", &rfc3339(alert.detected_at));
        d.leaf(
            ad,
            "AlertDetailsDuringBoot",
            if alert.during_boot { "true" } else { "false" },
        );
        d.close(ad, "AlertDetails");
        d.close(ps, "Alert");
    }
    d.close(ps, "AlertTable");
    d.close(ps, "ProductStatusDyn");
    d.finish()
}

/// `/DevMgmt/ConsumableConfigDyn.xml`
pub fn consumable_config(p: &VirtualPrinter) -> String {
    let mut d = Doc::new(p.ledm_dialect());
    let n = d.ns;
    let (cc, dd, dd2) = (n.ccdyn, n.dd, n.dd2);
    let status = p.status();
    d.root(cc, "ConsumableConfigDyn", &[dd, dd2]);
    for c in &status.cartridges {
        d.open(cc, "ConsumableInfo");
        d.leaf(dd, "ConsumableTypeEnum", "ink");
        d.leaf(dd, "ConsumableLabelCode", &c.slot);
        d.leaf(dd, "MarkerColor", c.color.as_str());
        d.leaf(dd, "ProductNumber", &c.product_number);
        d.leaf(dd, "ProductName", &c.product_name);
        d.leaf(dd, "SerialNumber", &c.serial_number);
        d.open(dd, "Manufacturer");
        d.leaf(dd, "Name", &c.manufacturer);
        d.close(dd, "Manufacturer");
        d.open(cc, "ConsumableLifeState");
        d.leaf(dd, "ConsumableState", &wire(&c.state));
        d.close(cc, "ConsumableLifeState");
        d.open(dd, "Capacity");
        d.leaf(dd, "MaxCapacity", &format_ml(c.capacity_ul));
        d.leaf(dd, "Unit", "milliliters");
        d.close(dd, "Capacity");
        if let Some(level) = c.level_pct {
            d.leaf(dd, "ConsumablePercentageLevelRemaining", &level.to_string());
        }
        d.ml(dd2, "CumulativeMarkingAgentUsed", c.ink_used_ul);
        d.ml(dd2, "CumulativeNonHPMarkingAgentUsed", c.non_hp_ink_used_ul);
        if let Some(date) = c.expires_on {
            d.open(dd, "Warranty");
            d.leaf(dd, "ExpirationDate", &date.to_string());
            d.close(dd, "Warranty");
        }
        d.close(cc, "ConsumableInfo");
    }
    for h in &status.printheads {
        d.open(cc, "ConsumableInfo");
        d.leaf(dd, "ConsumableTypeEnum", "printhead");
        d.leaf(dd, "ConsumableLabelCode", &h.slot);
        for color in &h.colors {
            d.leaf(dd, "MarkerColor", color.as_str());
        }
        d.leaf(dd, "ProductNumber", &h.product_number);
        d.leaf(dd, "ProductName", &h.product_name);
        d.leaf(dd, "SerialNumber", &h.serial_number);
        d.open(cc, "ConsumableLifeState");
        d.leaf(dd, "ConsumableState", &wire(&h.state));
        d.close(cc, "ConsumableLifeState");
        if let Some(health) = h.health_pct {
            d.leaf(dd2, "HealthMetric", &health.to_string());
        }
        d.leaf(
            dd2,
            "NonHPInkUsed",
            if h.non_hp_ink_used { "true" } else { "false" },
        );
        if let Some(date) = h.expires_on {
            d.open(dd, "Warranty");
            d.leaf(dd, "ExpirationDate", &date.to_string());
            d.close(dd, "Warranty");
        }
        d.close(cc, "ConsumableInfo");
    }
    d.close(cc, "ConsumableConfigDyn");
    d.finish()
}

/// `/DevMgmt/ProductUsageDyn.xml`
pub fn product_usage(p: &VirtualPrinter) -> String {
    let mut d = Doc::new(p.ledm_dialect());
    let n = d.ns;
    let (pu, dd, dd2) = (n.pudyn, n.dd, n.dd2);
    let c = p.counters();
    d.root(pu, "ProductUsageDyn", &[dd, dd2]);

    d.open(pu, "PrinterSubunit");
    d.leaf(dd, "TotalImpressions", &c.pages.to_string());
    d.leaf(dd2, "TotalJobs", &c.jobs.to_string());
    d.ml(dd2, "TotalMarkingAgentUsed", c.total_ink_used_ul);
    d.int(
        dd2,
        "TotalMediaAreaUsed",
        c.total_media_area_mm2,
        "squareMillimeters",
    );
    for m in &c.media_types {
        d.open(pu, "UsageByMediaType");
        d.leaf(dd, "MediaType", &m.media_type);
        d.leaf(dd, "MediaTypeName", &m.name);
        d.int(dd2, "AreaUsed", m.area_mm2, "squareMillimeters");
        d.close(pu, "UsageByMediaType");
    }
    for a in &c.application_categories {
        d.open(pu, "UsageByApplicationCategory");
        d.leaf(dd2, "ApplicationCategoryID", &a.category_id);
        d.int(dd2, "AreaUsed", a.media_area_mm2, "squareMillimeters");
        d.int(dd2, "LengthUsed", a.media_length_mm, "millimeters");
        d.close(pu, "UsageByApplicationCategory");
    }
    d.close(pu, "PrinterSubunit");

    d.open(pu, "ConsumableSubunit");
    for t in &c.cartridge_types {
        d.open(pu, "UsageByMarkingAgent");
        d.leaf(dd, "ProductNumber", &t.product_number);
        d.leaf(dd, "MarkerColor", t.color.as_str());
        d.ml(dd2, "CumulativeMarkingAgentUsed", t.ink_used_ul);
        d.ml(dd2, "CumulativeHPMarkingAgentUsed", t.hp_ink_used_ul);
        d.ml(dd2, "CumulativeNonHPMarkingAgentUsed", t.non_hp_ink_used_ul);
        d.leaf(dd2, "CumulativeInsertions", &t.insertions.to_string());
        d.close(pu, "UsageByMarkingAgent");
    }
    d.close(pu, "ConsumableSubunit");

    if p.model().is_mfp() {
        d.open(pu, "ScannerEngineSubunit");
        d.int(
            dd2,
            "TotalScannedArea",
            c.scan.total_area_mm2,
            "squareMillimeters",
        );
        d.int(dd2, "ScanArea", c.scan.scan_area_mm2, "squareMillimeters");
        d.int(dd2, "CopyArea", c.scan.copy_area_mm2, "squareMillimeters");
        d.close(pu, "ScannerEngineSubunit");
    }
    d.close(pu, "ProductUsageDyn");
    d.finish()
}

/// `/DevMgmt/MediaHandlingDyn.xml`
pub fn media_handling(p: &VirtualPrinter) -> String {
    let mut d = Doc::new(p.ledm_dialect());
    let n = d.ns;
    let (mh, dd) = (n.mhdyn, n.dd);
    let status = p.status();
    d.root(mh, "MediaHandlingDyn", &[dd]);
    for s in &status.media_sources {
        d.open(mh, "InputTray");
        d.leaf(dd, "InputBin", &s.id);
        d.leaf(mh, "InputKind", &wire(&s.kind));
        d.leaf(mh, "State", &wire(&s.state));
        if let Some(media) = &s.media_type {
            d.leaf(dd, "MediaType", media);
        }
        if let Some(w) = s.width_mm {
            d.int(dd, "MediaWidth", u64::from(w), "millimeters");
        }
        if let Some(h) = s.height_mm {
            d.int(dd, "MediaLength", u64::from(h), "millimeters");
        }
        d.close(mh, "InputTray");
    }
    d.open(mh, "SupportedMediaTypes");
    for m in &status.supported_media_types {
        d.open(mh, "MediaTypeSupport");
        d.leaf(dd, "MediaType", &m.id);
        for (lang, name) in &m.names {
            d.leaf_with(mh, "LocalizedName", &[("xml:lang", lang.as_str())], name);
        }
        d.close(mh, "MediaTypeSupport");
    }
    d.close(mh, "SupportedMediaTypes");
    d.close(mh, "MediaHandlingDyn");
    d.finish()
}
