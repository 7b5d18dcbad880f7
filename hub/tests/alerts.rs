//! Live service alerts: lifecycle, Server-Sent Events with resume, webhooks
//! with signatures, isolation of slow clients, stopped reporting.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use ppu_protocol::model::{DeviceAlert, PrinterReport, PrinterStatus, Severity, UploadTrigger};
use serde_json::{Value, json};
use sha2::Sha256;
use support::*;

fn alert_report(serial: &str, code: &str, severity: Severity, boot: bool) -> PrinterReport {
    let mut r = PrinterReport::new(serial, Utc::now());
    r.alerts.push(DeviceAlert {
        code: code.into(),
        severity,
        message: format!("{code} happened"),
        detected_at: Utc::now(),
        active: true,
        during_boot: boot,
    });
    r
}

/// An SSE client reading frames from a streaming response.
struct Sse {
    resp: reqwest::Response,
    buf: String,
}

#[derive(Debug)]
struct Frame {
    id: Option<i64>,
    event: String,
    data: Value,
}

impl Sse {
    async fn connect(hub: &TestHub, query: &str, last_event_id: Option<i64>) -> Sse {
        let mut req = hub
            .client
            .get(hub.url(&format!("/api/v1/alerts/stream{query}")))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Sse {
            resp,
            buf: String::new(),
        }
    }

    /// The next stored `alert` (or `resync`) frame, skipping comments, retry
    /// hints and `observed` frames.
    async fn next(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let f = self
                .next_frame(deadline.saturating_duration_since(tokio::time::Instant::now()))
                .await?;
            if f.event != "observed" {
                return Some(f);
            }
        }
    }

    /// The next frame, which must be `event` of `kind` (within 5 s).
    async fn expect(&mut self, event: &str, kind: &str) -> Frame {
        let f = self
            .next_frame(Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("no {event} {kind} frame"));
        assert_eq!(
            (f.event.as_str(), f.data["kind"].as_str()),
            (event, Some(kind)),
            "{f:?}"
        );
        f
    }

    /// The next named frame of any event.
    async fn next_frame(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(pos) = self.buf.find("\n\n") {
                let raw: String = self.buf.drain(..pos + 2).collect();
                let mut f = Frame {
                    id: None,
                    event: String::new(),
                    data: Value::Null,
                };
                for line in raw.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        f.id = v.parse().ok();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        f.event = v.into();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        f.data = serde_json::from_str(v).unwrap();
                    }
                }
                if !f.event.is_empty() {
                    return Some(f);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .ok()?;
            let bytes = chunk.unwrap()?;
            self.buf.push_str(std::str::from_utf8(&bytes).unwrap());
        }
    }
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Delivery>>>);

/// Event id, timestamp, signature and body of one webhook request.
type Delivery = (String, String, String, Vec<u8>);

async fn receiver(received: Received) -> (u16, actix_web::dev::ServerHandle) {
    let data = web::Data::new(received);
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).route(
            "/hook",
            web::post().to(
                |req: HttpRequest, body: web::Bytes, r: web::Data<Received>| async move {
                    let h = |n: &str| {
                        req.headers()
                            .get(n)
                            .map(|v| v.to_str().unwrap().to_owned())
                            .unwrap_or_default()
                    };
                    r.0.lock().unwrap().push((
                        h("x-ppu-event-id"),
                        h("x-ppu-timestamp"),
                        h("x-ppu-signature"),
                        body.to_vec(),
                    ));
                    HttpResponse::Ok().finish()
                },
            ),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (port, handle)
}

