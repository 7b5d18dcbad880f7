//! Reliability scenario 4 (RELIABILITY.md): bad input against every API route.
//!
//! The routes are read from the hub's source at test time (every `configure`
//! function in hub/src, see `reliability_support::hub_routes`), so a route
//! added later is covered without editing this file. Against the real
//! binary, with raw HTTP/1.1 over TLS (exact request lines, no client-side
//! URL normalization), each route gets: path traversal, SQL injection, huge
//! and odd numbers in every path parameter; the same in every query field
//! (all at once, and one at a time with the others plausible); malformed
//! JSON, wrong types, huge numbers and injection strings in every body
//! field; junk, empty and huge raw bodies; wrong content types and methods;
//! and the ingest route gets sealed envelopes with extreme values.
//!
//! For every request: never a 5xx, never a dropped connection (a panic in a
//! handler drops it), every error in the one JSON error shape, and when the
//! answer is not a 2xx no table changed (no stored half record). At the end:
//! no `panicked` in the hub's log, no orphan rows, and the hub still serves.
//! A second test holds slow clients (slow headers, slow bodies, idle TLS)
//! open and checks that the hub keeps serving others and closes them.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::support::*;
use chrono::Utc;
use ppu_protocol::envelope::{self, Header, SenderKeys, SenderKind};
use ppu_protocol::model::*;
use serde_json::{Value, json};
use uuid::Uuid;

/// Path traversal, SQL injection, odd numbers and odd text.
const NASTY: &[&str] = &[
    "../../../../etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "....//....//etc/passwd",
    "/etc/shadow",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "1' OR '1'='1",
    "1; DROP TABLE jobs; --",
    "' UNION SELECT keys, sender_id FROM credentials --",
    "\" OR \"\"=\"",
    "1)) OR 1=1--",
    "%' AND 1=0 UNION ALL SELECT NULL--",
    "0",
    "-1",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1e308",
    "NaN",
    "0x7fffffff",
    "1.5",
    "\u{0}",
    "😀🖨",
    "\u{202e}gnp.exe",
    "<script>alert(1)</script>",
    "${jndi:ldap://127.0.0.1/x}",
    " ",
    "",
    "null",
    "true",
    "[]",
    "{}",
];

/// The values tried: all of [`NASTY`] in long mode; in short (CI) mode one
/// or two of each kind, to keep the run within minutes.
fn nasty() -> Vec<&'static str> {
    match mode() {
        Mode::Long => NASTY.to_vec(),
        Mode::Short => vec![
            "../../../../etc/passwd",
            "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "1' OR '1'='1",
            "1; DROP TABLE jobs; --",
            "' UNION SELECT keys, sender_id FROM credentials --",
            "-1",
            "9223372036854775808",
            "1e308",
            "\u{0}",
            "😀🖨",
            "<script>alert(1)</script>",
            "",
            "{}",
        ],
    }
}

fn long_string(n: usize) -> String {
    "A".repeat(n)
}

/// Values of the wrong type (or extreme values of the right one) for JSON fields.
fn wrong_types() -> Vec<Value> {
    if mode() == Mode::Short {
        return vec![
            Value::Null,
            json!("a string"),
            json!(1.5),
            json!(-1),
            json!(u64::MAX),
            serde_json::from_str("9223372036854775808").unwrap(),
            json!([]),
            json!({}),
            json!(long_string(100_000)),
        ];
    }
    vec![
        Value::Null,
        json!(true),
        json!("a string"),
        json!(1.5),
        json!(-1),
        json!(0),
        json!(i64::MAX),
        json!(u64::MAX),
        serde_json::from_str("9223372036854775808").unwrap(),
        serde_json::from_str("-9223372036854775809").unwrap(),
        serde_json::from_str::<Value>("1e308").unwrap(),
        json!([]),
        json!({}),
        json!([1, 2, 3]),
        json!({"nested": {"deeper": [null]}}),
        json!(long_string(100_000)),
    ]
}

fn query_string(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One request's expectations and bookkeeping.
struct Barrage {
    hub: HubProcess,
    tls: Arc<rustls::ClientConfig>,
    db: sea_orm::DatabaseConnection,
    counts: TableCounts,
    tried: u64,
    by_status: BTreeMap<u16, u64>,
    failures: Vec<String>,
    started: Instant,
    /// Requests refused by the HTTP parser (before routing; no JSON body).
    parser_refusals: u64,
    /// Panics already reported (a restart after a broken ingest).
    panics_before_restart: Vec<String>,
    _tmp: tempfile::TempDir,
}

struct Req<'a> {
    label: String,
    method: &'a str,
    target: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// The hub may close the connection before reading all of it.
    huge: bool,
    /// The answer may be a 2xx that stores something (a valid create).
    may_store: bool,
    /// How long to wait for the answer.
    timeout: Duration,
}

/// `req` with `body` as its JSON body, if any.
fn attach<'a>(body: Option<&Value>, req: Req<'a>) -> Req<'a> {
    match body {
        Some(b) => req.json(b),
        None => req,
    }
}

