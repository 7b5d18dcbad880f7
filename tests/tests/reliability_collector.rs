//! Reliability scenario 3 (RELIABILITY.md): the Data Collector is killed.
//!
//! 1. `spool_writes_survive_kill_9`: `ppu-spool-writer` (tests/src/bin) drives
//!    the collector's own spool (`ppu_collector::spool::Spool`: push before
//!    send, reseal + replace when stale, remove after the ack) against a real
//!    hub and is `kill -9`ed at random moments, many times. Then two spooled
//!    entries that the hub never got are damaged on purpose (a flipped byte,
//!    a torn half-file) and the spool is drained. Afterwards: every pushed
//!    batch is at the hub exactly once with all its jobs; a batch whose push
//!    was cut short is there whole or not at all; nothing else is there; the
//!    damaged entries were never sent (no 4xx from the hub, ever) and sit in
//!    `spool/corrupt/`.
//! 2. `collector_binary_kill_9_and_no_listening_socket`: the real
//!    `ppu-collector` binary, enrolled with a one-time code, reads simulated
//!    LEDM printers and uploads to the hub; while it runs it has no listening
//!    socket (its /proc fds against /proc/net/tcp*); it is `kill -9`ed at
//!    random moments while the printers keep printing; a final
//!    `run --once` then delivers the rest, and the hub holds every job of
//!    every printer exactly once. Its `RUST_LOG=debug` log holds neither its
//!    keys nor the enrollment code.
//!
//! Short mode: 12 kills of the spool writer, 5 of the collector.
//! Long mode (`PPU_RELIABILITY_MODE=long`): 50 and 20.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{EntityTrait, QuerySelect};
use serde_json::{Value, json};
use support::*;
use uuid::Uuid;

fn long_mode() -> bool {
    std::env::var("PPU_RELIABILITY_MODE").as_deref() == Ok("long")
}

