//! The device model over simulated weeks: determinism, exact counters,
//! consumables that deplete and get replaced, non-HP ink accounting.

use std::collections::{BTreeMap, HashSet};

use chrono::{TimeDelta, TimeZone, Utc};
use ppu_protocol::{ConsumableState, Timestamp};
use ppu_sim::device::{DeviceOptions, Event, JobKind, JobRecord, VirtualPrinter};
use ppu_sim::models::ModelId;

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2024, 5, 6, 0, 0, 0).unwrap()
}

/// Run a printer for `days`, advancing in irregular chunks (like a driver would).
fn run(
    model: ModelId,
    seed: u64,
    days: i64,
    options: DeviceOptions,
) -> (VirtualPrinter, Vec<Event>) {
    let mut p = VirtualPrinter::with_options(model, "SG0TEST001", seed, options);
    let mut events = p.advance(t0());
    let end = t0() + TimeDelta::days(days);
    let mut t = t0();
    let mut chunk = 1;
    while t < end {
        t = (t + TimeDelta::minutes(chunk * 17)).min(end);
        events.extend(p.advance(t));
        chunk = chunk % 11 + 1;
    }
    (p, events)
}

fn jobs(events: &[Event]) -> Vec<JobRecord> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Job(j) => Some((**j).clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn same_seed_gives_identical_jobs_counters_and_status() {
    for model in [ModelId::T2500, ModelId::Z6200, ModelId::PageWideXl8000] {
        let (a, ea) = run(model, 4242, 14, DeviceOptions::default());
        let (b, eb) = run(model, 4242, 14, DeviceOptions::default());
        assert_eq!(ea, eb, "{model}: same events");
        assert_eq!(a.counters(), b.counters());
        assert_eq!(a.status(), b.status());
        assert_eq!(a.ledger(), b.ledger());
        let (c, _) = run(model, 4243, 14, DeviceOptions::default());
        assert_ne!(
            a.ledger(),
            c.ledger(),
            "{model}: another seed, another history"
        );
    }
    // How time is chopped into advance() calls does not matter either.
    let (chunked, _) = run(ModelId::T7200, 9, 10, DeviceOptions::default());
    let mut whole = VirtualPrinter::new(ModelId::T7200, "SG0TEST001", 9);
    whole.advance(t0());
    whole.advance(t0() + TimeDelta::days(10));
    assert_eq!(chunked.counters(), whole.counters());
    assert_eq!(chunked.ledger(), whole.ledger());
}

#[test]
fn counters_are_exactly_the_sum_of_the_generated_jobs() {
    for model in ModelId::ALL {
        let options = DeviceOptions {
            non_hp_probability: 0.3,
            ..DeviceOptions::default()
        };
        let (p, events) = run(model, 99, 21, options);
        let jobs = jobs(&events);
        let c = p.counters();
        assert!(jobs.len() > 50, "{model}: {} jobs", jobs.len());
        assert_eq!(c.jobs, jobs.len() as u64, "{model}");
        assert_eq!(p.ledger().len(), jobs.len());
        let prints: Vec<_> = jobs.iter().filter_map(JobRecord::print).collect();
        assert_eq!(
            c.pages,
            prints.iter().map(|p| u64::from(p.pages)).sum::<u64>(),
            "{model} pages"
        );
        assert_eq!(
            c.total_media_area_mm2,
            prints.iter().map(|p| p.media_area_mm2).sum::<u64>()
        );
        assert_eq!(
            c.total_ink_used_ul,
            prints.iter().map(|p| p.total_ink_ul()).sum::<u64>()
        );

        let mut by_color: BTreeMap<String, u64> = BTreeMap::new();
        for p in &prints {
            for i in &p.ink {
                *by_color.entry(i.color.to_string()).or_default() += i.used_ul;
            }
        }
        let mut counted: BTreeMap<String, u64> = BTreeMap::new();
        for t in &c.cartridge_types {
            assert_eq!(
                t.ink_used_ul,
                t.hp_ink_used_ul + t.non_hp_ink_used_ul,
                "{model} {}",
                t.product_number
            );
            *counted.entry(t.color.to_string()).or_default() += t.ink_used_ul;
        }
        counted.retain(|_, v| *v > 0);
        assert_eq!(counted, by_color, "{model}: ink per color");

        let mut media: BTreeMap<String, u64> = BTreeMap::new();
        let mut categories: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for p in &prints {
            *media.entry(p.media_type.clone().unwrap()).or_default() += p.media_area_mm2;
            for cat in &p.categories {
                let e = categories.entry(cat.category_id.clone()).or_default();
                e.0 += cat.media_area_mm2;
                e.1 += cat.media_length_mm;
            }
            assert_eq!(
                p.categories.iter().map(|c| c.ink_used_ul).sum::<u64>(),
                p.total_ink_ul()
            );
            assert_eq!(
                p.category,
                p_thresholds(model).categorize(p.non_white_coverage_bp)
            );
            assert!(p.color_coverage_bp <= p.non_white_coverage_bp);
            assert!(p.printed_area_mm2 <= p.media_area_mm2 || p.media_area_mm2 == 0);
        }
        let counted_media: BTreeMap<String, u64> = c
            .media_types
            .iter()
            .map(|m| (m.media_type.clone(), m.area_mm2))
            .collect();
        assert_eq!(counted_media, media, "{model}: media per type");
        let counted_categories: BTreeMap<String, (u64, u64)> = c
            .application_categories
            .iter()
            .map(|a| (a.category_id.clone(), (a.media_area_mm2, a.media_length_mm)))
            .collect();
        assert_eq!(
            counted_categories, categories,
            "{model}: application categories"
        );

        let scans: u64 = jobs
            .iter()
            .filter(|j| j.kind() == JobKind::Scan)
            .filter_map(JobRecord::scan)
            .map(|s| s.scanned_area_mm2)
            .sum();
        let copies: u64 = jobs
            .iter()
            .filter(|j| j.kind() == JobKind::Copy)
            .filter_map(JobRecord::scan)
            .map(|s| s.scanned_area_mm2)
            .sum();
        assert_eq!(
            (c.scan.scan_area_mm2, c.scan.copy_area_mm2),
            (scans, copies),
            "{model}"
        );
        assert_eq!(c.scan.total_area_mm2, scans + copies);
        assert_eq!(
            model.spec().is_mfp(),
            scans + copies > 0,
            "{model}: only MFPs scan"
        );

        let uuids: HashSet<_> = jobs.iter().map(|j| j.identity().uuid).collect();
        assert_eq!(uuids.len(), jobs.len(), "{model}: unique uuids");
        assert!(
            p.ledger()
                .uuids()
                .eq(jobs.iter().map(|j| j.identity().uuid))
        );
    }
}

fn p_thresholds(model: ModelId) -> ppu_protocol::JobCategoryThresholds {
    model.spec().thresholds
}

#[test]
fn consumables_deplete_get_replaced_and_insertions_grow_over_a_month() {
    for model in [
        ModelId::T1500,
        ModelId::T7100,
        ModelId::Z6800,
        ModelId::PageWideXl5000,
    ] {
        let mut p = VirtualPrinter::new(model, "SG0TEST001", 5);
        p.advance(t0());
        let before: u32 = p
            .counters()
            .cartridge_types
            .iter()
            .map(|t| t.insertions)
            .sum();
        assert_eq!(
            before,
            model.spec().inks.len() as u32,
            "{model}: one cartridge per slot at start"
        );
        let serials_before: Vec<String> = p
            .status()
            .cartridges
            .iter()
            .map(|c| c.serial_number.clone())
            .collect();
        let events = p.advance(t0() + TimeDelta::days(30));
        let inserted = events
            .iter()
            .filter(|e| matches!(e, Event::CartridgeInserted { .. }))
            .count() as u32;
        let after: u32 = p
            .counters()
            .cartridge_types
            .iter()
            .map(|t| t.insertions)
            .sum();
        assert!(
            inserted >= 3,
            "{model}: {inserted} cartridges inserted in a month"
        );
        assert_eq!(
            after,
            before + inserted,
            "{model}: insertion counters follow the events"
        );
        let serials_after: Vec<String> = p
            .status()
            .cartridges
            .iter()
            .map(|c| c.serial_number.clone())
            .collect();
        assert_ne!(serials_before, serials_after);
        // Running dry is announced before the replacement.
        let empty = events
            .iter()
            .position(|e| matches!(e, Event::AlertRaised(a) if a.code.starts_with("ink.empty.")))
            .expect("an empty cartridge alert");
        let replaced = events
            .iter()
            .position(|e| matches!(e, Event::CartridgeInserted { .. }))
            .unwrap();
        assert!(empty < replaced);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::MediaLoaded { .. })),
            "{model}: rolls run out too"
        );
        for c in p.status().cartridges {
            assert!(
                c.ink_used_ul <= c.capacity_ul,
                "{model}: never more ink than the cartridge holds"
            );
        }
    }
}

