//! IPP / IPPS: Get-Printer-Attributes and Get-Jobs, nothing else.
//!
//! What IPP carries maps onto the payload as follows; what it does not carry
//! (ink and media per job, areas, cartridge serials) stays absent:
//!
//! | payload | IPP attribute |
//! |---|---|
//! | make and model, serial, firmware | `printer-make-and-model`, `printer-serial-number` (else `SN:` of `printer-device-id`), `printer-firmware-string-version` |
//! | engine state | `printer-state`, `printer-state-reasons`, `printer-state-message` |
//! | cartridges, printheads | `marker-names/-types/-colors/-levels/-low-levels`, `printer-supply` + `printer-supply-description` |
//! | media sources, media types | `media-col-ready` (else `media-ready`), `media-type-supported` |
//! | alerts | `printer-alert` + `printer-alert-description`, and the state reasons |
//! | lifetime pages | `printer-impressions-completed` (else `printer-pages-completed`) |
//! | print jobs | Get-Jobs `which-jobs=completed`: `job-uuid`, `job-id`, `job-name`, `job-originating-user-name`, `job-account-id`, `job-state`, `date-time-at-*`, `job-impressions(-completed)`, `copies`, `print-quality`, `media-col` |
//!
//! Devices purge completed jobs (`ippeveprinter` after 60 s), so jobs are
//! read on the job poll schedule and remembered by UUID: a job is new when
//! it was not in the previous listing (see [`super::JobCursor::seen`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use ipp::prelude::{DelimiterTag, IppRequestResponse, IppValue};
use ipp::value::IppDateTime;
use ppu_protocol::{
    ConsumableState, DeviceAlert, EngineState, EngineStatus, InkCartridge, InkColor, JobIdentity,
    JobSource, LifetimeCounters, MediaSource, MediaSourceKind, MediaSourceState, MediaTypeInfo,
    PrintDetails, PrintJob, PrintQuality, PrintStatus, PrinterConfig, PrinterReport, PrinterStatus,
    Printhead, Severity,
};
use uuid::Uuid;

use super::{Access, Identity, Job, JobCursor, JobRead, derived_job_uuid, ink_color};
use crate::printer_client::{IppRead, PrinterClient, PrinterError};

/// The resource path of an IPP Everywhere printer.
pub const DEFAULT_RESOURCE: &str = "/ipp/print";

/// Printer attributes asked for: `all` leaves out several that matter here.
pub const PRINTER_ATTRIBUTES: &[&str] = &[
    "all",
    "printer-serial-number",
    "printer-device-id",
    "printer-uuid",
    "printer-make-and-model",
    "printer-firmware-name",
    "printer-firmware-string-version",
    "printer-firmware-version",
    "printer-state",
    "printer-state-reasons",
    "printer-state-message",
    "printer-state-change-date-time",
    "printer-alert",
    "printer-alert-description",
    "marker-names",
    "marker-colors",
    "marker-types",
    "marker-levels",
    "marker-low-levels",
    "marker-high-levels",
    "printer-supply",
    "printer-supply-description",
    "media-ready",
    "media-col-ready",
    "media-type-supported",
    "printer-impressions-completed",
    "printer-pages-completed",
    "printer-media-sheets-completed",
];

/// Job attributes asked for.
pub const JOB_ATTRIBUTES: &[&str] = &[
    "job-id",
    "job-uuid",
    "job-name",
    "job-originating-user-name",
    "job-account-id",
    "job-state",
    "job-state-reasons",
    "date-time-at-creation",
    "date-time-at-processing",
    "date-time-at-completed",
    "job-impressions",
    "job-impressions-completed",
    "copies",
    "print-quality",
    "media-col",
];

/// A group of attributes by name.
pub type Attributes = HashMap<String, IppValue>;

fn group_map(attrs: &[ipp::prelude::IppAttribute]) -> Attributes {
    attrs
        .iter()
        .map(|a| (a.name().to_string(), a.value().clone()))
        .collect()
}

/// The printer attributes of a Get-Printer-Attributes answer.
pub fn printer_attributes(resp: &IppRequestResponse) -> Attributes {
    resp.attributes()
        .groups_of(DelimiterTag::PrinterAttributes)
        .flat_map(|g| g.attributes().iter())
        .map(|a| (a.name().to_string(), a.value().clone()))
        .collect()
}

/// What identification learned.
#[derive(Debug, Clone)]
pub struct IppDevice {
    /// The resource path.
    pub resource: String,
    /// The printer attributes.
    pub attributes: Attributes,
}

impl IppDevice {
    /// How job polls reach this device.
    pub fn access(&self) -> Access {
        Access::Ipp {
            resource: self.resource.clone(),
        }
    }
}