impl<'a> Req<'a> {
    fn new(label: impl Into<String>, method: &'a str, target: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            method,
            target: target.into(),
            headers: vec![("Authorization", format!("Bearer {ADMIN_TOKEN}"))],
            body: Vec::new(),
            huge: false,
            may_store: true,
            timeout: Duration::from_secs(30),
        }
    }
    fn json(mut self, body: &Value) -> Self {
        self.headers
            .push(("Content-Type", "application/json".to_owned()));
        self.body = serde_json::to_vec(body).unwrap();
        self
    }
    fn raw(mut self, content_type: &str, body: Vec<u8>) -> Self {
        if !content_type.is_empty() {
            self.headers.push(("Content-Type", content_type.to_owned()));
        }
        self.body = body;
        self
    }
}

impl Barrage {
    async fn send(&mut self, req: Req<'_>) -> Option<RawResponse> {
        let before = self.counts.get(&self.db).await;
        let port = self.hub.opts.port;
        let tls = self.tls.clone();
        let method = req.method.to_owned();
        let target = req.target.clone();
        let headers: Vec<(&'static str, String)> = req.headers.clone();
        let body = req.body;
        let timeout = req.timeout;
        let result = tokio::task::spawn_blocking(move || {
            let h: Vec<(&str, String)> = headers.iter().map(|(n, v)| (*n, v.clone())).collect();
            raw_request_within(port, &tls, &method, &target, &h, &body, timeout)
        })
        .await
        .unwrap();
        self.tried += 1;
        let shown: String = req.target.chars().take(160).collect();
        let label = format!("{} [{} {shown}]", req.label, req.method);
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                if !req.huge {
                    self.failures.push(format!("{label}: no answer: {e}"));
                }
                *self.by_status.entry(0).or_default() += 1;
                return None;
            }
        };
        *self.by_status.entry(r.status).or_default() += 1;
        if r.status >= 500 {
            self.failures
                .push(format!("{label}: {} {}", r.status, r.text()));
        }
        // The API's errors have one JSON shape; the portal answers HTML pages.
        let api = !(req.target.starts_with("/portal") || req.target == "/");
        // The HTTP parser refuses a malformed request line or an oversized
        // head before the application sees it: an empty answer, no JSON.
        let parser_refusal = r.body.is_empty()
            && r.header("content-type").is_none()
            && matches!(r.status, 400 | 413 | 414 | 431);
        if parser_refusal {
            self.parser_refusals += 1;
        }
        if r.status >= 400 && api && !parser_refusal {
            let v = r.json();
            let json_answer = r.header("content-type").is_some_and(|c| c.contains("json"));
            if !json_answer || !v["error"]["code"].is_string() || !v["error"]["message"].is_string()
            {
                self.failures.push(format!(
                    "{label}: error {} not in the JSON error shape: {:?} {:?}",
                    r.status,
                    r.header("content-type"),
                    r.text().chars().take(200).collect::<String>()
                ));
            }
        }
        let after = self.counts.get(&self.db).await;
        if before != after && (r.status >= 300 || !req.may_store) {
            let changed: Vec<String> = after
                .iter()
                .filter(|(t, n)| before.get(*t) != Some(n))
                .map(|(t, n)| format!("{t}: {} -> {n}", before[t]))
                .collect();
            self.failures.push(format!(
                "{label}: answered {} but stored something: {}",
                r.status,
                changed.join(", ")
            ));
        }
        Some(r)
    }
}

async fn setup(backend: Backend) -> (Barrage, Known, SenderKeys, String) {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = HubOptions::new(tmp.path(), &backend);
    opts.rust_log = "warn".into();
    let hub = HubProcess::start(opts).await;
    let c = hub.client();
    let base = hub.base.clone();
    let r = admin_post(&c, &base, "/api/v1/resellers", json!({"name": "Input R"})).await;
    let reseller = r["id"].as_i64().unwrap();
    let s = admin_post(
        &c,
        &base,
        "/api/v1/sites",
        json!({"reseller_id": reseller, "account_name": "input-site"}),
    )
    .await;
    let site = s["id"].as_i64().unwrap();
    let serial = "INPUT-1".to_owned();
    let p = admin_post(
        &c,
        &base,
        "/api/v1/printers",
        json!({"site_id": site, "serial_number": serial, "direct": true}),
    )
    .await;
    let printer = p["printer_id"].as_i64().unwrap_or(1);
    let secret = p["secret"].as_str().unwrap().to_owned();
    let keys = SenderKeys::derive(secret.as_bytes(), SenderKind::Printer, &serial);
    let col = admin_post(&c, &base, "/api/v1/collectors", json!({"site_id": site})).await;
    let col_id = col["sender_id"].as_str().unwrap().to_owned();
    let col_keys = SenderKeys::derive(
        col["secret"].as_str().unwrap().as_bytes(),
        SenderKind::Collector,
        &col_id,
    );
    // One upload with jobs and a critical alert, so alert routes have something to act on.
    let mut payload = Payload::new(Uuid::new_v4(), "input/1", Utc::now(), UploadTrigger::Alert);
    let mut report = PrinterReport::new(serial.clone(), Utc::now());
    report.counters = Some(LifetimeCounters {
        pages: 10,
        ..Default::default()
    });
    report.alerts = vec![DeviceAlert {
        code: "86:01".into(),
        severity: Severity::Critical,
        message: "carriage stall".into(),
        detected_at: Utc::now(),
        active: true,
        during_boot: false,
    }];
    payload.printers.push(report);
    let header = Header::new(SenderKind::Printer, serial.clone(), Utc::now());
    let bytes = envelope::seal(&header, &payload, &keys).unwrap();
    let r = c
        .post(hub.url("/api/v1/ingest"))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let alerts = admin_get(&c, &base, "/api/v1/alerts").await;
    let alert = alerts["alerts"][0]["id"].as_i64().unwrap_or(1);
    let db = hub.db().await;
    // Tables a request may legitimately touch without storing data: the
    // actors' periodic snapshots and the audit log (failed attempts are audited).
    let counts = TableCounts::new(&db, &["actor_snapshots", "audit_entries"]).await;
    let tls = tls_config(&hub.cert);
    (
        Barrage {
            hub,
            tls,
            db,
            counts,
            tried: 0,
            by_status: BTreeMap::new(),
            failures: Vec::new(),
            started: Instant::now(),
            panics_before_restart: Vec::new(),
            parser_refusals: 0,
            _tmp: tmp,
        },
        Known {
            reseller,
            site,
            printer,
            serial,
            alert,
        },
        col_keys,
        col_id,
    )
}

