//! Hub core acceptance: authenticated, durable, idempotent ingest routed to
//! printer, site and reseller actors. Every test runs on SQLite and PostgreSQL.

mod support;

use chrono::{Duration, Utc};
use ppu_protocol::envelope::{self, Header};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use support::*;
use uuid::Uuid;

fn uuids(n: usize) -> Vec<Uuid> {
    (0..n).map(|_| Uuid::new_v4()).collect()
}

fn usage_jobs(v: &Value) -> i64 {
    v["usage"]["jobs"]["print_jobs"].as_i64().unwrap()
}

async fn happy_path(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (reseller, site) = hub.tenant("Plotters Inc", "acme-berlin").await;
    let collector = hub.collector(site).await;
    let printer = hub.direct_printer(site, "SG-DIRECT-1").await;

    // A collector bundle with 3 printers, 5 jobs each.
    let reports: Vec<_> = (1..=3)
        .map(|i| report(&format!("SG-COL-{i}"), &uuids(5), 100 * i, 1000 * i))
        .collect();
    let (status, _, body) = hub.post_envelope(collector.seal(&payload(reports))).await;
    assert_eq!(status, 200, "{body}");
    let r = ingest_response(&body);
    assert!(!r.duplicate);
    assert_eq!(r.accepted.printers, 3);
    assert_eq!(r.accepted.print_jobs, 15);
    assert!(r.rejected_printers.is_empty());

    // A direct upload.
    let (status, _, body) = hub
        .post_envelope(printer.seal(&payload(vec![report("SG-DIRECT-1", &uuids(4), 10, 50)])))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ingest_response(&body).accepted.print_jobs, 4);

    // Printer actors.
    for i in 1..=3 {
        let v = hub.printer(&format!("SG-COL-{i}")).await;
        assert_eq!(usage_jobs(&v), 5, "{v}");
        assert_eq!(v["config"]["product_name"], "HP DesignJet T1700");
        assert_eq!(v["counters"]["pages"], json!(100 * i));
        assert_eq!(v["site_id"], json!(site));
        assert_eq!(v["mailbox_capacity"], json!(16));
        assert!(v["last_upload_at"].is_string());
    }
    let v = hub.printer("SG-DIRECT-1").await;
    assert_eq!(usage_jobs(&v), 4);
    assert_eq!(v["direct"], json!(true));
    assert_eq!(v["usage"]["jobs"]["ink_by_color_ul"]["cyan"], json!(40));

    // Site and reseller aggregates.
    let (s, v) = hub.admin_get(&format!("/api/v1/sites/{site}")).await;
    assert_eq!(s, 200);
    assert_eq!(v["actor"]["usage"]["jobs"]["print_jobs"], json!(19), "{v}");
    assert_eq!(v["printers"].as_array().unwrap().len(), 4);
    let (s, v) = hub
        .admin_get(&format!("/api/v1/resellers/{reseller}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["actor"]["usage"]["jobs"]["pages"], json!(38), "{v}");
}

async fn duplicates_are_counted_once(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (_, site) = hub.tenant("R", "dup-site").await;
    let collector = hub.collector(site).await;
    let jobs = uuids(3);
    let bytes = collector.seal(&payload(vec![report("DUP-1", &jobs, 10, 100)]));

    let (s1, _, b1) = hub.post_envelope(bytes.clone()).await;
    let (s2, _, b2) = hub.post_envelope(bytes).await;
    assert_eq!((s1, s2), (200, 200), "{b1} {b2}");
    let (r1, r2) = (ingest_response(&b1), ingest_response(&b2));
    assert!(!r1.duplicate);
    assert!(r2.duplicate, "a retried envelope is answered as duplicate");
    assert_eq!(r1.upload_id, r2.upload_id);
    assert_eq!(hub.count("uploads").await, 1);
    assert_eq!(hub.count("jobs").await, 3);

    // The same job UUIDs in a new upload (plus one new job): only the new one counts.
    let mut again = jobs.clone();
    again.push(Uuid::new_v4());
    let (s, _, b) = hub
        .post_envelope(collector.seal(&payload(vec![report("DUP-1", &again, 12, 120)])))
        .await;
    assert_eq!(s, 200, "{b}");
    let r = ingest_response(&b);
    assert!(!r.duplicate);
    assert_eq!(r.accepted.print_jobs, 1);
    assert_eq!(r.duplicates.print_jobs, 3);
    assert_eq!(hub.count("jobs").await, 4);
    let v = hub.printer("DUP-1").await;
    assert_eq!(usage_jobs(&v), 4, "{v}");
    assert_eq!(
        v["usage"]["meter"]["pages"],
        json!(2),
        "counter delta 10 -> 12"
    );

    // The same batch re-sealed (new header) after a lost answer: duplicate.
    let mut p = payload(vec![report("DUP-1", &uuids(2), 13, 130)]);
    let first = collector.seal(&p);
    let (s, _, _) = hub.post_envelope(first).await;
    assert_eq!(s, 200);
    p.generated_at = Utc::now();
    let (s, _, b) = hub.post_envelope(collector.seal(&p)).await;
    assert_eq!(s, 200, "{b}");
    assert!(
        ingest_response(&b).duplicate,
        "same batch id is a duplicate"
    );
    assert_eq!(hub.count("jobs").await, 6);
}

async fn bad_uploads_are_rejected_and_store_nothing(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (_, site) = hub.tenant("R1", "site-one").await;
    let (_, other_site) = hub.tenant("R2", "site-two").await;
    let collector = hub.collector(site).await;
    let other = hub.collector(other_site).await;
    let p = payload(vec![report("OWN-1", &uuids(2), 1, 1)]);

    // Bad MAC: flip one bit of the tag.
    let mut bytes = collector.seal(&p);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let (s, _, b) = hub.post_envelope(bytes).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["error"]["code"], "bad_mac");

    // Unknown sender.
    let stranger = TestSender::new(
        ppu_protocol::envelope::SenderKind::Collector,
        "col-nobody",
        "secret",
    );
    let (s, _, b) = hub.post_envelope(stranger.seal(&p)).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["error"]["code"], "unknown_sender");

    // Right sender id, wrong secret.
    let forger = TestSender::new(collector.kind, &collector.id, "guessed-secret");
    let (s, _, b) = hub.post_envelope(forger.seal(&p)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("bad_mac")));

    // Stale timestamp, both directions.
    for skew in [Duration::minutes(-16), Duration::minutes(16)] {
        let (s, _, b) = hub
            .post_envelope(collector.seal_at(&p, Utc::now() + skew))
            .await;
        assert_eq!(s, 422, "{b}");
        assert_eq!(b["error"]["code"], "stale_timestamp");
    }

    // Garbage and wrong content type.
    let (s, _, b) = hub.post_envelope(b"not an envelope".to_vec()).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["code"], "bad_magic");
    let r = hub
        .client
        .post(hub.url("/api/v1/ingest"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);

    assert_eq!(hub.count("uploads").await, 0, "nothing stored");
    assert_eq!(hub.count("jobs").await, 0, "nothing stored");

    // Replayed nonce: a stored envelope's header reused for other content.
    let header = Header::new(collector.kind, collector.id.clone(), Utc::now());
    let first = envelope::seal(&header, &p, &collector.keys).unwrap();
    let (s, _, _) = hub.post_envelope(first).await;
    assert_eq!(s, 200);
    let p2 = payload(vec![report("OWN-1", &uuids(2), 2, 2)]);
    let replay = envelope::seal(&header, &p2, &collector.keys).unwrap();
    let (s, _, b) = hub.post_envelope(replay).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["error"]["code"], "replayed_nonce");
    assert_eq!(hub.count("uploads").await, 1);
    assert_eq!(hub.count("jobs").await, 2);

    // A printer of another site in a bundle: rejected with a reason, the rest stored.
    let (s, _, _) = hub
        .post_envelope(other.seal(&payload(vec![report("THEIRS-1", &uuids(1), 1, 1)])))
        .await;
    assert_eq!(s, 200);
    let (s, _, b) = hub
        .post_envelope(collector.seal(&payload(vec![
            report("OWN-2", &uuids(2), 1, 1),
            report("THEIRS-1", &uuids(3), 5, 5),
        ])))
        .await;
    assert_eq!(s, 200, "{b}");
    let r = ingest_response(&b);
    assert_eq!(r.accepted.printers, 1);
    assert_eq!(r.accepted.print_jobs, 2);
    assert_eq!(r.rejected_printers.len(), 1);
    assert_eq!(r.rejected_printers[0].serial_number, "THEIRS-1");
    assert_eq!(r.rejected_printers[0].code, "printer_of_another_site");
    assert_eq!(
        usage_jobs(&hub.printer("THEIRS-1").await),
        1,
        "other site's printer untouched"
    );

    // A direct printer reporting another printer.
    let direct = hub.direct_printer(site, "DIRECT-7").await;
    let (s, _, b) = hub
        .post_envelope(direct.seal(&payload(vec![report("OWN-1", &uuids(1), 9, 9)])))
        .await;
    assert_eq!(s, 200, "{b}");
    let r = ingest_response(&b);
    assert_eq!(r.accepted.printers, 0);
    assert_eq!(r.rejected_printers[0].code, "not_this_printer");
    assert_eq!(hub.count("jobs").await, 2 + 1 + 2);

    // Values no printer can report (they would overflow sums and columns) and a
    // NUL byte (PostgreSQL refuses it) reject that printer's report, by name,
    // and store nothing of it; the rest of the upload is stored.
    let mut huge = report("OWN-3", &[], 1, 1);
    let mut job = print_job(Uuid::new_v4(), 1, u64::MAX, 1_000);
    job.print.ink[0].used_ul = u64::MAX;
    huge.print_jobs.push(job);
    let mut nul = report("OWN-4", &[], 1, 1);
    let mut job = print_job(Uuid::new_v4(), 1, 10, 1_000);
    job.job.name = "plan\0.pdf".into();
    nul.print_jobs.push(job);
    let (s, _, b) = hub
        .post_envelope(collector.seal(&payload(vec![huge, nul, report("OWN-5", &uuids(4), 1, 1)])))
        .await;
    assert_eq!(s, 200, "{b}");
    let r = ingest_response(&b);
    assert_eq!(r.accepted.printers, 1, "{b}");
    assert_eq!(r.accepted.print_jobs, 4, "{b}");
    let codes: Vec<_> = r
        .rejected_printers
        .iter()
        .map(|p| (p.serial_number.as_str(), p.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("OWN-3", "implausible_value"),
            ("OWN-4", "implausible_value")
        ]
    );
    assert!(
        r.rejected_printers[0]
            .message
            .contains("18446744073709551615"),
        "{b}"
    );
    assert!(r.rejected_printers[1].message.contains("NUL"), "{b}");
    assert_eq!(hub.count("jobs").await, 2 + 1 + 2 + 4);
}

