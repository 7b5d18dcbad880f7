//! Worked examples: every pricing model with amounts computed by hand in the comments.

use super::*;
use crate::domain::usage::{AppCategoryMeter, CartridgeMeter};

fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn eur() -> Currency {
    Currency::parse("eur").unwrap()
}

fn tiers(t: &[(Option<&str>, &str)]) -> Vec<Tier> {
    t.iter()
        .map(|(u, p)| Tier {
            up_to: u.map(dec),
            unit_price: dec(p),
        })
        .collect()
}

fn terms(charges: Vec<UsageCharge>, fees: Vec<FixedFee>, minimum: Option<&str>) -> Terms {
    Terms {
        currency: eur(),
        cycle: Cycle {
            kind: PeriodKind::Monthly,
            anchor_day: 1,
        },
        basis: Basis::Jobs,
        grace_days: 5,
        fixed_fees: fees,
        charges,
        minimum_commitment: minimum.map(dec),
    }
}

fn charge(metric: Metric, filter: Filter, pricing: Pricing) -> UsageCharge {
    let selector = Selector { metric, filter };
    UsageCharge {
        name: selector.describe(),
        selector,
        pricing,
    }
}

fn amounts(lines: &[RatedLine]) -> Vec<(String, Decimal)> {
    lines.iter().map(|l| (l.code.clone(), l.amount)).collect()
}

fn total(lines: &[RatedLine]) -> Decimal {
    lines.iter().map(|l| l.amount).sum()
}

// --- rounding -------------------------------------------------------------

#[test]
fn rounding_is_per_line_half_away_from_zero_to_the_minor_unit() {
    assert_eq!(eur().round(dec("0.125")).to_string(), "0.13");
    assert_eq!(eur().round(dec("-0.125")).to_string(), "-0.13");
    assert_eq!(eur().round(dec("0.124999")).to_string(), "0.12");
    // 2.675 is 2.67499999... as a binary float; as a decimal it rounds up.
    assert_eq!(eur().round(dec("2.675")).to_string(), "2.68");
    assert_eq!(
        eur().round(dec("7")).to_string(),
        "7.00",
        "always two decimals"
    );
    let jpy = Currency::parse("JPY").unwrap();
    assert_eq!(jpy.round(dec("1234.5")).to_string(), "1235");
    let kwd = Currency::parse("KWD").unwrap();
    assert_eq!(kwd.round(dec("1.23450")).to_string(), "1.235");
    assert!(Currency::parse("XXX").is_none());
}

// --- flat -----------------------------------------------------------------

#[test]
fn flat_media_area_by_media_type() {
    // Bond at 1.20 EUR/m²: 1 m² + 2.5 m² + 0.345678 m² = 3.845678 m²;
    // 3.845678 × 1.20 = 4.6148136 → 4.61. Photo paper is not this line.
    let t = terms(
        vec![charge(
            Metric::MediaArea,
            Filter::MediaType("bond".into()),
            Pricing::Flat {
                unit_price: dec("1.20"),
            },
        )],
        vec![],
        None,
    );
    let cells: Vec<Cell> = [
        ("bond", 1_000_000),
        ("bond", 2_500_000),
        ("bond", 345_678),
        ("photo", 9_000_000),
    ]
    .iter()
    .map(|(m, a)| Cell {
        dims: Dims {
            media_type: (*m).into(),
            ..Dims::default()
        },
        measures: Measures {
            media_area_mm2: *a,
            ..Measures::default()
        },
        ink: BTreeMap::new(),
    })
    .collect();
    let q = |s: &Selector| cells.iter().map(|c| s.raw(c)).sum();
    let lines = rate_segment(&t, Proration::full(), &q);
    assert_eq!(lines[0].quantity_raw, 3_845_678);
    assert_eq!(lines[0].quantity, dec("3.845678"));
    assert_eq!(lines[0].unit, "m2");
    assert_eq!(lines[0].amount, dec("4.61"));
    // The non-HP ink line is always there, reported at 0.00 when not billed.
    assert_eq!(lines[1].kind, LineKind::Reported);
    assert_eq!(lines[1].amount.to_string(), "0.00");
    assert_eq!(total(&lines), dec("4.61"));
}