fn path_value(param: &str, k: &Known) -> String {
    match param {
        "serial" => k.serial.clone(),
        p if p.contains("alert") => k.alert.to_string(),
        "id" => "1".into(),
        _ => "1".into(),
    }
}

/// Is `v` safe to put unencoded on a request line (no space, control, `?`, `#`)?
fn raw_ok(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
}

async fn bad_input_never_breaks_the_hub(backend: Backend) {
    let (mut b, k, col_keys, col_id) = setup(backend.clone()).await;
    let routes = hub_routes();
    eprintln!("[input] {} routes:", routes.len());
    for r in &routes {
        eprintln!(
            "[input]   {:6} {:55} {:24} query={:?} json={:?} raw_body={}",
            r.method,
            r.path,
            r.handler,
            r.query.as_ref().map(|f| f.len()),
            r.json.as_ref().map(|f| f.len()),
            r.raw_body
        );
    }
    let plausible_path = |r: &Route| r.fill(|p| path_value(p, &k));
    let nasty = nasty();

    for r in &routes {
        let m = r.method.as_str();
        let has_body = matches!(m, "POST" | "PUT" | "PATCH");
        let good_body = Value::Object(plausible_body(r.json.as_deref().unwrap_or(&[]), &k));
        let body = (has_body && r.json.is_some()).then_some(&good_body);

        // 1. Path parameters.
        for param in r.params() {
            for v in nasty
                .iter()
                .map(|s| s.to_string())
                .chain([long_string(5000)])
            {
                let encoded = r.fill(|p| {
                    if p == param {
                        pct(&v)
                    } else {
                        path_value(p, &k)
                    }
                });
                b.send(attach(
                    body,
                    Req::new(format!("{} path {param}", r.path), m, encoded),
                ))
                .await;
                if raw_ok(&v) {
                    let raw = r.fill(|p| {
                        if p == param {
                            v.clone()
                        } else {
                            path_value(p, &k)
                        }
                    });
                    b.send(attach(
                        body,
                        Req::new(format!("{} raw path {param}", r.path), m, raw),
                    ))
                    .await;
                }
            }
        }

        // 2. Query fields: all bad at once, then one at a time.
        let target = plausible_path(r);
        if let Some(fields) = &r.query {
            let good = plausible_query(fields, &k);
            b.send(Req::new(
                format!("{} plausible query", r.path),
                m,
                format!("{target}?{}", query_string(&good)),
            ))
            .await;
            for v in &nasty {
                let all: Vec<(String, String)> = fields
                    .iter()
                    .map(|f| (f.name.clone(), v.to_string()))
                    .collect();
                b.send(Req::new(
                    format!("{} query all={v:?}", r.path),
                    m,
                    format!("{target}?{}", query_string(&all)),
                ))
                .await;
            }
            for (i, f) in fields.iter().enumerate() {
                for v in nasty
                    .iter()
                    .step_by(2)
                    .map(|s| s.to_string())
                    .chain([long_string(5000)])
                {
                    let mut q = good.clone();
                    q[i].1 = v.clone();
                    b.send(Req::new(
                        format!("{} query {}", r.path, f.name),
                        m,
                        format!("{target}?{}", query_string(&q)),
                    ))
                    .await;
                }
            }
        }
        // Junk query strings on every route.
        for q in [
            "%zz=1&&=&%00=%",
            "a[]=1&a[]=2&a[x]=3",
            "id=1&id=2&id=3",
            "unknown_field=1",
        ] {
            b.send(attach(
                body,
                Req::new(format!("{} junk query", r.path), m, format!("{target}?{q}")),
            ))
            .await;
        }

        // 3. JSON bodies.
        if let (true, Some(fields)) = (has_body, &r.json) {
            let malformed: Vec<Vec<u8>> = vec![
                b"".to_vec(),
                b"{".to_vec(),
                b"{\"a\":".to_vec(),
                b"[]".to_vec(),
                b"null".to_vec(),
                b"\"x\"".to_vec(),
                b"0".to_vec(),
                b"{} {}".to_vec(),
                b"\xff\xfe\xfd".to_vec(),
                b"{\"\x00\":\"\x00\"}".to_vec(),
                b"\xef\xbb\xbf{}".to_vec(),
                "[".repeat(100_000).into_bytes(),
                format!("{}1{}", "{\"a\":".repeat(5000), "}".repeat(5000)).into_bytes(),
                b"{\"x\": 1e999999}".to_vec(),
                b"{\"x\": -0}".to_vec(),
            ];
            for (i, body) in malformed.into_iter().enumerate() {
                b.send(
                    Req::new(format!("{} malformed json #{i}", r.path), m, &target)
                        .raw("application/json", body),
                )
                .await;
            }
            for f in fields {
                let mut values = wrong_types();
                values.extend(nasty.iter().map(|s| json!(s)));
                for v in values {
                    let mut body = plausible_body(fields, &k);
                    body.insert(f.name.clone(), v);
                    b.send(
                        Req::new(format!("{} body {}", r.path, f.name), m, &target)
                            .json(&Value::Object(body)),
                    )
                    .await;
                }
            }
            // Duplicate keys, extra fields.
            let mut text = serde_json::to_string(&good_body).unwrap();
            if text.len() > 2 {
                text.insert_str(1, "\"zzz_unknown\": [1], ");
            }
            b.send(
                Req::new(format!("{} extra field", r.path), m, &target)
                    .raw("application/json", text.into_bytes()),
            )
            .await;
            // Right JSON, wrong content type, and none.
            b.send(
                Req::new(format!("{} text/plain", r.path), m, &target)
                    .raw("text/plain", serde_json::to_vec(&good_body).unwrap()),
            )
            .await;
            b.send(
                Req::new(format!("{} no content type", r.path), m, &target)
                    .raw("", serde_json::to_vec(&good_body).unwrap()),
            )
            .await;
        }

        // 4. Raw bodies (envelopes).
        if has_body && r.raw_body {
            let mut junk: Vec<(String, Vec<u8>)> = vec![
                ("empty".into(), Vec::new()),
                ("text".into(), b"hello".to_vec()),
                ("magic only".into(), b"PPUE".to_vec()),
                ("magic + version".into(), b"PPUE\x01".to_vec()),
                ("json".into(), b"{\"printers\": []}".to_vec()),
                (
                    "header claims a 4 GiB ciphertext".into(),
                    [
                        b"PPUE\x01\x02\x07INPUT-1".to_vec(),
                        vec![0; 8 + 16 + 16],
                        vec![0xff, 0xff, 0xff, 0xf0],
                    ]
                    .concat(),
                ),
            ];
            let mut rng = Rng::new(7);
            for n in [1usize, 83, 1000, 70_000] {
                junk.push((
                    format!("{n} random bytes"),
                    (0..n).map(|_| rng.next() as u8).collect(),
                ));
            }
            for (what, body) in junk {
                b.send(
                    Req::new(format!("{} body {what}", r.path), m, &target)
                        .raw("application/octet-stream", body),
                )
                .await;
            }
            b.send(
                Req::new(format!("{} envelope as json", r.path), m, &target)
                    .raw("application/json", b"PPUE".to_vec()),
            )
            .await;
        }

        // 5. Huge bodies on every route that takes one.
        if has_body {
            let ct = if r.raw_body {
                "application/octet-stream"
            } else {
                "application/json"
            };
            let mut body = b"{\"name\": \"".to_vec();
            body.extend(std::iter::repeat_n(b'x', 3 * 1024 * 1024));
            body.extend_from_slice(b"\"}");
            let mut req = Req::new(format!("{} 3 MiB body", r.path), m, &target).raw(ct, body);
            req.huge = true;
            let reads_body = r.json.is_some() || r.form.is_some() || r.raw_body;
            if let Some(resp) = b.send(req).await
                && reads_body
                && resp.status != 413
                && resp.status != 400
            {
                b.failures.push(format!(
                    "{} {}: a 3 MiB body answered {}, expected 413 (or 400)",
                    m, r.path, resp.status
                ));
            }
            // A Content-Length far beyond any limit, and a body that never comes.
            let mut req = Req::new(format!("{} content-length 10 GB", r.path), m, &target)
                .raw(ct, b"{".to_vec());
            req.headers
                .push(("Content-Length", "10000000000".to_owned()));
            req.huge = true;
            b.send(req).await;
        }

        // 6. Other methods on the same path.
        for other in ["PATCH", "TRACE", "OPTIONS", "DELETE", "PUT"] {
            if other != m && !routes.iter().any(|x| x.path == r.path && x.method == other) {
                b.send(Req::new(format!("{} other method", r.path), other, &target))
                    .await;
            }
        }
    }

    // 7. Paths that are not routes, including traversal before routing.
    for target in [
        "/api/v1/../../../../etc/passwd",
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/api/v1/printers/..%2f..%2f..%2fetc%2fpasswd",
        "/api/v1/printers/%2e%2e%2f%2e%2e%2fadmin-token",
        "/api/v1/printers/..%5c..%5cadmin-token",
        "/admin-token",
        "/data/admin-token",
        "/tls-key.pem",
        "/ppu-hub.db",
        "//api//v1//sites//1",
        "/api/v1/sites/1/",
        "/api/v1/sites/1;drop",
        "/api/v1/sites/%00",
        "/API/V1/SITES/1",
        "*",
        "http://localhost/api/v1/sites/1",
    ] {
        b.send(Req::new("not a route", "GET", target)).await;
    }
    let long_target = format!("/api/v1/printers/{}", "A".repeat(100_000));
    let mut req = Req::new("100 KB request line", "GET", long_target);
    req.huge = true;
    b.send(req).await;
    let mut req = Req::new("200 headers", "GET", "/api/v1/sites/1");
    for i in 0..200 {
        req.headers.push(("X-Junk", format!("{i}")));
    }
    req.huge = true;
    b.send(req).await;
    let mut req = Req::new("64 KB header", "GET", "/api/v1/sites/1");
    req.headers.push(("X-Big", "B".repeat(64 * 1024)));
    req.huge = true;
    b.send(req).await;
    let mut req = Req::new("bearer of 100 KB", "GET", "/api/v1/sites/1");
    req.headers = vec![("Authorization", format!("Bearer {}", "t".repeat(100_000)))];
    req.huge = true;
    b.send(req).await;
    for auth in [
        "Bearer",
        "Bearer ",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer ' OR '1'='1",
        "bearer test-admin-token-0123456789",
    ] {
        let mut req = Req::new("odd authorization", "GET", "/api/v1/sites/1");
        req.headers = vec![("Authorization", auth.to_owned())];
        b.send(req).await;
    }
    // 64 MiB at the ingest route, in one go.
    let mut req = Req::new("64 MiB envelope", "POST", "/api/v1/ingest")
        .raw("application/octet-stream", vec![0x50; 64 * 1024 * 1024]);
    req.huge = true;
    b.send(req).await;

    // 8. Sealed envelopes with extreme values (valid MAC: they reach the writer).
    extreme_envelopes(&mut b, &k, &col_keys, &col_id).await;

    // The hub still serves, nothing panicked, nothing is orphaned.
    let c = b.hub.client();
    let v = admin_get(&c, &b.hub.base, &format!("/api/v1/printers/{}", k.serial)).await;
    assert_eq!(v["serial_number"], json!(k.serial), "{v}");
    let orphans = [
        "SELECT COUNT(*) AS n FROM jobs j LEFT JOIN uploads u ON u.id = j.upload_id WHERE u.id IS NULL",
        "SELECT COUNT(*) AS n FROM jobs j LEFT JOIN printers p ON p.id = j.printer_id WHERE p.id IS NULL",
        "SELECT COUNT(*) AS n FROM counter_readings c LEFT JOIN uploads u ON u.id = c.upload_id WHERE u.id IS NULL",
        "SELECT COUNT(*) AS n FROM printers p LEFT JOIN sites s ON s.id = p.site_id WHERE s.id IS NULL",
        "SELECT COUNT(*) AS n FROM sites s LEFT JOIN resellers r ON r.id = s.reseller_id WHERE r.id IS NULL",
        "SELECT COUNT(*) AS n FROM credentials c LEFT JOIN sites s ON s.id = c.site_id WHERE s.id IS NULL",
    ];
    for sql in orphans {
        let n = scalar(&b.db, sql).await;
        if n != 0 {
            b.failures.push(format!("{n} orphan rows: {sql}"));
        }
    }
    if matches!(backend, Backend::Sqlite) {
        let row =
            b.db.query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Sqlite,
                "PRAGMA integrity_check".to_owned(),
            ))
            .await
            .unwrap()
            .unwrap();
        let ok: String = row.try_get_by_index(0).unwrap();
        if ok != "ok" {
            b.failures.push(format!("sqlite integrity_check: {ok}"));
        }
    }
    let panics: Vec<String> = b
        .hub
        .panics()
        .into_iter()
        .filter(|p| !b.panics_before_restart.contains(p))
        .collect();
    b.failures
        .extend(panics.iter().map(|p| format!("hub log: {p}")));
    eprintln!(
        "[input] RESULT backend={} routes={} requests={} by-status={:?} refused-by-the-http-parser={} elapsed={:?} failures={}",
        match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        },
        routes.len(),
        b.tried,
        b.by_status,
        b.parser_refusals,
        b.started.elapsed(),
        b.failures.len()
    );
    assert!(
        b.failures.is_empty(),
        "{} failures:\n{}\n{}",
        b.failures.len(),
        b.failures.join("\n"),
        b.hub.log_tail(30)
    );
}

