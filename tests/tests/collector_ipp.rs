//! Acceptance against a real IPP Everywhere printer: CUPS' `ippeveprinter`
//! (Debian `cups-ipp-utils`, installed by `scripts/peers.sh`), started by the
//! test on a free port with a DesignJet attribute file. Jobs are printed into
//! it with `ipptool`, each with its own account id; the collector's upload
//! lands in a real hub with the printer's serial number, firmware, supplies
//! and every job exactly once.
//!
//! With `CI=true` a missing peer fails the test; elsewhere the test is
//! skipped with a loud message.

mod collector_support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use collector_support::*;
use ppu_collector::Collector;
use ppu_collector::clock::SystemClock;
use ppu_collector::state::StateDir;
use ppu_protocol::collector_config::{Scheme, Target};

const ACCOUNT: &str = "acme-ipp";

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../collector/tests/peers")
}

/// Whether ippeveprinter can run here: the binaries, and the DNS-SD daemon
/// it refuses to start without (see scripts/peers.sh).
fn peer_available() -> Result<(), String> {
    for tool in ["ippeveprinter", "ipptool"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(format!("{tool} is not installed (run scripts/peers.sh)"));
        }
    }
    let avahi = Command::new("avahi-daemon")
        .arg("--check")
        .status()
        .is_ok_and(|s| s.success());
    if !avahi {
        return Err("avahi-daemon is not running (run scripts/peers.sh)".into());
    }
    Ok(())
}