#[test]
fn flat_media_area_by_print_category_and_ink_by_color() {
    // Premium media at 3.00 EUR/m²: 2.000001 m² → 6.000003 → 6.00.
    // Cyan ink at 0.25 EUR/ml: 1234 µl = 1.234 ml → 0.3085 → 0.31 (half away from zero).
    let t = terms(
        vec![
            charge(
                Metric::MediaArea,
                Filter::PrintCategory("premium".into()),
                Pricing::Flat {
                    unit_price: dec("3.00"),
                },
            ),
            charge(
                Metric::Ink,
                Filter::InkColor("cyan".into()),
                Pricing::Flat {
                    unit_price: dec("0.25"),
                },
            ),
        ],
        vec![],
        None,
    );
    let mut premium = Cell::default();
    premium.dims.category = "premium".into();
    premium.measures.media_area_mm2 = 2_000_001;
    premium.ink.insert(
        "cyan".into(),
        InkMeasures {
            ink_ul: 1000,
            non_hp_ink_ul: 0,
        },
    );
    let mut drawing = Cell::default();
    drawing.dims.category = "line_drawing".into();
    drawing.measures.media_area_mm2 = 50_000_000;
    drawing.ink.insert(
        "cyan".into(),
        InkMeasures {
            ink_ul: 234,
            non_hp_ink_ul: 0,
        },
    );
    let cells = [premium, drawing];
    let q = |s: &Selector| cells.iter().map(|c| s.raw(c)).sum();
    let lines = rate_segment(&t, Proration::full(), &q);
    assert_eq!(
        amounts(&lines)[..2],
        [
            (
                "usage:media_area[print_category=premium]".to_owned(),
                dec("6.00")
            ),
            ("usage:ink[color=cyan]".to_owned(), dec("0.31")),
        ]
    );
}

// --- allowance + overage --------------------------------------------------

#[test]
fn allowance_then_overage() {
    // 100 pages included, 0.05 EUR per page beyond.
    let p = Pricing::Allowance {
        included: dec("100"),
        unit_price: dec("0.05"),
    };
    // 130 pages: 30 × 0.05 = 1.50.
    assert_eq!(rate(&p, dec("130"), Proration::full()), dec("1.50"));
    // 80 pages: inside the allowance: 0.
    assert_eq!(rate(&p, dec("80"), Proration::full()), Decimal::ZERO);
    // exactly 100: 0.
    assert_eq!(rate(&p, dec("100"), Proration::full()), Decimal::ZERO);
}

// --- graduated ------------------------------------------------------------

#[test]
fn graduated_tiers_price_each_unit_in_its_tier() {
    // Ink: first 100 ml at 0.10, up to 500 ml at 0.08, beyond at 0.05.
    let p = Pricing::Graduated {
        tiers: tiers(&[(Some("100"), "0.10"), (Some("500"), "0.08"), (None, "0.05")]),
    };
    // 650 ml: 100 × 0.10 + 400 × 0.08 + 150 × 0.05 = 10 + 32 + 7.50 = 49.50.
    assert_eq!(rate(&p, dec("650"), Proration::full()), dec("49.50"));
    // 100 ml: the boundary is inclusive: 100 × 0.10 = 10.
    assert_eq!(rate(&p, dec("100"), Proration::full()), dec("10"));
    // 120.5 ml: 10 + 20.5 × 0.08 = 11.64.
    assert_eq!(rate(&p, dec("120.5"), Proration::full()), dec("11.64"));
    assert_eq!(rate(&p, Decimal::ZERO, Proration::full()), Decimal::ZERO);
}

// --- volume ---------------------------------------------------------------

#[test]
fn volume_tiers_price_every_unit_by_the_total() {
    let p = Pricing::Volume {
        tiers: tiers(&[(Some("100"), "0.10"), (Some("500"), "0.08"), (None, "0.05")]),
    };
    // 650 ml: all at 0.05 = 32.50.
    assert_eq!(rate(&p, dec("650"), Proration::full()), dec("32.50"));
    // 500 ml: the boundary is inclusive: all at 0.08 = 40.00.
    assert_eq!(rate(&p, dec("500"), Proration::full()), dec("40.00"));
    // 500.001 ml: all at 0.05 = 25.00005 (→ 25.00 on a statement).
    assert_eq!(rate(&p, dec("500.001"), Proration::full()), dec("25.00005"));
    assert_eq!(eur().round(dec("25.00005")), dec("25.00"));
    // 50 ml: 50 × 0.10 = 5.
    assert_eq!(rate(&p, dec("50"), Proration::full()), dec("5.00"));
}

