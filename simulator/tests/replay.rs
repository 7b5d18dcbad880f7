//! Resuming a fleet (`DirectPrinter::replay`): a printer replayed to where an
//! earlier run stopped is in the same state as the printer of that run, however
//! the run cut simulated time into steps, and continues with the same jobs and
//! counters but batch ids the earlier run never used. `ppu-hub demo` relies on
//! this to bring its printers back on every start.

use std::collections::HashSet;

use chrono::{TimeDelta, TimeZone, Utc};
use ppu_protocol::{Payload, Timestamp};
use ppu_sim::device::DeviceOptions;
use ppu_sim::direct::DirectPrinter;
use ppu_sim::firmware::FirmwarePolicy;
use ppu_sim::models::ModelId;

const SECRET: &str = "s3cret-from-registration-0123456789abcdef";

fn start() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
}

fn printer(model: ModelId, serial: &str) -> DirectPrinter {
    DirectPrinter::new(
        model,
        serial,
        SECRET,
        42,
        start(),
        DeviceOptions {
            // Boots with alerts and frequent power cycles exercise every path of the firmware.
            boot_alert_probability: 0.5,
            power_cycle_mean_days: 1.0,
            ..DeviceOptions::default()
        },
        FirmwarePolicy::default(),
    )
}

/// Advance `p` to `to` in uneven steps drawn from `steps` (cycled).
fn walk(p: &mut DirectPrinter, to: Timestamp, steps: &[i64]) {
    let mut now = p.device().lock().unwrap().now().max(start());
    let mut i = 0;
    while now < to {
        now = (now + TimeDelta::seconds(steps[i % steps.len()])).min(to);
        p.advance_to(now);
        i += 1;
    }
}

fn payloads(p: &DirectPrinter) -> Vec<Payload> {
    p.outbox().iter().map(|q| q.payload.clone()).collect()
}

fn without_batch_id(mut p: Payload) -> Payload {
    p.batch_id = uuid::Uuid::nil();
    p
}

#[test]
fn a_replayed_printer_continues_exactly_where_the_earlier_run_stopped() {
    let first_stop = start() + TimeDelta::hours(31) + TimeDelta::minutes(7);
    let second_stop = start() + TimeDelta::days(3) + TimeDelta::minutes(41);
    let checkpoint = start() + TimeDelta::days(4) + TimeDelta::hours(5);
    let end = start() + TimeDelta::days(6);
    for (model, serial) in [
        (ModelId::ALL[0], "CN00REPLAY"),
        (ModelId::ALL[ModelId::ALL.len() / 2], "SG00REPLAY"),
        (ModelId::ALL[ModelId::ALL.len() - 1], "MY00REPLAY"),
    ] {
        // The earlier runs: real-time ticks of varying length, two clean stops
        // (each sends what the firmware holds), then on past the checkpoint.
        let mut original = printer(model, serial);
        walk(&mut original, first_stop, &[7 * 60, 53 * 60, 200]);
        original.upload_pending();
        walk(&mut original, second_stop, &[3 * 3600 + 17, 61]);
        original.upload_pending();
        walk(&mut original, checkpoint, &[719]);
        let sent_before = original.outbox().len();
        walk(&mut original, end, &[600]);
        let original_payloads = payloads(&original);
        let (sent, continued) = original_payloads.split_at(sent_before);

        // The resumed run: replay to the checkpoint, then go on in other steps.
        let mut resumed = printer(model, serial);
        resumed.replay(&[first_stop, second_stop], checkpoint, 7);
        assert!(resumed.outbox().is_empty(), "{model}: replay sends nothing");
        walk(&mut resumed, end, &[1_800, 45]);
        let resumed_payloads = payloads(&resumed);

        assert!(
            continued.iter().any(|p| p.printers[0].counters.is_some()),
            "{model}: the test must cover usage uploads after the checkpoint"
        );
        assert_eq!(
            resumed_payloads.len(),
            continued.len(),
            "{model}: same uploads after the checkpoint"
        );
        for (r, c) in resumed_payloads.iter().zip(continued) {
            assert_eq!(
                without_batch_id(r.clone()),
                without_batch_id(c.clone()),
                "{model}: same content (trigger {:?})",
                c.trigger
            );
        }
        assert_eq!(
            resumed.job_uuids(),
            original.job_uuids(),
            "{model}: same jobs"
        );
        assert_eq!(
            resumed.counters(),
            original.counters(),
            "{model}: same counters"
        );
        let earlier: HashSet<_> = sent.iter().map(|p| p.batch_id).collect();
        assert!(
            resumed_payloads
                .iter()
                .all(|p| !earlier.contains(&p.batch_id)),
            "{model}: a resumed run never reuses an earlier batch id"
        );
    }
}
