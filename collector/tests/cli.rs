//! The command line: help, and clear errors for the mistakes installers make.

use std::process::Command;

fn collector() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ppu-collector"));
    // What an operator sees: the message, without a backtrace.
    cmd.env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0");
    cmd
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("collector.toml");
    std::fs::write(
        &path,
        format!(
            "account_name = \"acme\"\nhub_url = \"https://ppu.example.com\"\n{extra}\n\n[[targets]]\naddress = \"10.0.0.10-10.0.0.60\"\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn help_lists_the_commands() {
    let (ok, out, _) = run(collector().arg("--help"));
    assert!(ok);
    for cmd in ["enroll", "run", "probe", "status", "check-config"] {
        assert!(out.contains(cmd), "{out}");
    }
    let (ok, out, _) = run(collector().args(["enroll", "--help"]));
    assert!(ok);
    assert!(
        out.contains("--code") && out.contains("--hub-ca") && out.contains("--state-dir"),
        "{out}"
    );
}

#[test]
fn configuration_mistakes_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let (ok, out, err) = run(collector().args(["check-config", "--config"]).arg(&cfg));
    assert!(ok, "{err}");
    assert!(out.contains("# valid: 51 address/port pairs"), "{out}");
    assert!(out.contains("poll_interval_minutes = 180"), "{out}");

    for (extra, message) in [
        (
            "poll_interval_minutes = 10",
            "poll_interval_minutes = 10 is too short: the fastest allowed collection interval is every 30 minutes",
        ),
        ("poll_interval = 10", "unknown field `poll_interval`"),
        (
            "[proxy]\nmode = \"explicit\"\nurl = \"proxy.example.com:3128\"",
            "bad proxy url \"proxy.example.com:3128\"",
        ),
    ] {
        let cfg = write_config(dir.path(), extra);
        let (ok, _, err) = run(collector().args(["check-config", "--config"]).arg(&cfg));
        assert!(!ok);
        assert!(err.contains(message), "{extra}: {err}");
        assert!(err.contains("collector.toml"), "the file is named: {err}");
    }
    let cfg = dir.path().join("ranges.toml");
    std::fs::write(
        &cfg,
        "account_name = \"acme\"\nhub_url = \"https://ppu.example.com\"\n[[targets]]\naddress = \"10.0.0.60-10.0.0.10\"\n",
    )
    .unwrap();
    let (ok, _, err) = run(collector().args(["check-config", "--config"]).arg(&cfg));
    assert!(!ok);
    assert!(
        err.contains(
            "malformed address range \"10.0.0.60-10.0.0.10\": the range ends before it starts"
        ),
        "{err}"
    );
    let (ok, _, err) = run(collector()
        .args(["run", "--config"])
        .arg(dir.path().join("missing.toml")));
    assert!(!ok);
    assert!(err.contains("cannot read the configuration file"), "{err}");
}

#[test]
fn an_unreachable_proxy_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // A port with nothing behind it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (ok, _, err) = run(collector()
        .args([
            "enroll",
            "--hub",
            "https://ppu.example.com",
            "--account",
            "acme",
            "--code",
            "AAAAA-BBBBB",
        ])
        .args(["--proxy", &format!("http://127.0.0.1:{port}")])
        .arg("--state-dir")
        .arg(dir.path()));
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "cannot reach the hub through the proxy http://127.0.0.1:{port}/"
        )),
        "{err}"
    );
    assert!(!dir.path().join("credentials.json").exists());
}

#[test]
fn status_works_without_network_or_enrollment() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(collector().args(["status", "--state-dir"]).arg(dir.path()));
    assert!(ok, "{err}");
    assert!(out.contains("not enrolled"), "{out}");
    assert!(out.contains("last poll      never"), "{out}");
    assert!(out.contains("spool          0 envelopes"), "{out}");
    let (ok, out, _) = run(collector()
        .args(["status", "--json", "--state-dir"])
        .arg(dir.path()));
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["spool"]["entries"], 0);
}

#[test]
fn the_shipped_example_and_unit_file_work_with_this_binary() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dist");
    let (ok, out, err) = run(collector()
        .args(["check-config", "--config"])
        .arg(dist.join("collector.example.toml")));
    assert!(ok, "{err}");
    assert!(out.contains("# valid: 65 address/port pairs"), "{out}");

    let unit = std::fs::read_to_string(dist.join("ppu-collector.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    assert_eq!(args[0], "run");
    let (ok, help, _) = run(collector().args(["run", "--help"]));
    assert!(ok);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.contains(flag),
            "{flag} is not an option of `run`: {help}"
        );
    }
    assert!(unit.contains("SocketBindDeny=any"), "outbound only");
}

/// Socket inodes of the process `pid` that are listening TCP sockets.
fn listening_sockets(pid: u32) -> Vec<String> {
    let mut inodes = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        if let Ok(target) = std::fs::read_link(fd.unwrap().path()) {
            let t = target.to_string_lossy().into_owned();
            if let Some(inode) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                inodes.push(inode.to_owned());
            }
        }
    }
    let mut listening = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // Column 3 is the state (0A = LISTEN), column 9 the inode.
            if cols.len() > 9 && cols[3] == "0A" && inodes.iter().any(|i| i == cols[9]) {
                listening.push(line.to_owned());
            }
        }
    }
    listening
}

#[test]
fn a_running_collector_listens_on_nothing() {
    if !std::path::Path::new("/proc/self/net/tcp").exists() {
        eprintln!("\n!!! SKIPPING: no /proc/net/tcp to inspect on this system\n");
        return;
    }
    // The check sees a listening socket when there is one (this process's).
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(!listening_sockets(std::process::id()).is_empty());
    drop(probe);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let st = ppu_collector::state::StateDir::open(&state).unwrap();
    let keys = ppu_protocol::envelope::SenderKeys::derive(
        b"k",
        ppu_protocol::envelope::SenderKind::Collector,
        "col-cli",
    );
    ppu_collector::state::Credentials::new(
        "https://127.0.0.1:9/",
        "acme",
        "col-cli",
        1,
        &keys,
        chrono::Utc::now(),
    )
    .save(&st.credentials_path())
    .unwrap();
    let cfg = dir.path().join("collector.toml");
    std::fs::write(
        &cfg,
        "account_name = \"acme\"\nhub_url = \"https://127.0.0.1:9/\"\n[proxy]\nmode = \"none\"\n[[targets]]\naddress = \"127.0.0.1\"\nports = [9]\n",
    )
    .unwrap();
    let mut child = collector()
        .args(["run", "--config"])
        .arg(&cfg)
        .arg("--state-dir")
        .arg(&state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let it run its first poll cycle and delivery attempt.
    for _ in 0..50 {
        if st.status().unwrap().last_poll.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let listening = listening_sockets(child.id());
    let alive = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(alive, "the collector kept running");
    assert!(st.status().unwrap().last_poll.is_some(), "it polled");
    assert!(listening.is_empty(), "listening sockets: {listening:?}");
}