#[test]
fn printheads_age_and_get_replaced() {
    let (p, events) = run(ModelId::T3500, 21, 90, DeviceOptions::default());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PrintheadReplaced { .. })),
        "a head wears out in 3 months"
    );
    let head = &p.status().printheads[0];
    assert!(head.health_pct.unwrap() <= 100);
    assert!(matches!(
        head.state,
        ConsumableState::Ok | ConsumableState::ReplaceSoon | ConsumableState::Failed
    ));
}

#[test]
fn non_hp_cartridges_are_counted_as_non_hp_ink() {
    let options = DeviceOptions {
        non_hp_probability: 1.0,
        ..DeviceOptions::default()
    };
    let (p, events) = run(ModelId::T2500, 3, 30, options);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::CartridgeInserted { genuine: false, .. }))
    );
    let c = p.counters();
    let non_hp: u64 = c.cartridge_types.iter().map(|t| t.non_hp_ink_used_ul).sum();
    assert!(non_hp > 0);
    let status = p.status();
    assert!(
        status
            .cartridges
            .iter()
            .any(|c| c.manufacturer != "HP" && c.non_hp_ink_used_ul == c.ink_used_ul)
    );
    assert!(status.printheads.iter().any(|h| h.non_hp_ink_used));
    assert!(p.alerts().iter().any(|a| a.code.starts_with("ink.non_hp.")));
}

#[test]
fn errors_reboots_and_high_severity_alerts_happen() {
    let options = DeviceOptions {
        error_rate: 4.0,
        boot_alert_probability: 0.5,
        ..DeviceOptions::default()
    };
    let (p, events) = run(ModelId::PageWideXl4500, 8, 30, options);
    let boots = events
        .iter()
        .filter(|e| matches!(e, Event::Booted { .. }))
        .count();
    assert!(boots >= 5, "{boots} boots");
    let raised: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::AlertRaised(a) => Some(a),
            _ => None,
        })
        .collect();
    assert!(raised.iter().any(|a| a.severity.is_high() && a.during_boot));
    assert!(
        raised
            .iter()
            .any(|a| a.severity.is_high() && !a.during_boot)
    );
    assert!(raised.iter().any(|a| !a.severity.is_high()));
    // Every raised alert clears eventually or is still in the table.
    for a in raised {
        let cleared = events
            .iter()
            .any(|e| matches!(e, Event::AlertCleared { at, alert: c } if c.code == a.code && c.detected_at == a.detected_at && *at >= a.detected_at));
        assert!(
            cleared || p.alerts().iter().any(|x| x.code == a.code),
            "{} neither cleared nor active",
            a.code
        );
    }
}
