//! Alert rules: which alerts a printer report raises and which it clears.
//!
//! Pure functions of a report, the previous counter reading and the reseller's
//! thresholds. Device alerts are taken as reported; derived alerts are
//! evaluated on every report that carries the data they need, and a derived
//! alert whose rule was evaluated and no longer holds is cleared.
//!
//! Codes are stable strings: `device:<code>` for reported alerts,
//! `<rule>` or `<rule>:<slot>` for derived ones (one alert per cartridge,
//! printhead or media source).

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use ppu_protocol::model::{
    ConsumableState, LifetimeCounters, MediaSourceState, PrinterReport, Severity,
};
use serde::{Deserialize, Serialize};

use super::usage::Regression;

/// Thresholds of the derived rules; configurable per reseller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertThresholds {
    /// A cartridge at or under this level is low.
    pub cartridge_low_pct: u8,
    /// Warn when a cartridge is predicted empty within this many days.
    pub predicted_empty_days: u32,
    /// A printhead under this health is reported.
    pub printhead_health_min_pct: u8,
    /// A printer silent for this many times its expected interval stopped reporting.
    pub stale_factor: u32,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        Self {
            cartridge_low_pct: 10,
            predicted_empty_days: 7,
            printhead_health_min_pct: 20,
            stale_factor: 2,
        }
    }
}

impl AlertThresholds {
    /// Check ranges.
    pub fn validate(&self) -> Result<(), String> {
        if self.cartridge_low_pct > 100 || self.printhead_health_min_pct > 100 {
            return Err("percentages must be between 0 and 100".into());
        }
        if self.stale_factor < 1 || self.stale_factor > 100 {
            return Err("stale_factor must be between 1 and 100".into());
        }
        if self.predicted_empty_days > 365 {
            return Err("predicted_empty_days must be at most 365".into());
        }
        Ok(())
    }
}

/// Where an alert comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    /// Reported by the device.
    Device,
    /// Derived by the hub.
    Derived,
}

impl AlertSource {
    /// The stored identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Device => "device",
            Self::Derived => "derived",
        }
    }
}

/// An alert that holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raise {
    /// Stable code.
    pub code: String,
    /// Severity.
    pub severity: Severity,
    /// Message.
    pub message: String,
    /// Source.
    pub source: AlertSource,
    /// When the condition was seen.
    pub seen_at: DateTime<Utc>,
}

/// What a report means for a printer's alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Alerts that hold now (raise, or count one more occurrence).
    pub raise: Vec<Raise>,
    /// Codes explicitly reported as cleared by the device.
    pub cleared: BTreeSet<String>,
    /// Rule prefixes that were evaluated: an open alert under one of these
    /// prefixes that is not in `raise` no longer holds and clears.
    pub evaluated: BTreeSet<&'static str>,
}

impl Evaluation {
    /// Whether an open alert with `code` should be cleared now.
    pub fn clears(&self, code: &str) -> bool {
        if self.cleared.contains(code) {
            return true;
        }
        if self.raise.iter().any(|r| r.code == code) {
            return false;
        }
        let prefix = code.split(':').next().unwrap_or(code);
        self.evaluated.contains(prefix)
    }
}

/// The stored code of a device alert: `device:<code as reported>`.
pub fn device_code(code: &str) -> String {
    format!("device:{code}")
}

/// Everything the rules look at besides the report.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Thresholds of the printer's reseller.
    pub thresholds: &'a AlertThresholds,
    /// The previous counter reading and when it was taken.
    pub previous: Option<(&'a LifetimeCounters, DateTime<Utc>)>,
    /// Counters that went backwards in this report.
    pub regressions: &'a [Regression],
}

fn raise(
    out: &mut Evaluation,
    code: String,
    severity: Severity,
    message: String,
    at: DateTime<Utc>,
) {
    out.raise.push(Raise {
        code,
        severity,
        message,
        source: AlertSource::Derived,
        seen_at: at,
    });
}

fn expired(date: Option<NaiveDate>, today: NaiveDate) -> bool {
    date.is_some_and(|d| d < today)
}