// --- minimum commitment ---------------------------------------------------

#[test]
fn minimum_commitment_true_up() {
    // Fixed fee 20.00; media at 1.20/m²; minimum commitment 100.00 on usage.
    // 61.234 m² × 1.20 = 73.4808 → 73.48; shortfall 100.00 − 73.48 = 26.52.
    // Statement: 20.00 + 73.48 + 0.00 (non-HP reported) + 26.52 = 120.00.
    let t = terms(
        vec![charge(
            Metric::MediaArea,
            Filter::All,
            Pricing::Flat {
                unit_price: dec("1.20"),
            },
        )],
        vec![FixedFee {
            name: "service".into(),
            amount: dec("20.00"),
        }],
        Some("100.00"),
    );
    let q = |s: &Selector| {
        if s.metric == Metric::MediaArea {
            61_234_000
        } else {
            0
        }
    };
    let lines = rate_segment(&t, Proration::full(), &q);
    assert_eq!(
        amounts(&lines),
        vec![
            ("fixed_fee:0".to_owned(), dec("20.00")),
            ("usage:media_area".to_owned(), dec("73.48")),
            ("reported:non_hp_ink".to_owned(), dec("0.00")),
            ("minimum_true_up".to_owned(), dec("26.52")),
        ]
    );
    assert_eq!(total(&lines), dec("120.00"));

    // Usage above the minimum: 90 m² × 1.20 = 108.00 ≥ 100.00, true-up 0.00.
    let q = |s: &Selector| {
        if s.metric == Metric::MediaArea {
            90_000_000
        } else {
            0
        }
    };
    let lines = rate_segment(&t, Proration::full(), &q);
    assert_eq!(lines.last().unwrap().amount.to_string(), "0.00");
    assert_eq!(total(&lines), dec("128.00"));
}

// --- proration ------------------------------------------------------------

#[test]
fn a_contract_starting_mid_period_is_prorated_by_days() {
    // Monthly, March 2026 (31 days); the contract starts on 11 March: 21 days in force.
    let period = Cycle {
        kind: PeriodKind::Monthly,
        anchor_day: 1,
    }
    .period_containing(day("2026-03-20"));
    assert_eq!(
        period,
        Span::new(day("2026-03-01"), day("2026-04-01")).unwrap()
    );
    let segment = period.intersect_open(day("2026-03-11"), None).unwrap();
    let p = Proration::of_span(segment, period);
    assert_eq!((p.days, p.of), (21, 31));

    let t = terms(
        vec![charge(
            Metric::Pages,
            Filter::All,
            Pricing::Allowance {
                included: dec("100"),
                unit_price: dec("0.10"),
            },
        )],
        vec![FixedFee {
            name: "service".into(),
            amount: dec("100.00"),
        }],
        Some("50.00"),
    );
    let q = |s: &Selector| if s.metric == Metric::Pages { 80 } else { 0 };
    let lines = rate_segment(&t, p, &q);
    // fee: 100.00 × 21/31 = 67.741935... → 67.74
    // pages: allowance 100 × 21/31 = 67.74... pages; (80 × 31 − 100 × 21) × 0.10 / 31
    //        = 380 × 0.10 / 31 = 1.225806... → 1.23
    // minimum: 50.00 × 21/31 = 33.870967... → 33.87; shortfall 33.87 − 1.23 = 32.64
    assert_eq!(
        amounts(&lines),
        vec![
            ("fixed_fee:0".to_owned(), dec("67.74")),
            ("usage:pages".to_owned(), dec("1.23")),
            ("reported:non_hp_ink".to_owned(), dec("0.00")),
            ("minimum_true_up".to_owned(), dec("32.64")),
        ]
    );
    assert_eq!(total(&lines), dec("101.61"));
    assert!(lines[0].pricing.contains("prorated 21/31 days"));
}