/// Identify the printer (one Get-Printer-Attributes gives everything).
///
/// # Errors
/// When the device does not answer IPP.
pub async fn identify(client: &PrinterClient) -> Result<(Identity, IppDevice), PrinterError> {
    let resp = client
        .ipp(
            DEFAULT_RESOURCE,
            IppRead::PrinterAttributes(PRINTER_ATTRIBUTES),
        )
        .await?;
    let attributes = printer_attributes(&resp);
    Ok((
        identity(&attributes),
        IppDevice {
            resource: DEFAULT_RESOURCE.to_owned(),
            attributes,
        },
    ))
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// A value as text (any string-like type; the first of a set).
pub fn text(v: &IppValue) -> Option<String> {
    let s = match v {
        IppValue::TextWithoutLanguage(t) => t.to_string(),
        IppValue::NameWithoutLanguage(n) => n.to_string(),
        IppValue::TextWithLanguage { text, .. } => text.to_string(),
        IppValue::NameWithLanguage { name, .. } => name.to_string(),
        IppValue::Keyword(k) | IppValue::MemberAttrName(k) => k.to_string(),
        IppValue::Uri(u) | IppValue::UriScheme(u) => u.to_string(),
        IppValue::OctetString(b) => String::from_utf8_lossy(b).into_owned(),
        IppValue::NonUtf8 { data, .. } => String::from_utf8_lossy(data).into_owned(),
        IppValue::Integer(i) | IppValue::Enum(i) => i.to_string(),
        IppValue::Array(items) => return items.first().and_then(text),
        _ => return None,
    };
    let s = s.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// Every member of a set (a single value is a set of one).
pub fn list(v: &IppValue) -> Vec<&IppValue> {
    match v {
        IppValue::Array(items) => items.iter().collect(),
        IppValue::NoValue => Vec::new(),
        other => vec![other],
    }
}

/// An integer or enum value (the first of a set).
pub fn int(v: &IppValue) -> Option<i64> {
    match v {
        IppValue::Integer(i) | IppValue::Enum(i) => Some(i64::from(*i)),
        IppValue::Array(items) => items.first().and_then(int),
        _ => None,
    }
}

/// A `dateTime` value in UTC.
pub fn date_time(v: &IppValue) -> Option<DateTime<Utc>> {
    let IppValue::DateTime(d) = v else {
        return None;
    };
    ipp_date_time(d)
}

fn ipp_date_time(d: &IppDateTime) -> Option<DateTime<Utc>> {
    let local = NaiveDate::from_ymd_opt(i32::from(d.year), d.month.into(), d.day.into())?
        .and_hms_milli_opt(
            d.hour.into(),
            d.minutes.into(),
            d.seconds.min(59).into(),
            u32::from(d.deci_seconds) * 100,
        )?;
    let offset = chrono::Duration::minutes(i64::from(d.utc_hours) * 60 + i64::from(d.utc_mins));
    let utc = match d.utc_dir {
        '-' => local + offset,
        _ => local - offset,
    };
    Some(utc.and_utc())
}

/// A member of a collection value.
fn member<'a>(v: &'a IppValue, name: &str) -> Option<&'a IppValue> {
    let IppValue::Collection(map) = v else {
        return None;
    };
    map.iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v)
}

fn get<'a>(attrs: &'a Attributes, name: &str) -> Option<&'a IppValue> {
    attrs.get(name)
}

fn get_text(attrs: &Attributes, name: &str) -> Option<String> {
    get(attrs, name).and_then(text)
}

