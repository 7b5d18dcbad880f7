//! Billing acceptance through the real hub: contracts, statements with
//! hand-computed amounts, totals from the rollups, duplicates, late data
//! and the grace window, closing, evidence and its digest, CSV.
//! Every test runs on SQLite and PostgreSQL.

mod support;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use ppu_protocol::model::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::*;
use uuid::Uuid;

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str_exact(
        v.as_str()
            .unwrap_or_else(|| panic!("not a decimal string: {v}")),
    )
    .unwrap()
}

fn ident(uuid: Uuid, account: Option<&str>, project: Option<&str>) -> JobIdentity {
    JobIdentity {
        uuid,
        name: format!("job-{uuid}"),
        sequence_number: 1,
        project_id: project.map(str::to_owned),
        application_id: None,
        custom_field: None,
        account_id: account.map(str::to_owned),
        user_name: None,
        submitted_at: None,
    }
}

/// A print job printed at `at`.
#[allow(clippy::too_many_arguments)]
fn pjob(
    uuid: Uuid,
    at: &str,
    media: Option<&str>,
    category: PrintCategory,
    pages: u32,
    ink: &[(&str, u64)],
    area_mm2: u64,
    account: Option<&str>,
    project: Option<&str>,
) -> PrintJob {
    PrintJob {
        job: ident(uuid, account, project),
        print: PrintDetails {
            printed_at: ts(at),
            status: PrintStatus::Printed,
            source: JobSource::Driver,
            category,
            quality: PrintQuality::Normal,
            media_type: media.map(str::to_owned),
            pages,
            copies: 1,
            print_time_s: 30,
            ink: ink
                .iter()
                .map(|(c, ul)| InkUsage {
                    color: InkColor::new(*c),
                    used_ul: *ul,
                })
                .collect(),
            media_area_mm2: area_mm2,
            media_length_mm: 1000,
            printed_area_mm2: area_mm2 / 10,
            categories: vec![],
            non_white_coverage_bp: 100,
            color_coverage_bp: 10,
        },
    }
}

fn pages_job(uuid: Uuid, at: &str, pages: u32) -> PrintJob {
    pjob(
        uuid,
        at,
        Some("bond"),
        PrintCategory::LineDrawing,
        pages,
        &[],
        1_000_000,
        None,
        None,
    )
}

fn sjob(uuid: Uuid, at: &str, area_mm2: u64, account: Option<&str>) -> ScanJob {
    ScanJob {
        job: ident(uuid, account, None),
        scan: ScanDetails {
            scanned_at: ts(at),
            status: ScanStatus::Scanned,
            scanned_area_mm2: area_mm2,
        },
    }
}

fn jobs_report(serial: &str, print: Vec<PrintJob>, scan: Vec<ScanJob>) -> PrinterReport {
    let mut r = PrinterReport::new(serial, Utc::now());
    r.print_jobs = print;
    r.scan_jobs = scan;
    r
}

async fn send(hub: &TestHub, sender: &TestSender, reports: Vec<PrinterReport>) -> Value {
    let (s, _, b) = hub.post_envelope(sender.seal(&payload(reports))).await;
    assert_eq!(s, 200, "{b}");
    b
}

async fn contract(hub: &TestHub, body: Value) -> Value {
    let (s, v) = hub.admin_post("/api/v1/contracts", body).await;
    assert_eq!(s, 201, "{v}");
    v
}

async fn get_ok(hub: &TestHub, path: &str) -> Value {
    let (s, v) = hub.admin_get(path).await;
    assert_eq!(s, 200, "{path}: {v}");
    v
}

