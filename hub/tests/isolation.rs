//! Accounts and tenant isolation: role x own/foreign object x action, for every
//! route that touches a tenant's objects; sessions, CSRF, login throttling,
//! API tokens and the audit log.

mod support;

use chrono::Utc;
use ppu_protocol::model::{DeviceAlert, PrinterReport, Severity};
use serde_json::{Value, json};
use support::*;

struct Tenant {
    reseller: i64,
    site: i64,
    account: String,
    serial: String,
    alert: i64,
    webhook: i64,
    contract: i64,
}

async fn tenant(hub: &TestHub, name: &str) -> Tenant {
    let (reseller, site) = hub.tenant(name, &format!("{name}-site")).await;
    let serial = format!("{name}-P1").to_uppercase();
    let printer = hub.direct_printer(site, &serial).await;
    let mut r = PrinterReport::new(&serial, Utc::now());
    r.alerts.push(DeviceAlert {
        code: "61.01".into(),
        severity: Severity::Major,
        message: "x".into(),
        detected_at: Utc::now(),
        active: true,
        during_boot: false,
    });
    let (s, _, _) = hub.post_envelope(printer.seal(&payload(vec![r]))).await;
    assert_eq!(s, 200);
    let (_, list) = hub
        .admin_get(&format!("/api/v1/alerts?printer={serial}"))
        .await;
    let alert = list["alerts"][0]["id"].as_i64().unwrap();
    let (s, w) = hub
        .admin_post(
            "/api/v1/webhooks",
            json!({"reseller_id": reseller, "url": "https://hooks.example/x"}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    // A contract for the first half of the year: its January statement is
    // closable, and a new contract from June on does not overlap it.
    let (s, c) = hub
        .admin_post(
            "/api/v1/contracts",
            json!({"site_id": site, "effective_from": "2026-01-01", "effective_to": "2026-06-01",
                   "currency": "EUR", "period": {"kind": "monthly"},
                   "charges": [{"metric": "fixed_fee", "amount": "10.00"}]}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    Tenant {
        reseller,
        site,
        account: format!("{name}-site"),
        serial,
        alert,
        webhook: w["id"].as_i64().unwrap(),
        contract: c["id"].as_i64().unwrap(),
    }
}

async fn token(hub: &TestHub, role: &str, reseller: Option<i64>) -> String {
    let (s, t) = hub
        .admin_post(
            "/api/v1/tokens",
            json!({"name": role, "role": role, "reseller_id": reseller}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    t["token"].as_str().unwrap().to_owned()
}

async fn call(
    hub: &TestHub,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = match method {
        "GET" => hub.client.get(hub.url(path)),
        "POST" => hub.client.post(hub.url(path)),
        "PUT" => hub.client.put(hub.url(path)),
        "DELETE" => hub.client.delete(hub.url(path)),
        _ => unreachable!(),
    }
    .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let v = if status == 200 && path.contains("/stream") {
        Value::Null
    } else {
        r.json().await.unwrap_or(Value::Null)
    };
    (status, v)
}

/// One route under test: how to call it for a tenant's objects, and the
/// expected status for (role, own object) and (role, foreign object).
struct Case {
    name: &'static str,
    method: &'static str,
    path: fn(&Tenant) -> String,
    body: fn(&Tenant) -> Option<Value>,
    /// Expected for: reseller_admin own, reseller_admin foreign, reseller_user own,
    /// reseller_user foreign, support own, support foreign.
    expect: [u16; 6],
}

fn cases() -> Vec<Case> {
    let n = |_: &Tenant| None;
    vec![
        Case {
            name: "show reseller",
            method: "GET",
            path: |t| format!("/api/v1/resellers/{}", t.reseller),
            body: n,
            expect: [200, 404, 200, 404, 200, 200],
        },
        Case {
            name: "show site",
            method: "GET",
            path: |t| format!("/api/v1/sites/{}", t.site),
            body: n,
            expect: [200, 404, 200, 404, 200, 200],
        },
        Case {
            name: "show printer",
            method: "GET",
            path: |t| format!("/api/v1/printers/{}", t.serial),
            body: n,
            expect: [200, 404, 200, 404, 200, 200],
        },
        Case {
            name: "create site",
            method: "POST",
            path: |_| "/api/v1/sites".into(),
            body: |t| {
                Some(
                    json!({"reseller_id": t.reseller, "account_name": format!("new-{}-{}", t.reseller, uuid::Uuid::new_v4())}),
                )
            },
            expect: [201, 404, 403, 404, 403, 403],
        },
        Case {
            name: "create collector",
            method: "POST",
            path: |_| "/api/v1/collectors".into(),
            body: |t| Some(json!({"site_id": t.site})),
            expect: [201, 404, 403, 404, 403, 403],
        },
        Case {
            name: "register printer",
            method: "POST",
            path: |_| "/api/v1/printers".into(),
            body: |t| {
                Some(
                    json!({"site_id": t.site, "serial_number": format!("N{}", &uuid::Uuid::new_v4().simple().to_string()[..12])}),
                )
            },
            expect: [201, 404, 403, 404, 403, 403],
        },
        Case {
            name: "list alerts of reseller",
            method: "GET",
            path: |t| format!("/api/v1/alerts?reseller={}", t.reseller),
            body: n,
            expect: [200, 404, 200, 404, 200, 200],
        },
        Case {
            name: "list alerts of printer",
            method: "GET",
            path: |t| format!("/api/v1/alerts?printer={}", t.serial),
            body: n,
            expect: [200, 404, 200, 404, 200, 200],
        },
        Case {
            name: "list alerts of site",
            method: "GET",
            path: |t| format!("/api/v1/alerts?site={}", t.site),
            body: n,
            expect: [200, 404, 200, 404, 200, 200],
        },
        Case {
            name: "alert stream of reseller",
            method: "GET",
            path: |t| format!("/api/v1/alerts/stream?reseller={}", t.reseller),
            body: n,
            expect: [200, 404, 200, 404, 200, 200],
        },
        Case {
            name: "acknowledge alert",
            method: "POST",
            path: |t| format!("/api/v1/alerts/{}/acknowledge", t.alert),
            body: |_| Some(json!({"by": "matrix"})),
            expect: [200, 404, 403, 404, 409, 200],
        },
        Case {
            name: "alert settings",
            method: "GET",
            path: |t| format!("/api/v1/resellers/{}/alert-settings", t.reseller),
            body: n,
            expect: [200, 404, 200, 404, 200, 200],
        },
        Case {
            name: "change alert settings",
            method: "PUT",
            path: |t| format!("/api/v1/resellers/{}/alert-settings", t.reseller),
            body: |_| Some(json!({"cartridge_low_pct": 15})),
            expect: [200, 404, 403, 404, 403, 403],
        },
        Case {
            name: "create webhook",
            method: "POST",
            path: |_| "/api/v1/webhooks".into(),
            body: |t| Some(json!({"reseller_id": t.reseller, "url": "https://hooks.example/y"})),
            expect: [201, 404, 403, 404, 403, 403],
        },
        Case {
            name: "webhook deliveries",
            method: "GET",
            path: |t| format!("/api/v1/webhooks/{}/deliveries", t.webhook),
            body: n,
            expect: [200, 404, 403, 404, 403, 403],
        },
        Case {
            name: "create reseller token",
            method: "POST",
            path: |_| "/api/v1/tokens".into(),
            body: |t| {
                Some(json!({"name": "x", "role": "reseller_user", "reseller_id": t.reseller}))
            },
            expect: [201, 404, 403, 403, 403, 403],
        },
        Case {
            name: "create reseller user",
            method: "POST",
            path: |_| "/api/v1/users".into(),
            body: |t| {
                Some(
                    json!({"email": format!("{}@example.com", uuid::Uuid::new_v4()), "name": "x", "password": "correct horse battery", "role": "reseller_user", "reseller_id": t.reseller}),
                )
            },
            expect: [201, 404, 403, 403, 403, 403],
        },
        // Billing: reseller admins manage, reseller users read and export,
        // support staff see no money.
        Case {
            name: "list contracts of site",
            method: "GET",
            path: |t| format!("/api/v1/contracts?site_id={}", t.site),
            body: n,
            expect: [200, 404, 200, 404, 403, 403],
        },
        Case {
            name: "list contracts of reseller",
            method: "GET",
            path: |t| format!("/api/v1/contracts?reseller_id={}", t.reseller),
            body: n,
            expect: [200, 404, 200, 404, 403, 403],
        },
        Case {
            name: "show contract",
            method: "GET",
            path: |t| format!("/api/v1/contracts/{}", t.contract),
            body: n,
            expect: [200, 404, 200, 404, 403, 403],
        },
        Case {
            name: "create contract",
            method: "POST",
            path: |_| "/api/v1/contracts".into(),
            body: |t| {
                Some(
                    json!({"site_id": t.site, "effective_from": "2026-06-01", "currency": "EUR",
                            "period": {"kind": "monthly"},
                            "charges": [{"metric": "fixed_fee", "amount": "12.00"}]}),
                )
            },
            expect: [201, 404, 403, 404, 403, 403],
        },
        Case {
            name: "totals of site",
            method: "GET",
            path: |t| {
                format!(
                    "/api/v1/billing/totals?scope=site&id={}&from=2026-01-01&to=2026-02-01",
                    t.site
                )
            },
            body: n,
            expect: [200, 404, 200, 404, 403, 403],
        },
        Case {
            name: "totals of reseller as csv",
            method: "GET",
            path: |t| {
                format!(
                    "/api/v1/billing/totals?scope=reseller&id={}&from=2026-01-01&to=2026-02-01&format=csv",
                    t.reseller
                )
            },
            body: n,
            expect: [200, 404, 200, 404, 403, 403],
        },
        Case {
            name: "find statement",
            method: "GET",
            path: |t| format!("/api/v1/billing/statements?site={}&period=2026-01", t.site),
            body: n,
            expect: [200, 404, 200, 404, 403, 403],
        },
        Case {
            name: "list statements",
            method: "GET",
            path: |t| format!("/api/v1/billing/statements?site={}", t.site),
            body: n,
            expect: [200, 404, 200, 404, 403, 403],
        },
        Case {
            name: "show statement",
            method: "GET",
            path: |t| format!("/api/v1/billing/statements/site-{}-2026-01-01", t.site),
            body: n,
            expect: [200, 404, 200, 404, 403, 403],
        },
        Case {
            name: "statement evidence as csv",
            method: "GET",
            path: |t| {
                format!(
                    "/api/v1/billing/statements/site-{}-2026-01-01/evidence?format=csv",
                    t.site
                )
            },
            body: n,
            expect: [200, 404, 200, 404, 403, 403],
        },
        Case {
            name: "close statement",
            method: "POST",
            path: |t| {
                format!(
                    "/api/v1/billing/statements/site-{}-2026-01-01/close",
                    t.site
                )
            },
            body: n,
            expect: [200, 404, 403, 404, 403, 403],
        },
        // Collectors: reseller admins enroll and configure; everyone who sees
        // the site reads the configuration.
        Case {
            name: "enrollment code",
            method: "POST",
            path: |t| format!("/api/v1/sites/{}/enrollment-codes", t.site),
            body: n,
            expect: [201, 404, 403, 404, 403, 403],
        },
        Case {
            name: "show collector config",
            method: "GET",
            path: |t| format!("/api/v1/sites/{}/collector-config", t.site),
            body: n,
            expect: [200, 404, 200, 404, 200, 200],
        },
        Case {
            name: "change collector config",
            method: "PUT",
            path: |t| format!("/api/v1/sites/{}/collector-config", t.site),
            body: |t| {
                Some(
                    json!({"account_name": t.account, "hub_url": "https://hub.example",
                            "poll_interval_minutes": 60,
                            "targets": [{"address": "10.0.0.5", "scheme": "ledm-https"}]}),
                )
            },
            expect: [200, 404, 403, 404, 403, 403],
        },
    ]
}

async fn isolation_matrix(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let a = tenant(&hub, "Alpha").await;
    let b = tenant(&hub, "Bravo").await;
    let a_admin = token(&hub, "reseller_admin", Some(a.reseller)).await;
    let a_user = token(&hub, "reseller_user", Some(a.reseller)).await;
    let support = token(&hub, "support", None).await;

    let mut failures = Vec::new();
    for c in cases() {
        let runs = [
            (&a_admin, &a, 0),
            (&a_admin, &b, 1),
            (&a_user, &a, 2),
            (&a_user, &b, 3),
            (&support, &a, 4),
            (&support, &b, 5),
        ];
        for (tok, target, i) in runs {
            let (status, body) =
                call(&hub, tok, c.method, &(c.path)(target), (c.body)(target)).await;
            // Support acknowledges both tenants' alert once; the second time it is already acknowledged.
            let expected = c.expect[i];
            if status != expected {
                failures.push(format!(
                    "{} [{i}]: expected {expected}, got {status} {body}",
                    c.name
                ));
            }
            if status == 404 {
                assert_eq!(body["error"]["code"], "not_found", "{}: {body}", c.name);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "isolation matrix:\n{}",
        failures.join("\n")
    );

    // Lists are confined to the caller's reseller.
    let (_, alerts) = call(&hub, &a_user, "GET", "/api/v1/alerts", None).await;
    let resellers: Vec<i64> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["reseller_id"].as_i64().unwrap())
        .collect();
    assert!(
        !resellers.is_empty() && resellers.iter().all(|r| *r == a.reseller),
        "{alerts}"
    );
    let (_, tokens) = call(&hub, &a_admin, "GET", "/api/v1/tokens", None).await;
    assert!(
        tokens["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["reseller_id"] == json!(a.reseller)),
        "{tokens}"
    );
    let listed = tokens.to_string();
    assert!(
        !listed.contains(&a_admin) && !listed.contains(&a_user),
        "token values are never listed"
    );
    // Platform-only actions.
    let (s, _) = call(
        &hub,
        &a_admin,
        "POST",
        "/api/v1/resellers",
        Some(json!({"name": "sneaky"})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &hub,
        &a_admin,
        "POST",
        "/api/v1/tokens",
        Some(json!({"name": "x", "role": "platform_admin"})),
    )
    .await;
    assert_eq!(s, 403, "no privilege escalation");

    // Revoked tokens stop working; the audit log recorded it.
    let (_, list) = call(&hub, &a_admin, "GET", "/api/v1/tokens", None).await;
    let user_token_id = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"] == "reseller_user")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, _) = call(
        &hub,
        &a_admin,
        "DELETE",
        &format!("/api/v1/tokens/{user_token_id}"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = call(
        &hub,
        &a_user,
        "GET",
        &format!("/api/v1/sites/{}", a.site),
        None,
    )
    .await;
    assert_eq!(s, 401);
    let (_, audit) = call(&hub, &a_admin, "GET", "/api/v1/audit", None).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "token.revoke",
        "token.create",
        "contract.create",
        "statement.close",
        "collector_config.update",
        "export.view",
    ] {
        assert!(actions.contains(&action), "no {action} in {audit}");
    }
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["reseller_id"] == json!(a.reseller))
    );
}

async fn sessions_cookies_csrf_and_throttling(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (reseller, site) = hub.tenant("Cookie Co", "cookie-site").await;
    let (s, u) = hub
        .admin_post(
            "/api/v1/users",
            json!({"email": "Admin@Cookie.example", "name": "Admin", "password": "a long enough password", "role": "reseller_admin", "reseller_id": reseller}),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    let (s, b) = hub
        .admin_post(
            "/api/v1/users",
            json!({"email": "weak@cookie.example", "name": "W", "password": "short", "role": "reseller_user", "reseller_id": reseller}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("weak_password"))
    );

    let jar_client = {
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
            .build()
            .unwrap()
    };
    let r = jar_client
        .post(hub.url("/api/v1/login"))
        .json(&json!({"email": "admin@cookie.example", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(
            set_cookie.contains(attr),
            "cookie lacks {attr}: {set_cookie}"
        );
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let login: Value = r.json().await.unwrap();
    let csrf = login["csrf_token"].as_str().unwrap().to_owned();
    assert!(!cookie.contains(&csrf));

    // Reads work with the cookie; writes need the CSRF token.
    let r = jar_client
        .get(hub.url(&format!("/api/v1/sites/{site}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body = json!({"site_id": site});
    let r = jar_client
        .post(hub.url("/api/v1/collectors"))
        .header("cookie", &cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "csrf");
    let r = jar_client
        .post(hub.url("/api/v1/collectors"))
        .header("cookie", &cookie)
        .header("x-csrf-token", "wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = jar_client
        .post(hub.url("/api/v1/collectors"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    // Logout ends the session.
    let r = jar_client
        .post(hub.url("/api/v1/logout"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let r = jar_client
        .get(hub.url(&format!("/api/v1/sites/{site}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // Five wrong passwords lock the account for a while, even with the right one.
    for _ in 0..5 {
        let r = jar_client
            .post(hub.url("/api/v1/login"))
            .json(&json!({"email": "admin@cookie.example", "password": "wrong password!"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = jar_client
        .post(hub.url("/api/v1/login"))
        .json(&json!({"email": "admin@cookie.example", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let r = jar_client
        .post(hub.url("/api/v1/login"))
        .json(&json!({"email": "nobody@cookie.example", "password": "whatever it is"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

on_both_backends!(isolation_matrix, sessions_cookies_csrf_and_throttling);