#[test]
fn a_change_mid_period_rates_two_segments() {
    // April 2026 (30 days). Contract A to 16 April (15 days): fee 30.00, flat 0.10/page.
    // Contract B from 16 April (15 days): fee 60.00, graduated pages ≤ 100: 0.20, rest 0.05,
    // thresholds prorated: 100 × 15/30 = 50 pages.
    let period = Span::new(day("2026-04-01"), day("2026-05-01")).unwrap();
    let a = Span::new(day("2026-04-01"), day("2026-04-16")).unwrap();
    let b = Span::new(day("2026-04-16"), day("2026-05-01")).unwrap();
    let ta = terms(
        vec![charge(
            Metric::Pages,
            Filter::All,
            Pricing::Flat {
                unit_price: dec("0.10"),
            },
        )],
        vec![FixedFee {
            name: "fee".into(),
            amount: dec("30.00"),
        }],
        None,
    );
    let tb = terms(
        vec![charge(
            Metric::Pages,
            Filter::All,
            Pricing::Graduated {
                tiers: tiers(&[(Some("100"), "0.20"), (None, "0.05")]),
            },
        )],
        vec![FixedFee {
            name: "fee".into(),
            amount: dec("60.00"),
        }],
        None,
    );
    // A: 40 pages: fee 30.00 × 15/30 = 15.00; 40 × 0.10 = 4.00.
    let la = rate_segment(&ta, Proration::of_span(a, period), &|s| {
        if s.metric == Metric::Pages { 40 } else { 0 }
    });
    // B: 70 pages: fee 60.00 × 15/30 = 30.00; 50 × 0.20 + 20 × 0.05 = 11.00.
    let lb = rate_segment(&tb, Proration::of_span(b, period), &|s| {
        if s.metric == Metric::Pages { 70 } else { 0 }
    });
    assert_eq!(
        amounts(&la)[..2],
        [
            ("fixed_fee:0".to_owned(), dec("15.00")),
            ("usage:pages".to_owned(), dec("4.00"))
        ]
    );
    assert_eq!(
        amounts(&lb)[..2],
        [
            ("fixed_fee:0".to_owned(), dec("30.00")),
            ("usage:pages".to_owned(), dec("11.00"))
        ]
    );
    assert_eq!(total(&la) + total(&lb), dec("60.00"));
}

#[test]
fn prorated_thresholds_are_exact_not_rounded() {
    // A third of the period: allowance 10 pages → 10/3 = 3.333... pages.
    // 4 pages: (4 × 3 − 10 × 1) × 1.00 / 3 = 2/3 = 0.6666... → 0.67.
    let p = Pricing::Allowance {
        included: dec("10"),
        unit_price: dec("1.00"),
    };
    let third = Proration { days: 1, of: 3 };
    assert_eq!(eur().round(rate(&p, dec("4"), third)), dec("0.67"));
    // 3 pages are inside 3.333...: 0.
    assert_eq!(rate(&p, dec("3"), third), Decimal::ZERO);
    // Volume boundary 10 × 1/3: 3.3 is inside the first tier, 3.4 is not.
    let v = Pricing::Volume {
        tiers: tiers(&[(Some("10"), "1.00"), (None, "0.50")]),
    };
    assert_eq!(rate(&v, dec("3.3"), third), dec("3.30"));
    assert_eq!(rate(&v, dec("3.4"), third), dec("1.70"));
}

// --- periods --------------------------------------------------------------