/// Evaluate a printer report.
pub fn evaluate(report: &PrinterReport, ctx: Context<'_>) -> Evaluation {
    let mut out = Evaluation::default();
    let at = report.collected_at;
    let today = at.date_naive();
    // Any report means the printer reports again.
    out.evaluated.insert("stopped_reporting");

    // Device alerts as reported. With a full status report the alert table is
    // complete, so device alerts missing from it have cleared.
    for a in &report.alerts {
        let code = device_code(&a.code);
        if a.active {
            out.raise.push(Raise {
                code,
                severity: a.severity,
                message: a.message.clone(),
                source: AlertSource::Device,
                seen_at: a.detected_at,
            });
        } else {
            out.cleared.insert(code);
        }
    }
    if report.status.is_some() {
        out.evaluated.insert("device");
    }

    if let Some(status) = &report.status {
        out.evaluated.extend([
            "cartridge_low",
            "cartridge_empty",
            "cartridge_expired",
            "printhead_expired",
            "printhead_health_low",
            "non_hp_ink",
            "media_out",
        ]);
        let t = ctx.thresholds;
        for c in &status.cartridges {
            let empty = matches!(c.state, ConsumableState::Empty)
                || c.level_pct == Some(0)
                || (c.capacity_ul > 0 && c.ink_used_ul >= c.capacity_ul);
            let low_level = c.level_pct.is_some_and(|l| l <= t.cartridge_low_pct)
                || matches!(c.state, ConsumableState::Low | ConsumableState::VeryLow);
            if empty {
                raise(
                    &mut out,
                    format!("cartridge_empty:{}", c.slot),
                    Severity::Major,
                    format!("{} cartridge in slot {} is empty", c.color, c.slot),
                    at,
                );
            } else if low_level {
                raise(
                    &mut out,
                    format!("cartridge_low:{}", c.slot),
                    Severity::Warning,
                    format!(
                        "{} cartridge in slot {} is low{}",
                        c.color,
                        c.slot,
                        c.level_pct.map(|l| format!(" ({l} %)")).unwrap_or_default()
                    ),
                    at,
                );
            }
            if expired(c.expires_on, today) {
                raise(
                    &mut out,
                    format!("cartridge_expired:{}", c.slot),
                    Severity::Minor,
                    format!(
                        "{} cartridge in slot {} is past its expiry date",
                        c.color, c.slot
                    ),
                    at,
                );
            }
            let non_hp_manufacturer =
                !c.manufacturer.is_empty() && !c.manufacturer.eq_ignore_ascii_case("hp");
            if c.non_hp_ink_used_ul > 0 || non_hp_manufacturer {
                raise(
                    &mut out,
                    format!("non_hp_ink:{}", c.slot),
                    Severity::Major,
                    format!(
                        "non-HP ink in slot {} ({}): contract relevant",
                        c.slot,
                        if c.manufacturer.is_empty() {
                            "unknown maker"
                        } else {
                            &c.manufacturer
                        }
                    ),
                    at,
                );
            }
        }
        for p in &status.printheads {
            if expired(p.expires_on, today) {
                raise(
                    &mut out,
                    format!("printhead_expired:{}", p.slot),
                    Severity::Minor,
                    format!("printhead {} is past its warranty date", p.slot),
                    at,
                );
            }
            if let Some(h) = p.health_pct
                && h < t.printhead_health_min_pct
            {
                raise(
                    &mut out,
                    format!("printhead_health_low:{}", p.slot),
                    Severity::Major,
                    format!(
                        "printhead {} health is {h} %, under {} %",
                        p.slot, t.printhead_health_min_pct
                    ),
                    at,
                );
            }
            if p.non_hp_ink_used {
                raise(
                    &mut out,
                    format!("non_hp_ink:printhead-{}", p.slot),
                    Severity::Major,
                    format!(
                        "printhead {} has been used with non-HP ink: contract relevant",
                        p.slot
                    ),
                    at,
                );
            }
        }
        for m in &status.media_sources {
            if matches!(m.state, MediaSourceState::Out) {
                raise(
                    &mut out,
                    format!("media_out:{}", m.id),
                    Severity::Minor,
                    format!("media source {} is out of media", m.id),
                    at,
                );
            }
        }
    }

    if report.counters.is_some() {
        out.evaluated.insert("counter_went_backwards");
        if !ctx.regressions.is_empty() {
            let which: Vec<&str> = ctx.regressions.iter().map(|r| r.counter.as_str()).collect();
            raise(
                &mut out,
                "counter_went_backwards".into(),
                Severity::Critical,
                format!(
                    "lifetime counters went backwards ({}); a new baseline was started",
                    which.join(", ")
                ),
                at,
            );
        }
    }

    if let (Some(status), Some(counters), Some((prev, prev_at))) =
        (&report.status, &report.counters, ctx.previous)
    {
        out.evaluated.insert("cartridge_predicted_empty");
        let hours = (at - prev_at).num_seconds() as f64 / 3600.0;
        for c in &status.cartridges {
            let used_now = counters
                .cartridge_types
                .iter()
                .find(|t| t.product_number == c.product_number)
                .map(|t| t.ink_used_ul);
            let used_before = prev
                .cartridge_types
                .iter()
                .find(|t| t.product_number == c.product_number)
                .map(|t| t.ink_used_ul);
            let (Some(now), Some(before)) = (used_now, used_before) else {
                continue;
            };
            if hours <= 0.0 || now <= before || c.capacity_ul == 0 {
                continue;
            }
            // Ink is not money: a float estimate of days left is fine here.
            let rate_per_day = (now - before) as f64 / hours * 24.0;
            let remaining = c.capacity_ul.saturating_sub(c.ink_used_ul) as f64;
            let days_left = remaining / rate_per_day;
            if remaining > 0.0 && days_left <= f64::from(ctx.thresholds.predicted_empty_days) {
                raise(
                    &mut out,
                    format!("cartridge_predicted_empty:{}", c.slot),
                    Severity::Minor,
                    format!(
                        "{} cartridge in slot {} is predicted empty in {:.1} days",
                        c.color, c.slot, days_left
                    ),
                    at,
                );
            }
        }
    }
    out
}