async fn counters_going_backwards_start_a_new_baseline(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (_, site) = hub.tenant("R", "counter-site").await;
    let printer = hub.direct_printer(site, "BACK-1").await;
    for (pages, ink) in [(100, 1000), (120, 1300), (50, 400), (60, 500)] {
        let (s, _, b) = hub
            .post_envelope(printer.seal(&payload(vec![report("BACK-1", &[], pages, ink)])))
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let v = hub.printer("BACK-1").await;
    // 100 -> 120: +20; 120 -> 50: backwards, new baseline; 50 -> 60: +10.
    assert_eq!(v["usage"]["meter"]["pages"], json!(30), "{v}");
    assert_eq!(v["usage"]["meter"]["total_ink_ul"], json!(300 + 100));
    assert_eq!(v["anomalies"], json!(1));
    assert_eq!(v["counters"]["pages"], json!(60));
    assert_eq!(hub.count("anomalies").await, 1);
}

async fn state_survives_a_graceful_restart(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (reseller, site) = hub.tenant("R", "restart-site").await;
    let collector = hub.collector(site).await;
    for round in 1..=3u64 {
        let reports = (1..=3)
            .map(|i| report(&format!("RS-{i}"), &uuids(4), 10 * round + i, 100 * round))
            .collect();
        let (s, _, b) = hub.post_envelope(collector.seal(&payload(reports))).await;
        assert_eq!(s, 200, "{b}");
    }
    let before: Vec<Value> = futures_util::future::join_all((1..=3).map(|i| {
        let hub = &hub;
        async move { hub.printer(&format!("RS-{i}")).await }
    }))
    .await;
    let (status, site_before) = hub.admin_get(&format!("/api/v1/sites/{site}")).await;
    assert_eq!(status, 200, "{site_before}");
    let (status, reseller_before) = hub
        .admin_get(&format!("/api/v1/resellers/{reseller}"))
        .await;
    assert_eq!(status, 200, "{reseller_before}");

    let hub = hub.restart().await;
    // Three printers, the site and the reseller.
    let saved = hub.count("actor_snapshots").await;
    if saved < 5 {
        let db = hub.db().await;
        let rows = ppu_entities::actor_snapshot::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| format!("{}/{}", r.kind, r.key))
            .collect::<Vec<_>>();
        panic!("{saved} snapshots saved on shutdown, 5 expected: {rows:?}");
    }
    for (i, b) in (1..=3).zip(before) {
        let a = hub.printer(&format!("RS-{i}")).await;
        assert_eq!(a["usage"], b["usage"]);
        assert_eq!(a["counters"], b["counters"]);
        assert_eq!(a["config"], b["config"]);
        assert_eq!(a["watermark"], b["watermark"]);
    }
    let (_, site_after) = hub.admin_get(&format!("/api/v1/sites/{site}")).await;
    assert_eq!(site_after["actor"]["usage"], site_before["actor"]["usage"]);
    let (_, reseller_after) = hub
        .admin_get(&format!("/api/v1/resellers/{reseller}"))
        .await;
    assert_eq!(
        reseller_after["actor"]["usage"],
        reseller_before["actor"]["usage"]
    );
    assert_eq!(
        reseller_after["actor"]["usage"]["jobs"]["print_jobs"],
        json!(36)
    );
}

