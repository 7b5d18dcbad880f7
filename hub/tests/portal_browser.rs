//! The portal, end to end.
//!
//! - HTTP-level checks (always run): the session cookie's attributes, the
//!   security headers, login redirects, CSRF refusal of a form post, tenant
//!   isolation of pages (a foreign object answers 404).
//! - A real headless Chromium (Debian `chromium` + `chromium-driver`) driven
//!   through `chromedriver` with fantoccini: log in, see the fleet, open a
//!   printer, watch a live alert appear without reloading, acknowledge it,
//!   change a collector's interval (an invalid value is explained first),
//!   export a CSV and check its content, and a tablet-width layout check.
//!   Screenshots of every page go to `target/portal-screenshots/`.
//!
//! The hub's certificate is self-signed: the *test* browser alone is started
//! with `--ignore-certificate-errors` (product code never trusts blindly).
//! Without chromium/chromedriver the browser test skips loudly; with
//! `CI=true` it fails. Paths can be given in `PPU_CHROMIUM` and
//! `PPU_CHROMEDRIVER`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use fantoccini::{Client, ClientBuilder, Locator};
use ppu_protocol::model::*;
use serde_json::json;
use support::*;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";
const WAIT: Duration = Duration::from_secs(40);

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

struct Fixture {
    reseller: i64,
    site: i64,
    serial: String,
    printer: TestSender,
    email: String,
    foreign_site: i64,
    foreign_serial: String,
}

fn rich_report(serial: &str, jobs: &[Uuid]) -> PrinterReport {
    let mut r = report(serial, jobs, 1_234, 456_000);
    let cart = |slot: &str, color: &str, level: u8, state: ConsumableState| InkCartridge {
        slot: slot.into(),
        color: InkColor::new(color),
        state,
        product_number: "P2V71A".into(),
        product_name: format!("HP 730 130-ml {color}"),
        serial_number: format!("CART-{slot}"),
        manufacturer: "HP".into(),
        capacity_ul: 130_000,
        ink_used_ul: 130_000 * u64::from(100 - level) / 100,
        non_hp_ink_used_ul: 0,
        level_pct: Some(level),
        expires_on: NaiveDate::from_ymd_opt(2031, 6, 30),
    };
    r.status = Some(PrinterStatus {
        engine: EngineStatus {
            state: EngineState::Ready,
            detail: None,
        },
        printheads: vec![Printhead {
            slot: "PH1".into(),
            colors: vec![InkColor::new("cyan"), InkColor::new("magenta")],
            state: ConsumableState::Ok,
            health_pct: Some(88),
            product_number: "P2V27A".into(),
            product_name: "HP 730 printhead".into(),
            serial_number: "PH-0001".into(),
            non_hp_ink_used: false,
            expires_on: None,
        }],
        cartridges: vec![
            cart("C", "cyan", 64, ConsumableState::Ok),
            cart("M", "magenta", 6, ConsumableState::Low),
            cart("Y", "yellow", 81, ConsumableState::Ok),
            cart("MK", "matte_black", 35, ConsumableState::Ok),
        ],
        media_sources: vec![MediaSource {
            id: "roll1".into(),
            kind: MediaSourceKind::Roll,
            state: MediaSourceState::Loaded,
            media_type: Some("bond".into()),
            width_mm: Some(914),
            height_mm: Some(45_000),
        }],
        ..PrinterStatus::default()
    });
    r
}

async fn fixture(hub: &TestHub) -> Fixture {
    let (reseller, site) = hub.tenant("Plotters Inc", "acme-berlin").await;
    let serial = "SG12A3456".to_owned();
    let printer = hub.direct_printer(site, &serial).await;
    let _collector = hub.collector(site).await;
    let jobs: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    let (s, _, body) = hub
        .post_envelope(printer.seal(&payload(vec![rich_report(&serial, &jobs)])))
        .await;
    assert_eq!(s, 200, "{body}");
    let (foreign_reseller, foreign_site) = hub.tenant("Other Reseller", "other-site").await;
    let foreign_serial = "FOREIGN0001".to_owned();
    let other = hub.direct_printer(foreign_site, &foreign_serial).await;
    let (s, _, _) = hub
        .post_envelope(other.seal(&payload(vec![report(&foreign_serial, &[], 10, 10)])))
        .await;
    assert_eq!(s, 200);
    let email = "anna@plotters.example".to_owned();
    let (s, u) = hub
        .admin_post(
            "/api/v1/users",
            json!({"email": email, "name": "Anna Admin", "password": PASSWORD,
                   "role": "reseller_admin", "reseller_id": reseller}),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    let (s, u) = hub
        .admin_post(
            "/api/v1/users",
            json!({"email": "olga@other.example", "name": "Olga", "password": PASSWORD,
                   "role": "reseller_admin", "reseller_id": foreign_reseller}),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    Fixture {
        reseller,
        site,
        serial,
        printer,
        email,
        foreign_site,
        foreign_serial,
    }
}

/// `application/x-www-form-urlencoded` bodies (reqwest's `form` feature is off).
trait FormBody {
    fn form_body<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k.as_ref()), enc(v.as_ref())))
            .collect::<Vec<_>>()
            .join("&");
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }
}