/// The printer process; killed (by its PID) when dropped.
struct Ippeveprinter {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Ippeveprinter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Ippeveprinter {
    fn start() -> Ippeveprinter {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["spool", "keys"] {
            // -K needs an existing directory to put its self-signed certificate in.
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("ippeveprinter.log")).unwrap();
        let child = Command::new("ippeveprinter")
            .arg("-v")
            .arg("-a")
            .arg(peers_dir().join("ippeveprinter-designjet.conf"))
            .arg("-c")
            .arg(peers_dir().join("ippeveprinter-job-command.sh"))
            .args(["-p", &port.to_string()])
            .arg("-d")
            .arg(dir.path().join("spool"))
            .arg("-K")
            .arg(dir.path().join("keys"))
            // `-n 127.0.0.1` fails (no IPv6 listener); localhost listens on both.
            .args(["-n", "localhost", "DesignJet Sim"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("ippeveprinter starts");
        let printer = Ippeveprinter {
            child,
            port,
            _dir: dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return printer;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(printer._dir.path().join("ippeveprinter.log"))
            .unwrap_or_default();
        panic!("ippeveprinter does not listen on {port}: {log}");
    }

    fn uri(&self) -> String {
        format!("ipps://localhost:{}/ipp/print", self.port)
    }

    /// Print one job with ipptool; retried while the printer is busy with the previous one.
    fn print(&self, user: &str, name: &str, account: &str) {
        let mut last = String::new();
        for _ in 0..50 {
            let out = Command::new("ipptool")
                .args([
                    "-tv",
                    "-d",
                    &format!("who={user}"),
                    "-d",
                    &format!("jobname={name}"),
                ])
                .args(["-d", &format!("acct={account}"), "-f"])
                .arg(peers_dir().join("plan.pdf"))
                .arg(self.uri())
                .arg(peers_dir().join("print-job-acct.test"))
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("ipptool could not print {name}: {last}");
    }

    /// Wait until `n` jobs are completed.
    fn wait_completed(&self, n: usize) {
        for _ in 0..100 {
            let out = Command::new("ipptool")
                .args(["-tv"])
                .arg(self.uri())
                .arg(peers_dir().join("get-jobs-all.test"))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            if text.matches("job-state (enum) = completed").count() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("jobs did not complete");
    }
}

#[actix_web::test]
async fn jobs_printed_into_ippeveprinter_reach_the_hub_exactly_once() {
    if let Err(why) = peer_available() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("ippeveprinter is required in CI: {why}");
        }
        eprintln!("\n!!! SKIPPING the ippeveprinter acceptance test: {why}\n");
        return;
    }
    let printer = Ippeveprinter::start();
    let hub = Hub::start().await;
    let site = hub.site(ACCOUNT).await;
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    hub.enroll(site, ACCOUNT, &state).await;

    // ippeveprinter purges completed jobs 60 s after completion: everything
    // below happens well within that, as the 30 s job poll would in production.
    let first = [
        ("alice", "floorplan-A0.pdf", "ACCT-1"),
        ("bob", "section-B.pdf", "ACCT-2"),
        ("alice", "detail-C.pdf", "ACCT-3"),
    ];
    for (user, name, account) in first {
        printer.print(user, name, account);
    }
    printer.wait_completed(first.len());

    let config = hub.config(
        ACCOUNT,
        vec![Target {
            address: "127.0.0.1".into(),
            ports: vec![printer.port],
            scheme: Scheme::Ipps,
            tls: None,
        }],
    );
    let collector = Collector::new(state, config, Arc::new(SystemClock)).unwrap();
    let s = collector.poll_cycle().await.unwrap();
    assert_eq!((s.found, s.collected, s.jobs), (1, 1, 3), "{s:?}");
    assert_eq!(s.delivered, 1, "{s:?} {:?}", collector.status().last_error);

    // Two more jobs: the job poll picks them up, the next cycle sends them;
    // the first three are still listed by the printer but not sent again.
    let second = [
        ("carol", "roof-plan.pdf", "ACCT-4"),
        ("bob", "facade.pdf", "ACCT-5"),
    ];
    for (user, name, account) in second {
        printer.print(user, name, account);
    }
    printer.wait_completed(5);
    let pending = collector.job_poll().await;
    assert_eq!(pending, 2);
    let s = collector.poll_cycle().await.unwrap();
    assert_eq!((s.collected, s.jobs, s.delivered), (1, 2, 1), "{s:?}");
    let s = collector.poll_cycle().await.unwrap();
    assert_eq!(s.jobs, 0, "nothing new: {s:?}");

    // The hub: serial, firmware, supplies, and every job exactly once.
    let v = hub.printer("CN12345678").await;
    assert_eq!(v["config"]["serial_number"], "CN12345678", "{v}");
    assert_eq!(v["config"]["firmware_version"], "2.7.1.12");
    assert_eq!(
        v["config"]["product_name"],
        "HP DesignJet T1500 PostScript ePrinter"
    );
    let cartridges = v["status"]["cartridges"].as_array().unwrap();
    assert_eq!(cartridges.len(), 4, "{v}");
    assert_eq!(cartridges[0]["color"], "matte_black");
    assert_eq!(cartridges[0]["level_pct"], 80);
    assert_eq!(
        cartridges[3]["state"], "low",
        "yellow at 9 %, low mark 10 %"
    );
    assert_eq!(v["counters"]["pages"], 12345);
    assert!(
        v["device_alerts"]
            .as_array()
            .unwrap()
            .iter()
            // ippeveprinter derives it from the marker levels.
            .any(|a| a["code"]
                .as_str()
                .unwrap_or("")
                .starts_with("marker-supply-low")),
        "{v}"
    );
    let jobs = hub.jobs().await;
    assert_eq!(jobs.len(), 5, "{jobs:?}");
    let uuids: HashSet<_> = jobs.iter().map(|j| j.uuid).collect();
    assert_eq!(uuids.len(), 5, "every job exactly once");
    let mut got: Vec<(String, String, String)> = jobs
        .iter()
        .map(|j| {
            (
                j.account_id.clone().unwrap_or_default(),
                j.user_name.clone().unwrap_or_default(),
                j.name.clone(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, String)> = first
        .iter()
        .chain(&second)
        .map(|(u, n, a)| ((*a).to_owned(), (*u).to_owned(), (*n).to_owned()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert!(
        jobs.iter().all(|j| j.pages == 2),
        "job-impressions-completed"
    );
    assert_eq!(hub.uploads().await.len(), 3);
}