/// xorshift, seeded from the clock or PPU_RELIABILITY_SEED.
struct Rng(u64);
impl Rng {
    fn from_env(what: &str) -> Self {
        let seed = std::env::var("PPU_RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64);
        eprintln!("[{what}] PPU_RELIABILITY_SEED={seed}");
        Rng(seed.max(1))
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

async fn admin_post(hub: &TestHub, path: &str, body: Value) -> Value {
    let r = hub
        .http
        .post(format!("{}{path}", hub.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(s.is_success(), "POST {path}: {s} {v}");
    v
}

/// Batch id -> its jobs' UUIDs, as stored by the hub.
async fn stored_batches(hub: &TestHub) -> (BTreeMap<String, BTreeSet<Uuid>>, Vec<String>, i64) {
    let db = hub.db().await;
    let uploads: Vec<(i64, String)> = ppu_entities::upload::Entity::find()
        .select_only()
        .column(ppu_entities::upload::Column::Id)
        .column(ppu_entities::upload::Column::BatchId)
        .into_tuple()
        .all(&db)
        .await
        .unwrap();
    let jobs: Vec<(Uuid, i64)> = ppu_entities::job::Entity::find()
        .select_only()
        .column(ppu_entities::job::Column::Uuid)
        .column(ppu_entities::job::Column::UploadId)
        .into_tuple()
        .all(&db)
        .await
        .unwrap();
    let by_id: BTreeMap<i64, String> = uploads.iter().cloned().collect();
    let mut out: BTreeMap<String, BTreeSet<Uuid>> = BTreeMap::new();
    let mut batch_rows = Vec::new();
    for (_, b) in &uploads {
        out.entry(b.clone()).or_default();
        batch_rows.push(b.clone());
    }
    for (u, up) in &jobs {
        out.entry(by_id[up].clone()).or_default().insert(*u);
    }
    (out, batch_rows, jobs.len() as i64)
}

/// Run the writer until killed (after `kill_after`) or until it exits; its ledger lines.
fn run_writer(args: &[String], secret: &str, kill_after: Option<Duration>) -> (Vec<String>, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ppu-spool-writer"))
        .args(args)
        .env("PPU_SPOOL_WRITER_SECRET", secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ppu-spool-writer");
    let out = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        })
    };
    let killed = match kill_after {
        Some(d) => {
            std::thread::sleep(d);
            child.kill().is_ok()
        }
        None => false,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "ppu-spool-writer did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    reader.join().unwrap();
    let lines = lines.lock().unwrap().clone();
    (lines, killed)
}

#[actix_rt::test]
async fn spool_writes_survive_kill_9() {
    let started = Instant::now();
    let kills = if long_mode() { 50 } else { 12 };
    let mut rng = Rng::from_env("spool");
    let hub = TestHub::start(Backend::Sqlite).await;
    let r = admin_post(&hub, "/api/v1/resellers", json!({"name": "Spool R"})).await;
    let site = admin_post(
        &hub,
        "/api/v1/sites",
        json!({"reseller_id": r["id"], "account_name": "spool-site"}),
    )
    .await;
    let col = admin_post(&hub, "/api/v1/collectors", json!({"site_id": site["id"]})).await;
    let secret = col["secret"].as_str().unwrap().to_owned();
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let cert = hub.data_dir.join("tls-cert.pem");
    let args = |drain: bool, seed: u64| -> Vec<String> {
        let mut a = vec![
            "--spool".into(),
            spool.display().to_string(),
            "--hub".into(),
            hub.base.clone(),
            "--hub-ca".into(),
            cert.display().to_string(),
            "--sender-id".into(),
            col["sender_id"].as_str().unwrap().into(),
            "--serials".into(),
            "SPOOL-1,SPOOL-2,SPOOL-3".into(),
            "--reseal-after-ms".into(),
            "300".into(),
            "--seed".into(),
            seed.to_string(),
        ];
        if drain {
            a.push("--drain".into());
        }
        a
    };

    let mut ledger: Vec<String> = Vec::new();
    let mut kills_mid_write = 0;
    for k in 0..kills {
        let a = args(false, k + 1);
        let s = secret.clone();
        let wait = Duration::from_millis(rng.range(80, 1500));
        let (lines, killed) = tokio::task::spawn_blocking(move || run_writer(&a, &s, Some(wait)))
            .await
            .unwrap();
        assert!(killed, "the writer exited by itself: {lines:?}");
        ledger.extend(lines);
        // A temporary file left behind: the kill landed inside an atomic write.
        let tmp_files = std::fs::read_dir(&spool)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                    .count()
            })
            .unwrap_or(0);
        if tmp_files > kills_mid_write {
            kills_mid_write = tmp_files;
        }
    }

    // Damage two spooled entries the hub has not stored (disk damage, a torn write).
    let (at_hub, _, _) = stored_batches(&hub).await;
    let mut damaged = BTreeSet::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "env"))
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let batch = name
            .trim_end_matches(".env")
            .split_once('-')
            .map(|(_, b)| b.to_owned())
            .unwrap();
        if at_hub.contains_key(&batch) || damaged.len() == 2 {
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        if damaged.is_empty() {
            let i = bytes.len() - 40;
            bytes[i] ^= 0x20;
        } else {
            bytes.truncate(bytes.len() / 2);
        }
        std::fs::write(&path, bytes).unwrap();
        damaged.insert(batch);
    }

    // Drain.
    let a = args(true, 9999);
    let s = secret.clone();
    let (lines, _) = tokio::task::spawn_blocking(move || run_writer(&a, &s, None))
        .await
        .unwrap();
    assert!(
        lines.iter().any(|l| l == "DRAINED"),
        "the drain did not finish: {lines:?}"
    );
    ledger.extend(lines);