/// The alert raised when a printer stopped reporting.
pub fn stopped_reporting(last_upload: DateTime<Utc>, interval_s: i64, now: DateTime<Utc>) -> Raise {
    Raise {
        code: "stopped_reporting".into(),
        severity: Severity::Major,
        message: format!(
            "no upload since {} (expected every {} s)",
            last_upload.to_rfc3339(),
            interval_s
        ),
        source: AlertSource::Derived,
        seen_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppu_protocol::model::{
        CartridgeTypeUsage, DeviceAlert, InkCartridge, InkColor, MediaSource, MediaSourceKind,
        PrinterStatus, Printhead,
    };

    fn cartridge(level: u8, used: u64) -> InkCartridge {
        InkCartridge {
            slot: "C".into(),
            color: InkColor::new("cyan"),
            state: ConsumableState::Ok,
            product_number: "P2V71A".into(),
            product_name: "HP 730 Cyan".into(),
            serial_number: "X".into(),
            manufacturer: "HP".into(),
            capacity_ul: 130_000,
            ink_used_ul: used,
            non_hp_ink_used_ul: 0,
            level_pct: Some(level),
            expires_on: None,
        }
    }

    fn report_with(status: PrinterStatus) -> PrinterReport {
        let mut r = PrinterReport::new("S1", Utc::now());
        r.status = Some(status);
        r
    }

    fn ctx(t: &AlertThresholds) -> Context<'_> {
        Context {
            thresholds: t,
            previous: None,
            regressions: &[],
        }
    }

    #[test]
    fn low_and_empty_cartridges_and_their_clearing() {
        let t = AlertThresholds::default();
        let low = evaluate(
            &report_with(PrinterStatus {
                cartridges: vec![cartridge(8, 100_000)],
                ..Default::default()
            }),
            ctx(&t),
        );
        assert_eq!(low.raise.len(), 1);
        assert_eq!(low.raise[0].code, "cartridge_low:C");
        assert_eq!(low.raise[0].severity, Severity::Warning);
        let replaced = evaluate(
            &report_with(PrinterStatus {
                cartridges: vec![cartridge(100, 0)],
                ..Default::default()
            }),
            ctx(&t),
        );
        assert!(replaced.raise.is_empty());
        assert!(replaced.clears("cartridge_low:C"), "condition resolved");
        assert!(
            !replaced.clears("collector_offline"),
            "other rules untouched"
        );
        assert!(
            replaced.clears("stopped_reporting"),
            "a report means it reports again"
        );
        let empty = evaluate(
            &report_with(PrinterStatus {
                cartridges: vec![cartridge(0, 130_000)],
                ..Default::default()
            }),
            ctx(&t),
        );
        assert_eq!(empty.raise[0].code, "cartridge_empty:C");
    }

    #[test]
    fn thresholds_are_per_reseller() {
        let strict = AlertThresholds {
            cartridge_low_pct: 30,
            ..AlertThresholds::default()
        };
        let e = evaluate(
            &report_with(PrinterStatus {
                cartridges: vec![cartridge(25, 1)],
                ..Default::default()
            }),
            ctx(&strict),
        );
        assert_eq!(e.raise.len(), 1);
        let e = evaluate(
            &report_with(PrinterStatus {
                cartridges: vec![cartridge(25, 1)],
                ..Default::default()
            }),
            ctx(&AlertThresholds::default()),
        );
        assert!(e.raise.is_empty());
    }

    #[test]
    fn printheads_media_non_hp_and_expiry() {
        let t = AlertThresholds::default();
        let mut c = cartridge(50, 1);
        c.manufacturer = "InkCo".into();
        c.expires_on = NaiveDate::from_ymd_opt(2020, 1, 1);
        let e = evaluate(
            &report_with(PrinterStatus {
                cartridges: vec![c],
                printheads: vec![Printhead {
                    slot: "1".into(),
                    colors: vec![],
                    state: ConsumableState::Ok,
                    health_pct: Some(12),
                    product_number: String::new(),
                    product_name: String::new(),
                    serial_number: String::new(),
                    non_hp_ink_used: false,
                    expires_on: None,
                }],
                media_sources: vec![MediaSource {
                    id: "roll1".into(),
                    kind: MediaSourceKind::Roll,
                    state: MediaSourceState::Out,
                    media_type: None,
                    width_mm: None,
                    height_mm: None,
                }],
                ..Default::default()
            }),
            ctx(&t),
        );
        let codes: BTreeSet<_> = e.raise.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(
            codes,
            BTreeSet::from([
                "cartridge_expired:C",
                "non_hp_ink:C",
                "printhead_health_low:1",
                "media_out:roll1"
            ])
        );
    }

    #[test]
    fn device_alerts_and_full_tables() {
        let t = AlertThresholds::default();
        let mut r = PrinterReport::new("S1", Utc::now());
        r.alerts.push(DeviceAlert {
            code: "65.04".into(),
            severity: Severity::Critical,
            message: "printhead error".into(),
            detected_at: Utc::now(),
            active: true,
            during_boot: true,
        });
        let e = evaluate(&r, ctx(&t));
        assert_eq!(e.raise[0].code, "device:65.04");
        assert!(
            !e.clears("device:other"),
            "an alert-only upload is not a full table"
        );
        r.status = Some(PrinterStatus::default());
        r.alerts.clear();
        let e = evaluate(&r, ctx(&t));
        assert!(
            e.clears("device:65.04"),
            "a full status without it clears it"
        );
    }

    #[test]
    fn predicted_empty_from_consumption_rate() {
        let t = AlertThresholds::default();
        let usage = |ul| LifetimeCounters {
            cartridge_types: vec![CartridgeTypeUsage {
                product_number: "P2V71A".into(),
                color: InkColor::new("cyan"),
                ink_used_ul: ul,
                hp_ink_used_ul: ul,
                non_hp_ink_used_ul: 0,
                insertions: 1,
            }],
            ..LifetimeCounters::default()
        };
        let prev = usage(10_000);
        let mut r = report_with(PrinterStatus {
            cartridges: vec![cartridge(40, 100_000)],
            ..Default::default()
        });
        // 20 ml per day, 30 ml left: 1.5 days.
        r.counters = Some(usage(30_000));
        let e = evaluate(
            &r,
            Context {
                thresholds: &t,
                previous: Some((&prev, r.collected_at - chrono::Duration::days(1))),
                regressions: &[],
            },
        );
        let p = e
            .raise
            .iter()
            .find(|r| r.code == "cartridge_predicted_empty:C")
            .expect("predicted empty");
        assert!(p.message.contains("1.5 days"), "{}", p.message);
    }
}
