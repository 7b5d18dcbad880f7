//! Direct-connected printers against a tiny scripted HTTP server standing in
//! for the hub: failed uploads are retried in order with the same bytes and
//! never dropped; refusals are kept aside; stale envelopes are re-sealed with
//! the same batch id; every generated job arrives exactly once.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use ppu_protocol::envelope::{self, Limits};
use ppu_protocol::{Payload, Timestamp, UploadTrigger};
use ppu_sim::device::DeviceOptions;
use ppu_sim::direct::{DirectFleet, DirectPrinter};
use ppu_sim::firmware::{Backoff, FirmwarePolicy};
use ppu_sim::models::ModelId;
use ppu_sim::upload::{HubClient, printer_keys};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "s3cret-from-registration-0123456789abcdef";

/// How the fake hub answers one request.
#[derive(Debug, Clone)]
enum Reply {
    /// Status, optional Retry-After seconds, JSON error code (for non-200).
    Status(u16, Option<u64>, &'static str),
    /// Close the connection without answering (network error).
    Drop,
}

#[derive(Debug, Default)]
struct FakeHub {
    /// Scripted replies; once empty every request gets 200.
    script: VecDeque<Reply>,
    /// Every request body, with the reply given, in arrival order.
    received: Vec<(Vec<u8>, String, tokio::time::Instant)>,
}

async fn start_fake_hub(script: Vec<Reply>) -> (String, Arc<Mutex<FakeHub>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hub = Arc::new(Mutex::new(FakeHub {
        script: script.into(),
        received: Vec::new(),
    }));
    let state = Arc::clone(&hub);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(connection(stream, Arc::clone(&state)));
        }
    });
    (url, hub)
}