use sea_orm::ConnectionTrait as _;

/// Uploads that pass the MAC check but carry extreme values: each must be
/// stored whole (all its records) or not at all, and never answered 5xx.
async fn extreme_envelopes(b: &mut Barrage, k: &Known, keys: &SenderKeys, id: &str) {
    let base_report = |serial: &str| {
        let mut r = PrinterReport::new(serial.to_owned(), Utc::now());
        r.counters = Some(LifetimeCounters {
            pages: 100,
            ..Default::default()
        });
        r
    };
    let job = |pages: u32, ink: u64, media: u64, at: chrono::DateTime<Utc>| PrintJob {
        job: JobIdentity {
            uuid: Uuid::new_v4(),
            name: "x".into(),
            sequence_number: 1,
            project_id: None,
            application_id: None,
            custom_field: None,
            account_id: None,
            user_name: None,
            submitted_at: None,
        },
        print: PrintDetails {
            printed_at: at,
            status: PrintStatus::Printed,
            source: JobSource::Driver,
            category: PrintCategory::LineDrawing,
            quality: PrintQuality::Normal,
            media_type: Some("bond".into()),
            pages,
            copies: u32::MAX,
            print_time_s: u32::MAX,
            ink: vec![InkUsage {
                color: InkColor::new("cyan"),
                used_ul: ink,
            }],
            media_area_mm2: media,
            media_length_mm: media,
            printed_area_mm2: media,
            categories: vec![],
            non_white_coverage_bp: u16::MAX,
            color_coverage_bp: u16::MAX,
        },
    };
    let far_future = chrono::DateTime::<Utc>::MAX_UTC;
    let far_past = chrono::DateTime::<Utc>::MIN_UTC;
    let mut cases: Vec<(String, Payload)> = Vec::new();
    let mut p = |what: &str, printers: Vec<PrinterReport>| {
        let mut payload = Payload::new(Uuid::new_v4(), "input/1", Utc::now(), UploadTrigger::Jobs);
        payload.printers = printers;
        cases.push((what.to_owned(), payload));
    };
    let mut r = base_report("XTREME-1");
    r.counters = Some(LifetimeCounters {
        pages: u64::MAX,
        jobs: u64::MAX,
        total_ink_used_ul: u64::MAX,
        total_media_area_mm2: u64::MAX,
        ..Default::default()
    });
    p("counters at u64::MAX", vec![r]);
    let mut r = base_report("XTREME-2");
    r.print_jobs = vec![job(u32::MAX, u64::MAX, u64::MAX, Utc::now())];
    p("a job with u64::MAX ink and media", vec![r]);
    let mut r = base_report("XTREME-3");
    r.print_jobs = vec![
        job(1, 1, 1, Utc::now()),
        job(1, i64::MAX as u64, i64::MAX as u64, Utc::now()),
    ];
    p("two jobs summing past i64::MAX", vec![r]);
    let mut r = base_report("XTREME-4");
    r.print_jobs = vec![job(1, 1, 1, far_future)];
    p("a job printed at the end of time", vec![r]);
    let mut r = base_report("XTREME-5");
    r.print_jobs = vec![job(1, 1, 1, far_past)];
    r.collected_at = far_past;
    p("a job printed at the beginning of time", vec![r]);
    let mut good = base_report("XTREME-6");
    good.print_jobs = vec![job(2, 10, 10, Utc::now())];
    let mut bad = base_report("XTREME-7");
    bad.print_jobs = vec![job(u32::MAX, u64::MAX, u64::MAX, Utc::now())];
    p(
        "one fine printer, one with u64::MAX values",
        vec![good, bad],
    );
    let mut r = base_report("XTREME-8");
    let dup = job(1, 1, 1, Utc::now());
    r.print_jobs = vec![dup.clone(), dup];
    p("the same job UUID twice in one report", vec![r]);
    let mut r = base_report("XTREME-11");
    r.print_jobs = vec![job(1, 1, 1, Utc::now())];
    r.print_jobs[0].job.sequence_number = u64::MAX;
    p("a job sequence number of u64::MAX", vec![r]);
    let mut r = base_report(&"S".repeat(65));
    r.print_jobs = vec![job(1, 1, 1, Utc::now())];
    p("a serial number of 65 characters", vec![r]);
    let mut r = base_report("XTREME-9");
    r.print_jobs = vec![job(1, 1, 1, Utc::now())];
    r.print_jobs[0].job.name = "N".repeat(200_000);
    r.print_jobs[0].job.user_name = Some("'; DROP TABLE jobs; --".into());
    r.print_jobs[0].job.project_id = Some("../../etc/passwd\u{0}".into());
    r.print_jobs[0].print.media_type = Some("\u{0}\u{1}\u{7f}".into());
    r.print_jobs[0].print.ink[0].color = InkColor::new("' OR 1=1 --");
    p("injection and control characters in job strings", vec![r]);
    let mut r = base_report("XTREME-10");
    r.alerts = vec![DeviceAlert {
        code: "X".repeat(100_000),
        severity: Severity::Critical,
        message: "M".repeat(100_000),
        detected_at: far_future,
        active: true,
        during_boot: true,
    }];
    p("a huge alert at the end of time", vec![r]);
    let many: Vec<PrinterReport> = (0..2000)
        .map(|i| base_report(&format!("MANY-{i}")))
        .collect();
    p("2000 printers in one upload", many);
    let mut r = base_report(&k.serial);
    r.print_jobs = (0..3000).map(|_| job(1, 1, 1, Utc::now())).collect();
    p("3000 jobs in one report", vec![r]);

    for (what, payload) in cases {
        let header = Header::new(SenderKind::Collector, id.to_owned(), Utc::now());
        let Ok(bytes) = envelope::seal(&header, &payload, keys) else {
            eprintln!("[input] cannot seal {what} (the sender side refuses it)");
            continue;
        };
        let jobs_before = scalar(&b.db, "SELECT COUNT(*) AS n FROM jobs").await;
        let readings_before = scalar(&b.db, "SELECT COUNT(*) AS n FROM counter_readings").await;
        let sent_jobs: usize = payload.printers.iter().map(|p| p.print_jobs.len()).sum();
        let mut req = Req::new(format!("envelope: {what}"), "POST", "/api/v1/ingest")
            .raw("application/octet-stream", bytes);
        req.timeout = Duration::from_secs(180);
        let t0 = Instant::now();
        let Some(r) = b.send(req).await else { continue };
        let jobs_after = scalar(&b.db, "SELECT COUNT(*) AS n FROM jobs").await;
        let readings_after = scalar(&b.db, "SELECT COUNT(*) AS n FROM counter_readings").await;
        let stored_jobs = jobs_after - jobs_before;
        eprintln!(
            "[input] envelope {what:?}: {} after {:?}: {} (jobs sent {sent_jobs}, stored {stored_jobs}, readings +{})",
            r.status,
            t0.elapsed(),
            r.text().chars().take(300).collect::<String>(),
            readings_after - readings_before
        );
        if r.status == 200 {
            let v = r.json();
            let accepted = v["accepted"]["print_jobs"].as_i64().unwrap_or(-1);
            if accepted != stored_jobs {
                b.failures.push(format!(
                    "envelope {what}: answer says {accepted} jobs accepted, {stored_jobs} stored"
                ));
            }
            // What was stored is what was sent, not a wrapped or cut value.
            let mut wrong: std::collections::BTreeMap<String, (usize, String)> = Default::default();
            for report in &payload.printers {
                for j in &report.print_jobs {
                    use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
                    let Some(row) = ppu_entities::job::Entity::find()
                        .filter(ppu_entities::job::Column::Uuid.eq(j.job.uuid))
                        .one(&b.db)
                        .await
                        .unwrap()
                    else {
                        continue;
                    };
                    let p = &j.print;
                    let sent: [(&str, i128); 7] = [
                        ("pages", i128::from(p.pages)),
                        ("copies", i128::from(p.copies)),
                        ("print_time_s", i128::from(p.print_time_s)),
                        (
                            "ink_total_ul",
                            p.ink.iter().map(|i| i128::from(i.used_ul)).sum(),
                        ),
                        ("media_area_mm2", i128::from(p.media_area_mm2)),
                        ("media_length_mm", i128::from(p.media_length_mm)),
                        ("sequence_number", i128::from(j.job.sequence_number)),
                    ];
                    let stored: [i128; 7] = [
                        i128::from(row.pages),
                        i128::from(row.copies),
                        i128::from(row.print_time_s),
                        i128::from(row.ink_total_ul),
                        i128::from(row.media_area_mm2),
                        i128::from(row.media_length_mm),
                        i128::from(row.sequence_number),
                    ];
                    for ((field, want), got) in sent.iter().zip(stored) {
                        if *want != got {
                            let e = wrong
                                .entry((*field).to_owned())
                                .or_insert((0, format!("sent {want}, stored {got}")));
                            e.0 += 1;
                        }
                    }
                }
            }
            for (field, (n, example)) in wrong {
                b.failures.push(format!(
                    "envelope {what}: 200 answered, but {n} job(s) stored another {field} than sent ({example})"
                ));
            }
        }
        // Ingest still works after it (a panic in the writer or an actor would stop it).
        let mut canary = Payload::new(
            Uuid::new_v4(),
            "input/1",
            Utc::now(),
            UploadTrigger::Scheduled,
        );
        canary
            .printers
            .push(PrinterReport::new("CANARY-1".to_owned(), Utc::now()));
        let header = Header::new(SenderKind::Collector, id.to_owned(), Utc::now());
        let bytes = envelope::seal(&header, &canary, keys).unwrap();
        let c = b.hub.client();
        let alive = c
            .post(b.hub.url("/api/v1/ingest"))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await;
        let (status, body) = match alive {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        };
        if status != 200 {
            let panics = b.hub.panics();
            b.failures.push(format!(
                "after envelope {what}: a valid upload gets {status} {body}: ingest is down until the hub restarts; log: {panics:?}"
            ));
            // Restart (the log keeps the panic) and go on with the next case.
            b.panics_before_restart.extend(panics);
            b.hub.restart().await;
        }
    }
}

