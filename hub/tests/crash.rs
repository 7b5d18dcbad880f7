//! `kill -9` of the real `ppu-hub` binary: every acknowledged record survives,
//! and the actors' counters and usage after restart equal those before.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::*;
use uuid::Uuid;

struct HubProcess {
    child: Child,
    port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(data_dir: &std::path::Path, backend: &Backend, port: u16) -> HubProcess {
    let config = data_dir.join("hub.toml");
    std::fs::write(&config, "[actors]\nsnapshot_interval_secs = 1\n").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ppu-hub"));
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--metrics-listen")
        .arg("127.0.0.1:0")
        .env("PPU_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Backend::Postgres(url) = backend {
        cmd.arg("--database-url").arg(url);
    }
    let child = cmd.spawn().expect("start ppu-hub");
    let proc = HubProcess { child, port };
    for _ in 0..200 {
        if data_dir.join("tls-cert.pem").exists() {
            let client = client_trusting(&data_dir.join("tls-cert.pem"));
            if let Ok(r) = client
                .get(format!("https://localhost:{port}/readyz"))
                .send()
                .await
                && r.status().is_success()
            {
                return proc;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("ppu-hub did not become ready");
}

async fn get(client: &reqwest::Client, port: u16, path: &str) -> Value {
    let r = client
        .get(format!("https://localhost:{port}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn post(client: &reqwest::Client, port: u16, path: &str, body: Value) -> Value {
    let r = client
        .post(format!("https://localhost:{port}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn kill_9_loses_nothing_acknowledged(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut hub = start(tmp.path(), &backend, port).await;
    let client = client_trusting(&tmp.path().join("tls-cert.pem"));

    let reseller = post(
        &client,
        port,
        "/api/v1/resellers",
        serde_json::json!({"name": "K"}),
    )
    .await;
    let site = post(
        &client,
        port,
        "/api/v1/sites",
        serde_json::json!({"reseller_id": reseller["id"], "account_name": "kill-site"}),
    )
    .await;
    let c = post(
        &client,
        port,
        "/api/v1/collectors",
        serde_json::json!({"site_id": site["id"]}),
    )
    .await;
    let collector = TestSender::new(
        ppu_protocol::envelope::SenderKind::Collector,
        c["sender_id"].as_str().unwrap(),
        c["secret"].as_str().unwrap(),
    );

    let mut acked_jobs = 0;
    for round in 0..12u64 {
        let reports = (0..3)
            .map(|i| {
                let jobs: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
                report(
                    &format!("K-{i}"),
                    &jobs,
                    10 * (round + 1),
                    100 * (round + 1),
                )
            })
            .collect();
        let r = client
            .post(format!("https://localhost:{port}/api/v1/ingest"))
            .header("content-type", "application/octet-stream")
            .body(collector.seal(&payload(reports)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        acked_jobs += 12;
        if round == 5 {
            // Let a periodic snapshot land in the middle of the history.
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
    }
    let mut before = Vec::new();
    for i in 0..3 {
        before.push(get(&client, port, &format!("/api/v1/printers/K-{i}")).await);
    }
    let site_before = get(&client, port, &format!("/api/v1/sites/{}", site["id"])).await;

    hub.child.kill().unwrap(); // SIGKILL
    hub.child.wait().unwrap();

    let mut hub = start(tmp.path(), &backend, hub.port).await;
    for (i, b) in before.iter().enumerate() {
        let a = get(&client, port, &format!("/api/v1/printers/K-{i}")).await;
        assert_eq!(a["usage"], b["usage"], "printer K-{i} usage after kill -9");
        assert_eq!(a["counters"], b["counters"]);
        assert_eq!(a["usage"]["jobs"]["print_jobs"], serde_json::json!(48));
    }
    let site_after = get(&client, port, &format!("/api/v1/sites/{}", site["id"])).await;
    assert_eq!(site_after["actor"]["usage"], site_before["actor"]["usage"]);
    assert_eq!(
        site_after["actor"]["usage"]["jobs"]["print_jobs"],
        serde_json::json!(acked_jobs)
    );
    hub.child.kill().unwrap();
    hub.child.wait().unwrap();
}

on_both_backends!(kill_9_loses_nothing_acknowledged);
