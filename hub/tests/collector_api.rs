//! Data Collector endpoints: enrollment with a one-time code, and the remote
//! configuration resellers edit and collectors fetch. Every test runs on
//! SQLite and PostgreSQL.

mod support;

use chrono::{Duration, Utc};
use ppu_protocol::collector_config::CollectorConfig;
use ppu_protocol::envelope::{self, Header, SenderKeys, SenderKind};
use ppu_protocol::model::{Payload, UploadTrigger};
use serde_json::{Value, json};
use support::*;
use uuid::Uuid;

fn empty_payload() -> Payload {
    Payload::new(
        Uuid::new_v4(),
        "collector-api-tests/1",
        Utc::now(),
        UploadTrigger::Manual,
    )
}

/// What `ppu-collector enroll` sends: an empty payload sealed with keys
/// derived from the code, sender id = the account name.
fn enrollment_envelope(account: &str, code: &str, at: chrono::DateTime<Utc>) -> Vec<u8> {
    let keys = SenderKeys::derive(code.as_bytes(), SenderKind::Collector, account);
    let header = Header::new(SenderKind::Collector, account, at);
    envelope::seal(&header, &empty_payload(), &keys).unwrap()
}

async fn post_raw(hub: &TestHub, path: &str, body: Vec<u8>) -> (u16, Value) {
    let r = hub
        .client
        .post(hub.url(path))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn new_code(hub: &TestHub, site: i64) -> String {
    let (s, v) = hub
        .admin_post(&format!("/api/v1/sites/{site}/enrollment-codes"), json!({}))
        .await;
    assert_eq!(s, 201, "{v}");
    v["code"].as_str().unwrap().to_owned()
}

fn code_of(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

async fn enrollment_issues_a_collector_once(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (_, site) = hub.tenant("Plotters Inc", "acme-berlin").await;

    // Admin only.
    let r = hub
        .client
        .post(hub.url(&format!("/api/v1/sites/{site}/enrollment-codes")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (s, v) = hub
        .admin_post("/api/v1/sites/9999/enrollment-codes", json!({}))
        .await;
    assert_eq!((s, code_of(&v)), (404, "not_found"));

    let (s, v) = hub
        .admin_post(&format!("/api/v1/sites/{site}/enrollment-codes"), json!({}))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["account_name"], "acme-berlin");
    let code = v["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 23, "four groups of five: {code}");
    assert!(v["expires_at"].is_string());

    // Only keys derived from the code are stored, never the code.
    let db = hub.db().await;
    let row = ppu_entities::credential::Entity::find()
        .filter(ppu_entities::credential::Column::SenderKind.eq("enrollment"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.sender_id, "acme-berlin");
    assert_eq!(
        row.keys,
        SenderKeys::derive(code.as_bytes(), SenderKind::Collector, "acme-berlin")
            .to_bytes()
            .to_vec()
    );
    assert!(!String::from_utf8_lossy(&row.keys).contains(&code));

    // An enrollment code can never upload data.
    let keys = SenderKeys::derive(code.as_bytes(), SenderKind::Collector, "acme-berlin");
    let as_collector = envelope::seal(
        &Header::new(SenderKind::Collector, "acme-berlin", Utc::now()),
        &payload(vec![report("SNEAKY-1", &[Uuid::new_v4()], 1, 1)]),
        &keys,
    )
    .unwrap();
    let (s, _, v) = hub.post_envelope(as_collector).await;
    assert_eq!((s, code_of(&v)), (401, "unknown_sender"), "{v}");

    // Wrong code, unknown account, stale timestamp: refused, code still good.
    let (s, v) = post_raw(
        &hub,
        "/api/v1/enroll",
        enrollment_envelope("acme-berlin", "WRONG-CODE", Utc::now()),
    )
    .await;
    assert_eq!((s, code_of(&v)), (401, "invalid_enrollment_code"), "{v}");
    let (s, v) = post_raw(
        &hub,
        "/api/v1/enroll",
        enrollment_envelope("nobody", &code, Utc::now()),
    )
    .await;
    assert_eq!((s, code_of(&v)), (401, "unknown_enrollment"), "{v}");
    let stale = enrollment_envelope("acme-berlin", &code, Utc::now() - Duration::minutes(20));
    let (s, v) = post_raw(&hub, "/api/v1/enroll", stale).await;
    assert_eq!((s, code_of(&v)), (422, "stale_timestamp"), "{v}");
    let (s, v) = post_raw(&hub, "/api/v1/enroll", b"garbage".to_vec()).await;
    assert_eq!((s, code_of(&v)), (400, "bad_magic"), "{v}");

    // The right code: a collector, once.
    let good = enrollment_envelope("acme-berlin", &code, Utc::now());
    let (s, v) = post_raw(&hub, "/api/v1/enroll", good.clone()).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["site_id"], json!(site));
    assert_eq!(v["config_version"], json!(0));
    let collector_id = v["collector_id"].as_str().unwrap().to_owned();
    let secret = v["secret"].as_str().unwrap().to_owned();
    assert!(collector_id.starts_with("col-"), "{collector_id}");

    // Replaying the same bytes, or sealing again with the code: used.
    let (s, v) = post_raw(&hub, "/api/v1/enroll", good).await;
    assert_eq!((s, code_of(&v)), (401, "enrollment_code_used"), "{v}");
    let (s, v) = post_raw(
        &hub,
        "/api/v1/enroll",
        enrollment_envelope("acme-berlin", &code, Utc::now()),
    )
    .await;
    assert_eq!((s, code_of(&v)), (401, "enrollment_code_used"), "{v}");

    // The enrolled collector uploads with keys derived from its secret.
    let collector = TestSender::new(SenderKind::Collector, &collector_id, &secret);
    let (s, _, v) = hub
        .post_envelope(collector.seal(&payload(vec![report("ENR-1", &[Uuid::new_v4()], 5, 50)])))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(ingest_response(&v).accepted.print_jobs, 1);
    let (_, site_view) = hub.admin_get(&format!("/api/v1/sites/{site}")).await;
    let collectors = site_view["collectors"].as_array().unwrap();
    assert_eq!(collectors.len(), 1, "{site_view}");
    assert_eq!(collectors[0]["collector_id"], json!(collector_id));

    // A new code replaces the old one; the old one stops working.
    let old = new_code(&hub, site).await;
    let newer = new_code(&hub, site).await;
    assert_ne!(old, newer);
    let (s, v) = post_raw(
        &hub,
        "/api/v1/enroll",
        enrollment_envelope("acme-berlin", &old, Utc::now()),
    )
    .await;
    assert_eq!((s, code_of(&v)), (401, "invalid_enrollment_code"), "{v}");
    let (s, v) = post_raw(
        &hub,
        "/api/v1/enroll",
        enrollment_envelope("acme-berlin", &newer, Utc::now()),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_ne!(v["collector_id"], json!(collector_id), "a second collector");
}

fn config_json(account: &str) -> Value {
    json!({
        "account_name": account,
        "hub_url": "https://ppu.example.com",
        "targets": [{"address": "10.0.0.10-10.0.0.60"}, {"address": "10.0.1.0/28", "scheme": "ipps", "ports": [631]}],
        "poll_interval_minutes": 60,
        "proxy": {"mode": "explicit", "url": "http://proxy.example.com:3128"}
    })
}

async fn put_config(hub: &TestHub, site: i64, body: &Value) -> (u16, Value) {
    let r = hub
        .client
        .put(hub.url(&format!("/api/v1/sites/{site}/collector-config")))
        .bearer_auth(ADMIN_TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn remote_configuration_is_validated_versioned_and_served(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (_, site) = hub.tenant("R", "acme-paris").await;
    let path = format!("/api/v1/sites/{site}/collector-config");
    let (s, v) = hub.admin_get(&path).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"config_version": 0, "config": null}));

    // Invalid configurations are refused with the validation message; nothing changes.
    let mut too_fast = config_json("acme-paris");
    too_fast["poll_interval_minutes"] = json!(10);
    let mut bad_range = config_json("acme-paris");
    bad_range["targets"][0]["address"] = json!("10.0.0.60-10.0.0.10");
    let mut huge = config_json("acme-paris");
    huge["targets"][0]["address"] = json!("10.0.0.0/8");
    let mut bad_proxy = config_json("acme-paris");
    bad_proxy["proxy"]["url"] = json!("proxy.example.com:3128");
    let mut typo = config_json("acme-paris");
    typo["poll_interval"] = json!(60);
    for (body, needle) in [
        (&too_fast, "poll_interval_minutes = 10 is too short"),
        (
            &bad_range,
            "malformed address range \"10.0.0.60-10.0.0.10\"",
        ),
        (&huge, "more than the 4096 allowed per target"),
        (&bad_proxy, "bad proxy url"),
        (&typo, "unknown field `poll_interval`"),
    ] {
        let (s, v) = put_config(&hub, site, body).await;
        assert_eq!((s, code_of(&v)), (400, "invalid_config"), "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{message}");
    }
    let (s, v) = put_config(&hub, site, &config_json("someone-else")).await;
    assert_eq!((s, code_of(&v)), (400, "account_mismatch"), "{v}");
    let (s, v) = put_config(&hub, 9999, &config_json("acme-paris")).await;
    assert_eq!((s, code_of(&v)), (404, "not_found"), "{v}");
    let r = hub
        .client
        .put(hub.url(&path))
        .json(&config_json("acme-paris"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(hub.admin_get(&path).await.1["config_version"], json!(0));

    // A valid one: stored with defaults filled in, version bumped.
    let (s, v) = put_config(&hub, site, &config_json("acme-paris")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["config_version"], json!(1));
    let stored = CollectorConfig::from_json_value(v["config"].clone()).unwrap();
    assert_eq!(stored.poll_interval_minutes, 60);
    assert_eq!(stored.job_poll_interval_s, 30, "defaults are filled in");
    let (s, v) = hub.admin_get(&path).await;
    assert_eq!((s, v["config_version"].clone()), (200, json!(1)));
    assert_eq!(
        CollectorConfig::from_json_value(v["config"].clone()).unwrap(),
        stored
    );

    // Concurrent changes get distinct versions.
    let changes = (0..5).map(|i| {
        let mut body = config_json("acme-paris");
        body["poll_interval_minutes"] = json!(30 + i);
        let hub = &hub;
        async move { put_config(hub, site, &body).await }
    });
    let mut versions: Vec<i64> = futures_util::future::join_all(changes)
        .await
        .into_iter()
        .map(|(s, v)| {
            assert_eq!(s, 200, "{v}");
            v["config_version"].as_i64().unwrap()
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, [2, 3, 4, 5, 6]);

    // A collector of the site sees the version in every ingest answer and
    // fetches the configuration with a sealed request.
    let collector = hub.collector(site).await;
    let (s, _, v) = hub
        .post_envelope(collector.seal(&payload(vec![report("CFG-1", &[], 1, 1)])))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(ingest_response(&v).config_version, 6);
    let (s, v) = post_raw(
        &hub,
        "/api/v1/collector/config",
        collector.seal(&empty_payload()),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["config_version"], json!(6));
    CollectorConfig::from_json_value(v["config"].clone())
        .unwrap()
        .validate()
        .unwrap();

    // Only an authentic, fresh collector envelope gets it.
    let forger = TestSender::new(SenderKind::Collector, &collector.id, "guessed");
    let (s, v) = post_raw(
        &hub,
        "/api/v1/collector/config",
        forger.seal(&empty_payload()),
    )
    .await;
    assert_eq!((s, code_of(&v)), (401, "bad_mac"), "{v}");
    let stranger = TestSender::new(SenderKind::Collector, "col-nobody", "x");
    let (s, v) = post_raw(
        &hub,
        "/api/v1/collector/config",
        stranger.seal(&empty_payload()),
    )
    .await;
    assert_eq!((s, code_of(&v)), (401, "unknown_sender"), "{v}");
    let old = collector.seal_at(&empty_payload(), Utc::now() - Duration::minutes(16));
    let (s, v) = post_raw(&hub, "/api/v1/collector/config", old).await;
    assert_eq!((s, code_of(&v)), (422, "stale_timestamp"), "{v}");
    let printer = hub.direct_printer(site, "DIRECT-CFG").await;
    let (s, v) = post_raw(
        &hub,
        "/api/v1/collector/config",
        printer.seal(&empty_payload()),
    )
    .await;
    assert_eq!((s, code_of(&v)), (403, "not_a_collector"), "{v}");
    let r = hub
        .client
        .post(hub.url("/api/v1/collector/config"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
}

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

on_both_backends!(
    enrollment_issues_a_collector_once,
    remote_configuration_is_validated_versioned_and_served,
);