async fn boot_alert_reaches_sse_and_webhook(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (reseller, site) = hub.tenant("Service Co", "alert-site").await;
    let printer = hub.direct_printer(site, "BOOT-1").await;
    let received = Received::default();
    let (port, receiver_handle) = receiver(received.clone()).await;
    let (s, hook) = hub
        .admin_post(
            "/api/v1/webhooks",
            json!({"reseller_id": reseller, "url": format!("http://127.0.0.1:{port}/hook"), "min_severity": "major"}),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();

    let mut sse = Sse::connect(&hub, &format!("?reseller={reseller}"), None).await;
    let mut p = payload(vec![alert_report(
        "BOOT-1",
        "61.01",
        Severity::Critical,
        true,
    )]);
    p.trigger = UploadTrigger::Boot;
    let (s, _, b) = hub.post_envelope(printer.seal(&p)).await;
    assert_eq!(s, 200, "{b}");

    let f = sse.next(Duration::from_secs(5)).await.expect("sse frame");
    assert_eq!(f.event, "alert");
    assert_eq!(f.data["kind"], "raised");
    assert_eq!(f.data["alert"]["code"], "device:61.01");
    assert_eq!(f.data["alert"]["severity"], "critical");
    assert_eq!(f.data["alert"]["serial_number"], "BOOT-1");
    let event_id = f.id.expect("event id");

    // The webhook receiver gets the same event, signed.
    let mut got = None;
    for _ in 0..100 {
        if let Some(r) = received.0.lock().unwrap().first().cloned() {
            got = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (id, ts, sig, body) = got.expect("webhook delivered");
    assert_eq!(
        id,
        event_id.to_string(),
        "stable event id for de-duplication"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(sig, expected, "signature verifies");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["alert"]["code"], "device:61.01");
    assert!((Utc::now().timestamp() - ts.parse::<i64>().unwrap()).abs() < 60);

    let (s, log) = hub
        .admin_get(&format!("/api/v1/webhooks/{}/deliveries", hook["id"]))
        .await;
    assert_eq!(s, 200);
    assert_eq!(log["deliveries"][0]["state"], "delivered", "{log}");
    receiver_handle.stop(false).await;
}

/// A device alert of an accepted upload is pushed as `observed` before the
/// upload is stored, then as the stored `raised` event; an alert already open
/// is not observed again; `observed=false` opts out; a printer the hub does
/// not know yet gets the stored event only.
async fn device_alerts_are_observed_before_they_are_stored(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (reseller, site) = hub.tenant("Observer", "observe-site").await;
    let printer = hub.direct_printer(site, "OBS-1").await;
    let mut sse = Sse::connect(&hub, "?printer=OBS-1", None).await;
    let mut stored_only = Sse::connect(&hub, "?printer=OBS-1&observed=false", None).await;
    let raise = |serial: &str, code: &str| {
        let mut p = payload(vec![alert_report(serial, code, Severity::Major, false)]);
        p.trigger = UploadTrigger::Alert;
        p
    };
    let cleared = |serial: &str| {
        let mut r = PrinterReport::new(serial, Utc::now());
        r.status = Some(PrinterStatus::default());
        payload(vec![r])
    };
    let (s, _, b) = hub
        .post_envelope(printer.seal(&raise("OBS-1", "10.1")))
        .await;
    assert_eq!(s, 200, "{b}");
    let first = sse.expect("observed", "observed").await;
    assert_eq!(first.id, None, "an observation is not in the event log");
    assert_eq!(first.data["code"], "device:10.1");
    assert_eq!(first.data["severity"], "major");
    assert_eq!(first.data["serial_number"], "OBS-1");
    assert_eq!(first.data["reseller_id"], json!(reseller));
    assert_eq!(first.data["site_id"], json!(site));
    assert_eq!(first.data["upload_id"], b["upload_id"], "{b}");
    let stored = sse.expect("alert", "raised").await;
    assert!(stored.id.is_some());
    assert_eq!(stored.data["alert"]["printer_id"], first.data["printer_id"]);
    stored_only.expect("alert", "raised").await;

    // Reported again while open: counted, not observed again.
    let (s, _, _) = hub
        .post_envelope(printer.seal(&raise("OBS-1", "10.1")))
        .await;
    assert_eq!(s, 200);
    let (s, _, _) = hub.post_envelope(printer.seal(&cleared("OBS-1"))).await;
    assert_eq!(s, 200);
    sse.expect("alert", "cleared").await;

    // Raised again after it cleared: observed again.
    let (s, _, _) = hub
        .post_envelope(printer.seal(&raise("OBS-1", "10.1")))
        .await;
    assert_eq!(s, 200);
    sse.expect("observed", "observed").await;
    sse.expect("alert", "raised").await;

    // A collector's printer the hub does not know yet: stored only, since
    // its id is known only once stored; known afterwards, it is observed.
    let collector = hub.collector(site).await;
    let mut site_sse = Sse::connect(&hub, &format!("?site={site}"), None).await;
    for (body, frames) in [
        (raise("OBS-NEW", "20.2"), &[("alert", "raised")][..]),
        (cleared("OBS-NEW"), &[("alert", "cleared")][..]),
        (
            raise("OBS-NEW", "20.2"),
            &[("observed", "observed"), ("alert", "raised")][..],
        ),
    ] {
        let (s, _, b) = hub.post_envelope(collector.seal(&body)).await;
        assert_eq!(s, 200, "{b}");
        for (event, kind) in frames {
            let f = site_sse.expect(event, kind).await;
            let serial = match *event {
                "observed" => &f.data["serial_number"],
                _ => &f.data["alert"]["serial_number"],
            };
            assert_eq!(serial, "OBS-NEW", "{f:?}");
        }
    }

    // After a restart, what the database holds open is still not new.
    let hub = hub.restart().await;
    let mut site_sse = Sse::connect(&hub, &format!("?site={site}"), None).await;
    for body in [raise("OBS-NEW", "20.2"), cleared("OBS-NEW")] {
        let (s, _, b) = hub.post_envelope(collector.seal(&body)).await;
        assert_eq!(s, 200, "{b}");
    }
    site_sse.expect("alert", "cleared").await;

    // Bad value: a clear error.
    let resp = hub
        .client
        .get(hub.url("/api/v1/alerts/stream?observed=maybe"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

async fn repeats_count_and_lifecycle(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (_, site) = hub.tenant("R", "repeat-site").await;
    let printer = hub.direct_printer(site, "REP-1").await;
    for _ in 0..10 {
        let (s, _, b) = hub
            .post_envelope(printer.seal(&payload(vec![alert_report(
                "REP-1",
                "52.1",
                Severity::Major,
                false,
            )])))
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let (_, list) = hub.admin_get("/api/v1/alerts?printer=REP-1").await;
    let alerts = list["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{list}");
    assert_eq!(alerts[0]["occurrences"], json!(10));
    assert_eq!(alerts[0]["state"], "active");
    let id = alerts[0]["id"].as_i64().unwrap();

    let (s, a) = hub
        .admin_post(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            json!({"by": "service desk"}),
        )
        .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["state"], "acknowledged");
    assert_eq!(a["acknowledged_by"], "service desk");
    let (s, _) = hub
        .admin_post(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            json!({"by": "x"}),
        )
        .await;
    assert_eq!(s, 409, "acknowledging twice is refused");
    let (s, a) = hub
        .admin_post(
            &format!("/api/v1/alerts/{id}/clear"),
            json!({"by": "technician"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(a["state"], "cleared");
    let (s, _) = hub
        .admin_post(&format!("/api/v1/alerts/{id}/clear"), json!({"by": "x"}))
        .await;
    assert_eq!(s, 409);
    let (s, _) = hub
        .admin_post("/api/v1/alerts/999999/clear", json!({"by": "x"}))
        .await;
    assert_eq!(s, 404);

    // Raised again after clearing: a new alert.
    let (s, _, _) = hub
        .post_envelope(printer.seal(&payload(vec![alert_report(
            "REP-1",
            "52.1",
            Severity::Major,
            false,
        )])))
        .await;
    assert_eq!(s, 200);
    let (_, list) = hub
        .admin_get("/api/v1/alerts?printer=REP-1&state=open")
        .await;
    let open = list["alerts"].as_array().unwrap();
    assert_eq!(open.len(), 1);
    assert_ne!(open[0]["id"].as_i64().unwrap(), id);
    assert_eq!(open[0]["occurrences"], json!(1));
    let (_, all) = hub.admin_get("/api/v1/alerts?printer=REP-1").await;
    assert_eq!(
        all["alerts"].as_array().unwrap().len(),
        2,
        "history is kept"
    );

    // A full status without the alert clears it automatically.
    let mut r = PrinterReport::new("REP-1", Utc::now());
    r.status = Some(PrinterStatus::default());
    let (s, _, _) = hub.post_envelope(printer.seal(&payload(vec![r]))).await;
    assert_eq!(s, 200);
    let (_, list) = hub
        .admin_get("/api/v1/alerts?printer=REP-1&state=open")
        .await;
    assert_eq!(list["alerts"].as_array().unwrap().len(), 0, "{list}");
    let (_, list) = hub
        .admin_get("/api/v1/alerts?printer=REP-1&state=cleared")
        .await;
    assert_eq!(list["alerts"][0]["cleared_by"], "auto");

    // Bad filters are clear errors.
    let (s, b) = hub.admin_get("/api/v1/alerts?min_severity=loud").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_severity"))
    );
    let (s, b) = hub.admin_get("/api/v1/alerts?state=sleeping").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_state"))
    );
}

async fn reconnect_with_last_event_id_gets_exactly_the_missed_events(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (_, site) = hub.tenant("R", "resume-site").await;
    let printer = hub.direct_printer(site, "RES-1").await;
    let raise = |code: &str| payload(vec![alert_report("RES-1", code, Severity::Minor, false)]);

    let mut sse = Sse::connect(&hub, "", None).await;
    let (s, _, _) = hub.post_envelope(printer.seal(&raise("a"))).await;
    assert_eq!(s, 200);
    let first = sse.next(Duration::from_secs(5)).await.unwrap();
    let seen = first.id.unwrap();
    drop(sse);

    for code in ["b", "c", "d"] {
        let (s, _, _) = hub.post_envelope(printer.seal(&raise(code))).await;
        assert_eq!(s, 200);
    }
    let mut sse = Sse::connect(&hub, "", Some(seen)).await;
    let mut codes = Vec::new();
    let mut ids = Vec::new();
    while let Some(f) = sse.next(Duration::from_millis(800)).await {
        codes.push(f.data["alert"]["code"].as_str().unwrap().to_owned());
        ids.push(f.id.unwrap());
    }
    assert_eq!(
        codes,
        ["device:b", "device:c", "device:d"],
        "exactly the missed events"
    );
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert!(ids[0] > seen);

    // Live events continue after the replay, without duplicates.
    let (s, _, _) = hub.post_envelope(printer.seal(&raise("e"))).await;
    assert_eq!(s, 200);
    let f = sse.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(f.data["alert"]["code"], "device:e");
}

async fn a_stalled_client_slows_nobody(backend: Backend) {
    let hub = TestHub::start_with(backend, |s| s.actors.max_batch = 8).await;
    let (_, site) = hub.tenant("R", "stall-site").await;
    let printer = hub.direct_printer(site, "STALL-1").await;
    // This client never reads.
    let _stalled = Sse::connect(&hub, "", None).await;
    let mut live = Sse::connect(&hub, "", None).await;
    for i in 0..300 {
        let code = format!("flood-{i}");
        let started = std::time::Instant::now();
        let (s, _, _) = hub
            .post_envelope(printer.seal(&payload(vec![alert_report(
                "STALL-1",
                &code,
                Severity::Info,
                false,
            )])))
            .await;
        assert_eq!(s, 200);
        // Ingest is never held up by the stalled client (generous bound: no blocking).
        assert!(started.elapsed() < Duration::from_secs(5));
        let f = live
            .next(Duration::from_secs(5))
            .await
            .expect("the reading client keeps receiving");
        assert_eq!(f.data["alert"]["code"], format!("device:{code}"));
    }
}

async fn stopped_reporting_raises_and_clears(backend: Backend) {
    let hub = TestHub::start_with(backend, |s| s.actors.sweep_interval_ms = 100).await;
    let (_, site) = hub.tenant("R", "silent-site").await;
    let (s, r) = hub
        .admin_post(
            "/api/v1/printers",
            json!({"site_id": site, "serial_number": "SILENT-1", "direct": true, "expected_interval_s": 1}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let printer = TestSender::new(
        ppu_protocol::envelope::SenderKind::Printer,
        "SILENT-1",
        r["secret"].as_str().unwrap(),
    );
    let (s, _, _) = hub
        .post_envelope(printer.seal(&payload(vec![report("SILENT-1", &[], 1, 1)])))
        .await;
    assert_eq!(s, 200);
    let open = |v: &Value| {
        v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["code"] == "stopped_reporting")
    };
    // Not before twice the interval.
    let (_, list) = hub
        .admin_get("/api/v1/alerts?printer=SILENT-1&state=open")
        .await;
    assert!(!open(&list), "{list}");
    let mut raised = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, list) = hub
            .admin_get("/api/v1/alerts?printer=SILENT-1&state=open")
            .await;
        if open(&list) {
            raised = true;
            break;
        }
    }
    assert!(raised, "stopped reporting raised after twice the interval");
    let (s, _, _) = hub
        .post_envelope(printer.seal(&payload(vec![report("SILENT-1", &[], 2, 2)])))
        .await;
    assert_eq!(s, 200);
    let (_, list) = hub
        .admin_get("/api/v1/alerts?printer=SILENT-1&state=cleared")
        .await;
    assert!(open(&list), "cleared when it reports again: {list}");
}

async fn collector_offline_raises_and_clears(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let hub = TestHub::start_with(backend, |s| s.actors.sweep_interval_ms = 100).await;
    let (_, site) = hub.tenant("R", "collector-site").await;
    let collector = hub.collector(site).await;
    let (s, _, _) = hub
        .post_envelope(collector.seal(&payload(vec![report("COL-P1", &[], 1, 1)])))
        .await;
    assert_eq!(s, 200);
    // Its last upload was 7 hours ago: more than twice the default 180-minute poll.
    let db = hub.db().await;
    let ago = (Utc::now() - chrono::Duration::hours(7)).to_rfc3339();
    db.execute_unprepared(&format!(
        "UPDATE credentials SET last_used_at = '{ago}' WHERE sender_id = '{}'",
        collector.id
    ))
    .await
    .unwrap();
    let open = |v: &Value| {
        v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["code"] == "collector_offline")
    };
    let mut raised = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, list) = hub
            .admin_get(&format!("/api/v1/alerts?site={site}&state=open"))
            .await;
        if open(&list) {
            raised = true;
            break;
        }
    }
    assert!(raised, "collector offline raised");
    let (s, _, _) = hub
        .post_envelope(collector.seal(&payload(vec![report("COL-P1", &[], 2, 2)])))
        .await;
    assert_eq!(s, 200);
    let (_, list) = hub
        .admin_get(&format!("/api/v1/alerts?site={site}&state=open"))
        .await;
    assert!(!open(&list), "cleared when it uploads again: {list}");
}

async fn collector_spool_full_is_said_on_reconnect_and_clears(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (_, site) = hub.tenant("R", "spool-site").await;
    let collector = hub.collector(site).await;
    let with_report = |full: bool, seq: u64| {
        let mut p = payload(vec![report("SPOOL-P1", &[], seq, seq)]);
        p.collector = Some(ppu_protocol::model::CollectorReport {
            spool_entries: if full { 42 } else { 0 },
            spool_bytes: if full { 64 << 20 } else { 0 },
            spool_full: full,
            ..Default::default()
        });
        p
    };
    let spool_alerts = |v: &Value| -> Vec<Value> {
        v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["code"] == "collector_spool_full")
            .cloned()
            .collect()
    };
    // A normal upload raises nothing.
    let (s, _, _) = hub
        .post_envelope(collector.seal(&with_report(false, 1)))
        .await;
    assert_eq!(s, 200);
    let (_, list) = hub
        .admin_get(&format!("/api/v1/alerts?site={site}&state=open"))
        .await;
    assert!(spool_alerts(&list).is_empty(), "{list}");
    // The first upload after an outage that filled the spool says so.
    let (s, _, _) = hub
        .post_envelope(collector.seal(&with_report(true, 2)))
        .await;
    assert_eq!(s, 200);
    let (_, list) = hub
        .admin_get(&format!("/api/v1/alerts?site={site}&state=open"))
        .await;
    let open = spool_alerts(&list);
    assert_eq!(open.len(), 1, "{list}");
    assert_eq!(open[0]["severity"], "major", "{list}");
    assert!(
        open[0]["message"]
            .as_str()
            .unwrap()
            .contains("42 envelopes"),
        "{list}"
    );
    // Drained: the next report without the flag clears it.
    let (s, _, _) = hub
        .post_envelope(collector.seal(&with_report(false, 3)))
        .await;
    assert_eq!(s, 200);
    let (_, list) = hub
        .admin_get(&format!("/api/v1/alerts?site={site}&state=open"))
        .await;
    assert!(spool_alerts(&list).is_empty(), "{list}");
    let (_, list) = hub
        .admin_get(&format!("/api/v1/alerts?site={site}&state=cleared"))
        .await;
    assert_eq!(spool_alerts(&list).len(), 1, "{list}");
}

on_both_backends!(
    device_alerts_are_observed_before_they_are_stored,
    collector_spool_full_is_said_on_reconnect_and_clears,
    collector_offline_raises_and_clears,
    boot_alert_reaches_sse_and_webhook,
    repeats_count_and_lifecycle,
    reconnect_with_last_event_id_gets_exactly_the_missed_events,
    a_stalled_client_slows_nobody,
    stopped_reporting_raises_and_clears,
);