    // The ledger.
    let mut will: BTreeMap<String, BTreeSet<Uuid>> = BTreeMap::new();
    let mut pushed = BTreeSet::new();
    let mut acked = BTreeSet::new();
    let mut refused = Vec::new();
    for l in &ledger {
        let mut w = l.splitn(3, ' ');
        match (w.next(), w.next(), w.next()) {
            (Some("WILL"), Some(b), Some(u)) => {
                will.insert(
                    b.to_owned(),
                    u.split(',').map(|x| x.parse().unwrap()).collect(),
                );
            }
            (Some("PUSHED"), Some(b), _) => {
                pushed.insert(b.to_owned());
            }
            (Some("ACKED"), Some(b), _) => {
                acked.insert(b.to_owned());
            }
            (Some("REFUSED"), _, _) => refused.push(l.clone()),
            _ => {}
        }
    }
    let (at_hub, rows, jobs_rows) = stored_batches(&hub).await;
    let mut errors = Vec::new();
    if !refused.is_empty() {
        errors.push(format!(
            "the hub refused envelopes (a damaged entry was sent?): {refused:?}"
        ));
    }
    let distinct_rows: BTreeSet<&String> = rows.iter().collect();
    if distinct_rows.len() != rows.len() {
        errors.push(format!(
            "{} batches stored twice",
            rows.len() - distinct_rows.len()
        ));
    }
    let mut lost = 0;
    for b in &pushed {
        if damaged.contains(b) {
            continue;
        }
        match at_hub.get(b) {
            Some(jobs) if jobs == &will[b] => {}
            Some(jobs) => errors.push(format!(
                "batch {b}: {} jobs stored, {} pushed",
                jobs.len(),
                will[b].len()
            )),
            None => lost += 1,
        }
    }
    if lost > 0 {
        errors.push(format!(
            "{lost} pushed batches never reached the hub (LOST)"
        ));
    }
    let in_doubt: Vec<&String> = will.keys().filter(|b| !pushed.contains(*b)).collect();
    let mut in_doubt_delivered = 0;
    for b in &in_doubt {
        if let Some(jobs) = at_hub.get(*b) {
            in_doubt_delivered += 1;
            if jobs != &will[*b] {
                errors.push(format!("batch {b} (push cut short) stored partially"));
            }
        }
    }
    for b in at_hub.keys() {
        if !will.contains_key(b) {
            errors.push(format!("batch {b} at the hub was never written"));
        }
    }
    for b in &damaged {
        if at_hub.contains_key(b) {
            errors.push(format!("damaged batch {b} reached the hub"));
        }
        let aside = std::fs::read_dir(spool.join("corrupt"))
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().contains(b.as_str()))
            })
            .unwrap_or(false);
        if !aside {
            errors.push(format!("damaged batch {b} is not in spool/corrupt"));
        }
    }
    let expected_jobs: usize = at_hub
        .keys()
        .map(|b| will.get(b).map_or(0, BTreeSet::len))
        .sum();
    if jobs_rows != expected_jobs as i64 {
        errors.push(format!(
            "jobs table has {jobs_rows} rows, the delivered batches {expected_jobs} jobs"
        ));
    }
    let left: Vec<String> = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".env"))
        .collect();
    if !left.is_empty() {
        errors.push(format!(
            "entries left in the spool after the drain: {left:?}"
        ));
    }
    let tmp_left = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    if tmp_left > 0 {
        errors.push(format!(
            "{tmp_left} temporary files of interrupted writes are still in the spool after it was opened again"
        ));
    }
    eprintln!(
        "[spool] RESULT kills={kills} batches written={} pushed={} acked-lines={} at-hub={} jobs-at-hub={jobs_rows} push-cut-short={} (of which delivered whole {in_doubt_delivered}) damaged-on-purpose={} lost={lost} duplicates={} refused={} tmp-files-left={tmp_left} (max seen after a kill {kills_mid_write}) elapsed={:?} errors={}",
        will.len(),
        pushed.len(),
        acked.len(),
        at_hub.len(),
        in_doubt.len(),
        damaged.len(),
        rows.len() - distinct_rows.len(),
        refused.len(),
        started.elapsed(),
        errors.len()
    );
    assert!(pushed.len() > 20, "too little written to mean anything");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

// ---------------------------------------------------------------------------
// The real collector binary
// ---------------------------------------------------------------------------

/// `ppu-collector` next to this test's binary (target/<profile>/), built by
/// `cargo test` of the workspace or `cargo build -p ppu-collector`.
fn collector_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let p = dir.join("ppu-collector");
    p.exists().then_some(p)
}

/// Socket inodes of `pid` that are in state LISTEN (TCP) or bound without a
/// peer (UDP), from /proc.
fn listening_sockets(pid: u32) -> Vec<String> {
    let mut inodes = BTreeSet::new();
    if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let t = target.to_string_lossy();
                if let Some(i) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                    inodes.insert(i.to_owned());
                }
            }
        }
    }
    let mut found = Vec::new();
    for (table, listen_state) in [("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && f[3] == listen_state && inodes.contains(f[9]) {
                let remote_unset = f[2].ends_with(":0000");
                if table.starts_with("tcp") || remote_unset {
                    found.push(format!("{table} {} (inode {})", f[1], f[9]));
                }
            }
        }
    }
    found
}