async fn get_text(hub: &TestHub, path: &str, accept: &str) -> (u16, String, String) {
    let r = hub
        .client
        .get(hub.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    // Raw bytes: `text()` would decode and drop the byte order mark.
    let bytes = r.bytes().await.unwrap();
    (status, ctype, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn register(hub: &TestHub, site: i64, serial: &str) -> i64 {
    let (s, v) = hub
        .admin_post(
            "/api/v1/printers",
            json!({"site_id": site, "serial_number": serial, "direct": false}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v["printer_id"].as_i64().unwrap()
}

fn amounts(st: &Value) -> Vec<(String, Decimal)> {
    st["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["code"].as_str().unwrap().to_owned(), dec(&l["amount"])))
        .collect()
}

fn d(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

/// Rebuild the canonical text from the statement and evidence JSON alone,
/// as a customer would, and check it against the hub's text and digest.
fn verify_digest(st: &Value, ev: &Value) {
    let mut text = String::new();
    let mut push = |v: Value| {
        text.push_str(&v.to_string());
        text.push('\n');
    };
    push(json!(["ppu-hub statement", 1]));
    push(json!([
        "statement",
        st["id"],
        st["scope"],
        st["scope_id"],
        st["period"]["start"],
        st["period"]["end"],
        st["currency"],
        st["total"]
    ]));
    for l in st["lines"].as_array().unwrap() {
        push(json!([
            "line",
            l["no"],
            l["kind"],
            l["code"],
            l["contract_id"],
            l["from"],
            l["to"],
            l["adjusts"],
            l["quantity_raw"],
            l["raw_unit"],
            l["quantity"],
            l["unit"],
            l["amount"]
        ]));
    }
    for i in ev["items"].as_array().unwrap() {
        push(json!([
            "evidence",
            i["line_no"],
            i["reference"],
            i["quantity_raw"]
        ]));
    }
    assert_eq!(text, ev["canonical"].as_str().unwrap());
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    assert_eq!(digest, ev["digest"].as_str().unwrap());
    if st["status"] == "closed" {
        assert_eq!(
            json!(digest),
            st["digest"],
            "the closed statement's digest verifies"
        );
        assert_eq!(ev["verified"], json!(true));
    }
    // Every line that counts records re-adds from its evidence.
    for l in st["lines"].as_array().unwrap() {
        if l["selector"].is_null() {
            continue;
        }
        let sum: i64 = ev["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["line_no"] == l["no"])
            .map(|i| i["quantity_raw"].as_i64().unwrap())
            .sum();
        assert_eq!(json!(sum), l["quantity_raw"], "line {} re-adds", l["no"]);
    }
    assert!(
        ev["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["reconciles"] == json!(true)),
        "{}",
        ev["lines"]
    );
}

fn evidence_of(ev: &Value, line_no: u64) -> Vec<(String, i64)> {
    let mut v: Vec<_> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["line_no"] == json!(line_no))
        .map(|i| {
            (
                i["reference"].as_str().unwrap().to_owned(),
                i["quantity_raw"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn job_ref(u: Uuid) -> String {
    format!("job:{u}")
}

// ---------------------------------------------------------------------------

async fn contracts_are_validated_and_superseded(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (reseller, site) = hub.tenant("Contracts R", "contracts-site").await;
    let base = json!({
        "site_id": site,
        "effective_from": "2025-01-01",
        "currency": "eur",
        "period": {"kind": "monthly", "anchor_day": 1},
        "charges": [{"metric": "pages", "pricing": {"model": "flat", "unit_price": "0.10"}}]
    });
    let first = contract(&hub, base.clone()).await;
    assert_eq!(first["currency"], "EUR");
    assert_eq!(first["minor_units"], 2);
    assert_eq!(first["reseller_id"], reseller);
    assert_eq!(first["effective_to"], Value::Null);
    assert_eq!(first["charges"][0]["code"], "pages");

    // Clear 400s that name the field.
    let bad = |patch: Value| {
        let mut v = base.clone();
        for (k, x) in patch.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let cases = [
        (
            bad(json!({"currency": "EURO"})),
            "invalid_contract",
            "currency",
        ),
        (
            bad(json!({"period": {"kind": "monthly", "anchor_day": 30}})),
            "invalid_contract",
            "period.anchor_day",
        ),
        (
            bad(
                json!({"charges": [{"metric": "pages", "pricing": {"model": "flat", "unit_price": 0.1}}]}),
            ),
            "invalid_json",
            "floating point",
        ),
        (
            bad(
                json!({"charges": [{"metric": "pages", "pricing": {"model": "volume", "tiers": []}}]}),
            ),
            "invalid_contract",
            "charges[0].pricing.tiers",
        ),
        (
            bad(json!({"colour": "red"})),
            "invalid_json",
            "unknown field",
        ),
    ];
    for (body, code, needle) in cases {
        let (s, v) = hub.admin_post("/api/v1/contracts", body.clone()).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{needle}: {v}"
        );
    }
    let (s, v) = hub
        .admin_post("/api/v1/contracts", bad(json!({"site_id": 9999})))
        .await;
    assert_eq!(s, 404, "{v}");

    // A later contract supersedes the open-ended one.
    let second = contract(&hub, bad(json!({"effective_from": "2025-06-16"}))).await;
    let list = get_ok(&hub, &format!("/api/v1/contracts?site_id={site}")).await;
    let list = list["contracts"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["effective_to"], "2025-06-16");
    assert_eq!(list[1]["id"], second["id"]);
    // Overlaps and changes of currency are refused.
    let (s, v) = hub
        .admin_post(
            "/api/v1/contracts",
            bad(json!({"effective_from": "2025-02-01", "effective_to": "2025-03-01"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("contract_overlap")),
        "{v}"
    );
    let (s, v) = hub
        .admin_post(
            "/api/v1/contracts",
            bad(json!({"effective_from": "2025-09-01", "currency": "USD"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("incompatible_contract")),
        "{v}"
    );
    // The admin token is required.
    let r = hub
        .client
        .get(hub.url("/api/v1/contracts"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

async fn statement_worked_example(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (_, site) = hub.tenant("Worked R", "worked-site").await;
    let collector = hub.collector(site).await;
    contract(
        &hub,
        json!({
            "site_id": site, "name": "PPU gold", "effective_from": "2025-03-01",
            "currency": "EUR", "period": {"kind": "monthly", "anchor_day": 1},
            "grace_days": 3, "minimum_commitment": "50.00",
            "charges": [
                {"metric": "fixed_fee", "name": "service", "amount": "10.00"},
                {"metric": "media_area", "media_type": "bond", "pricing": {"model": "flat", "unit_price": "1.20"}},
                {"metric": "media_area", "print_category": "premium",
                 "pricing": {"model": "allowance", "included": "1", "unit_price": "3.00"}},
                {"metric": "ink", "color": "cyan", "pricing": {"model": "graduated", "tiers": [
                    {"up_to": "1", "unit_price": "0.50"}, {"unit_price": "0.25"}]}},
                {"metric": "pages", "pricing": {"model": "volume", "tiers": [
                    {"up_to": "10", "unit_price": "0.10"}, {"unit_price": "0.05"}]}},
                {"metric": "scanned_area", "pricing": {"model": "flat", "unit_price": "0.40"}}
            ]
        }),
    )
    .await;
    let (j1, j2, j3, s4, j5) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let a = jobs_report(
        "SG-A",
        vec![
            pjob(
                j1,
                "2025-03-05T10:00:00Z",
                Some("bond"),
                PrintCategory::LineDrawing,
                2,
                &[("cyan", 800)],
                1_500_000,
                Some("dept-7"),
                Some("tower-b"),
            ),
            // The last second of March belongs to March ...
            pjob(
                j2,
                "2025-03-31T23:59:59Z",
                Some("photo"),
                PrintCategory::Premium,
                3,
                &[("cyan", 700), ("magenta", 100)],
                2_000_000,
                Some("dept-9"),
                Some("bridge"),
            ),
            // ... the first second of April does not.
            pjob(
                j5,
                "2025-04-01T00:00:00Z",
                Some("bond"),
                PrintCategory::LineDrawing,
                1,
                &[("cyan", 50)],
                1_000_000,
                Some("dept-7"),
                None,
            ),
        ],
        vec![],
    );
    let b = jobs_report(
        "SG-B",
        vec![pjob(
            j3,
            "2025-03-15T08:00:00Z",
            Some("bond"),
            PrintCategory::Premium,
            4,
            &[],
            500_000,
            Some("dept-7"),
            Some("tower-b"),
        )],
        vec![sjob(
            s4,
            "2025-03-20T09:00:00Z",
            2_500_000,
            Some("=SUM(A1)"),
        )],
    );
    send(&hub, &collector, vec![a, b]).await;

    let st = get_ok(
        &hub,
        &format!("/api/v1/billing/statements?site={site}&period=2025-03"),
    )
    .await;
    assert_eq!(st["id"], format!("site-{site}-2025-03-01"));
    assert_eq!(st["status"], "open");
    assert_eq!(st["currency"], "EUR");
    assert_eq!(
        st["closable_from"], "2025-04-04",
        "period end + 3 grace days"
    );
    // Hand-computed:
    //  1 service fee                                   10.00
    //  2 bond 1.5 + 0.5 = 2 m² × 1.20                   2.40
    //  3 premium 2.0 + 0.5 = 2.5 m², 1 included, 1.5 × 3.00 = 4.50
    //  4 cyan 800 + 700 µl = 1.5 ml: 1 × 0.50 + 0.5 × 0.25 = 0.625 → 0.63
    //  5 pages 2 + 3 + 4 = 9 ≤ 10: all at 0.10          0.90
    //  6 scanned 2.5 m² × 0.40                          1.00
    //  7 non-HP ink reported (no counters)              0.00
    //  8 minimum 50.00 − usage 9.43 = true-up          40.57
    //  total                                           60.00
    assert_eq!(
        amounts(&st),
        vec![
            ("fixed_fee:0".to_owned(), d("10.00")),
            ("usage:media_area[media_type=bond]".to_owned(), d("2.40")),
            (
                "usage:media_area[print_category=premium]".to_owned(),
                d("4.50")
            ),
            ("usage:ink[color=cyan]".to_owned(), d("0.63")),
            ("usage:pages".to_owned(), d("0.90")),
            ("usage:scanned_area".to_owned(), d("1.00")),
            ("reported:non_hp_ink".to_owned(), d("0.00")),
            ("minimum_true_up".to_owned(), d("40.57")),
        ]
    );
    assert_eq!(st["total"], "60.00");
    assert_eq!(st["lines"][1]["quantity_raw"], 2_000_000);
    assert_eq!(dec(&st["lines"][1]["quantity"]), d("2"));
    assert_eq!(st["lines"][1]["unit"], "m2");
    assert_eq!(dec(&st["lines"][3]["quantity"]), d("1.5"));

    // Totals from the rollups, by printer, with the statement's money allocated:
    // A: usage 1.80 + 3.60 + 0.63 + 0.50 = 6.53, B: 0.60 + 0.90 + 0.40 + 1.00 = 2.90;
    // fee + true-up 50.57 shared 6.53 : 2.90 → A 41.548…, B 18.451… → 41.55 + 18.45 = 60.00.
    let t = get_ok(
        &hub,
        &format!("/api/v1/billing/totals?scope=site&id={site}&from=2025-03-01&to=2025-04-01&group_by=printer"),
    )
    .await;
    let groups = t["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{t}");
    let (ga, gb) = if groups[0]["key"]["serial_number"] == "SG-A" {
        (&groups[0], &groups[1])
    } else {
        (&groups[1], &groups[0])
    };
    assert_eq!(ga["usage"]["jobs"], 2);
    assert_eq!(ga["usage"]["pages"], 5);
    assert_eq!(ga["usage"]["media_area_mm2"], 3_500_000);
    assert_eq!(ga["usage"]["media_area_m2"], "3.5");
    assert_eq!(
        ga["usage"]["ink_by_color_ul"],
        json!({"cyan": 1500, "magenta": 100})
    );
    assert_eq!(gb["usage"]["print_jobs"], 1);
    assert_eq!(gb["usage"]["scan_jobs"], 1);
    assert_eq!(gb["usage"]["scanned_area_mm2"], 2_500_000);
    assert_eq!(ga["amounts"]["EUR"], "41.55");
    assert_eq!(gb["amounts"]["EUR"], "18.45");
    assert_eq!(t["total"]["amounts"]["EUR"], "60.00");
    assert_eq!(t["amounts"]["EUR"]["unallocated"], "0.00");
    assert_eq!(t["total"]["usage"]["pages"], 9);

    // By account id (cross-charging): dept-7 usage 4.236, dept-9 4.194, "=SUM(A1)" 1.00;
    // with their shares of 50.57: 26.952…, 26.685…, 6.362… → 26.95, 26.69, 6.36 (sum 60.00).
    let t = get_ok(
        &hub,
        &format!("/api/v1/billing/totals?scope=site&id={site}&from=2025-03-01&to=2025-04-01&group_by=account_id"),
    )
    .await;
    let by: std::collections::BTreeMap<String, Value> = t["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"]["account_id"].as_str().unwrap_or("").to_owned(),
                g.clone(),
            )
        })
        .collect();
    assert_eq!(by["dept-7"]["amounts"]["EUR"], "26.95");
    assert_eq!(by["dept-9"]["amounts"]["EUR"], "26.69");
    assert_eq!(by["=SUM(A1)"]["amounts"]["EUR"], "6.36");
    assert_eq!(by["dept-7"]["usage"]["pages"], 6);

    // CSV: BOM, header, quoted, '.' decimals, formulas defused.
    let (s, ctype, body) = get_text(
        &hub,
        &format!("/api/v1/billing/totals?scope=site&id={site}&from=2025-03-01&to=2025-04-01&group_by=account_id"),
        "text/csv",
    )
    .await;
    assert_eq!(s, 200);
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    assert!(body.starts_with('\u{feff}'));
    let first = body.trim_start_matches('\u{feff}').lines().next().unwrap();
    assert!(
        first.starts_with("\"from\",\"to_exclusive\",\"basis\",\"account_id\",\"jobs\""),
        "{first}"
    );
    assert!(body.contains("\"'=SUM(A1)\""), "{body}");
    assert!(body.contains("\"2025-03-01\""));
    assert!(body.contains("\"26.95\""));

    // Close, then the statement never changes.
    let (s, v) = hub
        .admin_post(
            &format!("/api/v1/billing/statements/site-{site}-2025-03-01/close"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "closed");
    assert_eq!(v["total"], "60.00");
    assert_eq!(v["digest"].as_str().unwrap().len(), 64);
    let closed = get_ok(
        &hub,
        &format!("/api/v1/billing/statements/site-{site}-2025-03-01"),
    )
    .await;
    assert_eq!(closed, v);
    let (s, e) = hub
        .admin_post(
            &format!("/api/v1/billing/statements/site-{site}-2025-03-01/close"),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("already_closed")),
        "{e}"
    );

    // Evidence re-adds and its digest verifies.
    let ev = get_ok(
        &hub,
        &format!("/api/v1/billing/statements/site-{site}-2025-03-01/evidence"),
    )
    .await;
    verify_digest(&closed, &ev);
    assert_eq!(evidence_of(&ev, 2), {
        let mut v = vec![(job_ref(j1), 1_500_000), (job_ref(j3), 500_000)];
        v.sort();
        v
    });
    assert_eq!(evidence_of(&ev, 4), {
        let mut v = vec![(job_ref(j1), 800), (job_ref(j2), 700)];
        v.sort();
        v
    });
    assert_eq!(evidence_of(&ev, 6), vec![(job_ref(s4), 2_500_000)]);
    assert!(
        !ev["canonical"].as_str().unwrap().contains(&j5.to_string()),
        "April's job is not March's evidence"
    );

    // Statement CSV.
    let (s, _, body) = get_text(
        &hub,
        &format!("/api/v1/billing/statements/site-{site}-2025-03-01?format=csv"),
        "*/*",
    )
    .await;
    assert_eq!(s, 200);
    assert!(body.contains("\"minimum_true_up\""));
    assert!(body.lines().last().unwrap().contains("\"total\""));
    assert!(body.lines().last().unwrap().ends_with("\"60.00\""));
}

async fn duplicates_never_change_a_total(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (_, site) = hub.tenant("Dup R", "dup-bill").await;
    let collector = hub.collector(site).await;
    contract(
        &hub,
        json!({
            "site_id": site, "effective_from": "2025-03-01", "currency": "EUR",
            "period": {"kind": "monthly"},
            "charges": [{"metric": "pages", "pricing": {"model": "flat", "unit_price": "0.10"}}]
        }),
    )
    .await;
    let jobs: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    let reports = |pages: u64| {
        let mut r = jobs_report(
            "DUP-B1",
            jobs.iter()
                .enumerate()
                .map(|(i, u)| pages_job(*u, &format!("2025-03-1{i}T12:00:00Z"), 4))
                .collect(),
            vec![],
        );
        r.counters = Some(counters(pages, pages * 10));
        r
    };
    let totals_path = format!(
        "/api/v1/billing/totals?scope=site&id={site}&from=2025-03-01&to=2025-04-01&group_by=printer,account_id"
    );
    let meter_path = format!(
        "/api/v1/billing/totals?scope=site&id={site}&from=2025-01-01&to=2027-01-01&basis=meter&amounts=false"
    );
    let statement_path = format!("/api/v1/billing/statements?site={site}&period=2025-03");

    let mut p = payload(vec![reports(100)]);
    let bytes = collector.seal(&p);
    let (s, _, b) = hub.post_envelope(bytes.clone()).await;
    assert_eq!(s, 200, "{b}");
    // A second reading so that the meter basis has a delta.
    send(&hub, &collector, vec![reports(130)]).await;
    let t1 = get_ok(&hub, &totals_path).await;
    let m1 = get_ok(&hub, &meter_path).await;
    let s1 = get_ok(&hub, &statement_path).await;
    assert_eq!(t1["total"]["usage"]["pages"], 12, "{t1}");
    assert_eq!(m1["total"]["usage"]["pages"], 30, "{m1}");
    assert_eq!(s1["total"], "1.20");

    // The same bytes again; the same batch re-sealed; the same job UUIDs in a new upload.
    let (s, _, b) = hub.post_envelope(bytes).await;
    assert_eq!(s, 200);
    assert!(ingest_response(&b).duplicate);
    p.generated_at = Utc::now();
    let (s, _, b) = hub.post_envelope(collector.seal(&p)).await;
    assert_eq!(s, 200);
    assert!(ingest_response(&b).duplicate);
    let b = send(&hub, &collector, vec![reports(130)]).await;
    let r = ingest_response(&b);
    assert_eq!((r.accepted.print_jobs, r.duplicates.print_jobs), (0, 3));

    assert_eq!(get_ok(&hub, &totals_path).await, t1);
    assert_eq!(get_ok(&hub, &meter_path).await, m1);
    let s2 = get_ok(&hub, &statement_path).await;
    assert_eq!(s2["lines"], s1["lines"]);
    assert_eq!(s2["total"], s1["total"]);
}

async fn late_data_and_the_grace_window(backend: Backend) {
    let hub = TestHub::start(backend.clone()).await;
    let (_, site) = hub.tenant("Late R", "late-site").await;
    let collector = hub.collector(site).await;
    contract(
        &hub,
        json!({
            "site_id": site, "effective_from": "2025-03-01", "currency": "EUR",
            "period": {"kind": "monthly"}, "grace_days": 5,
            "charges": [{"metric": "pages", "pricing": {"model": "flat", "unit_price": "0.10"}}]
        }),
    )
    .await;
    let march = format!("/api/v1/billing/statements/site-{site}-2025-03-01");
    let april = format!("/api/v1/billing/statements/site-{site}-2025-04-01");
    let may = format!("/api/v1/billing/statements/site-{site}-2025-05-01");
    let (j1, j2, j3, j4, j5) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    send(
        &hub,
        &collector,
        vec![jobs_report(
            "LATE-1",
            vec![pages_job(j1, "2025-03-10T10:00:00Z", 10)],
            vec![],
        )],
    )
    .await;
    assert_eq!(get_ok(&hub, &march).await["total"], "1.00");

    // Late, but before March is closed: it lands in March (10 + 5 pages: 1.50).
    send(
        &hub,
        &collector,
        vec![jobs_report(
            "LATE-1",
            vec![pages_job(j2, "2025-03-20T10:00:00Z", 5)],
            vec![],
        )],
    )
    .await;
    let st = get_ok(&hub, &march).await;
    assert_eq!(st["total"], "1.50");
    assert_eq!(st["status"], "open");
    let apr = get_ok(&hub, &april).await;
    assert!(
        apr["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["kind"] != "adjustment")
    );

    // Periods close in order.
    let (s, e) = hub.admin_post(&format!("{april}/close"), json!({})).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("previous_period_open")),
        "{e}"
    );
    let (s, closed) = hub.admin_post(&format!("{march}/close"), json!({})).await;
    assert_eq!(s, 200, "{closed}");
    assert_eq!(closed["total"], "1.50");
    // No contract may reach back into a closed period.
    let (s, e) = hub
        .admin_post(
            "/api/v1/contracts",
            json!({
                "site_id": site, "effective_from": "2025-03-15", "currency": "EUR",
                "period": {"kind": "monthly"}, "grace_days": 5,
                "charges": [{"metric": "pages", "pricing": {"model": "flat", "unit_price": "9.99"}}]
            }),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("period_closed")),
        "{e}"
    );

    // Late after March closed: March never changes; April carries an adjustment.
    send(
        &hub,
        &collector,
        vec![jobs_report(
            "LATE-1",
            vec![
                pages_job(j3, "2025-03-25T10:00:00Z", 3),
                pages_job(j4, "2025-04-02T10:00:00Z", 2),
            ],
            vec![],
        )],
    )
    .await;
    assert_eq!(get_ok(&hub, &march).await, closed);
    let ev = get_ok(&hub, &format!("{march}/evidence")).await;
    verify_digest(&closed, &ev);
    assert!(!ev["canonical"].as_str().unwrap().contains(&j3.to_string()));

    // April: 2 pages (0.20) + adjustment for March: 3 pages (0.30) = 0.50.
    let apr = get_ok(&hub, &april).await;
    let lines = apr["lines"].as_array().unwrap();
    let adj: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "adjustment").collect();
    assert_eq!(adj.len(), 1, "{apr}");
    assert_eq!(adj[0]["adjusts"], "2025-03");
    assert_eq!(adj[0]["code"], "usage:pages");
    assert_eq!(adj[0]["quantity_raw"], 3);
    assert_eq!(adj[0]["amount"], "0.30");
    assert_eq!(apr["total"], "0.50");
    let ev = get_ok(&hub, &format!("{april}/evidence")).await;
    verify_digest(&apr, &ev);
    assert_eq!(
        evidence_of(&ev, adj[0]["no"].as_u64().unwrap()),
        vec![(job_ref(j3), 3)]
    );
    assert_eq!(evidence_of(&ev, 1), vec![(job_ref(j4), 2)]);

    let (s, closed_apr) = hub.admin_post(&format!("{april}/close"), json!({})).await;
    assert_eq!(s, 200, "{closed_apr}");
    assert_eq!(closed_apr["total"], "0.50");
    let ev = get_ok(&hub, &format!("{april}/evidence")).await;
    verify_digest(&closed_apr, &ev);

    // Later still: the next open statement (May) adjusts March again, by what is new only.
    send(
        &hub,
        &collector,
        vec![jobs_report(
            "LATE-1",
            vec![pages_job(j5, "2025-03-30T10:00:00Z", 1)],
            vec![],
        )],
    )
    .await;
    let st = get_ok(&hub, &may).await;
    let adj: Vec<&Value> = st["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "adjustment")
        .collect();
    assert_eq!(adj.len(), 1, "{st}");
    assert_eq!(
        (
            adj[0]["adjusts"].as_str(),
            adj[0]["quantity_raw"].as_i64(),
            adj[0]["amount"].as_str()
        ),
        (Some("2025-03"), Some(1), Some("0.10"))
    );
    assert_eq!(st["total"], "0.10");
    assert_eq!(get_ok(&hub, &april).await, closed_apr);

    // Inside the grace window a period cannot be closed, and late data lands in it.
    let (_, site2) = hub.tenant("Grace R", "grace-site").await;
    let collector2 = hub.collector(site2).await;
    let today = Utc::now().date_naive();
    let this_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap();
    let last_month = this_month - Months::new(1);
    contract(
        &hub,
        json!({
            "site_id": site2, "effective_from": last_month.to_string(), "currency": "EUR",
            "period": {"kind": "monthly"}, "grace_days": 90,
            "charges": [{"metric": "pages", "pricing": {"model": "flat", "unit_price": "0.10"}}]
        }),
    )
    .await;
    let at = format!("{}T12:00:00Z", last_month + chrono::Days::new(3));
    send(
        &hub,
        &collector2,
        vec![jobs_report(
            "GRACE-1",
            vec![pages_job(Uuid::new_v4(), &at, 7)],
            vec![],
        )],
    )
    .await;
    let id = format!("/api/v1/billing/statements/site-{site2}-{last_month}");
    assert_eq!(get_ok(&hub, &id).await["total"], "0.70");
    let (s, e) = hub.admin_post(&format!("{id}/close"), json!({})).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("grace_window_open")),
        "{e}"
    );
}

async fn meter_basis_non_hp_ink_and_printer_contracts(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (_, site) = hub.tenant("Meter R", "meter-site").await;
    let collector = hub.collector(site).await;
    register(&hub, site, "MET-1").await;
    let carved = register(&hub, site, "MET-2").await;
    contract(
        &hub,
        json!({
            "site_id": site, "effective_from": "2025-03-01", "currency": "EUR",
            "period": {"kind": "monthly"}, "basis": "meter",
            "charges": [
                {"metric": "pages", "pricing": {"model": "flat", "unit_price": "0.02"}},
                {"metric": "non_hp_ink", "pricing": {"model": "flat", "unit_price": "0.10"}},
                {"metric": "media_area", "media_type": "bond", "pricing": {"model": "flat", "unit_price": "1.00"}}
            ]
        }),
    )
    .await;
    // MET-2 has its own contract (jobs basis): carved out of the site's.
    contract(
        &hub,
        json!({
            "printer_id": carved, "effective_from": "2025-03-01", "currency": "EUR",
            "period": {"kind": "monthly"},
            "charges": [{"metric": "pages", "pricing": {"model": "flat", "unit_price": "0.50"}}]
        }),
    )
    .await;
    let reading = |pages: u64, hp: u64, non_hp: u64, bond: u64| LifetimeCounters {
        cartridge_types: vec![CartridgeTypeUsage {
            product_number: "P2V71A".into(),
            color: InkColor::new("cyan"),
            ink_used_ul: hp + non_hp,
            hp_ink_used_ul: hp,
            non_hp_ink_used_ul: non_hp,
            insertions: 1,
        }],
        media_types: vec![MediaTypeUsage {
            media_type: "bond".into(),
            name: "Bond".into(),
            area_mm2: bond,
        }],
        pages,
        jobs: pages / 10,
        total_ink_used_ul: hp + non_hp,
        total_media_area_mm2: bond,
        ..LifetimeCounters::default()
    };
    let report = |serial: &str, at: &str, c: LifetimeCounters, jobs: Vec<PrintJob>| {
        let mut r = PrinterReport::new(serial, ts(at));
        r.counters = Some(c);
        r.print_jobs = jobs;
        r
    };
    // Baselines on 2 March, then 20 March: +100 pages, +2000 µl HP and +1000 µl non-HP cyan, +2 m² bond.
    send(
        &hub,
        &collector,
        vec![
            report(
                "MET-1",
                "2025-03-02T06:00:00Z",
                reading(1000, 5000, 0, 10_000_000),
                vec![],
            ),
            report(
                "MET-2",
                "2025-03-02T06:00:00Z",
                reading(1000, 5000, 0, 10_000_000),
                vec![],
            ),
        ],
    )
    .await;
    let job = Uuid::new_v4();
    send(
        &hub,
        &collector,
        vec![
            report(
                "MET-1",
                "2025-03-20T06:00:00Z",
                reading(1100, 7000, 1000, 12_000_000),
                vec![],
            ),
            report(
                "MET-2",
                "2025-03-20T06:00:00Z",
                reading(1100, 7000, 1000, 12_000_000),
                vec![pages_job(job, "2025-03-19T10:00:00Z", 2)],
            ),
        ],
    )
    .await;
    // Site (meter basis, MET-1 only): pages 100 × 0.02 = 2.00; non-HP 1 ml × 0.10 = 0.10;
    // bond 2 m² × 1.00 = 2.00; total 4.10. Jobs do not count on the meter basis.
    let st = get_ok(
        &hub,
        &format!("/api/v1/billing/statements?site={site}&period=2025-03"),
    )
    .await;
    assert_eq!(
        amounts(&st),
        vec![
            ("usage:pages".to_owned(), d("2.00")),
            ("usage:non_hp_ink".to_owned(), d("0.10")),
            ("usage:media_area[media_type=bond]".to_owned(), d("2.00")),
        ]
    );
    assert_eq!(st["total"], "4.10");
    assert_eq!(st["lines"][1]["quantity_raw"], 1000);
    let ev = get_ok(
        &hub,
        &format!(
            "/api/v1/billing/statements/{}/evidence",
            st["id"].as_str().unwrap()
        ),
    )
    .await;
    verify_digest(&st, &ev);
    let refs = evidence_of(&ev, 1);
    assert_eq!(refs.len(), 1, "one reading of MET-1: {ev}");
    assert!(refs[0].0.starts_with("reading:") && refs[0].1 == 100);

    // Printer contract (jobs basis): 2 pages × 0.50 = 1.00; non-HP ink reported, not billed.
    let st = get_ok(
        &hub,
        &format!("/api/v1/billing/statements?printer={carved}&period=2025-03"),
    )
    .await;
    assert_eq!(
        amounts(&st),
        vec![
            ("usage:pages".to_owned(), d("1.00")),
            ("reported:non_hp_ink".to_owned(), d("0.00")),
        ]
    );
    assert_eq!(st["lines"][1]["kind"], "reported");
    assert_eq!(st["lines"][1]["quantity_raw"], 1000);
    assert_eq!(dec(&st["lines"][1]["quantity"]), d("1"));
    assert_eq!(st["total"], "1.00");
    let ev = get_ok(
        &hub,
        &format!(
            "/api/v1/billing/statements/{}/evidence",
            st["id"].as_str().unwrap()
        ),
    )
    .await;
    verify_digest(&st, &ev);
    assert_eq!(evidence_of(&ev, 1), vec![(job_ref(job), 2)]);

    // Meter totals, by ink color: cyan 3000 µl of which 1000 non-HP per printer.
    let t = get_ok(
        &hub,
        &format!("/api/v1/billing/totals?scope=site&id={site}&from=2025-03-01&to=2025-04-01&basis=meter&group_by=ink_color&amounts=false"),
    )
    .await;
    assert_eq!(t["groups"][0]["key"]["ink_color"], "cyan");
    assert_eq!(t["groups"][0]["usage"]["ink_ul"], 6000);
    assert_eq!(t["groups"][0]["usage"]["non_hp_ink_ul"], 2000);
}

async fn a_contract_change_mid_period_is_prorated(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (_, site) = hub.tenant("Prorate R", "prorate-site").await;
    let collector = hub.collector(site).await;
    let terms = |from: &str, fee: &str, price: &str| {
        json!({
            "site_id": site, "effective_from": from, "currency": "EUR",
            "period": {"kind": "monthly"},
            "charges": [
                {"metric": "fixed_fee", "amount": fee},
                {"metric": "pages", "pricing": {"model": "flat", "unit_price": price}}
            ]
        })
    };
    let a = contract(&hub, terms("2025-03-01", "31.00", "0.10")).await;
    let b = contract(&hub, terms("2025-03-17", "62.00", "0.20")).await;
    send(
        &hub,
        &collector,
        vec![jobs_report(
            "PRO-1",
            vec![
                pages_job(Uuid::new_v4(), "2025-03-10T10:00:00Z", 5),
                pages_job(Uuid::new_v4(), "2025-03-20T10:00:00Z", 5),
            ],
            vec![],
        )],
    )
    .await;
    // March has 31 days: A is in force 16 (1–16), B 15 (17–31).
    // A: fee 31.00 × 16/31 = 16.00; 5 pages × 0.10 = 0.50.
    // B: fee 62.00 × 15/31 = 30.00; 5 pages × 0.20 = 1.00. Total 47.50.
    let st = get_ok(
        &hub,
        &format!("/api/v1/billing/statements?site={site}&period=2025-03-05"),
    )
    .await;
    assert_eq!(st["contracts"], json!([a["id"], b["id"]]));
    assert_eq!(
        amounts(&st),
        vec![
            ("fixed_fee:0".to_owned(), d("16.00")),
            ("usage:pages".to_owned(), d("0.50")),
            ("reported:non_hp_ink".to_owned(), d("0.00")),
            ("fixed_fee:0".to_owned(), d("30.00")),
            ("usage:pages".to_owned(), d("1.00")),
            ("reported:non_hp_ink".to_owned(), d("0.00")),
        ]
    );
    assert_eq!(st["lines"][0]["to"], "2025-03-17");
    assert_eq!(st["lines"][3]["from"], "2025-03-17");
    assert!(
        st["lines"][0]["pricing"]
            .as_str()
            .unwrap()
            .contains("prorated 16/31 days")
    );
    assert_eq!(st["total"], "47.50");
    // Amounts by day add up to the statement.
    let t = get_ok(
        &hub,
        &format!(
            "/api/v1/billing/totals?scope=site&id={site}&from=2025-03-01&to=2025-04-01&group_by=day"
        ),
    )
    .await;
    assert_eq!(t["groups"].as_array().unwrap().len(), 2);
    assert_eq!(t["total"]["amounts"]["EUR"], "47.50");
    // Bad queries are clear 400s.
    for (q, code) in [
        (
            "scope=site&id=1&from=2025-03-01&to=2025-03-01",
            "invalid_range",
        ),
        (
            "scope=planet&id=1&from=2025-03-01&to=2025-04-01",
            "invalid_query",
        ),
        (
            "scope=site&id=1&from=2025-03-01&to=2025-04-01&group_by=colour",
            "invalid_group_by",
        ),
        (
            "scope=site&id=1&from=2025-03-01&to=2025-04-01&group_by=day,month",
            "invalid_group_by",
        ),
        (
            "scope=site&id=1&from=01.03.2025&to=2025-04-01",
            "invalid_date",
        ),
        (
            "scope=site&id=1&from=2025-03-01&to=2025-04-01&groupby=day",
            "invalid_query",
        ),
    ] {
        let (s, v) = hub.admin_get(&format!("/api/v1/billing/totals?{q}")).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some(code)),
            "{q}: {v}"
        );
    }
    let (s, v) = hub
        .admin_get(&format!(
            "/api/v1/billing/statements?site={site}&period=2025-13"
        ))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_period")),
        "{v}"
    );
}

on_both_backends!(
    contracts_are_validated_and_superseded,
    statement_worked_example,
    duplicates_never_change_a_total,
    late_data_and_the_grace_window,
    meter_basis_non_hp_ink_and_printer_contracts,
    a_contract_change_mid_period_is_prorated,
);