/// Slow clients: slow headers, slow bodies and idle TLS connections must not
/// stop the hub from serving others, and must be closed eventually.
#[actix_web::test]
async fn slow_clients_do_not_starve_the_hub() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = HubOptions::new(tmp.path(), &Backend::Sqlite);
    let hub = HubProcess::start(opts).await;
    let port = hub.opts.port;
    let tls = tls_config(&hub.cert);
    let c = hub.client();
    let (_, _, senders) = provision(&c, &hub.base, "slow", 1, 1, 0).await;
    let per_kind = 40;
    // How long a slow client may stay connected before the test calls it a leak.
    let patience = Duration::from_secs(match mode() {
        Mode::Short => 40,
        Mode::Long => 120,
    });
    let hold = Duration::from_secs(match mode() {
        Mode::Short => 12,
        Mode::Long => 60,
    });
    let started = Instant::now();
    let mut threads = Vec::new();
    for i in 0..per_kind * 4 {
        let tls = tls.clone();
        threads.push(std::thread::spawn(move || -> (usize, Option<Duration>, String) {
            let kind = i % 4;
            let t0 = Instant::now();
            // Idle TCP: connect and say nothing (not even a TLS hello).
            if kind == 3 {
                let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                    return (kind, Some(t0.elapsed()), "connect failed".into());
                };
                tcp.set_read_timeout(Some(patience)).unwrap();
                let mut buf = [0u8; 64];
                let r = std::io::Read::read(&mut tcp, &mut buf);
                return (kind, Some(t0.elapsed()), format!("{r:?}"));
            }
            let Ok(mut s) = tls_connect(port, &tls, patience) else {
                return (kind, Some(t0.elapsed()), "tls failed".into());
            };
            let drip: Vec<u8> = match kind {
                // Slow headers: a request head, one byte per second.
                0 => b"GET /api/v1/sites/1 HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
                // Slow body: the head at once, then the body one byte per second.
                1 => {
                    let head = b"POST /api/v1/ingest HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n";
                    if s.write_all(head).and_then(|()| s.flush()).is_err() {
                        return (kind, Some(t0.elapsed()), "write failed".into());
                    }
                    vec![b'P'; 200]
                }
                // TLS done, then nothing.
                _ => Vec::new(),
            };
            let deadline = t0 + patience;
            let mut i = 0;
            while Instant::now() < deadline {
                if i < drip.len() {
                    if s.write_all(&drip[i..i + 1]).and_then(|()| s.flush()).is_err() {
                        return (kind, Some(t0.elapsed()), "closed by the hub (write)".into());
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_millis(1000));
                    // Did the hub answer (408) or close?
                    s.sock
                        .set_read_timeout(Some(Duration::from_millis(1)))
                        .unwrap();
                    let mut buf = [0u8; 512];
                    match std::io::Read::read(&mut s, &mut buf) {
                        Ok(0) => return (kind, Some(t0.elapsed()), "closed by the hub".into()),
                        Ok(n) => {
                            return (
                                kind,
                                Some(t0.elapsed()),
                                String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or("").to_owned(),
                            );
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(e) => return (kind, Some(t0.elapsed()), format!("closed: {e}")),
                    }
                } else {
                    s.sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                    let mut buf = [0u8; 512];
                    match std::io::Read::read(&mut s, &mut buf) {
                        Ok(0) => return (kind, Some(t0.elapsed()), "closed by the hub".into()),
                        Ok(n) => {
                            return (
                                kind,
                                Some(t0.elapsed()),
                                String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or("").to_owned(),
                            );
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(e) => return (kind, Some(t0.elapsed()), format!("closed: {e}")),
                    }
                }
            }
            (kind, None, "still open after the test's patience".into())
        }));
    }
    // While they hang on, others are served promptly.
    let mut worst = Duration::ZERO;
    let mut served = 0;
    let mut errors = Vec::new();
    let sender = &senders[0];
    while started.elapsed() < hold {
        let t = Instant::now();
        match c.get(hub.url("/healthz")).send().await {
            Ok(r) if r.status().is_success() => {}
            other => errors.push(format!("healthz while slow clients hang on: {other:?}")),
        }
        let mut payload = Payload::new(Uuid::new_v4(), "slow/1", Utc::now(), UploadTrigger::Jobs);
        payload
            .printers
            .push(PrinterReport::new(sender.printers[0].clone(), Utc::now()));
        let r = c
            .post(hub.url("/api/v1/ingest"))
            .header("content-type", "application/octet-stream")
            .body(sender.seal(&payload))
            .send()
            .await;
        match r {
            Ok(r) if r.status().as_u16() == 200 => served += 1,
            other => errors.push(format!("upload while slow clients hang on: {other:?}")),
        }
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let outcomes: Vec<(usize, Option<Duration>, String)> = tokio::task::spawn_blocking(move || {
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    })
    .await
    .unwrap();
    let kinds = [
        "slow headers",
        "slow body",
        "idle after TLS",
        "idle TCP (no TLS hello)",
    ];
    let mut summary = Vec::new();
    for (kind, name) in kinds.iter().enumerate() {
        let mine: Vec<&(usize, Option<Duration>, String)> =
            outcomes.iter().filter(|o| o.0 == kind).collect();
        let closed: Vec<Duration> = mine.iter().filter_map(|o| o.1).collect();
        let open = mine.len() - closed.len();
        let max = closed.iter().max().copied().unwrap_or_default();
        let answers: std::collections::BTreeSet<&str> = mine.iter().map(|o| o.2.as_str()).collect();
        summary.push(format!(
            "{name}: {} closed by the hub (latest after {max:?}), {open} still open after the test's patience; {answers:?}",
            closed.len()
        ));
        if open > 0 {
            errors.push(format!(
                "{open} '{name}' connections were still open after the test's patience (no timeout)"
            ));
        }
    }
    errors.extend(hub.panics().into_iter().map(|p| format!("hub log: {p}")));
    eprintln!(
        "[slow] RESULT {} slow connections; served {served} uploads meanwhile, worst latency {worst:?}; {}; errors={}",
        outcomes.len(),
        summary.join("; "),
        errors.len()
    );
    if worst > Duration::from_secs(3) {
        errors.push(format!(
            "a request took {worst:?} while slow clients hung on"
        ));
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

crate::reliability_on_both_backends!(bad_input_never_breaks_the_hub);