async fn upload_count(hub: &TestHub) -> usize {
    let db = hub.db().await;
    ppu_entities::upload::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .len()
}

struct CollectorProc {
    child: Child,
}

impl Drop for CollectorProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[actix_rt::test]
async fn collector_binary_kill_9_and_no_listening_socket() {
    use ppu_protocol::collector_config::{CollectorConfig, Scheme, Target};
    use ppu_sim::ledm::{LedmServer, LedmServerConfig, SharedPrinter};
    use ppu_sim::{ModelId, VirtualPrinter};

    let Some(bin) = collector_binary() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("ppu-collector is not built next to the tests (cargo build -p ppu-collector)");
        }
        eprintln!(
            "\n!!! SKIPPING: ppu-collector binary not built (cargo build -p ppu-collector)\n"
        );
        return;
    };
    let started = Instant::now();
    let kills = if long_mode() { 20 } else { 5 };
    let mut rng = Rng::from_env("collector");
    let hub = TestHub::start(Backend::Sqlite).await;
    let cert = hub.data_dir.join("tls-cert.pem");
    let account = "rel-collector-site";
    let r = admin_post(&hub, "/api/v1/resellers", json!({"name": "Collector R"})).await;
    let site = admin_post(
        &hub,
        "/api/v1/sites",
        json!({"reseller_id": r["id"], "account_name": account}),
    )
    .await;
    let code = admin_post(
        &hub,
        &format!("/api/v1/sites/{}/enrollment-codes", site["id"]),
        json!({}),
    )
    .await["code"]
        .as_str()
        .unwrap()
        .to_owned();

    // Printers that have been busy for a day, on their LEDM web servers.
    let now = chrono::Utc::now();
    let printers: Vec<SharedPrinter> = [
        (ModelId::T920, "CNREL00001"),
        (ModelId::Z6200, "CNREL00002"),
        (ModelId::T920, "CNREL00003"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (m, s))| {
        let mut p = VirtualPrinter::new(*m, *s, 100 + i as u64);
        p.boot(now - chrono::Duration::days(1));
        p.advance(now);
        Arc::new(Mutex::new(p))
    })
    .collect();
    let server = LedmServer::start(
        printers.clone(),
        LedmServerConfig {
            workers: 1,
            ..LedmServerConfig::default()
        },
    )
    .await
    .expect("ledm server");
    let ports: Vec<u16> = server.endpoints().iter().map(|e| e.addr.port()).collect();

    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let log = tmp.path().join("collector.log");
    let hub_url = hub.base.clone();
    let enroll = Command::new(&bin)
        .args([
            "enroll",
            "--hub",
            &hub_url,
            "--account",
            account,
            "--code",
            &code,
        ])
        .arg("--hub-ca")
        .arg(&cert)
        .arg("--state-dir")
        .arg(&state)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(
        enroll.status.success(),
        "enroll: {}",
        String::from_utf8_lossy(&enroll.stderr)
    );
    let mut config = CollectorConfig::new(account, hub_url.clone());
    config.hub_ca_file = Some(cert.display().to_string());
    config.targets = vec![Target {
        address: "127.0.0.1".into(),
        ports,
        scheme: Scheme::LedmHttps,
        tls: None,
    }];
    let config_path = tmp.path().join("collector.toml");
    std::fs::write(&config_path, config.to_toml_string()).unwrap();
    let spawn = |once: bool| -> CollectorProc {
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut cmd = Command::new(&bin);
        cmd.arg("run")
            .arg("--config")
            .arg(&config_path)
            .arg("--state-dir")
            .arg(&state)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::from(logf.try_clone().unwrap()))
            .stderr(Stdio::from(logf));
        if once {
            cmd.arg("--once");
        }
        CollectorProc {
            child: cmd.spawn().unwrap(),
        }
    };
    let mut errors = Vec::new();
    let mut socket_checks = 0;
    for k in 0..kills {
        let mut proc = spawn(false);
        let pid = proc.child.id();
        // Check its sockets a few times while it polls and uploads.
        let until = Instant::now() + Duration::from_millis(rng.range(300, 2500));
        while Instant::now() < until {
            let l = listening_sockets(pid);
            socket_checks += 1;
            if !l.is_empty() {
                errors.push(format!("the collector (pid {pid}) listens: {l:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = proc.child.kill();
        let _ = proc.child.wait();
        eprintln!(
            "[collector] kill -9 #{} after {:?}: {} uploads at the hub",
            k + 1,
            started.elapsed(),
            upload_count(&hub).await
        );
        // The printers keep printing while the collector is down.
        let later = chrono::Utc::now() + chrono::Duration::hours(3 * (k as i64 + 1));
        for p in &printers {
            ppu_sim::ledm::server::lock(p).advance(later);
        }
    }
    // A final cycle delivers everything that is left.
    let mut last = spawn(true);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(s) = last.child.try_wait().unwrap() {
            if !s.success() {
                errors.push(format!("run --once exited with {s}"));
            }
            break;
        }
        if Instant::now() > deadline {
            errors.push("run --once did not finish in 180 s".into());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(last);

    // Every job of every printer at the hub, exactly once.
    let db = hub.db().await;
    let stored: Vec<Uuid> = ppu_entities::job::Entity::find()
        .select_only()
        .column(ppu_entities::job::Column::Uuid)
        .into_tuple()
        .all(&db)
        .await
        .unwrap();
    let stored_set: BTreeSet<Uuid> = stored.iter().copied().collect();
    let mut printed = BTreeSet::new();
    for p in &printers {
        for j in ppu_sim::ledm::server::lock(p).job_log() {
            printed.insert(j.identity().uuid);
        }
    }
    let missing = printed.difference(&stored_set).count();
    let extra = stored_set.difference(&printed).count();
    if missing > 0 {
        errors.push(format!(
            "{missing} of {} printed jobs are not at the hub (LOST)",
            printed.len()
        ));
    }
    if extra > 0 {
        errors.push(format!("{extra} jobs at the hub were never printed"));
    }
    if stored.len() != stored_set.len() {
        errors.push(format!(
            "{} job rows duplicated",
            stored.len() - stored_set.len()
        ));
    }
    let spool_dir = state.join("spool");
    for sub in ["corrupt", "rejected"] {
        if let Ok(d) = std::fs::read_dir(spool_dir.join(sub)) {
            let names: Vec<String> = d
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            if !names.is_empty() {
                errors.push(format!("spool/{sub} holds {names:?}"));
            }
        }
    }
    let left = std::fs::read_dir(&spool_dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".env"))
                .count()
        })
        .unwrap_or(0);
    if left > 0 {
        errors.push(format!("{left} envelopes still spooled after run --once"));
    }
    // Its log holds neither the enrollment code nor its keys.
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let creds: Value = serde_json::from_str(
        &std::fs::read_to_string(state.join("credentials.json")).unwrap_or_default(),
    )
    .unwrap_or(Value::Null);
    let mut secrets = vec![("enrollment code".to_owned(), code.clone())];
    if let Value::Object(m) = &creds {
        for (k, v) in m {
            if let Some(s) = v.as_str()
                && (k.contains("key") || k.contains("secret"))
                && s.len() >= 16
            {
                secrets.push((format!("credentials.json {k}"), s.to_owned()));
            }
        }
    }
    for (what, s) in &secrets {
        if text.contains(s.as_str()) {
            errors.push(format!(
                "the collector's log (RUST_LOG=debug) holds its {what}"
            ));
        }
    }
    if text.contains("panicked") {
        errors.push("the collector panicked (see its log)".into());
    }
    eprintln!(
        "[collector] RESULT kills={kills} printed-jobs={} at-hub={} missing={missing} extra={extra} duplicates={} socket-checks={socket_checks} secrets-searched={} log-lines={} elapsed={:?} errors={}",
        printed.len(),
        stored_set.len(),
        stored.len() - stored_set.len(),
        secrets.len(),
        text.lines().count(),
        started.elapsed(),
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "{}\n--- collector log tail ---\n{}",
        errors.join("\n"),
        text.lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