fn texts(attrs: &Attributes, name: &str) -> Vec<String> {
    get(attrs, name)
        .map(|v| {
            list(v)
                .into_iter()
                .map(|x| text(x).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

fn ints(attrs: &Attributes, name: &str) -> Vec<Option<i64>> {
    get(attrs, name)
        .map(|v| list(v).into_iter().map(int).collect())
        .unwrap_or_default()
}

/// `key=value;key=value;` strings (`printer-supply`, `printer-alert`, device id).
fn key_values(s: &str) -> HashMap<String, String> {
    s.split(';')
        .filter_map(|kv| {
            let (k, v) = kv.split_once(['=', ':'])?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Printer
// ---------------------------------------------------------------------------

/// Make and model, serial number and UUID.
pub fn identity(attrs: &Attributes) -> Identity {
    let device_id = get_text(attrs, "printer-device-id").map(|s| key_values(&s));
    let serial = get_text(attrs, "printer-serial-number").or_else(|| {
        device_id
            .as_ref()
            .and_then(|d| d.get("sn").or_else(|| d.get("serialnumber")).cloned())
            .filter(|s| !s.is_empty())
    });
    let make_and_model = get_text(attrs, "printer-make-and-model")
        .or_else(|| {
            let d = device_id.as_ref()?;
            Some(format!(
                "{} {}",
                d.get("mfg").or_else(|| d.get("manufacturer"))?,
                d.get("mdl").or_else(|| d.get("model"))?
            ))
        })
        .unwrap_or_default();
    Identity {
        make_and_model,
        serial_number: serial,
        uuid: get_text(attrs, "printer-uuid"),
    }
}

/// The report of a printer, without jobs.
pub fn report(attrs: &Attributes, serial: &str, collected_at: DateTime<Utc>) -> PrinterReport {
    let id = identity(attrs);
    let mut report = PrinterReport::new(serial, collected_at);
    report.config = Some(PrinterConfig {
        product_number: String::new(),
        product_name: id.make_and_model,
        serial_number: serial.to_owned(),
        firmware_version: get_text(attrs, "printer-firmware-string-version")
            .or_else(|| get_text(attrs, "printer-firmware-version"))
            .unwrap_or_default(),
    });
    let (cartridges, printheads) = markers(attrs);
    let (media_sources, supported_media_types) = media(attrs);
    report.status = Some(PrinterStatus {
        engine: engine(attrs),
        printheads,
        cartridges,
        media_sources,
        supported_media_types,
        ..PrinterStatus::default()
    });
    report.alerts = alerts(attrs, collected_at);
    let pages = get(attrs, "printer-impressions-completed")
        .or_else(|| get(attrs, "printer-pages-completed"))
        .and_then(int)
        .and_then(|p| u64::try_from(p).ok());
    report.counters = pages.map(|pages| LifetimeCounters {
        pages,
        ..LifetimeCounters::default()
    });
    report
}

fn engine(attrs: &Attributes) -> EngineStatus {
    let reasons = texts(attrs, "printer-state-reasons");
    let has = |suffix: &str| reasons.iter().any(|r| r.ends_with(suffix));
    let state = match get(attrs, "printer-state").and_then(int) {
        Some(3) if has("-error") => EngineState::Error,
        Some(3) if has("-warning") => EngineState::Warning,
        Some(3) => EngineState::Ready,
        Some(4) => EngineState::Printing,
        Some(5) => EngineState::Error,
        _ => EngineState::Unknown,
    };
    EngineStatus {
        state,
        detail: get_text(attrs, "printer-state-message"),
    }
}

/// Well-known marker colors by their `#RRGGBB` value.
fn color_from_hex(hex: &str) -> Option<&'static str> {
    Some(match hex.to_ascii_uppercase().as_str() {
        "#000000" => "black",
        "#00FFFF" => "cyan",
        "#FF00FF" => "magenta",
        "#FFFF00" => "yellow",
        "#808080" => "gray",
        "#FF0000" => "red",
        "#00FF00" => "green",
        "#0000FF" => "blue",
        _ => return None,
    })
}

fn markers(attrs: &Attributes) -> (Vec<InkCartridge>, Vec<Printhead>) {
    let names = texts(attrs, "marker-names");
    let types = texts(attrs, "marker-types");
    let colors = texts(attrs, "marker-colors");
    let levels = ints(attrs, "marker-levels");
    let lows = ints(attrs, "marker-low-levels");
    let supplies = supplies(attrs);
    let mut cartridges = Vec::new();
    let mut printheads = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let kind = types
            .get(i)
            .map(|t| super::snake_case(t))
            .unwrap_or_default();
        let level = levels.get(i).copied().flatten();
        let low = lows.get(i).copied().flatten();
        // -1 other, -2 unknown, -3 "some remains" (RFC 3805).
        let state = match level {
            Some(0) => ConsumableState::Empty,
            Some(l) if l > 0 && low.is_some_and(|low| l <= low) => ConsumableState::Low,
            Some(l) if l > 0 || l == -3 => ConsumableState::Ok,
            _ => ConsumableState::Unknown,
        };
        let level_pct = level
            .and_then(|l| u8::try_from(l).ok())
            .filter(|l| *l <= 100);
        let slot = (i + 1).to_string();
        let is_head = name.to_ascii_lowercase().contains("printhead")
            || name.to_ascii_lowercase().contains("print head");
        if is_head {
            printheads.push(Printhead {
                slot,
                colors: Vec::new(),
                state,
                health_pct: level_pct,
                product_number: String::new(),
                product_name: name.clone(),
                serial_number: String::new(),
                non_hp_ink_used: false,
                expires_on: None,
            });
            continue;
        }
        if !matches!(
            kind.as_str(),
            "ink_cartridge" | "ink" | "ink_ribbon" | "toner_cartridge"
        ) {
            continue;
        }
        let mut color = ink_color(name);
        if !InkColor::KNOWN.contains(&color.as_str())
            && let Some(c) = colors.get(i).and_then(|c| color_from_hex(c))
        {
            color = c.to_owned();
        }
        let product_name = supplies
            .iter()
            .find(|s| s.color.as_deref() == Some(color.as_str()))
            .and_then(|s| s.description.clone())
            .unwrap_or_default();
        cartridges.push(InkCartridge {
            slot,
            color: InkColor::new(color),
            state,
            product_number: String::new(),
            product_name,
            serial_number: String::new(),
            manufacturer: String::new(),
            capacity_ul: 0,
            ink_used_ul: 0,
            non_hp_ink_used_ul: 0,
            level_pct,
            expires_on: None,
        });
    }
    // No marker attributes: fall back on printer-supply.
    if names.is_empty() {
        for (i, s) in supplies.into_iter().enumerate() {
            if !s.kind.contains("ink") {
                continue;
            }
            let Some(color) = s.color else {
                continue;
            };
            cartridges.push(InkCartridge {
                slot: s.index.unwrap_or_else(|| (i + 1).to_string()),
                color: InkColor::new(color),
                state: ConsumableState::Unknown,
                product_number: String::new(),
                product_name: s.description.unwrap_or_default(),
                serial_number: String::new(),
                manufacturer: String::new(),
                capacity_ul: 0,
                ink_used_ul: 0,
                non_hp_ink_used_ul: 0,
                level_pct: s.level_pct,
                expires_on: None,
            });
        }
    }
    (cartridges, printheads)
}

struct Supply {
    index: Option<String>,
    kind: String,
    color: Option<String>,
    level_pct: Option<u8>,
    description: Option<String>,
}

fn supply_level_pct(kv: &HashMap<String, String>) -> Option<u8> {
    let level: f64 = kv.get("level")?.parse().ok()?;
    let pct = if kv.get("unit").map(String::as_str) == Some("percent") {
        level
    } else {
        let max: f64 = kv.get("maxcapacity")?.parse().ok()?;
        if max <= 0.0 {
            return None;
        }
        level / max * 100.0
    };
    // Negative levels are RFC 3805's "unknown" markers.
    if !(0.0..=100.0).contains(&pct) {
        return None;
    }
    // In 0..=100 after the check above.
    Some(pct.round() as u8)
}

fn supplies(attrs: &Attributes) -> Vec<Supply> {
    let descriptions = texts(attrs, "printer-supply-description");
    texts(attrs, "printer-supply")
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let kv = key_values(s);
            Supply {
                index: kv.get("index").cloned(),
                kind: kv
                    .get("type")
                    .map(|t| super::snake_case(t))
                    .unwrap_or_default(),
                color: kv.get("colorantname").map(|c| ink_color(c)),
                level_pct: supply_level_pct(&kv),
                description: descriptions.get(i).cloned().filter(|d| !d.is_empty()),
            }
        })
        .collect()
}

fn source_kind(source: &str) -> MediaSourceKind {
    let s = source.to_ascii_lowercase();
    if s.contains("roll") {
        MediaSourceKind::Roll
    } else if s.contains("tray") && !s.contains("by-pass") {
        MediaSourceKind::Tray
    } else if s.contains("by-pass") || s.contains("manual") || s.contains("sheet") {
        MediaSourceKind::Sheet
    } else {
        MediaSourceKind::Unknown
    }
}

fn media(attrs: &Attributes) -> (Vec<MediaSource>, Vec<MediaTypeInfo>) {
    let mut sources = Vec::new();
    if let Some(v) = get(attrs, "media-col-ready") {
        for (i, col) in list(v).into_iter().enumerate() {
            let id = member(col, "media-source")
                .and_then(text)
                .unwrap_or_else(|| format!("source-{}", i + 1));
            let size = member(col, "media-size");
            // Dimensions are in hundredths of a millimetre; a roll's length
            // is a range, which is not a loaded length.
            let dim = |name: &str| {
                size.and_then(|s| member(s, name))
                    .and_then(|d| match d {
                        IppValue::Integer(x) => u32::try_from(*x).ok(),
                        _ => None,
                    })
                    .map(|x| x / 100)
                    .filter(|x| *x > 0)
            };
            sources.push(MediaSource {
                kind: source_kind(&id),
                id,
                state: MediaSourceState::Loaded,
                media_type: member(col, "media-type").and_then(text),
                width_mm: dim("x-dimension"),
                height_mm: dim("y-dimension"),
            });
        }
    } else {
        for (i, name) in texts(attrs, "media-ready").into_iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            sources.push(MediaSource {
                id: format!("source-{}", i + 1),
                kind: source_kind(&name),
                state: MediaSourceState::Loaded,
                media_type: None,
                width_mm: None,
                height_mm: None,
            });
        }
    }
    let types = texts(attrs, "media-type-supported")
        .into_iter()
        .filter(|t| !t.is_empty() && t != "auto")
        .map(|id| MediaTypeInfo {
            id: super::snake_case(&id),
            names: BTreeMap::new(),
        })
        .collect();
    (sources, types)
}

fn alerts(attrs: &Attributes, collected_at: DateTime<Utc>) -> Vec<DeviceAlert> {
    let detected_at = get(attrs, "printer-state-change-date-time")
        .and_then(date_time)
        .unwrap_or(collected_at);
    let descriptions = texts(attrs, "printer-alert-description");
    let mut out = Vec::new();
    for (i, a) in texts(attrs, "printer-alert").iter().enumerate() {
        let kv = key_values(a);
        let Some(code) = kv.get("code").filter(|c| !c.is_empty()) else {
            continue;
        };
        let severity = match kv.get("severity").map(String::as_str) {
            Some("critical") => Severity::Critical,
            Some("serious" | "error") => Severity::Major,
            Some("warning") => Severity::Warning,
            _ => Severity::Info,
        };
        out.push(DeviceAlert {
            code: code.clone(),
            severity,
            message: descriptions.get(i).cloned().unwrap_or_default(),
            detected_at,
            active: true,
            during_boot: false,
        });
    }
    for reason in texts(attrs, "printer-state-reasons") {
        if reason.is_empty() || reason == "none" {
            continue;
        }
        // RFC 8011 5.4.12: no suffix means an error.
        let severity = if reason.ends_with("-report") {
            Severity::Info
        } else if reason.ends_with("-warning")
            || matches!(reason.as_str(), "paused" | "moving-to-paused" | "other")
        {
            Severity::Warning
        } else {
            Severity::Major
        };
        out.push(DeviceAlert {
            message: reason.clone(),
            code: reason,
            severity,
            detected_at,
            active: true,
            during_boot: false,
        });
    }
    out
}

// ---------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------

/// One completed job from a Get-Jobs answer.
pub fn print_job(attrs: &Attributes, serial: &str, now: DateTime<Utc>) -> Option<(u64, PrintJob)> {
    let job_id = get(attrs, "job-id")
        .and_then(int)
        .and_then(|i| u64::try_from(i).ok())?;
    let created = get(attrs, "date-time-at-creation").and_then(date_time);
    let processing = get(attrs, "date-time-at-processing").and_then(date_time);
    let completed = get(attrs, "date-time-at-completed").and_then(date_time);
    let uuid = get_text(attrs, "job-uuid")
        .and_then(|u| Uuid::parse_str(u.trim_start_matches("urn:uuid:")).ok())
        .unwrap_or_else(|| derived_job_uuid(serial, job_id, created));
    let reasons = texts(attrs, "job-state-reasons");
    let status = match get(attrs, "job-state").and_then(int) {
        Some(9) if reasons.iter().any(|r| r == "job-completed-with-errors") => PrintStatus::Partial,
        Some(9) => PrintStatus::Printed,
        Some(7) => PrintStatus::Cancelled,
        Some(8) => PrintStatus::Aborted,
        _ => PrintStatus::Unknown,
    };
    let quality = match get(attrs, "print-quality").and_then(int) {
        Some(3) => PrintQuality::Fast,
        Some(4) => PrintQuality::Normal,
        Some(5) => PrintQuality::Best,
        _ => PrintQuality::Unknown,
    };
    let count = |name: &str| {
        get(attrs, name)
            .and_then(int)
            .and_then(|v| u32::try_from(v).ok())
    };
    let print_time_s = match (processing, completed) {
        (Some(p), Some(c)) if c >= p => u32::try_from((c - p).num_seconds()).unwrap_or(0),
        _ => 0,
    };
    let job = PrintJob {
        job: JobIdentity {
            uuid,
            name: get_text(attrs, "job-name").unwrap_or_default(),
            sequence_number: job_id,
            project_id: None,
            application_id: None,
            custom_field: None,
            account_id: get_text(attrs, "job-account-id"),
            user_name: get_text(attrs, "job-originating-user-name"),
            submitted_at: created,
        },
        print: PrintDetails {
            printed_at: completed.or(processing).or(created).unwrap_or(now),
            status,
            source: JobSource::Unknown,
            category: ppu_protocol::PrintCategory::Unknown,
            quality,
            media_type: get(attrs, "media-col")
                .and_then(|c| member(c, "media-type"))
                .and_then(text),
            pages: count("job-impressions-completed")
                .or_else(|| count("job-impressions"))
                .unwrap_or(0),
            copies: count("copies").unwrap_or(0),
            print_time_s,
            ink: Vec::new(),
            media_area_mm2: 0,
            media_length_mm: 0,
            printed_area_mm2: 0,
            categories: Vec::new(),
            non_white_coverage_bp: 0,
            color_coverage_bp: 0,
        },
    };
    Some((job_id, job))
}

/// The jobs of a Get-Jobs answer that are not in `cursor`, and the new cursor.
pub fn new_jobs(
    resp: &IppRequestResponse,
    serial: &str,
    cursor: &JobCursor,
    now: DateTime<Utc>,
) -> JobRead {
    let seen: HashSet<Uuid> = cursor.seen.iter().copied().collect();
    let mut listing = Vec::new();
    for group in resp.attributes().groups_of(DelimiterTag::JobAttributes) {
        if let Some(job) = print_job(&group_map(group.attributes()), serial, now) {
            listing.push(job);
        }
    }
    listing.sort_by_key(|(id, _)| *id);
    let mut next = JobCursor {
        last_sequence: cursor.last_sequence,
        seen: listing.iter().map(|(_, j)| j.job.uuid).collect(),
    };
    let mut jobs = Vec::new();
    for (id, job) in listing {
        next.last_sequence = next.last_sequence.max(id);
        if !seen.contains(&job.job.uuid) {
            jobs.push(Job::Print(job));
        }
    }
    JobRead {
        jobs,
        cursor: next,
        missed: 0,
    }
}

/// Read the completed jobs not seen before.
///
/// # Errors
/// When the device cannot be read.
pub async fn read_jobs(
    client: &PrinterClient,
    resource: &str,
    serial: &str,
    cursor: &JobCursor,
) -> Result<JobRead, PrinterError> {
    let resp = client
        .ipp(resource, IppRead::CompletedJobs(JOB_ATTRIBUTES))
        .await?;
    Ok(new_jobs(&resp, serial, cursor, Utc::now()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipp::prelude::IppAttribute;

    fn kw(s: &str) -> IppValue {
        IppValue::new_keyword(s).unwrap()
    }
    fn name(s: &str) -> IppValue {
        IppValue::new_name_without_language(s).unwrap()
    }
    fn txt(s: &str) -> IppValue {
        IppValue::new_text_without_language(s).unwrap()
    }
    fn dt(h: u8) -> IppValue {
        IppValue::DateTime(IppDateTime {
            year: 2026,
            month: 11,
            day: 27,
            hour: h,
            minutes: 2,
            seconds: 45,
            deci_seconds: 0,
            utc_dir: '+',
            utc_hours: 1,
            utc_mins: 0,
        })
    }

    /// The attributes `ippeveprinter` answers with the designjet attribute
    /// file (see tests/peers/).
    fn designjet() -> Attributes {
        let mut a = Attributes::new();
        a.insert(
            "printer-make-and-model".into(),
            txt("HP DesignJet T1500 PS"),
        );
        a.insert("printer-serial-number".into(), txt("CN12345678"));
        a.insert("printer-firmware-string-version".into(), txt("2.7.1.12"));
        a.insert(
            "printer-uuid".into(),
            IppValue::new_uri("urn:uuid:b9061d56-68a0-3b54-7ed5-722b855b20d9").unwrap(),
        );
        a.insert("printer-state".into(), IppValue::Enum(3));
        a.insert(
            "printer-state-reasons".into(),
            kw("marker-supply-low-warning"),
        );
        a.insert("printer-state-message".into(), txt("Idle."));
        a.insert(
            "marker-names".into(),
            IppValue::Array(vec![
                name("Matte-Black"),
                name("Cyan"),
                name("Yellow"),
                name("Printhead 1"),
            ]),
        );
        a.insert(
            "marker-types".into(),
            IppValue::Array(vec![
                kw("ink-cartridge"),
                kw("ink-cartridge"),
                kw("ink-cartridge"),
                kw("other"),
            ]),
        );
        a.insert(
            "marker-colors".into(),
            IppValue::Array(vec![
                name("#000000"),
                name("#00FFFF"),
                name("#FFFF00"),
                name("none"),
            ]),
        );
        a.insert(
            "marker-levels".into(),
            IppValue::Array(vec![
                IppValue::Integer(80),
                IppValue::Integer(0),
                IppValue::Integer(9),
                IppValue::Integer(-3),
            ]),
        );
        a.insert(
            "marker-low-levels".into(),
            IppValue::Array(vec![IppValue::Integer(10); 4]),
        );
        a.insert(
            "printer-supply".into(),
            IppValue::Array(vec![IppValue::OctetString(
                "index=1;class=supplyThatIsConsumed;type=inkCartridge;unit=percent;maxcapacity=100;level=64;colorantname=matteBlack;"
                    .as_bytes()
                    .to_vec()
                    .into(),
            )]),
        );
        a.insert(
            "printer-supply-description".into(),
            txt("HP 727 130-ml Matte Black Ink Cartridge"),
        );
        let mut size = BTreeMap::new();
        size.insert("x-dimension".try_into().unwrap(), IppValue::Integer(91_440));
        size.insert(
            "y-dimension".try_into().unwrap(),
            IppValue::RangeOfInteger {
                min: 0,
                max: 5_000_000,
            },
        );
        let mut col = BTreeMap::new();
        col.insert("media-source".try_into().unwrap(), kw("main-roll"));
        col.insert("media-type".try_into().unwrap(), kw("plain"));
        col.insert("media-size".try_into().unwrap(), IppValue::Collection(size));
        a.insert("media-col-ready".into(), IppValue::Collection(col));
        a.insert(
            "media-type-supported".into(),
            IppValue::Array(vec![kw("auto"), kw("plain"), kw("heavyweight-coated")]),
        );
        a.insert(
            "printer-alert".into(),
            IppValue::OctetString(
                b"code=markerSupplyLow;severity=warning;group=markerSupplies;"
                    .to_vec()
                    .into(),
            ),
        );
        a.insert(
            "printer-alert-description".into(),
            txt("Yellow cartridge low"),
        );
        a.insert(
            "printer-impressions-completed".into(),
            IppValue::Integer(12_345),
        );
        a
    }

    #[test]
    fn printer_attributes_map_onto_the_report() {
        let now = Utc::now();
        let a = designjet();
        let id = identity(&a);
        assert_eq!(id.make_and_model, "HP DesignJet T1500 PS");
        assert_eq!(id.serial_number.as_deref(), Some("CN12345678"));
        let r = report(&a, "CN12345678", now);
        let config = r.config.unwrap();
        assert_eq!(config.firmware_version, "2.7.1.12");
        let status = r.status.unwrap();
        assert_eq!(status.engine.state, EngineState::Warning);
        assert_eq!(status.cartridges.len(), 3);
        let c = &status.cartridges[0];
        assert_eq!(
            (c.color.as_str(), c.level_pct, c.state),
            ("matte_black", Some(80), ConsumableState::Ok)
        );
        assert_eq!(c.product_name, "HP 727 130-ml Matte Black Ink Cartridge");
        assert_eq!(status.cartridges[1].state, ConsumableState::Empty);
        assert_eq!(status.cartridges[2].state, ConsumableState::Low);
        assert_eq!(status.printheads.len(), 1);
        assert_eq!(status.printheads[0].state, ConsumableState::Ok);
        assert_eq!(status.media_sources.len(), 1);
        let m = &status.media_sources[0];
        assert_eq!(
            (m.id.as_str(), m.kind, m.width_mm, m.height_mm),
            ("main-roll", MediaSourceKind::Roll, Some(914), None)
        );
        assert_eq!(m.media_type.as_deref(), Some("plain"));
        assert_eq!(status.supported_media_types.len(), 2);
        assert_eq!(status.supported_media_types[1].id, "heavyweight_coated");
        assert_eq!(r.alerts.len(), 2);
        assert_eq!(r.alerts[0].code, "markerSupplyLow");
        assert_eq!(r.alerts[0].severity, Severity::Warning);
        assert_eq!(r.alerts[0].message, "Yellow cartridge low");
        assert_eq!(r.alerts[1].code, "marker-supply-low-warning");
        assert_eq!(r.counters.unwrap().pages, 12_345);
    }

    #[test]
    fn a_bare_printer_gives_absent_fields_not_errors() {
        let now = Utc::now();
        let mut a = Attributes::new();
        a.insert(
            "printer-device-id".into(),
            txt("MFG:HP;MDL:DesignJet T920;SN:CN99;"),
        );
        let id = identity(&a);
        assert_eq!(id.make_and_model, "HP DesignJet T920");
        assert_eq!(id.serial_number.as_deref(), Some("CN99"));
        let r = report(&a, "CN99", now);
        assert!(r.counters.is_none());
        assert!(r.alerts.is_empty());
        let s = r.status.unwrap();
        assert!(s.cartridges.is_empty() && s.media_sources.is_empty());
        assert_eq!(s.engine.state, EngineState::Unknown);
        assert_eq!(identity(&Attributes::new()).serial_number, None);
    }

    fn job_group(id: i32, uuid: Option<&str>, state: i32) -> Vec<IppAttribute> {
        let mut v = vec![
            IppAttribute::with_name("job-id", IppValue::Integer(id)).unwrap(),
            IppAttribute::with_name("job-name", name("floorplan-A0.pdf")).unwrap(),
            IppAttribute::with_name("job-originating-user-name", name("alice")).unwrap(),
            IppAttribute::with_name("job-account-id", name("ACCT-42")).unwrap(),
            IppAttribute::with_name("job-state", IppValue::Enum(state)).unwrap(),
            IppAttribute::with_name("date-time-at-creation", dt(1)).unwrap(),
            IppAttribute::with_name("date-time-at-processing", dt(1)).unwrap(),
            IppAttribute::with_name("date-time-at-completed", dt(2)).unwrap(),
            IppAttribute::with_name("job-impressions-completed", IppValue::Integer(2)).unwrap(),
            IppAttribute::with_name("copies", IppValue::Integer(1)).unwrap(),
        ];
        if let Some(u) = uuid {
            v.push(IppAttribute::with_name("job-uuid", IppValue::new_uri(u).unwrap()).unwrap());
        }
        v
    }

    fn get_jobs_answer(jobs: &[Vec<IppAttribute>]) -> IppRequestResponse {
        let mut resp = IppRequestResponse::new_response(
            ipp::prelude::IppVersion::v2_0(),
            ipp::prelude::StatusCode::SuccessfulOk,
            1,
        )
        .unwrap();
        for job in jobs {
            // A new group per job: add the first attribute to a fresh group.
            let attrs = resp.attributes_mut();
            attrs
                .groups_mut()
                .push(ipp::prelude::IppAttributeGroup::new(
                    DelimiterTag::JobAttributes,
                ));
            let group = attrs.groups_mut().last_mut().unwrap();
            group.attributes_mut().extend(job.iter().cloned());
        }
        resp
    }

    #[test]
    fn jobs_are_new_exactly_once() {
        let now = Utc::now();
        let u1 = "urn:uuid:b76aab1b-569d-39ba-504d-f73bce715c53";
        let u2 = "urn:uuid:0d1a2b3c-569d-39ba-504d-f73bce715c53";
        let first = get_jobs_answer(&[job_group(1, Some(u1), 9)]);
        let read = new_jobs(&first, "CN1", &JobCursor::default(), now);
        assert_eq!(read.jobs.len(), 1);
        let Job::Print(j) = &read.jobs[0] else {
            panic!()
        };
        assert_eq!(
            j.job.uuid.to_string(),
            "b76aab1b-569d-39ba-504d-f73bce715c53"
        );
        assert_eq!(j.job.account_id.as_deref(), Some("ACCT-42"));
        assert_eq!(j.job.user_name.as_deref(), Some("alice"));
        assert_eq!(j.print.pages, 2);
        assert_eq!(j.print.status, PrintStatus::Printed);
        assert_eq!(j.print.print_time_s, 3600);
        assert_eq!(j.print.printed_at.to_rfc3339(), "2026-11-27T01:02:45+00:00");
        // Same listing again: nothing new. Then job 1 purged, 2 (cancelled) and 3 (no uuid) appear.
        let again = new_jobs(&first, "CN1", &read.cursor, now);
        assert!(again.jobs.is_empty());
        let later = get_jobs_answer(&[job_group(3, None, 9), job_group(2, Some(u2), 7)]);
        let read2 = new_jobs(&later, "CN1", &again.cursor, now);
        assert_eq!(read2.jobs.len(), 2);
        assert_eq!(read2.jobs[0].identity().sequence_number, 2, "oldest first");
        let Job::Print(j3) = &read2.jobs[1] else {
            panic!()
        };
        assert_eq!(j3.job.uuid, derived_job_uuid("CN1", 3, j3.job.submitted_at));
        let Job::Print(j2) = &read2.jobs[0] else {
            panic!()
        };
        assert_eq!(j2.print.status, PrintStatus::Cancelled);
        assert_eq!(read2.cursor.last_sequence, 3);
        assert_eq!(
            read2.cursor.seen.len(),
            2,
            "job 1 left the listing and the cursor"
        );
        assert!(new_jobs(&later, "CN1", &read2.cursor, now).jobs.is_empty());
    }
}