/// A client that keeps no cookies and follows no redirects.
fn raw_client(hub: &TestHub) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for c in rustls_pki_types::CertificateDer::pem_file_iter(&hub.cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Log in through the portal form; returns the session cookie value and the
/// whole `Set-Cookie` header.
async fn form_login(hub: &TestHub, c: &reqwest::Client, email: &str) -> (String, String) {
    let r = c
        .post(hub.url("/portal/login"))
        .form_body(&[
            ("email", email),
            ("password", PASSWORD),
            ("next", "/portal/alerts"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/portal/alerts");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let value = set
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("ppu_session="))
        .expect("ppu_session cookie")
        .to_owned();
    (value, set)
}

async fn get_page(hub: &TestHub, c: &reqwest::Client, cookie: &str, path: &str) -> (u16, String) {
    let r = c
        .get(hub.url(path))
        .header("cookie", format!("ppu_session={cookie}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The CSRF token a page carries.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf_token\" value=\"")
        .expect("page has a csrf field")
        + "name=\"csrf_token\" value=\"".len();
    page[at..].split('"').next().unwrap().to_owned()
}

// ---------------------------------------------------------------------------
// HTTP-level tests
// ---------------------------------------------------------------------------

#[actix_web::test]
async fn session_cookie_and_security_headers() {
    let hub = TestHub::start(Backend::Sqlite).await;
    let f = fixture(&hub).await;
    let c = raw_client(&hub);

    // Pages need a session: a visitor is sent to the login form, and comes back after.
    let r = c.get(hub.url("/portal/alerts")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers()["location"],
        "/portal/login?next=%2Fportal%2Falerts"
    );
    let r = c.get(hub.url("/portal/login")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<label for=\"email\">Email</label>"),
        "{html}"
    );

    // A wrong password re-renders the form with an explanation and sets nothing.
    let r = c
        .post(hub.url("/portal/login"))
        .form_body(&[
            ("email", f.email.as_str()),
            ("password", "wrong password!!"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().await.unwrap().contains("Wrong email or password"));

    // The session cookie: HttpOnly, Secure, SameSite=Strict, whole site.
    let (cookie, set) = form_login(&hub, &c, &f.email).await;
    let attrs: Vec<String> = set.split(';').map(|a| a.trim().to_lowercase()).collect();
    assert!(attrs.contains(&"httponly".into()), "{set}");
    assert!(attrs.contains(&"secure".into()), "{set}");
    assert!(attrs.contains(&"samesite=strict".into()), "{set}");
    assert!(attrs.contains(&"path=/".into()), "{set}");

    // Every page and asset carries the headers; a redirect after login is not followed off-site.
    for path in [
        "/portal/",
        "/portal/alerts",
        "/portal/usage",
        "/portal/admin",
        "/portal/assets/portal.js",
        "/portal/assets/portal.css",
        "/portal/no-such-page",
    ] {
        let r = c
            .get(hub.url(path))
            .header("cookie", format!("ppu_session={cookie}"))
            .send()
            .await
            .unwrap();
        let h = r.headers();
        assert!(h.contains_key("content-security-policy"), "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        let expect = if path.ends_with("no-such-page") {
            404
        } else {
            200
        };
        assert_eq!(r.status().as_u16(), expect, "{path}");
    }
    let r = c
        .post(hub.url("/portal/login"))
        .form_body(&[
            ("email", f.email.as_str()),
            ("password", PASSWORD),
            ("next", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/portal/");

    // Logout needs the CSRF token too, and ends the session.
    let (_, page) = get_page(&hub, &c, &cookie, "/portal/").await;
    let r = c
        .post(hub.url("/portal/logout"))
        .header("cookie", format!("ppu_session={cookie}"))
        .form_body(&[("csrf_token", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = c
        .post(hub.url("/portal/logout"))
        .header("cookie", format!("ppu_session={cookie}"))
        .form_body(&[("csrf_token", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let (s, _) = get_page(&hub, &c, &cookie, "/portal/").await;
    assert_eq!(s, 303, "the session is gone");
}

#[actix_web::test]
async fn form_posts_without_the_csrf_token_are_refused() {
    let hub = TestHub::start(Backend::Sqlite).await;
    let f = fixture(&hub).await;
    let c = raw_client(&hub);
    let (cookie, _) = form_login(&hub, &c, &f.email).await;
    let path = format!("/portal/sites/{}/collector-config", f.site);
    let form = |csrf: Option<&str>| {
        let mut v = vec![
            ("hub_url", "https://hub.example".to_owned()),
            ("poll_interval_minutes", "60".to_owned()),
            ("job_poll_interval_s", "30".to_owned()),
            ("targets", "10.0.0.5".to_owned()),
        ];
        if let Some(t) = csrf {
            v.push(("csrf_token", t.to_owned()));
        }
        v
    };
    for (what, body) in [
        ("no token", form(None)),
        ("empty token", form(Some(""))),
        ("wrong token", form(Some("not-the-token"))),
    ] {
        let r = c
            .post(hub.url(&path))
            .header("cookie", format!("ppu_session={cookie}"))
            .form_body(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{what}");
        assert!(r.text().await.unwrap().contains("CSRF"), "{what}");
    }
    // Other forms too.
    for p in [
        "/portal/admin/tokens",
        "/portal/admin/users",
        "/portal/admin/webhooks",
    ] {
        let r = c
            .post(hub.url(p))
            .header("cookie", format!("ppu_session={cookie}"))
            .form_body(&[("name", "x"), ("role", "reseller_user")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{p}");
    }
    let (_, cfg) = hub
        .admin_get(&format!("/api/v1/sites/{}/collector-config", f.site))
        .await;
    assert_eq!(cfg["config_version"], 0, "nothing changed: {cfg}");
    assert_eq!(
        hub.count("api_tokens").await,
        0,
        "no token was created without CSRF"
    );

    // With the page's token the same post goes through.
    let (_, page) = get_page(&hub, &c, &cookie, &format!("/portal/sites/{}", f.site)).await;
    let r = c
        .post(hub.url(&path))
        .header("cookie", format!("ppu_session={cookie}"))
        .form_body(&form(Some(&csrf_of(&page))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let (_, cfg) = hub
        .admin_get(&format!("/api/v1/sites/{}/collector-config", f.site))
        .await;
    assert_eq!(cfg["config_version"], 1, "{cfg}");
    assert_eq!(cfg["config"]["poll_interval_minutes"], 60, "{cfg}");
    // The change is in the audit log.
    let (_, audit) = hub.admin_get("/api/v1/audit").await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "collector_config.update"
                && e["actor"] == format!("user:{}", f.email)),
        "{audit}"
    );
}

#[actix_web::test]
async fn foreign_objects_answer_404_in_the_portal() {
    let hub = TestHub::start(Backend::Sqlite).await;
    let f = fixture(&hub).await;
    let c = raw_client(&hub);
    let (cookie, _) = form_login(&hub, &c, &f.email).await;
    let (s, fleet) = get_page(&hub, &c, &cookie, "/portal/").await;
    assert_eq!(s, 200);
    assert!(fleet.contains(&f.serial));
    assert!(!fleet.contains(&f.foreign_serial), "foreign printer listed");
    assert!(!fleet.contains("other-site"), "foreign site listed");
    for path in [
        format!("/portal/sites/{}", f.foreign_site),
        format!("/portal/printers/{}", f.foreign_serial),
        format!("/portal/alerts?site={}", f.foreign_site),
        format!("/portal/alerts?printer={}", f.foreign_serial),
        format!("/portal/usage?scope=site&id={}", f.foreign_site),
        format!("/portal/usage/export.csv?scope=site&id={}", f.foreign_site),
        "/portal/printers/NO-SUCH-PRINTER".to_owned(),
    ] {
        let (s, body) = get_page(&hub, &c, &cookie, &path).await;
        assert_eq!(s, 404, "{path}");
        assert!(!body.contains(&f.foreign_serial), "{path}");
    }
    // A foreign site's configuration cannot be changed either (404, not 403).
    let (_, page) = get_page(&hub, &c, &cookie, "/portal/").await;
    let r = c
        .post(hub.url(&format!(
            "/portal/sites/{}/collector-config",
            f.foreign_site
        )))
        .header("cookie", format!("ppu_session={cookie}"))
        .form_body(&[
            ("csrf_token", csrf_of(&page).as_str()),
            ("hub_url", "https://hub.example"),
            ("poll_interval_minutes", "60"),
            ("job_poll_interval_s", "30"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // Escaping: a hostile name is shown as text, never as markup.
    let (s, _) = hub
        .admin_post(
            "/api/v1/sites",
            json!({"reseller_id": f.reseller, "account_name": "xss-site", "name": "<script>alert(1)</script>"}),
        )
        .await;
    assert_eq!(s, 201);
    let (_, fleet) = get_page(&hub, &c, &cookie, "/portal/").await;
    assert!(!fleet.contains("<script>alert(1)"), "unescaped name");
    assert!(fleet.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

// ---------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// chromium and chromedriver, or `None` (loudly) outside CI.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("PPU_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| which(&["chromium", "chromium-browser", "google-chrome"]));
    let driver = std::env::var_os("PPU_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| which(&["chromedriver"]));
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let msg = format!(
                "headless Chromium is needed for the portal browser test (chromium: {c:?}, chromedriver: {d:?}); \
                 install Debian's `chromium chromium-driver` (scripts/peers.sh does)"
            );
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{msg}");
            }
            eprintln!("\n!!! SKIPPING browser test: {msg}\n");
            None
        }
    }
}

/// chromedriver on 127.0.0.1 and a WebDriver session in a fresh profile.
struct Browser {
    client: Option<Client>,
    _processes: Processes,
    shots: PathBuf,
    /// The window size outside screenshots.
    size: std::cell::Cell<(u32, u32)>,
}

impl Browser {
    async fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::env::temp_dir().join(format!("ppu-chromedriver-{port}.log"));
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let processes = Processes {
            driver,
            profile: tempfile::tempdir().unwrap(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not answer on {url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--disable-breakpad",
                    "--disable-crash-reporter",
                    format!("--user-data-dir={}", processes.profile.path().display()),
                    // The hub's self-signed certificate: trusted by this test browser only.
                    "--ignore-certificate-errors",
                    "--window-size=1280,900",
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a WebDriver session in headless Chromium");
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("portal-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            client: Some(client),
            _processes: processes,
            shots,
            size: std::cell::Cell::new((1280, 900)),
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// A screenshot of the whole page: the window is made as tall as the
    /// document (up to 6000 px) for the shot, then restored.
    async fn shot(&self, name: &str) {
        let (w, h) = self.size.get();
        let doc = self
            .c()
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(u64::from(h));
        let tall = u32::try_from(doc).unwrap_or(h).clamp(h, 6000);
        if tall > h {
            self.c().set_window_size(w, tall + 100).await.unwrap();
        }
        let png = self.c().screenshot().await.expect("screenshot");
        if tall > h {
            self.c().set_window_size(w, h).await.unwrap();
        }
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }

    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.c()
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap()
    }

    async fn fill(&self, css: &str, value: &str) {
        let el = self.wait_for(css).await;
        el.clear().await.unwrap();
        el.send_keys(value).await.unwrap();
    }

    async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

/// chromedriver and the Chromium it started: ended by PID when dropped, also
/// after a failed assertion left the WebDriver session open.
struct Processes {
    driver: Child,
    profile: tempfile::TempDir,
}

impl Drop for Processes {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Chromium processes of this test's own profile (a fresh temporary directory).
        let marker = format!("--user-data-dir={}", self.profile.path().display());
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in dir.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            if cmdline.split(|b| *b == 0).any(|a| a == marker.as_bytes()) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
    }
}

fn device_alert(code: &str, message: &str) -> DeviceAlert {
    DeviceAlert {
        code: code.into(),
        severity: Severity::Major,
        message: message.into(),
        detected_at: Utc::now(),
        active: true,
        during_boot: false,
    }
}

#[actix_web::test]
async fn browser_end_to_end() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let started = Instant::now();
    let hub = TestHub::start(Backend::Sqlite).await;
    let f = fixture(&hub).await;
    let b = Browser::start(&chromium, &chromedriver).await;
    eprintln!("browser up after {:?}", started.elapsed());

    // Log in (the form sends us back where we wanted to go).
    b.c().goto(&hub.url("/portal/")).await.unwrap();
    b.wait_for("#email").await;
    assert!(
        b.c()
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/portal/login")
    );
    b.shot("01-login").await;
    b.fill("#email", &f.email).await;
    b.fill("#password", PASSWORD).await;
    b.wait_for("form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for("#count-printers").await;
    let cookie = b.c().get_named_cookie("ppu_session").await.unwrap();
    assert_eq!(cookie.http_only(), Some(true), "{cookie:?}");
    assert_eq!(cookie.secure(), Some(true), "{cookie:?}");
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    let session = cookie.value().to_owned();

    // The fleet: our site and printer, the low magenta cartridge, nothing foreign.
    assert_eq!(b.text("#count-printers").await, "1");
    let row = b
        .text(&format!("tr[data-serial=\"{}\"]", f.serial))
        .await
        .replace('\u{a0}', " ");
    assert!(row.contains("HP DesignJet T1700"), "{row}");
    assert!(row.contains("ready"), "{row}");
    assert!(row.contains("magenta ink: 6 %"), "{row}");
    let source = b.c().source().await.unwrap();
    assert!(!source.contains(&f.foreign_serial));
    b.shot("02-fleet").await;

    // The printer page.
    b.wait_for(&format!("a[href=\"/portal/printers/{}\"]", f.serial))
        .await
        .click()
        .await
        .unwrap();
    b.wait_for("#usage-chart").await;
    let h1 = b.text("h1").await;
    assert!(h1.contains(&f.serial), "{h1}");
    let page = b.text("main").await;
    for expect in [
        "Ink cartridges",
        "Printheads",
        "Media loaded",
        "914 mm",
        "Lifetime counters",
        "Recent jobs",
    ] {
        assert!(page.contains(expect), "printer page lacks {expect:?}");
    }
    assert_eq!(
        b.text("#lifetime-pages").await.replace('\u{202f}', ""),
        "1234"
    );
    let meters = b.c().find_all(Locator::Css("meter")).await.unwrap();
    assert_eq!(meters.len(), 5, "4 cartridges and 1 printhead");
    let bars = b
        .c()
        .find_all(Locator::Css("#usage-chart rect.bar"))
        .await
        .unwrap();
    assert_eq!(bars.len(), 30);
    b.shot("03-printer").await;

    // Alerts: a device alert posted now appears without a reload.
    b.c().goto(&hub.url("/portal/alerts")).await.unwrap();
    b.wait_for("#live-status[data-state=\"live\"]").await;
    b.c()
        .execute("window.__sameDocument = 'yes'; return true;", vec![])
        .await
        .unwrap();
    let mut r = PrinterReport::new(&f.serial, Utc::now());
    r.alerts
        .push(device_alert("61.01", "File system full, call service"));
    let sent = Instant::now();
    let (s, _, body) = hub.post_envelope(f.printer.seal(&payload(vec![r]))).await;
    assert_eq!(s, 200, "{body}");
    let (_, list) = hub
        .admin_get(&format!("/api/v1/alerts?printer={}", f.serial))
        .await;
    let alert_id = list["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "device:61.01")
        .and_then(|a| a["id"].as_i64())
        .unwrap_or_else(|| panic!("alert stored: {list}"));
    let row_css = format!("#alert-{alert_id}");
    let row = b.text(&row_css).await;
    eprintln!("live alert shown {:?} after the upload", sent.elapsed());
    assert!(row.contains("File system full"), "{row}");
    assert!(row.contains("active"), "{row}");
    let same = b
        .c()
        .execute("return window.__sameDocument || 'reloaded';", vec![])
        .await
        .unwrap();
    assert_eq!(same, json!("yes"), "the page was not reloaded");
    b.shot("04-alerts-live").await;

    // Acknowledge it (fetch with X-CSRF-Token from the page).
    b.wait_for(&format!("{row_css} button[data-action=\"acknowledge\"]"))
        .await
        .click()
        .await
        .unwrap();
    b.wait_for(&format!("{row_css}[data-state=\"acknowledged\"]"))
        .await;
    let row = b.text(&row_css).await;
    assert!(row.contains(&format!("by {}", f.email)), "{row}");
    let (_, list) = hub
        .admin_get(&format!("/api/v1/alerts?printer={}", f.serial))
        .await;
    let stored = list["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == alert_id)
        .cloned()
        .unwrap();
    assert_eq!(stored["state"], "acknowledged", "{stored}");
    assert_eq!(stored["acknowledged_by"], f.email.as_str(), "{stored}");
    b.shot("05-alerts-acknowledged").await;

    // The site page: change the collector's interval; a too-short one is explained first.
    b.c()
        .goto(&hub.url(&format!("/portal/sites/{}", f.site)))
        .await
        .unwrap();
    b.wait_for("#config-form").await;
    assert_eq!(b.text("#config-version").await, "0");
    let collectors = b.text("section[aria-labelledby=\"h-collector\"]").await;
    assert!(collectors.contains("never connected"), "{collectors}");
    b.shot("06-site").await;
    b.fill("#poll_interval_minutes", "10").await;
    b.fill("#targets", "10.0.0.10-10.0.0.60\n10.0.1.0/28 ipps 631")
        .await;
    b.wait_for("#config-form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let err = b.text("#config-error").await;
    assert!(err.contains("too short"), "{err}");
    assert!(err.contains("30 minutes"), "{err}");
    assert_eq!(
        b.wait_for("#poll_interval_minutes")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("10"),
        "the typed value is kept"
    );
    b.shot("07-site-invalid-interval").await;
    b.fill("#poll_interval_minutes", "60").await;
    b.wait_for("#config-form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let saved = b.text("#saved").await;
    assert!(saved.contains("version 1"), "{saved}");
    assert_eq!(b.text("#config-version").await, "1");
    let (_, cfg) = hub
        .admin_get(&format!("/api/v1/sites/{}/collector-config", f.site))
        .await;
    assert_eq!(cfg["config_version"], 1, "{cfg}");
    assert_eq!(cfg["config"]["poll_interval_minutes"], 60, "{cfg}");
    assert_eq!(cfg["config"]["targets"][1]["scheme"], "ipps", "{cfg}");
    b.shot("08-site-saved").await;

    // Usage and billing: totals per printer, and the CSV export.
    b.c().goto(&hub.url("/portal/usage")).await.unwrap();
    let totals = b.text("#totals").await;
    assert!(totals.contains(&f.serial), "{totals}");
    b.shot("09-usage").await;
    let href = b
        .wait_for("#csv-export")
        .await
        .attr("href")
        .await
        .unwrap()
        .expect("export link");
    // Downloads are awkward headless: fetch the link with the browser's session cookie.
    let c = raw_client(&hub);
    let r = c
        .get(hub.url(&href))
        .header("cookie", format!("ppu_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let bytes = r.bytes().await.unwrap();
    let csv = bytes
        .strip_prefix(b"\xef\xbb\xbf")
        .expect("a UTF-8 byte order mark");
    let csv = std::str::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("\"from\",\"to_exclusive\",\"basis\",\"printer\",\"jobs\",\"pages\""),
        "{csv}"
    );
    let printer_line = lines
        .iter()
        .find(|l| l.contains(&format!("\"{}\"", f.serial)))
        .unwrap_or_else(|| panic!("no line for the printer: {csv}"));
    // Three jobs of 2 pages each, 1 m² of media each.
    assert!(printer_line.contains(",\"3\",\"6\","), "{printer_line}");
    assert!(lines.last().unwrap().contains("\"total\""), "{csv}");
    let (_, audit) = hub.admin_get("/api/v1/audit").await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "export.view"),
        "export viewing is audited: {audit}"
    );

    // Administration: create an API token (shown once) and see it listed.
    b.c().goto(&hub.url("/portal/admin")).await.unwrap();
    b.wait_for("#token-form").await;
    b.execute_open_details().await;
    b.fill("#t-name", "ERP export").await;
    b.wait_for("#token-form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let token = b.text("#new-token").await;
    assert!(token.starts_with("ppu_"), "{token}");
    let r = c
        .get(hub.url(&format!("/api/v1/resellers/{}", f.reseller)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "the new token works");
    b.shot("10-admin").await;

    // Tablet width: the layout reflows without horizontal scrolling.
    b.size.set((820, 1180));
    b.c().set_window_size(820, 1180).await.unwrap();
    b.c().goto(&hub.url("/portal/")).await.unwrap();
    b.wait_for("#count-printers").await;
    let fits = b
        .c()
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, json!(true), "no horizontal scrolling at tablet width");
    b.shot("11-fleet-tablet").await;

    // Logging out ends the session.
    b.wait_for("form[action=\"/portal/logout\"] button")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for("#email").await;
    b.shot("12-logged-out").await;
    b.close().await;
    eprintln!("browser test took {:?}", started.elapsed());
}

impl Browser {
    /// Open every `<details>` so forms inside can be typed into.
    async fn execute_open_details(&self) {
        self.c()
            .execute(
                "document.querySelectorAll('details').forEach(function (d) { d.open = true; }); return true;",
                vec![],
            )
            .await
            .unwrap();
    }
}