#[test]
fn periods_follow_the_anchor_day() {
    let m15 = Cycle {
        kind: PeriodKind::Monthly,
        anchor_day: 15,
    };
    let p = m15.period_containing(day("2026-03-10"));
    assert_eq!(p, Span::new(day("2026-02-15"), day("2026-03-15")).unwrap());
    assert_eq!(m15.label(p), "2026-02");
    assert_eq!(m15.parse_period("2026-02").unwrap(), p);
    assert_eq!(m15.parse_period("2026-03-14").unwrap(), p);
    assert_eq!(m15.next(p).start, day("2026-03-15"));
    assert_eq!(m15.previous(p).start, day("2026-01-15"));
    assert_eq!(p.days(), 28);
    // Across a year.
    let p = m15.period_containing(day("2026-01-03"));
    assert_eq!(p.start, day("2025-12-15"));

    let q = Cycle {
        kind: PeriodKind::Quarterly,
        anchor_day: 1,
    };
    let p = q.period_containing(day("2026-05-20"));
    assert_eq!(p, Span::new(day("2026-04-01"), day("2026-07-01")).unwrap());
    assert_eq!(q.label(p), "2026-Q2");
    assert_eq!(q.parse_period("2026-Q2").unwrap(), p);
    assert!(q.parse_period("2026-05").is_err());
    assert!(m15.parse_period("2026-Q2").is_err());
    assert!(m15.parse_period("2026-13").is_err());
    let q10 = Cycle {
        kind: PeriodKind::Quarterly,
        anchor_day: 10,
    };
    assert_eq!(
        q10.period_containing(day("2026-01-05")),
        Span::new(day("2025-10-10"), day("2026-01-10")).unwrap()
    );
}

#[test]
fn cover_uses_months_where_whole_and_days_elsewhere() {
    let s = Span::new(day("2026-01-15"), day("2026-04-10")).unwrap();
    let c = cover(s, &[], false);
    let show: Vec<_> = c
        .iter()
        .map(|b| (b.grain, b.from.to_string(), b.to.to_string()))
        .collect();
    assert_eq!(
        show,
        vec![
            (Grain::Day, "2026-01-15".into(), "2026-02-01".into()),
            (Grain::Month, "2026-02-01".into(), "2026-04-01".into()),
            (Grain::Day, "2026-04-01".into(), "2026-04-10".into()),
        ]
    );
    // A cut inside March splits that month into days.
    let c = cover(s, &[day("2026-03-05")], false);
    assert_eq!(c[1].grain, Grain::Month);
    assert_eq!((c[1].from, c[1].to), (day("2026-02-01"), day("2026-03-01")));
    assert_eq!(
        (c[2].grain, c[2].from, c[2].to),
        (Grain::Day, day("2026-03-01"), day("2026-04-10"))
    );
    // Days only.
    assert_eq!(cover(s, &[], true).len(), 1);
    // A whole month exactly.
    let m = Span::new(day("2026-02-01"), day("2026-03-01")).unwrap();
    assert_eq!(cover(m, &[], false)[0].grain, Grain::Month);
}

// --- cells ----------------------------------------------------------------

#[test]
fn meter_cells_add_back_to_the_delta() {
    let mut d = MeterUsage::default();
    d.cartridge_types.insert(
        "P2V71A".into(),
        CartridgeMeter {
            color: "cyan".into(),
            ink_ul: 500,
            hp_ink_ul: 300,
            non_hp_ink_ul: 200,
            insertions: 0,
        },
    );
    d.cartridge_types.insert(
        "P2V72A".into(),
        CartridgeMeter {
            color: "magenta".into(),
            ink_ul: 100,
            hp_ink_ul: 100,
            non_hp_ink_ul: 0,
            insertions: 1,
        },
    );
    d.media_by_type_mm2.insert("bond".into(), 3_000_000);
    d.media_by_type_mm2.insert("photo".into(), 1_000_000);
    d.total_media_area_mm2 = 4_500_000;
    d.total_ink_ul = 600;
    d.pages = 12;
    d.jobs = 4;
    d.scan_mm2 = 10;
    d.copy_mm2 = 20;
    d.app_categories.insert(
        "cad".into(),
        AppCategoryMeter {
            media_area_mm2: 1,
            media_length_mm: 900,
        },
    );
    let cells = meter_cells(&d);
    let sum = |s: Selector| -> u64 { cells.iter().map(|c| s.raw(c)).sum() };
    let sel = |metric, filter| Selector { metric, filter };
    assert_eq!(sum(sel(Metric::MediaArea, Filter::All)), 4_500_000);
    assert_eq!(
        sum(sel(Metric::MediaArea, Filter::MediaType("bond".into()))),
        3_000_000
    );
    assert_eq!(sum(sel(Metric::Ink, Filter::All)), 600);
    assert_eq!(sum(sel(Metric::Ink, Filter::InkColor("cyan".into()))), 500);
    assert_eq!(sum(sel(Metric::NonHpInk, Filter::All)), 200);
    assert_eq!(
        sum(sel(Metric::NonHpInk, Filter::InkColor("cyan".into()))),
        200
    );
    assert_eq!(sum(sel(Metric::Pages, Filter::All)), 12);
    assert_eq!(sum(sel(Metric::ScannedArea, Filter::All)), 30);
    assert_eq!(sum(sel(Metric::MediaLength, Filter::All)), 900);
    assert!(meter_cells(&MeterUsage::default()).is_empty());
}

