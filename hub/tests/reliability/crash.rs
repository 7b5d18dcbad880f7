//! Reliability scenario 1 (RELIABILITY.md): `kill -9` of the real `ppu-hub`
//! binary at random moments under load, restarting each time.
//!
//! Collectors and direct printers upload continuously, one upload in flight
//! each, following PROTOCOL.md section 8 (same bytes after a lost answer, a
//! 503 or a 5xx; the same payload sealed again with the same batch id after
//! `stale_timestamp`, which the short timestamp window makes frequent). The
//! senders keep their own ledger of acknowledged uploads and jobs. The hub
//! is killed at random moments (some while it is still starting). Afterwards
//! every acknowledged job must be stored exactly once, nothing unacknowledged
//! may be stored, and the printer, site and reseller views and the billing
//! totals must equal a recount from the ledger, before and after one more
//! `kill -9`.
//!
//! Short mode: 5 kills per backend; long mode (`PPU_RELIABILITY_MODE=long`): 20.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::support::*;

async fn kill_9_at_random_moments(backend: Backend) {
    let kills = match mode() {
        Mode::Short => 5,
        Mode::Long => 20,
    };
    let started = Instant::now();
    let mut rng = Rng::from_env("crash");
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = HubOptions::new(tmp.path(), &backend);
    // A short window so that envelopes that waited through a crash go stale
    // and are sealed again with the same batch id.
    opts.extra_args = vec!["--timestamp-window-secs".into(), "4".into()];
    opts.config_toml =
        "[actors]\nsnapshot_interval_secs = 1\ningest_queue = 64\nmax_batch = 16\n".into();
    let mut hub = HubProcess::start(opts).await;
    let c = hub.client();
    let (reseller, sites, senders) = provision(&c, &hub.base, "crash", 2, 3, 2).await;

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let switches = Arc::new(Switches::default());
    let load_client = client(&hub.cert, Duration::from_secs(10));
    let tasks = start_load(
        &senders,
        &load_client,
        &hub.url("/api/v1/ingest"),
        &ledger,
        &switches,
        &mut rng,
        SenderPolicy {
            stale_after_loss: Some(Duration::from_millis(4500)),
            ..SenderPolicy::default()
        },
    );

    let mut during_startup = 0;
    for k in 0..kills {
        // A random moment under load.
        tokio::time::sleep(Duration::from_millis(rng.range(300, 2500))).await;
        let before = ledger.lock().unwrap().batches.len();
        hub.kill9();
        eprintln!(
            "[crash] kill -9 #{} after {:?} ({before} batches acknowledged so far)",
            k + 1,
            started.elapsed()
        );
        if k % 4 == 2 {
            // Also kill it while it starts (migrations, hydration, first commits).
            hub.respawn();
            tokio::time::sleep(Duration::from_millis(rng.range(20, 600))).await;
            hub.kill9();
            during_startup += 1;
        }
        hub.restart().await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop_load(&switches, tasks).await;

    let ledger = Arc::try_unwrap(ledger).unwrap().into_inner().unwrap();
    eprintln!("[crash] {}", ledger.summary());
    assert!(
        ledger.batches.len() > 20 && ledger.jobs() > 50,
        "too little load to mean anything: {}",
        ledger.summary()
    );

    let mut errors = Vec::new();
    errors.extend(ledger.other_5xx.iter().map(|e| format!("other 5xx: {e}")));
    errors.extend(ledger.inconsistent.iter().cloned());
    errors.extend(
        check_api_eventually(
            &c,
            &hub.base,
            reseller,
            &sites,
            &ledger,
            Duration::from_secs(20),
        )
        .await,
    );
    let (db_errors, db_summary) = check_database(&hub.db().await, &ledger).await;
    errors.extend(db_errors);

    // Once more: the views rebuilt from snapshots and records after a kill.
    hub.kill9();
    hub.restart().await;
    let c = hub.client();
    errors.extend(
        check_api_eventually(
            &c,
            &hub.base,
            reseller,
            &sites,
            &ledger,
            Duration::from_secs(10),
        )
        .await
        .into_iter()
        .map(|e| format!("after the final kill -9: {e}")),
    );
    let panics = hub.panics();
    errors.extend(panics.iter().map(|p| format!("hub log: {p}")));
    eprintln!(
        "[crash] RESULT backend={} kills={} (of which {} also during startup) {} {} elapsed={:?} errors={}",
        match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        },
        kills + 1,
        during_startup,
        ledger.summary(),
        db_summary,
        started.elapsed(),
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "{} problems:\n{}\n{}",
        errors.len(),
        errors.join("\n"),
        hub.log_tail(40)
    );
}

crate::reliability_on_both_backends!(kill_9_at_random_moments);
