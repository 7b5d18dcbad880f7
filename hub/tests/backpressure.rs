//! A full ingest queue answers 503 with Retry-After and stores nothing of that upload.

mod support;

use ppu_protocol::model::PrinterReport;
use sea_orm::{ConnectionTrait, TransactionTrait};
use support::*;
use uuid::Uuid;

/// Hold the database's write lock so the writer cannot commit.
async fn hold_write_lock(
    db: &sea_orm::DatabaseConnection,
    backend: &Backend,
) -> sea_orm::DatabaseTransaction {
    let lock = db.begin().await.unwrap();
    let sql = match backend {
        Backend::Sqlite => {
            "INSERT INTO resellers (name, created_at) VALUES ('lock-holder', '2026-01-01T00:00:00Z')"
        }
        Backend::Postgres(_) => "LOCK TABLE uploads IN EXCLUSIVE MODE",
    };
    lock.execute_unprepared(sql).await.unwrap();
    lock
}

/// POST an envelope in the background; (status, body text).
fn spawn_post(hub: &TestHub, bytes: Vec<u8>) -> actix_web::rt::task::JoinHandle<(u16, String)> {
    let client = hub.client.clone();
    let url = hub.url("/api/v1/ingest");
    actix_web::rt::spawn(async move {
        let r = client
            .post(url)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    })
}

async fn full_queue_is_503_and_stores_nothing(backend: Backend) {
    let hub = TestHub::start_with(backend.clone(), |s| {
        s.actors.ingest_queue = 1;
        s.actors.max_batch = 1;
    })
    .await;
    let (_, site) = hub.tenant("R", "busy-site").await;
    let collector = hub.collector(site).await;
    let bodies: Vec<(Vec<Uuid>, Vec<u8>)> = (0..3)
        .map(|i| {
            let jobs: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
            let bytes = collector.seal(&payload(vec![report(&format!("BUSY-{i}"), &jobs, 1, 1)]));
            (jobs, bytes)
        })
        .collect();

    let db = hub.db().await;
    let lock = hold_write_lock(&db, &backend).await;

    // Upload 0 is taken by the writer (blocked), upload 1 fills the queue.
    let send = |bytes: Vec<u8>| spawn_post(&hub, bytes);
    let first = send(bodies[0].1.clone());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let second = send(bodies[1].1.clone());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;

    // Upload 2 finds the queue full.
    let (status, retry_after, body) = hub.post_envelope(bodies[2].1.clone()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "busy");
    assert!(retry_after.is_some(), "503 carries Retry-After");

    lock.rollback().await.unwrap();
    let (s0, b0) = first.await.unwrap();
    let (s1, b1) = second.await.unwrap();
    assert_eq!((s0, s1), (200, 200), "{b0} {b1}");
    assert_eq!(hub.count("uploads").await, 2);
    assert_eq!(
        hub.count("jobs").await,
        10,
        "nothing of the refused upload stored"
    );

    // The refused upload, sent again, is stored.
    let (s, _, b) = hub.post_envelope(bodies[2].1.clone()).await;
    assert_eq!(s, 200, "{b}");
    assert!(!ingest_response(&b).duplicate);
    assert_eq!(hub.count("jobs").await, 15);
}

/// An upload with trigger `alert` is not refused when the main queue is full,
/// is stored before the uploads queued ahead of it, and its device alert is
/// pushed (`observed`) while the database still cannot commit anything.
async fn an_alert_upload_jumps_a_full_queue(backend: Backend) {
    use ppu_protocol::model::{DeviceAlert, Severity, UploadTrigger};
    let hub = TestHub::start_with(backend.clone(), |s| {
        s.actors.ingest_queue = 1;
        s.actors.max_batch = 1;
    })
    .await;
    let (_, site) = hub.tenant("R", "lane-site").await;
    let collector = hub.collector(site).await;
    let printer = hub.direct_printer(site, "LANE-ALERT").await;
    let bodies: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let jobs: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
            collector.seal(&payload(vec![report(&format!("LANE-{i}"), &jobs, 1, 1)]))
        })
        .collect();
    let mut alerting = PrinterReport::new("LANE-ALERT", chrono::Utc::now());
    alerting.alerts.push(DeviceAlert {
        code: "71.08".into(),
        severity: Severity::Critical,
        message: "printhead failure".into(),
        detected_at: chrono::Utc::now(),
        active: true,
        during_boot: false,
    });
    let mut alert_payload = payload(vec![alerting]);
    alert_payload.trigger = UploadTrigger::Alert;
    let alert_body = printer.seal(&alert_payload);

    let mut sse = hub
        .client
        .get(hub.url("/api/v1/alerts/stream?printer=LANE-ALERT"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status().as_u16(), 200);

    let db = hub.db().await;
    let lock = hold_write_lock(&db, &backend).await;
    let send = |bytes: Vec<u8>| spawn_post(&hub, bytes);
    // Upload 0 is taken by the blocked writer, upload 1 fills the queue.
    let first = send(bodies[0].clone());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let second = send(bodies[1].clone());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (status, _, body) = hub.post_envelope(bodies[2].clone()).await;
    assert_eq!(status, 503, "the main queue is full: {body}");

    // The alert upload is accepted into its lane and observed at once.
    let alert = send(alert_body);
    let mut seen = String::new();
    let observed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while !seen.contains("event: observed") {
            let chunk = sse.chunk().await.unwrap().expect("stream open");
            seen.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    })
    .await;
    assert!(
        observed.is_ok(),
        "no observed frame while the database was locked: {seen:?}"
    );
    assert!(seen.contains("\"code\":\"device:71.08\""), "{seen}");
    assert!(
        !seen.contains("event: alert"),
        "nothing can be stored yet: {seen}"
    );

    lock.rollback().await.unwrap();
    let (s0, b0) = first.await.unwrap();
    let (s1, b1) = second.await.unwrap();
    let (sa, ba) = alert.await.unwrap();
    assert_eq!((s0, s1, sa), (200, 200, 200), "{b0} {b1} {ba}");
    // Stored order: the upload the writer held, then the alert, then the one queued.
    let order: Vec<String> = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT sender_kind FROM uploads ORDER BY id",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "sender_kind").unwrap())
        .collect();
    assert_eq!(order, ["collector", "printer", "collector"], "{order:?}");
}

on_both_backends!(
    full_queue_is_503_and_stores_nothing,
    an_alert_upload_jumps_a_full_queue
);