// --- contract validation --------------------------------------------------

fn draft(v: serde_json::Value) -> Result<ContractSpec, String> {
    let d: ContractDraft = serde_json::from_value(v).map_err(|e| format!("json: {e}"))?;
    d.validate().map_err(|e| e.to_string())
}

fn base() -> serde_json::Value {
    serde_json::json!({
        "site_id": 1,
        "effective_from": "2026-01-01",
        "currency": "EUR",
        "period": {"kind": "monthly", "anchor_day": 1},
        "charges": [
            {"metric": "fixed_fee", "amount": "49.00"},
            {"metric": "media_area", "media_type": "bond", "pricing": {"model": "flat", "unit_price": "1.20"}},
            {"metric": "ink", "pricing": {"model": "graduated", "tiers": [
                {"up_to": "100", "unit_price": "0.10"}, {"unit_price": "0.08"}]}}
        ]
    })
}

#[test]
fn a_valid_contract_parses() {
    let spec = draft(base()).unwrap();
    assert_eq!(spec.scope, ContractScope::Site(1));
    assert_eq!(spec.terms.fixed_fees[0].amount, dec("49"));
    assert_eq!(spec.terms.charges.len(), 2);
    assert_eq!(spec.terms.grace_days, 5);
    assert_eq!(spec.terms.basis, Basis::Jobs);
    // Terms survive their stored JSON.
    let json = serde_json::to_value(&spec.terms).unwrap();
    let back: Terms = serde_json::from_value(json).unwrap();
    assert_eq!(back, spec.terms);
}

#[test]
fn invalid_contracts_say_which_field_is_wrong() {
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (serde_json::json!({"currency": "EURO"}), "currency"),
        (
            serde_json::json!({"period": {"kind": "weekly"}}),
            "period.kind",
        ),
        (
            serde_json::json!({"period": {"kind": "monthly", "anchor_day": 31}}),
            "period.anchor_day",
        ),
        (
            serde_json::json!({"effective_from": "2026-02-30"}),
            "effective_from",
        ),
        (
            serde_json::json!({"effective_to": "2025-12-31"}),
            "effective_to",
        ),
        (serde_json::json!({"printer_id": 4}), "site_id"),
        (serde_json::json!({"basis": "magic"}), "basis"),
        (serde_json::json!({"grace_days": 400}), "grace_days"),
        (serde_json::json!({"charges": []}), "charges"),
        (
            serde_json::json!({"minimum_commitment": "10.001"}),
            "minimum_commitment",
        ),
        (
            serde_json::json!({"charges": [{"metric": "fixed_fee", "amount": "-1"}]}),
            "charges[0].amount",
        ),
        (
            serde_json::json!({"charges": [{"metric": "fixed_fee", "amount": "1.005"}]}),
            "charges[0].amount",
        ),
        (
            serde_json::json!({"charges": [{"metric": "paper"}]}),
            "charges[0].metric",
        ),
        (
            serde_json::json!({"charges": [{"metric": "pages"}]}),
            "charges[0].pricing",
        ),
        (
            serde_json::json!({"charges": [{"metric": "pages", "media_type": "bond", "pricing": {"model": "flat", "unit_price": "1"}}]}),
            "charges[0]",
        ),
        (
            serde_json::json!({"charges": [{"metric": "media_area", "print_category": "photo", "pricing": {"model": "flat", "unit_price": "1"}}]}),
            "charges[0].print_category",
        ),
        (
            serde_json::json!({"charges": [{"metric": "pages", "pricing": {"model": "flat"}}]}),
            "charges[0].pricing.unit_price",
        ),
        (
            serde_json::json!({"charges": [{"metric": "pages", "pricing": {"model": "flat", "unit_price": "1.1234567"}}]}),
            "charges[0].pricing.unit_price",
        ),
        (
            serde_json::json!({"charges": [{"metric": "pages", "pricing": {"model": "tiered", "unit_price": "1"}}]}),
            "charges[0].pricing.model",
        ),
        (
            serde_json::json!({"charges": [{"metric": "pages", "pricing": {"model": "allowance", "unit_price": "1"}}]}),
            "charges[0].pricing.included",
        ),
        (
            serde_json::json!({"charges": [{"metric": "pages", "pricing": {"model": "volume", "tiers": [{"up_to": "10", "unit_price": "1"}]}}]}),
            "charges[0].pricing.tiers[0]",
        ),
        (
            serde_json::json!({"charges": [{"metric": "pages", "pricing": {"model": "volume", "tiers": [{"up_to": "10", "unit_price": "1"}, {"up_to": "5", "unit_price": "1"}, {"unit_price": "1"}]}}]}),
            "charges[0].pricing.tiers[1].up_to",
        ),
        (
            serde_json::json!({"charges": [{"metric": "pages", "pricing": {"model": "flat", "unit_price": "1"}}, {"metric": "pages", "pricing": {"model": "flat", "unit_price": "2"}}]}),
            "charges[1].metric",
        ),
        (
            serde_json::json!({"basis": "meter", "charges": [{"metric": "copies", "pricing": {"model": "flat", "unit_price": "1"}}]}),
            "charges[0].metric",
        ),
    ];
    for (patch, field) in cases {
        let mut v = base();
        for (k, val) in patch.as_object().unwrap() {
            v[k] = val.clone();
        }
        let e = draft(v.clone()).expect_err(&format!("{patch} must be refused"));
        assert!(e.starts_with(&format!("{field}:")), "{patch}: {e}");
    }
}

