//! `ppu-hub demo`, the real binary: data shows within 10 seconds of the start,
//! SIGINT and SIGTERM stop it cleanly with exit 0, and a second start on the
//! same data directory continues the same printers (their lifetime counters
//! keep growing, nothing goes backwards).

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The acceptance bound: printers have data this soon after the command starts.
const DATA_WITHIN: Duration = Duration::from_secs(10);
/// A clean stop (deliver what the printers hold, drain, save snapshots) takes
/// a few seconds; this only bounds a hang.
const STOP_WITHIN: Duration = Duration::from_secs(60);

/// A running `ppu-hub demo` and what its banner said.
struct Demo {
    child: Child,
    started: Instant,
    lines: mpsc::Receiver<String>,
    /// Everything it printed so far (for failure messages).
    output: Vec<String>,
    base: String,
    serial: String,
    /// A printer that a Data Collector reads (the banner's second curl line).
    collected_serial: String,
    site: String,
    /// The first portal login: email and password.
    login: (String, String),
    http: reqwest::Client,
    token: String,
}

impl Demo {
    /// Start the binary on a free port at `speed` and wait for its banner.
    fn start(data_dir: &Path, speed: &str) -> Demo {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ppu-hub"))
            .args(["demo", "--listen", "127.0.0.1:0", "--status-secs", "1"])
            .args(["--speed", speed])
            .arg("--data-dir")
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ppu-hub demo");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // The banner ends with the Ctrl-C hint; the curl lines name a printer and a site.
        let mut output = Vec::new();
        while !output.iter().any(|l: &String| l.contains("Ctrl-C")) {
            let wait = (started + DATA_WITHIN).saturating_duration_since(Instant::now());
            match lines.recv_timeout(wait) {
                Ok(line) => output.push(line),
                Err(e) => {
                    let _ = child.kill();
                    let exit = child.wait().expect("wait for ppu-hub demo");
                    panic!(
                        "no banner from ppu-hub demo ({e}; {exit}); it printed:\n{}",
                        output.join("\n")
                    );
                }
            }
        }
        let find = |marker: &str| -> String {
            output
                .iter()
                .find_map(|l| {
                    let rest = &l[l.find(marker)? + marker.len()..];
                    Some(
                        rest.split(|c: char| c.is_whitespace() || c == '/' || c == '\'')
                            .next()?
                            .to_owned(),
                    )
                })
                .unwrap_or_else(|| panic!("no {marker:?} in the banner:\n{}", output.join("\n")))
        };
        let base = format!("https://localhost:{}", find("https://localhost:"));
        let serial = find("/api/v1/printers/");
        let collected_serial = output
            .iter()
            .filter(|l| l.contains("(read by a Data Collector)"))
            .find_map(|l| {
                let rest = &l[l.find("/api/v1/printers/")? + "/api/v1/printers/".len()..];
                Some(rest.split_whitespace().next()?.to_owned())
            })
            .unwrap_or_else(|| {
                panic!(
                    "no printer behind a Data Collector in the banner:\n{}",
                    output.join("\n")
                )
            });
        let site = find("/api/v1/sites/");
        // `  login:  EMAIL / PASSWORD  (scope)`
        let login = output
            .iter()
            .find_map(|l| {
                let mut words = l.split_whitespace();
                (words.next()? == "login:").then_some(())?;
                let email = words.next()?.to_owned();
                (words.next()? == "/").then_some(())?;
                Some((email, words.next()?.to_owned()))
            })
            .unwrap_or_else(|| panic!("no portal login in the banner:\n{}", output.join("\n")));
        let token = std::fs::read_to_string(data_dir.join("admin-token"))
            .expect("the demo wrote its admin token")
            .trim()
            .to_owned();
        let http = ppu_sim::upload::http_client(
            Some(&data_dir.join("tls-cert.pem")),
            Duration::from_secs(5),
        )
        .expect("a client trusting the demo's certificate");
        Demo {
            child,
            started,
            lines,
            output,
            base,
            serial,
            collected_serial,
            site,
            login,
            http,
            token,
        }
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    /// Poll the printer named in the banner until `done` holds, at most until `deadline`.
    async fn printer_until(&self, deadline: Instant, done: impl Fn(&Value) -> bool) -> Value {
        self.serial_until(&self.serial, deadline, done).await
    }

    /// Poll printer `serial` until `done` holds, at most until `deadline`.
    async fn serial_until(
        &self,
        serial: &str,
        deadline: Instant,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let path = format!("/api/v1/printers/{serial}");
        let mut last = Value::Null;
        while Instant::now() < deadline {
            if let Some(view) = self.get(&path).await {
                if done(&view) {
                    return view;
                }
                last = view;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "printer {serial} did not get there in time; last view: {last}\noutput:\n{}",
            self.output.join("\n")
        );
    }

    /// Send `signal` and expect exit 0 within [`STOP_WITHIN`].
    fn stop(mut self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
        let deadline = Instant::now() + STOP_WITHIN;
        let exit = loop {
            if let Some(exit) = self.child.try_wait().expect("wait for ppu-hub demo") {
                break exit;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "ppu-hub demo did not stop within {STOP_WITHIN:?} after SIG{signal}:\n{}",
                    self.output.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(1)) {
            self.output.push(line);
        }
        assert!(
            exit.success(),
            "ppu-hub demo exited with {exit} after SIG{signal}:\n{}",
            self.output.join("\n")
        );
        assert!(
            self.output
                .iter()
                .any(|l| l.contains("demo stopped cleanly")),
            "no clean-stop message:\n{}",
            self.output.join("\n")
        );
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // A failed assertion must not leave the process running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn jobs(view: &Value) -> u64 {
    ["print_jobs", "scan_jobs", "copy_jobs"]
        .iter()
        .map(|k| view["usage"]["jobs"][*k].as_u64().unwrap_or(0))
        .sum()
}

fn counter(view: &Value, name: &str) -> u64 {
    view["counters"][name].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn the_demo_shows_data_within_ten_seconds_stops_cleanly_and_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("demo");

    // First start: a new fleet, at the default speed (one simulated hour per second).
    let demo = Demo::start(&data_dir, "3600");
    let deadline = demo.started + DATA_WITHIN;
    let view = demo
        .printer_until(deadline, |v| jobs(v) > 0 && v["counters"].is_object())
        .await;
    eprintln!(
        "first start: printer data after {:?}",
        demo.started.elapsed()
    );
    assert!(counter(&view, "pages") > 0, "counters count pages: {view}");
    // A printer at a site behind a Data Collector: the collector found it,
    // the hub registered it on its first upload, and its jobs arrive too.
    let collected = demo
        .serial_until(&demo.collected_serial, deadline, |v| {
            jobs(v) > 0 && v["counters"].is_object()
        })
        .await;
    eprintln!(
        "first start: data of a collected printer after {:?}",
        demo.started.elapsed()
    );
    assert_eq!(
        collected["direct"], false,
        "read by a collector: {collected}"
    );
    assert!(
        counter(&collected, "pages") > 0,
        "counters count pages: {collected}"
    );
    let site = demo
        .get(&format!("/api/v1/sites/{}", demo.site))
        .await
        .expect("the site view");
    let printers = site["printers"].as_array().expect("the site's printers");
    assert!(printers.len() >= 5, "the site has its printers: {site}");
    assert!(
        demo.get("/api/v1/alerts").await.is_some(),
        "the alerts route answers"
    );
    let (email, password) = &demo.login;
    let login = demo
        .http
        .post(format!("{}/api/v1/login", demo.base))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("login request");
    assert!(
        login.status().is_success(),
        "the printed portal login works: {}",
        login.status()
    );
    let first_serial = demo.serial.clone();
    demo.stop("INT");

    // Second start on the same data: the same printers continue. Ten simulated
    // hours per second, so that even a start on a Friday evening reaches a
    // working day (and new jobs) within seconds.
    let demo = Demo::start(&data_dir, "36000");
    assert_eq!(demo.serial, first_serial, "the saved fleet is reused");
    let deadline = demo.started + DATA_WITHIN;
    let before = demo
        .printer_until(deadline, |v| v["counters"].is_object())
        .await;
    let (jobs_before, pages_before) = (jobs(&before), counter(&before, "pages"));
    let after = demo
        .printer_until(deadline + DATA_WITHIN, |v| {
            jobs(v) > jobs_before && counter(v, "pages") > pages_before
        })
        .await;
    assert_eq!(
        after["anomalies"], 0,
        "no counter went backwards across the restart: {after}"
    );
    // The collected site continues too: same collector (its state directory
    // kept), the printers' counters keep growing, no job is read twice.
    let collected_before = demo
        .serial_until(&demo.collected_serial, deadline, |v| {
            v["counters"].is_object()
        })
        .await;
    let collected_after = demo
        .serial_until(&demo.collected_serial, deadline + DATA_WITHIN, |v| {
            counter(v, "pages") > counter(&collected_before, "pages")
        })
        .await;
    assert_eq!(
        collected_after["anomalies"], 0,
        "no counter of a collected printer went backwards across the restart: {collected_after}"
    );
    demo.stop("TERM");
}
