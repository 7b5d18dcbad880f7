//! Metrics proven against a real Prometheus: it scrapes a hub driven by the
//! simulator, and every PromQL expression of every dashboard panel returns data;
//! `promtool check metrics` accepts the exposition; every metric the dashboards
//! use exists and every exported metric is described.

mod support;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use ppu_protocol::model::{CollectorReport, SkippedDevice};
use serde_json::{Value, json};
use support::*;

fn peer(name: &str) -> Option<String> {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name} is required in CI (scripts/peers.sh installs it)");
        }
        eprintln!(
            "\n!!! SKIPPING Prometheus test: `{name}` not installed (run scripts/peers.sh)\n"
        );
    }
    found
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dashboard_exprs() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/grafana");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                out.push((
                    format!(
                        "{} / {}",
                        d["title"].as_str().unwrap(),
                        p["title"].as_str().unwrap()
                    ),
                    t["expr"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    assert!(out.len() >= 20, "dashboards have panels");
    out
}

fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(pos) = expr[i..].find("ppu_") {
        let start = i + pos;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let name = &expr[start..end];
        let base = name
            .strip_suffix("_bucket")
            .or_else(|| name.strip_suffix("_count"))
            .or_else(|| name.strip_suffix("_sum"))
            .unwrap_or(name);
        names.insert(base.to_owned());
        i = end;
    }
    names
}

#[actix_web::test]
async fn dashboards_query_a_real_prometheus() {
    let (Some(prometheus), Some(promtool)) = (peer("prometheus"), peer("promtool")) else {
        return;
    };
    let hub = TestHub::start_with(Backend::Sqlite, |s| {
        s.actors.snapshot_interval_secs = 1;
        s.metrics.fleet_refresh_secs = 1;
        s.metrics.per_printer = true;
    })
    .await;
    let metrics_port = hub.metrics_port.expect("metrics listener");

    // Drive it: simulated direct printers for a simulated day.
    let http = client_trusting(&hub.cert);
    let admin = ppu_sim::fleet::AdminClient::new(&hub.base, ADMIN_TOKEN, http);
    let file = ppu_sim::fleet::provision(
        &admin,
        &ppu_sim::fleet::ProvisionRequest {
            printers: 6,
            seed: 11,
            models: vec![],
            reseller_name: "Metrics Reseller".into(),
            account_name: "metrics-site".into(),
            site_name: "Metrics Site".into(),
        },
    )
    .await
    .expect("provision");
    // A webhook nobody answers: deliveries are attempted and retried.
    let (s, _) = hub
        .admin_post(
            "/api/v1/webhooks",
            json!({"reseller_id": file.reseller_id, "url": "http://127.0.0.1:9/unreachable", "min_severity": "info"}),
        )
        .await;
    assert_eq!(s, 201);
    let client = ppu_sim::upload::HubClient::new(&hub.base, Some(&hub.cert)).unwrap();
    let start = Utc::now() - chrono::Duration::days(1);
    let mut fleet = ppu_sim::direct::DirectFleet::from_fleet_file(
        &file,
        client,
        start,
        &ppu_sim::direct::FleetOptions::default(),
    );
    fleet
        .run_until(
            start + chrono::Duration::hours(20),
            chrono::Duration::minutes(10),
        )
        .await;
    fleet.upload_pending();
    assert_eq!(fleet.drain(Duration::from_secs(30)).await, 0);

    // A collector upload (collector gauges), a refused upload, a webhook, an SSE client.
    let site = file.site_id.as_i64().expect("site id");
    let collector = hub.collector(site).await;
    let mut p = payload(vec![report("METRICS-COL-1", &[uuid::Uuid::new_v4()], 5, 5)]);
    p.collector = Some(CollectorReport {
        config_version: 0,
        poll_started_at: Some(Utc::now()),
        poll_duration_ms: 1500,
        devices_found: 2,
        skipped: vec![SkippedDevice {
            address: "10.0.0.9:631".into(),
            reason: "unsupported model".into(),
        }],
        spool_entries: 0,
        spool_bytes: 0,
        spool_full: false,
    });
    let (s, _, _) = hub.post_envelope(collector.seal(&p)).await;
    assert_eq!(s, 200);
    let (s, _, _) = hub.post_envelope(b"garbage".to_vec()).await;
    assert_eq!(s, 400);
    let _sse = hub
        .client
        .get(hub.url("/api/v1/alerts/stream"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();

    // The exposition: promtool accepts it; every family is described.
    let metrics_client = client_trusting(&hub.cert);
    let scrape_url = format!("https://localhost:{metrics_port}/metrics");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let exposition = metrics_client
        .get(&scrape_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut typed = BTreeSet::new();
    let mut described = BTreeSet::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split(' ').next().unwrap().to_owned());
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            if !help.trim().is_empty() {
                described.insert(name.to_owned());
            }
        }
    }
    let ours: BTreeSet<_> = typed
        .iter()
        .filter(|n| n.starts_with("ppu_"))
        .cloned()
        .collect();
    let undescribed: Vec<_> = ours.difference(&described).collect();
    assert!(
        undescribed.is_empty(),
        "metrics without HELP: {undescribed:?}"
    );
    for (panel, expr) in dashboard_exprs() {
        for name in metric_names(&expr) {
            assert!(
                ours.contains(&name),
                "{panel}: `{name}` is not exported by the hub"
            );
        }
    }
    // Cross-tenant data stays off the API listener unless a token is configured.
    let r = hub.client.get(hub.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // A real Prometheus scrapes the hub.
    let dir = tempfile::tempdir().unwrap();
    let prom_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ppu-hub\n    scheme: https\n    tls_config:\n      ca_file: {}\n      server_name: localhost\n    static_configs:\n      - targets: ['localhost:{metrics_port}']\n",
            hub.cert.display()
        ),
    )
    .unwrap();
    let _prom = Killed(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let plain = client_trusting(&hub.cert);
    let query = |expr: String| {
        let plain = plain.clone();
        async move {
            let mut url =
                reqwest::Url::parse(&format!("http://127.0.0.1:{prom_port}/api/v1/query")).unwrap();
            url.query_pairs_mut().append_pair("query", &expr);
            let r = plain.get(url).send().await;
            match r {
                Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            }
        }
    };
    // Keep the hub busy while Prometheus collects a few samples.
    let mut ok = false;
    for round in 0..60 {
        let p = payload(vec![report(
            "METRICS-COL-1",
            &[uuid::Uuid::new_v4()],
            6 + round,
            6 + round,
        )]);
        let _ = hub.post_envelope(collector.seal(&p)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Enough successful scrapes for rate() over the panels' window.
        let v = query("sum_over_time(up{job=\"ppu-hub\"}[1m]) >= 6".into()).await;
        if v["data"]["result"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            ok = true;
            break;
        }
    }
    assert!(ok, "prometheus scraped the hub");

    let mut empty = Vec::new();
    for (panel, expr) in dashboard_exprs() {
        let concrete = expr
            .replace("$__rate_interval", "30s")
            .replace("$reseller", ".*");
        let v = query(concrete.clone()).await;
        assert_eq!(v["status"], "success", "{panel}: {concrete}: {v}");
        if v["data"]["result"].as_array().is_none_or(|a| a.is_empty()) {
            empty.push(format!("{panel}: {concrete}"));
        }
    }
    assert!(
        empty.is_empty(),
        "panels without data:\n{}",
        empty.join("\n")
    );
}