/// Serve HTTP/1.1 requests on one connection (keep-alive) by the script.
async fn connection(mut stream: TcpStream, state: Arc<Mutex<FakeHub>>) {
    let mut buf = Vec::new();
    loop {
        // Read the head.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 65536];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        let reply = {
            let mut s = state.lock().unwrap();
            let reply = s.script.pop_front().unwrap_or(Reply::Status(200, None, ""));
            s.received.push((
                body.clone(),
                format!("{reply:?}"),
                tokio::time::Instant::now(),
            ));
            reply
        };
        let (status, retry_after, code) = match reply {
            Reply::Drop => return,
            Reply::Status(s, r, c) => (s, r, c),
        };
        let json = if status == 200 {
            format!(r#"{{"upload_id":"{:x}","duplicate":false}}"#, body.len())
        } else {
            format!(r#"{{"error":{{"code":"{code}","message":"scripted"}}}}"#)
        };
        let retry = retry_after
            .map(|s| format!("retry-after: {s}\r\n"))
            .unwrap_or_default();
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{retry}\r\n{json}",
            json.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2024, 6, 3, 6, 0, 0).unwrap()
}

fn printer(serial: &str, seed: u64) -> DirectPrinter {
    let options = DeviceOptions {
        job_rate: 2.0,
        boot_alert_probability: 1.0,
        ..DeviceOptions::default()
    };
    let mut p = DirectPrinter::new(
        ModelId::T1500,
        serial,
        SECRET,
        seed,
        t0(),
        options,
        FirmwarePolicy::default(),
    );
    p.set_backoff(Backoff::new(
        Duration::from_millis(5),
        Duration::from_millis(40),
        seed,
    ));
    p
}

/// Decode the bodies the fake hub answered 200, in arrival order.
fn delivered_payloads(hub: &FakeHub, serial: &str) -> Vec<Payload> {
    let keys = printer_keys(SECRET, serial);
    hub.received
        .iter()
        .filter(|(_, reply, _)| reply.contains("200"))
        .filter(|(body, _, _)| {
            envelope::peek_header(body, &Limits::default())
                .expect("a header")
                .sender_id
                == serial
        })
        .map(|(body, _, _)| {
            let (_, payload) =
                envelope::open(body, &keys, &Limits::default()).expect("a valid envelope");
            payload
        })
        .collect()
}

#[tokio::test]
async fn failed_uploads_are_retried_in_order_with_the_same_bytes_and_never_dropped() {
    let script = vec![
        Reply::Status(503, Some(0), "busy"),
        Reply::Status(500, None, "internal"),
        Reply::Drop,
        Reply::Status(429, None, "slow_down"),
        Reply::Status(502, None, "gateway"),
    ];
    let (url, fake) = start_fake_hub(script).await;
    let hub = HubClient::new(&url, None).unwrap();
    let serial = "CN1RETRY01";
    let mut fleet = DirectFleet::new(vec![printer(serial, 31)], hub, t0());
    fleet
        .run_until(t0() + TimeDelta::days(3), TimeDelta::minutes(20))
        .await;
    // End of the run: the firmware hands over what its triggers have not sent yet.
    fleet.upload_pending();
    let left = fleet.drain(Duration::from_secs(10)).await;
    assert_eq!(left, 0, "everything delivered in the end");

    let p = fleet.printers().next().unwrap();
    let stats = p.stats();
    assert!(p.rejected().is_empty());
    assert_eq!(stats.delivered, stats.produced, "nothing dropped");
    assert_eq!(stats.retries, 5);

    let hub = fake.lock().unwrap();
    // The first envelope was attempted six times, always as the same bytes.
    let first = &hub.received[0].0;
    assert!(
        hub.received[..6].iter().all(|(b, _, _)| b == first),
        "retries resend the same bytes"
    );
    assert!(hub.received[6..].iter().all(|(b, _, _)| b != first));

    let payloads = delivered_payloads(&hub, serial);
    assert_eq!(payloads.len() as u64, stats.produced);
    assert_eq!(
        payloads[0].trigger,
        UploadTrigger::Boot,
        "the boot alert goes first"
    );
    let batches: HashSet<_> = payloads.iter().map(|p| p.batch_id).collect();
    assert_eq!(batches.len(), payloads.len());
    assert!(
        payloads
            .windows(2)
            .all(|w| w[0].generated_at <= w[1].generated_at),
        "delivered in order"
    );
    let uploaded: Vec<_> = payloads
        .iter()
        .flat_map(|p| &p.printers)
        .flat_map(|r| {
            r.print_jobs
                .iter()
                .map(|j| j.job.uuid)
                .chain(r.scan_jobs.iter().map(|j| j.job.uuid))
                .chain(r.copy_jobs.iter().map(|j| j.job.uuid))
        })
        .collect();
    assert_eq!(
        uploaded,
        p.job_uuids(),
        "every generated job exactly once, in order"
    );
    assert!(uploaded.len() > 100);
    // The last upload is the manual one and carries the device's final counters.
    let last = payloads.last().unwrap();
    assert_eq!(last.trigger, UploadTrigger::Manual);
    assert_eq!(last.printers[0].counters.as_ref(), Some(&p.counters()));
}

#[tokio::test]
async fn realtime_driver_runs_against_an_accelerated_clock_and_delivers_everything() {
    let (url, fake) = start_fake_hub(vec![Reply::Status(503, Some(0), "busy")]).await;
    let hub = HubClient::new(&url, None).unwrap();
    let serials = ["CN1REAL001", "CN1REAL002"];
    let printers = serials
        .iter()
        .enumerate()
        .map(|(i, s)| printer(s, 200 + i as u64))
        .collect();
    let mut fleet = DirectFleet::new(printers, hub, t0());
    // Ten simulated days per real second; stop after two simulated days.
    let clock = ppu_sim::clock::AcceleratedClock::new(t0(), 864_000.0);
    let end = t0() + TimeDelta::days(2);
    fleet
        .run_realtime(
            &clock,
            Duration::from_millis(5),
            Some(end),
            Duration::from_secs(5),
            std::future::pending(),
        )
        .await;
    assert_eq!(fleet.now(), end);
    let summary = fleet.summary();
    assert_eq!(summary.queued, 0);
    assert_eq!(summary.uploads.delivered, summary.uploads.produced);
    let hub = fake.lock().unwrap();
    for (serial, p) in serials.iter().zip(fleet.printers()) {
        let jobs: usize = delivered_payloads(&hub, serial)
            .iter()
            .map(Payload::job_count)
            .sum();
        assert_eq!(jobs, p.job_uuids().len(), "{serial}: every job delivered");
    }
}

#[tokio::test]
async fn refusals_are_kept_aside_and_stale_envelopes_are_resealed_with_the_same_batch() {
    let script = vec![
        Reply::Status(422, None, "stale_timestamp"),
        Reply::Status(400, None, "malformed_payload"),
        Reply::Status(503, Some(1), "busy"),
    ];
    let (url, fake) = start_fake_hub(script).await;
    let hub = HubClient::new(&url, None).unwrap();
    let serial = "CN1REJECT1";
    let mut fleet = DirectFleet::new(vec![printer(serial, 32)], hub, t0());
    fleet
        .run_until(t0() + TimeDelta::hours(12), TimeDelta::minutes(30))
        .await;
    assert_eq!(fleet.drain(Duration::from_secs(10)).await, 0);
    let p = fleet.printers().next().unwrap();
    let stats = p.stats();
    assert_eq!(stats.reseals, 1);
    assert_eq!(stats.rejected, 1);
    assert_eq!(
        p.rejected().len(),
        1,
        "the refused upload is kept, not dropped"
    );
    assert_eq!(p.rejected()[0].status, 400);
    assert!(p.rejected()[0].reason.contains("malformed_payload"));
    assert_eq!(stats.delivered + stats.rejected, stats.produced);

    let hub = fake.lock().unwrap();
    let keys = printer_keys(SECRET, serial);
    let open = |i: usize| {
        envelope::open(&hub.received[i].0, &keys, &Limits::default())
            .unwrap()
            .1
    };
    // Attempt 1 was stale; attempt 2 is the same payload sealed again: new bytes, same batch.
    assert_ne!(hub.received[0].0, hub.received[1].0);
    assert_eq!(open(0), open(1));
    // Attempt 2 was refused for good; attempt 3 is the next upload, refused with 503 and
    // Retry-After: 1, so attempt 4 repeats its bytes no earlier than a second later.
    assert_ne!(open(1).batch_id, open(2).batch_id);
    assert_eq!(hub.received[2].0, hub.received[3].0);
    let waited = hub.received[3].2 - hub.received[2].2;
    assert!(
        waited >= Duration::from_millis(950),
        "retry-after honoured: {waited:?}"
    );
}

#[tokio::test]
async fn many_printers_flush_concurrently_and_each_keeps_its_own_order() {
    let script = (0..6)
        .map(|_| Reply::Status(503, Some(0), "busy"))
        .collect();
    let (url, fake) = start_fake_hub(script).await;
    let hub = HubClient::new(&url, None).unwrap();
    let serials: Vec<String> = (0..5).map(|i| format!("CN1MANY00{i}")).collect();
    let printers = serials
        .iter()
        .enumerate()
        .map(|(i, s)| printer(s, 100 + i as u64))
        .collect();
    let mut fleet = DirectFleet::new(printers, hub, t0());
    fleet
        .run_until(t0() + TimeDelta::days(2), TimeDelta::hours(1))
        .await;
    assert_eq!(fleet.drain(Duration::from_secs(10)).await, 0);
    let summary = fleet.summary();
    assert_eq!(summary.uploads.delivered, summary.uploads.produced);
    assert_eq!(summary.uploads.retries, 6);
    let hub = fake.lock().unwrap();
    for (serial, p) in serials.iter().zip(fleet.printers()) {
        let keys = printer_keys(SECRET, serial);
        let mine: Vec<Payload> = hub
            .received
            .iter()
            .filter(|(_, reply, _)| reply.contains("200"))
            .filter_map(|(b, _, _)| envelope::open(b, &keys, &Limits::default()).ok())
            .map(|(_, p)| p)
            .collect();
        assert_eq!(mine.len() as u64, p.stats().delivered);
        assert!(
            mine.windows(2)
                .all(|w| w[0].generated_at <= w[1].generated_at)
        );
    }
}
