//! Reliability scenario 5 (RELIABILITY.md): nobody gets in.
//!
//! Against the real binary with `RUST_LOG=debug` (its whole log captured):
//! - a captured upload replayed later is refused (`stale_timestamp` once the
//!   window passed, also after a restart; `duplicate` and nothing stored
//!   while inside the window), and a reused nonce with other content is 409;
//! - a single flipped bit anywhere in an envelope, a truncation at any
//!   length and one appended byte are refused, and nothing is stored;
//! - no secret can be read back: every GET route (read from the source) is
//!   called with real ids and its answers are searched for the printer and
//!   collector secrets, their derived keys, the enrollment code, the user's
//!   password, the API token, the session cookie and the admin token; the
//!   database (every table) and the data directory are searched too;
//! - none of those, nor a wrong token or password a client tried, appears in
//!   the log;
//! - every non-public route refuses a request without credentials or with
//!   wrong ones;
//! - the hub (API and metrics listeners) speaks TLS only: plain HTTP to
//!   either port gets no HTTP answer.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::support::*;
use base64::Engine as _;
use chrono::Utc;
use ppu_protocol::envelope::{self, Header, SenderKeys, SenderKind};
use ppu_protocol::model::*;
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};
use uuid::Uuid;

/// Routes that answer without credentials (everything else must refuse).
const PUBLIC: &[&str] = &[
    "/healthz",
    "/readyz",
    "/api/v1/ingest",
    "/api/v1/enroll",
    "/api/v1/collector/config",
    "/api/v1/login",
    "/",
    "/portal",
    "/portal/login",
    "/portal/logout",
    "/portal/assets/portal.css",
    "/portal/assets/portal.js",
    // The API description and its page: public documentation, no data.
    "/api/v1/openapi.json",
    "/api/v1/docs",
];

fn upload(serial: &str, jobs: usize) -> Payload {
    let mut p = Payload::new(
        Uuid::new_v4(),
        "security/1",
        Utc::now(),
        UploadTrigger::Jobs,
    );
    let mut r = PrinterReport::new(serial.to_owned(), Utc::now());
    r.counters = Some(LifetimeCounters {
        pages: 100,
        ..Default::default()
    });
    r.print_jobs = (0..jobs)
        .map(|_| PrintJob {
            job: JobIdentity {
                uuid: Uuid::new_v4(),
                name: "secret-plans.dwg".into(),
                sequence_number: 1,
                project_id: None,
                application_id: None,
                custom_field: None,
                account_id: None,
                user_name: None,
                submitted_at: None,
            },
            print: PrintDetails {
                printed_at: Utc::now(),
                status: PrintStatus::Printed,
                source: JobSource::Driver,
                category: PrintCategory::LineDrawing,
                quality: PrintQuality::Normal,
                media_type: Some("bond".into()),
                pages: 1,
                copies: 1,
                print_time_s: 10,
                ink: vec![],
                media_area_mm2: 1000,
                media_length_mm: 10,
                printed_area_mm2: 100,
                categories: vec![],
                non_white_coverage_bp: 0,
                color_coverage_bp: 0,
            },
        })
        .collect();
    p.printers.push(r);
    p
}

async fn post_envelope(c: &reqwest::Client, hub: &HubProcess, bytes: Vec<u8>) -> (u16, Value) {
    let r = c
        .post(hub.url("/api/v1/ingest"))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn count(db: &sea_orm::DatabaseConnection, table: &str) -> i64 {
    scalar(db, &format!("SELECT COUNT(*) AS n FROM {table}")).await
}

/// Every secret the test knows, with a name for the report.
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        assert!(value.len() >= 8, "{what} too short to search for");
        self.0.push((what.to_owned(), value.to_owned()));
    }
    fn add_keys(&mut self, what: &str, keys: &SenderKeys) {
        let b = keys.to_bytes();
        self.add(&format!("{what} enc key (hex)"), &hex::encode(&b[..16]));
        self.add(&format!("{what} mac key (hex)"), &hex::encode(&b[16..]));
        self.add(
            &format!("{what} keys (base64)"),
            &base64::engine::general_purpose::STANDARD.encode(b),
        );
        self.add(
            &format!("{what} enc key (bytes as text)"),
            &format!("{:?}", &b[..8]).replace(' ', ""),
        );
    }
    /// Names of the secrets found in `text`.
    fn found_in(&self, text: &str) -> Vec<String> {
        let squeezed = text.replace(' ', "");
        self.0
            .iter()
            .filter(|(_, v)| text.contains(v.as_str()) || squeezed.contains(v.as_str()))
            .map(|(w, _)| w.clone())
            .collect()
    }
}