#[test]
fn floats_and_unknown_fields_are_refused_at_parse_time() {
    let mut v = base();
    v["charges"][1]["pricing"]["unit_price"] = serde_json::json!(1.2);
    let e = draft(v).unwrap_err();
    assert!(e.contains("never floating point"), "{e}");
    let mut v = base();
    v["charges"][1]["pricing"]["unit_prise"] = serde_json::json!("1.2");
    let e = draft(v).unwrap_err();
    assert!(e.contains("unknown field"), "{e}");
    let mut v = base();
    v["minimum_commitment"] = serde_json::json!("1e3");
    assert!(draft(v).unwrap_err().contains("not a decimal"));
    // Integers are exact, so they are fine.
    let mut v = base();
    v["minimum_commitment"] = serde_json::json!(100);
    assert_eq!(draft(v).unwrap().terms.minimum_commitment, Some(dec("100")));
}

// --- adjustments and digest -----------------------------------------------

fn line(no: u32, code: &str, raw: i64, qty: &str, amount: &str) -> StatementLine {
    StatementLine {
        no,
        kind: LineKind::Usage,
        code: code.into(),
        description: code.into(),
        contract_id: 7,
        from: day("2026-03-01"),
        to: day("2026-04-01"),
        adjusts: None,
        selector: None,
        quantity_raw: raw,
        raw_unit: "pages".into(),
        quantity: dec(qty),
        unit: "pages".into(),
        pricing: String::new(),
        amount: dec(amount),
    }
}

#[test]
fn adjustments_bill_only_what_changed_since_last_billed() {
    // Closed with 100 pages at 2.00 (volume tier ≤ 100 at 0.02); earlier adjustment +10 pages, −0.90.
    // Now 120 pages rate to 1.20 (all at 0.01): adjustment +10 pages, 1.20 − 2.00 + 0.90 = +0.10.
    let closed = line(1, "usage:pages", 100, "100", "2.00");
    let mut earlier = line(1, "usage:pages", 10, "10", "-0.90");
    earlier.kind = LineKind::Adjustment;
    let fee = line(2, "fixed_fee:0", 1, "1", "5.00");
    let now = vec![line(1, "usage:pages", 120, "120", "1.20"), fee.clone()];
    let adj = adjustments("2026-03", &[&closed, &earlier, &fee], &now);
    assert_eq!(adj.len(), 1, "the unchanged fee adjusts nothing");
    assert_eq!(adj[0].kind, LineKind::Adjustment);
    assert_eq!(adj[0].adjusts.as_deref(), Some("2026-03"));
    assert_eq!(adj[0].quantity_raw, 10);
    assert_eq!(adj[0].amount, dec("0.10"));
}