async fn provisioning_validates_input(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (s, b) = hub
        .admin_post("/api/v1/resellers", json!({"name": ""}))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_field"))
    );
    let (s, b) = hub
        .admin_post("/api/v1/resellers", json!({"nom": "x"}))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{b}"
    );
    let (rid, site) = hub.tenant("Dup", "dup-acct").await;
    let (s, b) = hub
        .admin_post("/api/v1/resellers", json!({"name": "Dup"}))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("already_exists"))
    );
    let (s, _) = hub
        .admin_post(
            "/api/v1/sites",
            json!({"reseller_id": rid + 1000, "account_name": "x"}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, b) = hub
        .admin_post(
            "/api/v1/printers",
            json!({"site_id": site, "serial_number": "../etc/passwd", "direct": true}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_serial_number"))
    );
    let (s, _) = hub.admin_get("/api/v1/printers/NOPE-1").await;
    assert_eq!(s, 404);
    let r = hub
        .client
        .get(hub.url("/api/v1/sites/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = hub
        .client
        .get(hub.url("/api/v1/sites/1"))
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // Secrets are shown once and never stored.
    let printer = hub.direct_printer(site, "SECRET-1").await;
    let v = hub.printer("SECRET-1").await;
    assert!(!v.to_string().contains("secret"), "{v}");
    let _ = printer;
    let r = hub.client.get(hub.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// Bulk hydration (`Fleet::preload_printers`) gives the same actors as the
/// per-printer path, both for printers whose snapshot is complete and for
/// printers with records stored after their snapshot.
async fn preloaded_printers_equal_rebuilt_ones(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (_, site) = hub.tenant("R", "preload-site").await;
    let collector = hub.collector(site).await;
    for round in 1..=3u64 {
        let reports = (1..=4)
            .map(|i| {
                // Printer 4's counters go backwards in round 3: an anomaly.
                let pages = if i == 4 && round == 3 {
                    1
                } else {
                    10 * round + i
                };
                report(&format!("PL-{i}"), &uuids(2), pages, 100 * round)
            })
            .collect();
        let (s, _, b) = hub.post_envelope(collector.seal(&payload(reports))).await;
        assert_eq!(s, 200, "{b}");
    }
    // The graceful stop saves every printer's snapshot.
    let hub = hub.restart().await;
    assert_eq!(hub.count("actor_snapshots WHERE kind = 'printer'").await, 4);
    // Printers 1 and 2 get records past their stored snapshot.
    let reports = (1..=2)
        .map(|i| report(&format!("PL-{i}"), &uuids(3), 100 + i, 1000))
        .collect();
    let (s, _, b) = hub.post_envelope(collector.seal(&payload(reports))).await;
    assert_eq!(s, 200, "{b}");

    let url = match &hub.backend {
        Backend::Sqlite => format!(
            "sqlite://{}?mode=rw",
            hub.data_dir.join("ppu-hub.db").display()
        ),
        Backend::Postgres(url) => url.clone(),
    };
    let db = ppu_actors::store::Db::connect(&url).await.unwrap();
    let preloaded = ppu_actors::Fleet::start(db.clone(), ppu_actors::ActorSettings::default());
    assert_eq!(preloaded.preload_printers().await.unwrap(), 4);
    assert_eq!(preloaded.live_actors().0, 4);
    // A second preload finds every printer live.
    assert_eq!(preloaded.preload_printers().await.unwrap(), 0);
    let rebuilt = ppu_actors::Fleet::start(db, ppu_actors::ActorSettings::default());
    let comparable = |v: ppu_actors::printer::PrinterView| {
        let mut v = serde_json::to_value(v).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("idle_seconds");
        o.remove("mailbox_depth");
        v
    };
    for i in 1..=4 {
        let live = hub.printer(&format!("PL-{i}")).await;
        let id = live["printer_id"].as_i64().unwrap();
        let a = comparable(preloaded.printer_view(id).await.unwrap());
        let b = comparable(rebuilt.printer_view(id).await.unwrap());
        assert_eq!(a, b, "printer {i}");
        assert_eq!(a["usage"], live["usage"], "printer {i}");
        assert_eq!(a["watermark"], live["watermark"], "printer {i}");
        assert_eq!(a["counters"], live["counters"], "printer {i}");
        let jobs = if i <= 2 { 9 } else { 6 };
        assert_eq!(a["usage"]["jobs"]["print_jobs"], json!(jobs), "printer {i}");
        assert_eq!(a["anomalies"], json!(u64::from(i == 4)), "printer {i}");
    }
}

on_both_backends!(
    happy_path,
    duplicates_are_counted_once,
    bad_uploads_are_rejected_and_store_nothing,
    counters_going_backwards_start_a_new_baseline,
    state_survives_a_graceful_restart,
    preloaded_printers_equal_rebuilt_ones,
    provisioning_validates_input,
);

mod eviction {
    use super::support::*;
    use serde_json::json;

    async fn idle_actors_are_evicted_and_come_back_equal(backend: Backend) {
        let hub = TestHub::start_with(backend, |s| s.actors.idle_ttl_secs = 1).await;
        let (_, site) = hub.tenant("R", "evict-site").await;
        let printer = hub.direct_printer(site, "EVICT-1").await;
        let jobs: Vec<_> = (0..3).map(|_| uuid::Uuid::new_v4()).collect();
        let (s, _, _) = hub
            .post_envelope(printer.seal(&payload(vec![report("EVICT-1", &jobs, 5, 5)])))
            .await;
        assert_eq!(s, 200);
        let before = hub.printer("EVICT-1").await;
        let live = |v: &serde_json::Value| v["live_actors"]["printers"].as_i64().unwrap();
        let (_, ready) = hub.admin_get("/readyz").await;
        assert_eq!(live(&ready), 1, "{ready}");
        tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
        let (_, ready) = hub.admin_get("/readyz").await;
        assert_eq!(live(&ready), 0, "idle printer actor evicted: {ready}");
        let after = hub.printer("EVICT-1").await;
        assert_eq!(after["usage"], before["usage"]);
        assert_eq!(after["usage"]["jobs"]["print_jobs"], json!(3));
    }

    crate::on_both_backends!(idle_actors_are_evicted_and_come_back_equal);
}