async fn nobody_gets_in(backend: Backend) {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = HubOptions::new(tmp.path(), &backend);
    opts.rust_log = "debug".into();
    opts.extra_args = vec!["--timestamp-window-secs".into(), "3".into()];
    let mut hub = HubProcess::start(opts).await;
    let c = hub.client();
    let base = hub.base.clone();
    let mut errors: Vec<String> = Vec::new();
    let mut secrets = Secrets(Vec::new());
    secrets.add("admin token", ADMIN_TOKEN);

    // Tenants, senders, a user, a token, an enrollment code, a webhook.
    let (reseller, sites, senders) = provision(&c, &base, "sec", 1, 1, 1).await;
    let site = sites[0];
    let collector = senders
        .iter()
        .find(|s| s.kind == SenderKind::Collector)
        .unwrap()
        .clone();
    let printer = senders
        .iter()
        .find(|s| s.kind == SenderKind::Printer)
        .unwrap()
        .clone();
    secrets.add("collector secret", &collector.secret);
    secrets.add_keys("collector", &collector.keys);
    secrets.add("printer secret", &printer.secret);
    secrets.add_keys("printer", &printer.keys);
    let mut created = Vec::new();
    let password = "Correct-Horse-Battery-Staple-4711";
    for (path, body) in [
        (format!("/api/v1/sites/{site}/enrollment-codes"), json!({})),
        (
            "/api/v1/users".to_owned(),
            json!({"email": "reseller.admin@example.invalid", "name": "Sec Admin",
                   "password": password, "role": "reseller_admin", "reseller_id": reseller}),
        ),
        (
            "/api/v1/tokens".to_owned(),
            json!({"name": "sec token", "role": "reseller_user", "reseller_id": reseller}),
        ),
        (
            "/api/v1/webhooks".to_owned(),
            json!({"reseller_id": reseller, "url": "https://127.0.0.1:9/hook"}),
        ),
    ] {
        let r = c
            .post(hub.url(&path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if s != 201 && s != 200 {
            errors.push(format!("setup POST {path}: {s} {v}"));
        }
        created.push((path, v));
    }
    secrets.add("user password", password);
    if let Some(code) = created[0].1["code"].as_str() {
        secrets.add("enrollment code", code);
        secrets.add("enrollment code (no dashes)", &code.replace('-', ""));
    }
    if let Some(w) = created[3].1["secret"].as_str() {
        secrets.add("webhook signing secret", w);
    }
    let api_token = created[2].1["token"].as_str().map(str::to_owned);
    if let Some(t) = &api_token {
        secrets.add("API token", t);
    }
    // Log in: the session cookie and its CSRF token are secrets too.
    let r = c
        .post(hub.url("/api/v1/login"))
        .json(&json!({"email": "reseller.admin@example.invalid", "password": password}))
        .send()
        .await
        .unwrap();
    let mut session_cookie = None;
    let mut log_only: Vec<(String, String)> = Vec::new();
    if r.status().is_success() {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            if let Some(val) = v
                .split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .map(|(_, val)| val.to_owned())
                .filter(|val| val.len() >= 8)
            {
                secrets.add("session cookie", &val);
                session_cookie = Some(v.split(';').next().unwrap().to_owned());
            }
        }
        let v: Value = r.json().await.unwrap();
        if let Some(csrf) = v["csrf_token"].as_str() {
            // Given to its own session by design (forms carry it); never logged.
            log_only.push(("CSRF token".to_owned(), csrf.to_owned()));
        }
    } else {
        errors.push(format!("login failed: {}", r.status()));
    }
    // Wrong credentials a client tried must not be logged either.
    let wrong_token = "wrong-token-SENTINEL-8a7b6c5d4e3f";
    let wrong_password = "wrong-password-SENTINEL-1f2e3d4c";
    secrets.add("a wrong bearer token a client tried", wrong_token);
    secrets.add("a wrong password a client tried", wrong_password);
    let _ = c
        .get(hub.url(&format!("/api/v1/sites/{site}")))
        .bearer_auth(wrong_token)
        .send()
        .await;
    let _ = c
        .post(hub.url("/api/v1/login"))
        .json(&json!({"email": "reseller.admin@example.invalid", "password": wrong_password}))
        .send()
        .await;

    let db = hub.db().await;

    // --- Replay ----------------------------------------------------------
    let captured = printer.seal(&upload(&printer.id, 3));
    let (s, v) = post_envelope(&c, &hub, captured.clone()).await;
    assert_eq!(s, 200, "{v}");
    let jobs_after_first = count(&db, "jobs").await;
    let uploads_after_first = count(&db, "uploads").await;
    let (s, v) = post_envelope(&c, &hub, captured.clone()).await;
    if s != 200 || v["duplicate"] != json!(true) {
        errors.push(format!(
            "an immediate replay should be answered duplicate: {s} {v}"
        ));
    }
    let mut replays = 1;
    // A capture that was never delivered, injected later.
    let held_back = printer.seal(&upload(&printer.id, 2));
    tokio::time::sleep(Duration::from_millis(4200)).await;
    for (what, bytes) in [
        (
            "a delivered upload replayed after the window",
            captured.clone(),
        ),
        (
            "an upload captured and injected after the window",
            held_back.clone(),
        ),
    ] {
        let (s, v) = post_envelope(&c, &hub, bytes).await;
        replays += 1;
        if s != 422 || v["error"]["code"] != json!("stale_timestamp") {
            errors.push(format!("{what}: {s} {v}, expected 422 stale_timestamp"));
        }
    }
    hub.kill9();
    hub.restart().await;
    let c = hub.client();
    let (s, v) = post_envelope(&c, &hub, captured.clone()).await;
    replays += 1;
    if s != 422 {
        errors.push(format!("a replay after a restart: {s} {v}, expected 422"));
    }
    // The same header (nonce) with other content.
    let header = Header::new(SenderKind::Printer, printer.id.clone(), Utc::now());
    let first = envelope::seal(&header, &upload(&printer.id, 1), &printer.keys).unwrap();
    let second = envelope::seal(&header, &upload(&printer.id, 1), &printer.keys).unwrap();
    let (s1, _) = post_envelope(&c, &hub, first).await;
    let (s2, v2) = post_envelope(&c, &hub, second).await;
    replays += 1;
    if (s1, s2) != (200, 409) {
        errors.push(format!(
            "a reused nonce with other content: {s1} then {s2} {v2}, expected 200 then 409"
        ));
    }
    let jobs_now = count(&db, "jobs").await;
    let uploads_now = count(&db, "uploads").await;
    if (jobs_now, uploads_now) != (jobs_after_first + 1, uploads_after_first + 1) {
        errors.push(format!(
            "replays stored something: jobs {jobs_after_first} -> {jobs_now}, uploads {uploads_after_first} -> {uploads_now} (expected +1 each, the fresh upload)"
        ));
    }

    // --- Flipped bits, truncations, an extra byte ------------------------
    let victim_payload = upload(&collector.printers[0], 2);
    let victim = collector.seal(&victim_payload);
    let jobs_before = count(&db, "jobs").await;
    let mut rng = Rng::new(0x5eed);
    let mut tampered: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..victim.len() {
        let mut b = victim.clone();
        b[i] ^= 1 << rng.range(0, 8);
        tampered.push((format!("bit flipped in byte {i}"), b));
    }
    for len in 0..victim.len() {
        tampered.push((format!("truncated to {len} bytes"), victim[..len].to_vec()));
    }
    let mut longer = victim.clone();
    longer.push(0);
    tampered.push(("one byte appended".into(), longer));
    let tampered_n = tampered.len();
    let mut accepted = Vec::new();
    let mut by_status = std::collections::BTreeMap::<u16, u64>::new();
    let results =
        futures_util::future::join_all(tampered.chunks(tampered_n.div_ceil(4)).map(|chunk| {
            let c = c.clone();
            let url = hub.url("/api/v1/ingest");
            async move {
                let mut out = Vec::new();
                for (what, bytes) in chunk {
                    let r = c
                        .post(&url)
                        .header("content-type", "application/octet-stream")
                        .body(bytes.clone())
                        .send()
                        .await;
                    out.push((what.clone(), r.map(|r| r.status().as_u16()).unwrap_or(0)));
                }
                out
            }
        }))
        .await;
    for (what, s) in results.into_iter().flatten() {
        *by_status.entry(s).or_default() += 1;
        if !(400..500).contains(&s) {
            accepted.push(format!("{what}: {s}"));
        }
    }
    if !accepted.is_empty() {
        errors.push(format!(
            "{} tampered envelopes were not refused with a 4xx: {}",
            accepted.len(),
            accepted.join("; ")
        ));
    }
    if count(&db, "jobs").await != jobs_before {
        errors.push("a tampered envelope stored jobs".into());
    }
    let (s, v) = post_envelope(&c, &hub, victim.clone()).await;
    if s != 200 || v["accepted"]["print_jobs"] != json!(2) {
        errors.push(format!("the untampered envelope afterwards: {s} {v}"));
    }

    // --- No route gives a secret back --------------------------------------
    let routes = hub_routes();
    let mut answers = Vec::new();
    let serials: Vec<String> = senders.iter().flat_map(|s| s.printers.clone()).collect();
    let mut get_calls = 0;
    for r in routes.iter().filter(|r| r.method == "GET") {
        if r.path.ends_with("/stream") {
            continue; // an endless event stream; its events are alerts
        }
        let mut targets = BTreeSet::new();
        for id in 1..=3 {
            for serial in &serials {
                targets.insert(r.fill(|p| {
                    if p == "serial" {
                        serial.clone()
                    } else {
                        id.to_string()
                    }
                }));
            }
        }
        for t in targets {
            for (auth, cookie) in [
                (Some(ADMIN_TOKEN.to_owned()), None),
                (api_token.clone(), None),
                (None, session_cookie.clone()),
            ] {
                let mut req = c.get(hub.url(&t));
                if let Some(a) = &auth {
                    req = req.bearer_auth(a);
                }
                if let Some(ck) = &cookie {
                    req = req.header("cookie", ck);
                }
                if let Ok(resp) = req.send().await {
                    get_calls += 1;
                    let text = resp.text().await.unwrap_or_default();
                    answers.push((format!("GET {t}"), text));
                }
            }
        }
    }
    for (what, text) in &answers {
        let found = secrets.found_in(text);
        if !found.is_empty() {
            errors.push(format!("{what} gives back: {}", found.join(", ")));
        }
    }

    // --- Nor does the database or the data directory -----------------------
    let mut stored = String::new();
    match &backend {
        Backend::Sqlite => {
            for f in ["ppu-hub.db", "ppu-hub.db-wal"] {
                if let Ok(b) = std::fs::read(tmp.path().join(f)) {
                    stored.push_str(&String::from_utf8_lossy(&b));
                }
            }
        }
        Backend::Postgres(_) => {
            let tables: Vec<String> = db
                .query_all_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'".to_owned(),
                ))
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.try_get::<String>("", "t").unwrap())
                .collect();
            for t in tables {
                let rows = db
                    .query_all_raw(sea_orm::Statement::from_string(
                        db.get_database_backend(),
                        format!("SELECT CAST(x AS text) AS row FROM \"{t}\" x"),
                    ))
                    .await
                    .unwrap();
                for row in rows {
                    let text: String = row.try_get("", "row").unwrap_or_default();
                    stored.push_str(&text);
                    stored.push('\n');
                }
            }
        }
    }
    // Derived keys are what the hub must keep (it verifies with them), and a
    // webhook's signing secret must be kept to sign: both are expected there.
    for found in secrets.found_in(&stored) {
        if !found.contains(" key") && !found.contains("keys") && !found.contains("webhook") {
            errors.push(format!("the database holds the {found}"));
        }
    }
    for entry in std::fs::read_dir(tmp.path()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("ppu-hub.db") || name == "hub.log" || name == "hub.toml" {
            continue;
        }
        let text =
            String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap_or_default()).into_owned();
        for found in secrets.found_in(&text) {
            errors.push(format!("data directory file {name} holds the {found}"));
        }
    }

    // --- Credentials are required ---------------------------------------
    // Without credentials (none, a wrong token, an empty one) and with
    // plausible parameters and bodies (so that only the credentials are
    // missing), no route but the public ones may answer 2xx, redirect
    // anywhere but the portal's login page, or change anything.
    let known = Known {
        reseller,
        site,
        printer: 1,
        serial: printer.id.clone(),
        alert: 1,
    };
    let counts = TableCounts::new(&db, &["actor_snapshots", "audit_entries"]).await;
    let before = counts.get(&db).await;
    let mut refused = 0;
    let mut refused_4xx_before_auth = 0;
    for r in &routes {
        if PUBLIC.contains(&r.path.as_str()) {
            continue;
        }
        let target = r.fill(|p| {
            if p == "serial" {
                known.serial.clone()
            } else {
                "1".into()
            }
        });
        let target = match &r.query {
            Some(fields) if !fields.is_empty() => {
                let q: Vec<String> = plausible_query(fields, &known)
                    .iter()
                    .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
                    .collect();
                format!("{target}?{}", q.join("&"))
            }
            _ => target,
        };
        for auth in [
            None,
            Some("Bearer wrong-token-wrong-token"),
            Some("Bearer "),
        ] {
            let mut req = c.request(r.method.parse().unwrap(), hub.url(&target));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            if let Some(fields) = &r.json {
                req = req.json(&Value::Object(plausible_body(fields, &known)));
            } else if let Some(fields) = &r.form {
                let body: Vec<String> = plausible_query(fields, &known)
                    .iter()
                    .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
                    .collect();
                req = req
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.join("&"));
            } else if matches!(r.method.as_str(), "POST" | "PUT") {
                req = req.json(&json!({}));
            }
            let (s, location) = match req.send().await {
                Ok(resp) => (
                    resp.status().as_u16(),
                    resp.headers()
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned(),
                ),
                Err(_) => (0, String::new()),
            };
            // `/metrics` on the API port is off (404) unless a metrics token is
            // set; a portal page sends a stranger to its login page.
            let portal_login = r.path.starts_with("/portal")
                && (300..400).contains(&s)
                && location.contains("/portal/login");
            if matches!(s, 401 | 403) || (s == 404 && r.path == "/metrics") || portal_login {
                refused += 1;
            } else if (400..500).contains(&s) {
                // Refused, by a check that ran before the credentials' (the
                // body or the form did not parse): nothing was done.
                refused_4xx_before_auth += 1;
                eprintln!(
                    "[security] {} {target} with {auth:?}: {s} (refused before the credentials were checked)",
                    r.method
                );
            } else {
                errors.push(format!(
                    "{} {target} with {auth:?}: {s} {location}, expected 401 or 403",
                    r.method
                ));
            }
        }
    }
    let after = counts.get(&db).await;
    if before != after {
        errors.push(format!(
            "requests without credentials changed the database: {before:?} -> {after:?}"
        ));
    }
    // A cookie without its CSRF token may not change anything.
    if let Some(ck) = &session_cookie {
        let s = c
            .post(hub.url("/api/v1/sites"))
            .header("cookie", ck)
            .json(&json!({"reseller_id": reseller, "account_name": "csrf-less"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if !matches!(s, 401 | 403) {
            errors.push(format!(
                "POST /api/v1/sites with a session cookie and no CSRF token: {s}"
            ));
        }
    }

    // --- TLS only ----------------------------------------------------------
    let log = hub.log_text();
    let metrics_port: Option<u16> = log
        .lines()
        .filter(|l| l.contains("metrics listening"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("port="))
                .and_then(|p| p.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
        })
        .next_back();
    let mut ports = vec![("API", hub.opts.port)];
    match metrics_port {
        Some(p) => ports.push(("metrics", p)),
        None => errors.push("could not find the metrics port in the log".into()),
    }
    let mut plain_tries = 0;
    for (what, port) in ports {
        for req in [
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "GET /metrics HTTP/1.0\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            plain_tries += 1;
            let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = tcp.write_all(req.as_bytes());
            let mut buf = Vec::new();
            let _ = tcp.read_to_end(&mut buf);
            let text = String::from_utf8_lossy(&buf);
            if text.contains("HTTP/") || text.contains("healthz") || text.contains("ok") {
                errors.push(format!(
                    "plain HTTP to the {what} port got an HTTP answer: {:?}",
                    text.chars().take(100).collect::<String>()
                ));
            }
        }
        plain_tries += 1;
        let _ = rustls::crypto::ring::default_provider().install_default();
        if let Ok(r) = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
        {
            errors.push(format!(
                "reqwest over plain http:// to the {what} port got {}",
                r.status()
            ));
        }
    }

    // --- The log ---------------------------------------------------------
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = hub.log_text();
    let log_lines = log.lines().count();
    secrets.0.extend(log_only.iter().cloned());
    for found in secrets.found_in(&log) {
        let line = log
            .lines()
            .find(|l| {
                let v = &secrets.0.iter().find(|(w, _)| *w == found).unwrap().1;
                l.contains(v.as_str()) || l.replace(' ', "").contains(v.as_str())
            })
            .unwrap_or("")
            .chars()
            .take(300)
            .collect::<String>();
        errors.push(format!(
            "the log (RUST_LOG=debug) contains the {found}: {line}"
        ));
    }
    if log_lines < 50 {
        errors.push(format!(
            "only {log_lines} log lines with RUST_LOG=debug: is the log captured?"
        ));
    }
    errors.extend(hub.panics().into_iter().map(|p| format!("hub log: {p}")));
    eprintln!(
        "[security] RESULT backend={} replays={replays} tampered={tampered_n} ({by_status:?}) get-calls={get_calls} secrets-searched={} unauthenticated-refused={refused} (of which 4xx before the credentials check {refused_4xx_before_auth}) plain-http-tries={plain_tries} log-lines={log_lines} elapsed={:?} errors={}",
        match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        },
        secrets.0.len(),
        started.elapsed(),
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "{} problems:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

crate::reliability_on_both_backends!(nobody_gets_in);