#[test]
fn the_digest_covers_lines_and_evidence() {
    let lines = vec![line(1, "usage:pages", 3, "3", "0.30")];
    let ev = vec![
        EvidenceItem {
            line_no: 1,
            reference: "job:b".into(),
            quantity_raw: 2,
        },
        EvidenceItem {
            line_no: 1,
            reference: "job:a".into(),
            quantity_raw: 1,
        },
    ];
    let h = DigestHeader {
        id: "site-1-2026-03-01",
        scope: "site",
        scope_id: 1,
        period: Span::new(day("2026-03-01"), day("2026-04-01")).unwrap(),
        currency: "EUR",
        total: dec("0.30"),
    };
    let text = canonical_text(&h, &lines, &ev);
    assert_eq!(
        text,
        "[\"ppu-hub statement\",1]\n\
         [\"statement\",\"site-1-2026-03-01\",\"site\",1,\"2026-03-01\",\"2026-04-01\",\"EUR\",\"0.30\"]\n\
         [\"line\",1,\"usage\",\"usage:pages\",7,\"2026-03-01\",\"2026-04-01\",null,3,\"pages\",\"3\",\"pages\",\"0.30\"]\n\
         [\"evidence\",1,\"job:a\",1]\n\
         [\"evidence\",1,\"job:b\",2]\n"
    );
    let d = digest(&text);
    assert_eq!(d.len(), 64);
    let mut other = ev.clone();
    other[0].quantity_raw = 3;
    assert_ne!(digest(&canonical_text(&h, &lines, &other)), d);
    // Evidence order does not matter.
    let rev: Vec<_> = ev.iter().rev().cloned().collect();
    assert_eq!(digest(&canonical_text(&h, &lines, &rev)), d);
}

#[test]
fn every_metric_counts_its_own_measure() {
    // A copy job: 3 pages, 2 copies, 1.2 m of media, 0.5 m² media, 0.25 m² scanned,
    // 40 µl cyan; a scan job: 0.75 m² scanned.
    let mut copy = Cell {
        measures: Measures {
            jobs: 1,
            copy_jobs: 1,
            pages: 3,
            copies: 2,
            media_length_mm: 1_200,
            media_area_mm2: 500_000,
            copy_scan_area_mm2: 250_000,
            ink_ul: 40,
            ..Measures::default()
        },
        ..Cell::default()
    };
    copy.ink.insert(
        "cyan".into(),
        InkMeasures {
            ink_ul: 40,
            non_hp_ink_ul: 0,
        },
    );
    let scan = Cell {
        measures: Measures {
            jobs: 1,
            scan_jobs: 1,
            scan_area_mm2: 750_000,
            ..Measures::default()
        },
        ..Cell::default()
    };
    let cells = [copy, scan];
    let flat = |p: &str| Pricing::Flat { unit_price: dec(p) };
    let t = terms(
        vec![
            charge(Metric::Copies, Filter::All, flat("0.05")),
            charge(Metric::MediaLength, Filter::All, flat("0.30")),
            charge(Metric::ScannedArea, Filter::All, flat("0.40")),
            charge(Metric::Ink, Filter::All, flat("0.10")),
        ],
        vec![],
        None,
    );
    let q = |s: &Selector| cells.iter().map(|c| s.raw(c)).sum();
    let lines = rate_segment(&t, Proration::full(), &q);
    // copies 2 × 0.05 = 0.10; linear media 1.2 m × 0.30 = 0.36;
    // scanned 0.25 + 0.75 = 1 m² × 0.40 = 0.40; ink 0.04 ml × 0.10 = 0.004 → 0.00.
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.quantity_raw, l.unit.as_str(), l.amount))
            .collect::<Vec<_>>()[..4],
        [
            (2, "copies", dec("0.10")),
            (1_200, "m", dec("0.36")),
            (1_000_000, "m2", dec("0.40")),
            (40, "ml", dec("0.00")),
        ]
    );
}
